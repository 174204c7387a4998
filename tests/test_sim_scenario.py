"""Scenario loading: the library loads, and every kind of mistake names file, field path and problem."""
from __future__ import annotations

import copy

import pytest
import yaml

from vehicle_sim.scenario import (BrakeAction, LaneChangeAction, ScenarioError, list_scenarios, load_scenario,
                                  resolve_scenario, scenario_library_dir)

BASE = {
    "name": "unit_case",
    "duration_s": 5.0,
    "road": {"lanes": 2, "segments": [{"length_m": 300, "curvature_1pm": 0.0}]},
    "ego": {"speed_kph": 50, "lane": 0, "s_m": 10.0},
    "actors": [
        {"id": "gvt", "type": "car", "lane": 0, "s_m": 60.0, "speed_kph": 20,
         "behavior": {"type": "lane_follow",
                      "actions": [{"trigger": {"time_s": 1.0}, "brake": {"decel_mps2": 4.0, "ramp_s": 0.5}}]}},
        {"id": "cutter", "type": "car", "lane": 1, "s_m": 40.0, "speed_kph": 30,
         "behavior": {"type": "lane_follow",
                      "actions": [{"trigger": {"gap_m": 10.0}, "lane_change": {"to_lane": 0, "duration_s": 2.0}}]}},
    ],
    "end": {"ego_slower_than": "gvt"},
}


def test_library_scenarios_all_load():
    names = list_scenarios()
    assert names == sorted(names) and len(names) >= 1
    for n in names:
        sc = load_scenario(n)
        assert sc.name and sc.duration_s > 0
        assert resolve_scenario(n).is_relative_to(scenario_library_dir())


def test_dict_loads_with_defaults():
    sc = load_scenario(copy.deepcopy(BASE))
    assert sc.dt_s == 0.01 and sc.road.lane_width_m == 3.5 and sc.road.edge_marking == "solid"
    assert sc.ego.adas.aeb is True and sc.ego.driver.model == "robot"
    gvt, cutter = sc.actors
    assert (gvt.size.length_m, gvt.size.width_m) == (4.5, 1.8) and gvt.color is None
    assert isinstance(gvt.behavior.actions[0].action, BrakeAction)
    assert isinstance(cutter.behavior.actions[0].action, LaneChangeAction)
    assert sc.success.no_collision and sc.end.collision


def _mutate(fn):
    d = copy.deepcopy(BASE)
    fn(d)
    return d


CASES = [
    ("unknown key", lambda d: d["ego"].update(speeed_kph=3), "ego.speeed_kph", "unknown key"),
    ("unknown top key", lambda d: d.update(foo=1), "foo", "unknown key"),
    ("wrong type", lambda d: d.update(duration_s="long"), "duration_s", "expected a number"),
    ("bool as number", lambda d: d["road"].update(lanes=True), "road.lanes", "expected an integer"),
    ("out of range", lambda d: d["road"].update(lanes=7), "road.lanes", "out of range"),
    ("negative duration", lambda d: d.update(duration_s=0), "duration_s", "out of range"),
    ("missing required", lambda d: d["ego"].pop("speed_kph"), "ego.speed_kph", "missing required"),
    ("missing actor s", lambda d: d["actors"][1].pop("s_m"), "actors[1].s_m", "missing required"),
    ("duplicate id", lambda d: d["actors"][1].update(id="gvt"), "actors[1].id", "duplicate actor id"),
    ("unknown end actor", lambda d: d["end"].update(ego_slower_than="ghost"), "end.ego_slower_than", "unknown actor"),
    ("bad trigger", lambda d: d["actors"][0]["behavior"]["actions"][0].update(trigger={"when": 1}),
     "actors[0].behavior.actions[0].trigger.when", "unknown key"),
    ("two triggers", lambda d: d["actors"][0]["behavior"]["actions"][0].update(trigger={"time_s": 1, "gap_m": 3}),
     "actors[0].behavior.actions[0].trigger", "exactly one trigger"),
    ("bad marking", lambda d: d["road"].update(markings={"edge": "dotted"}), "road.markings.edge", "invalid value"),
    ("bad type", lambda d: d["actors"][0].update(type="bus"), "actors[0].type", "invalid value"),
    ("lane off road", lambda d: d["actors"][0].update(lane=2), "actors[0].lane", "out of range"),
    ("bad name", lambda d: d.update(name="Bad Name"), "name", "must match"),
    ("bad colour", lambda d: d["actors"][0].update(color=[0, 300, 0]), "actors[0].color", "0..255"),
    ("idm on lane_follow", lambda d: d["actors"][0]["behavior"].update(idm={"desired_speed_kph": 50}),
     "actors[0].behavior.idm", "only allowed"),
    ("two actions", lambda d: d["actors"][0]["behavior"]["actions"][0].update(set_speed={"speed_kph": 3}),
     "actors[0].behavior.actions[0]", "exactly one action"),
]


@pytest.mark.parametrize("label,mutate,field,problem", CASES, ids=[c[0] for c in CASES])
def test_errors_name_file_field_and_problem(tmp_path, label, mutate, field, problem):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(_mutate(mutate)))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    msg = str(exc.value)
    assert str(path) in msg and f": {field}: " in msg and problem in msg, msg


def test_yaml_syntax_error_and_dict_source_label(tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="syntax.yaml.*invalid YAML"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match=r"^my_hint: duration_s: "):
        load_scenario(_mutate(lambda d: d.update(duration_s=-1)), name_hint="my_hint")


def test_resolve_unknown_name():
    with pytest.raises(ScenarioError, match="no such file"):
        resolve_scenario("definitely_not_a_scenario")
