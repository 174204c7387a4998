"""The `edgepilot` command line: help everywhere, clear one-line errors on bad input."""
from __future__ import annotations

import subprocess
import sys

import pytest

from edgepilot.cli import main
from vehicle_sim.scenario import list_scenarios


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgepilot.cli", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("cmd", [[], ["scenario"], ["scenario", "list"], ["scenario", "run"], ["ncap"],
                                 ["ncap", "run"], ["can"], ["can", "decode"], ["can", "monitor"], ["launch"],
                                 ["demo"], ["perception"], ["perception", "dataset"], ["perception", "train"],
                                 ["perception", "eval"], ["perception", "export"]])
def test_every_subcommand_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*cmd, "--help"])
    assert exc.value.code == 0
    assert "usage: edgepilot" in capsys.readouterr().out


def test_scenario_list_prints_the_library(capsys):
    assert main(["scenario", "list"]) == 0
    names = capsys.readouterr().out.split()
    assert names == list_scenarios()
    for required in ("ccrs_50kph_100", "ccrb_6mps2_12m", "cpna25_40kph", "cut_in", "acc_following",
                     "lane_keeping_curve"):
        assert required in names


def test_malformed_scenario_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nduration_s: 5\nego: {speed_kph: 50}\n"
                   "actors:\n  - {id: a, type: car, s_m: 10, behavior: {type: zoom}}\n")
    out = _run("scenario", "run", str(bad))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert f"{bad}: actors[0].behavior.type" in out.stderr


def test_bad_bus_spec_and_missing_log_are_clear_errors(tmp_path):
    out = _run("can", "monitor", "vcan0", "--duration", "0.1")
    assert out.returncode == 2 and "invalid CAN bus spec 'vcan0'" in out.stderr
    out = _run("can", "decode", str(tmp_path / "none.log"))
    assert out.returncode == 2 and "CAN log file not found" in out.stderr


def test_param_overrides_reach_the_node_and_typos_are_clear_errors(tmp_path):
    from edgepilot.cli import _params

    assert _params(["perception.plan_lane_blend=0.0", "adas.e2e_model_aeb=false"], "lockstep") == \
        {"perception": {"plan_lane_blend": 0.0}, "adas": {"e2e_model_aeb": False}}
    for bad, msg in (("perception.plan_lane_blend", "expected NODE.NAME=VALUE"), ("foo.bar=1", "unknown node 'foo'")):
        with pytest.raises(ValueError, match=msg):
            _params([bad], "lockstep")
    with pytest.raises(ValueError, match="lockstep mode"):
        _params(["sim.cameras=true"], "realtime")
    # a parameter no node of the run declares (misspelt, or the node is not in this run) stops the run
    out = _run("scenario", "run", "acc_following", "--param", "adas.e2e_modle_aeb=false", "--out", str(tmp_path))
    assert out.returncode == 2 and "adas.e2e_modle_aeb: no such node parameter" in out.stderr
    out = _run("scenario", "run", "acc_following", "--param", "perception.plan_lane_blend=0", "--out", str(tmp_path))
    assert out.returncode == 2 and "perception.plan_lane_blend: no such node parameter" in out.stderr
    # ncap run takes them too, checked once before the grid starts
    out = _run("ncap", "run", "--protocol", "ccrb", "--workers", "1", "--param", "adas.e2e_modle_aeb=false")
    assert out.returncode == 2 and "adas.e2e_modle_aeb: no such node parameter" in out.stderr
