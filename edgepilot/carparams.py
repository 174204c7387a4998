"""Parameters of the (simulated) vehicle shared by the simulator, the ADAS and the safety envelope.

One place for them, like openpilot's CarParams: the controller and the plant must agree on the wheelbase
and the steering ratio, and the safety limits are stated in the same units the DBC uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CarParams:
    mass_kg: float = 1600.0
    wheelbase_m: float = 2.8
    cg_to_front_m: float = 1.25          # centre of gravity to the front axle
    length_m: float = 4.7
    width_m: float = 1.85
    height_m: float = 1.5
    track_width_m: float = 1.6
    steer_ratio: float = 15.0            # steering wheel angle / road wheel angle
    max_steering_wheel_angle_deg: float = 540.0
    max_steering_wheel_rate_dps: float = 720.0   # actuator slew limit of the EPS
    steer_actuator_tau_s: float = 0.1    # first-order lag of the EPS
    accel_actuator_tau_s: float = 0.25   # first-order lag of powertrain / brakes
    max_accel_mps2: float = 3.0          # powertrain limit
    max_decel_mps2: float = 10.0         # brake system limit (tyre-road friction ~1 g)
    drag_coefficient: float = 0.30
    frontal_area_m2: float = 2.3
    rolling_resistance: float = 0.012
    cornering_stiffness_front_npr: float = 80000.0   # N/rad per axle
    cornering_stiffness_rear_npr: float = 90000.0

    @property
    def cg_to_rear_m(self) -> float:
        return self.wheelbase_m - self.cg_to_front_m

    @property
    def understeer_gradient(self) -> float:
        """K_us (rad of road wheel per m/s^2 of lateral acceleration) of the linear bicycle model the simulator's
        tyres follow: m / L * (b / C_f - a / C_r); > 0 means the car needs more wheel than geometry says."""
        return self.mass_kg / self.wheelbase_m * (self.cg_to_rear_m / self.cornering_stiffness_front_npr
                                                  - self.cg_to_front_m / self.cornering_stiffness_rear_npr)

    def steady_state_road_wheel_rad(self, curvature_1pm: float, speed_mps: float) -> float:
        """Road wheel angle that holds a path of this curvature at this speed in steady state:
        atan(L * k) + K_us * v^2 * k (geometry plus what the tyres' slip takes away)."""
        return math.atan(self.wheelbase_m * curvature_1pm) + self.understeer_gradient * speed_mps ** 2 * curvature_1pm

    @property
    def yaw_inertia_kgm2(self) -> float:
        # Common approximation for passenger cars (openpilot uses the same scaling from a reference car).
        return self.mass_kg * self.cg_to_front_m * self.cg_to_rear_m


DEFAULT_CAR = CarParams()
