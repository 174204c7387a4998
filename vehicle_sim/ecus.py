"""The simulated car's ECUs on CAN: what the real vehicle's ESP/EPS/powertrain, body and cluster do.

They transmit chassis and cluster frames at their DBC cycle times (chassis with AUTOSAR E2E) and apply the
ADAS actuation and body command frames they receive, ignoring frames that fail the E2E checks. The ADAS
controller and the cockpit therefore drive the simulated vehicle only through CAN. Frames in, frames out:
the simulator node owns the bus.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Iterable

import can

from canbus.car_interface import DriverSwitches
from canbus.codec import VehicleCodec
from canbus.cyclic import CyclicScheduler
from canbus.e2e import VALID_STATUSES

from .cabin import AMBIENT_COLORS, MEDIA_SOURCES, Cabin
from .dynamics import EgoCommand

CHASSIS_TX = ("WHEEL_SPEEDS", "VEHICLE_DYNAMICS", "STEERING", "PEDALS", "GEAR_TURN", "CRUISE_BUTTONS")
BODY_TX = ("HVAC_STATE", "WINDOW_STATE", "SEAT_STATE", "LIGHT_STATE", "DOOR_STATE", "INFOTAINMENT_STATE",
           "CLUSTER_STATUS")
SIM_ECUS = {"VEHICLE", "BODY", "INFOTAINMENT", "CLUSTER"}   # DBC nodes this module plays
_TRUNK_STATES = {"closed": 0, "open": 1, "opening": 2, "closing": 3}
_MEDIA_STATES = {"stopped": 0, "playing": 1, "paused": 2}


@dataclass
class ChassisSnapshot:
    """What the chassis ECUs measure, in SI units (the ECUs convert to DBC units)."""

    speed_mps: float = 0.0
    wheel_speeds_mps: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)   # fl, fr, rl, rr
    steering_wheel_angle_deg: float = 0.0
    steering_wheel_rate_dps: float = 0.0
    driver_torque_nm: float = 0.0
    yaw_rate_rps: float = 0.0
    accel_long_mps2: float = 0.0
    accel_lat_mps2: float = 0.0
    gear: int = 3
    accelerator_pedal_pct: float = 0.0
    brake_pedal_pct: float = 0.0
    brake_pressed: bool = False
    turn_signal: int = 0               # 0 off, 1 left, 2 right, 3 hazard


@dataclass
class ActuationRequest:
    """The ADAS request as the powertrain/brake/EPS ECUs last received it (inactive when stale)."""

    controls_active: bool = False
    accel_mps2: float = 0.0
    steering_wheel_angle_deg: float = 0.0
    aeb_active: bool = False
    aeb_decel_mps2: float = 0.0
    fresh: bool = False


def ecu_command(request, acc_enabled: bool, lka_enabled: bool, aeb_enabled: bool) -> EgoCommand:
    """What the powertrain, EPS and brake ECUs make of an actuation request: each follows its ADAS function only
    while the driver has it switched on (a switched-off function's axis is not controlled).

    `request` is anything with the ActuationRequest fields (this module's, or the safety envelope's output);
    the simulator steps with it, and DAgger's expert rollout (perception/data/expert.py) applies the same rule."""
    return EgoCommand(
        accel_mps2=request.accel_mps2 if acc_enabled else None,
        steering_wheel_angle_deg=request.steering_wheel_angle_deg if lka_enabled else None,
        controls_active=request.controls_active and (acc_enabled or lka_enabled),
        aeb_active=request.aeb_active and aeb_enabled,
        aeb_decel_mps2=request.aeb_decel_mps2,
    )


def _clamp(x: float, lo: float, hi: float) -> float:
    if not math.isfinite(x):
        return lo if x < 0 else hi if x > 0 else 0.0
    return min(max(x, lo), hi)


@dataclass
class VehicleEcus:
    """All ECUs of the simulated car behind one codec (its own counters and E2E receivers)."""

    cabin: Cabin
    codec: VehicleCodec = field(default_factory=VehicleCodec)
    actuation_timeout_s: float = 0.1
    frames_applied: int = 0
    frames_ignored: int = 0
    body_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._scheduler = CyclicScheduler(self.codec, CHASSIS_TX + BODY_TX)
        self._control: dict[str, float] = {}
        self._aeb: dict[str, float] = {}
        self._control_t = -math.inf
        self._aeb_t = -math.inf
        self.track_number = 1
        self.hmi: dict[str, float] = {}   # last ADAS_HMI the cluster displays
        self.switch_requests: list[dict[str, float]] = []   # ADAS_SETTINGS_CMD from the cockpit, not yet applied
        self.switch_rejections = 0                           # requests the switch ECU refused (AEB off while moving)

    # ---------------------------------------------------------------------------------------- receive
    def receive(self, frames: Iterable[can.Message], now: float) -> None:
        """Apply received ADAS and body frames; frames failing E2E are ignored (and counted)."""
        for frame in frames:
            name = self.codec.name_of(frame.arbitration_id)
            if name is None:
                continue
            info = self.codec.messages[name]
            if set(info.senders) & SIM_ECUS or not set(info.receivers) & SIM_ECUS:
                continue  # our own transmissions (a multicast bus echoes them) or not addressed to us
            d = self.codec.decode(frame.arbitration_id, bytes(frame.data), now)
            if d.e2e not in VALID_STATUSES:
                self.frames_ignored += 1
                continue
            self.frames_applied += 1
            if name == "ADAS_CONTROL":
                self._control, self._control_t = d.signals, now
            elif name == "ADAS_AEB":
                self._aeb, self._aeb_t = d.signals, now
            elif name == "ADAS_HMI":
                self.hmi = d.signals
            elif name == "ADAS_SETTINGS_CMD":
                self.switch_requests.append(d.signals)
            else:
                self._apply_body(name, d.signals)

    def apply_switch_requests(self, switches: DriverSwitches, speed_mps: float = 0.0) -> DriverSwitches:
        """The steering-wheel switch states after the cockpit's pending ADAS_SETTINGS_CMD requests (in order):
        1 = on, 2 = off, 0 = keep; a set speed of 0 keeps the current one. Emergency braking is not switched off
        while the car moves (defence in depth behind the cockpit's guard): such a request is dropped and counted in
        `switch_rejections`."""
        for r in self.switch_requests:
            upd: dict = {}
            for sig, fld in (("ACC_MAIN_CMD", "acc_enabled"), ("LKA_SWITCH_CMD", "lka_enabled"),
                             ("AEB_SWITCH_CMD", "aeb_enabled"), ("BSW_SWITCH_CMD", "bsw_enabled")):
                if fld == "aeb_enabled" and int(r[sig]) == 2 and abs(speed_mps) > 0.0:
                    self.switch_rejections += 1
                    continue
                if int(r[sig]) in (1, 2):
                    upd[fld] = int(r[sig]) == 1
            if int(r["ACC_SET_SPEED_CMD"]) > 0:
                upd["acc_set_speed_kph"] = float(r["ACC_SET_SPEED_CMD"])
            switches = dataclasses.replace(switches, **upd)
        self.switch_requests.clear()
        return switches

    def _apply_body(self, name: str, v: dict) -> None:
        try:
            if name == "HVAC_CMD":
                common = {"ac": bool(v["HVAC_CMD_AC"]), "recirculation": bool(v["HVAC_CMD_RECIRC"]),
                          "defrost_front": bool(v["HVAC_CMD_DEFROST_FRONT"]),
                          "defrost_rear": bool(v["HVAC_CMD_DEFROST_REAR"])}
                self.cabin.apply("hvac", {"zone": "driver", "setpoint_c": float(v["HVAC_CMD_DRIVER_TEMP"]),
                                          "fan": int(v["HVAC_CMD_DRIVER_FAN"]), **common})
                self.cabin.apply("hvac", {"zone": "passenger", "setpoint_c": float(v["HVAC_CMD_PASSENGER_TEMP"]),
                                          "fan": int(v["HVAC_CMD_PASSENGER_FAN"])})
                self.cabin.apply("hvac", {"zone": "rear", "setpoint_c": float(v["HVAC_CMD_REAR_TEMP"])})
            elif name == "WINDOW_CMD":
                for w in ("fl", "fr", "rl", "rr"):
                    self.cabin.apply("window", {"window": w, "position_pct": float(v[f"WINDOW_CMD_{w.upper()}"])})
            elif name == "SEAT_CMD":
                self.cabin.apply("seat_heater", {"seat": "driver", "level": int(v["SEAT_HEAT_CMD_DRIVER"])})
                self.cabin.apply("seat_heater", {"seat": "passenger", "level": int(v["SEAT_HEAT_CMD_PASSENGER"])})
                self.cabin.apply("seat_heater", {"seat": "rear_left", "level": int(v["SEAT_HEAT_CMD_RL"])})
                self.cabin.apply("seat_heater", {"seat": "rear_right", "level": int(v["SEAT_HEAT_CMD_RR"])})
            elif name == "LIGHT_CMD":
                color = int(v["AMBIENT_COLOR_CMD"])   # checked first: a bad frame changes nothing
                if not 0 <= color < len(AMBIENT_COLORS):
                    raise ValueError(f"AMBIENT_COLOR_CMD: no colour {color} (0..{len(AMBIENT_COLORS) - 1})")
                self.cabin.apply("lights", {"light": "cabin", "on": bool(v["CABIN_LIGHT_CMD"])})
                self.cabin.apply("lights", {"light": "reading", "on": bool(v["READING_LIGHT_CMD"])})
                ambient = float(v["AMBIENT_LIGHT_CMD"])
                params = {"light": "ambient", "on": ambient > 0, "color": AMBIENT_COLORS[color]}
                if ambient > 0:
                    params["brightness_pct"] = ambient
                self.cabin.apply("lights", params)
            elif name == "DOOR_CMD":
                if int(v["LOCK_CMD"]) in (1, 2):
                    self.cabin.apply("locks", {"locked": int(v["LOCK_CMD"]) == 1})
                if int(v["TRUNK_CMD"]) in (1, 2):
                    self.cabin.apply("trunk", {"open": int(v["TRUNK_CMD"]) == 1})
            elif name == "INFOTAINMENT_CMD":
                params: dict = {"volume": int(v["VOLUME_CMD"])}
                source = int(v["MEDIA_SOURCE_CMD"])
                if source:
                    if source > len(MEDIA_SOURCES):
                        raise ValueError(f"MEDIA_SOURCE_CMD: no source {source} (1..{len(MEDIA_SOURCES)}, 0 = keep)")
                    params["source"] = MEDIA_SOURCES[source - 1]
                if int(v["NAV_CMD"]) in (1, 2):
                    self.cabin.apply("navigation", {"active": int(v["NAV_CMD"]) == 1})
                if int(v["CALL_CMD"]) in (1, 2):
                    self.cabin.apply("phone", {"active": int(v["CALL_CMD"]) == 1})
                media = int(v["MEDIA_CMD"])
                if media in (1, 2, 3):
                    params["state"] = {1: "playing", 2: "paused", 3: "stopped"}[media]
                elif media in (4, 5):
                    self.track_number = max(1, min(255, self.track_number + (1 if media == 4 else -1)))
                self.cabin.apply("media", params)
        except ValueError as exc:  # a command the body ECU refuses: keep running, remember why
            self.body_errors.append(f"{name}: {exc}")

    def actuation(self, now: float) -> ActuationRequest:
        """The ADAS request in force at `now`: inactive when ADAS_CONTROL or ADAS_AEB went stale."""
        control_fresh = now - self._control_t <= self.actuation_timeout_s and bool(self._control)
        aeb_fresh = now - self._aeb_t <= self.actuation_timeout_s and bool(self._aeb)
        req = ActuationRequest(fresh=control_fresh)
        if control_fresh:
            req.controls_active = bool(self._control["CONTROLS_ACTIVE"])
            req.accel_mps2 = float(self._control["ACCEL_REQ"])
            req.steering_wheel_angle_deg = float(self._control["STEER_ANGLE_REQ"])
        if aeb_fresh and self._aeb["AEB_REQUEST"]:
            req.aeb_active = True
            req.aeb_decel_mps2 = float(self._aeb["AEB_DECEL"])
        return req

    # --------------------------------------------------------------------------------------- transmit
    def transmit(self, now: float, chassis: ChassisSnapshot, switches: DriverSwitches) -> list[can.Message]:
        """The chassis, switch, body and cluster frames due at `now`."""
        out = []
        for name in self._scheduler.due(now):
            out.append(self.codec.encode(name, self._signals(name, chassis, switches), timestamp=now))
        return out

    def _signals(self, name: str, c: ChassisSnapshot, sw: DriverSwitches) -> dict:
        kph = 3.6
        cab = self.cabin.state
        if name == "WHEEL_SPEEDS":
            fl, fr, rl, rr = (_clamp(abs(w) * kph, 0, 250) for w in c.wheel_speeds_mps)
            return {"WHEEL_SPEED_FL": fl, "WHEEL_SPEED_FR": fr, "WHEEL_SPEED_RL": rl, "WHEEL_SPEED_RR": rr}
        if name == "VEHICLE_DYNAMICS":
            return {"VEHICLE_SPEED": _clamp(abs(c.speed_mps) * kph, 0, 300),
                    "YAW_RATE": _clamp(math.degrees(c.yaw_rate_rps), -100, 100),
                    "LONG_ACCEL": _clamp(c.accel_long_mps2, -12, 12),
                    "LAT_ACCEL": _clamp(c.accel_lat_mps2, -12, 12)}
        if name == "STEERING":
            return {"STEERING_ANGLE": _clamp(c.steering_wheel_angle_deg, -780, 780),
                    "STEERING_RATE": _clamp(c.steering_wheel_rate_dps, -1000, 1000),
                    "DRIVER_TORQUE": _clamp(c.driver_torque_nm, -20, 20)}
        if name == "PEDALS":
            return {"ACCEL_PEDAL": _clamp(c.accelerator_pedal_pct, 0, 100),
                    "BRAKE_PEDAL": _clamp(c.brake_pedal_pct, 0, 100),
                    "BRAKE_PRESSED": int(c.brake_pressed), "GAS_PRESSED": int(c.accelerator_pedal_pct > 1.0)}
        if name == "GEAR_TURN":
            return {"GEAR": int(c.gear), "TURN_SIGNAL": int(c.turn_signal)}
        if name == "CRUISE_BUTTONS":
            return {"ACC_MAIN_ON": int(sw.acc_enabled), "LKA_SWITCH_ON": int(sw.lka_enabled),
                    "AEB_SWITCH_ON": int(sw.aeb_enabled), "BSW_SWITCH_ON": int(sw.bsw_enabled),
                    "ACC_SET_SPEED_REQ": _clamp(round(sw.acc_set_speed_kph), 0, 250)}
        if name == "HVAC_STATE":
            return {"HVAC_DRIVER_TEMP": cab.setpoint_driver_c, "HVAC_PASSENGER_TEMP": cab.setpoint_passenger_c,
                    "HVAC_DRIVER_FAN": cab.fan_driver, "HVAC_PASSENGER_FAN": cab.fan_passenger,
                    "HVAC_AC": int(cab.ac_on), "HVAC_RECIRC": int(cab.recirculation),
                    "HVAC_DEFROST_FRONT": int(cab.defrost_front), "HVAC_DEFROST_REAR": int(cab.defrost_rear),
                    "HVAC_REAR_TEMP": cab.setpoint_rear_c}
        if name == "WINDOW_STATE":
            return {f"WINDOW_POS_{w.upper()}": round(_clamp(getattr(cab, f"window_{w}_pct"), 0, 100))
                    for w in ("fl", "fr", "rl", "rr")}
        if name == "SEAT_STATE":
            return {"SEAT_HEAT_DRIVER": cab.seat_heater_driver, "SEAT_HEAT_PASSENGER": cab.seat_heater_passenger,
                    "SEAT_HEAT_RL": cab.seat_heater_rear_left, "SEAT_HEAT_RR": cab.seat_heater_rear_right}
        if name == "LIGHT_STATE":
            return {"CABIN_LIGHT": int(cab.cabin_light_on),
                    "AMBIENT_LIGHT": round(cab.ambient_light_brightness_pct) if cab.ambient_light_on else 0,
                    "READING_LIGHT": int(cab.reading_light_on),
                    "AMBIENT_COLOR": AMBIENT_COLORS.index(cab.ambient_light_color)}
        if name == "DOOR_STATE":
            return {"DOORS_LOCKED": int(cab.doors_locked), "DOOR_OPEN_FL": 0, "DOOR_OPEN_FR": 0,
                    "DOOR_OPEN_RL": 0, "DOOR_OPEN_RR": 0, "TRUNK_STATE": _TRUNK_STATES[cab.trunk_state]}
        if name == "INFOTAINMENT_STATE":
            return {"VOLUME": cab.volume, "MEDIA_STATE": _MEDIA_STATES[cab.media_state],
                    "TRACK_NUMBER": self.track_number, "NAV_ACTIVE": int(cab.nav_active),
                    "CALL_ACTIVE": int(cab.call_active), "MEDIA_SOURCE": MEDIA_SOURCES.index(cab.media_source) + 1}
        if name == "CLUSTER_STATUS":
            return {"OUTSIDE_TEMP": _clamp(round(cab.outside_temp_c * 2) / 2, -40, 85),
                    "CABIN_TEMP": _clamp(round(cab.cabin_temp_c * 2) / 2, -40, 85),
                    "FUEL_LEVEL": round(_clamp(cab.fuel_level_pct, 0, 100)),
                    "RANGE": round(_clamp(cab.range_km, 0, 1000)),
                    "ODOMETER": round(_clamp(cab.odometer_km, 0, 9999999))}
        raise KeyError(name)
