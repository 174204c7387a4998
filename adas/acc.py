"""Adaptive cruise control: set-speed tracking and constant-time-gap lead following, jerk limited.

The time-gap law is the usual one (gap error + relative speed + a little of the lead's deceleration), which
string-stably converges to d = standstill distance + time gap * speed. Stop-and-go: the car stops behind a
stopped lead, holds with a small brake, and drives off once the lead has moved away.
"""
from __future__ import annotations

from adas.config import AdasConfig
from adas.types import Lead


def clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def desired_gap(ego_speed: float, cfg: AdasConfig) -> float:
    return cfg.acc_standstill_distance_m + cfg.acc_time_gap_s * max(ego_speed, 0.0)


def cruise_accel(ego_speed: float, set_speed: float, cfg: AdasConfig) -> float:
    a = cfg.acc_cruise_gain * (set_speed - ego_speed)
    return clip(a, cfg.acc_cruise_min_accel_mps2, cfg.acc_max_accel_mps2)


def follow_accel(ego_speed: float, lead: Lead, cfg: AdasConfig) -> float:
    """Constant time-gap law; may exceed the comfort limits (the caller clips, the AEB covers the rest)."""
    gap_err = lead.gap_m - desired_gap(ego_speed, cfg)
    a = cfg.acc_gap_gain * gap_err + cfg.acc_speed_gain * (lead.speed_mps - ego_speed)
    a += cfg.acc_lead_accel_gain * min(lead.accel_mps2, 0.0)
    if lead.speed_mps < 0.5:
        # Stopped lead: the constant decel that stops at the standstill distance. The time-gap law alone
        # would brake early and then creep for many seconds (its approach is exponential).
        room = max(lead.gap_m - cfg.acc_standstill_distance_m, 0.2)
        a = -ego_speed ** 2 / (2 * room)
    return a


def target_accel(ego_speed: float, set_speed: float, lead: Lead | None, cfg: AdasConfig) -> float:
    a = cruise_accel(ego_speed, set_speed, cfg)
    if lead is not None:
        a = min(a, follow_accel(ego_speed, lead, cfg))
    return clip(a, cfg.acc_min_accel_mps2, cfg.acc_max_accel_mps2)


def should_hold(ego_speed: float, lead: Lead | None, cfg: AdasConfig) -> bool:
    """Standstill hold: stopped and either the lead is still close or the set speed asks for nothing."""
    if ego_speed > cfg.acc_standstill_speed_mps:
        return False
    if lead is None:
        return False
    close = lead.gap_m < cfg.acc_standstill_distance_m + cfg.acc_resume_gap_margin_m
    return close or lead.speed_mps < 0.5


class Acc:
    """Stateful wrapper adding the jerk limit and standstill hold around target_accel()."""

    def __init__(self, cfg: AdasConfig):
        self.cfg = cfg
        self.accel = 0.0
        self.active = False

    def reset(self, accel: float = 0.0) -> None:
        self.accel = clip(accel, self.cfg.acc_min_accel_mps2, self.cfg.acc_max_accel_mps2)

    def update(self, dt: float, ego_speed: float, set_speed: float, lead: Lead | None) -> float:
        c = self.cfg
        if should_hold(ego_speed, lead, c):
            target = min(c.acc_standstill_hold_accel_mps2, target_accel(ego_speed, set_speed, lead, c))
        else:
            target = target_accel(ego_speed, set_speed, lead, c)
            if ego_speed <= c.acc_standstill_speed_mps and set_speed <= 0.0:
                target = c.acc_standstill_hold_accel_mps2
        step_up, step_down = c.acc_jerk_up_mps3 * dt, c.acc_jerk_down_mps3 * dt
        self.accel = clip(target, self.accel - step_down, self.accel + step_up)
        return self.accel
