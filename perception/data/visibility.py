"""Which ground-truth objects the cameras can see (the dataset's `visibility` field).

Why: detection is scored only on objects a camera can see, as nuScenes scores only boxes with lidar/radar
returns; a car behind the ego (no rear camera) or hidden behind a truck is not a missed detection. Pure
geometry on the boxes (flat ground, boxes as occluders), so it can be recomputed for any dataset.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: Sample points per box axis (length, width, height): 3 x 3 x 3 = 27 points inside the box (at 1/6, 1/2, 5/6).
GRID = 3
#: An object counts as visible when at least this fraction of its sample points is seen by some camera.
MIN_VISIBILITY = 0.1


def _box_points(objects: np.ndarray) -> np.ndarray:
    """[M, GRID^3, 3] ego-frame sample points inside every box (objects rows as OBJECT_FIELDS)."""
    f = (np.arange(GRID) + 0.5) / GRID - 0.5                       # -1/3, 0, 1/3 of the extent
    a, b, c = np.meshgrid(f, f, f + 0.5, indexing="ij")              # heights 1/6 .. 5/6 of the box
    x, y, l, w, yaw, h = (objects[:, i] for i in (1, 2, 3, 4, 5, 8))
    px, py, pz = a.ravel()[None] * l[:, None], b.ravel()[None] * w[:, None], c.ravel()[None] * h[:, None]
    cy, sy = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    return np.stack([x[:, None] + cy * px - sy * py, y[:, None] + sy * px + cy * py, pz], axis=-1)


def ray_box_interval(origins: np.ndarray, dirs: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slab method: ray parameters (tmin, tmax) [...] where origins + t * dirs is inside the box (a box row as
    OBJECT_FIELDS, standing on the ground); tmax < tmin means a miss. origins/dirs [..., 3] broadcast together."""
    x, y, l, w, yaw, h = (float(box[i]) for i in (1, 2, 3, 4, 5, 8))
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])   # ego -> box axes
    o = (origins - np.array([x, y, 0.0])) @ rot.T
    d = dirs @ rot.T
    lo = np.array([-l / 2, -w / 2, 0.0])
    hi = np.array([l / 2, w / 2, h])
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t0 = (lo - o) * inv
        t1 = (hi - o) * inv
    return np.nanmax(np.minimum(t0, t1), axis=-1), np.nanmin(np.maximum(t0, t1), axis=-1)


def _segment_hits_box(origin: np.ndarray, pts: np.ndarray, box: np.ndarray) -> np.ndarray:
    """bool [...]: does the segment origin -> pts (strictly between) pass through the box."""
    tmin, tmax = ray_box_interval(origin, pts - origin, box)
    return (tmax >= np.maximum(tmin, 1e-6)) & (tmin < 1.0 - 1e-6)


def box_visibility(objects: np.ndarray, cameras: Sequence[dict[str, Any]]) -> np.ndarray:
    """float32 [M]: fraction of each box's sample points that some camera sees (inside its image, in front of
    it, no other box on the line of sight). `objects` [M, 9] rows as OBJECT_FIELDS; `cameras` as meta.json."""
    objects = np.asarray(objects, dtype=np.float64).reshape(-1, 9)
    m = len(objects)
    if m == 0:
        return np.zeros(0, np.float32)
    pts = _box_points(objects)                                       # [M, P, 3]
    seen = np.zeros(pts.shape[:2], bool)
    for cam in cameras:
        k = np.asarray(cam["K"], dtype=np.float64)
        t = np.asarray(cam["T_cam_to_ego"], dtype=np.float64)
        pc = (pts - t[:3, 3]) @ t[:3, :3]                            # ego -> optical frame
        z = pc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = k[0, 0] * pc[..., 0] / z + k[0, 2]
            v = k[1, 1] * pc[..., 1] / z + k[1, 2]
        ok = (z > 0.1) & (u >= 0) & (u <= cam["width"] - 1) & (v >= 0) & (v <= cam["height"] - 1)
        for j in range(m):                                           # occluders
            hit = _segment_hits_box(t[:3, 3], pts, objects[j])
            hit[j] = False                                           # a box does not hide itself
            ok &= ~hit
        seen |= ok
    return seen.mean(axis=1).astype(np.float32)
