"""The ADAS side of the vehicle's CAN interface (openpilot's CarState / CarController split).

`CarStateParser` turns chassis frames into a `CarState` (what can_bridge publishes as /vehicle/state) and
the driver's ADAS switches; `CarController` turns the bounded actuation command and the HMI state (the
ADAS's own vocabulary, adas.types) into ADAS frames at their DBC cycle times. Both are pure frame-in / frame-out: no bus, no ROS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import can

from adas.types import ActuationRequest, HmiState

from .codec import VehicleCodec
from .cyclic import CyclicScheduler
from .e2e import VALID_STATUSES

KPH = 1.0 / 3.6
CHASSIS_MESSAGES = ("WHEEL_SPEEDS", "VEHICLE_DYNAMICS", "STEERING", "PEDALS", "GEAR_TURN", "CRUISE_BUTTONS")
ADAS_MESSAGES = ("ADAS_CONTROL", "ADAS_AEB", "ADAS_HMI")


@dataclass
class CarState:
    """Chassis state; field names match edgepilot_interfaces/msg/VehicleState."""

    speed_mps: float = 0.0
    wheel_speed_fl_mps: float = 0.0
    wheel_speed_fr_mps: float = 0.0
    wheel_speed_rl_mps: float = 0.0
    wheel_speed_rr_mps: float = 0.0
    steering_wheel_angle_deg: float = 0.0
    steering_wheel_rate_dps: float = 0.0
    driver_steering_torque_nm: float = 0.0
    yaw_rate_rps: float = 0.0
    accel_long_mps2: float = 0.0
    accel_lat_mps2: float = 0.0
    gear: int = 0
    accelerator_pedal_pct: float = 0.0
    brake_pedal_pct: float = 0.0
    brake_pressed: bool = False
    left_turn_signal: bool = False
    right_turn_signal: bool = False
    can_valid: bool = False
    e2e_rejections: int = 0


@dataclass
class DriverSwitches:
    """Steering-wheel ADAS buttons; field names match edgepilot_interfaces/msg/AdasSettings."""

    acc_enabled: bool = False
    acc_set_speed_kph: float = 0.0
    lka_enabled: bool = False
    aeb_enabled: bool = True
    bsw_enabled: bool = True        # blind spot warning


def _clamp(x: float, lo: float, hi: float) -> float:
    if not math.isfinite(x):
        return 0.0
    return min(max(x, lo), hi)


class CarStateParser:
    """Decodes chassis frames (E2E-checked) into a CarState; rejected frames never update the state."""

    def __init__(self, codec: VehicleCodec | None = None) -> None:
        self.codec = codec or VehicleCodec()
        self.state = CarState()
        self.switches = DriverSwitches()
        self._seen: set[str] = set()

    def update(self, frames: Iterable[can.Message], now: float) -> CarState:
        """Apply received frames; `now` (the node's clock) drives the E2E timeout supervision."""
        s = self.state
        for frame in frames:
            name = self.codec.name_of(frame.arbitration_id)
            if name not in CHASSIS_MESSAGES:
                continue
            d = self.codec.decode(frame.arbitration_id, bytes(frame.data), now)
            if not d.valid:
                continue
            self._seen.add(name)
            v = d.signals
            if name == "WHEEL_SPEEDS":
                s.wheel_speed_fl_mps = v["WHEEL_SPEED_FL"] * KPH
                s.wheel_speed_fr_mps = v["WHEEL_SPEED_FR"] * KPH
                s.wheel_speed_rl_mps = v["WHEEL_SPEED_RL"] * KPH
                s.wheel_speed_rr_mps = v["WHEEL_SPEED_RR"] * KPH
            elif name == "VEHICLE_DYNAMICS":
                s.speed_mps = v["VEHICLE_SPEED"] * KPH
                s.yaw_rate_rps = math.radians(v["YAW_RATE"])
                s.accel_long_mps2 = v["LONG_ACCEL"]
                s.accel_lat_mps2 = v["LAT_ACCEL"]
            elif name == "STEERING":
                s.steering_wheel_angle_deg = v["STEERING_ANGLE"]
                s.steering_wheel_rate_dps = v["STEERING_RATE"]
                s.driver_steering_torque_nm = v["DRIVER_TORQUE"]
            elif name == "PEDALS":
                s.accelerator_pedal_pct = v["ACCEL_PEDAL"]
                s.brake_pedal_pct = v["BRAKE_PEDAL"]
                s.brake_pressed = bool(v["BRAKE_PRESSED"])
            elif name == "GEAR_TURN":
                s.gear = int(v["GEAR"])
                turn = int(v["TURN_SIGNAL"])
                s.left_turn_signal = turn in (1, 3)
                s.right_turn_signal = turn in (2, 3)
            elif name == "CRUISE_BUTTONS":
                self.switches = DriverSwitches(
                    acc_enabled=bool(v["ACC_MAIN_ON"]),
                    acc_set_speed_kph=float(v["ACC_SET_SPEED_REQ"]),
                    lka_enabled=bool(v["LKA_SWITCH_ON"]),
                    aeb_enabled=bool(v["AEB_SWITCH_ON"]),
                    bsw_enabled=bool(v["BSW_SWITCH_ON"]),
                )
        health = self.codec.poll(now)
        s.can_valid = all(name in self._seen and health[name] in VALID_STATUSES for name in CHASSIS_MESSAGES)
        rejections = self.codec.monitor.rejections()
        s.e2e_rejections = int(sum(rejections.get(n, 0) for n in CHASSIS_MESSAGES))
        return s


class CarController:
    """Encodes the actuation command and HMI status into ADAS frames when their cycle is due."""

    def __init__(self, codec: VehicleCodec | None = None) -> None:
        self.codec = codec or VehicleCodec()
        self.scheduler = CyclicScheduler(self.codec, ADAS_MESSAGES)

    def update(self, now: float, command: ActuationRequest | None, hmi: HmiState | None) -> list[can.Message]:
        """Frames due at `now`; with no command the controls are sent inactive (the car ignores them).

        `command`/`hmi` may be the adas dataclasses or the ROS messages: only the field names matter.
        """
        cmd = command or ActuationRequest()
        out = []
        for name in self.scheduler.due(now):
            if name == "ADAS_CONTROL":
                signals = {
                    "STEER_ANGLE_REQ": _clamp(cmd.steering_wheel_angle_deg, -540.0, 540.0),
                    "ACCEL_REQ": _clamp(cmd.accel_mps2, -10.0, 4.0),
                    "CONTROLS_ACTIVE": int(bool(cmd.controls_active)),
                }
            elif name == "ADAS_AEB":
                signals = {
                    "AEB_REQUEST": int(bool(cmd.aeb_active)),
                    "AEB_DECEL": _clamp(cmd.aeb_decel_mps2 if cmd.aeb_active else 0.0, 0.0, 10.0),
                }
            else:
                h = hmi or HmiState()
                signals = {
                    "ACC_SET_SPEED": _clamp(h.acc_set_speed_kph, 0.0, 250.0),
                    "ACC_ACTIVE": int(bool(h.acc_active)),
                    "LEAD_DETECTED": int(bool(h.lead_detected)),
                    "LEAD_DISTANCE": _clamp(h.lead_distance_m, 0.0, 250.0),
                    "FCW": int(bool(h.fcw)),
                    "AEB_WARNING": int(bool(h.aeb_active)),
                    "LKA_STATE": int(h.lka_state),
                }
            out.append(self.codec.encode(name, signals, timestamp=now))
        return out
