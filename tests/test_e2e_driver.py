"""The end-to-end driver in closed loop: trajectory follower, output decoding, the e2e node graph, the CLI.

The closed-loop test uses the shipped model (perception/weights/e2e_fp32.onnx) and fails, not skips, without it:
the e2e driver is part of the product, so a missing model is a broken build.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from adas.config import AdasConfig
from adas.lka import curvature_to_steering_wheel_deg
from adas.planner import AdasPlanner
from adas.trajectory_follower import (E2EPlanner, FollowerConfig, TimedPlan, TrajectoryFollower, fit_speed_profile,
                                      longitudinal_target, lookahead_point, plan_in_current_frame, pursuit_curvature)
from adas.types import DriverSettings, EgoState, LkaState, ObjectClass, TrackedObject
from edgepilot.carparams import DEFAULT_CAR
from perception.driving import DEFAULT_MODEL, decode_boxes, decode_detections

TIMES = np.arange(1, 7) * 0.5
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "perception" / "weights" / "e2e_fp32.onnx"


def straight_plan(v: float, a: float = 0.0) -> np.ndarray:
    s = np.maximum(v * TIMES + 0.5 * a * TIMES ** 2, 0.0)
    return np.stack([s, np.zeros_like(s)], 1)


def arc_plan(v: float, curvature: float) -> np.ndarray:
    s = v * TIMES
    return np.stack([np.sin(curvature * s) / curvature, (1 - np.cos(curvature * s)) / curvature], 1)


def follow(plan: np.ndarray, speed: float, seconds: float = 2.0, dt: float = 0.02) -> tuple[float, float]:
    """Run the follower on a fixed plan at a fixed ego speed until its rate limiters settle."""
    f = TrajectoryFollower()
    tp = TimedPlan(plan, TIMES, 0.0)
    accel = steer = 0.0
    for _ in range(int(seconds / dt)):
        accel = f.longitudinal(dt, tp, 0.0, speed)
        steer = f.lateral(dt, tp, 0.0, speed, 0.0)
    return accel, steer


# ------------------------------------------------------------------------------------------ follower (pure)
def test_straight_constant_speed_plan_asks_for_nothing():
    v0, a = fit_speed_profile(straight_plan(15.0), TIMES, 2.0)
    assert v0 == pytest.approx(15.0) and a == pytest.approx(0.0, abs=1e-9)
    accel, steer = follow(straight_plan(15.0), 15.0)
    assert accel == pytest.approx(0.0, abs=1e-6)
    assert steer == pytest.approx(0.0, abs=1e-6)


def test_decelerating_plan_brakes_with_the_plans_deceleration():
    v0, a = fit_speed_profile(straight_plan(15.0, -2.0), TIMES, 2.0)
    assert (v0, a) == (pytest.approx(15.0), pytest.approx(-2.0))
    assert longitudinal_target(v0, a, 0.0, 15.0, 0.0, FollowerConfig()) == pytest.approx(-2.0)
    accel, _ = follow(straight_plan(15.0, -2.0), 15.0)
    assert accel == pytest.approx(-2.0, abs=1e-6)


def test_speed_error_and_set_speed_cap():
    cfg = FollowerConfig()
    assert longitudinal_target(15.0, 0.0, 0.0, 13.0, 0.0, cfg) == pytest.approx(2.0)    # plan faster than ego
    assert longitudinal_target(20.0, 1.0, 0.0, 15.0, 16.0, cfg) == pytest.approx(1.0)   # capped at set speed
    accel, _ = follow(straight_plan(25.0, 2.0), 15.0)
    assert accel == pytest.approx(cfg.e2e_accel_max_mps2)                               # ACC range


def test_left_curving_plan_steers_left_by_the_plans_curvature():
    k = 0.01
    # the look-ahead point lies on a chord between waypoints: within a percent of the arc's curvature
    assert pursuit_curvature(lookahead_point(arc_plan(15.0, k), 15.0)[0]) == pytest.approx(k, rel=1e-2)
    _, steer = follow(arc_plan(15.0, k), 15.0)
    assert steer > 0.0
    assert steer == pytest.approx(curvature_to_steering_wheel_deg(k, 15.0, DEFAULT_CAR, False), rel=1e-2)
    _, right = follow(arc_plan(15.0, -k), 15.0)
    assert right == pytest.approx(-steer)


def test_old_plan_is_moved_into_the_current_frame():
    moved = plan_in_current_frame(straight_plan(15.0), 0.2, 15.0, 0.0)
    np.testing.assert_allclose(moved, straight_plan(15.0) - [3.0, 0.0], atol=1e-12)
    # turning left for 0.2 s: the old straight plan now lies to the right
    assert np.all(plan_in_current_frame(straight_plan(15.0), 0.2, 15.0, 0.2)[:, 1] < 0.0)


def test_stopped_plan_at_standstill_holds_the_brake():
    accel, steer = follow(np.zeros((6, 2)), 0.0)
    assert accel == pytest.approx(FollowerConfig().e2e_standstill_hold_accel_mps2)
    assert steer == 0.0


def test_bad_follower_config_is_named():
    with pytest.raises(ValueError, match="e2e_accel_min_mps2"):
        FollowerConfig(e2e_accel_min_mps2=1.0)
    with pytest.raises(ValueError, match="e2e_lookahead_min_m"):
        FollowerConfig(e2e_lookahead_min_m=0.0)


# ------------------------------------------------------------------------------------------ e2e planner
SETTINGS = DriverSettings(acc_enabled=True, set_speed_kph=72.0, lka_enabled=True, aeb_enabled=True)
EGO = EgoState(speed_mps=20.0)


def test_e2e_planner_follows_the_plan_and_stops_on_a_stale_one():
    e2e = E2EPlanner(AdasPlanner(AdasConfig(), DEFAULT_CAR), FollowerConfig(), fallback_aeb=True)
    req = None
    for i in range(50):                                     # 1 s on fresh plans
        t = i * 0.02
        req, hmi = e2e.update(t, EGO, [], None, SETTINGS, TimedPlan(arc_plan(20.0, 0.005), TIMES, t - 0.05))
    assert req.controls_active and hmi.acc_active and hmi.lka_state == LkaState.ACTIVE
    assert req.accel_mps2 == pytest.approx(0.0, abs=0.05) and req.steering_wheel_angle_deg > 0.0
    plan = TimedPlan(arc_plan(20.0, 0.005), TIMES, 0.98)   # perception stops publishing at t = 1 s
    reqs = [e2e.update(i * 0.02, EGO, [], None, SETTINGS, plan)[0] for i in range(50, 150)]
    stale_from = next(i for i, r in enumerate(reqs) if r.accel_mps2 < -0.01)
    assert 50 + stale_from == pytest.approx((0.98 + FollowerConfig().e2e_plan_timeout_s) / 0.02, abs=1.5)
    assert e2e.stale_events == 1
    req = reqs[-1]
    assert req.controls_active and req.accel_mps2 == pytest.approx(-FollowerConfig().e2e_stop_decel_mps2)
    assert req.steering_wheel_angle_deg > 0.0       # the wheel is held where it was during the stop
    assert {r.steering_wheel_angle_deg for r in reqs[stale_from:]} == {reqs[stale_from - 1].steering_wheel_angle_deg}
    fresh = TimedPlan(arc_plan(20.0, 0.005), TIMES, 3.0)  # a fresh plan alone does not resume: latched
    req, _ = e2e.update(3.0, EGO, [], None, SETTINGS, fresh)
    assert req.accel_mps2 < -1.9
    off = DriverSettings(acc_enabled=False, set_speed_kph=72.0, lka_enabled=False)
    req, hmi = e2e.update(3.02, EGO, [], None, off, fresh)    # the driver switches off ...
    assert not req.controls_active and not hmi.acc_active
    req, _ = e2e.update(3.04, EGO, [], None, SETTINGS, TimedPlan(arc_plan(20.0, 0.005), TIMES, 3.0))
    assert req.controls_active and req.accel_mps2 > -0.5   # ... and on again: driving on the plan


def test_aeb_watches_the_object_list_the_model_tracks_or_nothing():
    wall = TrackedObject(id=7, classification=ObjectClass.CAR, x_m=8.0, y_m=0.0, vx_mps=0.0)   # 0.4 s ahead
    results = {}
    # (fallback, model_aeb, sensor list, model tracks): the AEB acts on the list its mode names, only on that one
    cases = {"fallback": (True, True, [wall], []), "fallback_ignores_model": (True, True, [], [wall]),
             "model": (False, True, [], [wall]), "model_ignores_sensor": (False, True, [wall], []),
             "none": (False, False, [wall], [wall])}
    for name, (fallback, model_aeb, sensor, tracks) in cases.items():
        e2e = E2EPlanner(AdasPlanner(AdasConfig(), DEFAULT_CAR), FollowerConfig(), fallback_aeb=fallback,
                         model_aeb=model_aeb)
        req = None
        for i in range(5):
            t = i * 0.02
            req, _ = e2e.update(t, EGO, sensor, None, SETTINGS, TimedPlan(straight_plan(20.0), TIMES, t), tracks)
        results[name] = req
    for name in ("fallback", "model"):
        assert results[name].aeb_active and results[name].accel_mps2 <= -results[name].aeb_decel_mps2 < -5.0, name
    for name in ("fallback_ignores_model", "model_ignores_sensor", "none"):
        assert not results[name].aeb_active and results[name].accel_mps2 > -0.5, name


def test_no_plan_yet_means_not_engaged():
    e2e = E2EPlanner(AdasPlanner(AdasConfig(), DEFAULT_CAR), FollowerConfig())
    for i in range(10):
        req, hmi = e2e.update(i * 0.02, EGO, [], None, SETTINGS, None)
    assert not req.controls_active and not hmi.acc_active and e2e.stale_events == 0


# ------------------------------------------------------------------------------------------ decoding
def test_decode_detections_from_hand_made_outputs():
    classes = ["car", "truck", "pedestrian", "cyclist", "obstacle"]
    logits = np.full((3, 6), -10.0, np.float32)
    logits[0, 0] = 5.0                       # a confident car
    logits[1, 5] = 5.0                       # no object
    logits[2, 2], logits[2, 5] = 0.0, 0.5    # an unsure pedestrian: p = 0.38 > 0.3
    boxes = np.zeros((3, 8), np.float32)
    boxes[0] = [0.5, 0.25, math.log(4.5), math.log(1.8), math.sin(0.3), math.cos(0.3), 0.5, -0.1]
    boxes[2] = [0.1, 0.5, math.log(0.6), math.log(0.6), 0.0, 1.0, 0.0, 0.15]
    dets = decode_detections(logits, boxes, classes, (-10.0, 50.0, -16.0, 16.0), 10.0, score_threshold=0.3)
    assert [(d.cls, d.query) for d in dets] == [("car", 0), ("pedestrian", 2)]
    car = dets[0]
    assert (car.x, car.y, car.length, car.width, car.yaw, car.vx, car.vy) == pytest.approx(
        (20.0, -8.0, 4.5, 1.8, 0.3, 5.0, -1.0), abs=1e-5)
    assert car.score == pytest.approx(math.exp(5) / (math.exp(5) + 5 * math.exp(-10)), rel=1e-6)
    ped = dets[1]
    assert (ped.x, ped.y, ped.vy) == pytest.approx((-4.0, 0.0, 1.5), abs=1e-5)
    assert ped.score == pytest.approx(1 / (1 + math.exp(0.5) + 4 * math.exp(-10)), rel=1e-6)
    assert decode_detections(logits, boxes, classes, (-10.0, 50.0, -16.0, 16.0), 10.0, 0.5)[-1].cls == "car"
    with pytest.raises(ValueError, match="classes"):
        decode_detections(logits, boxes, classes[:4], (-10.0, 50.0, -16.0, 16.0), 10.0)


def test_numpy_box_decode_matches_the_networks():
    from perception.model.network import decode_boxes as torch_side_decode

    rng = np.random.default_rng(0)
    boxes = rng.normal(0, 1, (2, 5, 8)).astype(np.float32)
    mcfg = SimpleNamespace(bev_range=(-10.0, 50.0, -16.0, 16.0), vel_scale=10.0)
    np.testing.assert_allclose(decode_boxes(boxes, mcfg.bev_range, mcfg.vel_scale),
                               torch_side_decode(boxes, mcfg), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------ closed loop
def _short_cut_in(tmp_path: Path, seconds: float = 4.0) -> Path:
    from vehicle_sim.scenario import resolve_scenario

    doc = yaml.safe_load(resolve_scenario("cut_in").read_text())
    doc["duration_s"] = seconds
    path = tmp_path / "cut_in_short.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_shipped_model_drives_a_closed_loop_scenario(tmp_path):
    from edgepilot.runner import RunRequest, build_lockstep_graph, run_lockstep

    assert SHIPPED_MODEL.is_file(), f"the shipped driving model {SHIPPED_MODEL} is missing (export it there)"
    assert DEFAULT_MODEL == SHIPPED_MODEL
    scenario = _short_cut_in(tmp_path)
    graph = build_lockstep_graph(RunRequest(scenario=str(scenario), driver="e2e", out_dir=tmp_path / "g"))
    try:
        p = graph.perception
        assert p is not None and sorted(pub.topic for pub in p.publishers) == [
            "/perception/e2e/objects", "/perception/e2e/tracks", "/perception/e2e/trajectory"]
        assert {f"/sensing/camera/{c}/image_raw" for c in p.driver.camera_names} <= {s.topic for s in p.subscriptions}
        assert [c.name for c in graph.sim.sim.cameras] == p.driver.camera_names   # only the model's cameras
        config = Path(__file__).resolve().parents[1] / "ros_ws/src/edgepilot_nodes/config/perception.yaml"
        for key in yaml.safe_load(config.read_text())["perception"]["ros__parameters"]:
            assert p.has_parameter(key), f"perception.yaml: {key} is not a parameter of the perception node"
    finally:
        graph.close()

    runs = [run_lockstep(RunRequest(scenario=str(scenario), driver="e2e", seed=3, out_dir=tmp_path / d,
                                    log_level="warn")) for d in ("a", "b")]
    a, b = runs
    assert a["driver"] == "e2e" and a["e2e_fallback_aeb"] is True and a["e2e_model_aeb"] is True and a["model"] == str(SHIPPED_MODEL.resolve())
    assert a["e2e"]["plans"] >= 35 and a["e2e"]["plans_received"] == a["e2e"]["plans"]   # 10 Hz over 4 s
    assert a["e2e"]["plan_control_cycles"] > 150 and a["e2e"]["stale_plan_stops"] == 0
    assert a["adas"]["controls_engaged_s"] is not None and a["adas"]["controls_engaged_s"] < 0.5
    assert a["cabin"]["trip_km"] > 0.05                      # the car drove (100 km/h for 4 s: ~0.11 km)
    report = json.loads(Path(a["report_path"]).read_text())
    assert report["driver"] == "e2e" and report["e2e_fallback_aeb"] is True
    drop = {"report_path", "plot_path", "e2e"}
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
    wall = ("inference_ms_mean", "inference_ms_max")
    assert {k: v for k, v in a["e2e"].items() if k not in wall} == {k: v for k, v in b["e2e"].items() if k not in wall}


def test_missing_model_is_a_clear_error(tmp_path):
    from edgepilot.runner import RunRequest, run_lockstep

    with pytest.raises(FileNotFoundError, match="driving model .*nope.onnx"):
        run_lockstep(RunRequest(scenario="cut_in", driver="e2e", model_path=tmp_path / "nope.onnx"))


def test_cli_driver_options_parse():
    from edgepilot.cli import build_parser

    args = build_parser().parse_args(["ncap", "run", "--driver", "e2e", "--no-fallback"])
    assert (args.driver, args.fallback, args.model_aeb) == ("e2e", False, True)
    args = build_parser().parse_args(["ncap", "run", "--driver", "e2e", "--no-fallback", "--no-model-aeb"])
    assert (args.fallback, args.model_aeb) == (False, False)
    args = build_parser().parse_args(["scenario", "run", "cut_in", "--driver", "e2e", "--model", "m.onnx"])
    assert (args.driver, args.fallback, args.model) == ("e2e", True, "m.onnx")
    assert build_parser().parse_args(["demo"]).driver == "e2e"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["scenario", "run", "cut_in", "--driver", "robot"])


def test_launch_file_adds_the_perception_node_for_e2e_only():
    from edgepilot.ros.launch import find_package_share, parse_launch_file

    launch = find_package_share("edgepilot_nodes") / "launch" / "sim_stack.launch.xml"
    classical = parse_launch_file(launch, {})
    assert [n.name for n in classical.nodes] == ["sim", "can_bridge", "adas", "safety"]
    e2e = parse_launch_file(launch, {"driver": "e2e", "e2e_fallback_aeb": "false", "e2e_model_aeb": "false"})
    assert [n.name for n in e2e.nodes] == ["sim", "can_bridge", "adas", "perception", "safety"]
    adas = next(n for n in e2e.nodes if n.name == "adas").ros_arguments()
    assert "driver:=e2e" in adas and "e2e_fallback_aeb:=false" in adas and "e2e_model_aeb:=false" in adas
    sim = next(n for n in e2e.nodes if n.name == "sim").ros_arguments()
    assert any(a.endswith("config/driver_e2e.yaml") for a in sim)


def test_without_the_fallback_the_aeb_brakes_on_the_models_own_tracks(tmp_path):
    """CCRs 50 km/h, ACC off (NCAP): only an AEB can brake. On the model's tracks it brakes (impact well below
    the test speed, or none); with no AEB at all the car hits the target at the test speed."""
    import yaml as _yaml

    from edgepilot.runner import RunRequest, run_lockstep
    from vehicle_sim.ncap import find_point, scenario_dict

    path = tmp_path / "ccrs.yaml"
    path.write_text(_yaml.safe_dump(scenario_dict(find_point("ccrs_50kph_100")), sort_keys=False))
    res = {m: run_lockstep(RunRequest(scenario=str(path), driver="e2e", seed=0, out_dir=tmp_path / str(m),
                                      log_level="warn", e2e_fallback_aeb=False, e2e_model_aeb=m))
           for m in (True, False)}
    assert res[False]["collision"] and res[False]["impact_speed_kph"] > 45.0
    assert not res[True]["collision"] or res[True]["impact_speed_kph"] < 30.0
    assert res[True]["e2e_model_aeb"] is True and res[True]["e2e_fallback_aeb"] is False


def test_the_aeb_tracker_stops_for_a_braking_lead_that_the_planner_tracker_reads_too_late(tmp_path):
    """CCRb (lead at 50 km/h, 12 m ahead, brakes at 2 m/s^2), ACC off, no fallback: the AEB brakes on the model's
    tracks. With the AEB tracker (perception.tracking.AEB_TRACKER, the default) the car stops behind the lead;
    with the planner's smoother tracker in its place the tracked closing speed lags and the car hits it (measured:
    48.8 km/h)."""
    import yaml as _yaml

    from edgepilot.runner import RunRequest, run_lockstep
    from perception.tracking import TrackerConfig
    from vehicle_sim.ncap import find_point, scenario_dict

    path = tmp_path / "ccrb.yaml"
    path.write_text(_yaml.safe_dump(scenario_dict(find_point("ccrb_2mps2_12m")), sort_keys=False))
    slow = TrackerConfig()
    params = {"aeb": {}, "planner_tracker": {"perception": {
        "aeb_tracker_accel_noise_mps2": slow.accel_noise_mps2, "aeb_tracker_meas_noise_m": slow.meas_noise_m,
        "aeb_tracker_meas_noise_per_m": slow.meas_noise_per_m}}}
    res = {k: run_lockstep(RunRequest(scenario=str(path), driver="e2e", seed=0, out_dir=tmp_path / k,
                                      log_level="warn", e2e_fallback_aeb=False, extra_params=p))
           for k, p in params.items()}
    assert not res["aeb"]["collision"], res["aeb"]["reasons"]
    assert res["planner_tracker"]["collision"] and res["planner_tracker"]["impact_speed_kph"] > 40.0


def test_lane_blend_moves_the_plan_to_the_fitted_lane_in_closed_loop(tmp_path):
    """The tracked lane blend (on by default) keeps the car in its lane through the slow-down after the cut-in,
    where the network's own lateral plan drifts out of it (measured: 0.6 m of departure at 14 s, 3.7 m at 18 s)."""
    from edgepilot.runner import RunRequest, run_lockstep

    runs = {blend: run_lockstep(RunRequest(scenario=str(_short_cut_in(tmp_path, seconds)), driver="e2e", seed=0,
                                           out_dir=tmp_path / str(blend), log_level="warn",
                                           extra_params={"perception": {"plan_lane_blend": blend}}))
            for blend, seconds in ((0.0, 4.0), (1.0, 16.0))}
    assert runs[0.0]["e2e"]["plans_lane_blended"] == 0
    # on the straight multi-lane road the model's lane lines give a lane centre in most frames
    assert runs[1.0]["e2e"]["plans_lane_blended"] > runs[1.0]["e2e"]["plans"] * 0.9
    assert runs[1.0]["max_lane_departure_m"] == 0.0
