"""Behavioural tests of the body/cockpit ECU model."""

from __future__ import annotations

import json

import pytest

from vehicle_sim.cabin import CABIN_TAU_S, Cabin, CabinState


def run(cabin: Cabin, seconds: float, speed: float = 0.0, dt: float = 0.1) -> None:
    for _ in range(int(round(seconds / dt))):
        cabin.step(dt, speed)


def test_window_moves_to_target_at_rate_and_stops():
    c = Cabin(seed=1)
    c.apply("window", {"window": "fl", "position_pct": 50})
    run(c, 1.0)
    assert c.state.window_fl_pct == pytest.approx(20.0)  # ~20 %/s
    assert c.state.window_fr_pct == 0.0
    run(c, 5.0)
    assert c.state.window_fl_pct == 50.0  # stops exactly on target
    c.apply("window", {"window": "all", "position_pct": 0})
    run(c, 1.0)
    assert c.state.window_fl_pct == pytest.approx(30.0)
    run(c, 3.0)
    assert all(c.as_dict()[f"window_{w}_pct"] == 0.0 for w in ("fl", "fr", "rl", "rr"))


def test_cabin_temperature_approaches_setpoint_with_hvac_and_outside_without():
    c = Cabin(seed=3, outside_temp_c=32.0)
    c.apply("hvac", {"on": True, "setpoint_c": 20, "ac": True})
    start = c.state.cabin_temp_c
    run(c, CABIN_TAU_S, dt=0.5)
    # one time constant: ~63 % of the way
    frac = (start - c.state.cabin_temp_c) / (start - 20.0)
    assert frac == pytest.approx(1 - 1 / 2.718281828, abs=0.02)
    run(c, 8 * CABIN_TAU_S, dt=1.0)
    assert c.state.cabin_temp_c == pytest.approx(20.0, abs=0.05)
    c.apply("hvac", {"on": False})
    run(c, 10 * CABIN_TAU_S, dt=1.0)
    assert c.state.cabin_temp_c == pytest.approx(32.0, abs=0.05)


def test_dual_zone_setpoints():
    c = Cabin()
    c.apply("hvac", {"zone": "driver", "setpoint_c": 18.5, "fan": 5})
    assert c.state.setpoint_driver_c == 18.5 and c.state.setpoint_passenger_c == 21.0
    assert c.state.fan_driver == 5 and c.state.fan_passenger == 3


def test_odometer_fuel_and_range_integrate_speed():
    c = Cabin(seed=0, odometer_km=1000.0, fuel_level_pct=50.0)
    r0 = c.state.range_km
    assert r0 == pytest.approx(25.0 / 6.5 * 100.0)
    run(c, 100.0, speed=20.0, dt=0.01)  # 2 km
    assert c.state.odometer_km == pytest.approx(1002.0)
    assert c.state.trip_km == pytest.approx(2.0)
    assert c.state.fuel_level_pct == pytest.approx(50.0 - 100 * 0.13 / 50.0)
    assert c.state.range_km == pytest.approx(r0 - 2.0)
    run(c, 10.0, speed=-5.0)  # reversing still counts distance
    assert c.state.odometer_km == pytest.approx(1002.05)


def test_trunk_takes_about_two_seconds():
    c = Cabin()
    c.apply("trunk", {"open": True})
    run(c, 1.0)
    assert c.state.trunk_state == "opening" and 40 < c.state.trunk_position_pct < 60
    run(c, 1.1)
    assert c.state.trunk_state == "open" and c.state.trunk_position_pct == 100.0
    c.apply("trunk", {"open": False})
    run(c, 2.1)
    assert c.state.trunk_state == "closed"


def test_other_commands_apply():
    c = Cabin()
    c.apply("seat_heater", {"seat": "passenger", "level": 2})
    c.apply("lights", {"light": "ambient", "on": True, "brightness_pct": 30})
    c.apply("locks", {"locked": 1})
    c.apply("media", {"state": "playing", "volume": 25})
    s = c.state
    assert (s.seat_heater_passenger, s.seat_heater_driver) == (2, 0)
    assert s.ambient_light_on and s.ambient_light_brightness_pct == 30 and not s.cabin_light_on
    assert s.doors_locked is True
    assert (s.media_state, s.volume) == ("playing", 25)


@pytest.mark.parametrize(
    "cmd, values, field",
    [
        ("hvac", {"setpoint_c": 35}, "hvac.setpoint_c"),
        ("hvac", {"fan": 8}, "hvac.fan"),
        ("hvac", {"fan": 2.5}, "hvac.fan"),
        ("hvac", {"ac": "yes"}, "hvac.ac"),
        ("hvac", {"zone": "trunk"}, "hvac.zone"),
        ("hvac", {"zone": "rear", "fan": 3}, "hvac.fan"),
        ("lights", {"light": "cabin", "color": "red"}, "lights.color"),
        ("lights", {"light": "ambient", "color": "mauve"}, "lights.color"),
        ("lights", {"light": "reading", "brightness_pct": 50}, "lights.brightness_pct"),
        ("media", {"source": "tape"}, "media.source"),
        ("navigation", {}, "navigation.active"),
        ("phone", {"active": "maybe"}, "phone.active"),
        ("hvac", {"temperature": 20}, "hvac.temperature"),
        ("window", {"window": "fl", "position_pct": 120}, "window.position_pct"),
        ("window", {"window": "xx", "position_pct": 10}, "window.window"),
        ("window", {"position_pct": 10}, "window.window"),
        ("seat_heater", {"seat": "driver", "level": 4}, "seat_heater.level"),
        ("lights", {"light": "cabin", "brightness_pct": -1}, "lights.brightness_pct"),
        ("locks", {"locked": 2}, "locks.locked"),
        ("trunk", {"open": None}, "trunk.open"),
        ("media", {"volume": 31}, "media.volume"),
        ("media", {"state": "rewinding"}, "media.state"),
        ("media", {"volume": True}, "media.volume"),
    ],
)
def test_invalid_values_rejected_with_named_field(cmd, values, field):
    c = Cabin()
    before = c.as_dict()
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        c.apply(cmd, values)
    assert c.as_dict() == before  # nothing half-applied


def test_unknown_command_and_bad_step():
    c = Cabin()
    with pytest.raises(ValueError, match="unknown command"):
        c.apply("sunroof", {})
    with pytest.raises(ValueError, match="dt"):
        c.step(-1.0, 0.0)


def test_seeded_initial_conditions_are_deterministic():
    a, b, other = Cabin(seed=7), Cabin(seed=7), Cabin(seed=8)
    assert a.as_dict() == b.as_dict()
    assert a.state.outside_temp_c != other.state.outside_temp_c
    for c in (a, b):
        c.apply("window", {"window": "rr", "position_pct": 40})
        run(c, 3.0, speed=13.0)
    assert a.as_dict() == b.as_dict()
    json.dumps(a.as_dict())  # serialisable
    assert set(a.as_dict()) == set(CabinState.__dataclass_fields__)
