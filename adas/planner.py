"""AdasPlanner: one deterministic 50 Hz step from (ego, objects, lanes, settings) to an actuation request + HMI.

Time comes in as `t` (seconds, any epoch); nothing reads the wall clock, so replays and tests are exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from adas.acc import Acc, clip
from adas.aeb import Aeb, AebOutput, assess_object
from adas.config import AdasConfig
from adas.lka import Lka
from adas.types import (NO_TTC_S, ActuationRequest, DriverSettings, EgoState, HmiState, LaneInfo, Lead,
                        LkaState, Threat, TrackedObject)
from edgepilot.carparams import DEFAULT_CAR, CarParams


def path_curvature(ego: EgoState, lanes: LaneInfo | None, cfg: AdasConfig) -> float:
    """The ego follows the lane if there is one, else its current yaw rate (ignored when nearly stopped)."""
    if lanes is not None and lanes.valid:
        return lanes.curvature_1pm
    if math.isfinite(ego.yaw_rate_rps) and ego.speed_mps > cfg.path_min_speed_for_yaw_mps:
        return clip(ego.yaw_rate_rps / ego.speed_mps, -0.2, 0.2)
    return 0.0


def select_lead(threats: Sequence[Threat], objects: dict[int, TrackedObject],
                accels: dict[int, float]) -> Lead | None:
    """Closest in-path object (already-present leads and predicted cut-ins / crossers alike)."""
    best: Threat | None = None
    for th in threats:
        if th.in_path and (best is None or th.gap_m < best.gap_m):
            best = th
    if best is None:
        return None
    obj = objects[best.id]
    ttc = best.gap_m / best.closing_speed_mps if best.closing_speed_mps > 0.1 and best.gap_m > 0 else NO_TTC_S
    return Lead(id=best.id, gap_m=best.gap_m, speed_mps=obj.vx_mps, accel_mps2=accels.get(best.id, 0.0),
                ttc_s=min(ttc, NO_TTC_S))


@dataclass
class _Track:
    t: float
    vx: float
    accel: float


class AdasPlanner:
    def __init__(self, config: AdasConfig | None = None, car_params: CarParams = DEFAULT_CAR):
        self.cfg = config or AdasConfig()
        self.cp = car_params
        self.acc = Acc(self.cfg)
        self.aeb = Aeb(self.cfg)
        self.lka = Lka(self.cfg, car_params)
        self._t: float | None = None
        self._tracks: dict[int, _Track] = {}
        self._started = False
        self._acc_cancelled = False
        self._lka_cancelled = False
        self._acc_was_active = False
        self._aeb_was_active = False
        self.last_threats: list[Threat] = []
        self.last_lead: Lead | None = None
        self.last_aeb = AebOutput()

    def _estimate_accels(self, t: float, objects: Sequence[TrackedObject]) -> dict[int, float]:
        """Object longitudinal accel: from the tracker if given, else a low-passed derivative of vx per id."""
        out: dict[int, float] = {}
        tracks: dict[int, _Track] = {}
        for o in objects:
            prev = self._tracks.get(o.id)
            if o.ax_mps2 is not None:
                a = o.ax_mps2
            elif prev is not None and t > prev.t:
                dt = t - prev.t
                raw = (o.vx_mps - prev.vx) / dt
                alpha = dt / (self.cfg.object_accel_filter_tau_s + dt)
                a = prev.accel + alpha * (raw - prev.accel)
            else:
                a = prev.accel if prev is not None else 0.0
            tracks[o.id] = _Track(t, o.vx_mps, a)
            out[o.id] = a
        self._tracks = tracks
        return out

    def engage(self, accel_mps2: float, steering_wheel_angle_deg: float, acc_running: bool) -> None:
        """Take over a car that another driver controls now, as if ACC and LKA had been switched on in this state:
        the ACC's jerk-limited output starts from the acceleration the car is being asked for, the LKA from where
        the wheel is with no integral. `acc_running`: the ACC counts as already on (no re-engagement edge on the
        next update). Why: a planner that only shadowed another driver (the e2e step runs it on the ground truth
        for its AEB) has an LKA integral wound up on an offset it never corrected and an angle that is not the
        wheel's; DAgger's expert rollout (perception/data/expert.py) engages a copy of it this way."""
        self.acc.reset(accel_mps2)
        self.lka.integral = 0.0
        self.lka.angle_deg = steering_wheel_angle_deg
        self._acc_was_active = bool(acc_running)

    def notify_disengaged(self) -> None:
        """The safety envelope took control away (driver override, stale input): stay off until the driver
        re-engages by switching ACC/LKA off and on, so the HMI never shows a function that is not acting."""
        self._acc_cancelled = True
        self._lka_cancelled = True

    def update(self, t: float, ego: EgoState, objects: Sequence[TrackedObject], lanes: LaneInfo | None,
               settings: DriverSettings) -> tuple[ActuationRequest, HmiState]:
        c = self.cfg
        dt = c.dt_s if self._t is None or not (t > self._t) else min(t - self._t, 0.2)
        self._t = t
        set_kph = clip(settings.set_speed_kph, 0.0, c.acc_max_set_speed_kph) \
            if math.isfinite(settings.set_speed_kph) else 0.0
        ego_ok = all(math.isfinite(v) for v in (ego.speed_mps, ego.accel_long_mps2, ego.yaw_rate_rps,
                                                 ego.steering_wheel_angle_deg, ego.driver_steering_torque_nm,
                                                 ego.accelerator_pedal_pct))
        if not ego_ok:
            # No trustworthy ego state: ask for nothing; the safety envelope treats the input as stale.
            self.aeb.reset()
            self._acc_was_active = False
            lka_state = LkaState.FAULT if settings.lka_enabled else LkaState.OFF
            return ActuationRequest(), HmiState(acc_set_speed_kph=set_kph, lka_state=lka_state)

        valid = [o for o in objects if o.is_finite() and o.confidence >= c.object_min_confidence]
        accels = self._estimate_accels(t, valid)
        curv = path_curvature(ego, lanes, c)
        threats = [assess_object(o, ego.speed_mps, curv, self.cp.length_m, self.cp.width_m, accels[o.id], c)
                   for o in valid]
        lead = select_lead(threats, {o.id: o for o in valid}, accels)

        # ACC engagement: a brake press cancels until the driver switches ACC off and on again.
        if not settings.acc_enabled:
            self._acc_cancelled = False
        elif ego.brake_pressed:
            self._acc_cancelled = True
        acc_active = settings.acc_enabled and not self._acc_cancelled
        if acc_active and not self._acc_was_active:
            self.acc.reset(ego.accel_long_mps2)

        aeb = self.aeb.update(t, ego, threats, settings.aeb_enabled)
        if self._aeb_was_active and not aeb.active:
            self.acc.reset(min(ego.accel_long_mps2, 0.0))

        accel = self.acc.update(dt, ego.speed_mps, set_kph / 3.6, lead) if acc_active else 0.0
        if not settings.lka_enabled:
            self._lka_cancelled = False
        lka_state, steer = self.lka.update(dt, ego, lanes, settings.lka_enabled and not self._lka_cancelled)
        lka_active = lka_state == LkaState.ACTIVE
        if aeb.active:
            accel = min(accel, -aeb.decel_mps2)

        self._acc_was_active, self._aeb_was_active = acc_active, aeb.active
        self.last_threats, self.last_lead, self.last_aeb = threats, lead, aeb
        # The envelope only engages on a rising edge and never on its first frame: the very first cycle
        # after start-up therefore asks for no control, and engagement follows one cycle later.
        first_cycle = not self._started
        self._started = True
        req = ActuationRequest(controls_active=(acc_active or lka_active) and not first_cycle, accel_mps2=accel,
                               steering_wheel_angle_deg=steer, aeb_active=aeb.active,
                               aeb_decel_mps2=aeb.decel_mps2 if aeb.active else 0.0)
        hmi = HmiState(acc_set_speed_kph=set_kph, acc_active=acc_active, lead_detected=lead is not None,
                       lead_distance_m=lead.gap_m if lead else 0.0,
                       lead_ttc_s=lead.ttc_s if lead else NO_TTC_S,
                       fcw=aeb.fcw, aeb_active=aeb.active, lka_state=lka_state)
        return req, hmi
