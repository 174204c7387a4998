"""Driver models (Euro NCAP style robot, idle) and the driver/ADAS/AEB arbitration.

The robot only drives the axes the ADAS is not controlling: when the last ``EgoCommand`` had
``controls_active`` with a longitudinal (lateral) request, the robot's feet (hands) are off, so any
pedal (torque) seen on the CAN bus while engaged is a genuine, scripted override event.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgepilot.carparams import CarParams

from .dynamics import EgoCommand, resistance_accel

#: Driver inputs above these count as an override of the ADAS.
ACCEL_OVERRIDE_PCT = 5.0
BRAKE_OVERRIDE_PCT = 2.0
STEER_OVERRIDE_NM = 1.0
#: The accelerator pressed beyond this ("kick-down") cancels an AEB intervention.
AEB_KICKDOWN_PCT = 80.0
#: Steering wheel angle the driver adds per Nm of scripted torque (hands on a ~3 Nm/10 deg column).
TORQUE_TO_ANGLE_DEG_PER_NM = 3.0
#: A robot whose scenario switches an ADAS function on keeps off that axis this long (or until the
#: ADAS engages), so that its own pedal/steering does not look like a driver override at engagement.
ENGAGE_GRACE_S = 1.0


@dataclass
class DriverEvent:
    """A scripted driver input held for ``duration_s`` once its trigger first holds."""

    trigger_kind: str      # "time_s" | "ego_s_m"
    trigger_value: float
    duration_s: float
    steering_torque_nm: float = 0.0
    brake_pct: float = 0.0
    accelerator_pct: float = 0.0


@dataclass
class DriverInput:
    """What the driver does this step (pedals in %, torque in Nm, intended steering wheel angle)."""

    accelerator_pct: float = 0.0
    brake_pct: float = 0.0
    steering_torque_nm: float = 0.0
    steering_wheel_angle_deg: float = 0.0
    event_active: bool = False


@dataclass
class Arbitration:
    """Result of :func:`arbitrate`: what the plant gets and who decided it."""

    accel_mps2: float
    steering_wheel_angle_deg: float
    long_source: str  # "adas" | "driver" | "aeb"
    lat_source: str   # "adas" | "driver"
    driver_long_override: bool
    driver_lat_override: bool


def pedals_to_accel(accelerator_pct: float, brake_pct: float, car: CarParams) -> float:
    """Driver pedals -> desired acceleration: linear maps to the car limits; brake beats throttle."""
    a = accelerator_pct / 100.0 * car.max_accel_mps2 - brake_pct / 100.0 * car.max_decel_mps2
    return a


def accel_to_pedals(accel_mps2: float, car: CarParams) -> tuple[float, float]:
    """Inverse of :func:`pedals_to_accel` (one pedal at a time), clipped to 0..100 %."""
    if accel_mps2 >= 0.0:
        return min(100.0, accel_mps2 / car.max_accel_mps2 * 100.0), 0.0
    return 0.0, min(100.0, -accel_mps2 / car.max_decel_mps2 * 100.0)


def arbitrate(cmd: EgoCommand | None, drv: DriverInput, car: CarParams) -> Arbitration:
    """Decide who drives each axis this step.

    Longitudinal:
      1. ADAS (``cmd.accel_mps2``) if ``cmd.controls_active`` and the accel request is not None and
         the driver is not overriding (accelerator > ACCEL_OVERRIDE_PCT or brake > BRAKE_OVERRIDE_PCT);
      2. otherwise the driver's pedals.
      3. An active AEB request (``cmd.aeb_active``) then caps the result at ``-aeb_decel_mps2``
         (the stronger deceleration wins, so a harder driver brake still counts) unless the
         accelerator is pressed beyond AEB_KICKDOWN_PCT (driver override of AEB).
    Lateral: ADAS steering if ``controls_active``, the request is not None and the driver torque is
    below STEER_OVERRIDE_NM; otherwise the driver's steering wheel angle.
    """
    long_ovr = drv.accelerator_pct > ACCEL_OVERRIDE_PCT or drv.brake_pct > BRAKE_OVERRIDE_PCT
    lat_ovr = abs(drv.steering_torque_nm) > STEER_OVERRIDE_NM
    active = cmd is not None and cmd.controls_active
    if active and cmd.accel_mps2 is not None and not long_ovr:
        accel, long_src = float(cmd.accel_mps2), "adas"
    else:
        accel, long_src = pedals_to_accel(drv.accelerator_pct, drv.brake_pct, car), "driver"
    if cmd is not None and cmd.aeb_active and drv.accelerator_pct <= AEB_KICKDOWN_PCT:
        a_aeb = -abs(float(cmd.aeb_decel_mps2))
        if a_aeb < accel:
            accel, long_src = a_aeb, "aeb"
    if active and cmd.steering_wheel_angle_deg is not None and not lat_ovr:
        swa, lat_src = float(cmd.steering_wheel_angle_deg), "adas"
    else:
        swa, lat_src = drv.steering_wheel_angle_deg, "driver"
    return Arbitration(accel, swa, long_src, lat_src, long_ovr, lat_ovr)


class Driver:
    """Base driver: scripted events on top of a model-specific baseline."""

    model = "idle"

    def __init__(self, car: CarParams, events: list[DriverEvent] | None = None) -> None:
        self.car = car
        self.events = list(events or [])
        self._event_start: list[float | None] = [None] * len(self.events)
        self._event_swa0: list[float] = [0.0] * len(self.events)
        self.last = DriverInput()

    def _baseline(self, t, dt, ego, road, ego_s, ego_d, lane_d, cmd, aeb_active) -> DriverInput:
        return DriverInput()

    def update(self, t: float, dt: float, ego, road, ego_s: float, ego_d: float, lane_d: float,
               cmd: EgoCommand | None) -> DriverInput:
        """Driver inputs for this step given the ego state (``ego``: EgoState) and the last command.

        ``ego_s`` is the station of the ego box centre (used by ``ego_s_m`` event triggers).
        """
        aeb_active = cmd is not None and cmd.aeb_active
        out = self._baseline(t, dt, ego, road, ego_s, ego_d, lane_d, cmd, aeb_active)
        for i, ev in enumerate(self.events):
            if self._event_start[i] is None:
                value = t if ev.trigger_kind == "time_s" else ego_s
                if value >= ev.trigger_value - 1e-9:
                    self._event_start[i] = t
                    self._event_swa0[i] = ego.steering_wheel_angle_deg
            start = self._event_start[i]
            if start is not None and t < start + ev.duration_s - 1e-9:
                out.event_active = True
                if ev.accelerator_pct or ev.brake_pct:
                    out.accelerator_pct, out.brake_pct = ev.accelerator_pct, ev.brake_pct
                if ev.steering_torque_nm:
                    out.steering_torque_nm = ev.steering_torque_nm
                    out.steering_wheel_angle_deg = (self._event_swa0[i]
                                                    + TORQUE_TO_ANGLE_DEG_PER_NM * ev.steering_torque_nm)
        self.last = out
        return out


class IdleDriver(Driver):
    """Hands and feet off: coasts, steering wheel left to self-centre (0 deg)."""

    model = "idle"


class RobotDriver(Driver):
    """Euro NCAP-style robot: PI speed hold at the start speed and Stanley lane centre tracking.

    It releases the accelerator while AEB is braking (as the NCAP robot does) and freezes its
    integrator whenever it is not the one driving an axis (anti-windup, bumpless hand-back).
    """

    model = "robot"
    KP = 0.8
    KI = 0.25

    def __init__(self, car: CarParams, target_speed_mps: float, events: list[DriverEvent] | None = None,
                 adas_long_expected: bool = False, adas_lat_expected: bool = False) -> None:
        super().__init__(car, events)
        self.target_speed = target_speed_mps
        self._integ = 0.0
        # Before the first command arrives, stay off the axes the ADAS is expected to drive.
        self._expect_long = adas_long_expected
        self._expect_lat = adas_lat_expected
        self._seen_active = False

    def _baseline(self, t, dt, ego, road, ego_s, ego_d, lane_d, cmd, aeb_active) -> DriverInput:
        car = self.car
        if cmd is not None and cmd.controls_active:
            self._seen_active = True
            adas_long = cmd.accel_mps2 is not None
            adas_lat = cmd.steering_wheel_angle_deg is not None
        else:
            # Give a scenario's ADAS ENGAGE_GRACE_S to engage before the robot takes the axes itself.
            waiting = not self._seen_active and t < ENGAGE_GRACE_S
            adas_long, adas_lat = waiting and self._expect_long, waiting and self._expect_lat
        out = DriverInput()
        if not adas_long and not aeb_active:
            err = self.target_speed - ego.vx
            a = self.KP * err + self._integ + resistance_accel(ego.vx, car)
            a_sat = min(max(a, -car.max_decel_mps2), car.max_accel_mps2)
            if a == a_sat:
                self._integ += self.KI * err * dt
            out.accelerator_pct, out.brake_pct = accel_to_pedals(a_sat, car)
        if not adas_lat:
            out.steering_wheel_angle_deg = lane_tracking_swa(ego, road, lane_d, car)
        else:
            out.steering_wheel_angle_deg = ego.steering_wheel_angle_deg
        return out


def understeer_gradient(car: CarParams) -> float:
    """Steady-state understeer gradient (rad per m/s^2) of the linear single-track model."""
    a, b = car.cg_to_front_m, car.cg_to_rear_m
    return car.mass_kg / car.wheelbase_m * (b / car.cornering_stiffness_front_npr - a / car.cornering_stiffness_rear_npr)


def lane_tracking_swa(ego, road, lane_d: float, car: CarParams, gain: float = 1.5) -> float:
    """Steering wheel angle (deg) for the robot's lane tracking (Stanley law at the front axle).

    Curvature feed-forward (geometric + understeer) keeps curves centred at any speed, where a plain
    pure pursuit would cut the corner by metres; heading and cross-track terms remove the rest.
    """
    fx = ego.x + car.wheelbase_m * math.cos(ego.yaw)
    fy = ego.y + car.wheelbase_m * math.sin(ego.yaw)
    s_f, d_f = road.project(fx, fy)
    kappa = road.curvature(s_f, lane_d)
    v = max(ego.vx, 0.0)
    ff = math.atan(car.wheelbase_m * kappa) + understeer_gradient(car) * v * v * kappa
    heading_err = (road.heading(s_f) - ego.yaw + math.pi) % (2 * math.pi) - math.pi
    delta = ff + heading_err + math.atan(gain * (lane_d - d_f) / (v + 2.0))
    return math.degrees(delta) * car.steer_ratio


def make_driver(model: str, car: CarParams, target_speed_mps: float, events: list[DriverEvent] | None = None,
                adas_long_expected: bool = False, adas_lat_expected: bool = False) -> Driver:
    if model == "robot":
        return RobotDriver(car, target_speed_mps, events, adas_long_expected, adas_lat_expected)
    if model == "idle":
        return IdleDriver(car, events)
    raise ValueError(f"unknown driver model {model!r}")
