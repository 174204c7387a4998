"""Synthetic dataset shards that follow perception/DATASET.md exactly (random images, consistent labels).

Why: the model, losses, metrics and training loop are tested without the (slow) simulator-based generator.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vehicle_sim.camera import camera_info, default_rig

CLASSES = ["car", "truck", "pedestrian", "cyclist", "obstacle"]
COMMANDS = ["lane_follow", "change_left", "change_right"]
BEV = {"x_min": -10.0, "x_max": 50.0, "y_min": -16.0, "y_max": 16.0, "resolution_m": 2.0}


def make_meta(width: int = 32, height: int = 16, cameras: int = 2, max_objects: int = 6,
              splits: dict[str, int] | None = None, bev_resolution_m: float = BEV["resolution_m"]) -> dict:
    rig = default_rig(width, height)[:cameras]
    cams = []
    for s in rig:
        info = camera_info(s)
        cams.append({"name": s.name, "width": width, "height": height, "K": info.K.tolist(),
                     "T_cam_to_ego": info.T_cam_to_ego.tolist()})
    splits = splits or {}
    return {"version": 2, "cameras": cams, "bev": {**BEV, "resolution_m": bev_resolution_m}, "classes": list(CLASSES), "max_objects": max_objects,
            "future": {"horizon_s": 3.0, "rate_hz": 2.0, "steps": 6}, "commands": list(COMMANDS),
            "splits": {k: {"frames": n, "scenario_seeds": [i for i in range(1)]} for k, n in splits.items()}}


def make_arrays(n: int, meta: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """N frames of shard arrays; objects lie inside the BEV range, masks show two straight lane lines and the road."""
    rng = np.random.default_rng(seed)
    cams = meta["cameras"]
    c, h, w = len(cams), cams[0]["height"], cams[0]["width"]
    m = meta["max_objects"]
    b = meta["bev"]
    hb = int(round((b["x_max"] - b["x_min"]) / b["resolution_m"]))
    wb = int(round((b["y_max"] - b["y_min"]) / b["resolution_m"]))
    images = rng.integers(0, 256, (n, c, h, w, 3), dtype=np.uint8)
    speed = rng.uniform(0, 15, n).astype(np.float32)
    ego = np.stack([speed, rng.normal(0, 0.5, n), rng.normal(0, 0.02, n), rng.normal(0, 0.1, n),
                    speed + rng.uniform(0, 3, n)], 1).astype(np.float32)
    command = rng.integers(0, 3, n).astype(np.int64)
    num = rng.integers(0, m + 1, n).astype(np.int64)
    objects = np.zeros((n, m, 9), np.float32)
    for i in range(n):
        k = int(num[i])
        cls = rng.integers(0, len(CLASSES), k)
        x = rng.uniform(b["x_min"] + 6, b["x_max"] - 1, k)
        y = rng.uniform(b["y_min"] + 1, b["y_max"] - 1, k)
        order = np.argsort(np.hypot(x, y))
        dims = np.array([[4.5, 1.9, 1.5], [9.0, 2.5, 3.2], [0.6, 0.6, 1.7], [1.8, 0.6, 1.6], [1.0, 1.0, 1.0]])[cls]
        objects[i, :k] = np.stack([cls, x, y, dims[:, 0], dims[:, 1], rng.uniform(-np.pi, np.pi, k),
                                   rng.normal(0, 2, k), rng.normal(0, 0.5, k), dims[:, 2]], 1)[order]
    masks = np.zeros((n, 2, hb, wb), np.uint8)
    ys = b["y_max"] - (np.arange(wb) + 0.5) * b["resolution_m"]
    masks[:, 1, :, np.abs(ys) < 5.25] = 1
    masks[:, 0, :, np.abs(np.abs(ys) - 1.75) < 1.0] = 1
    times = np.arange(1, 7) * 0.5
    future = np.stack([speed[:, None] * times, np.zeros((n, 6))], -1).astype(np.float32)
    valid = np.ones((n, 6), bool)
    valid[: max(1, n // 8), 4:] = False
    visibility = np.where(np.arange(m)[None, :] < num[:, None], 1.0, 0.0).astype(np.float32)
    obj_future = np.zeros((n, m, 6, 3), np.float32)       # constant velocity, heading kept
    obj_future[..., 0] = objects[:, :, None, 1] + objects[:, :, None, 6] * times
    obj_future[..., 1] = objects[:, :, None, 2] + objects[:, :, None, 7] * times
    obj_future[..., 2] = objects[:, :, None, 5]
    obj_future_valid = np.broadcast_to(visibility[..., None] > 0, (n, m, 6)).copy()
    return {"images": images, "ego": ego, "command": command, "objects": objects, "num_objects": num,
            "visibility": visibility, "objects_future": obj_future, "objects_future_valid": obj_future_valid,
            "bev_masks": masks, "future": future, "future_valid": valid,
            "scenario_seed": np.zeros(n, np.int64), "t": np.arange(n, dtype=np.float32) * 0.5}


def write_dataset(root: str | Path, frames: dict[str, int] | None = None, seed: int = 0, **meta_kw) -> Path:
    """A dataset directory (meta.json + one shard per split) in the DATASET.md layout."""
    root = Path(root)
    frames = frames or {"train": 24, "val": 8, "test": 8}
    meta = make_meta(splits=frames, **meta_kw)
    root.mkdir(parents=True, exist_ok=True)
    (root / "meta.json").write_text(json.dumps(meta, indent=1))
    for k, (split, n) in enumerate(frames.items()):
        (root / split).mkdir(exist_ok=True)
        np.savez_compressed(root / split / "shard_00000.npz", **make_arrays(n, meta, seed=seed + k))
    return root
