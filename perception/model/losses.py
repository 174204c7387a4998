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
from ..data.depth import depth_targets
from ..data.visibility import MIN_VISIBILITY
from .network import DrivingOutputs, encode_boxes

EGO_CENTER_AHEAD_M = 1.4
EGO_RADIUS_M = 1.2  # inflation of GT boxes by (roughly) the ego's half width + margin, orientation-free


def visible_mask(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """bool [B, M]: the valid object rows detection is trained on (seen by a camera when the data say so)."""
    objs, num = batch["objects"], batch["num_objects"]
    ok = torch.arange(objs.shape[1])[None, :] < num[:, None]
    if "visibility" in batch:
        ok = ok & (batch["visibility"] >= MIN_VISIBILITY)
    return ok


def gt_lists(batch: dict[str, torch.Tensor], mcfg: ModelConfig) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-frame GT classes [G] and encoded boxes [G, 8] of the visible objects."""
    objs = batch["objects"]
    enc = encode_boxes(objs, mcfg)
    ok = visible_mask(batch)
    cls, boxes = [], []
    for i in range(objs.shape[0]):
        cls.append(objs[i, ok[i], 0].long())
        boxes.append(enc[i, ok[i]])
    return cls, boxes


def dense_targets(batch: dict[str, torch.Tensor], mcfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CenterPoint targets on the BEV query grid: heatmap [B, K, Hq, Wq] (Gaussian per object, 1 at its centre
    cell), box targets [B, Nq, 8] and a bool mask [B, Nq] of the centre cells (the nearest object wins a cell)."""
    x0, x1, y0, y1 = mcfg.bev_range
    hq, wq = mcfg.bev_hw
    objs = batch["objects"]
    b, m = objs.shape[:2]
    ok = visible_mask(batch)
    cx, cy = (x1 - x0) / hq, (y1 - y0) / wq
    rows = ((x1 - objs[..., 1]) / cx).floor().clamp(0, hq - 1)     # row 0 = farthest ahead
    cols = ((y1 - objs[..., 2]) / cy).floor().clamp(0, wq - 1)     # col 0 = leftmost
    rr = torch.arange(hq, dtype=objs.dtype)[None, None, :, None]
    cc = torch.arange(wq, dtype=objs.dtype)[None, None, None, :]
    sigma = (0.25 * torch.maximum(objs[..., 3] / cx, objs[..., 4] / cy)).clamp(min=0.5)      # cells
    g = torch.exp(-((rr - rows[..., None, None]) ** 2 + (cc - cols[..., None, None]) ** 2)
                  / (2 * sigma[..., None, None] ** 2)) * ok[..., None, None]                  # [B, M, Hq, Wq]
    onehot = F.one_hot(objs[..., 0].long().clamp(0, mcfg.num_classes - 1), mcfg.num_classes).to(objs.dtype)
    heat = (g[:, :, None] * onehot[..., None, None]).amax(dim=1)                              # [B, K, Hq, Wq]
    enc = encode_boxes(objs, mcfg)
    box_t = torch.zeros(b, hq * wq, 8, dtype=objs.dtype)
    pos = torch.zeros(b, hq * wq, dtype=torch.bool)
    cell = (rows * wq + cols).long()
    for i in range(b):
        for j in reversed(torch.nonzero(ok[i])[:, 0].tolist()):    # rows are nearest first: nearest written last
            box_t[i, cell[i, j]] = enc[i, j]
            pos[i, cell[i, j]] = True
    # centre cells are exactly 1 (the Gaussian peak sits at the cell where the object's centre falls)
    ones = torch.zeros_like(heat)
    for i in range(b):
        for j in torch.nonzero(ok[i])[:, 0].tolist():
            ones[i, int(objs[i, j, 0]), int(rows[i, j]), int(cols[i, j])] = 1.0
    heat = torch.maximum(heat, ones)
    return heat, box_t, pos


def heatmap_focal(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CornerNet/CenterPoint penalty-reduced focal loss, normalized by the number of centre cells."""
    p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    is_pos = target >= 1.0 - 1e-6
    pos_l = -((1 - p) ** 2) * torch.log(p)
    neg_l = -((1 - target) ** 4) * (p ** 2) * torch.log(1 - p)
    loss = torch.where(is_pos, pos_l, neg_l).sum()
    return loss / is_pos.sum().clamp(min=1)


def dense_detection_loss(aux: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], mcfg: ModelConfig
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    dev = aux["heat"].device
    heat_t, box_t, pos = (t.to(dev) for t in dense_targets(batch, mcfg))
    l_heat = heatmap_focal(aux["heat"], heat_t)
    if pos.any():
        l1 = (aux["dense_boxes"][pos] - box_t[pos]).abs()
        cells = torch.tensor(mcfg.bev_hw, dtype=l1.dtype, device=dev)  # centre error in BEV cells
        l_box = (l1[:, 2:].sum(-1) + (l1[:, :2] * cells).sum(-1)).mean()
    else:
        l_box = aux["dense_boxes"].sum() * 0.0
    return l_heat, l_box


def depth_loss(aux: dict, batch: dict[str, torch.Tensor], mcfg: ModelConfig) -> torch.Tensor:
    """Soft-label cross-entropy of the token depth distributions against the depths the labels imply
    (perception.data.depth), weighted towards tokens that see objects; sky and out-of-range tokens are ignored."""
    origins, dirs = aux["token_rays"]
    target, weight = depth_targets(batch["objects"].numpy(), batch["num_objects"].numpy(), origins, dirs,
                                   mcfg.depth_range[0], mcfg.depth_range[1], mcfg.depth_bins, mcfg.bev_range)
    logp = F.log_softmax(aux["depth_logits"], dim=-1)
    w = torch.from_numpy(weight).to(logp.device)
    ce = -(torch.from_numpy(target).to(logp.device) * logp).sum(-1)
    return (ce * w).sum() / w.sum().clamp(min=1.0)


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
    dev = out.det_logits.device
    target = torch.full((b, q), k1 - 1, dtype=torch.long)
    pred_b, tgt_b = [], []
    for i, (qi, gi) in enumerate(matches):
        if len(qi):
            qi_t, gi_t = torch.as_tensor(qi), torch.as_tensor(gi)
            target[i, qi_t] = gt_cls[i][gi_t]
            pred_b.append(out.det_boxes[i, qi_t.to(dev)])
            tgt_b.append(gt_box[i][gi_t])
    target = target.to(dev)
    l_cls = softmax_focal(out.det_logits, target, lcfg.focal_gamma, lcfg.noobj_weight)
    if pred_b:
        l1 = (torch.cat(pred_b) - torch.cat(tgt_b).to(dev)).abs()
        l_box = (l1.sum(-1) + lcfg.w_center * l1[:, :2].sum(-1)).mean()
    else:
        l_box = out.det_boxes.sum() * 0.0
    return l_cls, l_box


def segmentation_loss(seg_logits: torch.Tensor, masks: torch.Tensor, lcfg: LossConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel BCE (lane channel with pos_weight) and soft dice."""
    t = masks.to(seg_logits.device).float()
    pw = torch.tensor([lcfg.lane_pos_weight, 1.0], dtype=seg_logits.dtype, device=seg_logits.device)[None, :, None, None]
    bce = F.binary_cross_entropy_with_logits(seg_logits, t, pos_weight=pw)
    p = torch.sigmoid(seg_logits)
    inter = (p * t).sum((0, 2, 3))
    dice = 1 - (2 * inter + 1.0) / (p.sum((0, 2, 3)) + t.sum((0, 2, 3)) + 1.0)
    return bce, dice.mean()


def planning_loss(plan: torch.Tensor, future: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    v = valid.to(plan.device).float()[..., None]
    return ((plan - future.to(plan.device)).abs() * v).sum() / (v.sum() * 2).clamp(min=1.0)


def collision_penalty(plan: torch.Tensor, objects: torch.Tensor, num_objects: torch.Tensor, valid: torch.Tensor,
                      dt: float, future: torch.Tensor | None = None, future_valid: torch.Tensor | None = None
                      ) -> torch.Tensor:
    """Mean over frames of sum_{t, obj} relu(1 - normalized distance) of the ego centre to each GT box (constant
    velocity, box inflated by EGO_RADIUS_M); zero when every waypoint is clear."""
    b, t, _ = plan.shape
    dev = plan.device
    objects, num_objects, valid = objects.to(dev), num_objects.to(dev), valid.to(dev)
    prev = torch.cat([torch.zeros_like(plan[:, :1]), plan[:, :-1]], dim=1)
    d = (plan - prev).detach()
    n = d.norm(dim=-1, keepdim=True)
    heading = torch.where(n > 1e-3, d / n.clamp(min=1e-3), torch.tensor([1.0, 0.0], dtype=plan.dtype, device=dev))
    centre = plan + EGO_CENTER_AHEAD_M * heading  # [B, T, 2]
    times = torch.arange(1, t + 1, dtype=plan.dtype, device=dev) * dt
    obj_xy = objects[:, None, :, 1:3] + objects[:, None, :, 6:8] * times[None, :, None, None]  # [B, T, M, 2]
    yaw = objects[..., 5][:, None].expand(-1, t, -1)                                           # [B, T, M]
    if future is not None:   # where the objects really went (dataset v2)
        fut = future.to(dev).permute(0, 2, 1, 3)                                               # [B, T, M, 3]
        fv = future_valid.to(dev).permute(0, 2, 1)[..., None]
        obj_xy = torch.where(fv, fut[..., 0:2], obj_xy)
        yaw = torch.where(fv[..., 0], fut[..., 2], yaw)
    rel = centre[:, :, None, :] - obj_xy
    c, s = torch.cos(yaw), torch.sin(yaw)
    lx = rel[..., 0] * c + rel[..., 1] * s
    ly = -rel[..., 0] * s + rel[..., 1] * c
    ax = objects[..., 3][:, None] / 2 + EGO_RADIUS_M
    ay = objects[..., 4][:, None] / 2 + EGO_RADIUS_M
    r = torch.sqrt((lx / ax) ** 2 + (ly / ay) ** 2 + 1e-6)
    m = objects.shape[1]
    obj_ok = (torch.arange(m, device=dev)[None, :] < num_objects[:, None]).float()[:, None, :]
    pen = F.relu(1 - r) * obj_ok * valid.float()[..., None]
    return pen.sum() / b


def total_loss(out: DrivingOutputs, batch: dict[str, torch.Tensor], mcfg: ModelConfig, lcfg: LossConfig,
               aux: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum and its parts (floats, for logging); `aux` = the dense heads of forward_with_aux.

    `batch` may stay on the CPU while the outputs live on a GPU: targets (matching, heatmaps, depth labels) are built
    on the CPU, where their per-object loops are cheap, and moved to the outputs' device."""
    l_cls, l_box = detection_loss(out, batch, mcfg, lcfg)
    l_bce, l_dice = segmentation_loss(out.seg_logits, batch["bev_masks"], lcfg)
    l_plan = planning_loss(out.plan, batch["future"], batch["future_valid"])
    parts = {"cls": l_cls, "box": l_box, "seg_bce": l_bce, "seg_dice": l_dice, "plan": l_plan}
    total = (lcfg.w_cls * l_cls + lcfg.w_box * l_box + lcfg.w_seg * l_bce + lcfg.w_dice * l_dice + lcfg.w_plan * l_plan)
    if aux is not None:
        l_heat, l_dbox = dense_detection_loss(aux, batch, mcfg)
        parts["heat"], parts["dense_box"] = l_heat, l_dbox
        total = total + lcfg.w_heat * l_heat + lcfg.w_dense_box * l_dbox
        if "depth_logits" in aux and lcfg.w_depth > 0:
            parts["depth"] = depth_loss(aux, batch, mcfg)
            total = total + lcfg.w_depth * parts["depth"]
    if lcfg.w_collision > 0:
        l_col = collision_penalty(out.plan, batch["objects"], batch["num_objects"], batch["future_valid"], mcfg.future_dt,
                                  batch.get("objects_future"), batch.get("objects_future_valid"))
        parts["collision"] = l_col
        total = total + lcfg.w_collision * l_col
    return total, {k: float(v.detach()) for k, v in parts.items()} | {"total": float(total.detach())}
