"""DETR-style Hungarian matching of object queries to ground-truth objects (one-to-one set prediction)."""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def match_cost(probs: np.ndarray, boxes: np.ndarray, gt_cls: np.ndarray, gt_boxes: np.ndarray,
               w_cls: float = 2.0, w_box: float = 5.0, w_center: float = 2.0) -> np.ndarray:
    """Cost [Q, G]: -w_cls * p(gt class) + w_box * (L1 over box params + w_center * L1 over the centre).

    probs [Q, K+1] softmax, boxes [Q, 8] and gt_boxes [G, 8] in the network's parameterization.
    """
    c_cls = -probs[:, gt_cls.astype(np.int64)]
    l1 = np.abs(boxes[:, None, :] - gt_boxes[None, :, :])
    c_box = l1.sum(-1) + w_center * l1[..., :2].sum(-1)
    return w_cls * c_cls + w_box * c_box


def hungarian_match(probs: np.ndarray, boxes: np.ndarray, gt_cls: np.ndarray, gt_boxes: np.ndarray,
                    **weights: float) -> tuple[np.ndarray, np.ndarray]:
    """(query indices, gt indices) of the minimum-cost one-to-one assignment (all GT matched when G <= Q)."""
    if len(gt_cls) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, cols = linear_sum_assignment(match_cost(probs, boxes, gt_cls, gt_boxes, **weights))
    return rows.astype(np.int64), cols.astype(np.int64)


@torch.no_grad()
def match_batch(logits: torch.Tensor, boxes: torch.Tensor, gt_cls: list[torch.Tensor], gt_boxes: list[torch.Tensor],
                **weights: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-frame matches for a batch; gt_* are lists of [G_i] / [G_i, 8] tensors."""
    probs = logits.float().softmax(-1).cpu().numpy()
    bx = boxes.float().cpu().numpy()
    return [hungarian_match(probs[i], bx[i], gt_cls[i].cpu().numpy(), gt_boxes[i].cpu().numpy(), **weights)
            for i in range(len(gt_cls))]
