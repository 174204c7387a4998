"""Dataset generation for the end-to-end model: scenarios, format, labels, masks, expert future, resumption."""
from __future__ import annotations

import argparse
import json
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from perception.data import generate as gen
from perception.data.reader import CLASSES, DatasetError, open_dataset
from perception.data.scenario_gen import random_scenario
from vehicle_sim.road import Road
from vehicle_sim.scenario import load_scenario

TINY = dict(frames=12, width=64, height=32, workers=1, progress=False)
SHIPPED_FP32 = Path(__file__).resolve().parents[1] / "perception" / "weights" / "e2e_fp32.onnx"


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_ds")
    gen.generate(out, **TINY)
    return out


# ------------------------------------------------------------------------------------------- scenarios
def test_random_scenarios_load_and_are_deterministic():
    for seed in range(120):
        d = random_scenario(seed)
        sc = load_scenario(d)
        assert 1 <= sc.road.lanes <= 4 and 3.2 <= sc.road.lane_width_m <= 3.8
        assert all(abs(s.curvature_1pm) <= 1 / 250 + 1e-12 for s in sc.road.segments)
        assert 30 <= sc.ego.speed_kph <= 110 and 20 <= sc.duration_s <= 30
        assert sc.ego.adas.acc and sc.ego.adas.lka and sc.ego.adas.aeb and sc.ego.driver.model == "idle"
        assert abs(sc.ego.adas.acc_set_speed_kph - sc.ego.speed_kph) <= 0.15 * sc.ego.speed_kph
        assert all(a.color is not None for a in sc.actors)
        assert sc.road.length_m > 120 + sc.ego.adas.acc_set_speed_kph / 3.6 * sc.duration_s
    assert random_scenario(7) == random_scenario(7)
    assert random_scenario(7) != random_scenario(8)
    kinds = {a["type"] for s in range(120) for a in random_scenario(s).get("actors", [])}
    assert kinds == set(CLASSES)
    actions = [next(iter(set(act) - {"trigger"})) for s in range(120) for a in random_scenario(s).get("actors", [])
               for act in a.get("behavior", {}).get("actions", [])]
    assert {"lane_change", "brake", "set_speed"} <= set(actions)


def test_recovery_scenarios_disturb_the_start_and_leave_the_rest_alone():
    """--recoveries P: in about P of the scenes the ego starts off-centre, turned and below its set speed, and a
    lead that slows down later pulls out; the scene is otherwise the one the seed gives without it."""
    with pytest.raises(ValueError, match="recoveries must be in"):
        random_scenario(1, 1.5)
    perturbed, pull_outs = 0, 0
    for seed in range(120):
        plain, rec = random_scenario(seed), random_scenario(seed, 1.0)
        assert random_scenario(seed, 0.0) == plain
        sc = load_scenario(rec)
        e = sc.ego
        assert 0.25 <= abs(e.d_offset_m) <= 0.6 and abs(e.heading_offset_deg) <= 1.0
        assert e.speed_kph <= 0.9 * e.adas.acc_set_speed_kph + 0.05 or e.speed_kph == 20.0
        assert rec["ego"]["adas"] == plain["ego"]["adas"] and rec["road"] == plain["road"]
        assert [a["id"] for a in rec.get("actors", [])] == [a["id"] for a in plain.get("actors", [])]
        acts = [a["behavior"]["actions"] for a in rec.get("actors", []) if len(a.get("behavior", {}).get("actions", [])) > 1]
        for two in acts:
            assert "set_speed" in two[0] and "lane_change" in two[1]
            assert two[1]["trigger"]["time_s"] >= two[0]["trigger"]["time_s"] + 2.0
        pull_outs += bool(acts)
        perturbed += random_scenario(seed, 0.3) != plain
    assert pull_outs > 10
    assert 20 <= perturbed <= 55          # ~0.3 of 120


def test_recovery_datasets_record_the_setting_and_old_settings_stay_resumable(tmp_path):
    cfg = dict(frames=4, splits=(("train", 1.0),), seed=0, sample_hz=2.0, width=32, height=16, cameras=("front",),
               max_objects=8, shard_size=8, scenarios=None)
    for opt in ("recoveries", "stop_and_go", "approach"):                 # every scene option the same way
        assert opt not in gen.GenConfig(**cfg).as_json()                  # as before the option existed
        assert gen.GenConfig(**cfg, **{opt: 0.3}).as_json()[opt] == 0.3
        back = gen.GenConfig.from_json(gen.GenConfig(**cfg, **{opt: 0.3}).as_json())   # progress.json round trip
        assert back == gen.GenConfig(**cfg, **{opt: 0.3})
        with pytest.raises(ValueError, match="random scenarios only"):
            gen.generate(tmp_path / "x", frames=4, scenarios=["cut_in"], progress=False, **{opt: 0.5})
    assert gen.GenConfig.from_json(gen.GenConfig(**{**cfg, "scenarios": ("cut_in",)}).as_json()).scenarios == ("cut_in",)
    out = tmp_path / "rec"
    meta = gen.generate(out, frames=6, splits={"train": 1.0}, width=32, height=16, cameras=("front",),
                        recoveries=1.0, progress=False)
    assert meta["generator"]["recoveries"] == 1.0
    a = open_dataset(out).load_split("train")
    speed, set_speed = a["ego"][:, 0], a["ego"][:, 4]
    assert np.all(speed < 0.95 * set_speed)       # the first seconds of a run: the ACC is bringing it back up


def test_lane_offset_datasets_show_the_car_where_the_expert_holds_it(tmp_path):
    """--lane-offsets P: in about P of the runs the expert's LKA holds 0.3-0.9 m off the centre; meta.json lists
    each run's offset, and the ground-truth lane in the frames sits that far the other way from the car."""
    from perception.data.scenario_gen import lane_offset
    from perception.lanes import lane_centre

    offsets = [lane_offset(seed, 0.5) for seed in range(200)]
    drawn = [o for o in offsets if o]
    assert 70 <= len(drawn) <= 130 and all(0.3 <= abs(o) <= 0.9 for o in drawn)
    assert any(o > 0 for o in drawn) and any(o < 0 for o in drawn)
    assert lane_offset(7, 0.5) == lane_offset(7, 0.5) and not any(lane_offset(s, 0.0) for s in range(50))
    narrow = [abs(lane_offset(seed, 1.0, 3.2)) for seed in range(100)]   # 1.6 m - 0.9 m half car - 0.15 m margin
    assert max(narrow) <= 0.55 and min(narrow) >= 0.3 and max(abs(o) for o in drawn) > 0.6
    with pytest.raises(ValueError, match="lane_offsets must be in"):
        lane_offset(1, 2.0)
    with pytest.raises(ValueError, match="random scenarios only"):
        gen.generate(tmp_path / "x", frames=4, scenarios=["cut_in"], progress=False, lane_offsets=0.5)
    with pytest.raises(ValueError, match="use one of them"):
        gen.generate(tmp_path / "y", frames=4, progress=False, lane_offsets=0.5, dagger=SHIPPED_FP32)
    out = tmp_path / "off"
    meta = gen.generate(out, frames=12, splits={"train": 1.0}, sample_hz=1.0, width=64, height=32,
                        cameras=("front",), lane_offsets=1.0, progress=False)
    assert meta["generator"]["lane_offsets"] == 1.0
    info = meta["splits"]["train"]
    assert len(info["lka_lane_offsets_m"]) == len(info["scenario_seeds"]) == info["runs"]
    want = info["lka_lane_offsets_m"][0]
    assert 0.3 <= abs(want) <= 0.9
    a = open_dataset(out).load_split("train")
    first = a["scenario_seed"] == info["scenario_seeds"][0]
    b = meta["bev"]
    seen = []
    for m in a["bev_masks"][first][4:, 0]:               # after the first seconds: the LKA has moved the car over
        lc = lane_centre(m > 0, (b["x_min"], b["x_max"], b["y_min"], b["y_max"]), b["resolution_m"])
        if lc is not None:
            seen.append(float(lc.y_at(np.array([5.0]))[0]))
    assert len(seen) >= 3
    assert abs(np.median(seen) + want) < 0.25             # the centre lies `want` to the other side of the car


def test_stop_and_go_scenarios_stop_the_lead_or_start_standing():
    """--stop-and-go P: the ego's lead brakes to a stop and drives off again, or the ego starts stopped behind a
    stopped lead that drives off (and nothing else is in the ego lane); the rest of the scene is unchanged."""
    with pytest.raises(ValueError, match="stop_and_go must be in"):
        random_scenario(1, 0.0, -0.1)
    kinds = {"stop_and_go": 0, "standing_start": 0}
    picked = 0
    for seed in range(80):
        plain, sng = random_scenario(seed), random_scenario(seed, 0.0, 1.0)
        assert random_scenario(seed, 0.0, 0.0) == plain
        load_scenario(sng)
        kind = sng["tags"][-1]
        kinds[kind] += 1
        assert sng["road"] == plain["road"] and sng["ego"]["adas"] == plain["ego"]["adas"]
        lane = sng["ego"]["lane"]
        lead = [a for a in sng["actors"] if a.get("lane") == lane and a.get("behavior", {}).get("actions")
                and "d_offset_m" not in a and a["s_m"] > sng["ego"]["s_m"]]
        acts = lead[0]["behavior"]["actions"]
        if kind == "stop_and_go":
            assert "brake" in acts[0] and "set_speed" in acts[1]
            stop_t = acts[0]["trigger"]["time_s"] + lead[0]["speed_kph"] / 3.6 / acts[0]["brake"]["decel_mps2"]
            assert acts[1]["trigger"]["time_s"] >= stop_t + 2.0      # it stands still for a while first
            assert sng["ego"]["speed_kph"] == plain["ego"]["speed_kph"]
        else:
            assert sng["ego"]["speed_kph"] == 0.0 and lead[0]["speed_kph"] == 0.0 and "set_speed" in acts[0]
            gap = lead[0]["s_m"] - lead[0]["size"]["length_m"] / 2 - sng["ego"]["s_m"] - 2.35
            assert 4.0 <= gap <= 9.5
            own = [a for a in sng["actors"] if a.get("lane") == lane and a["type"] in ("car", "truck")
                   and "d_offset_m" not in a and a.get("behavior", {}).get("type") == "idm"]
            assert own == [lead[0]]
        picked += random_scenario(seed, 0.0, 0.4) != plain
    assert kinds["stop_and_go"] > 20 and kinds["standing_start"] > 20
    assert 18 <= picked <= 46             # ~0.4 of 80


def test_approach_scenarios_start_closing_in_on_a_slower_lead():
    """--approach P: the run starts 20-50 m behind an ego-lane lead that is slower by up to 12 m/s (and no more
    than a 4 m/s^2 stop with 6 m to spare allows), which keeps its speed; the rest of the scene is unchanged."""
    with pytest.raises(ValueError, match="approach must be in"):
        random_scenario(1, 0.0, 0.0, 1.5)
    picked = 0
    for seed in range(60):
        plain, ap = random_scenario(seed), random_scenario(seed, 0.0, 0.0, 1.0)
        load_scenario(ap)
        assert ap["tags"][-1] == "approach" and ap["road"] == plain["road"] and ap["ego"] == plain["ego"]
        ego = ap["ego"]
        own = [a for a in ap["actors"] if a.get("lane") == ego["lane"] and "d_offset_m" not in a
               and a.get("behavior", {}).get("type") == "idm" and a["s_m"] > ego["s_m"]]
        lead = min(own, key=lambda a: a["s_m"])
        gap = lead["s_m"] - lead["size"]["length_m"] / 2 - ego["s_m"] - 2.35
        dv = (ego["speed_kph"] - lead["speed_kph"]) / 3.6
        assert 19.9 <= gap <= 50.1 and 0.0 < dv <= 12.05 and lead["speed_kph"] > 0
        assert dv ** 2 / (2 * (gap - 6.0)) <= 4.05
        assert "actions" not in lead["behavior"]
        picked += random_scenario(seed, 0.0, 0.0, 0.5) != plain
    assert 18 <= picked <= 42             # ~0.5 of 60


def test_stop_and_go_expert_drives_off_again():
    """The expert (classical ACC, full node graph) starts from standstill once its lead has moved off."""
    from edgepilot.runner import RunRequest, run_generated

    seed = next(s for s in range(20) if random_scenario(s, 0.0, 1.0)["tags"][-1] == "standing_start")
    r = run_generated(random_scenario(seed, 0.0, 1.0), RunRequest(scenario="", driver="classical",
                                                                   log_level="error", out_dir=None))
    assert not r["collision"] and r["final_speed_kph"] > 30.0


# ------------------------------------------------------------------------------------------- format
def test_shards_match_the_documented_format(tiny):
    ds = open_dataset(tiny)
    meta = ds.meta
    assert meta["version"] == 2 and meta["classes"] == list(CLASSES)
    assert [c["name"] for c in meta["cameras"]] == ["front", "front_left", "front_right"]
    assert np.shape(meta["cameras"][0]["K"]) == (3, 3) and np.shape(meta["cameras"][0]["T_cam_to_ego"]) == (4, 4)
    assert meta["bev"] == {"x_min": -10.0, "x_max": 50.0, "y_min": -16.0, "y_max": 16.0, "resolution_m": 0.5}
    assert meta["future"] == {"horizon_s": 3.0, "rate_hz": 2.0, "steps": 6}
    assert {k: v["frames"] for k, v in meta["splits"].items()} == {"train": 10, "val": 1, "test": 1}
    expected = {"images": (np.uint8, (3, 32, 64, 3)), "ego": (np.float32, (5,)), "command": (np.int64, ()),
                "objects": (np.float32, (32, 9)), "num_objects": (np.int64, ()), "visibility": (np.float32, (32,)),
                "objects_future": (np.float32, (32, 6, 3)), "objects_future_valid": (np.bool_, (32, 6)),
                "bev_masks": (np.uint8, (2, 120, 64)), "future": (np.float32, (6, 2)),
                "future_valid": (np.bool_, (6,)), "scenario_seed": (np.int64, ()), "t": (np.float32, ())}
    for split in ("train", "val", "test"):
        shards = ds.shards[split]
        assert [p.name for p in shards] == ["shard_00000.npz"]
        with np.load(shards[0]) as z:
            assert set(z.files) == set(expected)
            for key, (dtype, shape) in expected.items():
                assert z[key].dtype == dtype, key
                assert z[key].shape == (meta["splits"][split]["frames"],) + shape, key
    frames = list(ds.iter_frames("train"))
    assert len(frames) == 10 and frames[0]["images"].shape == (3, 32, 64, 3)
    a = ds.load_split("train")
    assert np.all(a["command"] == 0) and np.all(np.diff(a["t"]) > 0)
    assert np.allclose(a["t"], 1.0 + 0.5 * np.arange(10))
    assert a["images"].std() > 5     # not blank


def test_splits_are_disjoint_in_scenario_seeds(tiny):
    ds = open_dataset(tiny)
    seeds = {split: set(ds.load_split(split)["scenario_seed"].tolist()) for split in ds.splits}
    for split, s in seeds.items():
        assert s == set(ds.meta["splits"][split]["scenario_seeds"])
        base = gen.SPLIT_SEED_BASE[split]
        assert all(base <= v < base + 1_000_000 for v in s)
    assert not (seeds["train"] & seeds["val"]) and not (seeds["train"] & seeds["test"])
    assert not (seeds["val"] & seeds["test"])


# ------------------------------------------------------------------------------------------- labels
def test_objects_in_range_and_consistent_with_the_simulator(tiny):
    from edgepilot.runner import RunRequest, build_lockstep_graph

    a = open_dataset(tiny).load_split("train")
    m = a["objects"]
    n = a["num_objects"]
    for i in range(len(n)):
        rows, rest = m[i, :n[i]], m[i, n[i]:]
        assert np.all(rest == 0)
        assert np.all((rows[:, 1] >= -10) & (rows[:, 1] <= 50) & (rows[:, 2] >= -16) & (rows[:, 2] <= 16))
        assert np.all(np.diff(np.hypot(rows[:, 1], rows[:, 2])) >= 0)      # nearest first
        assert np.all((rows[:, 0] >= 0) & (rows[:, 0] < len(CLASSES)))
    assert n.sum() > 0
    # replay the first frame's run to its time and compare with the simulator's ground truth
    seed, t = int(a["scenario_seed"][0]), float(a["t"][0])
    d = random_scenario(seed)
    path = tiny / "replay.yaml"
    path.write_text(yaml.safe_dump(d))
    graph = build_lockstep_graph(RunRequest(scenario=str(path), seed=seed, out_dir=tiny / "replay"))
    try:
        graph.spin_until(t)
        sim = graph.sim.sim
        truth = sorted((o for o in sim.objects_base_link() if -10 <= o.x <= 50 and -16 <= o.y <= 16),
                       key=lambda o: (math.hypot(o.x, o.y), o.id))
        classes = {act.id: act.cls for act in sim.world.actors}
        st = sim.world.ego_state
        ego = [st.speed, st.ax, st.yaw_rate, math.radians(st.steering_wheel_angle_deg), d["ego"]["adas"]["acc_set_speed_kph"] / 3.6]
    finally:
        graph.close()
        path.unlink()
    assert len(truth) == n[0]
    for row, o in zip(m[0], truth):
        assert CLASSES[int(row[0])] == classes[o.id] == o.cls
        assert abs(row[1] - o.x) < 1e-4 and abs(row[2] - o.y) < 1e-4
        assert np.allclose(row[3:], [o.length, o.width, o.yaw, o.vx, o.vy, o.height], atol=1e-4)
    assert np.allclose(a["ego"][0], ego, atol=1e-5)


def test_bev_masks_of_a_straight_road_exactly():
    road = Road(lanes=2, lane_width_m=3.5)
    masks = gen.bev_masks(road, 100.0, 0.0, 0.0)
    gx, gy = gen.BEV.cell_centres()
    lines, drivable = masks[0].astype(bool), masks[1].astype(bool)
    assert np.array_equal(drivable, (gy >= -1.75) & (gy <= 5.25))
    near_line = np.min(np.abs(gy[..., None] - np.array([-1.75, 1.75, 5.25])), axis=-1) < 0.25
    assert np.array_equal(lines, near_line)
    assert lines[:, 28].all() and lines[:, 35].all()        # y = +1.75 and -1.75 cells, every row
    # rotated ego: the same road seen from an ego yawed by 90 deg runs across the grid
    turned = gen.bev_masks(road, 100.0, 0.1, math.pi / 2)[1].astype(bool)
    assert np.array_equal(turned, (gx >= -1.85) & (gx <= 5.15))     # ego faces world +y: lanes ahead


def test_masks_show_the_ego_lane_in_generated_frames(tiny):
    ds = open_dataset(tiny)
    a = ds.load_split("train")
    width = random_scenario(int(a["scenario_seed"][0]))["road"]["lane_width_m"]
    gx, gy = gen.BEV.cell_centres()
    ahead = (gx > 0) & (gx < 20)
    for mk in a["bev_masks"]:
        assert mk[1][ahead & (np.abs(gy) < 1.0)].all()                    # own lane ahead drivable
        for side in (1, -1):
            band = ahead & (np.abs(gy - side * width / 2) <= 0.5)
            rows_with_line = np.unique(np.nonzero(mk[0] & band)[0])
            assert len(rows_with_line) == np.unique(np.nonzero(band)[0]).size   # a line cell in every row
        assert not mk[0][ahead & (np.abs(gy) < width / 2 - 0.6)].any()      # no line inside the lane


# ------------------------------------------------------------------------------------------- future
def test_future_at_constant_speed_on_a_straight_road(tmp_path):
    sc = {"name": "straight_cruise", "duration_s": 4.5, "road": {"lanes": 1, "segments": [{"length_m": 2000}]},
          "ego": {"s_m": 50, "speed_kph": 72, "adas": {"acc": True, "lka": True}, "driver": {"model": "idle"}}}
    path = tmp_path / "straight_cruise.yaml"
    path.write_text(yaml.safe_dump(sc))
    out = tmp_path / "ds"
    gen.generate(out, frames=5, splits={"train": 1.0}, width=32, height=16, cameras=("front",),
                 scenarios=[str(path)], progress=False)
    a = open_dataset(out).load_split("train")
    assert np.allclose(a["t"], [1.0, 1.5, 2.0, 2.5, 3.0])
    ts = 0.5 * np.arange(1, 7)
    for i in range(5):
        v = a["ego"][i, 0]
        valid = a["future_valid"][i]
        assert np.array_equal(valid, a["t"][i] + ts <= 4.49 + 1e-6)    # the run's last step is 4.49 s
        fut = a["future"][i][valid]
        assert np.allclose(fut[:, 0], v * ts[valid], rtol=0.02, atol=0.05)
        assert np.all(np.abs(fut[:, 1]) < 0.05)
        assert np.all(a["future"][i][~valid] == 0)
    assert not a["future_valid"][-1, -1] and a["future_valid"][0].all()


def test_future_in_ego_frame_rotates_and_translates():
    poses = np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    out = gen.future_in_ego_frame(poses, np.array([True, False]), 1.0, 1.0, math.pi / 2)
    assert np.allclose(out, [[2.0, 0.0], [0.0, 0.0]], atol=1e-6)


# ------------------------------------------------------------------------------------------- resumption
def test_rerun_does_nothing_and_keeps_bytes(tiny, monkeypatch):
    before = _hashes(tiny)
    assert "progress.json" in before and not (tiny / ".runs").exists()
    monkeypatch.setattr(gen, "_run_job", lambda args: pytest.fail("a finished run was run again"))
    gen.generate(tiny, **TINY)
    assert _hashes(tiny) == before
    with pytest.raises(ValueError, match="frames"):
        gen.generate(tiny, **{**TINY, "frames": 13})


def test_interrupted_generation_resumes_to_the_same_bytes(tiny, tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    calls = []
    real = gen._run_job

    def flaky(args):
        if calls:
            raise KeyboardInterrupt
        calls.append(args)
        return real(args)

    monkeypatch.setattr(gen, "_run_job", flaky)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(out, **TINY)
    assert not (out / "meta.json").exists() and (out / "progress.json").exists()
    monkeypatch.setattr(gen, "_run_job", real)
    gen.generate(out, **{**TINY, "workers": 2})      # resumed in a process pool: same output as 1 worker
    assert _hashes(out) == _hashes(tiny)


# ------------------------------------------------------------------------------------------- reader
def test_reader_names_file_and_key_on_bad_shards(tiny, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny, bad)
    shard = bad / "val" / "shard_00000.npz"
    with np.load(shard) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez_compressed(shard, **{k: v for k, v in arrays.items() if k != "future"})
    with pytest.raises(DatasetError, match=r"shard_00000\.npz.*'future'"):
        open_dataset(bad).load_split("val")
    np.savez_compressed(shard, **{**arrays, "ego": arrays["ego"][:, :3]})
    with pytest.raises(DatasetError, match=r"shard_00000\.npz.*'ego'.*shape"):
        open_dataset(bad).load_split("val")
    (bad / "meta.json").unlink()
    with pytest.raises(DatasetError, match="meta.json"):
        open_dataset(bad)


def test_split_frame_counts_are_proportional():
    assert gen.split_frame_counts(12, {"train": .8, "val": .1, "test": .1}) == {"train": 10, "val": 1, "test": 1}
    assert gen.split_frame_counts(1000, {"train": .8, "val": .1, "test": .1}) == {"train": 800, "val": 100,
                                                                                   "test": 100}
    with pytest.raises(ValueError, match="holdout"):
        gen.split_frame_counts(10, {"holdout": 1.0})


# ------------------------------------------------------------------------------------------- CLI
def test_cli_registers_perception_dataset():
    from perception import cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    psub = cli.add_parser(sub)
    psub.add_parser("extra")                         # another module can add subcommands
    args = parser.parse_args(["perception", "dataset", "--frames", "5", "--out", "x", "--workers", "2",
                              "--scenarios", "cut_in,highway_traffic"])
    assert args.func is cli._cmd_dataset and args.frames == 5 and args.width == 256 and args.height == 128
    assert parser.parse_args(["perception", "extra"]).perception_command == "extra"


def test_cli_dataset_splits_keep_val_and_test_of_a_smaller_dataset(tmp_path):
    """--splits train=W,val=W,test=W: a split's runs depend only on its own count, so growing train leaves val and
    test byte-identical (how v2.3's 8400-frame train set kept v2.2's test frames)."""
    from edgepilot.cli import main

    assert main(["perception", "dataset", "--frames", "12", "--splits", "train=4,val=1,test=1", "--out",
                 str(tmp_path / "a"), "--no-progress"]) == 0
    assert main(["perception", "dataset", "--frames", "16", "--splits", "train=8,val=4,test=4", "--out",
                 str(tmp_path / "b"), "--no-progress"]) == 0
    meta_a = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert {k: v["frames"] for k, v in meta_a["splits"].items()} == {"train": 8, "val": 2, "test": 2}
    a = np.load(tmp_path / "a" / "test" / "shard_00000.npz")
    b = np.load(tmp_path / "b" / "test" / "shard_00000.npz")
    assert np.array_equal(a["images"], b["images"][:2]) and np.array_equal(a["scenario_seed"], b["scenario_seed"][:2])
    bad = ["perception", "dataset", "--frames", "5", "--splits", "train=1,val", "--out", str(tmp_path / "c")]
    assert main(bad) == 2


def test_visibility_of_hand_made_boxes():
    from perception.data.visibility import box_visibility
    from vehicle_sim.camera import camera_info, default_rig

    cams = []
    for spec in default_rig(256, 128)[:3]:
        info = camera_info(spec)
        cams.append({"width": 256, "height": 128, "K": info.K.tolist(), "T_cam_to_ego": info.T_cam_to_ego.tolist()})
    car = [0, 20.0, 0.0, 4.5, 1.9, 0.0, 0.0, 0.0, 1.5]
    behind = [0, -8.0, 0.0, 4.5, 1.9, 0.0, 0.0, 0.0, 1.5]
    truck = [1, 12.0, 0.0, 10.0, 2.5, 0.0, 0.0, 0.0, 3.8]
    hidden = [0, 30.0, 0.0, 4.5, 1.9, 0.0, 0.0, 0.0, 1.5]
    v = box_visibility(np.array([car, behind]), cams)
    assert v[0] == 1.0 and v[1] == 0.0
    v = box_visibility(np.array([truck, hidden]), cams)
    assert v[0] > 0.8 and v[1] == 0.0                      # a car right behind a tall truck is hidden
    hidden[2] = 7.0                                         # two lanes over it shows again
    assert box_visibility(np.array([truck, hidden]), cams)[1] > 0.5
    assert box_visibility(np.zeros((0, 9)), cams).shape == (0,)


# ------------------------------------------------------------------------------------------- depth labels
def _box(x, y, l, w, h, yaw=0.0, cls=0):
    return [cls, x, y, l, w, yaw, 0.0, 0.0, h]


def test_token_depth_hits_the_nearest_box_face_or_the_ground():
    from perception.data.depth import token_depths

    origins = np.array([[1.5, 0.0, 1.2]] * 4)
    dirs = np.array([[1.0, 0.0, -0.1],    # ground at 12 m, a 1.5 m box's front face (x = 7) at 5.5 m
                     [1.0, 0.0, -0.1],    # same ray over a 0.5 m box: enters through its top (z = 0.5) at 7 m
                     [1.0, 0.0, 0.2],     # upwards over the box: sky
                     [1.0, 0.3, -0.1]])   # misses the boxes to the left: ground at 12 m
    objs = np.array([_box(8.0, 0.0, 2.0, 2.0, 1.5), _box(30.0, 0.0, 4.0, 2.0, 1.5)])
    d, obj = token_depths(objs, 2, origins, dirs)
    assert d[0] == pytest.approx(5.5) and obj[0]
    assert np.isinf(d[2]) and not obj[2]
    assert d[3] == pytest.approx(12.0) and not obj[3]
    low = np.array([_box(8.0, 0.0, 2.0, 2.0, 0.5)])
    d, obj = token_depths(low, 1, origins, dirs)
    assert d[1] == pytest.approx(7.0) and obj[1]
    d, obj = token_depths(objs, 0, origins, dirs)                       # rows past num_objects are ignored
    assert d[0] == pytest.approx(12.0) and not obj.any()
    yawed = np.array([_box(8.0, 0.0, 2.0, 2.0, 1.5, yaw=np.pi / 2)])  # a square box turned 90 deg: same face
    assert token_depths(yawed, 1, origins, dirs)[0][0] == pytest.approx(5.5)


def test_depth_targets_are_soft_bins_with_object_weight_and_ignored_sky():
    from perception.data.depth import OBJECT_WEIGHT, depth_targets

    origins = np.array([[1.5, 0.0, 1.2]] * 4)
    dirs = np.array([[1.0, 0.0, -0.1], [1.0, 0.5, -0.1], [1.0, 0.0, 0.2], [1.0, 0.3, -0.01]])
    objs = np.zeros((1, 3, 9))
    objs[0, 0] = _box(8.0, 0.0, 2.0, 2.0, 1.5)
    target, weight = depth_targets(objs, np.array([1]), origins, dirs, 1.0, 57.0, 56, (-10.0, 50.0, -16.0, 16.0))
    assert target.shape == (1, 4, 56) and weight.shape == (1, 4)
    assert target[0, 0, 4] == pytest.approx(1.0) and weight[0, 0] == OBJECT_WEIGHT   # 5.5 m: centre of bin 4
    assert target[0, 1, 10] == pytest.approx(0.5) and target[0, 1, 11] == pytest.approx(0.5)  # 12 m: between
    assert weight[0, 1] == 1.0
    assert weight[0, 2] == 0.0 and target[0, 2].sum() == 0.0             # sky: no label
    assert weight[0, 3] == 0.0                                          # ground at 120 m: past the bins
    np.testing.assert_allclose(target[0, :2].sum(-1), 1.0)
    # ground hits outside the labelled BEV range are ignored (an unlabelled object could stand there)
    _, w = depth_targets(objs, np.array([0]), origins, dirs, 1.0, 57.0, 56, (-10.0, 50.0, -5.0, 5.0))
    assert w[0, 0] == 1.0 and w[0, 1] == 0.0                             # y = 6 m at the second ray's hit
