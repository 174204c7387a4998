"""Lane keeping: pure pursuit on the lane centre (curvature feed-forward built in) -> steering wheel angle.

Pure pursuit with look-ahead L = v * T gives the closed loop  e'' + (2/T) e' + (2/T^2) e = 0  on a kinematic
bicycle: damping 0.71 at every speed, so no oscillation, and zero steady offset on a constant curve because
the look-ahead point carries the lane curvature. A small integrator absorbs plant mismatch (understeer, bank).
"""
from __future__ import annotations

import dataclasses
import math

from adas.config import AdasConfig
from adas.types import EgoState, LaneInfo, LkaState
from edgepilot.carparams import CarParams


def clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def lookahead_distance(speed: float, cfg: AdasConfig) -> float:
    return clip(speed * cfg.lka_lookahead_time_s, cfg.lka_lookahead_min_m, cfg.lka_lookahead_max_m)


def pure_pursuit_curvature(lane: LaneInfo, lookahead: float) -> float:
    """Curvature of the arc through the lane-centre point `lookahead` metres ahead (small-angle lane model)."""
    y_target = -lane.lateral_offset_m - lane.heading_error_rad * lookahead \
        + 0.5 * lane.curvature_1pm * lookahead ** 2
    return 2.0 * y_target / lookahead ** 2


def curvature_to_steering_wheel_deg(curvature: float, speed: float, cp: CarParams, understeer: bool) -> float:
    road_wheel = cp.steady_state_road_wheel_rad(curvature, speed) if understeer else \
        math.atan(cp.wheelbase_m * curvature)
    return math.degrees(road_wheel) * cp.steer_ratio


class Lka:
    """OFF (not enabled) / STANDBY (no lane, too slow, driver steering) / ACTIVE / FAULT (bad inputs)."""

    def __init__(self, cfg: AdasConfig, cp: CarParams):
        self.cfg, self.cp = cfg, cp
        self.state = LkaState.OFF
        self.integral = 0.0
        self.angle_deg = 0.0

    def update(self, dt: float, ego: EgoState, lane: LaneInfo | None, enabled: bool) -> tuple[LkaState, float]:
        c = self.cfg
        measured = ego.steering_wheel_angle_deg if math.isfinite(ego.steering_wheel_angle_deg) else 0.0
        ego_ok = all(math.isfinite(v) for v in (ego.speed_mps, ego.steering_wheel_angle_deg,
                                                 ego.driver_steering_torque_nm))
        min_speed = c.lka_min_speed_mps - (c.lka_speed_hysteresis_mps if self.state == LkaState.ACTIVE else 0.0)
        if not enabled:
            state = LkaState.OFF
        elif not ego_ok:
            state = LkaState.FAULT
        elif lane is None or not lane.valid or ego.speed_mps < min_speed \
                or abs(ego.driver_steering_torque_nm) > c.lka_driver_torque_override_nm:
            state = LkaState.STANDBY
        else:
            state = LkaState.ACTIVE

        if state != LkaState.ACTIVE:
            self.state, self.integral, self.angle_deg = state, 0.0, measured
            return state, measured
        if self.state != LkaState.ACTIVE:
            self.angle_deg = measured          # engage from where the wheel is
        self.state = state

        if c.lka_lane_offset_m:            # hold a lane position off the centre: steer on the offset from it
            lane = dataclasses.replace(lane, lateral_offset_m=lane.lateral_offset_m - c.lka_lane_offset_m)
        self.integral = clip(self.integral - c.lka_integral_gain * lane.lateral_offset_m * dt,
                             -c.lka_integral_max_1pm, c.lka_integral_max_1pm)
        curv = pure_pursuit_curvature(lane, lookahead_distance(ego.speed_mps, c)) + self.integral
        curv = clip(curv, -c.lka_max_curvature_1pm, c.lka_max_curvature_1pm)
        target = curvature_to_steering_wheel_deg(curv, ego.speed_mps, self.cp, c.lka_understeer_comp)
        target = clip(target, -self.cp.max_steering_wheel_angle_deg, self.cp.max_steering_wheel_angle_deg)
        step = c.lka_max_rate_dps * dt
        self.angle_deg = clip(target, self.angle_deg - step, self.angle_deg + step)
        return state, self.angle_deg
