"""The cockpit tool catalog and the safety guard: every rule of ../shared/specs/vehicle_functions.md, both sides of
each threshold, the confirmation dialogue, the rate limit, the decision log, and property tests that no accepted
call ever breaks a rule whatever the model proposes."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.catalog import TOOLS, TOOLS_JSON, ToolCallError, tool_schemas, validate_call
from cockpit.guard import GuardConfig, SafetyGuard, VehicleState

SPEC_TOOLS = ["set_temperature", "adjust_temperature", "set_fan_speed", "set_ac", "set_defrost", "set_window",
              "set_seat_heating", "set_lights", "set_volume", "adjust_volume", "media_control", "media_play",
              "navigate_to", "cancel_navigation", "call_contact", "set_adas_feature", "set_cruise_speed",
              "query_vehicle", "lock_doors", "open_trunk"]
STOPPED, CITY, FAST = VehicleState(speed_kph=0.0), VehicleState(speed_kph=50.0), VehicleState(speed_kph=120.0)


# ---------------------------------------------------------------------------------------------------- catalog
def test_catalog_has_the_spec_tools_and_the_published_json_is_current():
    assert list(TOOLS) == SPEC_TOOLS
    assert json.loads(TOOLS_JSON.read_text()) == tool_schemas()   # regenerate: python -m cockpit.catalog
    for t in tool_schemas():
        f = t["function"]
        assert t["type"] == "function" and f["parameters"]["type"] == "object"
        assert set(f["parameters"]["required"]) <= set(f["parameters"]["properties"])
        assert f["parameters"]["additionalProperties"] is False


def test_validate_fills_defaults_and_normalizes():
    assert validate_call("set_temperature", {"celsius": 21.5}).args == {"celsius": 21.5, "zone": "all"}
    assert validate_call("set_window", {"window": "Driver", "open_percent": 20.0}).args == {
        "window": "driver", "open_percent": 20}
    assert validate_call("media_play", {"query": " jazz "}).args == {"query": "jazz"}
    assert validate_call("cancel_navigation").args == {}
    assert validate_call("set_lights", {"target": "ambient", "on": True, "color": "blue"}).args["color"] == "blue"


@pytest.mark.parametrize("name,args,match,spoken", [
    ("set_temperature", {"celsius": 35}, r"set_temperature.celsius: 35 is out of range \[16, 30\]", "16 to 30 degrees"),
    ("set_temperature", {"celsius": 21.3}, "not a multiple of 0.5", "in steps of 0.5"),
    ("adjust_temperature", {"delta_celsius": 0}, "must not be zero", "not zero"),
    ("set_fan_speed", {"level": 2.5}, "expected a whole number", "0 to 7"),
    ("set_fan_speed", {"level": True}, "expected a integer", "0 to 7"),
    ("set_fan_speed", {"level": float("nan")}, "expected a integer", "0 to 7"),
    ("set_ac", {"on": 1}, "expected true or false", "on or off"),
    ("set_window", {"window": "sunroof", "open_percent": 10}, "'sunroof' is not one of", "rear_left"),
    ("set_window", {"window": "driver"}, "missing argument 'open_percent'", "0 to 100 percent"),
    ("set_volume", {"percent": 50, "balance": 3}, r"unknown argument\(s\) \['balance'\]", "did not get"),
    ("set_lights", {"target": "reading", "on": True, "color": "red"}, "only the ambient light", "ambient"),
    ("set_cruise_speed", {"kph": 160}, "out of range", "30 to 150 kilometres per hour"),
    ("launch_rocket", {}, "unknown tool 'launch_rocket'", "not something I can do"),
    ("set_volume", [50], "arguments must be an object", "did not get"),
])
def test_validate_errors_name_the_field_and_speak_the_range(name, args, match, spoken):
    with pytest.raises(ToolCallError, match=match) as exc:
        validate_call(name, args)
    assert spoken in exc.value.spoken


# ------------------------------------------------------------------------------------------------------ rules
def decide(name, args=None, state=STOPPED, guard=None, t=0.0):
    return (guard or SafetyGuard()).propose(name, args or {}, state, t)


def test_trunk_and_unlock_only_when_stopped():
    assert decide("open_trunk").outcome == "accept"
    for st_ in (CITY, VehicleState(speed_kph=0.1), VehicleState(speed_kph=-3.0), VehicleState(speed_kph=None),
                VehicleState(speed_kph=float("nan"))):
        d = decide("open_trunk", state=st_)
        assert (d.outcome, d.rule, d.calls) == ("refuse", "moving_trunk", ())
        assert decide("lock_doors", {"locked": False}, st_).rule == "moving_unlock"
        assert decide("lock_doors", {"locked": True}, st_).outcome == "accept"
    assert decide("lock_doors", {"locked": False}).outcome == "accept"


def test_window_above_20_percent_over_100_kph_needs_a_yes():
    assert decide("set_window", {"window": "driver", "open_percent": 100}, VehicleState(speed_kph=100.0)).outcome == "accept"
    assert decide("set_window", {"window": "driver", "open_percent": 20}, FAST).outcome == "accept"
    g = SafetyGuard()
    d = g.propose("set_window", {"window": "all", "open_percent": 100}, FAST, 0.0)
    assert (d.outcome, d.rule, d.calls) == ("confirm", "window_speed", ())
    assert d.reply == "Open all windows to 100 percent at 120 kilometres per hour?"
    d = g.answer("Yes please!", FAST, 3.0)
    assert (d.outcome, d.rule) == ("accept", "confirmed") and d.calls[0].args == {"window": "all", "open_percent": 100}
    assert g.answer("yes", FAST, 4.0) is None                              # nothing pending any more
    g.propose("set_window", {"window": "driver", "open_percent": 50}, FAST, 10.0)
    assert g.answer("what?", FAST, 11.0) is None and g.pending             # neither yes nor no: still pending
    assert g.answer("no", FAST, 12.0).rule == "declined"
    g.propose("set_window", {"window": "driver", "open_percent": 50}, FAST, 20.0)
    assert g.answer(True, FAST, 20.0 + 16.0).rule == "confirm_timeout"
    g.propose("set_window", {"window": "driver", "open_percent": 50}, FAST, 40.0)
    g.propose("set_volume", {"percent": 10}, FAST, 41.0)                   # a new request drops the question
    assert not g.pending


def test_emergency_braking_stays_on_while_moving():
    off = {"feature": "emergency_braking", "enabled": False}
    assert decide("set_adas_feature", off, CITY).rule == "aeb_off_moving"
    assert decide("set_adas_feature", off, STOPPED).outcome == "accept"
    for feature in ("lane_keeping", "adaptive_cruise", "blind_spot_warning", "emergency_braking"):
        assert decide("set_adas_feature", {"feature": feature, "enabled": True}, FAST).outcome == "accept"


def test_cruise_speed_needs_adaptive_cruise_and_a_yes_turns_it_on():
    on = VehicleState(speed_kph=80.0, adaptive_cruise=True)
    assert decide("set_cruise_speed", {"kph": 100}, on).outcome == "accept"
    g = SafetyGuard()
    d = g.propose("set_cruise_speed", {"kph": 100}, CITY, 0.0)
    assert (d.outcome, d.rule) == ("clarify", "cruise_needs_acc") and "turn it on first" in d.reply.lower()
    d = g.answer("yes", CITY, 1.0)
    assert d.outcome == "accept" and [c.to_json() for c in d.calls] == [
        {"tool": "set_adas_feature", "args": {"feature": "adaptive_cruise", "enabled": True}},
        {"tool": "set_cruise_speed", "args": {"kph": 100}}]


@pytest.mark.parametrize("name", ["steer_left", "apply_brake", "accelerate", "set_gear", "change_lane_left",
                                  "disable_emergency_braking", "SlowDown".lower().replace("d", "_d")])
def test_driving_controls_are_refused_by_the_guard(name):
    d = decide(name, {"angle": 30}, CITY)
    assert (d.outcome, d.calls) == ("refuse", ())
    assert d.rule in ("driving_control", "schema")


def test_rate_limit_counts_actuating_calls_in_a_sliding_window():
    g = SafetyGuard()
    for i in range(5):
        assert g.propose("set_fan_speed", {"level": i}, CITY, float(i)).outcome == "accept"
    assert g.propose("query_vehicle", {"item": "speed"}, CITY, 5.0).outcome == "accept"   # reading is not actuating
    d = g.propose("set_fan_speed", {"level": 6}, CITY, 9.9)
    assert (d.outcome, d.rule) == ("refuse", "rate_limit")
    assert g.propose("set_fan_speed", {"level": 6}, CITY, 10.0).outcome == "accept"      # the t=0 call left the window


def test_every_decision_is_logged_to_jsonl(tmp_path):
    g = SafetyGuard(log_path=tmp_path / "logs" / "guard.jsonl")
    g.propose("set_temperature", {"celsius": 99}, CITY, 0.0)
    g.propose("open_trunk", {}, CITY, 1.0)
    g.propose("set_ac", {"on": True}, CITY, 2.0)
    lines = [json.loads(x) for x in (tmp_path / "logs" / "guard.jsonl").read_text().splitlines()]
    assert [(e["outcome"], e["rule"]) for e in lines] == [("refuse", "schema"), ("refuse", "moving_trunk"),
                                                          ("accept", "ok")]
    assert lines == g.log and "out of range" in lines[0]["detail"]
    assert lines[2]["calls"] == [{"tool": "set_ac", "args": {"on": True}}]


def test_vehicle_state_from_eval_overrides():
    s = VehicleState.from_overrides({"speed_kph": 50, "adas.adaptive_cruise": True, "gear": "D"})
    assert (s.speed_kph, s.adaptive_cruise, s.emergency_braking) == (50.0, True, True)
    assert VehicleState.from_overrides({"adas": {"lane_keeping": True}}).lane_keeping
    with pytest.raises(ValueError, match="vehicle_state.speed_kph: expected a number"):
        VehicleState.from_overrides({"speed_kph": "fast"})
    with pytest.raises(ValueError, match="adas.adaptive_cruise: expected true or false"):
        VehicleState.from_overrides({"adas.adaptive_cruise": "yes"})
    with pytest.raises(ValueError, match="GuardConfig"):
        GuardConfig(max_actuating_calls=0)


# ----------------------------------------------------------------------------------------- property tests
values = st.one_of(st.none(), st.booleans(), st.integers(-200, 200), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from(["driver", "all", "ambient", "front", "emergency_braking", "adaptive_cruise",
                                    "speed", "pause", "red", "", "x"]))
arg_names = st.sampled_from(sorted({a.name for t in TOOLS.values() for a in t.args} | {"bogus"}))
VALID = [("open_trunk", {}), ("lock_doors", {"locked": False}), ("lock_doors", {"locked": True}),
         ("set_adas_feature", {"feature": "emergency_braking", "enabled": False}),
         ("set_cruise_speed", {"kph": 90}), ("set_fan_speed", {"level": 3}), ("query_vehicle", {"item": "range"}),
         ("set_window", {"window": "passenger", "open_percent": 60}), ("set_window", {"window": "all", "open_percent": 20})]
proposal = st.one_of(st.sampled_from(VALID),           # calls that pass the schema, so the state rules are exercised
                     st.tuples(st.sampled_from(SPEC_TOOLS + ["steer", "brake_now", "unknown_tool"]),
                               st.dictionaries(arg_names, values, max_size=4)))
speeds = st.one_of(st.none(), st.floats(-20, 250), st.sampled_from([0.0, 100.0, 100.01, float("nan")]))
states = st.builds(VehicleState, speed_kph=speeds, adaptive_cruise=st.booleans())
answers = st.sampled_from([None, "yes", "no", "maybe"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(proposal, states, answers, st.floats(0.0, 4.0)), min_size=1, max_size=25))
def test_no_accepted_call_ever_breaks_a_rule(steps):
    g, t, accepted = SafetyGuard(), 0.0, []
    for (name, args), state, answer, dt in steps:
        t += dt
        decisions = [g.propose(name, args, state, t)]
        if answer is not None:
            decisions.append(g.answer(answer, state, t))
        for d in decisions:
            if d is None:
                continue
            assert d.outcome in ("accept", "refuse", "clarify", "confirm") and d.reply is not None
            assert (d.outcome == "accept") == bool(d.calls)
            for c in d.calls:
                assert validate_call(c.name, c.args) == c                       # schema-valid, ranges kept
                a = c.args
                assert not (c.name == "open_trunk" and state.moving)
                assert not (c.name == "lock_doors" and not a["locked"] and state.moving)
                assert not (c.name == "set_adas_feature" and a == {"feature": "emergency_braking", "enabled": False}
                            and state.moving)
                if c.name == "set_window" and a["open_percent"] > 20 and state.faster_than(100.0):
                    assert d.rule == "confirmed"                                # only after a yes
                if c.name == "set_cruise_speed" and not state.adaptive_cruise:
                    assert d.rule == "confirmed" and d.calls[0].args == {"feature": "adaptive_cruise", "enabled": True}
                if TOOLS[c.name].actuating:
                    accepted.append(t)
    for i, ti in enumerate(accepted):                                       # never more than 5 in any 10 s
        assert sum(1 for tj in accepted[i:] if tj - ti < 10.0) <= 5
