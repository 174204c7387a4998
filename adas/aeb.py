"""Collision prediction, required deceleration and the staged FCW/AEB state machine.

Objects are predicted with constant velocity (and their own longitudinal deceleration until they stop), the
ego with constant speed along the lane curvature. Braking is staged like production systems: warning first,
then partial braking, then full braking, so a late but avoidable threat still gets the full 10 m/s^2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from adas.config import AdasConfig
from adas.types import NO_TTC_S, EgoState, Threat, TrackedObject


class AebStage(IntEnum):
    OFF = 0
    PARTIAL = 1
    FULL = 2
    HOLD = 3     # at standstill after an intervention


@dataclass(frozen=True)
class AebOutput:
    fcw: bool = False
    active: bool = False
    decel_mps2: float = 0.0       # positive
    stage: AebStage = AebStage.OFF
    threat_id: int = -1


def box_half_extents(length: float, width: float, rel_yaw) -> tuple:
    """Half extents of a rotated box along the reference x and y axes (works on arrays)."""
    c, s = np.abs(np.cos(rel_yaw)), np.abs(np.sin(rel_yaw))
    return c * length / 2 + s * width / 2, s * length / 2 + c * width / 2


def required_decel(gap: float, ego_speed: float, lead_speed: float, lead_accel: float) -> float:
    """Smallest constant ego deceleration (positive) that avoids hitting a lead that may itself brake to a stop.

    Two cases: the ego must stop behind where the lead stops, and, if the lead is still moving when the speeds
    equalise, the gap at that moment must stay positive (the CCRb case).
    """
    ego_speed = max(ego_speed, 0.0)
    lead_speed = max(lead_speed, 0.0)
    if gap <= 0.05:
        return math.inf if ego_speed > lead_speed or ego_speed > 0.0 else 0.0
    lead_decel = max(-lead_accel, 0.0)
    if lead_decel > 1e-3:
        lead_stop_dist = lead_speed ** 2 / (2 * lead_decel)
        lead_stop_time = lead_speed / lead_decel
    else:
        lead_stop_dist = math.inf
        lead_stop_time = math.inf
    need = 0.0 if math.isinf(lead_stop_dist) else ego_speed ** 2 / (2 * (gap + lead_stop_dist))
    rel = ego_speed - lead_speed
    if rel > 0.0:
        moving = lead_decel + rel ** 2 / (2 * gap)
        t_equal = rel / (moving - lead_decel)
        if t_equal < lead_stop_time:
            need = max(need, moving)
    return need


def assess_object(obj: TrackedObject, ego_speed: float, path_curvature: float, ego_length: float,
                  ego_width: float, accel: float, cfg: AdasConfig) -> Threat:
    """Predict one object against the ego corridor: in-path flag, first box overlap (TTC) and required decel."""
    t = np.arange(0.0, cfg.path_horizon_s + 1e-9, cfg.path_step_s)
    vx, ax = obj.vx_mps, accel
    if ax * vx < 0.0:                         # decelerating: stop, never reverse
        tt = np.minimum(t, -vx / ax)
    else:
        tt = t
    xo = obj.x_m + vx * tt + 0.5 * ax * tt ** 2
    yo = obj.y_m + obj.vy_mps * t

    k = path_curvature
    s = ego_speed * t
    if abs(k) > 1e-6:
        xe, ye = np.sin(k * s) / k, (1 - np.cos(k * s)) / k
    else:
        xe, ye = s, 0.5 * k * s ** 2
    th = k * s
    dx, dy = xo - xe, yo - ye
    lx = np.cos(th) * dx + np.sin(th) * dy
    ly = -np.sin(th) * dx + np.cos(th) * dy
    hx, hy = box_half_extents(obj.length_m, obj.width_m, obj.yaw_rad - th)
    overlap = (np.abs(lx) <= ego_length / 2 + hx) & \
              (np.abs(ly) <= ego_width / 2 + cfg.aeb_lateral_margin_m + hy)
    hit = np.flatnonzero(overlap)
    ttc = float(t[hit[0]]) if hit.size else NO_TTC_S

    # Corridor membership uses the object's own position against the path (lead / cut-in selection).
    dev = yo - 0.5 * k * xo ** 2
    hx_p, hy_p = box_half_extents(obj.length_m, obj.width_m, obj.yaw_rad - k * xo)
    in_corridor = np.abs(dev) <= ego_width / 2 + cfg.path_lateral_margin_m + hy_p
    ahead_now = obj.x_m - float(hx_p[0]) > ego_length / 2 - 0.5
    ahead_then = xo + hx_p > xe + ego_length / 2
    in_path = bool(ahead_now and np.any(in_corridor & ahead_then))

    gap = obj.x_m - float(hx_p[0]) - ego_length / 2
    closing = ego_speed - vx
    need = 0.0
    if ahead_now and (ttc < NO_TTC_S or bool(in_corridor[0])):
        gap_eff = gap - max(closing, 0.0) * cfg.aeb_latency_s
        need = required_decel(gap_eff, ego_speed, vx, min(ax, 0.0))
    return Threat(id=obj.id, classification=obj.classification, gap_m=gap, closing_speed_mps=closing,
                  ttc_s=ttc, required_decel_mps2=min(need, 1e3), in_path=in_path,
                  object_accel_mps2=accel)


class Aeb:
    """Staged FCW -> partial -> full braking; once braking it continues to standstill unless the threat is gone."""

    def __init__(self, cfg: AdasConfig):
        self.cfg = cfg
        self.stage = AebStage.OFF
        self._clear_since: float | None = None
        self._stop_since: float | None = None
        self._fcw_until = -math.inf
        self._threat_id = -1

    def reset(self) -> None:
        self.__init__(self.cfg)

    def _latched_threat_gone(self, threats: list[Threat]) -> bool:
        """The object we brake for left the path, or it is pulling away and no longer braking."""
        th = next((x for x in threats if x.id == self._threat_id), None)
        if th is None or (not th.in_path and th.ttc_s >= NO_TTC_S):
            return True
        return th.closing_speed_mps < 0.0 and th.object_accel_mps2 > -0.5

    def update(self, t: float, ego: EgoState, threats: list[Threat], enabled: bool) -> AebOutput:
        c = self.cfg
        ttc, need, tid = NO_TTC_S, 0.0, -1
        for th in threats:
            if th.ttc_s < ttc:
                ttc = th.ttc_s
            if th.required_decel_mps2 > need:
                need, tid = th.required_decel_mps2, th.id
        if tid < 0 and ttc < NO_TTC_S:
            tid = min(threats, key=lambda th: th.ttc_s).id
        ttc_ok = need >= c.aeb_ttc_min_decel_mps2
        kickdown = ego.accelerator_pedal_pct >= c.aeb_cancel_accelerator_pct
        v = ego.speed_mps

        if not enabled or kickdown:
            self.stage, self._clear_since, self._stop_since = AebStage.OFF, None, None
            return AebOutput()

        full = need >= c.aeb_full_decel_trigger_mps2 or (ttc <= c.aeb_full_ttc_s and ttc_ok)
        partial = need >= c.aeb_partial_decel_trigger_mps2 or (ttc <= c.aeb_partial_ttc_s and ttc_ok)
        fcw_now = need >= c.aeb_fcw_decel_mps2 or (ttc <= c.aeb_fcw_ttc_s and ttc_ok)

        if self.stage == AebStage.OFF and v >= c.aeb_min_speed_mps:
            if full:
                self.stage = AebStage.FULL
            elif partial:
                self.stage = AebStage.PARTIAL
            if self.stage != AebStage.OFF:
                self._threat_id, self._clear_since, self._stop_since = tid, None, None
        elif self.stage == AebStage.PARTIAL and full:
            self.stage = AebStage.FULL

        if self.stage in (AebStage.PARTIAL, AebStage.FULL):
            clear = ttc > c.aeb_release_ttc_s and need < c.aeb_release_decel_mps2 \
                and self._latched_threat_gone(threats)
            self._clear_since = (self._clear_since if self._clear_since is not None else t) if clear else None
            if self._clear_since is not None and t - self._clear_since >= c.aeb_release_time_s:
                self.stage = AebStage.OFF
            elif v <= c.aeb_standstill_speed_mps:
                self.stage, self._stop_since = AebStage.HOLD, t
        elif self.stage == AebStage.HOLD:
            if self._stop_since is None or t - self._stop_since >= c.aeb_hold_time_s:
                self.stage = AebStage.OFF

        if self.stage == AebStage.FULL or self.stage == AebStage.HOLD:
            decel = c.aeb_full_decel_mps2
        elif self.stage == AebStage.PARTIAL:
            decel = min(max(c.aeb_partial_decel_mps2, c.aeb_decel_margin * need), c.aeb_full_decel_mps2)
        else:
            decel = 0.0
        active = self.stage != AebStage.OFF
        if (fcw_now and v >= c.aeb_min_speed_mps) or (active and self.stage != AebStage.HOLD):
            self._fcw_until = t + c.aeb_fcw_min_on_s
        return AebOutput(fcw=t < self._fcw_until, active=active, decel_mps2=decel, stage=self.stage,
                         threat_id=self._threat_id if active else tid)
