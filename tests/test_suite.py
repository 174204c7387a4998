"""The driving suite (vehicle_sim/suite.py): grid, generated scenarios, pass criteria, summaries, and real runs."""
from __future__ import annotations

import math
import re

import pytest

from edgepilot.carparams import DEFAULT_CAR

from vehicle_sim import suite
from vehicle_sim.scenario import load_scenario
from vehicle_sim.simulator import Simulator


def test_grid_sizes_and_unique_names() -> None:
    sizes = {f: len(suite.grid(f)) for f in suite.FAMILIES}
    assert sizes == {"follow": 8, "lead_stop": 6, "cut_in": 12, "curve": 12, "obstacle": 6}
    pts = suite.grid()
    assert len(pts) == sum(sizes.values())
    assert len({p.test_id for p in pts}) == len(pts) and len({p.scenario_name for p in pts}) == len(pts)
    assert all(re.fullmatch(r"[a-z0-9_]+", p.scenario_name) for p in pts)


def test_select_families_and_errors() -> None:
    assert [p.family for p in suite.select("curve,follow")] == ["curve"] * 12 + ["follow"] * 8
    assert suite.select("obstacle,obstacle") == suite.grid("obstacle")
    with pytest.raises(ValueError, match="unknown suite family 'curves'.*follow, lead_stop, cut_in, curve, obstacle"):
        suite.select("curves")
    pt = suite.grid("curve")[5]
    assert suite.find_point(pt.test_id) == pt
    with pytest.raises(ValueError, match="no driving-suite test 'curve:radius_m=1'"):
        suite.find_point("curve:radius_m=1")


@pytest.mark.parametrize("point", suite.grid(), ids=lambda p: p.scenario_name)
def test_every_point_is_a_valid_scenario(point: suite.SuitePoint) -> None:
    sc = load_scenario(suite.scenario_dict(point))
    assert sc.name == point.scenario_name
    assert sc.success.no_collision
    assert sc.duration_s > 5.0


def test_follow_criteria_follow_the_standards() -> None:
    pt = suite.SuitePoint("follow", (("set_kph", 130), ("lead_kph", 60), ("drop_kph", 40)))
    d = suite.scenario_dict(pt)
    # ISO 15622 minimum time gap at the lead's lowest speed (20 km/h -> 4.44 m), and the 4 m floor
    assert d["success"]["min_distance_m"] == pytest.approx(max(4.0, 0.8 * 20 / 3.6), abs=1e-3)
    assert d["success"]["min_final_speed_kph"] == pytest.approx(30.0)
    assert d["ego"]["speed_kph"] == 80.0 and d["ego"]["adas"]["acc_set_speed_kph"] == 130.0
    lead = d["actors"][0]
    assert [a["set_speed"]["speed_kph"] for a in lead["behavior"]["actions"]] == [20.0, 60.0]
    assert suite.min_gap_m(100) == pytest.approx(0.8 * 100 / 3.6)


@pytest.mark.parametrize("point", suite.grid("cut_in"), ids=lambda p: p.scenario_name)
def test_cut_in_starts_at_its_time_to_collision(point: suite.SuitePoint) -> None:
    d = suite.scenario_dict(point)
    p = point.p
    closing = (suite.CUT_IN_EGO_KPH - p["cutter_kph"]) / 3.6
    cutter = d["actors"][0]
    trigger = cutter["behavior"]["actions"][0]
    assert trigger["trigger"]["gap_m"] == pytest.approx(p["ttc_s"] * closing, abs=1e-3)
    assert trigger["lane_change"]["to_lane"] == d["ego"]["lane"] == 1
    assert cutter["lane"] == (2 if p["side"] == "left" else 0)
    # the bumper gap reaches the trigger about CUT_IN_LEAD_IN_S after the start (the spacing is counted with two
    # 4.5 m cars, the ego is 4.7 m: the real gap is 0.1 m short, i.e. at most 0.02 s earlier)
    gap0 = cutter["s_m"] - d["ego"]["s_m"] - (suite.CAR_SIZE["length_m"] + DEFAULT_CAR.length_m) / 2
    assert (gap0 - trigger["trigger"]["gap_m"]) / closing == pytest.approx(suite.CUT_IN_LEAD_IN_S, abs=0.02)


@pytest.mark.parametrize("point", suite.grid("curve"), ids=lambda p: p.scenario_name)
def test_curve_geometry(point: suite.SuitePoint) -> None:
    d = suite.scenario_dict(point)
    k = d["road"]["segments"][1]["curvature_1pm"]
    assert math.copysign(1, k) == (1 if point.p["side"] == "left" else -1)
    assert abs(k) == pytest.approx(1 / point.p["radius_m"], rel=1e-3)
    # the run ends on the straight after the curve, not before it
    travelled = d["duration_s"] * point.p["kph"] / 3.6 + d["ego"]["s_m"]
    assert travelled > suite.CURVE_IN_M + suite.CURVE_ARC_M


def test_generated_scenarios_are_deterministic() -> None:
    pt = suite.grid("cut_in")[0]
    a, b = Simulator(load_scenario(suite.scenario_dict(pt)), seed=3), Simulator(load_scenario(suite.scenario_dict(pt)), seed=3)
    for _ in range(300):
        a.step([])
        b.step([])
    assert a.result() == b.result()


def _row(family: str, passed: bool, collision: bool = False) -> dict:
    return {"test": f"{family}:x", "family": family, "passed": passed, "reasons": [] if passed else ["why"],
            "collision": collision, "min_distance_m": None, "max_lane_departure_m": 0.0, "final_speed_kph": 50.0}


def test_summarize_and_table() -> None:
    rows = [_row("follow", True), _row("follow", False), _row("curve", False, collision=True), _row("curve", True)]
    s = suite.summarize(rows)
    assert s["families"] == {"follow": {"passed": 1, "runs": 2, "collisions": 0},
                             "curve": {"passed": 1, "runs": 2, "collisions": 1}}
    assert (s["passed"], s["runs"], s["collisions"], s["pass_rate"]) == (2, 4, 1, 0.5)
    table = suite.format_table(rows)
    assert "FAIL" in table and table.splitlines()[-1].split() == ["all", "2/4", "1"]


def test_run_suite_classical_lead_stop() -> None:
    """Real closed-loop runs (lockstep, full node graph, classical ADAS on ground truth): a lead braking to a
    stop at 3 and 6 m/s^2 from 50-110 km/h; ACC + AEB must stop behind it every time."""
    from edgepilot.runner import run_suite

    report = run_suite("lead_stop", driver="classical", workers=2)
    rows = report["rows"]
    assert [r["test"] for r in rows] == [p.test_id for p in suite.grid("lead_stop")]
    assert report["summary"]["collisions"] == 0 and report["summary"]["passed"] == 6
    assert all(r["final_speed_kph"] < 10 and r["min_distance_m"] > 1.0 for r in rows)
    assert re.search(r"lead_stop\s+6/6", report["table"])


def test_run_suite_rejects_unknown_parameter_before_running() -> None:
    from edgepilot.runner import run_suite

    with pytest.raises(ValueError, match="adas.no_such_gain"):
        run_suite("obstacle", driver="classical", workers=1, extra_params={"adas": {"no_such_gain": 1.0}})


def test_a_run_that_raises_is_a_failed_row_not_a_lost_suite(monkeypatch) -> None:
    from edgepilot import runner

    def boom(scenario, req, build_only=False):
        raise RuntimeError("renderer died")

    monkeypatch.setattr(runner, "run_generated", boom)
    row = runner._suite_point((suite.grid("curve")[0], runner.RunRequest(scenario="")))
    assert not row["passed"] and row["reasons"] == ["run error: RuntimeError: renderer died"]
    assert row["test"] == suite.grid("curve")[0].test_id


def test_closed_loop_trace_prints_a_row_per_step() -> None:
    """benchmarks/closed_loop_trace.py on a suite test id: one row every --every s, the car ends stopped."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "closed_loop_trace.py"), "obstacle:kph=80,kind=box",
                          "--driver", "classical", "--every", "2.0"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[1:]]
    assert [float(r[0]) for r in rows] == [2.0 * (i + 1) for i in range(len(rows))] and len(rows) >= 4
    assert float(rows[0][1]) > 50.0 and float(rows[-1][1]) < 5.0          # from 80 km/h to a stop
    bad = subprocess.run([sys.executable, str(root / "benchmarks" / "closed_loop_trace.py"), "curve:radius_m=1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "no driving-suite test 'curve:radius_m=1'" in bad.stderr


def test_closed_loop_trace_lanes_shows_the_tracked_lane_of_a_centred_car() -> None:
    """closed_loop_trace.py --lanes with the shipped model: a car that starts centred in a straight lane sees the
    tracked lane centre near 0 at the car and 20 m ahead; without a perception node --lanes is a clear error."""
    import subprocess
    import sys
    from pathlib import Path

    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "closed_loop_trace.py")
    out = subprocess.run([sys.executable, script, "obstacle:kph=60,kind=box", "--every", "1.0", "--lanes"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("| lane y@0 y@20")
    rows = [line.split() for line in lines[1:]]
    assert [float(r[0]) for r in rows] == [1.0 * (i + 1) for i in range(len(rows))] and len(rows) >= 3
    y0, y20 = float(rows[0][-2]), float(rows[0][-1])
    assert abs(y0) < 0.3 and abs(y20) < 0.5
    bad = subprocess.run([sys.executable, script, "obstacle:kph=60,kind=box", "--driver", "classical", "--lanes"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--lanes needs the e2e driver" in bad.stderr


def test_closed_loop_trace_of_an_ncap_test_shows_what_the_aeb_tracks() -> None:
    """closed_loop_trace.py on a Euro NCAP id without the fallback, --tracks: the AEB's track of the lead reads the
    lead's true speed (50 km/h) before it brakes, and the car slows behind it; --tracks needs the e2e driver."""
    import subprocess
    import sys
    from pathlib import Path

    script = str(Path(__file__).resolve().parents[1] / "benchmarks" / "closed_loop_trace.py")
    out = subprocess.run([sys.executable, script, "ccrb_2mps2_12m", "--no-fallback", "--tracks", "--every", "1.0"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("| trk x m trk km/h trk ax lead km/h")
    rows = [line.split() for line in lines[1:]]
    trk_x, trk_kph, trk_ax, lead_kph = (float(v) for v in rows[0][-4:])
    assert lead_kph == 50.0 and abs(trk_kph - 50.0) < 10.0 and 15.0 < trk_x < 22.0   # the lead 12 m ahead
    assert math.isnan(trk_ax)                               # the shipped AEB tracker estimates no acceleration
    assert float(rows[-1][1]) < 20.0                                                # the AEB slowed the car
    # with the constant-acceleration option the column says how hard the lead brakes (2 m/s^2 from t = 2 s)
    ca = subprocess.run([sys.executable, script, "ccrb_2mps2_12m", "--no-fallback", "--tracks", "--every", "1.0",
                         "--param", "perception.aeb_tracker_accel_state=true"], capture_output=True, text=True,
                        timeout=300)
    assert ca.returncode == 0, ca.stderr
    axes = [float(r[-2]) for r in (line.split() for line in ca.stdout.splitlines()[1:]) if r[-2] != "-"]
    assert axes and all(math.isfinite(a) for a in axes[2:]) and min(axes[2:]) < -1.0, axes
    bad = subprocess.run([sys.executable, script, "ccrb_2mps2_12m", "--driver", "classical", "--tracks"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--tracks needs the e2e driver" in bad.stderr
