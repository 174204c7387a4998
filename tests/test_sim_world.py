"""World behaviour: actors, triggers, collisions, determinism, outputs for the other nodes."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vehicle_sim.actors import box_corners, box_distance, sat_overlap
from vehicle_sim.dynamics import EgoCommand
from vehicle_sim.metrics import evaluate
from vehicle_sim.report import write_report
from vehicle_sim.scenario import load_scenario
from vehicle_sim.world import World, run_world


def scen(actors=(), ego=None, duration=10.0, road=None, end=None, **kw):
    d = {"name": "t", "duration_s": duration,
         "road": road or {"lanes": 3, "segments": [{"length_m": 2000}]},
         "ego": ego or {"speed_kph": 50, "lane": 1, "s_m": 20.0},
         "actors": list(actors)}
    if end is not None:
        d["end"] = end
    d.update(kw)
    return load_scenario(d)


def test_robot_into_stopped_car_collides_at_start_speed():
    sc = scen([{"id": "gvt", "type": "car", "lane": 1, "s_m": 80.0, "behavior": {"type": "static"}}])
    w = run_world(World(sc, seed=0))
    s = w.summary()
    assert w.finished and w.end_reason == "collision" and s["collision"] and s["collision_actor"] == "gvt"
    assert s["impact_speed_kph"] == pytest.approx(50.0, abs=0.5)
    assert s["impact_relative_speed_kph"] == pytest.approx(50.0, abs=0.5)
    # ego front reaches the target rear: 80 - 2.25 - (20 + 2.35) = 55.4 m at 50 km/h
    assert s["collision_time_s"] == pytest.approx(55.4 / (50 / 3.6), abs=0.05)
    assert evaluate(sc.success, s)[0] is False


def test_aeb_command_stops_before_obstacle_without_reversing():
    sc = scen([{"id": "box", "type": "obstacle", "lane": 1, "s_m": 80.0}], end={"ego_stopped": True})

    latched = []

    def aeb(world):  # a minimal AEB: brake at TTC < 2 s, hold until standstill
        gt = [o for o in world.ground_truth_objects("ego") if abs(o.y) < 1.5 and o.x > 0]
        ttc = min(((o.x - 3.75 - o.length / 2) / max(-o.vx, 1e-3) for o in gt), default=math.inf)
        if ttc < 2.0:
            latched.append(world.t)
        return EgoCommand(None, None, False, aeb_active=bool(latched), aeb_decel_mps2=8.0)

    w = run_world(World(sc), aeb)
    s = w.summary()
    assert not s["collision"] and w.end_reason == "ego_stopped"
    assert s["time_to_stop_s"] is not None and 1.0 < s["time_to_stop_s"] < 3.0
    assert s["max_decel_mps2"] == pytest.approx(8.0, abs=0.3)
    assert np.all(w.timeseries()["ego_speed_mps"] >= 0.0)
    assert evaluate(sc.success, s) == (True, [])


def test_same_seed_identical_different_seed_changes_random_colours():
    actors = [{"id": f"c{i}", "type": "car", "lane": i % 3, "s_m": 60.0 + 25 * i, "speed_kph": 40 + 5 * i,
               "behavior": {"type": "idm", "idm": {"desired_speed_kph": 60}}} for i in range(6)]
    sc = scen(actors, duration=4.0)
    a, b = run_world(World(sc, seed=3)), run_world(World(sc, seed=3))
    ta, tb = a.timeseries(), b.timeseries()
    for k in ("ego_speed_mps", "gap_m", "ttc_s", "lane_offset_m"):
        np.testing.assert_array_equal(ta[k], tb[k])
    assert ta["lead_id"] == tb["lead_id"] and a.summary() == b.summary()
    colours = {seed: [bx.rgb for bx in World(sc, seed=seed).render_scene().boxes] for seed in range(5)}
    assert colours[3] == [bx.rgb for bx in a.render_scene().boxes]
    assert len({tuple(c) for c in colours.values()}) > 1


def test_idm_follower_converges_to_safe_gap():
    idm = {"desired_speed_kph": 100, "time_headway_s": 1.5, "min_gap_m": 2.0, "max_accel_mps2": 1.5,
           "comfort_decel_mps2": 2.0}
    sc = scen([{"id": "lead", "type": "car", "lane": 0, "s_m": 300.0, "speed_kph": 72},
               {"id": "fol", "type": "car", "lane": 0, "s_m": 200.0, "speed_kph": 90,
                "behavior": {"type": "idm", "idm": idm}}], duration=60.0)
    w = run_world(World(sc))
    lead, fol = w._actor_by_id["lead"], w._actor_by_id["fol"]
    gap = (lead.s - lead.length / 2) - (fol.s + fol.length / 2)
    v, v0 = 20.0, 100 / 3.6
    s_eq = (2.0 + v * 1.5) / math.sqrt(1 - (v / v0) ** 4)
    assert fol.v == pytest.approx(v, abs=0.2)
    assert gap == pytest.approx(s_eq, rel=0.05) and gap > 2.0 + v * 1.5


def test_crossing_pedestrian_keeps_world_heading():
    sc = scen([{"id": "ped", "type": "pedestrian", "lane": 1, "s_m": 100.0, "d_offset_m": -4.0,
                "heading_deg": 90.0, "speed_kph": 5.0}],
              road={"lanes": 3, "segments": [{"length_m": 50}, {"length_m": 500, "curvature_1pm": 0.002}]})
    w = World(sc)
    ped = w.actors[0]
    x0, y0, h0 = ped.x, ped.y, ped.heading
    for _ in range(300):
        w.step(None)
    travelled = 3.0 * 5 / 3.6
    assert ped.x == pytest.approx(x0 + travelled * math.cos(h0), abs=1e-6)
    assert ped.y == pytest.approx(y0 + travelled * math.sin(h0), abs=1e-6)
    assert ped.d > 3.5 - 4.0 + 0.9 * travelled  # it walked to the left across the lanes
    assert ped.behavior == "straight" and ped.yaw == h0


def test_gap_trigger_fires_lane_change_into_ego_lane():
    sc = scen([{"id": "cutter", "type": "car", "lane": 2, "s_m": 70.0, "speed_kph": 30,
                "behavior": {"type": "lane_follow",
                             "actions": [{"trigger": {"gap_m": 25.0}, "lane_change": {"to_lane": 1, "duration_s": 2.0}}]}}],
              duration=6.0, end={"collision": False})
    w = World(sc)
    fired_at = None
    while not w.finished:
        w.step(None)
        if fired_at is None and w.actors[0].fired[0]:
            fired_at = w.t
            g = w._gap_ttc(w.actors[0])[0]
            assert 24.5 < g < 25.2  # fired when it fell below 25 m (measured after the actor's step)
    cut = w.actors[0]
    assert fired_at is not None and cut.d == pytest.approx(3.5, abs=1e-9) and cut.d_dot == 0.0
    assert "cutter" in w.timeseries()["lead_id"]


def test_brake_action_ramps_and_stops_without_reversing():
    sc = scen([{"id": "gvt", "type": "car", "lane": 0, "s_m": 100.0, "speed_kph": 36,
                "behavior": {"type": "lane_follow",
                             "actions": [{"trigger": {"time_s": 1.0}, "brake": {"decel_mps2": 5.0, "ramp_s": 1.0}}]}}],
              duration=6.0)
    w = World(sc)
    speeds = []
    while not w.finished:
        w.step(None)
        speeds.append(w.actors[0].v)
    v = np.array(speeds)
    assert v[90] == pytest.approx(10.0) and v[-1] == 0.0 and np.all(np.diff(v) <= 1e-12)
    assert (v[150] - v[149]) / 0.01 == pytest.approx(-2.5, abs=0.1)  # half-way up the ramp


def test_box_collision_geometry():
    a = box_corners(0.0, 0.0, 0.0, 4.0, 2.0)
    b = box_corners(3.5, 0.5, math.radians(30), 4.0, 2.0)
    hit, n, depth = sat_overlap(a, b)
    assert hit and depth > 0 and n[0] > 0
    far = box_corners(10.0, 0.0, 0.0, 4.0, 2.0)
    assert not sat_overlap(a, far)[0] and box_distance(a, far) == pytest.approx(6.0)
    diag = box_corners(5.0, 3.0, 0.0, 4.0, 2.0)  # corner to corner: (1, 1)
    assert box_distance(a, diag) == pytest.approx(math.sqrt(2))
    assert box_distance(a, b) == 0.0


def test_ground_truth_lane_geometry_and_render_scene():
    sc = scen([{"id": "gvt", "type": "car", "lane": 1, "s_m": 60.0, "speed_kph": 30}],
              ego={"speed_kph": 50, "lane": 1, "s_m": 20.0, "d_offset_m": 0.4, "heading_offset_deg": 2.0,
                   "driver": {"model": "idle"}})
    w = World(sc)
    yaw = math.radians(2.0)
    rear_x, rear_y = 20.0 - 1.4 * math.cos(yaw), 3.9 - 1.4 * math.sin(yaw)  # rear axle = centre - wheelbase/2
    gt = w.ground_truth_objects("ego")[0]
    dx, dy = 60.0 - rear_x, 3.5 - rear_y
    rx, ry = dx * math.cos(yaw) + dy * math.sin(yaw), -dx * math.sin(yaw) + dy * math.cos(yaw)
    assert gt.x == pytest.approx(rx, abs=1e-6)
    assert gt.y == pytest.approx(ry, abs=1e-6) and gt.cls == "car" and gt.z == pytest.approx(0.75)
    assert gt.vx < 0  # slower lead approaches
    world_gt = w.ground_truth_objects("world")[0]
    assert world_gt.x == pytest.approx(60.0) and world_gt.vx == pytest.approx(30 / 3.6)
    lg = w.lane_geometry()
    assert lg.lane_index == 1 and lg.lane_width_m == 3.5
    assert lg.lateral_offset_m > 0.3 and lg.heading_error_rad == pytest.approx(yaw)
    left, right = lg.lines
    assert (left.side, right.side, left.kind) == ("left", "right", "dashed")
    assert left.points[0, 1] > 0 > right.points[0, 1] and left.points[-1, 0] > 75
    rs = w.render_scene()
    assert len(rs.boxes) == 1 and rs.ego is not None and rs.ego.cls == "car"
    left_pts, right_pts, rgb = rs.road_strips[0]
    assert left_pts.shape == right_pts.shape and left_pts.shape[1] == 2
    assert any(m[2] for m in rs.markings) and any(not m[2] for m in rs.markings)


def test_driver_override_event_takes_lateral_from_adas():
    sc = scen(ego={"speed_kph": 80, "lane": 1, "s_m": 20.0, "adas": {"acc": True, "lka": True},
                   "driver": {"model": "robot", "events": [{"trigger": {"time_s": 1.0}, "steering_torque_nm": 3.0,
                                                            "duration_s": 0.5}]}}, duration=3.0)
    w = World(sc)
    sources = []
    while not w.finished:
        w.step(EgoCommand(0.0, 0.0, controls_active=True))
        ds = w.driver_state()
        sources.append((round(w.t, 2), ds.lat_source, ds.steering_torque_nm, ds.accelerator_pct))
    during = [s for s in sources if 1.0 < s[0] <= 1.5]
    assert all(s[1] == "driver" and s[2] == 3.0 for s in during)
    assert all(s[1] == "adas" and s[3] == 0.0 for s in sources if s[0] <= 1.0 or s[0] > 1.6)
    assert w.timeseries()["lane_offset_m"][-1] > 0.05  # the nudge moved the car left


def test_report_writes_json_and_png(tmp_path):
    sc = scen([{"id": "gvt", "type": "car", "lane": 1, "s_m": 60.0, "behavior": {"type": "static"}}], duration=5.0)
    w = run_world(World(sc, seed=7))
    doc = write_report(tmp_path, sc, 7, w.summary(), w.timeseries())
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["passed"] is False and data["seed"] == 7 and data["summary"]["collision"] is True
    assert data["reasons"] and (tmp_path / "t.png").stat().st_size > 1000 and doc["scenario"] == "t"


def test_ecus_follow_only_the_functions_the_driver_switched_on():
    """vehicle_sim.ecus.ecu_command: the rule the simulator steps with and DAgger's expert rollout repeats."""
    import itertools

    from vehicle_sim.ecus import ActuationRequest, ecu_command

    req = ActuationRequest(controls_active=True, accel_mps2=-1.5, steering_wheel_angle_deg=12.0, aeb_active=True,
                           aeb_decel_mps2=6.0)
    for acc, lka, aeb in itertools.product((False, True), repeat=3):
        cmd = ecu_command(req, acc, lka, aeb)
        assert cmd.accel_mps2 == (-1.5 if acc else None)
        assert cmd.steering_wheel_angle_deg == (12.0 if lka else None)
        assert cmd.controls_active == (acc or lka)
        assert cmd.aeb_active == aeb and cmd.aeb_decel_mps2 == 6.0
    idle = ecu_command(ActuationRequest(), True, True, True)
    assert not idle.controls_active and not idle.aeb_active


def test_objects_base_link_are_relative_to_the_rear_axle_in_its_axes():
    w = World(scen([{"id": "lead", "type": "car", "lane": 1, "s_m": 60.0, "speed_kph": 50}],
                   ego={"speed_kph": 50, "lane": 1, "s_m": 20.0}), seed=0)
    w.ego.state.yaw = 0.3                                   # turned: the world and base_link axes differ
    lead = next(o for o in w.ground_truth_objects("world") if o.id == "lead")
    rel = next(o for o in w.objects_base_link() if o.id == "lead")
    st = w.ego_state
    c, s = math.cos(st.yaw), math.sin(st.yaw)
    # back to the world frame: rotate by the ego yaw, add the rear axle
    assert rel.x * c - rel.y * s + st.x == pytest.approx(lead.x)
    assert rel.x * s + rel.y * c + st.y == pytest.approx(lead.y)
    assert rel.yaw == pytest.approx(lead.yaw - 0.3)
    assert math.hypot(rel.vx, rel.vy) == pytest.approx(math.hypot(lead.vx, lead.vy))   # over ground, not relative
    assert rel.vx == pytest.approx(c * lead.vx + s * lead.vy)
