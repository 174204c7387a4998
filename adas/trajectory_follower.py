"""Trajectory follower for the end-to-end driver: planned waypoints -> ActuationRequest, behind the same envelope.

Design notes:

* Input: the network's plan, ego (x, y) at t = dt, 2 dt, ... (0.5 .. 3.0 s) in base_link (rear axle, x forward,
  y left) of the instant the camera images were taken (`TimedPlan.stamp_s`). Output: the very
  `adas.types.ActuationRequest` the classical planner produces, so the safety envelope, the safety node and the
  CAN path are unchanged and bound it exactly as they bound ACC/LKA.
* Longitudinal: the plan's speed profile. Arc length along the plan s(t) (frame independent, so plan age needs
  no geometry here) is least-squares fitted with s = v0 t + a t^2 / 2 through the origin over the first
  `e2e_fit_horizon_s`; the request tracks the planned speed one time constant ahead,
  a = (v_plan(age + tau) - v_ego) / tau, which is the plan's acceleration plus a 1/tau speed-error feedback.
  The driver's ACC set speed caps the target, the ACC accel range and jerk limits apply (the envelope would clip
  anyway; limiting here keeps the request smooth instead of bounded), and a stopped plan at standstill holds
  the car with a small brake like ACC's standstill hold. A plan starts at the current speed, so a constant-speed
  plan gives no speed error while drag and rolling resistance slow the car (about -0.3 m/s^2 at 100 km/h for a
  zero request): a small bounded integrator on wanted minus measured acceleration closes that gap (frozen
  while the AEB brakes, at the accel limits and at standstill, so it never winds up).
* Lateral: pure pursuit on the plan. A plan that is `age` seconds old is first moved into the current base_link
  by dead reckoning (speed and yaw rate over `age`, constant turn); the target is the point at arc length
  L = clip(v * T, L_min, L_max) along origin -> waypoints (extrapolated along the last segment when the plan is
  shorter), curvature 2 y / (x^2 + y^2) (exact on a circle tangent to the ego, so curves need no feed-forward),
  converted to a steering wheel angle with the LKA's kinematic map and rate limited like the LKA.
* Engagement and fallback (`E2EPlanner`): the classical `AdasPlanner` keeps running for the engagement rules
  (ACC switch, brake cancel, disengagement by the envelope), the HMI and, when the fallback is on, its AEB on
  the radar-like object list; its braking is combined with the follower's exactly as ACC and AEB are combined
  in the classical planner (min of the two). With the fallback off it sees no objects and AEB is disabled, so
  nothing classical acts. Lateral control needs the LKA switch and the LKA's speed and driver-torque rules.
* Stale plan (older than `e2e_plan_timeout_s`, e.g. the perception node died): controlled stop as the envelope
  does for stale inputs: -`e2e_stop_decel_mps2` reached at the ACC jerk, steering held; latched until the
  driver re-engages (ACC off and on). The AEB fallback keeps acting during the stop.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from adas.config import _coerce, _load_mapping
from adas.lka import curvature_to_steering_wheel_deg
from adas.types import ActuationRequest, DriverSettings, EgoState, HmiState, LaneInfo, LkaState, TrackedObject
from edgepilot.carparams import DEFAULT_CAR, CarParams


def clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


@dataclass(frozen=True)
class FollowerConfig:
    """Tuning of the follower; flat `e2e_*` keys so they are ROS parameters of the adas node (config/adas.yaml)."""

    e2e_plan_timeout_s: float = 0.5           # older plan = stale (10 Hz perception: ~4 frames missed or late)
    e2e_fit_horizon_s: float = 2.0            # waypoints used for the speed-profile fit
    e2e_speed_time_constant_s: float = 1.0    # tau: track the planned speed tau seconds ahead
    e2e_accel_min_mps2: float = -3.5          # ACC range: harder braking is the AEB's job
    e2e_accel_max_mps2: float = 2.0
    e2e_jerk_up_mps3: float = 2.5
    e2e_jerk_down_mps3: float = 5.0
    e2e_standstill_speed_mps: float = 0.3
    e2e_stop_travel_m: float = 0.5            # a plan moving less than this over the fit horizon means "stay"
    e2e_standstill_hold_accel_mps2: float = -1.0
    e2e_stop_decel_mps2: float = 2.0          # controlled stop on a stale plan (= the envelope's stop_decel)
    e2e_lookahead_time_s: float = 1.0
    e2e_lookahead_min_m: float = 8.0
    e2e_lookahead_max_m: float = 45.0
    e2e_min_plan_length_m: float = 1.0        # shorter plans carry no direction: hold the steering wheel
    e2e_max_curvature_1pm: float = 0.2
    e2e_max_steer_rate_dps: float = 300.0
    e2e_accel_integral_gain: float = 0.5      # 1/s on (wanted - measured accel): drag the plan does not see
    e2e_accel_integral_max_mps2: float = 0.6

    def __post_init__(self) -> None:
        vals = dataclasses.astuple(self)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            raise ValueError("FollowerConfig values must be finite numbers")
        if not self.e2e_accel_min_mps2 < 0.0 < self.e2e_accel_max_mps2:
            raise ValueError(f"need e2e_accel_min_mps2 < 0 < e2e_accel_max_mps2, got "
                             f"{self.e2e_accel_min_mps2}, {self.e2e_accel_max_mps2}")
        positive = ("e2e_plan_timeout_s", "e2e_fit_horizon_s", "e2e_speed_time_constant_s", "e2e_jerk_up_mps3",
                    "e2e_jerk_down_mps3", "e2e_stop_decel_mps2", "e2e_lookahead_time_s", "e2e_lookahead_min_m",
                    "e2e_lookahead_max_m", "e2e_max_curvature_1pm", "e2e_max_steer_rate_dps")
        bad = [k for k in positive if getattr(self, k) <= 0.0]
        if bad:
            raise ValueError(f"these FollowerConfig values must be > 0: {bad}")

    @classmethod
    def from_yaml(cls, source: str | os.PathLike | Mapping[str, Any] | None) -> "FollowerConfig":
        """From a YAML path/string/dict (ROS params files too); keys that are not follower keys are ignored,
        because the adas node's params file also holds the AdasConfig keys."""
        data = _load_mapping(source)
        known = {f.name: f for f in dataclasses.fields(cls)}
        return cls(**{k: _coerce(known[k].type, v, k) for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TimedPlan:
    """A plan and when it was made: points [T, 2] base_link at stamp_s, times [T] seconds after stamp_s."""

    points: np.ndarray
    times: np.ndarray
    stamp_s: float

    def __post_init__(self) -> None:
        pts, times = np.asarray(self.points, float), np.asarray(self.times, float)
        if pts.ndim != 2 or pts.shape[1] != 2 or times.shape != (pts.shape[0],) or pts.shape[0] == 0:
            raise ValueError(f"plan: expected points [T, 2] and times [T], got {list(pts.shape)} and {list(times.shape)}")

    def is_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.points)) and np.all(np.isfinite(self.times)) and math.isfinite(self.stamp_s))


# --------------------------------------------------------------------------------------------- pure functions
def signed_arc_length(points: np.ndarray) -> np.ndarray:
    """Distance [T] of each waypoint along origin -> points [T, 2]; a segment pointing backwards (against the
    previous direction, the x axis for the first) counts negative, so a jittering stopped plan does not add up to
    motion."""
    pts = np.vstack([np.zeros((1, 2)), np.asarray(points, float)])
    seg = np.diff(pts, axis=0)
    length = np.hypot(seg[:, 0], seg[:, 1])
    prev = np.vstack([np.array([[1.0, 0.0]]), seg[:-1]])
    sign = np.where(np.einsum("ij,ij->i", seg, prev) < 0.0, -1.0, 1.0)
    return np.cumsum(sign * length)


def fit_speed_profile(points: np.ndarray, times: np.ndarray, horizon_s: float) -> tuple[float, float]:
    """(v0, a) of s(t) = v0 t + a t^2 / 2 least-squares fitted to the plan's arc length for t <= horizon_s
    (at least two waypoints)."""
    s = signed_arc_length(points)
    t = np.asarray(times, float)
    if len(t) < 2:
        return float(s[0] / t[0]) if t[0] > 0 else 0.0, 0.0
    n = max(2, int(np.sum(t <= horizon_s + 1e-9)))
    t, s = t[:n], s[:n]
    A = np.stack([t, 0.5 * t * t], axis=1)
    (v0, a), *_ = np.linalg.lstsq(A, s, rcond=None)
    return float(v0), float(a)


def plan_in_current_frame(points: np.ndarray, age_s: float, speed_mps: float, yaw_rate_rps: float) -> np.ndarray:
    """Move plan points from base_link `age_s` ago into the current base_link (constant speed and turn rate)."""
    age = max(float(age_s), 0.0)
    dth = yaw_rate_rps * age
    dist = speed_mps * age
    # chord of a constant-turn arc: direction dth / 2, length 2 sin(dth/2) / (dth/dist) ~ dist for small dth
    chord = dist * (math.sin(dth / 2) / (dth / 2) if abs(dth) > 1e-9 else 1.0)
    dx, dy = chord * math.cos(dth / 2), chord * math.sin(dth / 2)
    c, s = math.cos(dth), math.sin(dth)
    rel = np.asarray(points, float) - np.array([dx, dy])
    return np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1]], axis=1)


def lookahead_point(points: np.ndarray, distance: float) -> tuple[np.ndarray, float]:
    """The point at arc length `distance` along origin -> points (extrapolated along the last segment beyond its
    end) and the polyline's length."""
    pts = np.vstack([np.zeros((1, 2)), np.asarray(points, float)])
    seg = np.diff(pts, axis=0)
    length = np.hypot(seg[:, 0], seg[:, 1])
    total = float(length.sum())
    acc = 0.0
    for i, l in enumerate(length):
        if l > 1e-9 and acc + l >= distance:
            return pts[i] + seg[i] * ((distance - acc) / l), total
        acc += l
    last = next((i for i in range(len(length) - 1, -1, -1) if length[i] > 1e-9), None)
    if last is None:
        return pts[-1], total
    return pts[-1] + seg[last] / length[last] * (distance - total), total


def pursuit_curvature(point: np.ndarray) -> float:
    """Curvature of the arc from the rear axle, tangent to the heading, through `point` (pure pursuit)."""
    x, y = float(point[0]), float(point[1])
    d2 = x * x + y * y
    return 0.0 if d2 < 1e-9 else 2.0 * y / d2


def longitudinal_target(v0: float, a: float, age_s: float, ego_speed: float, set_speed_mps: float,
                        cfg: FollowerConfig) -> float:
    """Unlimited accel request that tracks the planned speed tau ahead, capped by the set speed (when > 0)."""
    tau = cfg.e2e_speed_time_constant_s
    v_des = max(v0 + a * (max(age_s, 0.0) + tau), 0.0)
    if set_speed_mps > 0.0:
        v_des = min(v_des, set_speed_mps)
    return (v_des - ego_speed) / tau


# --------------------------------------------------------------------------------------------------- follower
class TrajectoryFollower:
    """Stateful wrapper adding the jerk limit, standstill hold and steering rate limit around the pure functions."""

    def __init__(self, cfg: FollowerConfig | None = None, car_params: CarParams = DEFAULT_CAR,
                 understeer_comp: bool = False) -> None:
        self.cfg = cfg or FollowerConfig()
        self.cp = car_params
        self.understeer_comp = understeer_comp
        self.accel = 0.0
        self.accel_integral = 0.0
        self.last_target_accel = 0.0
        self.angle_deg = 0.0
        self.last_curvature = 0.0
        self.last_target_speed = 0.0

    def reset(self, accel: float = 0.0) -> None:
        """Bumpless longitudinal engagement: start the jerk limiter where the car is, with no drag estimate."""
        c = self.cfg
        self.accel = clip(accel if math.isfinite(accel) else 0.0, c.e2e_accel_min_mps2, c.e2e_accel_max_mps2)
        self.accel_integral = 0.0
        self.last_target_accel = self.accel

    def hold_steering(self, angle_deg: float) -> None:
        """Bumpless lateral engagement: the steering rate limiter starts from `angle_deg` (the measured angle)."""
        self.angle_deg = angle_deg if math.isfinite(angle_deg) else 0.0

    def _jerk_limited(self, dt: float, target: float) -> float:
        c = self.cfg
        target = clip(target, c.e2e_accel_min_mps2, c.e2e_accel_max_mps2)
        self.accel = clip(target, self.accel - c.e2e_jerk_down_mps3 * dt, self.accel + c.e2e_jerk_up_mps3 * dt)
        return self.accel

    def longitudinal(self, dt: float, plan: TimedPlan, age_s: float, ego_speed: float,
                     set_speed_mps: float = 0.0, measured_accel: float | None = None, freeze: bool = False) -> float:
        """Accel request for the plan. `measured_accel` feeds the drag integrator unless `freeze` (e.g. the AEB
        overrides the request, so the car does not follow it)."""
        c = self.cfg
        v0, a = fit_speed_profile(plan.points, plan.times, c.e2e_fit_horizon_s)
        self.last_target_speed = v0 + a * (age_s + c.e2e_speed_time_constant_s)
        s = signed_arc_length(plan.points)
        within = s[np.asarray(plan.times) <= c.e2e_fit_horizon_s + 1e-9]
        travel = float(within[-1]) if within.size else float(s[0])
        if ego_speed <= c.e2e_standstill_speed_mps and travel < c.e2e_stop_travel_m:
            self.accel_integral = 0.0
            return self._jerk_limited(dt, c.e2e_standstill_hold_accel_mps2)   # the plan says stay: hold
        target = clip(longitudinal_target(v0, a, age_s, ego_speed, set_speed_mps, c), c.e2e_accel_min_mps2,
                      c.e2e_accel_max_mps2)
        saturated = not c.e2e_accel_min_mps2 < self.accel < c.e2e_accel_max_mps2
        if measured_accel is not None and math.isfinite(measured_accel) and not freeze and not saturated \
                and ego_speed > c.e2e_standstill_speed_mps:
            # the wanted accel (before this correction) vs what the car does: converges to the drag
            err = self.last_target_accel - measured_accel
            self.accel_integral = clip(self.accel_integral + c.e2e_accel_integral_gain * err * dt,
                                       -c.e2e_accel_integral_max_mps2, c.e2e_accel_integral_max_mps2)
        self.last_target_accel = target
        return self._jerk_limited(dt, target + self.accel_integral)

    def stop(self, dt: float) -> float:
        """Controlled stop (stale plan): brake at e2e_stop_decel reached at the ACC jerk."""
        return self._jerk_limited(dt, -self.cfg.e2e_stop_decel_mps2)

    def lateral(self, dt: float, plan: TimedPlan, age_s: float, ego_speed: float, yaw_rate_rps: float) -> float:
        c = self.cfg
        pts = plan_in_current_frame(plan.points, age_s, ego_speed, yaw_rate_rps)
        look = clip(ego_speed * c.e2e_lookahead_time_s, c.e2e_lookahead_min_m, c.e2e_lookahead_max_m)
        target_pt, total = lookahead_point(pts, look)
        if total < c.e2e_min_plan_length_m:
            return self.angle_deg                                  # no direction in the plan: hold the wheel
        curv = clip(pursuit_curvature(target_pt), -c.e2e_max_curvature_1pm, c.e2e_max_curvature_1pm)
        self.last_curvature = curv
        target = curvature_to_steering_wheel_deg(curv, ego_speed, self.cp, self.understeer_comp)
        target = clip(target, -self.cp.max_steering_wheel_angle_deg, self.cp.max_steering_wheel_angle_deg)
        step = c.e2e_max_steer_rate_dps * dt
        self.angle_deg = clip(target, self.angle_deg - step, self.angle_deg + step)
        return self.angle_deg


# ------------------------------------------------------------------------------------------------ e2e planner
class E2EPlanner:
    """The e2e driver's ADAS step: follower on the plan + the classical planner for engagement, HMI and AEB."""

    def __init__(self, classical: Any, cfg: FollowerConfig | None = None, fallback_aeb: bool = True,
                 car_params: CarParams = DEFAULT_CAR, model_aeb: bool = True) -> None:
        self.classical = classical                     # adas.planner.AdasPlanner
        self.cfg = cfg or FollowerConfig()
        self.fallback_aeb = bool(fallback_aeb)
        self.model_aeb = bool(model_aeb)
        self.cp = car_params
        self.follower = TrajectoryFollower(self.cfg, car_params, classical.cfg.lka_understeer_comp)
        self._t: float | None = None
        self._started = False
        self._long_was_active = False
        self._lat_was_active = False
        self._lat_cancelled = False
        self._stopping = False
        self._aeb_was_active = False
        self._aeb_end_t = -math.inf
        self.plan_cycles = 0            # control cycles driven on a fresh plan
        self.stale_events = 0

    def notify_disengaged(self) -> None:
        """The envelope took control away: stay off until the driver re-engages (as the classical planner does)."""
        self.classical.notify_disengaged()
        self._lat_cancelled = True

    def _lateral_allowed(self, ego: EgoState, settings: DriverSettings) -> bool:
        c = self.classical.cfg
        if not settings.lka_enabled:
            self._lat_cancelled = False
            return False
        min_speed = c.lka_min_speed_mps - (c.lka_speed_hysteresis_mps if self._lat_was_active else 0.0)
        return not self._lat_cancelled and ego.speed_mps >= min_speed \
            and abs(ego.driver_steering_torque_nm) <= c.lka_driver_torque_override_nm

    def update(self, t: float, ego: EgoState, objects: Sequence[TrackedObject], lanes: LaneInfo | None,
               settings: DriverSettings, plan: TimedPlan | None, model_objects: Sequence[TrackedObject] = ()
               ) -> tuple[ActuationRequest, HmiState]:
        """`objects`: the independent object list (radar-like; the sim's ground truth in simulation) the fallback
        AEB watches; `model_objects`: the driving model's own tracks, which the AEB watches instead when the
        fallback is off and `model_aeb` is on (the e2e stack then brakes on what its own cameras saw)."""
        dt = self.classical.cfg.dt_s if self._t is None or not (t > self._t) else min(t - self._t, 0.2)
        self._t = t
        if self.fallback_aeb:
            classic_req, hmi = self.classical.update(t, ego, objects, lanes, settings)
        elif self.model_aeb:
            classic_req, hmi = self.classical.update(t, ego, list(model_objects), lanes, settings)
        else:   # nothing may brake but the plan: no objects, AEB (and FCW) off
            classic_req, hmi = self.classical.update(t, ego, [], lanes, dataclasses.replace(settings, aeb_enabled=False))
        ego_ok = all(math.isfinite(v) for v in (ego.speed_mps, ego.accel_long_mps2, ego.yaw_rate_rps,
                                                 ego.steering_wheel_angle_deg, ego.driver_steering_torque_nm))
        if not ego_ok:
            self._long_was_active = self._lat_was_active = False
            return classic_req, hmi                     # the classical planner already asks for nothing

        fresh = plan is not None and plan.is_finite() and -0.05 <= t - plan.stamp_s <= self.cfg.e2e_plan_timeout_s
        age = t - plan.stamp_s if plan is not None else 0.0
        long_engaged = hmi.acc_active                   # ACC switch, brake cancel, envelope disengagement
        lat_engaged = self._lateral_allowed(ego, settings)
        if not long_engaged:
            self._stopping = False                      # the driver took over / re-engages from scratch
        elif (self._long_was_active or self._lat_was_active) and not fresh and not self._stopping:
            self._stopping = True
            self.stale_events += 1
        long_active = long_engaged and (fresh or self._stopping)
        lat_active = (lat_engaged and fresh and not self._stopping) or (self._stopping and self._lat_was_active)

        if long_active and not self._long_was_active:
            self.follower.reset(accel=ego.accel_long_mps2)
        if self._aeb_was_active and not classic_req.aeb_active:
            self.follower.reset(accel=min(ego.accel_long_mps2, 0.0))
            self._aeb_end_t = t                        # leave AEB from where the brakes are, as ACC does
        if lat_active and not self._lat_was_active:
            self.follower.hold_steering(ego.steering_wheel_angle_deg)
        if self._stopping:
            accel = self.follower.stop(dt)
        elif long_active:
            set_mps = settings.set_speed_kph / 3.6 if math.isfinite(settings.set_speed_kph) else 0.0
            # the car does not follow the request while the AEB brakes or the driver presses the accelerator
            freeze = classic_req.aeb_active or t - self._aeb_end_t < 1.0 or ego.accelerator_pedal_pct > 1.0
            accel = self.follower.longitudinal(dt, plan, age, ego.speed_mps, set_mps, ego.accel_long_mps2, freeze)
        else:
            accel = 0.0
        if lat_active and not self._stopping:
            steer = self.follower.lateral(dt, plan, age, ego.speed_mps, ego.yaw_rate_rps)
        elif lat_active:
            steer = self.follower.angle_deg             # controlled stop: hold the wheel
        else:
            steer = ego.steering_wheel_angle_deg
            self.follower.hold_steering(steer)
        if fresh and not self._stopping and (long_active or lat_active):
            self.plan_cycles += 1
        if classic_req.aeb_active:                      # the fallback brakes: same combination as ACC + AEB
            accel = min(accel, -classic_req.aeb_decel_mps2)

        first_cycle = not self._started
        self._started = True
        self._long_was_active, self._lat_was_active = long_active, lat_active
        self._aeb_was_active = classic_req.aeb_active
        req = ActuationRequest(controls_active=(long_active or lat_active) and not first_cycle, accel_mps2=accel,
                               steering_wheel_angle_deg=steer, aeb_active=classic_req.aeb_active,
                               aeb_decel_mps2=classic_req.aeb_decel_mps2)
        lka_state = LkaState.ACTIVE if lat_active else (LkaState.STANDBY if settings.lka_enabled else LkaState.OFF)
        hmi = dataclasses.replace(hmi, acc_active=long_active, lka_state=lka_state)
        return req, hmi
