"""Collision-aware refinement of the network's plan against the network's own detections (pure numpy).

Why: a learned planner regresses the expert's average behaviour and, with few frames where the expert brakes for
a stopped car, it keeps driving through what its own detection head sees (measured: it never braked for an NCAP
CCRs target without the AEB fallback). UniAD closes the same gap with an occupancy-guided optimisation of its
planned trajectory at inference; this is that step for our outputs, kept deliberately simple and deterministic:

* the geometry of the plan (its path) is kept; only how far along it the ego gets by each time is reduced;
* detected objects move with their predicted velocity (constant velocity, ego axes of the image instant);
* along a fine time grid (``dt_s``) the ego speed is capped by v <= sqrt(u^2 + 2 b d) (the RSS-style rule: if
  the object braked at b too, the ego could still stop behind it), d the free distance along the path to the first
  object box at that time (ego box widened by ``lateral_margin_m`` each side and lengthened by ``gap_m`` at the
  front), u >= 0 the object's speed along the path there, b = ``decel_mps2``; so the refined plan brakes for a
  stopped object early enough and no harder than needed, and leaves a plan behind a faster or equally fast lead
  vehicle untouched;
* with ``time_gap_s`` = tau > 0, d is shortened by tau * u, so the plan also keeps the time gap an ACC keeps
  behind a moving lead (ISO 15622): closer than tau * u behind a lead at u, the cap falls below u and the gap
  opens again; a stopped object (u = 0) is treated as before;
* objects behind the ego's rear axle are ignored (braking cannot avoid them and must not be caused by them);
* a plan whose path is shorter than ``min_path_m`` (already stopping) is returned unchanged.

Nothing here sees ground truth: `perception.driving.E2EDriver` runs it on the confirmed tracks when asked to
(`refine=`, the perception node's `plan_refine`; off by default, see perception/MODEL.md for why).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vehicle_sim.actors import box_corners, sat_overlap

from .metrics import EGO_CENTER_AHEAD_M, EGO_LENGTH_M, EGO_WIDTH_M   # the ego box the collision metric uses


@dataclass(frozen=True)
class RefineConfig:
    """Knobs of the plan refinement (the defaults are the ones measured in perception/MODEL.md)."""

    enabled: bool = True
    decel_mps2: float = 3.0          # b: comfortable braking the refined plan plans with (ACC range)
    gap_m: float = 2.5               # free space kept in front of the ego box
    lateral_margin_m: float = 0.3    # ego box widened by this on each side
    score_threshold: float = 0.3     # detections below this are not obstacles
    dt_s: float = 0.1                # time step of the speed-profile integration
    step_m: float = 0.25             # arc-length step of the free-distance search
    extend_m: float = 80.0           # the path is extended straight past its last waypoint by this
    min_path_m: float = 0.5
    time_gap_s: float = 0.0          # tau: time gap kept behind a moving object (0: only the stopping rule)

    def __post_init__(self) -> None:
        for k in ("decel_mps2", "dt_s", "step_m", "extend_m"):
            v = getattr(self, k)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"RefineConfig.{k} must be > 0, got {v}")
        for k in ("gap_m", "lateral_margin_m", "min_path_m", "time_gap_s"):
            v = getattr(self, k)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"RefineConfig.{k} must be >= 0, got {v}")


@dataclass(frozen=True)
class RefineResult:
    plan: np.ndarray          # [T, 2] refined waypoints (the input array itself when nothing constrained it)
    constrained: bool         # True when an object shortened the plan
    blocking: int             # index (row of `objects`) of the object that constrained it most, -1 if none


def _path(plan: np.ndarray, extend_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polyline origin -> waypoints -> straight extension: (vertices [V, 2], cumulative arc length [V], unit
    directions [V - 1, 2]). Zero-length segments are dropped."""
    pts = np.vstack([np.zeros((1, 2)), np.asarray(plan, np.float64)])
    seg = np.diff(pts, axis=0)
    keep = np.hypot(seg[:, 0], seg[:, 1]) > 1e-6
    pts = np.vstack([pts[:1], pts[1:][keep]])
    seg = np.diff(pts, axis=0)
    if len(seg) == 0:
        seg = np.array([[1.0, 0.0]])
        pts = np.vstack([pts[:1], pts[:1] + seg])
    last = seg[-1] / np.hypot(*seg[-1])
    pts = np.vstack([pts, pts[-1] + extend_m * last])
    seg = np.diff(pts, axis=0)
    length = np.hypot(seg[:, 0], seg[:, 1])
    return pts, np.concatenate([[0.0], np.cumsum(length)]), seg / length[:, None]


def _pose_at(s: np.ndarray, verts: np.ndarray, cum: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rear-axle position [S, 2] and heading unit vector [S, 2] at arc lengths s [S]."""
    i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(dirs) - 1)
    pos = verts[i] + (s - cum[i])[:, None] * dirs[i]
    return pos, dirs[i]


def _first_overlap(centres: np.ndarray, heads: np.ndarray, hl: float, hw: float, box: np.ndarray) -> int:
    """Index of the first ego pose (centres/unit headings [S, 2], half length/width) whose box overlaps `box`
    (corners [4, 2]), -1 if none; the simulator's own separating-axis test, after a bounding-circle check."""
    reach = math.hypot(hl, hw) + float(np.max(np.hypot(*(box - box.mean(0)).T)))   # sum of circumradii
    near = np.hypot(*(centres - box.mean(0)).T) <= reach
    for i in np.flatnonzero(near):
        yaw = math.atan2(heads[i, 1], heads[i, 0])
        if sat_overlap(box_corners(centres[i, 0], centres[i, 1], yaw, 2 * hl, 2 * hw), box)[0]:
            return int(i)
    return -1


def refine_plan(plan: np.ndarray, times: np.ndarray, objects: np.ndarray, scores: np.ndarray | None = None,
                cfg: RefineConfig = RefineConfig()) -> RefineResult:
    """Slow the plan down along its own path so the ego box keeps clear of the detected objects.

    plan [T, 2] ego (x, y) at `times` [T] (s, increasing, > 0) in base_link of the image instant; objects [K, 7]
    x, y, length, width, yaw, vx, vy (as `perception.driving.decode_boxes`) with `scores` [K] (all kept if None).
    """
    plan = np.asarray(plan, np.float32)
    times = np.asarray(times, np.float64)
    if plan.ndim != 2 or plan.shape[1] != 2 or times.shape != (len(plan),) or len(plan) == 0:
        raise ValueError(f"refine_plan: expected plan [T, 2] and times [T], got {list(plan.shape)} and "
                         f"{list(times.shape)}")
    if np.any(np.diff(times) <= 0) or times[0] <= 0:
        raise ValueError(f"refine_plan: times must be positive and increasing, got {times.tolist()}")
    objects = np.asarray(objects, np.float64).reshape(-1, 7)
    index = np.arange(len(objects)) if scores is None else \
        np.flatnonzero(np.asarray(scores).reshape(-1) >= cfg.score_threshold)
    objects = objects[index]
    if not cfg.enabled or len(objects) == 0 or not np.all(np.isfinite(plan)):
        return RefineResult(plan, False, -1)
    verts, cum, dirs = _path(plan, cfg.extend_m)
    # arc length of each waypoint along the (deduplicated) polyline
    seg = np.diff(np.vstack([np.zeros((1, 2)), plan.astype(np.float64)]), axis=0)
    s_wp = np.cumsum(np.hypot(seg[:, 0], seg[:, 1]))
    if s_wp[-1] < cfg.min_path_m:
        return RefineResult(plan, False, -1)
    t_fine = np.arange(1, int(math.ceil(times[-1] / cfg.dt_s - 1e-9)) + 1) * cfg.dt_s
    s_raw = np.interp(t_fine, np.concatenate([[0.0], times]), np.concatenate([[0.0], s_wp]))
    v_raw = np.diff(np.concatenate([[0.0], s_raw])) / cfg.dt_s
    hl = 0.5 * (EGO_LENGTH_M + cfg.gap_m)
    hw = 0.5 * EGO_WIDTH_M + cfg.lateral_margin_m
    ahead = EGO_CENTER_AHEAD_M + 0.5 * cfg.gap_m
    b = cfg.decel_mps2
    s_new = np.zeros_like(s_raw)
    s_prev, blocking, worst = 0.0, -1, 0.0
    for k, t in enumerate(t_fine):
        v = v_raw[k]
        # free distance beyond which no object can bind (a stopped one by braking, a moving one by the time gap)
        reach = v * v / (2 * b) + cfg.time_gap_s * v + cfg.step_m
        cand = s_prev + np.arange(0.0, reach + cfg.step_m, cfg.step_m)
        pos, head = _pose_at(cand, verts, cum, dirs)
        centre = pos + ahead * head
        p0, h0 = pos[0], head[0]
        for j, o in enumerate(objects):
            oc = np.array([o[0] + o[5] * t, o[1] + o[6] * t])
            if np.dot(oc - p0, h0) < 0.0:              # behind the rear axle: not ours to brake for
                continue
            if np.min(np.hypot(*(oc[None] - centre).T)) > hl + hw + 0.5 * math.hypot(o[2], o[3]):
                continue
            first = _first_overlap(centre, head, hl, hw, box_corners(oc[0], oc[1], o[4], o[2], o[3]))
            if first >= 0:
                free = cand[first] - s_prev
                u = max(0.0, o[5] * head[first, 0] + o[6] * head[first, 1])   # its speed along our path
                cap = math.sqrt(max(0.0, u * u + 2 * b * (free - cfg.time_gap_s * u)))
                if cap < v:
                    if v - cap > worst:
                        worst, blocking = v - cap, int(index[j])
                    v = cap
        s_prev = s_prev + v * cfg.dt_s
        s_new[k] = s_prev
    s_at = np.interp(times, np.concatenate([[0.0], t_fine]), np.concatenate([[0.0], s_new]))
    if np.all(s_at >= s_wp - 1e-6):
        return RefineResult(plan, False, -1)
    out = plan.copy()
    for i in range(len(plan)):
        if s_at[i] < s_wp[i] - 1e-6:
            p, _ = _pose_at(np.array([s_at[i]]), verts, cum, dirs)
            out[i] = p[0]
    return RefineResult(out, True, blocking)
