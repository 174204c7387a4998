"""Evaluation metrics of the driving model (pure numpy): nuScenes-style detection mAP, UniAD L2, collision rate,
BEV lane/drivable IoU, and `evaluate` which runs a model (or any predict function) over a split.

Why pure numpy: the same numbers must come out of torch, ONNX Runtime and TensorRT backends, and the vehicle image
has no torch.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from vehicle_sim.actors import box_corners, sat_overlap   # the simulator's own collision geometry

CLASSES = ("car", "truck", "pedestrian", "cyclist", "obstacle")
EGO_LENGTH_M = 4.7
EGO_WIDTH_M = 1.85
EGO_CENTER_AHEAD_M = 1.4


# --------------------------------------------------------------------------------------------------- detection
def average_precision(tp: np.ndarray, scores: np.ndarray, n_gt: int, min_recall: float = 0.1,
                      min_precision: float = 0.1) -> float:
    """nuScenes AP: precision interpolated at 101 recall points, recall <= min_recall dropped, precision - min_precision
    clipped at 0 and normalized by 1 - min_precision."""
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = tp[order].astype(np.float64)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    prec = ctp / np.maximum(ctp + cfp, 1e-12)
    rec = ctp / n_gt
    grid = np.linspace(0, 1, 101)
    p = np.interp(grid, rec, prec, right=0.0)
    p = p[int(round(100 * min_recall)) + 1:] - min_precision
    return float(np.mean(np.clip(p, 0, None)) / (1 - min_precision))


def match_by_distance(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], cls: int, threshold: float
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """Greedy nuScenes matching for one class: predictions by descending score take the nearest unmatched GT centre of
    the same frame within `threshold` m. Returns (tp flags, scores, number of GT)."""
    items = []  # (score, frame, x, y)
    n_gt = 0
    for f, (p, g) in enumerate(zip(preds, gts)):
        p = np.asarray(p, dtype=np.float64).reshape(-1, 4)
        g = np.asarray(g, dtype=np.float64).reshape(-1, 3)
        n_gt += int((g[:, 0] == cls).sum())
        for row in p[p[:, 0] == cls]:
            items.append((row[3], f, row[1], row[2]))
    items.sort(key=lambda r: -r[0])
    taken = [np.zeros(len(np.asarray(g).reshape(-1, 3)), bool) for g in gts]
    tp = np.zeros(len(items))
    for i, (s, f, x, y) in enumerate(items):
        g = np.asarray(gts[f], dtype=np.float64).reshape(-1, 3)
        d = np.hypot(g[:, 1] - x, g[:, 2] - y)
        d[(g[:, 0] != cls) | taken[f]] = np.inf
        if len(d) and d.min() < threshold:
            j = int(np.argmin(d))
            taken[f][j] = True
            tp[i] = 1
    return tp, np.array([r[0] for r in items]), n_gt


def detection_map(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], thresholds=(0.5, 1.0, 2.0, 4.0),
                  classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """nuScenes-style centre-distance mAP.

    preds: per frame [K, 4] (class id, x, y, score); gts: per frame [G, 3] (class id, x, y).
    Returns {"mAP", "AP": {class: mean AP over thresholds}, "AP_per_threshold": {class: {thr: AP}}}; mAP averages over
    the classes present in the GT and all thresholds (nan when the GT is empty).
    """
    per: dict[str, dict[float, float]] = {}
    for c, name in enumerate(classes):
        per[name] = {}
        for thr in thresholds:
            tp, sc, n_gt = match_by_distance(preds, gts, c, thr)
            per[name][float(thr)] = average_precision(tp, sc, n_gt)
    present = [n for n in classes if not np.isnan(next(iter(per[n].values())))]
    ap = {n: float(np.mean(list(per[n].values()))) for n in present}
    return {"mAP": float(np.mean(list(ap.values()))) if ap else float("nan"), "AP": ap, "AP_per_threshold": per}


#: Range bins of `detection_map_by_range` (metres from the ego origin, radial).
RANGE_BINS_M = (0.0, 15.0, 30.0, 60.0)


def detection_map_by_range(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                           edges: Sequence[float] = RANGE_BINS_M, classes: Sequence[str] = CLASSES
                           ) -> dict[str, dict[str, Any]]:
    """`detection_map` within radial range bins, {"0-15m": {"mAP", "AP", "objects"}, ...}: predictions and objects
    each kept in the bin of their own range (a detection across an edge from its object counts as a miss in both).
    Why: a camera's depth error grows with range, so one mAP mixes easy near and hard far objects; the bins show
    which the model lacks. A bin without objects has mAP nan."""
    def keep(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
        r = np.hypot(a[:, 1], a[:, 2])
        return a[(r >= lo) & (r < hi)]

    out = {}
    for lo, hi in zip(edges[:-1], edges[1:]):
        p = [keep(np.asarray(x, dtype=np.float64).reshape(-1, 4), lo, hi) for x in preds]
        g = [keep(np.asarray(x, dtype=np.float64).reshape(-1, 3), lo, hi) for x in gts]
        res = detection_map(p, g, classes=classes)
        out[f"{lo:g}-{hi:g}m"] = {"mAP": res["mAP"], "AP": res["AP"], "objects": int(sum(len(x) for x in g))}
    return out


# ---------------------------------------------------------------------------------------------------- planning
def l2_at(plan: np.ndarray, future: np.ndarray, valid: np.ndarray, times=(1, 2, 3), rate_hz: float = 2.0
          ) -> dict[str, float]:
    """UniAD L2: mean Euclidean error of the waypoint at exactly t seconds (index t * rate - 1), over valid frames."""
    err = np.linalg.norm(np.asarray(plan, np.float64) - np.asarray(future, np.float64), axis=-1)
    out = {}
    for t in times:
        i = int(round(t * rate_hz)) - 1
        v = np.asarray(valid)[:, i].astype(bool)
        out[f"L2_{t:g}s"] = float(err[v, i].mean()) if v.any() else float("nan")
    return out


def ego_poses(plan: np.ndarray) -> np.ndarray:
    """[T, 3] (x, y, yaw) of the ego box centre: heading from consecutive waypoints (starting at the origin, kept
    when the ego barely moves), centre EGO_CENTER_AHEAD_M ahead of the rear-axle waypoint."""
    out = np.zeros((len(plan), 3))
    prev, yaw = np.zeros(2), 0.0
    for k, p in enumerate(np.asarray(plan, np.float64)):
        d = p - prev
        if np.hypot(*d) > 1e-2:
            yaw = float(np.arctan2(d[1], d[0]))
        out[k] = (p[0] + EGO_CENTER_AHEAD_M * np.cos(yaw), p[1] + EGO_CENTER_AHEAD_M * np.sin(yaw), yaw)
        prev = p
    return out


def collision_hits(plan: np.ndarray, objects: np.ndarray, num_objects: np.ndarray | None = None,
                   valid: np.ndarray | None = None, dt: float = 0.5, objects_future: np.ndarray | None = None,
                   objects_future_valid: np.ndarray | None = None) -> list[tuple[int, int, int]]:
    """(frame, waypoint, object) of the first overlap of each planned trajectory that hits a GT box (arguments as
    `collision_rate`); frames without a hit are left out. Why separate: a rate says how often, this says which
    frames and what was hit (benchmarks/open_loop_collisions.py)."""
    plan = np.asarray(plan)
    hits = []
    for i in range(len(plan)):
        m = objects.shape[1] if num_objects is None else int(num_objects[i])
        objs = np.asarray(objects[i, :m], np.float64)
        hit = None
        for k, (ex, ey, eyaw) in enumerate(ego_poses(plan[i])):
            if valid is not None and not valid[i, k]:
                continue
            ego = box_corners(ex, ey, eyaw, EGO_LENGTH_M, EGO_WIDTH_M)
            t = (k + 1) * dt
            for j, o in enumerate(objs):
                ox, oy, oyaw = o[1] + o[6] * t, o[2] + o[7] * t, o[5]
                if objects_future is not None:
                    if objects_future_valid is not None and not objects_future_valid[i, j, k]:
                        continue
                    ox, oy, oyaw = (float(v) for v in objects_future[i, j, k])
                if np.hypot(ox - ex, oy - ey) > 0.5 * (np.hypot(o[3], o[4]) + np.hypot(EGO_LENGTH_M, EGO_WIDTH_M)):
                    continue
                if sat_overlap(ego, box_corners(ox, oy, oyaw, o[3], o[4]))[0]:
                    hit = (i, k, j)
                    break
            if hit is not None:
                break
        if hit is not None:
            hits.append(hit)
    return hits


def collision_rate(plan: np.ndarray, objects: np.ndarray, num_objects: np.ndarray | None = None,
                   valid: np.ndarray | None = None, dt: float = 0.5, objects_future: np.ndarray | None = None,
                   objects_future_valid: np.ndarray | None = None) -> float:
    """% of planned trajectories whose ego box overlaps a GT box (dataset rows: class, x, y, l, w, yaw, vx, vy, z)
    at the waypoint time, at any (valid) waypoint. The GT box is where the object really was then
    (`objects_future` [N, M, T, 3] x, y, yaw, as UniAD uses the future occupancy) when given, else moved with its
    constant velocity."""
    n = len(plan)
    if n == 0:
        return float("nan")
    return 100.0 * len(collision_hits(plan, objects, num_objects, valid, dt, objects_future,
                                      objects_future_valid)) / n


def lane_iou(pred_mask: np.ndarray, gt_mask: np.ndarray) -> np.ndarray:
    """IoU per channel [C] accumulated over all frames (binary masks [N, C, H, W]); nan where both are empty."""
    p = np.asarray(pred_mask).astype(bool)
    g = np.asarray(gt_mask).astype(bool)
    inter = (p & g).sum(axis=(0, 2, 3)).astype(np.float64)
    union = (p | g).sum(axis=(0, 2, 3)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


# ---------------------------------------------------------------------------------------------------- evaluate
PredictFn = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]


def as_predict_fn(model: Any) -> tuple[PredictFn, Any]:
    """(fn(images, ego, command) -> {output name: array}, ModelConfig or None) for an E2EDrivingModel (torch, no
    grad, on its device) or for a predict function, which is returned as it is."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(model, torch.nn.Module):
        from perception.model.network import OUTPUT_NAMES

        def fn(images, ego, command, lead=None):
            model.eval()
            dev = next(model.parameters()).device
            extra = () if lead is None or not model.cfg.plan_lead else (torch.from_numpy(
                np.asarray(lead, np.float32)).to(dev),)
            with torch.no_grad():
                out = model(torch.from_numpy(np.ascontiguousarray(images)).to(dev),
                            torch.from_numpy(ego.astype(np.float32)).to(dev),
                            torch.from_numpy(command.astype(np.int64)).to(dev), *extra)
            return {k: v.cpu().numpy() for k, v in zip(OUTPUT_NAMES, out)}
        return fn, model.cfg
    return model, None


def detections_from_outputs(det_logits: np.ndarray, det_boxes: np.ndarray, mcfg: Any) -> list[np.ndarray]:
    """Per frame [Q, 4] (class, x, y, score): best real class and its softmax probability for every query."""
    from perception.driving import class_scores, decode_boxes

    cls, score = class_scores(det_logits)
    boxes = decode_boxes(det_boxes, mcfg.bev_range, mcfg.vel_scale)
    return [np.stack([cls[i], boxes[i, :, 0], boxes[i, :, 1], score[i]], 1) for i in range(len(cls))]


def gt_for_detection(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Per frame [G, 3] (class, x, y) of the objects detection is scored on: those a camera sees (visibility >=
    MIN_VISIBILITY, as nuScenes keeps boxes with sensor returns) when the dataset has `visibility`, else all."""
    from perception.data.visibility import MIN_VISIBILITY

    out = []
    for i in range(len(arrays["num_objects"])):
        n = int(arrays["num_objects"][i])
        keep = np.ones(n, bool) if "visibility" not in arrays else arrays["visibility"][i, :n] >= MIN_VISIBILITY
        out.append(arrays["objects"][i, :n, :3][keep])
    return out


def predict_split(fn: PredictFn, arrays: dict[str, np.ndarray], mcfg: Any, batch_size: int = 16,
                  classes: Sequence[str] = CLASSES) -> tuple[list, np.ndarray, np.ndarray, np.ndarray | None]:
    """The model over a split as `evaluate` scores it: (detections per frame, plans [N, T, 2], BEV masks
    [N, C, H, W] bool, the tracked `lead` inputs [N, LEAD_DIM] or None for a model without that input)."""
    n = len(arrays["ego"])
    preds, plans, segs, leads = [], [], [], None
    if getattr(mcfg, "plan_lead", False) and n:
        from perception.driving import tracked_first_pass

        out, leads = tracked_first_pass(fn, arrays, list(classes), mcfg.bev_range, mcfg.vel_scale, batch_size,
                                        "evaluate")
        preds = detections_from_outputs(out["det_logits"], out["det_boxes"], mcfg)
        segs.append(out["seg_logits"] > 0)
        for s in range(0, n, batch_size):
            sl = slice(s, min(n, s + batch_size))
            plans.append(fn(arrays["images"][sl], arrays["ego"][sl], arrays["command"][sl], lead=leads[sl])["plan"])
    else:
        for s in range(0, n, batch_size):
            sl = slice(s, min(n, s + batch_size))
            out = fn(arrays["images"][sl], arrays["ego"][sl], arrays["command"][sl])
            preds += detections_from_outputs(out["det_logits"], out["det_boxes"], mcfg)
            plans.append(out["plan"])
            segs.append(out["seg_logits"] > 0)
    plan = np.concatenate(plans) if plans else np.zeros((0, 6, 2))
    seg = np.concatenate(segs) if segs else np.zeros((0,) + tuple(arrays["bev_masks"].shape[1:]), bool)
    return preds, plan, seg, leads


def evaluate(model_or_predict_fn: Any, arrays: dict[str, np.ndarray], mcfg: Any = None, batch_size: int = 16,
             classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """Run the model over a split (dataset arrays, see DATASET.md) and compute every metric.

    `model_or_predict_fn`: an E2EDrivingModel or fn(images, ego, command[, lead]) -> {det_logits, det_boxes,
    seg_logits, plan} (then `mcfg`, the ModelConfig, is needed to decode boxes). Keys: mAP, AP (per class),
    AP_per_threshold, mAP_by_range (detection_map_by_range), L2_1s, L2_2s, L2_3s, collision_rate (%), lane_iou,
    drivable_iou, frames.

    A model whose planner takes the tracked lead (`mcfg.plan_lead`) is scored as it drives: a first pass gives
    the detections, the frames of each run are tracked in time order (`perception.driving.tracked_lead_inputs`,
    needs the split's `t` and `scenario_seed`), and a second pass plans with those leads. The lead enters only
    the planner, so the detections and masks of the first pass are the model's.
    """
    fn, model_cfg = as_predict_fn(model_or_predict_fn)
    mcfg = mcfg or model_cfg
    if mcfg is None:
        raise ValueError("evaluate: pass mcfg (the ModelConfig) with a predict function")
    n = len(arrays["ego"])
    preds, plan, seg, _ = predict_split(fn, arrays, mcfg, batch_size, classes)
    gts = gt_for_detection(arrays)
    det = detection_map(preds, gts, classes=classes)
    res: dict[str, Any] = {"mAP": det["mAP"], "AP": det["AP"], "frames": n,
                           "AP_per_threshold": {c: {f"{t:g}m": v for t, v in d.items()}
                                                for c, d in det["AP_per_threshold"].items() if c in det["AP"]},
                           "mAP_by_range": detection_map_by_range(preds, gts, classes=classes)}
    res.update(l2_at(plan, arrays["future"], arrays["future_valid"], rate_hz=1.0 / mcfg.future_dt))
    res["collision_rate"] = collision_rate(plan, arrays["objects"], arrays["num_objects"], arrays["future_valid"],
                                           mcfg.future_dt, arrays.get("objects_future"),
                                           arrays.get("objects_future_valid"))
    iou = lane_iou(seg, arrays["bev_masks"])
    res["lane_iou"], res["drivable_iou"] = float(iou[0]), float(iou[1])
    return res
