"""Dataset generation: closed-loop runs of (randomized) scenarios with the classical ADAS as the expert.

Each run builds the full lockstep node graph (sim, can_bridge, adas, safety; edgepilot.runner), steps it on
simulation time and samples frames at ``sample_hz`` after a warm-up: camera images, the ego status, objects,
BEV lane/drivable masks and the ego's own future path (the expert trajectory). Format: perception/DATASET.md.

Why it is organised in runs and waves: a run is the unit of work, caching and resumption (``.runs/`` plus
``progress.json``). Which runs exist is decided in waves from the results of the previous waves only, and
runs contribute frames in run order, so the output does not depend on ``workers`` or on interruptions.
Runs that end in a collision or leave their lane are dropped: the expert must be a good driver.

``command`` is always 0 (lane_follow): the classical expert never changes lanes.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from ..features import ego_vector
from .reader import CLASSES, COMMANDS, FORMAT_VERSION, OBJECT_FIELDS, validate_arrays
from .scenario_gen import check_shares, lane_offset, random_scenario
from .visibility import box_visibility

SPLIT_SEED_BASE = {"train": 0, "val": 1_000_000, "test": 2_000_000}
SEED_STRIDE = 10_007          # dataset seed S, run i -> scenario seed base + (S * stride + i) mod 1e6
WARMUP_S = 1.0
FUTURE_DT_S = 0.5
FUTURE_STEPS = 6
MAX_LANE_DEPARTURE_M = 0.3    # a run whose body left its lane by more is dropped
LINE_TYPES_DRAWN = ("solid", "dashed")


@dataclass(frozen=True)
class BevGrid:
    """The BEV raster in the ego frame: row i <-> x = x_max - (i+0.5) res, column j <-> y = y_max - (j+0.5) res."""

    x_min: float = -10.0
    x_max: float = 50.0
    y_min: float = -16.0
    y_max: float = 16.0
    resolution_m: float = 0.5

    @property
    def shape(self) -> tuple[int, int]:
        return (int(round((self.x_max - self.x_min) / self.resolution_m)),
                int(round((self.y_max - self.y_min) / self.resolution_m)))

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every cell centre, each (rows, cols)."""
        rows, cols = self.shape
        x = self.x_max - (np.arange(rows) + 0.5) * self.resolution_m
        y = self.y_max - (np.arange(cols) + 0.5) * self.resolution_m
        return np.broadcast_to(x[:, None], (rows, cols)), np.broadcast_to(y[None, :], (rows, cols))


BEV = BevGrid()


@dataclass(frozen=True)
class GenConfig:
    """Everything that determines the dataset's bytes (stored in progress.json and meta.json)."""

    frames: int
    splits: tuple[tuple[str, float], ...]
    seed: int
    sample_hz: float
    width: int
    height: int
    cameras: tuple[str, ...]
    max_objects: int
    shard_size: int
    scenarios: tuple[str, ...] | None      # None: random_scenario; else library names / YAML paths
    recoveries: float = 0.0                # random scenarios: share with a disturbed start / a lead pulling out
    stop_and_go: float = 0.0               # random scenarios: share with a lead stopping and driving off again
    approach: float = 0.0                  # random scenarios: share starting to close in on a slower lead
    dagger: str = ""                       # ONNX driving model: it drives, the expert labels its states (DAgger)
    dagger_sha256: str = ""                # that file's digest: a resumed dataset is driven by the same model
    lane_offsets: float = 0.0              # random scenarios: share in which the expert's LKA holds an off-centre position

    def as_json(self) -> dict:
        d = asdict(self)
        d["splits"] = {k: v for k, v in self.splits}
        d["cameras"] = list(self.cameras)
        d["scenarios"] = None if self.scenarios is None else list(self.scenarios)
        for opt in ("recoveries", "stop_and_go", "approach", "dagger", "dagger_sha256",
                    "lane_offsets"):      # older datasets stay resumable (same JSON)
            if not getattr(self, opt):
                d.pop(opt)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "GenConfig":
        """The inverse of `as_json` (progress.json's "config"): re-creates the runs of a dataset, e.g. to look
        at what its frames left out."""
        d = dict(d)
        d["splits"] = tuple(d["splits"].items())
        d["cameras"] = tuple(d["cameras"])
        d["scenarios"] = None if d.get("scenarios") is None else tuple(d["scenarios"])
        return cls(**d)


@dataclass(frozen=True)
class RunJob:
    split: str
    index: int
    scenario_seed: int
    max_frames: int


# --------------------------------------------------------------------------------------------- helpers
def split_frame_counts(frames: int, splits: dict[str, float]) -> dict[str, int]:
    """Frames per split proportional to the fractions (largest remainder, so they sum to ``frames``)."""
    for name, frac in splits.items():
        if name not in SPLIT_SEED_BASE:
            raise ValueError(f"splits: unknown split {name!r} (use {', '.join(SPLIT_SEED_BASE)})")
        if not (isinstance(frac, (int, float)) and frac >= 0):
            raise ValueError(f"splits[{name!r}]: fraction must be >= 0, got {frac!r}")
    total = float(sum(splits.values()))
    if total <= 0:
        raise ValueError(f"splits: fractions must sum to > 0, got {splits}")
    raw = {k: frames * v / total for k, v in splits.items()}
    out = {k: int(math.floor(v)) for k, v in raw.items()}
    rest = frames - sum(out.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - out[k]), list(splits).index(k)))[:rest]:
        out[k] += 1
    return out


def scenario_seed(split: str, dataset_seed: int, index: int) -> int:
    """Scenario seed of run ``index`` of a split: splits live in disjoint seed ranges of width 1e6."""
    return SPLIT_SEED_BASE[split] + (int(dataset_seed) * SEED_STRIDE + int(index)) % 1_000_000


def scenario_source(cfg: GenConfig, seed: int) -> dict | str:
    """The scenario of a run: a random dict, or a library name / YAML path picked by the seed."""
    if cfg.scenarios is None:
        return random_scenario(seed, cfg.recoveries, cfg.stop_and_go, cfg.approach)
    return cfg.scenarios[seed % len(cfg.scenarios)]


def run_lane_offset(cfg: GenConfig, seed: int, scenario: dict | None = None) -> float:
    """The lane position the expert holds in a run (scenario_gen.lane_offset; 0 for library scenarios).
    `scenario`: the run's random scenario when the caller has built it already."""
    if cfg.scenarios is not None or not cfg.lane_offsets:
        return 0.0
    scenario = scenario if scenario is not None else scenario_source(cfg, seed)
    return lane_offset(seed, cfg.lane_offsets, float(scenario["road"]["lane_width_m"]))


def scenario_duration(src: dict | str) -> tuple[float, float]:
    from vehicle_sim.scenario import load_scenario

    sc = load_scenario(src)
    return sc.duration_s, sc.dt_s


def sample_steps(duration_s: float, dt_s: float, sample_hz: float) -> np.ndarray:
    """Simulation step indices of the samples: warm-up, then every 1/sample_hz until the last step before
    the end (the run is never stepped to its end, which would write a report)."""
    last = int(round(duration_s / dt_s)) - 1
    period = 1.0 / sample_hz
    n = int(math.floor((last * dt_s - WARMUP_S) / period + 1e-9)) + 1
    steps = np.round((WARMUP_S + np.arange(max(n, 0)) * period) / dt_s).astype(np.int64)
    return steps[steps <= last]


def lighting_for(seed: int) -> dict:
    """Random sun direction, sky and ground colour for a run (seeded)."""
    rng = np.random.default_rng([int(seed), 0x11647])
    elev = math.radians(rng.uniform(15.0, 75.0))
    azim = rng.uniform(0.0, 2 * math.pi)
    sun = (math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev))
    clear, overcast, dusk = np.array([120, 170, 230]), np.array([175, 180, 190]), np.array([230, 160, 120])
    w = rng.dirichlet([4.0, 1.0, 0.7])
    sky = np.clip(w[0] * clear + w[1] * overcast + w[2] * dusk + rng.normal(0, 8, 3), 0, 255)
    ground = np.clip(np.array([86, 118, 64]) * rng.uniform(0.7, 1.3) + rng.normal(0, 10, 3), 0, 255)
    return {"sun_dir": tuple(round(v, 4) for v in sun), "sky_rgb": tuple(int(v) for v in sky),
            "ground_rgb": tuple(int(v) for v in ground)}


def bev_masks(road, ego_x: float, ego_y: float, ego_yaw: float, grid: BevGrid = BEV) -> np.ndarray:
    """uint8 [2, rows, cols]: lane lines (painted lines, dash gaps filled: the cell the line passes through)
    and drivable area (between the outer lane lines, 0 <= s <= road length), from the exact road geometry."""
    gx, gy = grid.cell_centres()
    c, s = math.cos(ego_yaw), math.sin(ego_yaw)
    wx = ego_x + c * gx - s * gy
    wy = ego_y + s * gx + c * gy
    ss, dd = road.project(wx.ravel(), wy.ravel())
    ss, dd = ss.reshape(gx.shape), dd.reshape(gx.shape)
    on_road = (ss >= 0.0) & (ss <= road.length_m)
    half_w = road.lane_width_m / 2
    drivable = on_road & (dd >= -half_w) & (dd <= (road.lanes - 1) * road.lane_width_m + half_w)
    line_d = np.array([ln.d_m for ln in road.lane_lines() if ln.kind in LINE_TYPES_DRAWN])
    lines = np.zeros_like(drivable)
    if line_d.size:
        lines = on_road & (np.abs(dd[..., None] - line_d).min(axis=-1) < grid.resolution_m / 2)
    return np.stack([lines, drivable]).astype(np.uint8)


def objects_array(objs, max_objects: int, grid: BevGrid = BEV, ids: list | None = None) -> tuple[np.ndarray, int]:
    """float32 [max_objects, 9] (OBJECT_FIELDS) of the objects inside the BEV range, nearest first
    (their ids appended to ``ids`` in the same order when given)."""
    rows = [(math.hypot(o.x, o.y), o.id, [CLASSES.index(o.cls), o.x, o.y, o.length, o.width, o.yaw, o.vx, o.vy,
                                          o.height])
            for o in objs if grid.x_min <= o.x <= grid.x_max and grid.y_min <= o.y <= grid.y_max]
    rows.sort(key=lambda r: (r[0], r[1]))
    out = np.zeros((max_objects, len(OBJECT_FIELDS)), np.float32)
    n = min(len(rows), max_objects)
    if n:
        out[:n] = np.array([r[2] for r in rows[:n]], dtype=np.float64)
    if ids is not None:
        ids.extend(r[1] for r in rows[:n])
    return out, n


def objects_future_array(ids: list[str], keys: np.ndarray, obj_poses: dict[int, dict[str, tuple]],
                         x: float, y: float, yaw: float, max_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """The listed objects' true future poses (x, y, yaw) in the ego frame at (x, y, yaw), float32
    [max_objects, K, 3], and where they exist, bool [max_objects, K] (an actor may leave the world)."""
    fut = np.zeros((max_objects, len(keys), 3), np.float32)
    ok = np.zeros((max_objects, len(keys)), bool)
    c, s = math.cos(yaw), math.sin(yaw)
    for j, oid in enumerate(ids[:max_objects]):
        for k, step in enumerate(keys):
            pose = obj_poses.get(int(step), {}).get(oid)
            if pose is None:
                continue
            dx, dy = pose[0] - x, pose[1] - y
            fut[j, k] = (c * dx + s * dy, -s * dx + c * dy, math.atan2(math.sin(pose[2] - yaw), math.cos(pose[2] - yaw)))
            ok[j, k] = True
    return fut, ok


def future_in_ego_frame(poses: np.ndarray, pose_valid: np.ndarray, x: float, y: float, yaw: float) -> np.ndarray:
    """Future world poses (K, 2+) -> (K, 2) positions in the ego frame at (x, y, yaw); invalid rows zero."""
    c, s = math.cos(yaw), math.sin(yaw)
    dx, dy = poses[:, 0] - x, poses[:, 1] - y
    out = np.stack([c * dx + s * dy, -s * dx + c * dy], axis=1)
    out[~pose_valid] = 0.0
    return out.astype(np.float32)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed-compatible file with fixed zip timestamps: same arrays -> same bytes (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)
    os.replace(tmp, path)


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------- one run
def run_graph(cfg: GenConfig, seed: int, tmp_dir: Path, src: dict | str | None = None):
    """The lockstep graph of one dataset run as the generator drives it (its scenario, seed, lane offset and, for
    DAgger, the model as driver; no camera rendering), with its files under ``tmp_dir``. The caller closes it.
    `src`: the run's scenario when the caller has built it already."""
    from edgepilot.runner import RunRequest, build_lockstep_graph

    src = scenario_source(cfg, seed) if src is None else src
    scenario_arg = src
    if isinstance(src, dict):
        path = tmp_dir / f"{src['name']}.yaml"
        path.write_text(yaml.safe_dump(src, sort_keys=False))
        scenario_arg = str(path)
    driver = {"driver": "e2e", "model_path": Path(cfg.dagger)} if cfg.dagger else {}
    offset = run_lane_offset(cfg, seed, src if isinstance(src, dict) else None)
    params = {"adas": {"lka_lane_offset_m": offset}} if offset else {}
    return build_lockstep_graph(RunRequest(scenario=scenario_arg, seed=seed, out_dir=tmp_dir / "out",
                                           cameras=False, log_level="warn", extra_params=params, **driver))


def run_scenario(cfg: GenConfig, job: RunJob, cache_path: Path | None = None) -> dict:
    """Run one scenario and sample up to ``job.max_frames`` frames. Returns {status, frames, arrays?}.

    status: ok | collision | lane_departure | ended (the scenario ended before its first sample).
    With ``cache_path`` the arrays go to that file (for worker processes) instead of the return value.
    """
    from vehicle_sim import camera as cam

    from .expert import expert_rollout

    src = scenario_source(cfg, job.scenario_seed)
    duration, dt = scenario_duration(src)
    samples = sample_steps(duration, dt, cfg.sample_hz)[:job.max_frames]
    fut_step = int(round(FUTURE_DT_S / dt))
    offsets = fut_step * np.arange(1, FUTURE_STEPS + 1)
    last_step = int(round(duration / dt)) - 1
    needed = np.union1d(samples, (samples[:, None] + offsets[None, :]).ravel()) if samples.size else samples
    needed = needed[needed <= last_step]
    sample_set = {int(k): i for i, k in enumerate(samples)}
    rig = {spec.name: spec for spec in cam.default_rig(cfg.width, cfg.height)}
    unknown = [c for c in cfg.cameras if c not in rig]
    if unknown:
        raise ValueError(f"cameras: unknown camera(s) {unknown} (rig has {', '.join(rig)})")
    lighting = lighting_for(job.scenario_seed)

    with tempfile.TemporaryDirectory(prefix="edgepilot_gen_") as tmp:
        graph = run_graph(cfg, job.scenario_seed, Path(tmp), src)
        try:
            sim = graph.sim.sim
            sim.cameras = [rig[c] for c in cfg.cameras]
            road = sim.world.road
            # driver e2e: `planner` is the classical planner the e2e step keeps running on the ground truth
            adas = next(n for n in graph.nodes if hasattr(n, "planner") and hasattr(n, "settings"))
            safety = next(n for n in graph.nodes if hasattr(n, "envelope"))
            cam_meta = [{"K": cam.camera_info(rig[c]).K.tolist(), "T_cam_to_ego": cam.camera_info(rig[c]).T_cam_to_ego.tolist(),
                         "width": cfg.width, "height": cfg.height} for c in cfg.cameras]
            poses: dict[int, tuple[float, float, float]] = {}
            obj_poses: dict[int, dict[str, tuple[float, float, float]]] = {}
            frames: list[dict] = []
            for step in needed.tolist():
                graph.spin_until(step * dt)
                if sim.finished or int(round(sim.t / dt)) != step:
                    break
                st = sim.world.ego_state
                poses[step] = (st.x, st.y, st.yaw)
                obj_poses[step] = {o.id: (o.x, o.y, o.yaw) for o in sim.world.ground_truth_objects("world")}
                if step in sample_set:
                    expert = None
                    if cfg.dagger:      # where the expert would have driven from the state the model reached
                        expert = expert_rollout(sim.world, adas.planner, safety.envelope, adas.settings,
                                                FUTURE_STEPS * FUTURE_DT_S + dt / 2)
                    imgs = sim.render_all(lighting)
                    ids: list[str] = []
                    objs, n_obj = objects_array(sim.objects_base_link(), cfg.max_objects, ids=ids)
                    vis = np.zeros(cfg.max_objects, np.float32)
                    vis[:n_obj] = box_visibility(objs[:n_obj], cam_meta)
                    set_mps = adas.settings.set_speed_kph / 3.6 if adas.settings.acc_enabled else 0.0
                    frames.append({
                        "step": step, "ids": ids,
                        "images": np.stack([imgs[c] for c in cfg.cameras]),
                        "ego": ego_vector(st.speed, st.ax, st.yaw_rate, math.radians(st.steering_wheel_angle_deg),
                                          set_mps),
                        "objects": objs, "num_objects": n_obj, "visibility": vis,
                        "bev_masks": bev_masks(road, st.x, st.y, st.yaw),
                        "t": step * dt, "expert": expert,
                    })
            world = sim.world
            summary = world.summary()
            if world.collision is not None and not cfg.dagger:
                status = "collision"
            elif (summary.get("max_lane_departure_m") or 0.0) > MAX_LANE_DEPARTURE_M and not cfg.dagger:
                status = "lane_departure"
            elif not frames:
                status = "ended"
            else:
                status = "ok"
        finally:
            graph.close()

    result: dict = {"status": status, "frames": len(frames) if status == "ok" else 0}
    if status != "ok":
        return result
    n = len(frames)
    fut = np.zeros((n, FUTURE_STEPS, 2), np.float32)
    valid = np.zeros((n, FUTURE_STEPS), bool)
    ofut = np.zeros((n, cfg.max_objects, FUTURE_STEPS, 3), np.float32)
    ofut_ok = np.zeros((n, cfg.max_objects, FUTURE_STEPS), bool)
    for i, fr in enumerate(frames):
        keys = fr["step"] + offsets
        src_poses = poses if fr["expert"] is None else fr["expert"]   # hindsight, or the expert's rollout
        ok = np.array([int(k) in src_poses for k in keys])
        pts = np.array([src_poses.get(int(k), (0.0, 0.0, 0.0)) for k in keys])
        x, y, yaw = poses[fr["step"]]
        fut[i] = future_in_ego_frame(pts, ok, x, y, yaw)
        valid[i] = ok
        ofut[i], ofut_ok[i] = objects_future_array(fr["ids"], keys, obj_poses, x, y, yaw, cfg.max_objects)
    arrays = {
        "images": np.stack([f["images"] for f in frames]).astype(np.uint8),
        "ego": np.stack([f["ego"] for f in frames]).astype(np.float32),
        "command": np.zeros(n, np.int64),                          # lane_follow: the expert keeps its lane
        "objects": np.stack([f["objects"] for f in frames]).astype(np.float32),
        "num_objects": np.array([f["num_objects"] for f in frames], np.int64),
        "visibility": np.stack([f["visibility"] for f in frames]).astype(np.float32),
        "objects_future": ofut,
        "objects_future_valid": ofut_ok,
        "bev_masks": np.stack([f["bev_masks"] for f in frames]).astype(np.uint8),
        "future": fut,
        "future_valid": valid,
        "scenario_seed": np.full(n, job.scenario_seed, np.int64),
        "t": np.array([f["t"] for f in frames], np.float32),
    }
    if cache_path is not None:
        write_npz(cache_path, arrays)
    else:
        result["arrays"] = arrays
    return result


def _run_job(args: tuple) -> dict:
    cfg, job, cache_path = args
    return run_scenario(cfg, job, cache_path)


# --------------------------------------------------------------------------------------------- dataset
def _meta(cfg: GenConfig, runs: dict[str, list[dict]], counts: dict[str, int]) -> dict:
    from vehicle_sim import camera as cam

    rig = {spec.name: spec for spec in cam.default_rig(cfg.width, cfg.height)}
    cameras = []
    for name in cfg.cameras:
        info = cam.camera_info(rig[name])
        cameras.append({"name": name, "width": cfg.width, "height": cfg.height, "K": info.K.tolist(),
                        "T_cam_to_ego": info.T_cam_to_ego.tolist()})
    dropped: dict[str, int] = {}
    splits = {}
    for split, rs in runs.items():
        used = [r for r in rs if r["status"] == "ok" and r.get("used", 0) > 0]
        for r in rs:
            if r["status"] != "ok":
                dropped[r["status"]] = dropped.get(r["status"], 0) + 1
        splits[split] = {"frames": counts[split], "scenario_seeds": [r["scenario_seed"] for r in used],
                         "runs": len(used)}
        if cfg.lane_offsets:
            splits[split]["lka_lane_offsets_m"] = [run_lane_offset(cfg, r["scenario_seed"]) for r in used]
    return {
        "version": FORMAT_VERSION,
        "cameras": cameras,
        "bev": asdict(BEV),
        "bev_channels": ["lane_line", "drivable"],
        "classes": list(CLASSES),
        "object_fields": list(OBJECT_FIELDS),
        "max_objects": cfg.max_objects,
        "future": {"horizon_s": FUTURE_DT_S * FUTURE_STEPS, "rate_hz": 1.0 / FUTURE_DT_S, "steps": FUTURE_STEPS},
        "commands": list(COMMANDS),
        "splits": splits,
        "dropped_runs": dict(sorted(dropped.items())),
        "generator": {**cfg.as_json(), "warmup_s": WARMUP_S, "expert": "classical ACC+LKA+AEB, driver idle" + (
                          "; the DAgger model drives, the labels are the expert's rollouts" if cfg.dagger else ""),
                      "max_lane_departure_m": MAX_LANE_DEPARTURE_M},
    }


def _check_dagger_model(model: Path, cameras: tuple[str, ...], width: int, height: int) -> None:
    """The DAgger model sees the frames the dataset records (the sim renders one camera list), so its rig must be
    the dataset's cameras at the dataset's size."""
    if not model.is_file():
        raise ValueError(f"dagger: driving model {model} does not exist (an ONNX file from `perception export`)")
    from perception.runtime import model_metadata

    rig = [(c["name"], int(c["width"]), int(c["height"])) for c in model_metadata(model)["rig"]]
    want = [(c, width, height) for c in cameras]
    if rig != want:
        raise ValueError(f"dagger: {model} was trained on cameras {rig} (name, width, height) but the dataset asks "
                         f"for {want}; generate with the model's --cameras, --width and --height")


def generate(out_dir: str | Path, frames: int, splits: dict[str, float] | None = None, seed: int = 0,
             workers: int = 1, sample_hz: float = 2.0, width: int = 256, height: int = 128,
             cameras: tuple[str, ...] = ("front", "front_left", "front_right"), max_objects: int = 32,
             shard_size: int = 256, progress: bool = True, scenarios: list[str] | None = None,
             recoveries: float = 0.0, stop_and_go: float = 0.0, approach: float = 0.0,
             dagger: str | Path | None = None, lane_offsets: float = 0.0) -> dict:
    """Generate (or resume) a dataset in ``out_dir``; returns meta.json's content.

    ``scenarios``: None for random scenarios, or library names / YAML paths (run i uses entry
    seed mod len, randomized by the seed through actor colours and lighting). ``recoveries``: the share of
    random scenarios in which the expert starts disturbed or a slowed lead pulls out (scenario_gen.add_recovery);
    ``stop_and_go``: the share with a lead stopping and driving off again (scenario_gen.add_stop_and_go);
    ``approach``: the share starting to close in on a slower lead (scenario_gen.add_approach).
    ``lane_offsets``: the share in which the expert's LKA holds the car 0.3-0.9 m off its lane centre
    (scenario_gen.lane_offset; their futures are that offset path: frames for perception, not for a planner).
    ``dagger``: an exported driving model (ONNX) drives every run as `--driver e2e` does, and each frame's future
    is the classical expert's rollout from the state the model reached (perception/data/expert.py), not where
    the model went; runs are kept whatever their outcome, as those states are what the data is for.
    """
    splits = dict(splits or {"train": 0.8, "val": 0.1, "test": 0.1})
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if sample_hz <= 0 or shard_size < 1 or max_objects < 1 or width < 8 or height < 8:
        raise ValueError(f"invalid generator settings: sample_hz={sample_hz}, shard_size={shard_size}, "
                         f"max_objects={max_objects}, width={width}, height={height}")
    check_shares(recoveries=recoveries, stop_and_go=stop_and_go, approach=approach, lane_offsets=lane_offsets)
    for name, share in (("recoveries", recoveries), ("stop_and_go", stop_and_go), ("approach", approach),
                        ("lane_offsets", lane_offsets)):
        if share and scenarios:
            raise ValueError(f"{name} apply to random scenarios only (leave --scenarios at 'random')")
    if lane_offsets and dagger:
        raise ValueError("lane_offsets move the expert off the lane centre, dagger labels the model's states with "
                         "the expert's: the expert rollout would hold the offset too; use one of them")
    if dagger:
        _check_dagger_model(Path(dagger), tuple(cameras), int(width), int(height))
    cfg = GenConfig(int(frames), tuple(splits.items()), int(seed), float(sample_hz), int(width), int(height),
                    tuple(cameras), int(max_objects), int(shard_size), tuple(scenarios) if scenarios else None,
                    float(recoveries), float(stop_and_go), float(approach), str(dagger or ""),
                    hashlib.sha256(Path(dagger).read_bytes()).hexdigest() if dagger else "", float(lane_offsets))
    counts = split_frame_counts(cfg.frames, splits)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress_path = out / "progress.json"
    state = {"config": cfg.as_json(), "runs": {k: [] for k in splits}, "pending": [], "complete": False}
    if progress_path.is_file():
        old = json.loads(progress_path.read_text())
        if old.get("config") != state["config"]:
            diff = sorted(k for k in state["config"] if old.get("config", {}).get(k) != state["config"][k])
            raise ValueError(f"{progress_path}: generated with other settings ({', '.join(diff)} differ); "
                             f"use another directory or the same arguments")
        state = old
        if state.get("complete"):
            if not (out / "meta.json").is_file():
                raise ValueError(f"{out / 'meta.json'}: missing although {progress_path} says the dataset is "
                                 f"complete (its run caches are gone); delete {out} and generate again")
            return json.loads((out / "meta.json").read_text())
    cache = out / ".runs"

    from tqdm import tqdm

    bar = tqdm(total=cfg.frames, desc="frames", unit="frame", disable=not progress)
    bar.update(sum(r["used"] for rs in state["runs"].values() for r in rs))
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        while True:
            # A planned wave is stored before it runs, so a resumed run finishes the same jobs.
            if not state.get("pending"):
                state["pending"] = [asdict(j) for j in _plan_wave(cfg, counts, state["runs"])]
                _write_json(progress_path, state)
            wave = [RunJob(**j) for j in state["pending"]]
            if not wave:
                break
            args = [(cfg, job, cache / job.split / f"run_{job.index:06d}.npz") for job in wave]
            results = pool.map(_run_job, args) if pool is not None else map(_run_job, args)
            for job, res in zip(wave, results):
                have = sum(r["used"] for r in state["runs"][job.split])
                used = min(res["frames"], counts[job.split] - have)
                state["runs"][job.split].append({"index": job.index, "scenario_seed": job.scenario_seed,
                                                 "max_frames": job.max_frames, "status": res["status"],
                                                 "frames": res["frames"], "used": used})
                state["pending"] = state["pending"][1:]
                _write_json(progress_path, state)
                bar.update(used)
    finally:
        if pool is not None:
            pool.shutdown()
        bar.close()
    _write_shards(out, cfg, state["runs"])
    meta = _meta(cfg, state["runs"], counts)
    _write_json(out / "meta.json", meta)
    state["complete"] = True
    _write_json(progress_path, state)
    shutil.rmtree(cache, ignore_errors=True)
    return meta


def _plan_wave(cfg: GenConfig, counts: dict[str, int], runs: dict[str, list[dict]]) -> list[RunJob]:
    """The next runs to do: enough to cover each split's missing frames if none of them is dropped."""
    jobs = []
    for split, target in counts.items():
        done = runs[split]
        missing = target - sum(r["used"] for r in done)
        index = done[-1]["index"] + 1 if done else 0
        while missing > 0:
            sd = scenario_seed(split, cfg.seed, index)
            duration, dt = scenario_duration(scenario_source(cfg, sd))
            n = min(len(sample_steps(duration, dt, cfg.sample_hz)), missing)
            if n <= 0:
                raise ValueError(f"scenario of seed {sd} is too short for one sample after {WARMUP_S} s")
            jobs.append(RunJob(split, index, sd, n))
            missing -= n
            index += 1
    return jobs


def _write_shards(out: Path, cfg: GenConfig, runs: dict[str, list[dict]]) -> None:
    """Concatenate the cached runs of each split (run order) into shards of ``shard_size`` frames."""
    meta_stub = _meta(cfg, runs, {k: 0 for k in runs})
    for split, rs in runs.items():
        split_dir = out / split
        if split_dir.exists():
            for old in split_dir.glob("shard_*.npz"):
                old.unlink()
        buf: dict[str, list[np.ndarray]] = {}
        buffered = 0
        shard = 0

        def flush(n: int) -> None:
            nonlocal buf, buffered, shard
            arrays = {k: np.concatenate(v) for k, v in buf.items()}
            head = {k: v[:n] for k, v in arrays.items()}
            validate_arrays(head, meta_stub, str(split_dir / f"shard_{shard:05d}.npz"))
            write_npz(split_dir / f"shard_{shard:05d}.npz", head)
            shard += 1
            buf = {k: [v[n:]] for k, v in arrays.items()}
            buffered -= n

        for r in rs:
            if r["status"] != "ok" or r["used"] <= 0:
                continue
            path = out / ".runs" / split / f"run_{r['index']:06d}.npz"
            with np.load(path, allow_pickle=False) as z:
                for k in z.files:
                    buf.setdefault(k, []).append(z[k][:r["used"]])
            buffered += r["used"]
            while buffered >= cfg.shard_size:
                flush(cfg.shard_size)
        if buffered > 0:
            flush(buffered)


#: The dataset `perception eval` and `perception export --format onnx-int8` use when given no --data. Its test
#: split is the shipped model's test split frame for frame (a split's runs depend only on its own seeds: the
#: 9600-frame training dataset of the model card holds the same 600 test frames), its train split the INT8
#: calibration frames of the shipped e2e_int8.onnx. Same as `edgepilot perception dataset --scenarios random
#: --frames 856 --splits train=256,test=600 --seed 0`.
EVAL_DATASET: dict = {"frames": 856, "splits": {"train": 256.0, "test": 600.0}, "seed": 0}
EVAL_DATA_ENV = "EDGEPILOT_PERCEPTION_DATA"


def eval_dataset_cameras() -> list[tuple[str, int, int]]:
    """(name, width, height) of its cameras: generate()'s defaults, the shipped model's rig."""
    import inspect

    params = inspect.signature(generate).parameters
    w, h = int(params["width"].default), int(params["height"].default)
    return [(str(name), w, h) for name in params["cameras"].default]


def default_eval_dir() -> Path:
    """Where that dataset lives: $EDGEPILOT_PERCEPTION_DATA, else ~/.cache/edgepilot/perception-eval-seed0."""
    env = os.environ.get(EVAL_DATA_ENV, "").strip()
    return Path(env) if env else Path.home() / ".cache" / "edgepilot" / "perception-eval-seed0"


def ensure_eval_dataset(out_dir: str | Path | None = None, workers: int = 2, progress: bool = True) -> Path:
    """The evaluation dataset, generated the first time (about 3 min on 2 cores; resumable, like any dataset) and
    reused after; a folder generated with other settings is an error naming it, never overwritten."""
    out = Path(out_dir) if out_dir is not None else default_eval_dir()
    if not (out / "meta.json").is_file():
        import sys

        splits = ",".join(f"{k}={v:g}" for k, v in EVAL_DATASET["splits"].items())
        print(f"generating the evaluation dataset in {out} (once; {EVAL_DATASET['frames']} simulator frames, about "
              f"3 min on 2 cores): edgepilot perception dataset --scenarios random --frames "
              f"{EVAL_DATASET['frames']} --splits {splits} --seed {EVAL_DATASET['seed']} --out {out}",
              file=sys.stderr, flush=True)
    try:
        generate(out, frames=EVAL_DATASET["frames"], splits=dict(EVAL_DATASET["splits"]), seed=EVAL_DATASET["seed"],
                 workers=workers, progress=progress)
    except ValueError as exc:
        raise ValueError(f"evaluation dataset {out}: {exc} (set {EVAL_DATA_ENV} or pass --data to use another "
                         f"folder)") from None
    return out
