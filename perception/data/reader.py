"""Reading and validating datasets in the format of perception/DATASET.md.

Why validate on read: a shard from an older or broken generator should fail loudly at load time with the
file and key named, not as a shape error deep inside training.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..features import COMMANDS, EGO_DIM

FORMAT_VERSION = 2
CLASSES = ("car", "truck", "pedestrian", "cyclist", "obstacle")
OBJECT_FIELDS = ("class_id", "x", "y", "length", "width", "yaw", "vx", "vy", "height")
META_KEYS = ("version", "cameras", "bev", "classes", "max_objects", "future", "commands", "splits")


class DatasetError(ValueError):
    """Malformed dataset; the message names the file and the key."""


def bev_shape(bev: dict) -> tuple[int, int]:
    """(rows, cols) of the BEV masks: rows along x (forward), columns along y (left)."""
    res = float(bev["resolution_m"])
    return (int(round((bev["x_max"] - bev["x_min"]) / res)), int(round((bev["y_max"] - bev["y_min"]) / res)))


def expected_arrays(meta: dict, n: int) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """dtype and shape of every shard array for ``n`` frames, from meta.json (the DATASET.md table)."""
    cams = meta["cameras"]
    h, w = (int(cams[0]["height"]), int(cams[0]["width"])) if cams else (0, 0)
    hb, wb = bev_shape(meta["bev"])
    steps = int(meta["future"]["steps"])
    m = int(meta["max_objects"])
    return {
        "images": (np.dtype(np.uint8), (n, len(cams), h, w, 3)),
        "ego": (np.dtype(np.float32), (n, EGO_DIM)),
        "command": (np.dtype(np.int64), (n,)),
        "objects": (np.dtype(np.float32), (n, m, len(OBJECT_FIELDS))),
        "num_objects": (np.dtype(np.int64), (n,)),
        "visibility": (np.dtype(np.float32), (n, m)),
        "objects_future": (np.dtype(np.float32), (n, m, steps, 3)),
        "objects_future_valid": (np.dtype(np.bool_), (n, m, steps)),
        "bev_masks": (np.dtype(np.uint8), (n, 2, hb, wb)),
        "future": (np.dtype(np.float32), (n, steps, 2)),
        "future_valid": (np.dtype(np.bool_), (n, steps)),
        "scenario_seed": (np.dtype(np.int64), (n,)),
        "t": (np.dtype(np.float32), (n,)),
    }


def validate_arrays(arrays: dict[str, np.ndarray], meta: dict, source: str) -> int:
    """Check keys, dtypes and shapes against meta; returns the frame count. Errors name ``source`` and key."""
    if "t" not in arrays:
        raise DatasetError(f"{source}: missing key 't'")
    n = int(np.shape(arrays["t"])[0]) if np.ndim(arrays["t"]) == 1 else -1
    spec = expected_arrays(meta, max(n, 0))
    for key, (dtype, shape) in spec.items():
        if key not in arrays:
            raise DatasetError(f"{source}: missing key {key!r}")
        a = arrays[key]
        if a.dtype != dtype:
            raise DatasetError(f"{source}: key {key!r}: dtype {a.dtype}, expected {dtype}")
        if tuple(a.shape) != shape:
            raise DatasetError(f"{source}: key {key!r}: shape {tuple(a.shape)}, expected {shape}")
    extra = sorted(set(arrays) - set(spec))
    if extra:
        raise DatasetError(f"{source}: unexpected keys {extra}")
    num = arrays["num_objects"]
    if np.any(num < 0) or np.any(num > int(meta["max_objects"])):
        raise DatasetError(f"{source}: key 'num_objects': values outside 0..{meta['max_objects']}")
    return n


def _check_meta(meta: dict, source: str) -> None:
    for key in META_KEYS:
        if key not in meta:
            raise DatasetError(f"{source}: missing key {key!r}")
    if meta["version"] != FORMAT_VERSION:
        raise DatasetError(f"{source}: key 'version': {meta['version']!r}, this reader reads {FORMAT_VERSION}")
    for i, cam in enumerate(meta["cameras"]):
        for key in ("name", "width", "height", "K", "T_cam_to_ego"):
            if key not in cam:
                raise DatasetError(f"{source}: missing key 'cameras[{i}].{key}'")
        if np.shape(cam["K"]) != (3, 3) or np.shape(cam["T_cam_to_ego"]) != (4, 4):
            raise DatasetError(f"{source}: key 'cameras[{i}]': K must be 3x3 and T_cam_to_ego 4x4")
    for key in ("x_min", "x_max", "y_min", "y_max", "resolution_m"):
        if key not in meta["bev"]:
            raise DatasetError(f"{source}: missing key 'bev.{key}'")
    for split, info in meta["splits"].items():
        if "frames" not in info or "scenario_seeds" not in info:
            raise DatasetError(f"{source}: key 'splits.{split}' needs 'frames' and 'scenario_seeds'")


@dataclass
class Dataset:
    """An opened dataset directory: meta.json plus the shard files of each split (in shard order)."""

    root: Path
    meta: dict
    shards: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def splits(self) -> list[str]:
        return list(self.shards)

    def _shard_paths(self, split: str) -> list[Path]:
        if split not in self.shards:
            raise DatasetError(f"{self.root}: no split {split!r} (have: {', '.join(self.shards) or 'none'})")
        return self.shards[split]

    def load_shard(self, path: Path) -> dict[str, np.ndarray]:
        """All arrays of one shard, validated against meta.json."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot read shard: {exc}") from exc
        validate_arrays(arrays, self.meta, str(path))
        return arrays

    def iter_shards(self, split: str) -> Iterator[dict[str, np.ndarray]]:
        for path in self._shard_paths(split):
            yield self.load_shard(path)

    def iter_frames(self, split: str) -> Iterator[dict[str, np.ndarray]]:
        """One dict per frame (same keys as the shards, leading axis removed), in dataset order."""
        for arrays in self.iter_shards(split):
            for i in range(len(arrays["t"])):
                yield {k: v[i] for k, v in arrays.items()}

    def load_split(self, split: str) -> dict[str, np.ndarray]:
        """All frames of a split stacked into one dict of arrays (fine for a few thousand frames)."""
        parts = list(self.iter_shards(split))
        if not parts:
            return {k: np.zeros(shape, dtype) for k, (dtype, shape) in expected_arrays(self.meta, 0).items()}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def num_frames(self, split: str) -> int:
        return int(self.meta["splits"].get(split, {}).get("frames", 0))


def open_dataset(path: str | Path) -> Dataset:
    """Open a dataset directory written by ``perception.data.generate`` (meta.json is checked here, each
    shard when it is loaded)."""
    root = Path(path)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise DatasetError(f"{meta_path}: missing (not a dataset directory, or generation did not finish)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{meta_path}: invalid JSON: {exc}") from exc
    _check_meta(meta, str(meta_path))
    shards = {}
    for split in meta["splits"]:
        files = sorted((root / split).glob("shard_*.npz"))
        if meta["splits"][split]["frames"] > 0 and not files:
            raise DatasetError(f"{root / split}: no shard_*.npz files but meta.json lists "
                               f"{meta['splits'][split]['frames']} frames")
        shards[split] = files
    return Dataset(root, meta, shards)
