"""Training losses: set-prediction detection, BEV segmentation, planning (+ optional collision penalty).

Why these choices: softmax focal loss with a down-weighted no-object class keeps the 32 queries from collapsing to
"nothing" early; lane lines cover a few % of the BEV so BCE gets a pos_weight and a dice term; planning is L1 on valid
waypoints (UniAD/VAD) with a small differentiable penalty for waypoints inside propagated GT boxes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import LossConfig, ModelConfig
from .matcher import match_batch
from .network import DrivingOutputs, encode_boxes

EGO_CENTER_AHEAD_M = 1.4
EGO_RADIUS_M = 1.2  # inflation of GT boxes by (roughly) the ego's half width + margin, orientation-free


def gt_lists(batch: dict[str, torch.Tensor], mcfg: ModelConfig) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-frame GT classes [G] and encoded boxes [G, 8] (rows past num_objects dropped)."""
    objs, num = batch["objects"], batch["num_objects"]
    enc = encode_boxes(objs, mcfg)
    cls, boxes = [], []
    for i in range(objs.shape[0]):
        n = int(num[i])
        cls.append(objs[i, :n, 0].long())
        boxes.append(enc[i, :n])
    return cls, boxes


def softmax_focal(logits: torch.Tensor, target: torch.Tensor, gamma: float, noobj_weight: float) -> torch.Tensor:
    """Weighted mean over queries of -(1 - p_t)^gamma log p_t; the no-object class (last) weighted by noobj_weight."""
    logp = F.log_softmax(logits, dim=-1).gather(-1, target[..., None])[..., 0]
    loss = -logp if gamma == 0 else -((1 - logp.exp()) ** gamma) * logp
    w = torch.where(target == logits.shape[-1] - 1, noobj_weight, 1.0).to(logits.dtype)
    return (loss * w).sum() / w.sum().clamp(min=1e-6)


def detection_loss(out: DrivingOutputs, batch: dict[str, torch.Tensor], mcfg: ModelConfig, lcfg: LossConfig
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    gt_cls, gt_box = gt_lists(batch, mcfg)
    matches = match_batch(out.det_logits, out.det_boxes, gt_cls, gt_box, w_cls=lcfg.match_cls, w_box=lcfg.match_box,
                          w_center=lcfg.w_center)
    b, q, k1 = out.det_logits.shape
    target = torch.full((b, q), k1 - 1, dtype=torch.long, device=out.det_logits.device)
    pred_b, tgt_b = [], []
    for i, (qi, gi) in enumerate(matches):
        if len(qi):
            qi_t, gi_t = torch.as_tensor(qi), torch.as_tensor(gi)
            target[i, qi_t] = gt_cls[i][gi_t]
            pred_b.append(out.det_boxes[i, qi_t])
            tgt_b.append(gt_box[i][gi_t])
    l_cls = softmax_focal(out.det_logits, target, lcfg.focal_gamma, lcfg.noobj_weight)
    if pred_b:
        l1 = (torch.cat(pred_b) - torch.cat(tgt_b)).abs()
        l_box = (l1.sum(-1) + lcfg.w_center * l1[:, :2].sum(-1)).mean()
    else:
        l_box = out.det_boxes.sum() * 0.0
    return l_cls, l_box


def segmentation_loss(seg_logits: torch.Tensor, masks: torch.Tensor, lcfg: LossConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel BCE (lane channel with pos_weight) and soft dice."""
    t = masks.float()
    pw = torch.tensor([lcfg.lane_pos_weight, 1.0], dtype=seg_logits.dtype, device=seg_logits.device)[None, :, None, None]
    bce = F.binary_cross_entropy_with_logits(seg_logits, t, pos_weight=pw)
    p = torch.sigmoid(seg_logits)
    inter = (p * t).sum((0, 2, 3))
    dice = 1 - (2 * inter + 1.0) / (p.sum((0, 2, 3)) + t.sum((0, 2, 3)) + 1.0)
    return bce, dice.mean()


def planning_loss(plan: torch.Tensor, future: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    v = valid.float()[..., None]
    return ((plan - future).abs() * v).sum() / (v.sum() * 2).clamp(min=1.0)


def collision_penalty(plan: torch.Tensor, objects: torch.Tensor, num_objects: torch.Tensor, valid: torch.Tensor,
                      dt: float) -> torch.Tensor:
    """Mean over frames of sum_{t, obj} relu(1 - normalized distance) of the ego centre to each GT box (constant
    velocity, box inflated by EGO_RADIUS_M); zero when every waypoint is clear."""
    b, t, _ = plan.shape
    prev = torch.cat([torch.zeros_like(plan[:, :1]), plan[:, :-1]], dim=1)
    d = (plan - prev).detach()
    n = d.norm(dim=-1, keepdim=True)
    heading = torch.where(n > 1e-3, d / n.clamp(min=1e-3), torch.tensor([1.0, 0.0], dtype=plan.dtype))
    centre = plan + EGO_CENTER_AHEAD_M * heading  # [B, T, 2]
    times = torch.arange(1, t + 1, dtype=plan.dtype) * dt
    obj_xy = objects[:, None, :, 1:3] + objects[:, None, :, 6:8] * times[None, :, None, None]  # [B, T, M, 2]
    rel = centre[:, :, None, :] - obj_xy
    c, s = torch.cos(objects[..., 5])[:, None], torch.sin(objects[..., 5])[:, None]
    lx = rel[..., 0] * c + rel[..., 1] * s
    ly = -rel[..., 0] * s + rel[..., 1] * c
    ax = objects[..., 3][:, None] / 2 + EGO_RADIUS_M
    ay = objects[..., 4][:, None] / 2 + EGO_RADIUS_M
    r = torch.sqrt((lx / ax) ** 2 + (ly / ay) ** 2 + 1e-6)
    m = objects.shape[1]
    obj_ok = (torch.arange(m)[None, :] < num_objects[:, None]).float()[:, None, :]
    pen = F.relu(1 - r) * obj_ok * valid.float()[..., None]
    return pen.sum() / b


def total_loss(out: DrivingOutputs, batch: dict[str, torch.Tensor], mcfg: ModelConfig, lcfg: LossConfig
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum and its parts (floats, for logging)."""
    l_cls, l_box = detection_loss(out, batch, mcfg, lcfg)
    l_bce, l_dice = segmentation_loss(out.seg_logits, batch["bev_masks"], lcfg)
    l_plan = planning_loss(out.plan, batch["future"], batch["future_valid"])
    parts = {"cls": l_cls, "box": l_box, "seg_bce": l_bce, "seg_dice": l_dice, "plan": l_plan}
    total = (lcfg.w_cls * l_cls + lcfg.w_box * l_box + lcfg.w_seg * l_bce + lcfg.w_dice * l_dice + lcfg.w_plan * l_plan)
    if lcfg.w_collision > 0:
        l_col = collision_penalty(out.plan, batch["objects"], batch["num_objects"], batch["future_valid"], mcfg.future_dt)
        parts["collision"] = l_col
        total = total + lcfg.w_collision * l_col
    return total, {k: float(v.detach()) for k, v in parts.items()} | {"total": float(total.detach())}
