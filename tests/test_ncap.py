"""Euro NCAP grids, scenario geometry, scoring and the scenario YAML library."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from vehicle_sim import ncap
from vehicle_sim.ncap import TestPoint, colour_band, grid, scenario_dict, score

SCENARIO_DIR = Path(ncap.__file__).parent / "scenarios"
YAML_FILES = sorted(SCENARIO_DIR.rglob("*.yaml"))
L_EGO, W_EGO = ncap.EGO_LENGTH_M, ncap.EGO_WIDTH_M


# ---------------------------------------------------------------------------------------------- grids

@pytest.mark.parametrize("protocol,n_speeds,n_per_speed", [
    ("ccrs", 9, 5), ("ccrm", 11, 5), ("ccrb", 1, 4), ("cpna", 11, 2), ("cpna25", 11, 1), ("cpna75", 11, 1),
    ("cpfa", 11, 1), ("cbla", 8, 1),
])
def test_grid_sizes(protocol: str, n_speeds: int, n_per_speed: int) -> None:
    pts = grid(protocol)
    assert len(pts) == n_speeds * n_per_speed
    assert len({p.vut_kph for p in pts}) == n_speeds
    assert len({p.test_id for p in pts}) == len(pts)


def test_grid_contents() -> None:
    ccrs = grid("ccrs")
    assert sorted({p.vut_kph for p in ccrs}) == list(range(10, 51, 5))
    assert {p.overlap_pct for p in ccrs} == {-50, -75, 100, 75, 50}
    assert all(p.target_kph == 0 for p in ccrs)
    assert "ccrs_50kph_+75" in {p.test_id for p in ccrs}
    ccrm = grid("ccrm")
    assert sorted({p.vut_kph for p in ccrm}) == list(range(30, 81, 5))
    assert all(p.target_kph == 20 for p in ccrm)
    ccrb = grid("ccrb")
    assert {(p.target_decel_mps2, p.headway_m) for p in ccrb} == {(2, 12), (2, 40), (6, 12), (6, 40)}
    assert all(p.vut_kph == p.target_kph == 50 and p.overlap_pct == 100 for p in ccrb)
    assert sorted({p.vut_kph for p in grid("cbla")}) == list(range(25, 61, 5))
    assert {p.target_kph for p in grid("cpfa")} == {8}
    assert {p.target_kph for p in grid("cbla")} == {15}
    with pytest.raises(ValueError):
        grid("ccft")


def test_scenario_names_are_schema_names() -> None:
    for proto in ncap.PROTOCOLS:
        for p in grid(proto):
            assert re.fullmatch(r"[a-z0-9_]+", scenario_dict(p)["name"])
    assert ncap.find_point("ccrs_20kph_+50").scenario_name == "ccrs_20kph_p50"


# ------------------------------------------------------------------------------------------- geometry

def _actor(d: dict) -> dict:
    assert len(d["actors"]) == 1
    return d["actors"][0]


def _gap(d: dict) -> float:
    a = _actor(d)
    return a["s_m"] - d["ego"]["s_m"] - (L_EGO + a["size"]["length_m"]) / 2


@pytest.mark.parametrize("point", grid("ccrs") + grid("ccrm"), ids=lambda p: p.test_id)
def test_ccr_ttc_at_start_is_4s(point: TestPoint) -> None:
    d = scenario_dict(point)
    a = _actor(d)
    closing = (d["ego"]["speed_kph"] - a["speed_kph"]) / 3.6
    assert _gap(d) / closing == pytest.approx(4.0, abs=1e-3)
    assert d["ego"]["adas"] == {"aeb": True, "acc": False, "lka": False}
    assert d["ego"]["driver"]["model"] == "robot"
    assert d["success"] == {"no_collision": True}
    assert d["end"]["ego_stopped"] and d["end"]["collision"]
    assert ("ego_slower_than" in d["end"]) == (point.protocol == "ccrm")
    assert d["duration_s"] >= 4.0 + 5.0
    if point.protocol == "ccrs":
        assert a["speed_kph"] == 0 and a["behavior"]["type"] == "static"


@pytest.mark.parametrize("point", grid("ccrs"), ids=lambda p: p.test_id)
def test_ccr_overlap_geometry(point: TestPoint) -> None:
    d = scenario_dict(point)
    a = _actor(d)
    assert a["lane"] == d["ego"]["lane"]
    off = a["d_offset_m"] - d["ego"]["d_offset_m"]
    wt = a["size"]["width_m"]
    overlap = min(W_EGO / 2, off + wt / 2) - max(-W_EGO / 2, off - wt / 2)
    assert overlap / W_EGO * 100 == pytest.approx(abs(point.overlap_pct), abs=0.1)
    if point.overlap_pct != 100:          # convention: + = target to the left (d > 0)
        assert math.copysign(1, off) == math.copysign(1, point.overlap_pct)
    # the whole target must be on the road
    lanes, lw = d["road"]["lanes"], d["road"]["lane_width_m"]
    centre = a["lane"] * lw + a["d_offset_m"]
    assert -lw / 2 <= centre - wt / 2 and centre + wt / 2 <= (lanes - 0.5) * lw


@pytest.mark.parametrize("point", grid("ccrb"), ids=lambda p: p.test_id)
def test_ccrb_headway_and_brake(point: TestPoint) -> None:
    d = scenario_dict(point)
    a = _actor(d)
    assert _gap(d) == pytest.approx(point.headway_m, abs=1e-3)
    assert d["ego"]["speed_kph"] == a["speed_kph"] == 50
    (action,) = a["behavior"]["actions"]
    assert 1.0 <= action["trigger"]["time_s"] <= 2.0
    assert action["brake"]["decel_mps2"] == point.target_decel_mps2
    assert action["brake"]["ramp_s"] <= 1.0
    t_stop = action["trigger"]["time_s"] + action["brake"]["ramp_s"] + 50 / 3.6 / point.target_decel_mps2
    assert d["duration_s"] >= t_stop + 3.0


@pytest.mark.parametrize("point", grid("cpna") + grid("cpfa"), ids=lambda p: p.test_id)
def test_crossing_vru_impact_position(point: TestPoint) -> None:
    """If the ego holds speed, the walker is at the nominal % of the ego width when the bumper arrives."""
    d = scenario_dict(point)
    a = _actor(d)
    ego = d["ego"]
    v_e = ego["speed_kph"] / 3.6
    assert a["lane"] == ego["lane"] and a["behavior"]["type"] == "straight" and a["speed_kph"] == 0
    nearside = point.protocol == "cpna"
    assert a["heading_deg"] == (90 if nearside else -90)
    assert a["d_offset_m"] == (-4.0 if nearside else 6.0)
    (action,) = a["behavior"]["actions"]
    t_trig = (action["trigger"]["ego_s_m"] - ego["s_m"]) / v_e
    assert t_trig >= 1.0
    v_p = action["set_speed"]["speed_kph"] / 3.6
    acc = action["set_speed"]["accel_mps2"]
    assert v_p == pytest.approx(point.target_kph / 3.6)
    # first contact: bumper reaches the near face of the walker box (width_m lies along s when crossing)
    t_imp = (a["s_m"] - a["size"]["width_m"] / 2 - L_EGO / 2 - ego["s_m"]) / v_e
    # integrate the walker independently of ncap.vru_travel_time_s
    dt, t, v, moved = 1e-4, t_trig, 0.0, 0.0
    while t < t_imp - 1e-12:
        h = min(dt, t_imp - t)
        v_new = min(v_p, v + acc * h)
        moved += 0.5 * (v + v_new) * h
        v, t = v_new, t + h
    d_ped = a["d_offset_m"] + (moved if nearside else -moved)
    from_side = (d_ped + W_EGO / 2) if nearside else (W_EGO / 2 - d_ped)
    assert from_side / W_EGO * 100 == pytest.approx(point.impact_pct, abs=0.5)
    assert d["duration_s"] >= t_imp + 3.0


@pytest.mark.parametrize("point", grid("cbla"), ids=lambda p: p.test_id)
def test_cbla_geometry(point: TestPoint) -> None:
    d = scenario_dict(point)
    a = _actor(d)
    assert a["type"] == "cyclist" and a["speed_kph"] == 15 and a["heading_deg"] == 0
    assert a["d_offset_m"] == pytest.approx(0.0)          # 50 %: on the VUT centreline
    assert _gap(d) / ((d["ego"]["speed_kph"] - 15) / 3.6) == pytest.approx(4.0, abs=1e-3)
    assert d["end"]["ego_slower_than"] == "cyclist"


# -------------------------------------------------------------------------------------------- scoring

@pytest.mark.parametrize("speed,colour,factor", [
    (0, "green", 1.0), (4.99, "green", 1.0), (5, "yellow", 0.75), (14.9, "yellow", 0.75),
    (15, "orange", 0.5), (29.9, "orange", 0.5), (30, "brown", 0.25), (39.9, "brown", 0.25),
    (40, "red", 0.0), (80, "red", 0.0),
])
def test_colour_band_table(speed: float, colour: str, factor: float) -> None:
    assert colour_band(speed) == (colour, factor)


def test_colour_band_scales_with_test_speed() -> None:
    assert colour_band(10.0, 10.0)[0] == "red"        # unbraked 10 km/h impact
    assert colour_band(0.9, 10.0)[0] == "green"       # green limit at 10 km/h: 1 km/h
    assert colour_band(5.0, 20.0)[0] == "yellow"      # limits at 20 km/h: 2 / 6 / 12 / 16


def _no_collision(p: TestPoint) -> dict:
    return {"collision": False, "impact_speed_kph": 0.0, "relative_impact_speed_kph": 0.0}


def _unbraked(p: TestPoint) -> dict:
    return {"collision": True, "impact_speed_kph": p.vut_kph, "relative_impact_speed_kph": p.closing_kph}


@pytest.mark.parametrize("protocol", ["ccrs", "ccrm", "ccrb", "cpna", "cpfa", "cbla"])
def test_score_all_green_and_all_red(protocol: str) -> None:
    pts = grid(protocol)
    s = score(protocol, [(p, _no_collision(p)) for p in pts])
    assert s["score"] == pytest.approx(1.0) and s["n_tests"] == len(pts)
    assert score(protocol, [(p, _unbraked(p)) for p in pts])["score"] == pytest.approx(0.0)


def test_score_max_points() -> None:
    assert score("ccrs", [])["max_points"] == 14
    assert score("ccrm", [])["max_points"] == 15
    assert score("ccrb", [])["max_points"] == 4


def test_score_ccrs_mixed_hand_computed() -> None:
    results = []
    for p in grid("ccrs"):
        r = _no_collision(p)
        if p.vut_kph == 50 and p.overlap_pct == 100:
            r = {"collision": True, "impact_speed_kph": 20.0, "relative_impact_speed_kph": 20.0}  # orange
        if p.vut_kph == 50 and p.overlap_pct == 75:
            r = {"collision": True, "impact_speed_kph": 10.0, "relative_impact_speed_kph": 10.0}  # yellow
        results.append((p, r))
    s = score("ccrs", results)
    avg50 = (2 * 0.5 + 0.75 + 3 * 1.0) / 6
    assert s["per_speed"][50.0] == pytest.approx(avg50)
    assert s["points"] == pytest.approx(13 + avg50)
    assert s["score"] == pytest.approx((13 + avg50) / 14)


def test_score_ccrm_uses_relative_speed_and_weights() -> None:
    results = []
    for p in grid("ccrm"):
        r = _no_collision(p)
        if p.vut_kph == 80:                # 2-point speed; relative 12 km/h of 60 closing -> limits 6/18/36/48
            r = {"collision": True, "impact_speed_kph": 32.0, "relative_impact_speed_kph": 12.0}
        results.append((p, r))
    s = score("ccrm", results)
    assert s["per_speed"][80.0] == pytest.approx(0.75)
    assert s["score"] == pytest.approx((13 + 2 * 0.75) / 15)


def test_score_ccrb_and_vru_mixed() -> None:
    pts = grid("ccrb")
    speeds = [50.0, 0.0, 8.0, 20.0]      # red, green, yellow, orange at 50 km/h
    res = [(p, {"collision": v > 0, "impact_speed_kph": v, "relative_impact_speed_kph": v})
           for p, v in zip(pts, speeds)]
    assert score("ccrb", res)["score"] == pytest.approx((0 + 1 + 0.75 + 0.5) / 4)
    cpfa = grid("cpfa")
    res = [(p, _unbraked(p) if i < 3 else _no_collision(p)) for i, p in enumerate(cpfa)]
    assert score("cpfa", res)["score"] == pytest.approx(8 / 11)
    with pytest.raises(ValueError):
        score("ccrs", res)


def test_format_table() -> None:
    pts = grid("ccrs")[:5]
    res = [_unbraked(pts[0])] + [_no_collision(p) for p in pts[1:]]
    text = ncap.format_table(pts, res, score("ccrs", list(zip(pts, res))))
    lines = text.splitlines()
    for col in ("test", "VUT km/h", "overlap %", "passed", "collision", "impact km/h", "colour"):
        assert col in lines[0]
    assert len(lines) == 2 + 5 + 1
    assert "red" in lines[2] and "green" in lines[3] and "CCRS score" in lines[-1]


# ------------------------------------------------------------------------------------------- YAML files

_TOP = {"name", "description", "tags", "seed", "duration_s", "dt_s", "road", "ego", "actors", "end", "success"}
_ROAD = {"lanes", "lane_width_m", "segments", "markings"}
_EGO = {"lane", "s_m", "d_offset_m", "heading_offset_deg", "speed_kph", "adas", "driver"}
_ADAS = {"acc", "acc_set_speed_kph", "lka", "aeb"}
_EVENT = {"trigger", "steering_torque_nm", "brake_pct", "accelerator_pct", "duration_s"}
_ACTOR = {"id", "type", "size", "color", "lane", "s_m", "d_offset_m", "heading_deg", "speed_kph", "behavior"}
_BEHAVIOR = {"type", "idm", "actions"}
_TRIGGERS = {"time_s", "ego_s_m", "gap_m", "ttc_s"}
_ACTIONS = {"brake", "set_speed", "lane_change"}
_END = {"ego_stopped", "ego_slower_than", "collision"}
_SUCCESS = {"no_collision", "max_lane_departure_m", "min_distance_m", "max_decel_mps2", "min_final_speed_kph"}


def _check_schema_keys(d: dict) -> None:
    """Key-level check against SCHEMA.md, independent of the loader (catches typos early)."""
    assert set(d) <= _TOP and {"name", "duration_s", "ego"} <= set(d), set(d) - _TOP
    assert re.fullmatch(r"[a-z0-9_]+", d["name"]) and d["duration_s"] > 0
    assert set(d.get("road", {})) <= _ROAD
    assert set(d["ego"]) <= _EGO and "speed_kph" in d["ego"]
    assert set(d["ego"].get("adas", {})) <= _ADAS
    driver = d["ego"].get("driver", {})
    assert set(driver) <= {"model", "events"} and driver.get("model", "robot") in ("robot", "idle")
    for ev in driver.get("events", []):
        assert set(ev) <= _EVENT and len(set(ev["trigger"]) & _TRIGGERS) == 1
    ids = set()
    for a in d.get("actors", []):
        assert set(a) <= _ACTOR and {"id", "s_m"} <= set(a), set(a) - _ACTOR
        assert a["type"] in ("car", "truck", "pedestrian", "cyclist", "obstacle")
        assert a["id"] not in ids
        ids.add(a["id"])
        beh = a.get("behavior", {})
        assert set(beh) <= _BEHAVIOR
        assert beh.get("type", "lane_follow") in ("lane_follow", "idm", "straight", "static")
        for act in beh.get("actions", []):
            assert set(act["trigger"]) <= _TRIGGERS and len(act["trigger"]) == 1
            assert len(set(act) - {"trigger"}) == 1 and set(act) - {"trigger"} <= _ACTIONS
    end = d.get("end", {})
    assert set(end) <= _END
    if "ego_slower_than" in end:
        assert end["ego_slower_than"] in ids
    assert set(d.get("success", {})) <= _SUCCESS


def test_library_files_exist() -> None:
    names = {p.stem for p in YAML_FILES}
    for n in ("cut_in", "acc_following", "lane_keeping_curve", "highway_traffic", "static_obstacle",
              "driver_override"):
        assert n in names
    for tid in ncap.LIBRARY_IDS:
        assert ncap.find_point(tid).scenario_name in names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(SCENARIO_DIR)))
def test_yaml_parses_and_has_schema_keys(path: Path) -> None:
    d = yaml.safe_load(path.read_text())
    _check_schema_keys(d)
    assert d["name"] == path.stem


@pytest.mark.parametrize("proto", ncap.PROTOCOLS)
def test_generated_dicts_have_schema_keys(proto: str) -> None:
    for p in grid(proto):
        _check_schema_keys(scenario_dict(p))


def test_ncap_library_up_to_date(tmp_path: Path) -> None:
    for written in ncap.write_library(tmp_path):
        committed = SCENARIO_DIR / "ncap" / written.name
        assert committed.read_text() == written.read_text(), f"regenerate {committed} with write_library()"


def _loader():
    mod = pytest.importorskip("vehicle_sim.scenario")
    if not hasattr(mod, "load_scenario"):
        pytest.skip("vehicle_sim.scenario.load_scenario not available yet")
    return mod.load_scenario


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(SCENARIO_DIR)))
def test_yaml_loads_through_loader(path: Path) -> None:
    load_scenario = _loader()
    assert load_scenario(path) is not None
    assert load_scenario(str(path)) is not None


@pytest.mark.parametrize("proto", ncap.PROTOCOLS)
def test_generated_dicts_load_through_loader(proto: str) -> None:
    load_scenario = _loader()
    for p in grid(proto):
        assert load_scenario(scenario_dict(p)) is not None
