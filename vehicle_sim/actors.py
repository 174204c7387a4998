"""Scenario actors (vehicles, VRUs, obstacles) and oriented-box geometry.

Vehicles live in the road frame (s, d) so lane following on curves is exact; VRUs with behaviour
``straight`` keep a fixed world heading (crossing paths); ``static`` never moves. Positions are box
centres (the scenario's ``s_m`` is the centre of the actor's box, as for the ego).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .road import Road
from .scenario import ActorSpec, BrakeAction, LaneChangeAction, SetSpeedAction

KPH = 1.0 / 3.6

#: Fixed default colours per type; cars and trucks without a colour get one drawn from the seed.
DEFAULT_COLORS: dict[str, tuple[int, int, int]] = {
    "car": (170, 170, 175),
    "truck": (230, 230, 225),
    "pedestrian": (40, 60, 140),
    "cyclist": (30, 140, 60),
    "obstacle": (230, 120, 20),
}
CAR_PALETTE: tuple[tuple[int, int, int], ...] = (
    (200, 30, 30), (30, 60, 180), (235, 235, 235), (25, 25, 25), (150, 150, 155), (20, 110, 60),
    (230, 180, 20), (120, 40, 140), (90, 60, 40), (180, 90, 30),
)


@dataclass
class TriggerContext:
    """Per-actor quantities the triggers look at, computed by the world each step."""

    t: float
    ego_s: float
    gap_m: float     # ego front to actor rear along s (negative when overlapping / behind)
    ttc_s: float     # gap / closing speed along s, inf if not closing


def quintic(u: float) -> tuple[float, float]:
    """Smooth 0->1 profile with zero velocity and acceleration at both ends, and its derivative."""
    u = min(max(u, 0.0), 1.0)
    return u ** 3 * (10 - 15 * u + 6 * u * u), 30 * u * u * (1 - u) ** 2


def idm_accel(v: float, v0: float, gap: float | None, dv: float, T: float, s0: float, a_max: float,
              b: float) -> float:
    """Intelligent Driver Model acceleration (Treiber 2000); ``dv`` = own speed - leader speed."""
    free = 1.0 - (v / max(v0, 0.1)) ** 4
    if gap is None:
        return a_max * free
    s_star = s0 + max(0.0, v * T + v * dv / (2.0 * math.sqrt(a_max * b)))
    return a_max * (free - (s_star / max(gap, 0.1)) ** 2)


class Actor:
    """One actor; ``step`` advances it, ``check_triggers`` fires its scripted actions."""

    def __init__(self, spec: ActorSpec, road: Road, rng: np.random.Generator) -> None:
        self.spec = spec
        self.id = spec.id
        self.cls = spec.type
        self.road = road
        self.length, self.width, self.height = spec.size.length_m, spec.size.width_m, spec.size.height_m
        if spec.color is not None:
            self.color = tuple(spec.color)
        elif spec.type in ("car", "truck"):
            self.color = CAR_PALETTE[int(rng.integers(len(CAR_PALETTE)))]
        else:
            self.color = DEFAULT_COLORS[spec.type]
        self.behavior = spec.behavior.type
        self.s = spec.s_m
        self.d = road.lane_center_d(spec.lane) + spec.d_offset_m
        self.v = spec.speed_kph * KPH if self.behavior != "static" else 0.0
        self.a = 0.0
        self.d_dot = 0.0
        self.mode = "idm" if self.behavior == "idm" else "const"
        self.idm = spec.behavior.idm
        self._brake: tuple[float, BrakeAction] | None = None
        self._set_speed: SetSpeedAction | None = None
        self._lc: tuple[float, float, float, float] | None = None  # t0, d0, d1, duration
        self.fired = [False] * len(spec.behavior.actions)
        x, y, h = road.to_world(self.s, self.d)
        self.x, self.y = x, y
        self.heading = h + math.radians(spec.heading_deg) if self.behavior in ("straight", "static") else h
        self.yaw = self.heading

    # ----------------------------------------------------------------- queries
    @property
    def speed(self) -> float:
        return math.hypot(self.v, self.d_dot) if self.behavior in ("lane_follow", "idm") else self.v

    def velocity_world(self) -> tuple[float, float]:
        if self.behavior in ("lane_follow", "idm"):
            h = self.road.heading(self.s)
            return (self.v * math.cos(h) - self.d_dot * math.sin(h), self.v * math.sin(h) + self.d_dot * math.cos(h))
        return self.v * math.cos(self.heading), self.v * math.sin(self.heading)

    def velocity_sd(self) -> tuple[float, float]:
        """(speed along the road tangent, lateral speed) at the actor's station."""
        if self.behavior in ("lane_follow", "idm"):
            return self.v, self.d_dot
        rel = self.heading - self.road.heading(self.s)
        return self.v * math.cos(rel), self.v * math.sin(rel)

    def half_extents_sd(self) -> tuple[float, float]:
        """Half extents of the box along the road tangent and normal (for gaps and path overlap)."""
        rel = self.yaw - self.road.heading(self.s)
        c, s = abs(math.cos(rel)), abs(math.sin(rel))
        return 0.5 * (self.length * c + self.width * s), 0.5 * (self.length * s + self.width * c)

    def lateral_corridor(self) -> tuple[float, float]:
        """d-interval the actor occupies, widened to its target lane while changing lanes."""
        _, hw = self.half_extents_sd()
        lo, hi = self.d - hw, self.d + hw
        if self._lc is not None:
            lo, hi = min(lo, self._lc[2] - hw), max(hi, self._lc[2] + hw)
        return lo, hi

    # ----------------------------------------------------------------- dynamics
    def check_triggers(self, ctx: TriggerContext) -> list[str]:
        """Fire every not-yet-fired action whose trigger holds; returns the kinds fired."""
        fired = []
        for i, act in enumerate(self.spec.behavior.actions):
            if self.fired[i]:
                continue
            k, val = act.trigger.kind, act.trigger.value
            hold = ((k == "time_s" and ctx.t >= val - 1e-9) or (k == "ego_s_m" and ctx.ego_s >= val)
                    or (k == "gap_m" and ctx.gap_m < val) or (k == "ttc_s" and ctx.ttc_s < val))
            if hold:
                self.fired[i] = True
                self._start(act.action, ctx.t)
                fired.append(act.kind)
        return fired

    def _start(self, action, t: float) -> None:
        if isinstance(action, BrakeAction):
            self.mode, self._brake = "brake", (t, action)
        elif isinstance(action, SetSpeedAction):
            self.mode, self._set_speed = "set_speed", action
        elif isinstance(action, LaneChangeAction):
            self._lc = (t, self.d, self.road.lane_center_d(action.to_lane), action.duration_s)

    def step(self, t: float, dt: float, leader: tuple[float, float] | None = None) -> None:
        """Advance by ``dt``; ``leader`` = (bumper gap m, leader speed along s) for IDM."""
        if self.behavior == "static":
            return
        a = 0.0
        if self.mode == "brake" and self._brake is not None:
            t0, br = self._brake
            ramp = 1.0 if br.ramp_s <= 0 else min(1.0, (t - t0) / br.ramp_s)
            a = -br.decel_mps2 * ramp
        elif self.mode == "set_speed" and self._set_speed is not None:
            target = self._set_speed.speed_kph * KPH
            err = target - self.v
            a = math.copysign(min(self._set_speed.accel_mps2, abs(err) / dt), err) if abs(err) > 1e-9 else 0.0
        elif self.mode == "idm" and self.idm is not None:
            gap, vl = leader if leader is not None else (None, 0.0)
            a = idm_accel(self.v, self.idm.desired_speed_kph * KPH, gap, self.v - vl, self.idm.time_headway_s,
                          self.idm.min_gap_m, self.idm.max_accel_mps2, self.idm.comfort_decel_mps2)
            a = max(a, -9.0)
        v_new = self.v + a * dt
        if v_new < 0.0:  # stops, never reverses
            v_new = 0.0
        self.a = (v_new - self.v) / dt
        v_mean = 0.5 * (self.v + v_new)
        self.v = v_new
        if self.behavior == "straight":
            self.x += v_mean * math.cos(self.heading) * dt
            self.y += v_mean * math.sin(self.heading) * dt
            self.s, self.d = self.road.project(self.x, self.y)
            self.yaw = self.heading
            return
        # lane following vehicles
        k = self.road.curvature(self.s)
        self.s += v_mean * dt / max(1.0 - k * self.d, 0.1)
        if self._lc is not None:
            t0, d0, d1, dur = self._lc
            p, dp = quintic((t + dt - t0) / dur)
            self.d = d0 + (d1 - d0) * p
            self.d_dot = (d1 - d0) * dp / dur
            if t + dt - t0 >= dur:
                self._lc, self.d_dot = None, 0.0
        x, y, h = self.road.to_world(self.s, self.d)
        self.x, self.y = x, y
        self.yaw = h + math.atan2(self.d_dot, max(self.v, 0.5)) if self.d_dot else h


# ----------------------------------------------------------------------------- box geometry
def box_corners(x: float, y: float, yaw: float, length: float, width: float) -> np.ndarray:
    """(4, 2) corners of an oriented rectangle centred at (x, y), counter-clockwise from front-left."""
    c, s = math.cos(yaw), math.sin(yaw)
    hl, hw = length / 2, width / 2
    local = np.array([[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]])
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def _axes(poly) -> list[tuple[float, float]]:
    out = []
    for j in range(2):  # rectangles: two distinct edge normals each
        ex, ey = poly[j + 1][0] - poly[j][0], poly[j + 1][1] - poly[j][1]
        n = math.hypot(ex, ey) or 1.0
        out.append((-ey / n, ex / n))
    return out


def sat_overlap(a, b) -> tuple[bool, np.ndarray, float]:
    """Separating-axis test for two rectangles ((4, 2) corners in order).

    Returns (overlap, contact normal pointing from a to b, penetration depth). Plain Python on four
    points is several times faster than numpy at this size, and it runs every step for every actor.
    """
    pa, pb = [tuple(p) for p in np.asarray(a, float).tolist()], [tuple(p) for p in np.asarray(b, float).tolist()]
    best_depth, best_axis = math.inf, (1.0, 0.0)
    for nx, ny in _axes(pa) + _axes(pb):
        da = [x * nx + y * ny for x, y in pa]
        db = [x * nx + y * ny for x, y in pb]
        depth = min(max(da) - min(db), max(db) - min(da))
        if depth <= 0:
            return False, np.array([nx, ny]), 0.0
        if depth < best_depth:
            best_depth, best_axis = depth, (nx, ny)
    cax, cay = sum(p[0] for p in pa) / 4, sum(p[1] for p in pa) / 4
    cbx, cby = sum(p[0] for p in pb) / 4, sum(p[1] for p in pb) / 4
    nx, ny = best_axis
    if (cbx - cax) * nx + (cby - cay) * ny < 0:
        nx, ny = -nx, -ny
    return True, np.array([nx, ny]), float(best_depth)


def _pt_seg(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    abx, aby = bx - ax, by - ay
    l2 = abx * abx + aby * aby
    u = 0.0 if l2 < 1e-12 else min(max(((px - ax) * abx + (py - ay) * aby) / l2, 0.0), 1.0)
    return math.hypot(px - ax - u * abx, py - ay - u * aby)


def box_distance(a, b) -> float:
    """Closest distance between two convex quads (0 when they overlap)."""
    if sat_overlap(a, b)[0]:
        return 0.0
    pa, pb = np.asarray(a, float).tolist(), np.asarray(b, float).tolist()
    best = math.inf
    for p, q in ((pa, pb), (pb, pa)):
        for px, py in p:
            for j in range(len(q)):
                ax, ay = q[j]
                bx, by = q[(j + 1) % len(q)]
                best = min(best, _pt_seg(px, py, ax, ay, bx, by))
    return best
