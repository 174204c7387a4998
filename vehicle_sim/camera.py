"""Fast deterministic numpy renderer for pinhole cameras mounted on the ego car.

Why it looks like this: the end-to-end perception model is trained on these images, so the renderer
must be cheap enough to generate many frames on a CPU core and must give byte-identical output for
identical input (reproducible data sets and tests).

Frames and conventions
----------------------
* World frame: x forward along the road start, y left, z up; the ground is the plane z = 0.
* Ego frame: same axes attached to the ego reference point on the ground; ``ego_pose = (x, y, yaw)``.
* Camera mount (:class:`CameraSpec`): position ``(x, y, z)`` in the ego frame and body angles
  ``roll, pitch, yaw`` (rad, applied as R = Rz(yaw) Ry(pitch) Rx(roll)) of a camera *body* frame
  that has the ego axes (x forward, y left, z up).  Positive pitch tilts the camera down.
* Camera optical frame (ROS REP 103 ``*_optical``): z forward, x right, y down.
* Pixels: OpenCV convention, pixel ``(u, v)`` has its centre at integer coordinates; ``u`` is the column.
* :class:`Box` ``z`` is the **centre** of the box (a car on the road has ``z = height / 2``).

Rendering
---------
* Sky: vertical gradient from a hazy horizon colour to ``sky_rgb``.
* Ground: per-pixel inverse perspective.  The ground hit point of every pixel is fixed in the ego frame,
  so it is precomputed per camera; per frame only a 2-D rigid transform is needed.  Road strips and lane
  markings are rasterised once per scene into a sparse, lazily built top-down label texture
  (``GROUND_RES_M`` per texel, tiles of ``TILE_TEXELS``), which is then sampled with one gather per pixel.
* Markings are polylines; ``solid=False`` lines are dashed here using ``RenderScene.dash_pattern``
  (dash, gap in metres, measured along the polyline from its first point).  A simulator that already
  splits its dashes can pass each dash as a ``solid=True`` polyline.
* Boxes: analytic ray/oriented-box (slab) intersection over the pixels of the box's projected bounding
  rectangle, with a z-buffer shared with the ground.  Rays start at the near plane, so objects behind the
  camera never wrap around.  Faces get Lambertian shading from ``sun_dir`` and boxes cast a simple
  sun shadow on the ground.  Known classes get a little extra shape (car cabin, pedestrian legs,
  cyclist bike) unless ``detail=False``.
* Distance haze blends ground and boxes toward the horizon colour.
* Optional ``supersample=k`` renders at k times the resolution and box-filters down (anti-aliasing).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Box",
    "RenderScene",
    "CameraSpec",
    "CameraInfo",
    "camera_info",
    "default_rig",
    "project_points",
    "box_corners",
    "Renderer",
    "render",
    "GROUND_RES_M",
    "TILE_TEXELS",
    "NEAR_M",
    "example_scene",
]

RGB = tuple[int, int, int]

GROUND_RES_M = 0.05  # texel size of the top-down road texture (lane markings are ~3 texels wide)
TILE_SHIFT = 8
TILE_TEXELS = 1 << TILE_SHIFT  # 256 texels = 12.8 m per tile side
NEAR_M = 0.05  # near clipping distance along the optical axis
MAX_GROUND_DEPTH_M = 5000.0  # ground hits farther than this are drawn as sky
HAZE_M = 700.0  # e-folding distance of the distance haze
AMBIENT = 0.55
DIFFUSE = 0.5
SHADOW_FACTOR = 0.6

# Optical frame axes expressed in the camera body frame (columns): x_opt = -y_body, y_opt = -z_body,
# z_opt = x_body.
_BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


# ----------------------------------------------------------------------------------------------------
# Scene description
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """An oriented box in the world frame; ``z`` is the box centre height, ``yaw`` about +z (rad)."""

    x: float
    y: float
    z: float
    length: float  # along the box's own x (heading) axis
    width: float  # along the box's own y axis
    height: float
    yaw: float = 0.0
    rgb: RGB = (180, 180, 180)
    cls: str = "obstacle"  # car | truck | pedestrian | cyclist | obstacle | anything else (plain box)


@dataclass
class RenderScene:
    """Everything the renderer needs from the simulator for one frame (world frame, metres).

    ``road_strips``: (left_edge Nx2, right_edge Nx2, rgb) asphalt areas; point i of the left edge is
    paired with point i of the right edge (quads between consecutive pairs).
    ``markings``: (polyline Nx2, width_m, solid, rgb); dashed lines use ``dash_pattern``.
    ``sun_dir``: direction *toward* the sun (normalised here); its z should be > 0.
    """

    road_strips: list[tuple[np.ndarray, np.ndarray, RGB]] = field(default_factory=list)
    markings: list[tuple[np.ndarray, float, bool, RGB]] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    sky_rgb: RGB = (120, 170, 230)
    ground_rgb: RGB = (86, 118, 64)
    sun_dir: tuple[float, float, float] = (0.4, 0.3, 0.85)
    dash_pattern: tuple[float, float] = (3.0, 9.0)


# ----------------------------------------------------------------------------------------------------
# Cameras
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraSpec:
    """Pinhole camera intrinsics (pixels) and mounting pose in the ego frame (m, rad)."""

    name: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    x: float = 0.0
    y: float = 0.0
    z: float = 1.4
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0

    def scaled(self, factor: int) -> "CameraSpec":
        """Same camera at ``factor`` times the resolution (used for supersampling)."""
        f = float(factor)
        return CameraSpec(
            self.name, self.width * factor, self.height * factor, self.fx * f, self.fy * f,
            (self.cx + 0.5) * f - 0.5, (self.cy + 0.5) * f - 0.5,
            self.x, self.y, self.z, self.roll, self.pitch, self.yaw,
        )


@dataclass(frozen=True)
class CameraInfo:
    """ROS ``sensor_msgs/CameraInfo``-like calibration plus extrinsics (4x4 homogeneous)."""

    name: str
    width: int
    height: int
    K: np.ndarray  # 3x3 intrinsics
    P: np.ndarray  # 3x4 projection = K [I | 0] (optical frame)
    D: np.ndarray  # distortion (plumb_bob, all zeros)
    T_ego_to_cam: np.ndarray  # maps ego-frame points to the camera optical frame
    T_cam_to_ego: np.ndarray  # maps optical-frame points to the ego frame


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ego_from_optical(spec: CameraSpec) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation mapping optical-frame points into the ego frame."""
    r_body = _rot_z(spec.yaw) @ _rot_y(spec.pitch) @ _rot_x(spec.roll)
    return r_body @ _BODY_FROM_OPTICAL, np.array([spec.x, spec.y, spec.z], dtype=float)


def camera_info(spec: CameraSpec) -> CameraInfo:
    """Calibration of ``spec``: K, P, D and the ego<->camera extrinsics."""
    k = np.array([[spec.fx, 0.0, spec.cx], [0.0, spec.fy, spec.cy], [0.0, 0.0, 1.0]])
    p = np.hstack([k, np.zeros((3, 1))])
    r, t = _ego_from_optical(spec)
    cam_to_ego = np.eye(4)
    cam_to_ego[:3, :3] = r
    cam_to_ego[:3, 3] = t
    ego_to_cam = np.eye(4)
    ego_to_cam[:3, :3] = r.T
    ego_to_cam[:3, 3] = -r.T @ t
    return CameraInfo(spec.name, spec.width, spec.height, k, p, np.zeros(5), ego_to_cam, cam_to_ego)


def _pinhole(name: str, width: int, height: int, hfov_deg: float, **pose: float) -> CameraSpec:
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return CameraSpec(name, width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0, **pose)


def default_rig(width: int = 256, height: int = 128) -> list[CameraSpec]:
    """Front (60 deg HFOV, square pixels: ~32 deg VFOV at 2:1), front-left, front-right and rear cameras.

    The ego reference point is the rear-axle centre on the ground.
    """
    down = math.radians(3.0)
    side = math.radians(55.0)
    return [
        _pinhole("front", width, height, 60.0, x=1.6, y=0.0, z=1.40, pitch=down),
        _pinhole("front_left", width, height, 60.0, x=1.9, y=0.75, z=1.10, pitch=down, yaw=side),
        _pinhole("front_right", width, height, 60.0, x=1.9, y=-0.75, z=1.10, pitch=down, yaw=-side),
        _pinhole("rear", width, height, 60.0, x=-1.0, y=0.0, z=1.10, pitch=down, yaw=math.pi),
    ]


_RIG_KEYS = {"name", "width", "height", "hfov_deg", "fx", "fy", "cx", "cy", "x", "y", "z", "roll_deg", "pitch_deg",
             "yaw_deg"}


def load_rig(path: str | Path) -> list[CameraSpec]:
    """Cameras from a YAML file: `cameras: [{name, width, height, hfov_deg | fx [fy cx cy], x, y, z,
    roll_deg, pitch_deg, yaw_deg}, ...]` (pose in the ego frame, rear axle on the ground, angles in degrees).

    Errors name the file, the camera entry and the field.
    """
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read camera rig: {exc}") from exc
    cams = doc.get("cameras") if isinstance(doc, dict) else None
    if not isinstance(cams, list) or not cams:
        raise ValueError(f"{path}: cameras: expected a non-empty list of cameras")
    rig, names = [], set()
    for i, c in enumerate(cams):
        where = f"{path}: cameras[{i}]"
        if not isinstance(c, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(c).__name__}")
        unknown = sorted(set(c) - _RIG_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_RIG_KEYS))}")
        for key in ("name", "width", "height"):
            if key not in c:
                raise ValueError(f"{where}.{key}: required")
        name = str(c["name"])
        if name in names:
            raise ValueError(f"{where}.name: duplicate camera name {name!r}")
        names.add(name)
        for key in ("width", "height"):
            if not isinstance(c[key], int) or not 8 <= c[key] <= 4096:
                raise ValueError(f"{where}.{key}: {c[key]!r} must be an integer in 8..4096")
        for key in _RIG_KEYS - {"name", "width", "height"}:
            if key in c and (not isinstance(c[key], (int, float)) or not math.isfinite(c[key])):
                raise ValueError(f"{where}.{key}: {c[key]!r} is not a number")
        if ("hfov_deg" in c) == ("fx" in c):
            raise ValueError(f"{where}: give exactly one of hfov_deg or fx")
        if "hfov_deg" in c and not 1.0 <= c["hfov_deg"] <= 170.0:
            raise ValueError(f"{where}.hfov_deg: {c['hfov_deg']} must be in 1..170 (pinhole model)")
        w, h = c["width"], c["height"]
        fx = float(c["fx"]) if "fx" in c else (w / 2.0) / math.tan(math.radians(c["hfov_deg"]) / 2.0)
        if fx <= 0:
            raise ValueError(f"{where}.fx: {fx} must be > 0")
        rig.append(CameraSpec(name, w, h, fx, float(c.get("fy", fx)), float(c.get("cx", (w - 1) / 2.0)),
                              float(c.get("cy", (h - 1) / 2.0)), float(c.get("x", 0.0)), float(c.get("y", 0.0)),
                              float(c.get("z", 1.4)), math.radians(c.get("roll_deg", 0.0)),
                              math.radians(c.get("pitch_deg", 0.0)), math.radians(c.get("yaw_deg", 0.0))))
    return rig


def _world_to_camera(spec: CameraSpec, ego_pose: tuple[float, float, float], pts: np.ndarray) -> np.ndarray:
    r, t = _ego_from_optical(spec)
    ex, ey, eyaw = (float(v) for v in ego_pose)
    c, s = math.cos(eyaw), math.sin(eyaw)
    dx = pts[:, 0] - ex
    dy = pts[:, 1] - ey
    ego = np.stack([c * dx + s * dy, -s * dx + c * dy, pts[:, 2]], axis=1)
    return (ego - t) @ r  # == (R^T (p - t))^T row-wise


def project_points(
    spec: CameraSpec, ego_pose: tuple[float, float, float], pts_world: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project world points: returns (uv Nx2 pixels, depth N along the optical axis, visible N bool).

    ``visible`` means in front of the near plane and inside the image (not an occlusion test).
    ``uv`` is NaN for points at or behind the camera plane so they cannot wrap around by accident.
    """
    pts = np.asarray(pts_world, dtype=float).reshape(-1, 3)
    pc = _world_to_camera(spec, ego_pose, pts)
    depth = pc[:, 2]
    uv = np.full((len(pts), 2), np.nan)
    ok = depth > 1e-9
    uv[ok, 0] = spec.fx * pc[ok, 0] / depth[ok] + spec.cx
    uv[ok, 1] = spec.fy * pc[ok, 1] / depth[ok] + spec.cy
    with np.errstate(invalid="ignore"):
        visible = (
            (depth > NEAR_M)
            & (uv[:, 0] >= -0.5) & (uv[:, 0] < spec.width - 0.5)
            & (uv[:, 1] >= -0.5) & (uv[:, 1] < spec.height - 0.5)
        )
    return uv, depth, visible


def box_corners(box: Box) -> np.ndarray:
    """The 8 world-frame corners of ``box`` (bottom four first, counter-clockwise from front-left)."""
    hl, hw, hh = box.length / 2.0, box.width / 2.0, box.height / 2.0
    local = np.array(
        [[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]], dtype=float
    )
    c, s = math.cos(box.yaw), math.sin(box.yaw)
    xy = local @ np.array([[c, s], [-s, c]]) + np.array([box.x, box.y])
    bottom = np.column_stack([xy, np.full(4, box.z - hh)])
    top = np.column_stack([xy, np.full(4, box.z + hh)])
    return np.vstack([bottom, top])


# ----------------------------------------------------------------------------------------------------
# Ground texture (sparse, lazily rasterised tiles of colour labels)
# ----------------------------------------------------------------------------------------------------


def _dash_split(poly: np.ndarray, dash: float, gap: float) -> list[np.ndarray]:
    """Split a polyline into dash sub-polylines (dash metres drawn, gap metres skipped)."""
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    total = s[-1]
    period = dash + gap
    out = []
    start = 0.0
    while start < total:
        end = min(start + dash, total)
        inner = (s > start) & (s < end)
        ss = np.concatenate([[start], s[inner], [end]])
        xs = np.interp(ss, s, poly[:, 0])
        ys = np.interp(ss, s, poly[:, 1])
        out.append(np.column_stack([xs, ys]))
        start += period
    return out


class _GroundMap:
    """Top-down label texture of road strips and markings; tiles are rasterised on first use."""

    def __init__(self, scene: RenderScene) -> None:
        colours: list[RGB] = [tuple(scene.ground_rgb)]  # label 0 = bare ground (colour set per frame)
        label_of: dict[RGB, int] = {}

        def label(rgb: RGB) -> int:
            key = tuple(int(v) for v in rgb)
            if key not in label_of:
                label_of[key] = len(colours)
                colours.append(key)
            return label_of[key]

        quads: list[np.ndarray] = []
        quad_labels: list[int] = []
        for left, right, rgb in scene.road_strips:
            left = np.asarray(left, dtype=float)
            right = np.asarray(right, dtype=float)
            if len(left) < 2 or len(left) != len(right):
                raise ValueError("road strip edges need the same number (>= 2) of points")
            q = np.stack([left[:-1], right[:-1], right[1:], left[1:]], axis=1)  # (n,4,2)
            # Make every quad counter-clockwise so one half-space test fits all.
            area = _shoelace(q)
            q[area < 0] = q[area < 0][:, ::-1]
            quads.append(q)
            quad_labels += [label(rgb)] * len(q)
        seg0: list[np.ndarray] = []
        seg1: list[np.ndarray] = []
        seg_hw: list[np.ndarray] = []
        seg_labels: list[int] = []
        dash, gap = scene.dash_pattern
        for poly, width, solid, rgb in scene.markings:
            poly = np.asarray(poly, dtype=float)
            if len(poly) < 2:
                continue
            pieces = [poly] if solid or gap <= 0 else _dash_split(poly, dash, gap)
            lab = label(rgb)
            for piece in pieces:
                keep = np.concatenate([[True], np.linalg.norm(np.diff(piece, axis=0), axis=1) > 1e-9])
                piece = piece[keep]
                if len(piece) < 2:
                    continue
                seg0.append(piece[:-1])
                seg1.append(piece[1:])
                seg_hw.append(np.full(len(piece) - 1, width / 2.0))
                seg_labels += [lab] * (len(piece) - 1)
        if len(colours) > 256:
            raise ValueError("at most 255 distinct road/marking colours are supported")
        self.colours_t = np.ascontiguousarray(np.array(colours, dtype=np.float32).T)  # (3, n_labels)
        self.quads = np.concatenate(quads) if quads else np.zeros((0, 4, 2))
        self.quad_labels = np.array(quad_labels, dtype=np.uint8)
        self.seg0 = np.concatenate(seg0) if seg0 else np.zeros((0, 2))
        self.seg1 = np.concatenate(seg1) if seg1 else np.zeros((0, 2))
        self.seg_hw = np.concatenate(seg_hw) if seg_hw else np.zeros(0)
        self.seg_labels = np.array(seg_labels, dtype=np.uint8)

        # Primitive bounding boxes (xmin, ymin, xmax, ymax), markings grown by their half width.
        qb = np.concatenate([self.quads.min(axis=1), self.quads.max(axis=1)], axis=1) if len(self.quads) \
            else np.zeros((0, 4))
        lo = np.minimum(self.seg0, self.seg1) - self.seg_hw[:, None]
        hi = np.maximum(self.seg0, self.seg1) + self.seg_hw[:, None]
        sb = np.concatenate([lo, hi], axis=1)
        self.quad_bb = qb
        self.seg_bb = sb
        tile_m = TILE_TEXELS * GROUND_RES_M
        allb = np.concatenate([qb, sb])
        if len(allb):
            self.x0 = math.floor(allb[:, 0].min() / tile_m) * tile_m - tile_m
            self.y0 = math.floor(allb[:, 1].min() / tile_m) * tile_m - tile_m
            x1, y1 = allb[:, 2].max(), allb[:, 3].max()
            self.ntx = int(math.ceil((x1 - self.x0) / tile_m)) + 1
            self.nty = int(math.ceil((y1 - self.y0) / tile_m)) + 1
        else:
            self.x0 = self.y0 = 0.0
            self.ntx = self.nty = 1
        # grid: 0 = empty tile (bare ground), -1 = needs rasterising, >0 = index into self.tiles
        self.grid = np.zeros((self.ntx, self.nty), dtype=np.int32)
        for b in allb:
            i0, j0 = int((b[0] - self.x0) // tile_m), int((b[1] - self.y0) // tile_m)
            i1, j1 = int((b[2] - self.x0) // tile_m), int((b[3] - self.y0) // tile_m)
            self.grid[i0 : i1 + 1, j0 : j1 + 1] = -1
        # Tiles carry one extra texel row/column (a copy of the neighbour's first) so the four texels of a
        # bilinear footprint always come from one tile.
        self.tiles = np.zeros((8, TILE_TEXELS + 1, TILE_TEXELS + 1), dtype=np.uint8)
        self.n_tiles = 1  # tile 0 stays all zeros

    # -- rasterisation ---------------------------------------------------------------------------
    def _build_tile(self, ti: int, tj: int) -> int:
        if self.n_tiles == len(self.tiles):
            grown = np.zeros((2 * len(self.tiles), TILE_TEXELS + 1, TILE_TEXELS + 1), dtype=np.uint8)
            grown[: self.n_tiles] = self.tiles[: self.n_tiles]
            self.tiles = grown
        tile = self.tiles[self.n_tiles]
        tile_m = TILE_TEXELS * GROUND_RES_M
        tx0 = self.x0 + ti * tile_m
        ty0 = self.y0 + tj * tile_m
        tx1, ty1 = tx0 + tile_m + GROUND_RES_M, ty0 + tile_m + GROUND_RES_M

        def overlapping(bb: np.ndarray) -> np.ndarray:
            return np.nonzero((bb[:, 0] <= tx1) & (bb[:, 2] >= tx0) & (bb[:, 1] <= ty1) & (bb[:, 3] >= ty0))[0]

        def window(b: np.ndarray) -> tuple[int, int, int, int, np.ndarray, np.ndarray] | None:
            i0 = max(int(math.floor((b[0] - tx0) / GROUND_RES_M - 0.5)), 0)
            j0 = max(int(math.floor((b[1] - ty0) / GROUND_RES_M - 0.5)), 0)
            i1 = min(int(math.ceil((b[2] - tx0) / GROUND_RES_M + 0.5)), TILE_TEXELS + 1)
            j1 = min(int(math.ceil((b[3] - ty0) / GROUND_RES_M + 0.5)), TILE_TEXELS + 1)
            if i0 >= i1 or j0 >= j1:
                return None
            xs = (tx0 + (np.arange(i0, i1) + 0.5) * GROUND_RES_M)[:, None]
            ys = (ty0 + (np.arange(j0, j1) + 0.5) * GROUND_RES_M)[None, :]
            return i0, i1, j0, j1, xs, ys

        eps = 1e-9
        for qi in overlapping(self.quad_bb):
            w = window(self.quad_bb[qi])
            if w is None:
                continue
            i0, i1, j0, j1, xs, ys = w
            q = self.quads[qi]
            inside = np.ones((i1 - i0, j1 - j0), dtype=bool)
            for k in range(4):
                ax, ay = q[k]
                bx, by = q[(k + 1) % 4]
                if abs(bx - ax) + abs(by - ay) < eps:
                    continue
                inside &= (bx - ax) * (ys - ay) - (by - ay) * (xs - ax) >= -eps
            tile[i0:i1, j0:j1][inside] = self.quad_labels[qi]
        for si in overlapping(self.seg_bb):
            w = window(self.seg_bb[si])
            if w is None:
                continue
            i0, i1, j0, j1, xs, ys = w
            a, b, hw = self.seg0[si], self.seg1[si], self.seg_hw[si]
            d = b - a
            ln = math.hypot(d[0], d[1])
            ux, uy = d / ln
            along = (xs - a[0]) * ux + (ys - a[1]) * uy
            across = -(xs - a[0]) * uy + (ys - a[1]) * ux
            # extend each piece by a tiny bit so joints on curves have no cracks
            inside = (np.abs(across) <= hw) & (along >= -0.5 * hw) & (along <= ln + 0.5 * hw)
            tile[i0:i1, j0:j1][inside] = self.seg_labels[si]
        self.n_tiles += 1
        return self.n_tiles - 1

    # -- sampling ----------------------------------------------------------------------------------
    def lookup(self, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """Colour labels of world ground points (0 = bare ground), nearest texel."""
        fx = (np.asarray(gx, dtype=float) - self.x0) * (1.0 / GROUND_RES_M)
        fy = (np.asarray(gy, dtype=float) - self.y0) * (1.0 / GROUND_RES_M)
        flat = self._flat_index(np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64))
        return self.tiles.reshape(-1).take(flat)

    def colours_into(self, col: np.ndarray, sel: slice | np.ndarray, fx: np.ndarray, fy: np.ndarray,
                     bilinear: bool) -> None:
        """Write planar colours ``col[:, sel]`` for texel coordinates ``fx, fy`` (float, texel units).

        Bilinear filtering is for magnified texels (near the camera); only pixels whose four texels
        differ need the blend, so its cost is small.
        """
        if bilinear:
            fx = fx - np.float32(0.5)
            fy = fy - np.float32(0.5)
        fxf = np.floor(fx)
        fyf = np.floor(fy)
        flat = self._flat_index(fxf.astype(np.int64), fyf.astype(np.int64))  # may grow self.tiles
        tiles = self.tiles.reshape(-1)
        ct = self.colours_t
        l00 = tiles.take(flat)
        col[:, sel] = ct.take(l00, axis=1)
        if not bilinear:
            return
        row = TILE_TEXELS + 1
        l10 = tiles.take(flat + row)
        l01 = tiles.take(flat + 1)
        l11 = tiles.take(flat + (row + 1))
        mixed = np.flatnonzero((l00 != l10) | (l00 != l01) | (l00 != l11))
        if len(mixed) == 0:
            return
        wx = (fx[mixed] - fxf[mixed]).astype(np.float32)
        wy = (fy[mixed] - fyf[mixed]).astype(np.float32)
        c00 = ct.take(l00[mixed], axis=1)
        c10 = ct.take(l10[mixed], axis=1)
        c01 = ct.take(l01[mixed], axis=1)
        c11 = ct.take(l11[mixed], axis=1)
        c00 += wx * (c10 - c00)
        c01 += wx * (c11 - c01)
        c00 += wy * (c01 - c00)
        if isinstance(sel, slice):
            col[:, sel.start + mixed] = c00
        else:
            col[:, sel[mixed]] = c00

    def _flat_index(self, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        """Index into ``self.tiles.reshape(-1)`` of integer texels; rasterises missing tiles on demand."""
        tx = ix >> TILE_SHIFT
        ty = iy >> TILE_SHIFT
        inside = (tx >= 0) & (tx < self.ntx) & (ty >= 0) & (ty < self.nty)
        tx = np.clip(tx, 0, self.ntx - 1)
        ty = np.clip(ty, 0, self.nty - 1)
        tid = self.grid[tx, ty]
        tid[~inside] = 0
        if (tid < 0).any():
            for ti, tj in sorted({(int(a), int(b)) for a, b in zip(tx[tid < 0], ty[tid < 0])}):
                self.grid[ti, tj] = self._build_tile(ti, tj)
            tid = self.grid[tx, ty]
            tid[~inside] = 0
        mask = TILE_TEXELS - 1
        row = TILE_TEXELS + 1
        return tid.astype(np.int64) * (row * row) + (ix & mask) * row + (iy & mask)


def _shoelace(q: np.ndarray) -> np.ndarray:
    x, y = q[..., 0], q[..., 1]
    return 0.5 * np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1)


def _scene_key(scene: RenderScene) -> bytes:
    """Content hash of the static ground geometry (boxes and colours of sky/ground excluded)."""
    h = hashlib.blake2b(digest_size=16)
    for left, right, rgb in scene.road_strips:
        h.update(b"S")
        h.update(np.ascontiguousarray(left, dtype=float).tobytes())
        h.update(b"|")
        h.update(np.ascontiguousarray(right, dtype=float).tobytes())
        h.update(repr(tuple(int(v) for v in rgb)).encode())
    for poly, width, solid, rgb in scene.markings:
        h.update(b"M")
        h.update(np.ascontiguousarray(poly, dtype=float).tobytes())
        h.update(repr((float(width), bool(solid), tuple(int(v) for v in rgb))).encode())
    h.update(repr(tuple(float(v) for v in scene.dash_pattern)).encode())
    return h.digest()


# ----------------------------------------------------------------------------------------------------
# Per-camera precomputation
# ----------------------------------------------------------------------------------------------------


def _make_noise() -> np.ndarray:
    """Fixed, smooth, tileable value noise in [-1, 1] (seeded: deterministic across runs)."""
    rng = np.random.default_rng(20240607)
    n = rng.standard_normal((256, 256))
    k = np.fft.fftfreq(256)
    filt = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 0.08**2))
    n = np.real(np.fft.ifft2(np.fft.fft2(n) * filt))
    n /= np.abs(n).max()
    return n.astype(np.float32)


_NOISE = _make_noise()
_NOISE_SHIFT = 2  # noise cell = 4 texels = 0.2 m


@dataclass
class _CameraCache:
    spec: CameraSpec
    r_eo: np.ndarray  # ego <- optical rotation
    t_eo: np.ndarray  # camera position in the ego frame
    rays: np.ndarray  # (H, W, 3) ego-frame ray directions scaled so that optical depth == ray parameter
    sky_t: np.ndarray  # (H*W,) 0 at the horizon .. 1 high up (gradient parameter)
    ground_idx: np.ndarray  # flat pixel indices that hit the ground
    ground_pix: np.ndarray  # (H, W) int32 index into ground arrays, -1 where sky
    gxe: np.ndarray  # ego-frame ground hit x
    gye: np.ndarray  # ego-frame ground hit y
    gxr: np.ndarray  # float32 gxe / GROUND_RES_M (texel units)
    gyr: np.ndarray  # float32 gye / GROUND_RES_M
    ground_sl: slice | np.ndarray  # ground pixels as a slice when contiguous (roll == 0), else indices
    gdepth: np.ndarray  # optical depth of the ground hit
    haze_ground: np.ndarray  # (G, 1) haze blend weight
    noise_amp: np.ndarray  # (G,) texture noise amplitude (fades with distance against aliasing)
    zbuf0: np.ndarray  # (H, W) initial depth buffer (ground depth, inf for sky)
    near_sel: slice | np.ndarray  # ground indices where a texel covers > 1 pixel (bilinear there)
    far_sel: slice | np.ndarray  # the other ground indices (nearest texel)
    sky: dict = field(default_factory=dict)  # sky_rgb -> planar (3, H*W) sky image


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A slice when the sorted indices are contiguous (much faster to read/write), else the indices."""
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    if len(idx) == 0:
        return slice(0, 0)
    return idx


def _build_camera_cache(spec: CameraSpec) -> _CameraCache:
    r, t = _ego_from_optical(spec)
    u = (np.arange(spec.width, dtype=float) - spec.cx) / spec.fx
    v = (np.arange(spec.height, dtype=float) - spec.cy) / spec.fy
    uu, vv = np.meshgrid(u, v)
    d_opt = np.stack([uu, vv, np.ones_like(uu)], axis=-1)
    rays = d_opt @ r.T  # (H, W, 3) ego frame
    dz = rays[..., 2]
    with np.errstate(divide="ignore"):
        tg = np.where(dz < -1e-12, -t[2] / np.where(dz < -1e-12, dz, -1.0), np.inf)
    ground = tg < MAX_GROUND_DEPTH_M
    elev = dz / np.linalg.norm(rays, axis=-1)
    sky_t = np.clip(elev / 0.45, 0.0, 1.0) ** 0.6
    gi = np.flatnonzero(ground)
    gpix = np.full(spec.height * spec.width, -1, dtype=np.int32)
    gpix[gi] = np.arange(len(gi), dtype=np.int32)
    tflat = tg.reshape(-1)[gi]
    gxe = t[0] + tflat * rays[..., 0].reshape(-1)[gi]
    gye = t[1] + tflat * rays[..., 1].reshape(-1)[gi]
    zbuf0 = np.where(ground, tg, np.inf)
    # A texel spans more than ~1 pixel where depth / f < texel size.
    magnified = tflat < GROUND_RES_M * min(spec.fx, spec.fy)
    return _CameraCache(
        spec=spec, r_eo=r, t_eo=t, rays=rays,
        sky_t=sky_t.reshape(-1).astype(np.float32),
        gxr=(gxe / GROUND_RES_M).astype(np.float32), gyr=(gye / GROUND_RES_M).astype(np.float32),
        ground_sl=_as_slice(gi),
        ground_idx=gi, ground_pix=gpix.reshape(spec.height, spec.width),
        gxe=gxe, gye=gye, gdepth=tflat,
        haze_ground=(1.0 - np.exp(-tflat / HAZE_M)).astype(np.float32),
        noise_amp=(0.09 * np.exp(-tflat / 25.0)).astype(np.float32),
        zbuf0=zbuf0,
        near_sel=_as_slice(np.flatnonzero(magnified)), far_sel=_as_slice(np.flatnonzero(~magnified)),
    )


# ----------------------------------------------------------------------------------------------------
# Box detail
# ----------------------------------------------------------------------------------------------------


def _mix(a: RGB, b: RGB, w: float) -> RGB:
    return tuple(int(round((1 - w) * x + w * y)) for x, y in zip(a, b))  # type: ignore[return-value]


def _sub_box(b: Box, fx: float, fy: float, z0: float, z1: float, fl: float, fw: float, rgb: RGB) -> Box:
    """Part of ``b``: offset (fx, fy) in units of length/width, height fraction z0..z1."""
    c, s = math.cos(b.yaw), math.sin(b.yaw)
    ox, oy = fx * b.length, fy * b.width
    bottom = b.z - b.height / 2.0
    return Box(
        b.x + c * ox - s * oy, b.y + s * ox + c * oy, bottom + (z0 + z1) / 2.0 * b.height,
        b.length * fl, b.width * fw, b.height * (z1 - z0), b.yaw, rgb, b.cls,
    )


def _detail_parts(b: Box) -> list[Box]:
    """Split a labelled box into a few sub-boxes so classes look different (silhouette kept inside)."""
    cls = b.cls.lower()
    glass: RGB = (40, 50, 62)
    if cls in ("car", "vehicle", "van"):
        return [
            _sub_box(b, 0.0, 0.0, 0.0, 0.58, 1.0, 1.0, b.rgb),
            _sub_box(b, -0.07, 0.0, 0.58, 1.0, 0.52, 0.88, _mix(b.rgb, glass, 0.75)),
        ]
    if cls in ("truck", "bus"):
        return [
            _sub_box(b, 0.41, 0.0, 0.0, 0.82, 0.18, 1.0, b.rgb),
            _sub_box(b, 0.41, 0.0, 0.82 * 0.55, 0.82, 0.181, 1.001, _mix(b.rgb, glass, 0.8)),
            _sub_box(b, -0.1, 0.0, 0.12, 1.0, 0.78, 1.0, _mix(b.rgb, (235, 235, 235), 0.6)),
        ]
    if cls == "pedestrian":
        return [
            _sub_box(b, 0.0, 0.0, 0.0, 0.47, 0.6, 0.55, (50, 50, 70)),
            _sub_box(b, 0.0, 0.0, 0.47, 0.86, 1.0, 1.0, b.rgb),
            _sub_box(b, 0.0, 0.0, 0.86, 1.0, 0.45, 0.4, (205, 165, 135)),
        ]
    if cls == "cyclist":
        return [
            _sub_box(b, 0.0, 0.0, 0.0, 0.45, 1.0, 0.2, (35, 35, 35)),
            _sub_box(b, -0.05, 0.0, 0.45, 0.88, 0.35, 1.0, b.rgb),
            _sub_box(b, 0.0, 0.0, 0.88, 1.0, 0.2, 0.45, (205, 165, 135)),
        ]
    return [b]


# ----------------------------------------------------------------------------------------------------
# Renderer
# ----------------------------------------------------------------------------------------------------


def _image_bbox(spec: CameraSpec, pc: np.ndarray) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (u0, u1, v0, v1; exclusive ends) covering the convex hull of camera points ``pc``
    after clipping at the near plane, or None if nothing is in front of the camera / in the image."""
    z = pc[:, 2]
    front = z > NEAR_M
    if not front.any():
        return None
    pts = [pc[front]]
    back = ~front
    if back.any():
        a = pc[front][:, None, :]
        b = pc[back][None, :, :]
        w = (NEAR_M - a[..., 2]) / (b[..., 2] - a[..., 2])
        pts.append((a + w[..., None] * (b - a)).reshape(-1, 3))
    p = np.concatenate(pts)
    zz = np.maximum(p[:, 2], NEAR_M)
    u = spec.fx * p[:, 0] / zz + spec.cx
    v = spec.fy * p[:, 1] / zz + spec.cy
    u0 = max(int(math.floor(u.min())), 0)
    u1 = min(int(math.ceil(u.max())) + 1, spec.width)
    v0 = max(int(math.floor(v.min())), 0)
    v1 = min(int(math.ceil(v.max())) + 1, spec.height)
    if u0 >= u1 or v0 >= v1:
        return None
    return u0, u1, v0, v1


class Renderer:
    """Holds per-camera and per-road caches; ``render`` is the one call to use per frame.

    A module-level instance backs :func:`render`; create your own for isolated caches (e.g. one per
    worker process).  Caches depend only on the inputs, so output bytes never depend on call history.
    """

    def __init__(self, max_scenes: int = 4) -> None:
        self._cams: dict[CameraSpec, _CameraCache] = {}
        self._maps: OrderedDict[bytes, _GroundMap] = OrderedDict()
        self._max_scenes = max_scenes

    def camera(self, spec: CameraSpec) -> _CameraCache:
        cc = self._cams.get(spec)
        if cc is None:
            cc = self._cams[spec] = _build_camera_cache(spec)
        return cc

    def ground_map(self, scene: RenderScene) -> _GroundMap:
        key = _scene_key(scene)
        gm = self._maps.get(key)
        if gm is None:
            gm = self._maps[key] = _GroundMap(scene)
            while len(self._maps) > self._max_scenes:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(key)
        return gm

    def render(
        self,
        spec: CameraSpec,
        ego_pose: tuple[float, float, float],
        scene: RenderScene,
        *,
        supersample: int = 1,
        detail: bool = True,
        shadows: bool = True,
    ) -> np.ndarray:
        """Render one HxWx3 uint8 RGB image of ``scene`` from camera ``spec`` on the ego at ``ego_pose``."""
        if supersample > 1:
            big = self._render(spec.scaled(supersample), ego_pose, scene, detail, shadows)
            h, w, k = spec.height, spec.width, supersample
            img = big.reshape(3, h, k, w, k).mean(axis=(2, 4), dtype=np.float32)
        else:
            img = self._render(spec, ego_pose, scene, detail, shadows)
        img += np.float32(0.5)
        np.clip(img, 0.0, 255.0, out=img)
        return np.ascontiguousarray(img.astype(np.uint8).transpose(1, 2, 0))

    def _render(
        self, spec: CameraSpec, ego_pose: tuple[float, float, float], scene: RenderScene,
        detail: bool, shadows: bool,
    ) -> np.ndarray:
        cc = self.camera(spec)
        h, w = spec.height, spec.width
        ex, ey, eyaw = (float(v) for v in ego_pose)
        ce, se = math.cos(eyaw), math.sin(eyaw)

        sky = np.asarray(scene.sky_rgb, dtype=np.float32)
        horizon = sky + (np.float32(245.0) - sky) * np.float32(0.6)
        hz = horizon[:, None]
        sky_key = tuple(int(v) for v in scene.sky_rgb)
        sky_img = cc.sky.get(sky_key)
        if sky_img is None:
            sky_img = cc.sky[sky_key] = hz + cc.sky_t[None, :] * (sky - horizon)[:, None]
        img = sky_img.copy()  # planar (3, H*W) float32: per-channel ops stay contiguous and fast

        # Ground: texel coordinates of the hit points, texture colours, noise, shadows, haze.
        gm = self.ground_map(scene)
        gm.colours_t[:, 0] = scene.ground_rgb
        ox = np.float32((ex - gm.x0) / GROUND_RES_M)
        oy = np.float32((ey - gm.y0) / GROUND_RES_M)
        cf, sf = np.float32(ce), np.float32(se)
        fx = ox + (cf * cc.gxr - sf * cc.gyr)
        fy = oy + (sf * cc.gxr + cf * cc.gyr)
        col = np.empty((3, len(fx)), dtype=np.float32)
        gm.colours_into(col, cc.far_sel, fx[cc.far_sel], fy[cc.far_sel], bilinear=False)
        gm.colours_into(col, cc.near_sel, fx[cc.near_sel], fy[cc.near_sel], bilinear=True)
        nidx = ((np.floor(fx).astype(np.int64) >> _NOISE_SHIFT) & 255) * 256 \
            + ((np.floor(fy).astype(np.int64) >> _NOISE_SHIFT) & 255)
        shade = 1.0 + cc.noise_amp * _NOISE.reshape(-1).take(nidx)
        sun = np.asarray(scene.sun_dir, dtype=float)
        sun = sun / max(np.linalg.norm(sun), 1e-12)
        cam_w = np.array([ex + ce * cc.t_eo[0] - se * cc.t_eo[1], ey + se * cc.t_eo[0] + ce * cc.t_eo[1],
                          cc.t_eo[2]])
        parts: list[Box] = []
        for b in scene.boxes:
            parts.extend(_detail_parts(b) if detail else [b])
        if shadows and sun[2] > 0.05 and scene.boxes:
            self._shadows(cc, scene.boxes, sun, (ce, se, ex, ey), shade)
        col *= shade
        col += cc.haze_ground * (hz - col)
        img[:, cc.ground_sl] = col
        img = img.reshape(3, h, w)

        if parts:
            zbuf = cc.zbuf0.copy()
            # Nearest first is not needed for correctness (z-buffer) but skips hidden pixels early.
            order = sorted(range(len(parts)), key=lambda i: (parts[i].x - cam_w[0]) ** 2
                           + (parts[i].y - cam_w[1]) ** 2)
            for i in order:
                self._draw_box(cc, parts[i], sun, cam_w, eyaw, (ex, ey), img, zbuf, horizon)
        return img

    def _to_cam(self, cc: _CameraCache, ego_xy_yaw: tuple[float, float, float, float], pts: np.ndarray) -> np.ndarray:
        ce, se, ex, ey = ego_xy_yaw
        dx = pts[:, 0] - ex
        dy = pts[:, 1] - ey
        ego = np.stack([ce * dx + se * dy, -se * dx + ce * dy, pts[:, 2]], axis=1)
        return (ego - cc.t_eo) @ cc.r_eo

    def _shadows(self, cc: _CameraCache, boxes: list[Box], sun: np.ndarray,
                 ego: tuple[float, float, float, float], shade: np.ndarray) -> None:
        """Darken ground pixels inside each box's sun shadow (box swept along the sun ray to z=0)."""
        spec = cc.spec
        vx, vy = -sun[0] / sun[2], -sun[1] / sun[2]  # ground displacement per metre of height
        lim = 3.0 / max(math.hypot(vx, vy), 1e-9)  # cap shadow length at 3 x height
        scale = min(1.0, lim)
        vx, vy = vx * scale, vy * scale
        in_shadow = np.zeros(len(shade), dtype=bool)
        ce, se, ex, ey = ego
        for b in boxes:
            zb = max(b.z - b.height / 2.0, 0.0)
            zt = b.z + b.height / 2.0
            if zt <= 0:
                continue
            corners = box_corners(b)[:4]
            foot = np.vstack([corners[:, :2] + zb * np.array([vx, vy]), corners[:, :2] + zt * np.array([vx, vy])])
            pc = self._to_cam(cc, ego, np.column_stack([foot, np.zeros(8)]))
            bb = _image_bbox(spec, pc)
            if bb is None:
                continue
            u0, u1, v0, v1 = bb
            sub = cc.ground_pix[v0:v1, u0:u1]
            gi = sub[sub >= 0]
            if len(gi) == 0:
                continue
            c, s = math.cos(b.yaw), math.sin(b.yaw)
            gxe, gye = cc.gxe[gi], cc.gye[gi]
            px = ex + ce * gxe - se * gye - b.x
            py = ey + se * gxe + ce * gye - b.y
            lx, ly = c * px + s * py, -s * px + c * py
            lvx, lvy = c * vx + s * vy, -s * vx + c * vy
            lo = np.full(len(gi), zb)
            hi = np.full(len(gi), zt)
            for p, vv, half in ((lx, lvx, b.length / 2.0), (ly, lvy, b.width / 2.0)):
                if abs(vv) < 1e-9:
                    bad = np.abs(p) > half
                    hi[bad] = -np.inf
                else:
                    a1, a2 = (p - half) / vv, (p + half) / vv
                    np.maximum(lo, np.minimum(a1, a2), out=lo)
                    np.minimum(hi, np.maximum(a1, a2), out=hi)
            in_shadow[gi[lo <= hi]] = True
        shade[in_shadow] *= SHADOW_FACTOR

    def _draw_box(self, cc: _CameraCache, b: Box, sun: np.ndarray, cam_w: np.ndarray, eyaw: float,
                  ego_xy: tuple[float, float], img: np.ndarray, zbuf: np.ndarray, horizon: np.ndarray) -> None:
        spec = cc.spec
        ce, se = math.cos(eyaw), math.sin(eyaw)
        pc = self._to_cam(cc, (ce, se, ego_xy[0], ego_xy[1]), box_corners(b))
        bb = _image_bbox(spec, pc)
        if bb is None:
            return
        u0, u1, v0, v1 = bb
        # Ray in box-local frame: rotate ego-frame rays by (ego yaw - box yaw) about z.
        a = eyaw - b.yaw
        ca, sa = math.cos(a), math.sin(a)
        r = cc.rays[v0:v1, u0:u1]
        rx, ry, rz = r[..., 0], r[..., 1], r[..., 2]
        dx = ca * rx - sa * ry
        dy = sa * rx + ca * ry
        cb, sb = math.cos(b.yaw), math.sin(b.yaw)
        ox_w, oy_w = cam_w[0] - b.x, cam_w[1] - b.y
        o = (cb * ox_w + sb * oy_w, -sb * ox_w + cb * oy_w, cam_w[2] - b.z)
        halves = (b.length / 2.0, b.width / 2.0, b.height / 2.0)
        tnear = np.full(dx.shape, -np.inf)
        tfar = np.full(dx.shape, np.inf)
        face = np.zeros(dx.shape, dtype=np.int8)
        for axis, d in enumerate((dx, dy, rz)):
            dd = np.where(np.abs(d) < 1e-12, 1e-12, d)
            inv = 1.0 / dd
            t1 = (-halves[axis] - o[axis]) * inv
            t2 = (halves[axis] - o[axis]) * inv
            tmin = np.minimum(t1, t2)
            tmax = np.maximum(t1, t2)
            better = tmin > tnear
            # face id: 2*axis + (1 if the ray travels in +axis, i.e. hits the negative face)
            face = np.where(better, np.int8(2 * axis) + (dd > 0).astype(np.int8), face)
            np.maximum(tnear, tmin, out=tnear)
            np.minimum(tfar, tmax, out=tfar)
        zb = zbuf[v0:v1, u0:u1]
        hit = (tnear <= tfar) & (tnear > NEAR_M) & (tnear < zb)
        if not hit.any():
            return
        # Per-face colour: Lambertian from the world-frame face normal.
        normals_local = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
        rot = np.array([[cb, -sb, 0.0], [sb, cb, 0.0], [0.0, 0.0, 1.0]])
        lam = np.clip(normals_local @ rot.T @ sun, 0.0, None)
        base = np.asarray(b.rgb, dtype=np.float32)
        face_col = (base[:, None] * (AMBIENT + DIFFUSE * lam)[None, :]).astype(np.float32)  # (3, 6)
        t_hit = tnear[hit]
        cols = face_col.take(face[hit], axis=1)
        haze = (1.0 - np.exp(-t_hit / HAZE_M)).astype(np.float32)
        cols += haze * (horizon[:, None] - cols)
        sub = img[:, v0:v1, u0:u1]
        sub[:, hit] = cols
        zb[hit] = t_hit


_DEFAULT = Renderer()


def render(
    spec: CameraSpec,
    ego_pose: tuple[float, float, float],
    scene: RenderScene,
    *,
    supersample: int = 1,
    detail: bool = True,
    shadows: bool = True,
) -> np.ndarray:
    """Render with the module-level :class:`Renderer` (see its ``render``)."""
    return _DEFAULT.render(spec, ego_pose, scene, supersample=supersample, detail=detail, shadows=shadows)


def example_scene(
    lanes: int = 3,
    lane_width: float = 3.5,
    length: float = 400.0,
    curvature: float = 0.0,
    n_boxes: int = 10,
    step: float = 1.0,
) -> RenderScene:
    """A deterministic road (lane 0 centred on y = 0, lanes to the left) with traffic; for tests/benchmarks."""
    s = np.arange(-20.0, length + step, step)
    if abs(curvature) < 1e-12:
        cx, cy, hd = s, np.zeros_like(s), np.zeros_like(s)
    else:
        hd = curvature * s
        cx, cy = np.sin(hd) / curvature, (1.0 - np.cos(hd)) / curvature
    nx, ny = -np.sin(hd), np.cos(hd)  # left normal

    def line(d: float) -> np.ndarray:
        return np.column_stack([cx + d * nx, cy + d * ny])

    right_d = -lane_width / 2.0
    left_d = right_d + lanes * lane_width
    strips = [
        (line(left_d + 1.0), line(right_d - 1.0), (62, 62, 66)),
    ]
    marks: list[tuple[np.ndarray, float, bool, RGB]] = [
        (line(right_d + 0.25), 0.15, True, (235, 235, 235)),
        (line(left_d - 0.25), 0.15, True, (230, 190, 40)),
    ]
    for k in range(1, lanes):
        marks.append((line(right_d + k * lane_width), 0.15, False, (235, 235, 235)))
    palette = [(200, 30, 30), (30, 60, 170), (220, 220, 225), (25, 25, 28), (90, 140, 60), (230, 180, 30)]
    boxes = []
    for i in range(n_boxes):
        si = 12.0 + 13.0 * i
        lane = (i * 2) % lanes
        j = int(np.searchsorted(s, si))
        d = right_d + (lane + 0.5) * lane_width
        kind = ("car", "car", "truck", "pedestrian", "cyclist", "obstacle")[i % 6]
        size = {"car": (4.5, 1.8, 1.5), "truck": (9.0, 2.5, 3.4), "pedestrian": (0.5, 0.6, 1.75),
                "cyclist": (1.8, 0.6, 1.75), "obstacle": (1.0, 1.0, 1.0)}[kind]
        if kind == "pedestrian":
            d = left_d + 0.8
        boxes.append(Box(float(cx[j] + d * nx[j]), float(cy[j] + d * ny[j]), size[2] / 2.0, *size,
                         yaw=float(hd[j]), rgb=palette[i % len(palette)], cls=kind))
    return RenderScene(road_strips=strips, markings=marks, boxes=boxes)
