"""The cockpit's CAN link against the simulator's real body ECUs: state frames in, guard-accepted calls out as DBC
command frames that change the simulated cabin, other settings kept, unknown state never overwritten."""
from __future__ import annotations

import pytest

from cockpit.catalog import validate_call
from cockpit.guard import SafetyGuard
from cockpit.simcar import SimCar
from cockpit.vehicle_link import NotWired, StateUnavailable, VehicleLink


class Car(SimCar):
    """The simulated car's ECUs on one side, the cockpit's link on the other (cockpit.simcar), plus `do`: one
    validated call straight to the ECUs, then a tick so the link sees the new state."""

    def __init__(self, speed_kph: float = 0.0) -> None:
        super().__init__({"speed_kph": speed_kph})

    def do(self, tool: str, /, **args):
        frames = self.link.frames_for(validate_call(tool, args), self.t)
        self.ecus.receive(frames, self.t)
        assert not self.ecus.body_errors, self.ecus.body_errors
        self.tick()
        return frames


def test_climate_commands_change_one_thing_and_keep_the_rest():
    car = Car()
    s = car.cabin.state
    before = (s.setpoint_passenger_c, s.fan_driver, s.fan_passenger, s.ac_on)
    car.do("set_temperature", celsius=23.5, zone="driver")
    assert s.setpoint_driver_c == 23.5 and (s.setpoint_passenger_c, s.fan_driver, s.fan_passenger, s.ac_on) == before
    car.do("adjust_temperature", delta_celsius=-2, zone="all")
    assert (s.setpoint_driver_c, s.setpoint_passenger_c) == (21.5, before[0] - 2)
    car.do("adjust_temperature", delta_celsius=5)
    car.do("adjust_temperature", delta_celsius=5)
    assert s.setpoint_driver_c == 30.0                      # clamped at the top of the range, not an error
    car.do("set_fan_speed", level=6)
    car.do("set_ac", on=True)
    car.do("set_defrost", target="rear", on=True)
    assert (s.fan_driver, s.fan_passenger, s.ac_on, s.defrost_rear, s.defrost_front) == (6, 6, True, True, False)


def test_windows_seats_lights_locks_trunk_and_media():
    car = Car()
    s = car.cabin.state
    car.do("set_window", window="passenger", open_percent=40)
    assert (s.window_fr_target_pct, s.window_fl_target_pct, s.window_rl_target_pct) == (40, 0, 0)
    car.do("set_window", window="all", open_percent=20)
    assert {s.window_fl_target_pct, s.window_fr_target_pct, s.window_rl_target_pct, s.window_rr_target_pct} == {20}
    car.do("set_seat_heating", seat="passenger", level=2)
    assert (s.seat_heater_passenger, s.seat_heater_driver) == (2, 0)
    car.do("set_lights", target="interior", on=True)
    car.do("set_lights", target="ambient", on=True)
    assert s.cabin_light_on and s.ambient_light_on
    car.do("lock_doors", locked=True)
    assert s.doors_locked
    car.do("open_trunk")
    assert s.trunk_state in ("opening", "open")
    car.do("set_volume", percent=50)
    assert s.volume == 15
    car.do("adjust_volume", delta_percent=10)
    assert s.volume == 18
    car.do("adjust_volume", delta_percent=-1)               # smaller than a step: still one step quieter
    assert s.volume == 17
    car.do("media_control", action="resume")
    assert s.media_state == "playing"
    car.do("media_control", action="pause")
    assert s.media_state == "paused" and s.volume == 17


def test_queries_come_from_live_frames():
    car = Car(speed_kph=72.0)
    assert car.link.query("speed", car.t).value == pytest.approx(72.0, abs=0.1)
    out = car.link.query("outside_temperature", car.t)
    assert out.value == 12.0 and out.spoken == "The outside temperature is 12 degrees."
    assert car.link.query("range", car.t).value == round(car.cabin.state.range_km)
    assert "does not report" in car.link.query("tire_pressure", car.t).spoken
    assert car.link.frames_for(validate_call("query_vehicle", {"item": "speed"}), car.t) == []
    assert "don't have a current" in VehicleLink().query("speed", 0.0).spoken


def test_stale_or_missing_state_is_never_overwritten_and_unwired_tools_say_so():
    link = VehicleLink()
    with pytest.raises(StateUnavailable, match="HVAC_STATE is never received"):
        link.frames_for(validate_call("set_ac", {"on": True}), 0.0)
    car = Car()
    with pytest.raises(StateUnavailable, match=r"WINDOW_STATE is 5.\d s old"):
        car.link.frames_for(validate_call("set_window", {"window": "driver", "open_percent": 10}), car.t + 5.0)
    with pytest.raises(NotWired, match="no colour 'mauve'"):
        car.link.frames_for(validate_call("set_lights", {"target": "ambient", "on": True, "color": "mauve"}), car.t)


def test_colour_words_drivers_use_map_to_the_dbc_colours():
    car = Car()
    for word, colour in [("violet", "purple"), ("Turquoise", "cyan"), ("purple", "purple"), ("magenta", "pink")]:
        car.do("set_lights", target="ambient", on=True, color=word)
        assert (car.cabin.state.ambient_light_on, car.cabin.state.ambient_light_color) == (True, colour), word


def test_guard_reads_speed_from_the_bus():
    car = Car(speed_kph=30.0)
    guard = SafetyGuard()
    state = car.link.vehicle_state(car.t)
    assert state.speed_kph == pytest.approx(30.0, abs=0.1) and not state.adaptive_cruise
    assert guard.propose("open_trunk", {}, state, car.t).rule == "moving_trunk"
    assert car.link.vehicle_state(car.t + 5.0).speed_kph is None            # stale: unknown, treated as moving
    stopped = Car()
    d = guard.propose("open_trunk", {}, stopped.link.vehicle_state(stopped.t), stopped.t)
    assert d.outcome == "accept"
    stopped.ecus.receive(stopped.link.frames_for(d.calls[0], stopped.t), stopped.t)
    assert stopped.cabin.state.trunk_state in ("opening", "open")


def test_rear_zone_rear_seats_reading_light_colour_and_head_unit_requests():
    car = Car()
    s = car.cabin.state
    car.do("set_temperature", celsius=19, zone="rear")
    assert (s.setpoint_rear_c, s.setpoint_driver_c) == (19.0, 21.0)
    car.do("set_temperature", celsius=24)                          # zone all: the rear zone too
    assert (s.setpoint_driver_c, s.setpoint_passenger_c, s.setpoint_rear_c) == (24.0, 24.0, 24.0)
    car.do("set_seat_heating", seat="rear_right", level=3)
    assert (s.seat_heater_rear_right, s.seat_heater_rear_left, s.seat_heater_driver) == (3, 0, 0)
    car.do("set_lights", target="reading", on=True)
    car.do("set_lights", target="ambient", on=True, color="Blue")
    assert s.reading_light_on and s.ambient_light_on and s.ambient_light_color == "blue" and not s.cabin_light_on
    car.do("media_play", query="jazz", source="bluetooth")
    assert (s.media_state, s.media_source) == ("playing", "bluetooth")
    car.do("navigate_to", destination="the airport")
    car.do("call_contact", name="Alex")
    assert s.nav_active and s.call_active
    car.do("cancel_navigation")
    assert not s.nav_active and s.call_active and s.media_source == "bluetooth"


def test_simulator_tables_follow_the_dbc_value_tables():
    from vehicle_sim.cabin import AMBIENT_COLORS, MEDIA_SOURCES

    link = VehicleLink()
    assert sorted(link.colors, key=link.colors.get) == list(AMBIENT_COLORS)
    assert sorted(link.sources, key=link.sources.get) == list(MEDIA_SOURCES)


def test_adas_switches_by_voice_reach_the_switch_ecu_and_the_guard_sees_them():
    car = Car(speed_kph=80.0)
    guard = SafetyGuard()
    state = car.link.vehicle_state(car.t)
    assert (state.adaptive_cruise, state.emergency_braking) == (False, True)
    d = guard.propose("set_cruise_speed", {"kph": 110}, state, car.t)
    assert d.outcome == "clarify"
    d = guard.answer("yes", state, car.t)
    assert d.outcome == "accept" and [c.name for c in d.calls] == ["set_adas_feature", "set_cruise_speed"]
    for call in d.calls:
        car.ecus.receive(car.link.frames_for(call, car.t), car.t)
    car.tick()
    assert (car.switches.acc_enabled, car.switches.acc_set_speed_kph) == (True, 110.0)
    state = car.link.vehicle_state(car.t)
    assert state.adaptive_cruise                                          # read back from CRUISE_BUTTONS
    assert guard.propose("set_cruise_speed", {"kph": 90}, state, car.t + 1).outcome == "accept"
    car.do("set_adas_feature", feature="lane_keeping", enabled=True)
    assert car.switches.lka_enabled and car.link.vehicle_state(car.t).lane_keeping
    car.do("set_adas_feature", feature="adaptive_cruise", enabled=False)
    assert not car.switches.acc_enabled and car.switches.acc_set_speed_kph == 110.0 and car.switches.aeb_enabled
    assert car.switches.bsw_enabled and car.link.vehicle_state(car.t).blind_spot_warning
    car.do("set_adas_feature", feature="blind_spot_warning", enabled=False)           # BSW_SWITCH_CMD = 2
    assert not car.switches.bsw_enabled and not car.link.vehicle_state(car.t).blind_spot_warning
    assert car.switches.lka_enabled and car.switches.aeb_enabled                      # the others are kept
    car.do("set_adas_feature", feature="blind_spot_warning", enabled=True)
    assert car.switches.bsw_enabled and car.link.vehicle_state(car.t).blind_spot_warning


def test_switch_ecu_keeps_emergency_braking_on_while_moving_even_if_asked():
    """Defence in depth: a frame that got past the guard (here built by hand) cannot switch AEB off at speed."""
    off = validate_call("set_adas_feature", {"feature": "emergency_braking", "enabled": False})
    moving = Car(speed_kph=50.0)
    moving.ecus.receive(moving.link.frames_for(off, moving.t), moving.t)
    moving.tick()
    assert moving.switches.aeb_enabled and moving.ecus.switch_rejections == 1
    stopped = Car()
    stopped.ecus.receive(stopped.link.frames_for(off, stopped.t), stopped.t)
    stopped.tick()
    assert not stopped.switches.aeb_enabled and stopped.ecus.switch_rejections == 0
