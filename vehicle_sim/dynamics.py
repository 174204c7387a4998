"""Ego vehicle plant: dynamic bicycle model blended into a kinematic one at low speed.

Why the blend: the linear-tyre dynamic model divides by the forward speed and becomes stiff near
standstill, while the kinematic model is exact there (no tyre slip at parking speeds). Between
``V_KIN`` and ``V_DYN`` the lateral states are a linear mix of both, so the model is stable from 0 to
40+ m/s without switching transients.

Longitudinal: the command is a desired *tractive/brake* acceleration (what the powertrain/brakes
produce after the first-order actuator lag). Rolling resistance and aerodynamic drag are subtracted
on top, so a 0 request at speed slowly coasts down unless the controller compensates (as a real
car's longitudinal controller has to). The car never reverses: braking holds it at standstill.

Reference point: ``EgoState.x, y`` is the centre of the rear axle on the ground; ``vx, vy`` are the
body-frame velocities of the centre of gravity (vx is the same at the rear axle).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from edgepilot.carparams import DEFAULT_CAR, CarParams

G = 9.81
AIR_DENSITY = 1.2
V_KIN = 3.0   # below: purely kinematic lateral model
V_DYN = 6.0   # above: purely dynamic
MAX_SUBSTEP_S = 0.01


@dataclass
class EgoCommand:
    """What the ADAS stack asks of the car over CAN (applied by the ECU code of the integration).

    ``accel_mps2`` / ``steering_wheel_angle_deg`` may be ``None`` while ``controls_active``: that
    axis is then not controlled (e.g. LKA on without ACC leaves longitudinal to the driver).
    ``aeb_decel_mps2`` is a positive deceleration magnitude.
    """

    accel_mps2: float | None = 0.0
    steering_wheel_angle_deg: float | None = 0.0
    controls_active: bool = False
    aeb_active: bool = False
    aeb_decel_mps2: float = 0.0


@dataclass
class EgoState:
    """Observable state of the ego (see module docstring for the reference point)."""

    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    yaw_rate: float = 0.0
    ax: float = 0.0               # measured longitudinal acceleration (body frame, accelerometer)
    ay: float = 0.0               # measured lateral acceleration
    accel_actuator_mps2: float = 0.0   # lagged powertrain/brake acceleration (before resistances)
    steering_wheel_angle_deg: float = 0.0
    steering_wheel_rate_dps: float = 0.0
    wheel_speeds_mps: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # FL, FR, RL, RR
    accelerator_pct: float = 0.0  # driver pedals as last applied
    brake_pct: float = 0.0

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)


def resistance_accel(vx: float, car: CarParams) -> float:
    """Deceleration (m/s^2, >= 0) from rolling resistance and aero drag at forward speed ``vx``."""
    roll = car.rolling_resistance * G * min(1.0, max(vx, 0.0) / 0.1)
    aero = 0.5 * AIR_DENSITY * car.drag_coefficient * car.frontal_area_m2 * vx * vx / car.mass_kg
    return roll + aero


def kinematic_lateral(vx: float, delta: float, car: CarParams) -> tuple[float, float]:
    """(vy at CG, yaw rate) of a no-slip bicycle at forward speed ``vx`` and road wheel angle ``delta``."""
    t = math.tan(delta)
    return vx * car.cg_to_rear_m * t / car.wheelbase_m, vx * t / car.wheelbase_m


def dynamic_lateral_derivs(vx: float, vy: float, r: float, delta: float, car: CarParams) -> tuple[float, float]:
    """(vy_dot, r_dot) of the linear-tyre single-track model; vx is floored at V_KIN."""
    u = max(vx, V_KIN)
    a, b = car.cg_to_front_m, car.cg_to_rear_m
    alpha_f = delta - (vy + a * r) / u
    alpha_r = -(vy - b * r) / u
    fyf = car.cornering_stiffness_front_npr * alpha_f
    fyr = car.cornering_stiffness_rear_npr * alpha_r
    vy_dot = (fyf * math.cos(delta) + fyr) / car.mass_kg - u * r
    r_dot = (a * fyf * math.cos(delta) - b * fyr) / car.yaw_inertia_kgm2
    return vy_dot, r_dot


class EgoVehicle:
    """Integrates the ego with a fixed step (Heun/RK2, sub-stepped to <= 10 ms)."""

    def __init__(self, car: CarParams = DEFAULT_CAR, x: float = 0.0, y: float = 0.0, yaw: float = 0.0,
                 speed: float = 0.0) -> None:
        self.car = car
        self.state = EgoState(x=x, y=y, yaw=yaw, vx=max(0.0, speed))
        self.state.wheel_speeds_mps = wheel_speeds(self.state, car)

    def step(self, accel_request_mps2: float, steering_wheel_request_deg: float, dt: float,
             accelerator_pct: float = 0.0, brake_pct: float = 0.0) -> EgoState:
        n = max(1, int(math.ceil(dt / MAX_SUBSTEP_S - 1e-9)))
        h = dt / n
        st = self.state
        vx0, vy0 = st.vx, st.vy
        for _ in range(n):
            self._substep(accel_request_mps2, steering_wheel_request_deg, h)
        st = self.state
        vx_dot = (st.vx - vx0) / dt
        vy_dot = (st.vy - vy0) / dt
        st.ax = vx_dot - st.vy * st.yaw_rate
        st.ay = vy_dot + st.vx * st.yaw_rate
        st.accelerator_pct, st.brake_pct = accelerator_pct, brake_pct
        st.wheel_speeds_mps = wheel_speeds(st, self.car)
        return st

    def _substep(self, accel_req: float, swa_req: float, h: float) -> None:
        car, st = self.car, self.state
        # Actuators: exact first-order lag (stable for any h), steering also slew-limited.
        a_cmd = min(max(accel_req, -car.max_decel_mps2), car.max_accel_mps2)
        st.accel_actuator_mps2 += (a_cmd - st.accel_actuator_mps2) * (1.0 - math.exp(-h / car.accel_actuator_tau_s))
        swa_lim = car.max_steering_wheel_angle_deg
        target = min(max(swa_req, -swa_lim), swa_lim)
        dswa = (target - st.steering_wheel_angle_deg) * (1.0 - math.exp(-h / car.steer_actuator_tau_s))
        max_d = car.max_steering_wheel_rate_dps * h
        dswa = min(max(dswa, -max_d), max_d)
        st.steering_wheel_angle_deg += dswa
        st.steering_wheel_rate_dps = dswa / h
        delta = math.radians(st.steering_wheel_angle_deg) / car.steer_ratio

        def derivs(vx: float, vy: float, r: float, yaw: float):
            # vy*r coupling only where the dynamic model is in charge (kinematic: no side slip)
            w = min(max((vx - V_KIN) / (V_DYN - V_KIN), 0.0), 1.0)
            a_long = st.accel_actuator_mps2 - resistance_accel(vx, car) + w * vy * r
            if vx <= 1e-6 and a_long <= 0.0:
                a_long = 0.0  # held at standstill by brakes / static friction
            vy_dot, r_dot = dynamic_lateral_derivs(vx, vy, r, delta, car)
            b = car.cg_to_rear_m
            vyr = vy - b * r  # lateral velocity of the rear axle
            c, s = math.cos(yaw), math.sin(yaw)
            return a_long, vy_dot, r_dot, vx * c - vyr * s, vx * s + vyr * c, r

        vx, vy, r, x, y, yaw = st.vx, st.vy, st.yaw_rate, st.x, st.y, st.yaw
        k1 = derivs(vx, vy, r, yaw)
        vx1 = max(0.0, vx + h * k1[0])
        k2 = derivs(vx1, vy + h * k1[1], r + h * k1[2], yaw + h * k1[5])
        vx_new = vx + 0.5 * h * (k1[0] + k2[0])
        vy_dyn = vy + 0.5 * h * (k1[1] + k2[1])
        r_dyn = r + 0.5 * h * (k1[2] + k2[2])
        x_new = x + 0.5 * h * (k1[3] + k2[3])
        y_new = y + 0.5 * h * (k1[4] + k2[4])
        yaw_new = yaw + 0.5 * h * (k1[5] + k2[5])
        if vx_new < 0.0:  # brakes stop the wheels, they do not drive backwards
            vx_new = 0.0
        w = min(max((vx_new - V_KIN) / (V_DYN - V_KIN), 0.0), 1.0)
        vy_k, r_k = kinematic_lateral(vx_new, delta, car)
        st.vx = vx_new
        st.vy = w * vy_dyn + (1.0 - w) * vy_k
        st.yaw_rate = w * r_dyn + (1.0 - w) * r_k
        st.x, st.y = x_new, y_new
        st.yaw = (yaw_new + math.pi) % (2 * math.pi) - math.pi


def wheel_speeds(st: EgoState, car: CarParams) -> tuple[float, float, float, float]:
    """Wheel circumferential speeds (m/s) FL, FR, RL, RR from rigid-body kinematics."""
    delta = math.radians(st.steering_wheel_angle_deg) / car.steer_ratio
    a, b, half = car.cg_to_front_m, car.cg_to_rear_m, car.track_width_m / 2
    r = st.yaw_rate
    out = []
    for xw, yw, steer in ((a, half, True), (a, -half, True), (-b, half, False), (-b, -half, False)):
        vxw = st.vx - r * yw
        vyw = st.vy + r * xw
        if steer:
            vxw = vxw * math.cos(delta) + vyw * math.sin(delta)
        out.append(max(0.0, vxw))
    return tuple(out)  # type: ignore[return-value]
