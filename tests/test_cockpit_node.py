"""The cockpit node in a closed-loop run: utterances heard mid-scenario go through the shipped model and the safety
guard to CAN, and the simulated cabin (in the sim's report) changes - or does not, when the guard refuses."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edgepilot_nodes.cockpit_node import parse_script
from vehicle_sim.scenario import resolve_scenario


def test_script_parameter_is_parsed_and_bad_entries_are_named():
    assert parse_script(" 2.5 open my window | 1 set the temperature to 22 degrees ") == [
        (1.0, "set the temperature to 22 degrees"), (2.5, "open my window")]
    assert parse_script("") == []
    with pytest.raises(ValueError, match="entry 1 'soon open the boot'"):
        parse_script("1.0 hello | soon open the boot")
    with pytest.raises(ValueError, match="entry 0 '3.0'"):
        parse_script("3.0")


def _short(tmp_path: Path, name: str = "cut_in", seconds: float = 3.5) -> Path:
    doc = yaml.safe_load(resolve_scenario(name).read_text())
    doc["duration_s"] = seconds
    path = tmp_path / f"{name}_short.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("speech", [False, True])
def test_voice_commands_mid_scenario_change_the_simulated_cabin_through_the_guard(tmp_path, speech):
    from edgepilot.runner import RunRequest, run_lockstep

    result = run_lockstep(RunRequest(
        scenario=str(_short(tmp_path)), out_dir=tmp_path, log_level="warn", cockpit_speech=speech,
        cockpit_script=((1.0, "set the temperature to twenty five degrees"), (2.0, "open the trunk"))))
    turns = result["cockpit"]
    assert [t["stamp_s"] for t in turns] == [1.0, 2.0]
    temp, trunk = turns
    assert temp["decision"]["outcome"] == "accept" and temp["frames"][0]["id"] == "0x300"   # HVAC_CMD
    assert result["cabin"]["setpoint_driver_c"] == 25.0 and result["cabin"]["setpoint_passenger_c"] == 25.0
    assert trunk["proposal"] == {"tool": "open_trunk", "args": {}}
    assert trunk["decision"]["rule"] == "moving_trunk" and trunk["frames"] == []               # the car is moving
    assert result["cabin"]["trunk_position_pct"] == 0
    report = json.loads(Path(result["report_path"]).read_text())
    assert report["cockpit"] == turns
    log = [json.loads(line) for line in (tmp_path / "cockpit_guard.jsonl").read_text().splitlines()]
    assert [d["rule"] for d in log] == ["ok", "moving_trunk"]


def test_every_key_of_cockpit_yaml_is_a_parameter_of_the_node(tmp_path):
    from edgepilot.runner import RunRequest, build_lockstep_graph

    graph = build_lockstep_graph(RunRequest(scenario=str(_short(tmp_path)), out_dir=tmp_path, log_level="warn",
                                            cockpit_script=((1.0, "hello"),)))
    try:
        node = graph.cockpit
        config = Path(__file__).resolve().parents[1] / "ros_ws/src/edgepilot_nodes/config/cockpit.yaml"
        for key in yaml.safe_load(config.read_text())["cockpit"]["ros__parameters"]:
            assert node.has_parameter(key), f"cockpit.yaml: {key} is not a parameter of the cockpit node"
        assert sorted(p.topic for p in node.publishers) == ["/cockpit/reply", "/cockpit/turn"]
        assert {s.topic for s in node.subscriptions} == {"/cockpit/text", "/vehicle/state", "/vehicle/adas_settings"}
    finally:
        graph.close()
    with pytest.raises(ValueError, match="lockstep mode only"):
        from edgepilot.runner import run_scenario

        run_scenario(RunRequest(scenario="cut_in", mode="realtime", cockpit_script=((1.0, "hi"),)))
