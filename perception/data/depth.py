"""Per-camera-token depth labels from the ground-truth boxes and the flat ground (BEVDepth-style supervision).

Why: a 256x128 camera tells direction well but depth badly, so the lifted BEV smears an object along its ray and
box centres miss by metres at range (perception/MODEL.md). The simulator's world is a flat ground plane plus boxes
(vehicle_sim/camera.py renders exactly that), so the depth every feature token sees can be recomputed from the
labels alone: the nearest of the ray's hits with the ground-truth boxes and with the ground. No rendering and no
change to the dataset format are needed; a dataset from a real car would bring lidar depth here instead.
"""
from __future__ import annotations

import numpy as np

from .visibility import ray_box_interval

#: How much more a token that sees an object counts in the depth loss than one that sees the road.
OBJECT_WEIGHT = 4.0


def token_depths(objects: np.ndarray, num_objects: int, origins: np.ndarray, dirs: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Optical depth of what every token's centre ray hits first (float [N], inf = sky) and whether that is an
    object (bool [N]). `objects` rows as the dataset's (class, x, y, l, w, yaw, vx, vy, height), boxes on the
    ground; origins/dirs from `perception.model.network.token_rays`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ground = np.where(dirs[:, 2] < -1e-6, -origins[:, 2] / dirs[:, 2], np.inf)
    best = ground
    hit_obj = np.zeros(len(dirs), bool)
    for row in np.asarray(objects, dtype=np.float64)[:num_objects]:
        tmin, tmax = ray_box_interval(origins, dirs, row)
        hit = (tmax >= tmin) & (tmin > 0.05) & (tmin < best)
        best = np.where(hit, tmin, best)
        hit_obj |= hit
    hit_obj &= best < ground
    return best, hit_obj


def depth_bin_of(depth: np.ndarray | float, depth_min: float, depth_max: float, bins: int) -> np.ndarray:
    """Fractional bin coordinate of a depth (bin i spans depth_min + i * step .. + step; centres at i)."""
    step = (depth_max - depth_min) / bins
    return (np.asarray(depth, dtype=np.float64) - depth_min) / step - 0.5


def depth_targets(objects: np.ndarray, num_objects: np.ndarray, origins: np.ndarray, dirs: np.ndarray,
                  depth_min: float, depth_max: float, bins: int,
                  bev_range: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Soft depth-bin labels [B, N, bins] (linear split between the two nearest bin centres) and loss weights
    [B, N] (0 for sky, depths outside [depth_min, depth_max) and hits outside `bev_range` (x0, x1, y0, y1), where
    objects are not labelled; OBJECT_WEIGHT for object tokens, 1 for road)."""
    b, n = len(objects), len(dirs)
    target = np.zeros((b, n, bins), np.float32)
    weight = np.zeros((b, n), np.float32)
    rows = np.arange(n)
    for i in range(b):
        d, obj = token_depths(objects[i], int(num_objects[i]), origins, dirs)
        ok = np.isfinite(d) & (d >= depth_min) & (d < depth_max)
        if bev_range is not None:
            with np.errstate(invalid="ignore"):
                hit = origins + dirs * np.where(ok, d, 0.0)[:, None]
            x0, x1, y0, y1 = bev_range
            ok &= (hit[:, 0] >= x0) & (hit[:, 0] <= x1) & (hit[:, 1] >= y0) & (hit[:, 1] <= y1)
        f = np.clip(depth_bin_of(np.where(ok, d, depth_min), depth_min, depth_max, bins), 0, bins - 1)
        lo = np.floor(f).astype(np.int64)
        hi = np.minimum(lo + 1, bins - 1)
        a = (f - lo).astype(np.float32)
        target[i, rows, lo] += 1 - a
        target[i, rows, hi] += a
        target[i, ~ok] = 0
        weight[i] = np.where(ok, np.where(obj, OBJECT_WEIGHT, 1.0), 0.0)
    return target, weight
