"""Safety envelope between the planner and the CAN bus (panda-safety / vehicle_cmd_gate style).

Every output is bounded no matter what comes in: accel range (ACC range unless AEB), jerk, steering wheel
angle (absolute and lateral-acceleration based) and steering rate (lateral-jerk based). Rules:

* Brake or steering-torque override -> controls disengage (controls_allowed false) until the planner sends a
  rising edge of controls_active after the override has ended.
* Accelerator pressed -> longitudinal override: the driver drives longitudinally, the output accel is 0
  (no throttle, no braking), lateral control stays. AEB still passes unless the pedal is past the kick-down
  threshold (aeb_cancel_accelerator_pct).
* AEB (aeb_active) may reach -aeb_max_decel with the larger AEB jerk, even when controls are not allowed
  (output controls_active false, aeb_active true): it is independent of the driver's engagement.
* Stale or invalid inputs (command older than cmd_timeout, vehicle state invalid/old, any NaN/inf) are
  never forwarded. If controls were engaged, a controlled stop follows: -stop_decel reached at the ACC jerk,
  steering held at the measured angle (rate limited), output controls_active true, controls_allowed false.
  AEB interrupted by stale inputs also ends in this controlled stop. It lasts until the driver overrides or the planner re-engages with a rising edge; at standstill it holds.
* Only releases (accel moving toward 0: disengage, accelerator override, end of AEB back into the ACC range)
  may change faster than the jerk limit; never an increase of braking or throttle.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from adas.types import ActuationRequest
from edgepilot.carparams import DEFAULT_CAR, CarParams
from safety.config import SafetyLimits

LIMIT_ACCEL = 1
LIMIT_JERK = 2
LIMIT_STEER_ANGLE = 4
LIMIT_STEER_RATE = 8
LIMIT_AEB = 16


@dataclass(frozen=True)
class VehicleSnapshot:
    """The VehicleState fields the envelope needs (same names); stamp_s optional (None: trust can_valid)."""
    speed_mps: float
    steering_wheel_angle_deg: float = 0.0
    driver_steering_torque_nm: float = 0.0
    brake_pressed: bool = False
    brake_pedal_pct: float = 0.0
    accelerator_pedal_pct: float = 0.0
    can_valid: bool = True
    stamp_s: float | None = None


@dataclass(frozen=True)
class SafetyStatus:
    """SafetyStatus.msg, field for field."""
    controls_allowed: bool = False
    stale_input: bool = False
    driver_override: bool = False
    limits_applied: int = 0
    commands_bounded: int = 0
    reason: str = ""


def clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _finite(*vals: Any) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in vals)
    except (TypeError, ValueError):
        return False


def steer_angle_limit_deg(speed: float, limits: SafetyLimits, cp: CarParams) -> float:
    """Largest steering wheel angle whose steady-state lateral acceleration stays under lat_accel_max.

    Steady state of the car's own bicycle model, understeer included (as openpilot's VehicleModel does): a
    purely geometric atan(L * a / v^2) would cap the real lateral acceleration far lower (1.8 instead of 3 m/s^2
    at 90 km/h, 1.2 at 130 km/h for the default car) and make highway curves impossible to follow."""
    v = clip(abs(speed), limits.limit_speed_floor_mps, 1e3)
    road_wheel = cp.steady_state_road_wheel_rad(limits.lat_accel_max_mps2 / v ** 2, v)
    return min(math.degrees(road_wheel) * cp.steer_ratio, limits.steer_angle_max_deg, cp.max_steering_wheel_angle_deg)


def steer_rate_limit_dps(speed: float, limits: SafetyLimits, cp: CarParams) -> float:
    """Steering wheel rate whose curvature rate keeps lateral jerk under lat_jerk_max: d(delta)/dt <=
    (L / v^2 + K_us) * jerk (the steady-state model above, differentiated; d atan <= d)."""
    v = clip(abs(speed), limits.limit_speed_floor_mps, 1e3)
    per_jerk = max(cp.wheelbase_m / v ** 2 + cp.understeer_gradient, 0.0)
    rate = math.degrees(per_jerk * limits.lat_jerk_max_mps3) * cp.steer_ratio
    hi = min(limits.steer_rate_max_dps, cp.max_steering_wheel_rate_dps)
    return clip(rate, min(limits.steer_rate_min_dps, hi), hi)


class SafetyEnvelope:
    def __init__(self, limits: SafetyLimits | None = None, car_params: CarParams = DEFAULT_CAR):
        self.limits = limits or SafetyLimits()
        self.cp = car_params
        self.controls_allowed = False
        self.fallback_stop = False
        self.commands_bounded = 0
        self._t: float | None = None
        self._prev_cmd_active = True      # unknown history: the first frame is never a rising edge
        self._out = ActuationRequest()

    @property
    def last_output(self) -> ActuationRequest:
        """The bounded command of the last step (what the ECUs were last sent; inactive before the first)."""
        return self._out

    # ---- input checks -------------------------------------------------------------------------
    def _vehicle_ok(self, t: float, v: VehicleSnapshot) -> bool:
        if not (bool(v.can_valid) and _finite(v.speed_mps, v.steering_wheel_angle_deg,
                                                 v.driver_steering_torque_nm, v.brake_pedal_pct,
                                                 v.accelerator_pedal_pct)):
            return False
        if abs(v.speed_mps) > self.limits.unknown_speed_mps:
            return False                        # implausible speed: do not derive limits from it
        if v.stamp_s is not None:
            return _finite(v.stamp_s) and abs(t - v.stamp_s) <= self.limits.vehicle_timeout_s
        return True

    def _cmd_ok(self, t: float, cmd: Any, cmd_time: float | None) -> bool:
        if cmd is None or cmd_time is None or not _finite(cmd_time) or abs(t - cmd_time) > self.limits.cmd_timeout_s:
            return False
        return _finite(cmd.accel_mps2, cmd.steering_wheel_angle_deg, cmd.aeb_decel_mps2)

    # ---- main step ----------------------------------------------------------------------------
    def step(self, t: float, cmd: Any, vehicle: VehicleSnapshot, cmd_time: float | None
             ) -> tuple[ActuationRequest, SafetyStatus]:
        L = self.limits
        t_ok = _finite(t)
        dt = 0.0
        if t_ok and self._t is not None:
            dt = clip(t - self._t, 0.0, L.max_dt_s)
        if t_ok and (self._t is None or t > self._t):
            self._t = t

        veh_ok = t_ok and self._vehicle_ok(t, vehicle)
        cmd_ok = t_ok and self._cmd_ok(t, cmd, cmd_time)
        stale = not (veh_ok and cmd_ok)
        speed = abs(vehicle.speed_mps) if veh_ok else L.unknown_speed_mps
        measured = vehicle.steering_wheel_angle_deg if veh_ok else self._out.steering_wheel_angle_deg

        steer_ovr = veh_ok and abs(vehicle.driver_steering_torque_nm) > L.driver_torque_override_nm
        brake_ovr = veh_ok and (bool(vehicle.brake_pressed) or vehicle.brake_pedal_pct > L.brake_pedal_override_pct)
        gas_ovr = veh_ok and vehicle.accelerator_pedal_pct > L.accelerator_override_pct
        kickdown = veh_ok and vehicle.accelerator_pedal_pct >= L.aeb_cancel_accelerator_pct
        driver_override = steer_ovr or brake_ovr or gas_ovr

        cmd_active = bool(cmd is not None and bool(getattr(cmd, "controls_active", False)))
        rising = cmd_active and not self._prev_cmd_active
        if cmd is not None:
            self._prev_cmd_active = cmd_active

        reason = ""
        # ---- engagement state machine
        if steer_ovr or brake_ovr:
            self.controls_allowed, self.fallback_stop = False, False
            reason = "driver steering override" if steer_ovr else "driver brake override"
        elif stale:
            if self.controls_allowed or self._out.aeb_active:
                self.fallback_stop = True
            self.controls_allowed = False
            if self.fallback_stop and gas_ovr:
                self.fallback_stop = False      # the driver drives off: he has taken over
            reason = "stale command" if veh_ok else "vehicle state invalid or stale"
        elif not cmd_active:
            self.controls_allowed, self.fallback_stop = False, False
            reason = "not engaged"
        elif rising:
            self.controls_allowed, self.fallback_stop = True, False
        elif self.fallback_stop and gas_ovr:
            self.fallback_stop = False
        if not self.controls_allowed and not reason:
            reason = "controlled stop, re-engage required" if self.fallback_stop else "re-engage required"

        aeb_req = (not stale and bool(cmd.aeb_active) and not kickdown)
        bits = 0
        prev = self._out

        # ---- longitudinal
        long_active, aeb_out = True, False
        if self.fallback_stop:
            target, lo = -L.stop_decel_mps2, L.accel_min_mps2
            reason = reason or "controlled stop"
        elif aeb_req:
            aeb_out = True
            raw_decel = cmd.aeb_decel_mps2
            decel = clip(raw_decel, 0.0, L.aeb_max_decel_mps2)
            accel = clip(cmd.accel_mps2, -L.aeb_max_decel_mps2, L.accel_max_mps2) \
                if self.controls_allowed and not gas_ovr else 0.0
            target, lo = min(accel, -decel), -L.aeb_max_decel_mps2
            if decel != raw_decel or (self.controls_allowed and not gas_ovr and accel != cmd.accel_mps2):
                bits |= LIMIT_AEB
        elif self.controls_allowed:
            target = clip(cmd.accel_mps2, L.accel_min_mps2, L.accel_max_mps2)
            if target != cmd.accel_mps2:
                bits |= LIMIT_ACCEL
            if gas_ovr:
                target = 0.0
            lo = L.accel_min_mps2
        else:
            long_active, target, lo = False, 0.0, L.accel_min_mps2

        if long_active and not (gas_ovr and self.controls_allowed and not aeb_out):
            jerk = L.aeb_jerk_max_mps3 if (aeb_out or prev.aeb_active) else L.jerk_max_mps3
            step = jerk * dt
            accel = clip(target, prev.accel_mps2 - step, prev.accel_mps2 + step)
            if accel != target:
                bits |= LIMIT_JERK
            accel = clip(accel, lo, L.accel_max_mps2)      # leaving AEB: release into the ACC range
        else:
            accel = target                                 # release to 0 (override / not engaged)

        # ---- lateral
        lat_active = self.controls_allowed or self.fallback_stop
        if lat_active:
            want = measured if self.fallback_stop else cmd.steering_wheel_angle_deg
            lim = steer_angle_limit_deg(speed, L, self.cp)
            target_angle = clip(want, -lim, lim)
            if target_angle != want and not self.fallback_stop:
                bits |= LIMIT_STEER_ANGLE
            step = steer_rate_limit_dps(speed, L, self.cp) * dt
            angle = clip(target_angle, prev.steering_wheel_angle_deg - step, prev.steering_wheel_angle_deg + step)
            if angle != target_angle:
                bits |= LIMIT_STEER_RATE
            angle = clip(angle, -lim, lim)                 # the angle bound wins over the rate bound
        else:
            angle = measured

        out = ActuationRequest(controls_active=lat_active or (long_active and not aeb_out),
                               accel_mps2=float(accel), steering_wheel_angle_deg=float(angle),
                               aeb_active=aeb_out, aeb_decel_mps2=float(max(-accel, 0.0)) if aeb_out else 0.0)
        self._out = out
        if bits:
            self.commands_bounded += 1
        if not reason and gas_ovr:
            reason = "accelerator override"
        status = SafetyStatus(controls_allowed=self.controls_allowed, stale_input=stale,
                              driver_override=driver_override, limits_applied=bits,
                              commands_bounded=self.commands_bounded, reason=reason)
        return out, status
