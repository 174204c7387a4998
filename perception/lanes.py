"""The ego lane's centre line from the model's BEV lane-line mask (pure numpy, runs on the car).

Why: the planner's lateral waypoints follow the measured yaw rate (MODEL.md, "Planning stage"), so at a curve
entry the plan stays straight. The same network's lane-line mask does show the curve. openpilot's lateral
planner long blended its path with the model's lane lines by their confidence; `lane_centre` gives that second
path and `blend_plan` mixes it into the plan's lateral positions (longitudinal positions untouched).

Mask convention (DATASET.md): row i <-> x = x_max - (i + 0.5) res, column j <-> y = y_max - (j + 0.5) res.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LaneFitConfig:
    x_near_m: float = 3.0          # rows used: x_near .. x_far ahead of the rear axle
    x_far_m: float = 40.0
    seed_x_m: float = 12.0         # the two boundaries are picked among the lines seen up to here
    max_jump_m: float = 0.8        # a line followed outward may move this much from one row to the next
    min_rows: int = 12             # rows a boundary needs to count as seen
    lane_width_m: tuple[float, float] = (2.6, 4.6)   # plausible widths; outside: no lane
    max_width_change_m: float = 0.8  # the two boundaries' gap may change this much from near to far (else: no lane)
    degree: int = 2


@dataclass
class LaneCentre:
    coeffs: np.ndarray             # y(x) = polyval(coeffs, x) of the centre line (ego frame, metres)
    x_max_m: float                 # farthest x the fit is backed by rows
    width_m: float                 # lane width seen near the ego
    sides: int                     # boundaries seen: 2 (both) or 1 (one, offset by the width)

    def y_at(self, x: np.ndarray) -> np.ndarray:
        return np.polyval(self.coeffs, np.asarray(x, dtype=np.float64))


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) column of each run of set pixels in one mask row."""
    idx = np.flatnonzero(row)
    if len(idx) == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[cut + 1]])
    ends = np.concatenate([idx[cut], [idx[-1]]])
    return list(zip(starts.tolist(), ends.tolist()))


def lane_line_points(mask: np.ndarray, bev_range: tuple[float, float, float, float], res: float,
                     cfg: LaneFitConfig) -> list[tuple[float, np.ndarray]]:
    """Per row from near to far: (x, y of every lane-line run's centre)."""
    x_min, x_max, y_min, y_max = bev_range
    out = []
    for i in range(mask.shape[0] - 1, -1, -1):
        x = x_max - (i + 0.5) * res
        if x < cfg.x_near_m or x > cfg.x_far_m:
            continue
        runs = _runs(mask[i])
        ys = np.array([y_max - ((a + b) / 2 + 0.5) * res for a, b in runs])
        out.append((x, ys))
    return out


def _follow(rows: list[tuple[float, np.ndarray]], start_y: float, cfg: LaneFitConfig) -> np.ndarray:
    """Points of the line that passes near (first row, start_y), followed row by row to the nearest run."""
    pts, y = [], start_y
    for x, ys in rows:
        if len(ys) == 0:
            continue
        j = int(np.argmin(np.abs(ys - y)))
        if abs(ys[j] - y) <= cfg.max_jump_m * (1 + 0.5 * (len(pts) == 0)):
            y = float(ys[j])
            pts.append((x, y))
    return np.array(pts).reshape(-1, 2)


def lane_centre(mask: np.ndarray, bev_range: tuple[float, float, float, float], res: float,
                cfg: LaneFitConfig | None = None) -> LaneCentre | None:
    """Fit the ego lane's boundaries (the nearest line on each side near the ego) and return their centre line,
    or None when neither side is seen well enough or the two sides do not make a plausible lane."""
    c = cfg or LaneFitConfig()
    rows = lane_line_points(np.asarray(mask, dtype=bool), bev_range, res, c)
    near = [ys for x, ys in rows if x <= c.seed_x_m]
    if not near:
        return None
    ys_near = np.concatenate(near)
    left0 = ys_near[ys_near > 0.3]
    right0 = ys_near[ys_near < -0.3]
    sides = {}
    for name, cand, pick in (("left", left0, np.min), ("right", right0, np.max)):
        if len(cand) == 0:
            continue
        start = float(np.median(cand[np.abs(cand - pick(cand)) < 0.75]))
        pts = _follow(rows, start, c)
        if len(pts) >= c.min_rows:
            sides[name] = pts
    if not sides:
        return None
    return _centre_of(sides, c, float(np.mean(c.lane_width_m)), check_far=True)


def _centre_of(sides: dict[str, np.ndarray], c: LaneFitConfig, one_side_width: float,
               check_far: bool) -> LaneCentre | None:
    """The centre line from the followed points of one or both boundaries ({"left"|"right": [n, 2]}): with both,
    their mean where the width near the ego is plausible (and, with `check_far`, changes by at most
    max_width_change_m out to the fits' reach); with one, that line offset by half of `one_side_width`."""
    fits = {k: np.polyfit(p[:, 0], p[:, 1], c.degree) for k, p in sides.items()}
    x_far = min(float(p[:, 0].max()) for p in sides.values())
    x_ref = c.x_near_m + 2.0
    if len(fits) == 2:
        width = float(np.polyval(fits["left"], x_ref) - np.polyval(fits["right"], x_ref))
        far = float(np.polyval(fits["left"], x_far) - np.polyval(fits["right"], x_far))
        if not c.lane_width_m[0] <= width <= c.lane_width_m[1] or (check_far and abs(far - width) > c.max_width_change_m):
            return None
        return LaneCentre((fits["left"] + fits["right"]) / 2, x_far, width, 2)
    (name, coeffs), = fits.items()
    shift = np.zeros_like(coeffs)
    shift[-1] = -one_side_width / 2 if name == "left" else one_side_width / 2
    return LaneCentre(coeffs + shift, x_far, one_side_width, 1)


def blend_plan(plan: np.ndarray, lane: LaneCentre | None, weight: float = 1.0, x_margin_m: float = 5.0
               ) -> np.ndarray:
    """The plan with its lateral positions moved towards the lane centre by `weight` where the fit reaches
    (x <= the fit's range + x_margin_m); longitudinal positions (and the speed profile) unchanged."""
    out = np.array(plan, dtype=np.float32, copy=True)
    if lane is None or weight <= 0:
        return out
    x = out[:, 0].astype(np.float64)
    ok = (x > 0) & (x <= lane.x_max_m + x_margin_m)
    out[ok, 1] = ((1 - weight) * out[ok, 1] + weight * lane.y_at(x[ok])).astype(np.float32)
    return out


# ------------------------------------------------------------------------------------------------ tracking
@dataclass
class LaneTrackConfig:
    """Frame-to-frame tracking of the lane centre (why: single-frame fits drop out or pick the wrong line for a
    few frames at a curve entry or when the car sits off-centre, exactly when the plan needs them)."""
    gate_m: float = 0.6            # a boundary point counts if it is this close to the predicted boundary
    min_points: int = 12           # rows a followed boundary needs (as LaneFitConfig.min_rows)
    smoothing: float = 0.5         # weight of a new measurement in the track (exponential smoothing)
    max_coast_s: float = 1.0       # a track with no measurement for longer is dropped
    x_sample_m: tuple[float, float] = (0.0, 40.0)   # where the predicted centre is sampled to move it


def move_centre(coeffs: np.ndarray, dx: float, dyaw: float, degree: int = 2,
                x_range: tuple[float, float] = (0.0, 40.0)) -> np.ndarray:
    """A centre line y(x) of the previous ego frame expressed in the current one, after the ego moved `dx` forward
    and turned by `dyaw` (rad, left positive): sampled, rigidly moved, refitted."""
    x = np.linspace(x_range[0], x_range[1] + dx, 24)
    y = np.polyval(coeffs, x)
    c, s = np.cos(dyaw), np.sin(dyaw)
    xs, ys = x - dx, y
    xn, yn = c * xs + s * ys, -s * xs + c * ys
    return np.polyfit(xn, yn, degree)


def _follow_predicted(rows: list[tuple[float, np.ndarray]], pred: np.ndarray, gate: float) -> np.ndarray:
    """Points of the line nearest the predicted boundary y = polyval(pred, x) in each row, within `gate`."""
    pts = []
    for x, ys in rows:
        if len(ys) == 0:
            continue
        yp = float(np.polyval(pred, x))
        j = int(np.argmin(np.abs(ys - yp)))
        if abs(ys[j] - yp) <= gate:
            pts.append((x, float(ys[j])))
    return np.array(pts).reshape(-1, 2)


class LaneTracker:
    """The ego lane's centre, tracked over frames that come in order: the previous centre is moved by the ego's
    motion, each boundary is looked for near where it should be (not merely the nearest line), the measurement
    is smoothed into the track, and the prediction stands in for up to `max_coast_s` without one. With no track
    (start, or lost) it starts from the single-frame `lane_centre`."""

    def __init__(self, bev_range: tuple[float, float, float, float], res: float,
                 fit: LaneFitConfig | None = None, cfg: LaneTrackConfig | None = None) -> None:
        self.bev_range, self.res = tuple(bev_range), float(res)
        self.fit = fit or LaneFitConfig()
        self.cfg = cfg or LaneTrackConfig()
        self.lane: LaneCentre | None = None
        self.t: float | None = None
        self.last_measured: float | None = None
        self.measured = False          # the last update had a measurement (False: coasting or no lane)

    def reset(self) -> None:
        self.lane, self.t, self.last_measured, self.measured = None, None, None, False

    def update(self, t: float, mask: np.ndarray, speed_mps: float, yaw_rate_rps: float) -> LaneCentre | None:
        c, f = self.cfg, self.fit
        dt = 0.0 if self.t is None else t - self.t
        if self.t is not None and (dt < 0 or dt > c.max_coast_s):
            self.reset()                               # time went back or a long gap: start over
            dt = 0.0
        self.t = t
        self.measured = False
        if self.lane is None:
            return self._acquire(t, mask)
        pred = move_centre(self.lane.coeffs, speed_mps * dt, yaw_rate_rps * dt, f.degree, c.x_sample_m)
        half = self.lane.width_m / 2
        rows = lane_line_points(np.asarray(mask, dtype=bool), self.bev_range, self.res, f)
        sides = {}
        for name, off in (("left", half), ("right", -half)):
            p = pred.copy()
            p[-1] += off
            pts = _follow_predicted(rows, p, c.gate_m)
            if len(pts) >= c.min_points:
                sides[name] = pts
        meas = _centre_of(sides, f, self.lane.width_m, check_far=False) if sides else None
        if meas is not None:
            a = c.smoothing
            width = a * meas.width_m + (1 - a) * self.lane.width_m
            self.lane = LaneCentre(a * meas.coeffs + (1 - a) * pred, meas.x_max_m, width, meas.sides)
            self.last_measured, self.measured = t, True
        elif self.last_measured is None or t - self.last_measured > c.max_coast_s:
            self.reset()                               # lost: look for the lane afresh, as at the start
            self.t = t
            return self._acquire(t, mask)
        else:
            self.lane = LaneCentre(pred, self.lane.x_max_m, self.lane.width_m, self.lane.sides)
        return self.lane

    def _acquire(self, t: float, mask: np.ndarray) -> LaneCentre | None:
        lane = lane_centre(mask, self.bev_range, self.res, self.fit)
        if lane is not None:
            self.lane, self.last_measured, self.measured = lane, t, True
        return self.lane
