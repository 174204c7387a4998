"""Body / cockpit ECU state model of the simulated car (HVAC, windows, seats, lights, locks, trunk,
infotainment, instrument cluster).

Why: the in-car voice assistant and the CAN layer need a believable, deterministic car body to command
and read back.  Fields are flat with obvious names so a DBC signal maps to one field.

Commands (``Cabin.apply(name, values)``; every key is optional unless noted):

* ``hvac``: ``zone`` ('driver' | 'passenger' | 'rear' | 'all', default 'all'), ``setpoint_c`` 16..30,
  ``fan`` 0..7 (driver and passenger zones; the rear zone has no blower of its own), ``on``, ``ac``,
  ``recirculation``, ``defrost_front``, ``defrost_rear`` (bools).
* ``window``: ``window`` ('fl' | 'fr' | 'rl' | 'rr' | 'all', required), ``position_pct`` 0..100
  (0 = closed, 100 = fully open; required).  Windows move toward it at ``WINDOW_RATE_PCT_S``.
* ``seat_heater``: ``seat`` ('driver' | 'passenger' | 'rear_left' | 'rear_right' | 'all', required),
  ``level`` 0..3 (required).
* ``lights``: ``light`` ('cabin' | 'ambient' | 'reading', required), ``on`` (bool), ``brightness_pct``
  0..100, ``color`` (ambient only, one of ``AMBIENT_COLORS``).
* ``locks``: ``locked`` (bool, required).
* ``trunk``: ``open`` (bool, required); opening / closing takes ``TRUNK_TIME_S``.
* ``media``: ``state`` ('stopped' | 'playing' | 'paused'), ``volume`` 0..30, ``source`` (``MEDIA_SOURCES``).
* ``navigation``: ``active`` (bool, required): route guidance on/off (the destination stays in the head unit).
* ``phone``: ``active`` (bool, required): a call dialled / hung up.

Invalid input raises ``ValueError`` whose message names the field (``command.field``) and the allowed
values.  Booleans also accept 0/1 and integer fields accept integral floats, as decoded CAN signals are.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "CabinState",
    "Cabin",
    "COMMANDS",
    "WINDOWS",
    "MEDIA_STATES",
    "MEDIA_SOURCES",
    "AMBIENT_COLORS",
    "SEATS",
    "TRUNK_STATES",
    "WINDOW_RATE_PCT_S",
    "TRUNK_TIME_S",
    "CABIN_TAU_S",
]

WINDOWS = ("fl", "fr", "rl", "rr")  # front-left, front-right, rear-left, rear-right
MEDIA_STATES = ("stopped", "playing", "paused")
MEDIA_SOURCES = ("radio", "bluetooth", "usb", "streaming")
AMBIENT_COLORS = ("white", "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")  # DBC code order
SEATS = ("driver", "passenger", "rear_left", "rear_right")
TRUNK_STATES = ("closed", "opening", "open", "closing")
WINDOW_RATE_PCT_S = 20.0
TRUNK_TIME_S = 2.0
CABIN_TAU_S = 120.0  # first-order time constant of the cabin temperature
SETPOINT_RANGE_C = (16.0, 30.0)
FAN_MAX = 7
SEAT_HEATER_MAX = 3
VOLUME_MAX = 30
OPEN_WINDOW_COUPLING = 0.5  # fully open windows pull the HVAC target half-way to the outside temperature


@dataclass
class CabinState:
    """Everything the body/cockpit ECUs report.  Temperatures in deg C, positions in percent."""

    # HVAC (dual zone)
    hvac_on: bool = True
    setpoint_driver_c: float = 21.0
    setpoint_passenger_c: float = 21.0
    setpoint_rear_c: float = 21.0
    fan_driver: int = 3  # 0 (off) .. 7
    fan_passenger: int = 3
    ac_on: bool = False
    recirculation: bool = False
    defrost_front: bool = False
    defrost_rear: bool = False
    # windows: actual and commanded position, 0 = closed .. 100 = fully open
    window_fl_pct: float = 0.0
    window_fr_pct: float = 0.0
    window_rl_pct: float = 0.0
    window_rr_pct: float = 0.0
    window_fl_target_pct: float = 0.0
    window_fr_target_pct: float = 0.0
    window_rl_target_pct: float = 0.0
    window_rr_target_pct: float = 0.0
    # seats
    seat_heater_driver: int = 0  # 0 .. 3
    seat_heater_passenger: int = 0
    seat_heater_rear_left: int = 0
    seat_heater_rear_right: int = 0
    # lights
    cabin_light_on: bool = False
    cabin_light_brightness_pct: float = 100.0
    ambient_light_on: bool = False
    ambient_light_brightness_pct: float = 50.0
    ambient_light_color: str = "white"
    reading_light_on: bool = False
    # body
    doors_locked: bool = False
    trunk_state: str = "closed"  # closed | opening | open | closing
    trunk_position_pct: float = 0.0  # 0 = closed .. 100 = open
    # infotainment
    volume: int = 10  # 0 .. 30
    media_state: str = "stopped"  # stopped | playing | paused
    media_source: str = "radio"
    nav_active: bool = False
    call_active: bool = False
    # cluster
    outside_temp_c: float = 20.0
    cabin_temp_c: float = 20.0
    fuel_level_pct: float = 60.0
    range_km: float = 0.0
    odometer_km: float = 0.0
    trip_km: float = 0.0
    time_s: float = 0.0


# -- validation helpers -----------------------------------------------------------------------------


def _bool(cmd: str, key: str, v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v in (0, 1):
        return bool(v)
    raise ValueError(f"{cmd}.{key} must be a bool (true/false or 0/1), got {v!r}")


def _number(cmd: str, key: str, v: Any, lo: float, hi: float) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"{cmd}.{key} must be a number in {lo:g}..{hi:g}, got {v!r}")
    x = float(v)
    if not math.isfinite(x) or x < lo or x > hi:
        raise ValueError(f"{cmd}.{key} must be in {lo:g}..{hi:g}, got {v!r}")
    return x


def _int(cmd: str, key: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)) or float(v) != int(v):
        raise ValueError(f"{cmd}.{key} must be an integer in {lo}..{hi}, got {v!r}")
    x = int(v)
    if x < lo or x > hi:
        raise ValueError(f"{cmd}.{key} must be an integer in {lo}..{hi}, got {v!r}")
    return x


def _choice(cmd: str, key: str, v: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(v, str) or v not in allowed:
        raise ValueError(f"{cmd}.{key} must be one of {', '.join(allowed)}, got {v!r}")
    return v


def _keys(cmd: str, values: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
    if not isinstance(values, dict):
        raise ValueError(f"{cmd}: values must be a dict, got {type(values).__name__}")
    for k in values:
        if k not in allowed:
            raise ValueError(f"{cmd}.{k} is not a known field; allowed: {', '.join(allowed)}")
    for k in required:
        if k not in values:
            raise ValueError(f"{cmd}.{k} is required")


COMMANDS = ("hvac", "window", "seat_heater", "lights", "locks", "trunk", "media", "navigation", "phone")


class Cabin:
    """The body/cockpit ECU model: ``apply`` commands, ``step`` time, read ``state`` / ``as_dict()``."""

    def __init__(
        self,
        seed: int = 0,
        *,
        outside_temp_c: float | None = None,
        fuel_level_pct: float | None = None,
        odometer_km: float | None = None,
        tank_capacity_l: float = 50.0,
        consumption_l_per_100km: float = 6.5,
    ) -> None:
        """Initial conditions come from ``seed`` (same seed -> same car) unless given explicitly."""
        rng = np.random.default_rng(seed)
        outside = round(float(rng.uniform(-5.0, 35.0)), 1)
        soak = round(float(rng.uniform(0.0, 6.0)), 1)  # parked car: cabin a bit warmer than outside
        fuel = round(float(rng.uniform(25.0, 95.0)), 1)
        odo = round(float(rng.uniform(500.0, 120000.0)), 1)
        self.tank_capacity_l = tank_capacity_l
        self.consumption_l_per_100km = consumption_l_per_100km
        if outside_temp_c is not None:
            outside = float(outside_temp_c)
        self.state = CabinState(
            outside_temp_c=outside,
            cabin_temp_c=outside + soak,
            fuel_level_pct=fuel if fuel_level_pct is None else float(fuel_level_pct),
            odometer_km=odo if odometer_km is None else float(odometer_km),
        )
        self._update_range()

    # -- commands ------------------------------------------------------------------------------------
    def apply(self, command_name: str, values: dict[str, Any]) -> None:
        """Validate and apply one command; raises ValueError naming the bad field (nothing is changed)."""
        handler = {
            "hvac": self._hvac, "window": self._window, "seat_heater": self._seat_heater,
            "lights": self._lights, "locks": self._locks, "trunk": self._trunk, "media": self._media,
            "navigation": self._navigation, "phone": self._phone,
        }.get(command_name)
        if handler is None:
            raise ValueError(f"unknown command {command_name!r}; allowed: {', '.join(COMMANDS)}")
        handler(values)

    def _hvac(self, v: dict[str, Any]) -> None:
        c = "hvac"
        _keys(c, v, ("zone", "setpoint_c", "fan", "on", "ac", "recirculation", "defrost_front", "defrost_rear"))
        zone = _choice(c, "zone", v.get("zone", "all"), ("driver", "passenger", "rear", "all"))
        upd: dict[str, Any] = {}
        zones = ("driver", "passenger", "rear") if zone == "all" else (zone,)
        if "setpoint_c" in v:
            sp = _number(c, "setpoint_c", v["setpoint_c"], *SETPOINT_RANGE_C)
            upd.update({f"setpoint_{z}_c": sp for z in zones})
        if "fan" in v:
            if zone == "rear":
                raise ValueError("hvac.fan: the rear zone has no blower of its own (zones with a fan: driver, "
                                 "passenger, all)")
            fan = _int(c, "fan", v["fan"], 0, FAN_MAX)
            upd.update({f"fan_{z}": fan for z in zones if z != "rear"})
        for key, fld in (("on", "hvac_on"), ("ac", "ac_on"), ("recirculation", "recirculation"),
                         ("defrost_front", "defrost_front"), ("defrost_rear", "defrost_rear")):
            if key in v:
                upd[fld] = _bool(c, key, v[key])
        self._set(upd)

    def _window(self, v: dict[str, Any]) -> None:
        c = "window"
        _keys(c, v, ("window", "position_pct"), required=("window", "position_pct"))
        w = _choice(c, "window", v["window"], WINDOWS + ("all",))
        pos = _number(c, "position_pct", v["position_pct"], 0.0, 100.0)
        self._set({f"window_{x}_target_pct": pos for x in (WINDOWS if w == "all" else (w,))})

    def _seat_heater(self, v: dict[str, Any]) -> None:
        c = "seat_heater"
        _keys(c, v, ("seat", "level"), required=("seat", "level"))
        seat = _choice(c, "seat", v["seat"], SEATS + ("all",))
        level = _int(c, "level", v["level"], 0, SEAT_HEATER_MAX)
        seats = SEATS if seat == "all" else (seat,)
        self._set({f"seat_heater_{s}": level for s in seats})

    def _lights(self, v: dict[str, Any]) -> None:
        c = "lights"
        _keys(c, v, ("light", "on", "brightness_pct", "color"), required=("light",))
        light = _choice(c, "light", v["light"], ("cabin", "ambient", "reading"))
        upd: dict[str, Any] = {}
        if "on" in v:
            upd[f"{light}_light_on"] = _bool(c, "on", v["on"])
        if "color" in v:
            if light != "ambient":
                raise ValueError(f"lights.color: only the ambient light has a colour, got light={light!r}")
            upd["ambient_light_color"] = _choice(c, "color", v["color"], AMBIENT_COLORS)
        if "brightness_pct" in v:
            if light == "reading":
                raise ValueError("lights.brightness_pct: the reading lights have no dimmer")
            upd[f"{light}_light_brightness_pct"] = _number(c, "brightness_pct", v["brightness_pct"], 0.0, 100.0)
        self._set(upd)

    def _locks(self, v: dict[str, Any]) -> None:
        _keys("locks", v, ("locked",), required=("locked",))
        self._set({"doors_locked": _bool("locks", "locked", v["locked"])})

    def _trunk(self, v: dict[str, Any]) -> None:
        _keys("trunk", v, ("open",), required=("open",))
        want_open = _bool("trunk", "open", v["open"])
        s = self.state
        if want_open and s.trunk_state in ("closed", "closing"):
            self._set({"trunk_state": "opening"})
        elif not want_open and s.trunk_state in ("open", "opening"):
            self._set({"trunk_state": "closing"})

    def _media(self, v: dict[str, Any]) -> None:
        c = "media"
        _keys(c, v, ("state", "volume", "source"))
        upd: dict[str, Any] = {}
        if "state" in v:
            upd["media_state"] = _choice(c, "state", v["state"], MEDIA_STATES)
        if "source" in v:
            upd["media_source"] = _choice(c, "source", v["source"], MEDIA_SOURCES)
        if "volume" in v:
            upd["volume"] = _int(c, "volume", v["volume"], 0, VOLUME_MAX)
        self._set(upd)

    def _navigation(self, v: dict[str, Any]) -> None:
        _keys("navigation", v, ("active",), required=("active",))
        self._set({"nav_active": _bool("navigation", "active", v["active"])})

    def _phone(self, v: dict[str, Any]) -> None:
        _keys("phone", v, ("active",), required=("active",))
        self._set({"call_active": _bool("phone", "active", v["active"])})

    def _set(self, upd: dict[str, Any]) -> None:
        # Applied only after every field validated, so a bad command leaves the state untouched.
        for k, val in upd.items():
            setattr(self.state, k, val)

    # -- time ----------------------------------------------------------------------------------------
    def step(self, dt: float, speed_mps: float) -> None:
        """Advance ``dt`` seconds with the ego moving at ``speed_mps`` (sign ignored for the odometer)."""
        if not (dt >= 0.0 and math.isfinite(dt)):
            raise ValueError(f"step.dt must be a finite number >= 0, got {dt!r}")
        if not math.isfinite(speed_mps):
            raise ValueError(f"step.speed_mps must be finite, got {speed_mps!r}")
        s = self.state
        s.time_s += dt
        # windows: constant-rate motion toward the commanded position, stopping exactly on it
        move = WINDOW_RATE_PCT_S * dt
        for w in WINDOWS:
            pos = getattr(s, f"window_{w}_pct")
            tgt = getattr(s, f"window_{w}_target_pct")
            setattr(s, f"window_{w}_pct", min(pos + move, tgt) if tgt > pos else max(pos - move, tgt))
        # trunk
        rate = 100.0 / TRUNK_TIME_S * dt
        if s.trunk_state == "opening":
            s.trunk_position_pct = min(100.0, s.trunk_position_pct + rate)
            if s.trunk_position_pct >= 100.0:
                s.trunk_state = "open"
        elif s.trunk_state == "closing":
            s.trunk_position_pct = max(0.0, s.trunk_position_pct - rate)
            if s.trunk_position_pct <= 0.0:
                s.trunk_state = "closed"
        # cabin temperature: first order toward the HVAC setpoint (or outside when HVAC is off)
        if s.hvac_on:
            target = 0.5 * (s.setpoint_driver_c + s.setpoint_passenger_c)
            openness = sum(getattr(s, f"window_{w}_pct") for w in WINDOWS) / (100.0 * len(WINDOWS))
            target += OPEN_WINDOW_COUPLING * openness * (s.outside_temp_c - target)
        else:
            target = s.outside_temp_c
        s.cabin_temp_c += (target - s.cabin_temp_c) * (1.0 - math.exp(-dt / CABIN_TAU_S))
        # distance, fuel, range
        dist_km = abs(speed_mps) * dt / 1000.0
        s.odometer_km += dist_km
        s.trip_km += dist_km
        used_l = dist_km * self.consumption_l_per_100km / 100.0
        s.fuel_level_pct = max(0.0, s.fuel_level_pct - 100.0 * used_l / self.tank_capacity_l)
        self._update_range()

    def _update_range(self) -> None:
        s = self.state
        fuel_l = s.fuel_level_pct / 100.0 * self.tank_capacity_l
        s.range_km = fuel_l / self.consumption_l_per_100km * 100.0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict snapshot of the state (JSON/msgpack friendly)."""
        return asdict(self.state)
