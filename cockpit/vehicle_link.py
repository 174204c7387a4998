"""The cockpit ECU's side of the CAN bus: live state in, accepted tool calls out as DBC command frames.

Why full-state commands need the state first: HVAC_CMD, WINDOW_CMD, SEAT_CMD, LIGHT_CMD and INFOTAINMENT_CMD
carry every field of their group (the body ECU applies them as a whole), so changing the driver's temperature
must resend the passenger's as it is. A call whose group state has not been received (or is older than
`state_timeout_s`) is therefore refused with `StateUnavailable` instead of overwriting the car with defaults.
Tools the DBC has no signal for yet raise `NotWired` naming what is missing. String arguments (destination,
contact, media query) belong to the head unit's own API; CAN carries the request (NAV_CMD, CALL_CMD, ...). `query_vehicle` is answered from
the last received frames. No ROS import: the cockpit node is a thin adapter over this.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import can

from canbus.codec import VehicleCodec
from canbus.e2e import VALID_STATUSES

from .catalog import TOOLS, ToolCall
from .guard import VehicleState

#: The state frames the cockpit reads (DBC receivers include COCKPIT).
STATE_MESSAGES = ("VEHICLE_DYNAMICS", "GEAR_TURN", "CRUISE_BUTTONS", "ADAS_HMI", "HVAC_STATE", "WINDOW_STATE",
                  "SEAT_STATE", "LIGHT_STATE", "DOOR_STATE", "INFOTAINMENT_STATE", "CLUSTER_STATUS")
WINDOW_SIGNALS = {"driver": "FL", "passenger": "FR", "rear_left": "RL", "rear_right": "RR"}   # left-hand drive
SEAT_SIGNALS = {"driver": "DRIVER", "passenger": "PASSENGER", "rear_left": "RL", "rear_right": "RR"}
MEDIA_CODES = {"resume": 1, "pause": 2, "next": 4, "previous": 5}
VOLUME_STEPS = 30            # INFOTAINMENT VOLUME 0..30 <-> the catalog's 0..100 percent
#: other names for the ambient light's DBC colours
COLOR_ALIASES = {"violet": "purple", "lilac": "purple", "lavender": "purple", "magenta": "pink", "rose": "pink",
                 "turquoise": "cyan", "teal": "cyan", "aqua": "cyan", "amber": "orange", "gold": "yellow",
                 "golden": "yellow", "lime": "green", "navy": "blue", "crimson": "red"}

#: query_vehicle item -> (message, signal, unit spoken)
QUERY_SIGNALS = {"speed": ("VEHICLE_DYNAMICS", "VEHICLE_SPEED", "kilometres per hour"),
                 "range": ("CLUSTER_STATUS", "RANGE", "kilometres"),
                 "fuel_level": ("CLUSTER_STATUS", "FUEL_LEVEL", "percent"),
                 "outside_temperature": ("CLUSTER_STATUS", "OUTSIDE_TEMP", "degrees"),
                 "cabin_temperature": ("CLUSTER_STATUS", "CABIN_TEMP", "degrees"),
                 "odometer": ("CLUSTER_STATUS", "ODOMETER", "kilometres")}


class NotWired(RuntimeError):
    """The tool is in the catalog but the vehicle's DBC has no signal for it (yet)."""


class StateUnavailable(RuntimeError):
    """A full-state command needs a state frame that has not been received recently."""


@dataclass(frozen=True)
class QueryAnswer:
    item: str
    value: float | None
    unit: str
    spoken: str


class VehicleLink:
    """Decode what the cockpit receives; encode accepted calls as command frames (E2E counters and CRCs filled)."""

    def __init__(self, codec: VehicleCodec | None = None, state_timeout_s: float = 1.0) -> None:
        self.codec = codec or VehicleCodec()
        self.state_timeout_s = float(state_timeout_s)
        self.signals: dict[str, dict[str, Any]] = {}
        self.stamps: dict[str, float] = {}
        self.frames_ignored = 0            # failed E2E checks (never applied)
        self._ambient_level = 100.0        # brightness to restore when the ambient light is switched on
        # colour and source codes come from the DBC's value tables, so the DBC stays the one definition
        self.colors = self._choices("LIGHT_CMD", "AMBIENT_COLOR_CMD")
        self.sources = {k: v for k, v in self._choices("INFOTAINMENT_CMD", "MEDIA_SOURCE_CMD").items() if v > 0}

    def color_code(self, word: str) -> int | None:
        """The AMBIENT_COLOR_CMD code of a colour as the driver says it (a DBC name or a COLOR_ALIASES word)."""
        word = word.strip().lower()
        return self.colors.get(word, self.colors.get(COLOR_ALIASES.get(word, "")))

    def _choices(self, message: str, signal: str) -> dict[str, int]:
        sig = self.codec.db.get_message_by_name(message).get_signal_by_name(signal)
        return {str(name).lower(): int(code) for code, name in (sig.choices or {}).items()}

    # ------------------------------------------------------------------------------------------ receive
    def receive(self, frames: Iterable[can.Message], now: float) -> None:
        for frame in frames:
            name = self.codec.name_of(frame.arbitration_id)
            if name not in STATE_MESSAGES:
                continue
            d = self.codec.decode(frame.arbitration_id, bytes(frame.data), now, decode_choices=False)
            if d.e2e not in VALID_STATUSES:
                self.frames_ignored += 1
                continue
            self.signals[name], self.stamps[name] = d.signals, now
            if name == "LIGHT_STATE" and d.signals.get("AMBIENT_LIGHT", 0) > 0:
                self._ambient_level = float(d.signals["AMBIENT_LIGHT"])

    def fresh(self, name: str, now: float) -> dict[str, Any] | None:
        t = self.stamps.get(name)
        return self.signals[name] if t is not None and now - t <= self.state_timeout_s else None

    def _need(self, name: str, now: float) -> dict[str, Any]:
        s = self.fresh(name, now)
        if s is None:
            age = "never received" if name not in self.stamps else f"{now - self.stamps[name]:.1f} s old"
            raise StateUnavailable(f"{name} is {age}: the command would overwrite the car's other settings")
        return s

    def vehicle_state(self, now: float) -> VehicleState:
        """The guard's view: an unknown or stale speed is None (the guard then treats the car as moving fast)."""
        dyn, sw = self.fresh("VEHICLE_DYNAMICS", now), self.fresh("CRUISE_BUTTONS", now)
        speed = float(dyn["VEHICLE_SPEED"]) if dyn is not None else None
        if sw is None:   # switch states unknown: assume the protective ones (cruise off, emergency braking on)
            return VehicleState(speed_kph=speed)
        return VehicleState(speed_kph=speed, adaptive_cruise=bool(sw["ACC_MAIN_ON"]),
                            lane_keeping=bool(sw["LKA_SWITCH_ON"]), emergency_braking=bool(sw["AEB_SWITCH_ON"]),
                            blind_spot_warning=bool(sw["BSW_SWITCH_ON"]))

    def query(self, item: str, now: float) -> QueryAnswer:
        if item not in QUERY_SIGNALS:
            return QueryAnswer(item, None, "", f"This car does not report its {item.replace('_', ' ')}.")
        msg, sig, unit = QUERY_SIGNALS[item]
        s = self.fresh(msg, now)
        if s is None:
            return QueryAnswer(item, None, unit, f"I don't have a current {item.replace('_', ' ')} reading.")
        v = float(s[sig])
        shown = f"{v:.0f}" if item in ("speed", "range", "fuel_level", "odometer") else f"{v:g}"
        return QueryAnswer(item, v, unit, f"The {item.replace('_', ' ')} is {shown} {unit}.")

    # ------------------------------------------------------------------------------------------ transmit
    def frames_for(self, call: ToolCall, now: float) -> list[can.Message]:
        """Command frames for an accepted call ([] for query_vehicle). Raises NotWired / StateUnavailable."""
        return [self.codec.encode(name, sig, timestamp=now) for name, sig in self.commands_for(call, now)]

    def commands_for(self, call: ToolCall, now: float) -> list[tuple[str, dict[str, Any]]]:
        """(message, signals) pairs, before encoding; see frames_for."""
        a, n = call.args, call.name
        if n == "query_vehicle":
            return []
        if n in ("set_temperature", "adjust_temperature", "set_fan_speed", "set_ac", "set_defrost"):
            h = self._need("HVAC_STATE", now)
            cmd = {"HVAC_CMD_" + k.removeprefix("HVAC_"): v for k, v in h.items()}   # HVAC_AC -> HVAC_CMD_AC ...
            if n in ("set_temperature", "adjust_temperature"):
                rng = TOOLS["set_temperature"].arg("celsius")
                for zone in (("DRIVER", "PASSENGER", "REAR") if a["zone"] == "all" else (a["zone"].upper(),)):
                    key = f"HVAC_CMD_{zone}_TEMP"
                    target = a["celsius"] if n == "set_temperature" else float(cmd[key]) + a["delta_celsius"]
                    cmd[key] = min(rng.maximum, max(rng.minimum, round(target / rng.step) * rng.step))
            elif n == "set_fan_speed":
                cmd["HVAC_CMD_DRIVER_FAN"] = cmd["HVAC_CMD_PASSENGER_FAN"] = a["level"]
            elif n == "set_ac":
                cmd["HVAC_CMD_AC"] = int(a["on"])
            else:
                cmd[f"HVAC_CMD_DEFROST_{a['target'].upper()}"] = int(a["on"])
            return [("HVAC_CMD", cmd)]
        if n == "set_window":
            w = self._need("WINDOW_STATE", now)
            cmd = {f"WINDOW_CMD_{c}": w[f"WINDOW_POS_{c}"] for c in ("FL", "FR", "RL", "RR")}
            for c in (WINDOW_SIGNALS.values() if a["window"] == "all" else (WINDOW_SIGNALS[a["window"]],)):
                cmd[f"WINDOW_CMD_{c}"] = a["open_percent"]
            return [("WINDOW_CMD", cmd)]
        if n == "set_seat_heating":
            s = self._need("SEAT_STATE", now)
            cmd = {f"SEAT_HEAT_CMD_{c}": s[f"SEAT_HEAT_{c}"] for c in SEAT_SIGNALS.values()}
            cmd[f"SEAT_HEAT_CMD_{SEAT_SIGNALS[a['seat']]}"] = a["level"]
            return [("SEAT_CMD", cmd)]
        if n == "set_lights":
            color = a.get("color")
            code = self.color_code(color) if color is not None else None
            if color is not None and code is None:
                raise NotWired(f"the ambient light has no colour {color!r} (it has {', '.join(self.colors)})")
            s = self._need("LIGHT_STATE", now)
            cmd = {k + "_CMD": v for k, v in s.items()}                    # CABIN_LIGHT -> CABIN_LIGHT_CMD ...
            if a["target"] == "interior":
                cmd["CABIN_LIGHT_CMD"] = int(a["on"])
            elif a["target"] == "reading":
                cmd["READING_LIGHT_CMD"] = int(a["on"])
            else:
                cmd["AMBIENT_LIGHT_CMD"] = round(self._ambient_level) if a["on"] else 0
                if color is not None:
                    cmd["AMBIENT_COLOR_CMD"] = code
            return [("LIGHT_CMD", cmd)]
        if n in ("set_volume", "adjust_volume", "media_control", "media_play", "navigate_to", "cancel_navigation",
                 "call_contact"):
            s = self._need("INFOTAINMENT_STATE", now)
            volume = int(s["VOLUME"])
            if n == "set_volume":
                volume = round(a["percent"] * VOLUME_STEPS / 100)
            elif n == "adjust_volume":
                pct = min(100.0, max(0.0, volume * 100 / VOLUME_STEPS + a["delta_percent"]))
                stepped = round(pct * VOLUME_STEPS / 100)
                # a request always moves the volume by at least one step in its direction (unless at the end)
                volume = stepped if stepped != volume else min(VOLUME_STEPS, max(0, volume + int(math.copysign(
                    1, a["delta_percent"]))))
            media = MEDIA_CODES[a["action"]] if n == "media_control" else 1 if n == "media_play" else 0
            source = self.sources[a["source"]] if n == "media_play" and "source" in a else 0
            nav = {"navigate_to": 1, "cancel_navigation": 2}.get(n, 0)
            # the query, destination and contact strings go to the head unit's own API, not over CAN
            return [("INFOTAINMENT_CMD", {"VOLUME_CMD": volume, "MEDIA_CMD": media, "NAV_CMD": nav,
                                          "CALL_CMD": 1 if n == "call_contact" else 0, "MEDIA_SOURCE_CMD": source})]
        if n in ("set_adas_feature", "set_cruise_speed"):
            cmd = {"ACC_MAIN_CMD": 0, "LKA_SWITCH_CMD": 0, "AEB_SWITCH_CMD": 0, "BSW_SWITCH_CMD": 0,
                   "ACC_SET_SPEED_CMD": 0}
            if n == "set_cruise_speed":
                cmd["ACC_SET_SPEED_CMD"] = a["kph"]
            else:
                key = {"adaptive_cruise": "ACC_MAIN_CMD", "lane_keeping": "LKA_SWITCH_CMD",
                       "emergency_braking": "AEB_SWITCH_CMD", "blind_spot_warning": "BSW_SWITCH_CMD"}[a["feature"]]
                cmd[key] = 1 if a["enabled"] else 2
            return [("ADAS_SETTINGS_CMD", cmd)]
        if n == "lock_doors":
            return [("DOOR_CMD", {"LOCK_CMD": 1 if a["locked"] else 2, "TRUNK_CMD": 0})]
        if n == "open_trunk":
            return [("DOOR_CMD", {"LOCK_CMD": 0, "TRUNK_CMD": 1})]
        raise NotWired(f"{n} has no CAN message in the vehicle DBC")
