"""The simulated world: road, ego, driver, actors, collisions, end conditions and metrics.

Ego reference point / ego frame: origin at the centre of the ego's REAR AXLE on the ground, x forward,
y left, z up (ISO 8855 orientation, openpilot-like origin). ``EgoState.x, y`` is that point in the
world. The ego box centre is ``wheelbase/2`` ahead of it (equal front/rear overhangs); the scenario's
``ego.s_m`` places the box centre, like every actor's ``s_m``.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from edgepilot.carparams import DEFAULT_CAR, CarParams

from .actors import Actor, TriggerContext, box_corners, box_distance, sat_overlap
from .driver import Arbitration, DriverEvent, DriverInput, arbitrate, make_driver
from .dynamics import EgoCommand, EgoState, EgoVehicle
from .metrics import BRAKE_ONSET_MPS2, CollisionInfo, MetricsRecorder
from .road import MARKING_WIDTH_M, Road
from .scenario import Scenario

KPH = 1.0 / 3.6
EGO_COLOR = (20, 90, 200)
ASPHALT_RGB = (85, 85, 90)
PAINT_RGB = (240, 240, 240)
LANE_LOOKAHEAD_M = 80.0


#: lane-line kinds as numbers on the ground-truth lane topic (edgepilot_interfaces LaneLine.type)
LINE_TYPE_IDS = {"dashed": 0, "solid": 1, "none": 0}


def actor_numeric_id(name: str) -> int:
    """An actor's stable numeric id on the ground-truth object topic (same across runs and processes): the sim
    node publishes it, and DAgger's expert rollout (perception/data/expert.py) must give its planner the same."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@dataclass
class GroundTruthObject:
    """An actor as perfect perception would report it.

    frame='ego': x, y, z, yaw relative to the ego frame (rear axle, x fwd, y left), vx, vy = actor
    velocity minus ego reference-point velocity, in ego axes. frame='world': absolute values.
    (x, y, z) is the box centre (z = height/2). ``cls`` is the class (car|truck|pedestrian|cyclist|obstacle).
    """

    id: str
    cls: str
    x: float
    y: float
    z: float
    yaw: float
    length: float
    width: float
    height: float
    vx: float
    vy: float
    speed_mps: float = 0.0   # absolute speed over ground (both frames)


@dataclass
class LaneLineObs:
    """A lane line of the ego lane in the ego frame: ``points`` (N, 2) sampled 0..80 m ahead along the road."""

    side: str     # "left" | "right"
    kind: str     # "solid" | "dashed" | "none"
    points: np.ndarray


@dataclass
class LaneGeometry:
    """Ego-lane information for lane keeping (all at the ego reference point, rear axle)."""

    lane_index: int
    lane_count: int
    lane_width_m: float
    lateral_offset_m: float     # ego ref point minus lane centre, positive = ego left of centre
    heading_error_rad: float    # ego yaw minus lane tangent, positive = ego pointing to the left
    curvature_1pm: float        # lane centre curvature at the ego station, positive = left turn
    s_m: float                  # road station of the ego reference point
    lines: list[LaneLineObs] = field(default_factory=list)  # [0] = left line, [1] = right line


@dataclass
class Box:
    """A renderable box: centre (world, z = height/2), size, yaw (rad, world), colour RGB 0..255."""

    id: str
    cls: str
    x: float
    y: float
    z: float
    length: float
    width: float
    height: float
    yaw: float
    rgb: tuple[int, int, int]


@dataclass
class RenderScene:
    """What a camera renderer needs; all points are world xy on the ground plane z = 0.

    road_strips: [(left_pts (N,2), right_pts (N,2), rgb)] ground quads between matched left/right points,
    drawn in list order. markings: [(pts (N,2), width_m, solid, rgb)] painted polylines; a dashed line
    comes as one entry per dash with ``solid`` False. boxes: the actors (the ego is ``ego``, separate,
    so an on-board camera can skip it).
    """

    road_strips: list[tuple[np.ndarray, np.ndarray, tuple[int, int, int]]]
    markings: list[tuple[np.ndarray, float, bool, tuple[int, int, int]]]
    boxes: list[Box]
    ego: Box | None = None


@dataclass
class DriverState:
    """Driver inputs to put on the CAN bus, plus who drives each axis (for logs)."""

    model: str
    accelerator_pct: float
    brake_pct: float
    steering_torque_nm: float
    steering_wheel_angle_deg: float
    event_active: bool
    long_source: str = "driver"
    lat_source: str = "driver"


def wrap_angle(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


class World:
    """One simulation run of a scenario; deterministic for a given (scenario, seed)."""

    def __init__(self, scenario: Scenario, seed: int | None = None, car: CarParams = DEFAULT_CAR) -> None:
        self.scenario = scenario
        self.seed = int(seed if seed is not None else (scenario.seed or 0))
        self.rng = np.random.default_rng(self.seed)
        self.car = car
        self.dt = scenario.dt_s
        self.t = 0.0
        self.steps = 0
        rs = scenario.road
        self.road = Road(rs.lanes, rs.lane_width_m, rs.segments, rs.edge_marking, rs.between_marking)
        es = scenario.ego
        self.ego_lane = es.lane
        self.ego_lane_d = self.road.lane_center_d(es.lane)
        cx, cy, h = self.road.to_world(es.s_m, self.ego_lane_d + es.d_offset_m)
        yaw = h + math.radians(es.heading_offset_deg)
        self._c_off = car.wheelbase_m / 2.0  # box centre ahead of the rear axle
        self.ego = EgoVehicle(car, cx - self._c_off * math.cos(yaw), cy - self._c_off * math.sin(yaw), yaw,
                              es.speed_kph * KPH)
        events = [DriverEvent(ev.trigger.kind, ev.trigger.value, ev.duration_s, ev.steering_torque_nm,
                              ev.brake_pct, ev.accelerator_pct) for ev in es.driver.events]
        self.driver = make_driver(es.driver.model, car, es.speed_kph * KPH, events,
                                  adas_long_expected=es.adas.acc, adas_lat_expected=es.adas.lka)
        self.actors = [Actor(a, self.road, self.rng) for a in scenario.actors]
        self._actor_by_id = {a.id: a for a in self.actors}
        self.metrics = MetricsRecorder([a.id for a in self.actors], self.dt)
        self.collision: CollisionInfo | None = None
        self.finished = False
        self.end_reason: str | None = None
        self.last_arbitration: Arbitration | None = None
        self.last_command: EgoCommand | None = None
        self._has_moved = self.ego.state.vx > STOP_SPEED
        self._was_faster = False
        self._update_ego_frame()

    # ------------------------------------------------------------------ ego helpers
    @property
    def ego_state(self) -> EgoState:
        return self.ego.state

    def _update_ego_frame(self) -> None:
        st = self.ego.state
        c, s = math.cos(st.yaw), math.sin(st.yaw)
        self._ego_center = (st.x + self._c_off * c, st.y + self._c_off * s)
        self.ego_s, self.ego_d = self.road.project(*self._ego_center)   # box centre station/offset
        h = self.road.heading(self.ego_s)
        vxw, vyw = self._ego_velocity_world()
        self._ego_vs = vxw * math.cos(h) + vyw * math.sin(h)
        rel = st.yaw - h
        ca, sa = abs(math.cos(rel)), abs(math.sin(rel))
        self._ego_half_s = 0.5 * (self.car.length_m * ca + self.car.width_m * sa)
        self._ego_half_d = 0.5 * (self.car.length_m * sa + self.car.width_m * ca)

    def _ego_velocity_world(self) -> tuple[float, float]:
        st = self.ego.state
        c, s = math.cos(st.yaw), math.sin(st.yaw)
        return st.vx * c - st.vy * s, st.vx * s + st.vy * c

    def ego_corners(self) -> np.ndarray:
        st = self.ego.state
        return box_corners(self._ego_center[0], self._ego_center[1], st.yaw, self.car.length_m, self.car.width_m)

    # ------------------------------------------------------------------ stepping
    def step(self, ego_command: EgoCommand | None = None) -> None:
        """Advance one ``dt``: driver, arbitration, ego plant, actors, collisions, metrics, end checks."""
        if self.finished:
            return
        dt, t = self.dt, self.t
        st = self.ego.state
        drv = self.driver.update(t, dt, st, self.road, self.ego_s, self.ego_d, self.ego_lane_d, ego_command)
        arb = arbitrate(ego_command, drv, self.car)
        self.last_arbitration, self.last_command = arb, ego_command
        self.ego.step(arb.accel_mps2, arb.steering_wheel_angle_deg, dt, drv.accelerator_pct, drv.brake_pct)
        self._update_ego_frame()
        # actors: triggers see the state at the start of their step
        for a in self.actors:
            gap, ttc = self._gap_ttc(a)
            a.check_triggers(TriggerContext(t, self.ego_s, gap, ttc))
        self._leader_cands = [(o, o.s, o.half_extents_sd()[0], o.lateral_corridor(), o.velocity_sd()[0])
                              for o in self.actors]
        self._leader_cands.append((None, self.ego_s, self._ego_half_s,
                                   (self.ego_d - self._ego_half_d, self.ego_d + self._ego_half_d), self._ego_vs))
        leaders = [self._idm_leader(a) if a.mode == "idm" else None for a in self.actors]
        for a, lead in zip(self.actors, leaders):
            a.step(t, dt, lead)
        self.t = round(t + dt, 9)
        self.steps += 1
        self._check_collisions()
        self._record(arb, ego_command)
        self._check_end()

    def _gap_ttc(self, a: Actor) -> tuple[float, float]:
        """Ego front to actor rear along s, and TTC along s (inf unless closing with a positive gap)."""
        hs, _ = a.half_extents_sd()
        gap = (a.s - hs) - (self.ego_s + self._ego_half_s)
        closing = self._ego_vs - a.velocity_sd()[0]
        ttc = gap / closing if (closing > 1e-6 and gap > 0) else math.inf
        return gap, ttc

    def _in_ego_path(self, a: Actor) -> bool:
        lo, hi = a.lateral_corridor()
        return hi > self.ego_d - self._ego_half_d and lo < self.ego_d + self._ego_half_d

    def _idm_leader(self, me: Actor) -> tuple[float, float] | None:
        my_hs, _ = me.half_extents_sd()
        lo, hi = me.lateral_corridor()
        best: tuple[float, float] | None = None
        for o, s, hs, (olo, ohi), vs in self._leader_cands:
            if o is me or s <= me.s or ohi <= lo or olo >= hi:
                continue
            gap = (s - hs) - (me.s + my_hs)
            if best is None or gap < best[0]:
                best = (gap, vs)
        return best

    def _check_collisions(self) -> None:
        if self.collision is not None:
            return
        ec = self.ego_corners()
        ex, ey = self._ego_center
        r_ego = 0.5 * math.hypot(self.car.length_m, self.car.width_m)
        for a in self.actors:
            if math.hypot(a.x - ex, a.y - ey) > r_ego + 0.5 * math.hypot(a.length, a.width):
                continue
            hit, n, _ = sat_overlap(ec, box_corners(a.x, a.y, a.yaw, a.length, a.width))
            if hit:
                evx, evy = self._ego_velocity_world()
                avx, avy = a.velocity_world()
                rel = max(0.0, (evx - avx) * n[0] + (evy - avy) * n[1])
                self.collision = CollisionInfo(self.t, a.id, self.ego.state.speed * 3.6, rel * 3.6)
                self.metrics.on_collision(self.collision)
                return

    def _lane_departure(self) -> tuple[float, float]:
        """(ref-point offset from the start lane centre, how far the body is beyond that lane's lines)."""
        corners = self.ego_corners()
        _, dc = self.road.project(corners[:, 0], corners[:, 1])
        half = self.road.lane_width_m / 2
        dep = max(0.0, float(dc.max()) - (self.ego_lane_d + half), (self.ego_lane_d - half) - float(dc.min()))
        _, d_ref = self.road.project(self.ego.state.x, self.ego.state.y)
        return d_ref - self.ego_lane_d, dep

    def _record(self, arb: Arbitration, cmd: EgoCommand | None) -> None:
        lead_id, gap, rel, ttc = None, math.nan, math.nan, math.inf
        for a in self.actors:
            if a.s <= self.ego_s or not self._in_ego_path(a):
                continue
            g, tt = self._gap_ttc(a)
            if lead_id is None or g < gap:
                lead_id, gap, ttc = a.id, g, tt
                rel = self._ego_vs - a.velocity_sd()[0]
        if lead_id is not None:
            gap = max(gap, 0.0)
        # closest oriented-box distance to any actor (bounding-circle prune first)
        ec = self.ego_corners()
        ex, ey = self._ego_center
        r_ego = 0.5 * math.hypot(self.car.length_m, self.car.width_m)
        min_d = math.inf
        bounds = sorted((math.hypot(a.x - ex, a.y - ey) - r_ego - 0.5 * math.hypot(a.length, a.width), i)
                        for i, a in enumerate(self.actors))
        for lb, i in bounds:
            if lb >= min_d:
                break
            a = self.actors[i]
            min_d = min(min_d, box_distance(ec, box_corners(a.x, a.y, a.yaw, a.length, a.width)))
        offset, dep = self._lane_departure()
        braking = arb.accel_mps2 <= BRAKE_ONSET_MPS2 or (cmd is not None and cmd.aeb_active)
        st = self.ego.state
        self.metrics.record(self.t, st.speed, st.ax, lead_id, gap, rel, ttc, offset, dep, min_d,
                            arb.accel_mps2, braking, {a.id: a.speed for a in self.actors})

    def _check_end(self) -> None:
        end = self.scenario.end
        speed = self.ego.state.speed
        if speed > STOP_SPEED:
            self._has_moved = True
        reason = None
        if self.collision is not None and end.collision:
            reason = "collision"
        elif end.ego_stopped and self._has_moved and speed < STOP_SPEED:
            reason = "ego_stopped"
        elif end.ego_slower_than is not None:
            other = self._actor_by_id[end.ego_slower_than]
            if speed >= other.speed:
                self._was_faster = True
            elif self._was_faster:
                reason = "ego_slower_than"
        if reason is None and self.t >= self.scenario.duration_s - 1e-9:
            reason = "duration"
        if reason is not None:
            self.finished, self.end_reason = True, reason
            self.metrics.end_reason = reason

    # ------------------------------------------------------------------ outputs
    def summary(self) -> dict:
        return self.metrics.summary()

    def timeseries(self) -> dict:
        return self.metrics.timeseries()

    def driver_state(self) -> DriverState:
        d: DriverInput = self.driver.last
        arb = self.last_arbitration
        return DriverState(self.driver.model, d.accelerator_pct, d.brake_pct, d.steering_torque_nm,
                           d.steering_wheel_angle_deg, d.event_active,
                           arb.long_source if arb else "driver", arb.lat_source if arb else "driver")

    def ground_truth_objects(self, frame: str = "ego") -> list[GroundTruthObject]:
        if frame not in ("ego", "world"):
            raise ValueError("frame must be 'ego' or 'world'")
        st = self.ego.state
        c, s = math.cos(st.yaw), math.sin(st.yaw)
        # velocity of the rear-axle reference point
        evx, evy = self._ego_velocity_world()
        rvx, rvy = evx + st.yaw_rate * self.car.cg_to_rear_m * s, evy - st.yaw_rate * self.car.cg_to_rear_m * c
        out = []
        for a in self.actors:
            avx, avy = a.velocity_world()
            if frame == "world":
                out.append(GroundTruthObject(a.id, a.cls, a.x, a.y, a.height / 2, a.yaw, a.length, a.width,
                                             a.height, avx, avy, a.speed))
                continue
            dx, dy = a.x - st.x, a.y - st.y
            dvx, dvy = avx - rvx, avy - rvy
            out.append(GroundTruthObject(a.id, a.cls, c * dx + s * dy, -s * dx + c * dy, a.height / 2,
                                         wrap_angle(a.yaw - st.yaw), a.length, a.width, a.height,
                                         c * dvx + s * dvy, -s * dvx + c * dvy, a.speed))
        return out

    def objects_base_link(self) -> list[GroundTruthObject]:
        """Ground-truth objects as a perception stack reports them: box centre relative to base_link (the
        rear axle), velocity over ground, both in base_link axes (a parked car has zero velocity)."""
        st = self.ego.state
        c, s = math.cos(st.yaw), math.sin(st.yaw)
        out = []
        for o in self.ground_truth_objects("world"):
            dx, dy = o.x - st.x, o.y - st.y
            out.append(replace(o, x=c * dx + s * dy, y=-s * dx + c * dy, yaw=wrap_angle(o.yaw - st.yaw),
                               vx=c * o.vx + s * o.vy, vy=-s * o.vx + c * o.vy))
        return out

    def lane_geometry(self) -> LaneGeometry:
        st = self.ego.state
        s_ref, d_ref = self.road.project(st.x, st.y)
        road = self.road
        lane = road.lane_of(d_ref)
        dc = road.lane_center_d(lane)
        w = road.lane_width_m
        kinds = road.lane_lines()
        ss = np.linspace(s_ref, s_ref + LANE_LOOKAHEAD_M, 41)
        c, s = math.cos(st.yaw), math.sin(st.yaw)
        lines = []
        for side, d_line, kind in (("left", dc + w / 2, kinds[lane + 1].kind), ("right", dc - w / 2, kinds[lane].kind)):
            x, y, _ = road.to_world(ss, np.full_like(ss, d_line))
            dx, dy = x - st.x, y - st.y
            lines.append(LaneLineObs(side, kind, np.stack([c * dx + s * dy, -s * dx + c * dy], axis=1)))
        return LaneGeometry(lane, road.lanes, w, d_ref - dc, wrap_angle(st.yaw - road.heading(s_ref)),
                            road.curvature(s_ref, dc), s_ref, lines)

    def render_scene(self, behind_m: float = 30.0, ahead_m: float = 200.0, step_m: float = 1.0) -> RenderScene:
        """Road and boxes around the ego (``behind_m`` .. ``ahead_m`` along the road from its box centre)."""
        s0, s1 = max(0.0, self.ego_s - behind_m), min(self.road.length_m, self.ego_s + ahead_m)
        strips = []
        if s1 > s0:
            left, right = self.road.surface_strip(s0, s1, step_m)
            strips.append((left, right, ASPHALT_RGB))
        markings = [(p.points, MARKING_WIDTH_M, p.kind == "solid", PAINT_RGB)
                    for p in self.road.marking_pieces(s0, s1, step_m)]
        boxes = [Box(a.id, a.cls, a.x, a.y, a.height / 2, a.length, a.width, a.height, a.yaw, tuple(a.color))
                 for a in self.actors]
        st = self.ego.state
        ego = Box("ego", "car", self._ego_center[0], self._ego_center[1], self.car.height_m / 2, self.car.length_m,
                  self.car.width_m, self.car.height_m, st.yaw, EGO_COLOR)
        return RenderScene(strips, markings, boxes, ego)


STOP_SPEED = 0.1


def run_world(world: World, controller: Callable[[World], EgoCommand | None] | None = None,
              max_steps: int | None = None) -> World:
    """Step until finished; ``controller(world)`` gives the command each step (None: no ADAS)."""
    n = 0
    while not world.finished and (max_steps is None or n < max_steps):
        world.step(controller(world) if controller is not None else None)
        n += 1
    return world
