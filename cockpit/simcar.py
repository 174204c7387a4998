"""A simulated car for the cockpit commands (`say`, `chat`, `eval`): the simulator's body and chassis ECUs on one
side of a CAN link, the cockpit's `VehicleLink` on the other, frames handed over in memory with the same DBC
encoding and E2E protection as on a bus.

Why the real ECUs and not a dict: an evaluation case's `vehicle_state` ("speed_kph": 120, "adas.adaptive_cruise":
false, "fuel_percent": 8) must reach the guard and `query_vehicle` the way it would in the car - as CAN state -
and an accepted call must change the simulated cabin, which the caller can inspect (`cabin.state`).
"""
from __future__ import annotations

from typing import Any, Mapping

import can

from canbus.car_interface import DriverSwitches
from vehicle_sim.cabin import Cabin
from vehicle_sim.ecus import ChassisSnapshot, VehicleEcus

from .evaluation import flat_vehicle_state
from .vehicle_link import VehicleLink

#: vehicle_state keys the simulated car understands (the spec's examples plus the ADAS switches).
STATE_KEYS = ("speed_kph", "gear", "cabin_temperature_c", "outside_temperature_c", "fuel_percent", "range_km",
              "odometer_km", "adas.adaptive_cruise", "adas.lane_keeping", "adas.emergency_braking",
              "adas.blind_spot_warning", "adas.cruise_speed_kph")
_GEARS = {"P": 0, "R": 1, "N": 2, "D": 3}
_GEAR_NAMES = {"p": "P", "park": "P", "r": "R", "reverse": "R", "n": "N", "neutral": "N", "d": "D", "drive": "D"}


class SimCar:
    """Cabin + ECUs + link with a clock; `tick()` exchanges state frames, `send(frames)` delivers commands."""

    def __init__(self, vehicle_state: Mapping[str, Any] | None = None, seed: int = 3) -> None:
        st = flat_vehicle_state(dict(vehicle_state or {}))      # {"adas": {...}} as "adas.*" keys
        unknown = sorted(set(st) - set(STATE_KEYS))
        if unknown:
            raise ValueError(f"vehicle_state: unknown key(s) {unknown} (known: {list(STATE_KEYS)})")
        num = lambda k, d=None: d if k not in st else _number(k, st[k])           # noqa: E731
        self.cabin = Cabin(seed=seed, outside_temp_c=num("outside_temperature_c", 12.0),
                           fuel_level_pct=num("fuel_percent"), odometer_km=num("odometer_km"))
        if "cabin_temperature_c" in st:
            self.cabin.state.cabin_temp_c = num("cabin_temperature_c")
        if "range_km" in st:                                      # implies the fuel level at this consumption
            litres = num("range_km") * self.cabin.consumption_l_per_100km / 100.0
            self.cabin.state.fuel_level_pct = min(100.0, 100.0 * litres / self.cabin.tank_capacity_l)
        gear = st.get("gear", "D")
        gear = _GEAR_NAMES.get(gear.strip().lower(), gear) if isinstance(gear, str) else gear
        if gear not in _GEARS:
            raise ValueError(f"vehicle_state.gear: expected one of {list(_GEARS)} (or park, reverse, neutral, "
                             f"drive), got {st.get('gear')!r}")
        self.chassis = ChassisSnapshot(speed_mps=num("speed_kph", 0.0) / 3.6, gear=_GEARS[gear])
        self.switches = DriverSwitches(acc_enabled=_flag(st, "adas.adaptive_cruise", False),
                                       acc_set_speed_kph=num("adas.cruise_speed_kph", 0.0),
                                       lka_enabled=_flag(st, "adas.lane_keeping", False),
                                       aeb_enabled=_flag(st, "adas.emergency_braking", True),
                                       bsw_enabled=_flag(st, "adas.blind_spot_warning", True))
        self.ecus = VehicleEcus(self.cabin)
        self.link = VehicleLink()
        self.t = 0.0
        self.tick()

    def tick(self, dt: float = 0.1) -> None:
        """Advance the clock; the ECUs apply switch requests and send their state frames to the link."""
        self.t += dt
        self.switches = self.ecus.apply_switch_requests(self.switches, self.chassis.speed_mps)
        self.cabin.step(dt, self.chassis.speed_mps)
        self.link.receive(self.ecus.transmit(self.t, self.chassis, self.switches), self.t)

    def advance(self, seconds: float, dt: float = 0.1) -> None:
        """Run the car for `seconds` (state frames keep coming, the cabin follows its commands)."""
        for _ in range(int(round(seconds / dt))):
            self.tick(dt)

    def send(self, frames: list[can.Message]) -> None:
        self.ecus.receive(frames, self.t)


def _number(key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"vehicle_state.{key}: expected a number, got {v!r}")
    return float(v)


def _flag(st: dict[str, Any], key: str, default: bool) -> bool:
    v = st.get(key, default)
    if not isinstance(v, bool):
        raise ValueError(f"vehicle_state.{key}: expected true or false, got {v!r}")
    return v
