"""Road geometry: a chain of constant-curvature segments with parallel lanes.

Road frame: ``s`` along the reference line (centre of lane 0), ``d`` lateral offset (positive = left).
Every arc has a closed-form position and inverse (projection), so converting between frames costs a few
trig calls per segment instead of an iterative search: this runs every physics step for every object.
Beyond the ends the road is extended along its end tangents so that objects off the ends still project.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

#: Dash pattern for dashed lines (typical motorway: 3 m paint, 9 m gap).
DASH_LENGTH_M = 3.0
DASH_GAP_M = 9.0
MARKING_WIDTH_M = 0.15

_EXT = 1.0e6  # length of the virtual straight extensions before s=0 and after the end


@dataclass(frozen=True)
class Segment:
    """One constant-curvature piece (curvature positive = left turn)."""

    length_m: float
    curvature_1pm: float = 0.0


@dataclass(frozen=True)
class LaneLine:
    """A painted (or unpainted) line between/at the edge of lanes.

    ``index`` counts from the right road edge (0) to the left road edge (``lanes``).
    """

    index: int
    d_m: float
    kind: str  # "solid" | "dashed" | "none"


@dataclass(frozen=True)
class MarkingPiece:
    """A sampled polyline of paint: a whole solid line or a single dash of a dashed line."""

    points: np.ndarray  # (N, 2) world xy
    line_index: int
    kind: str  # "solid" | "dashed"


class Road:
    """Multi-lane road made of constant-curvature segments starting at the origin heading +x."""

    def __init__(
        self,
        lanes: int = 1,
        lane_width_m: float = 3.5,
        segments: list[Segment] | None = None,
        edge_marking: str = "solid",
        between_marking: str = "dashed",
    ) -> None:
        self.lanes = int(lanes)
        self.lane_width_m = float(lane_width_m)
        self.segments = list(segments) if segments else [Segment(1000.0, 0.0)]
        self.edge_marking = edge_marking
        self.between_marking = between_marking
        # Internal table including straight extensions at both ends.
        ks = [0.0] + [float(sg.curvature_1pm) for sg in self.segments] + [0.0]
        ls = [_EXT] + [float(sg.length_m) for sg in self.segments] + [_EXT]
        s0 = [-_EXT]
        x0 = [-_EXT]
        y0 = [0.0]
        h0 = [0.0]
        x, y, h, s = 0.0, 0.0, 0.0, 0.0
        for k, length in zip(ks[1:], ls[1:]):
            s0.append(s)
            x0.append(x)
            y0.append(y)
            h0.append(h)
            x, y, h = _arc_point(x, y, h, k, length)
            s += length
        self.length_m = s - _EXT
        self._s0 = np.array(s0)
        self._len = np.array(ls)
        self._k = np.array(ks)
        self._x0 = np.array(x0)
        self._y0 = np.array(y0)
        self._h0 = np.array(h0)
        # Python lists for the scalar fast path.
        self._s0l, self._lenl, self._kl = s0, ls, ks
        self._x0l, self._y0l, self._h0l = x0, y0, h0
        # Arc centres (for projection); straight pieces get NaN.
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(np.abs(self._k) > 1e-12, 1.0 / self._k, np.nan)
        self._cx = self._x0 - inv * np.sin(self._h0)
        self._cy = self._y0 + inv * np.cos(self._h0)
        self._cxl, self._cyl = self._cx.tolist(), self._cy.tolist()

    # ------------------------------------------------------------------ lanes
    def lane_center_d(self, lane: int) -> float:
        return lane * self.lane_width_m

    def lane_of(self, d: float) -> int:
        """Lane index whose corridor contains ``d`` (clipped to the existing lanes)."""
        return int(min(max(round(d / self.lane_width_m), 0), self.lanes - 1))

    def lane_lines(self) -> list[LaneLine]:
        lines = []
        for i in range(self.lanes + 1):
            kind = self.edge_marking if i in (0, self.lanes) else self.between_marking
            lines.append(LaneLine(i, (i - 0.5) * self.lane_width_m, kind))
        return lines

    # ------------------------------------------------------------ conversions
    def _seg_index(self, s):
        idx = np.searchsorted(self._s0, s, side="right") - 1
        return np.clip(idx, 0, len(self._s0) - 1)

    def _seg_scalar(self, s: float) -> int:
        return min(max(bisect.bisect_right(self._s0l, s) - 1, 0), len(self._s0l) - 1)

    def heading(self, s):
        """Road tangent heading (rad) at ``s``."""
        if np.isscalar(s):
            i = self._seg_scalar(float(s))
            return self._h0l[i] + self._kl[i] * (float(s) - self._s0l[i])
        s_arr = np.asarray(s, dtype=float)
        i = self._seg_index(s_arr)
        out = self._h0[i] + self._k[i] * (s_arr - self._s0[i])
        return float(out) if np.ndim(out) == 0 else out

    def curvature(self, s, d=0.0):
        """Curvature (1/m, positive = left) of the line at offset ``d`` at ``s``."""
        if np.isscalar(s) and np.isscalar(d):
            k = self._kl[self._seg_scalar(float(s))]
            return k / (1.0 - k * float(d))
        s_arr = np.asarray(s, dtype=float)
        k = self._k[self._seg_index(s_arr)]
        out = k / (1.0 - k * np.asarray(d, dtype=float))
        return float(out) if np.ndim(out) == 0 else out

    def to_world(self, s, d=0.0):
        """(s, d) -> (x, y, heading); scalars or arrays (broadcast)."""
        if np.isscalar(s) and np.isscalar(d):
            return self._to_world_scalar(float(s), float(d))
        s_arr, d_arr = np.broadcast_arrays(np.asarray(s, float), np.asarray(d, float))
        i = self._seg_index(s_arr)
        k = self._k[i]
        ds = s_arr - self._s0[i]
        h0 = self._h0[i]
        h = h0 + k * ds
        small = np.abs(k) < 1e-12
        ks = np.where(small, 1.0, k)
        fx = np.where(small, ds * np.cos(h0), (np.sin(h) - np.sin(h0)) / ks)
        fy = np.where(small, ds * np.sin(h0), -(np.cos(h) - np.cos(h0)) / ks)
        x = self._x0[i] + fx - d_arr * np.sin(h)
        y = self._y0[i] + fy + d_arr * np.cos(h)
        return x, y, h

    def _to_world_scalar(self, s: float, d: float) -> tuple[float, float, float]:
        i = self._seg_scalar(s)
        k, h0 = self._kl[i], self._h0l[i]
        x, y, h = _arc_point(self._x0l[i], self._y0l[i], h0, k, s - self._s0l[i])
        return x - d * math.sin(h), y + d * math.cos(h), h

    def project(self, x, y):
        """World (x, y) -> road (s, d).

        Each segment gives a closed-form foot point (line: dot product; arc: angle about its centre),
        clamped to the segment. The segment whose foot point is exact (normal through the point) and
        closest wins, so points near junctions or on loops are handled without iteration.
        """
        if np.isscalar(x) and np.isscalar(y):
            return self._project_scalar(float(x), float(y))
        xa, ya = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        if xa.size <= 8:  # a few points (box corners): the scalar path is cheaper than broadcasting
            pairs = [self._project_scalar(px, py) for px, py in zip(xa.ravel().tolist(), ya.ravel().tolist())]
            return (np.array([p[0] for p in pairs]).reshape(xa.shape),
                    np.array([p[1] for p in pairs]).reshape(xa.shape))
        px = xa[..., None]
        py = ya[..., None]
        k = self._k
        arc = np.abs(k) > 1e-12
        # straight candidate
        c, sn = np.cos(self._h0), np.sin(self._h0)
        ds_line = (px - self._x0) * c + (py - self._y0) * sn
        # arc candidate
        ks = np.where(arc, k, 1.0)
        phi = np.arctan2(py - self._cy, px - self._cx)
        phi_mid = self._h0 - np.sign(ks) * np.pi / 2 + k * self._len / 2
        dphi = (phi - phi_mid + np.pi) % (2 * np.pi) - np.pi
        ds_arc = dphi / ks + self._len / 2
        ds = np.where(arc, ds_arc, ds_line)
        ds = np.nan_to_num(ds, nan=0.0)
        ds = np.clip(ds, 0.0, self._len)
        h = self._h0 + k * ds
        fx = np.where(arc, (np.sin(h) - np.sin(self._h0)) / ks, ds * c)
        fy = np.where(arc, -(np.cos(h) - np.cos(self._h0)) / ks, ds * sn)
        rx = px - (self._x0 + fx)
        ry = py - (self._y0 + fy)
        d = -rx * np.sin(h) + ry * np.cos(h)
        err = np.abs(rx * np.cos(h) + ry * np.sin(h))
        best = np.argmin(err * 1000.0 + np.abs(d), axis=-1)
        s_out = np.take_along_axis(self._s0 + ds, best[..., None], -1)[..., 0]
        d_out = np.take_along_axis(d, best[..., None], -1)[..., 0]
        return s_out, d_out

    def _project_scalar(self, x: float, y: float) -> tuple[float, float]:
        best_score, best = math.inf, (0.0, 0.0)
        for i in range(len(self._s0l)):
            k, h0, x0, y0, length = self._kl[i], self._h0l[i], self._x0l[i], self._y0l[i], self._lenl[i]
            if abs(k) > 1e-12:
                phi = math.atan2(y - self._cyl[i], x - self._cxl[i])
                phi_mid = h0 - math.copysign(math.pi / 2, k) + k * length / 2
                dphi = (phi - phi_mid + math.pi) % (2 * math.pi) - math.pi
                ds = dphi / k + length / 2
            else:
                ds = (x - x0) * math.cos(h0) + (y - y0) * math.sin(h0)
            ds = min(max(ds, 0.0), length)
            fx, fy, h = _arc_point(x0, y0, h0, k, ds)
            rx, ry = x - fx, y - fy
            ch, sh = math.cos(h), math.sin(h)
            d = -rx * sh + ry * ch
            score = abs(rx * ch + ry * sh) * 1000.0 + abs(d)
            if score < best_score:
                best_score, best = score, (self._s0l[i] + ds, d)
        return best

    # -------------------------------------------------------------- sampling
    def sample_s(self, s_from: float, s_to: float, step_m: float = 1.0) -> np.ndarray:
        """Stations from s_from to s_to every ``step_m`` including both ends and curvature breaks."""
        n = max(2, int(math.ceil((s_to - s_from) / step_m)) + 1)
        s = np.linspace(s_from, s_to, n)
        breaks = [b for b in self._s0l[1:] if s_from < b < s_to]
        if breaks:
            s = np.unique(np.concatenate([s, breaks]))
        return s

    def line_points(self, d: float, s_from: float, s_to: float, step_m: float = 1.0) -> np.ndarray:
        s = self.sample_s(s_from, s_to, step_m)
        x, y, _ = self.to_world(s, np.full_like(s, d))
        return np.stack([x, y], axis=1)

    def marking_pieces(self, s_from: float = 0.0, s_to: float | None = None, step_m: float = 1.0) -> list[MarkingPiece]:
        """Paint polylines for every lane line; dashed lines come out as one piece per dash.

        Dashes are phased on absolute ``s`` so they stay put in the world when the window moves.
        """
        s_to = self.length_m if s_to is None else s_to
        s_from, s_to = max(s_from, 0.0), min(s_to, self.length_m)
        pieces: list[MarkingPiece] = []
        if s_to <= s_from:
            return pieces
        period = DASH_LENGTH_M + DASH_GAP_M
        for line in self.lane_lines():
            if line.kind == "solid":
                pieces.append(MarkingPiece(self.line_points(line.d_m, s_from, s_to, step_m), line.index, "solid"))
            elif line.kind == "dashed":
                start = math.floor(s_from / period) * period
                while start < s_to:
                    a, b = max(start, s_from), min(start + DASH_LENGTH_M, s_to)
                    if b - a > 1e-3:
                        pieces.append(MarkingPiece(self.line_points(line.d_m, a, b, step_m), line.index, "dashed"))
                    start += period
        return pieces

    def surface_strip(self, s_from: float = 0.0, s_to: float | None = None, step_m: float = 1.0,
                      margin_m: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """(left_pts, right_pts) of the paved surface: outer lane lines plus a ``margin_m`` shoulder."""
        s_to = self.length_m if s_to is None else s_to
        left_d = (self.lanes - 0.5) * self.lane_width_m + margin_m
        right_d = -0.5 * self.lane_width_m - margin_m
        return (self.line_points(left_d, s_from, s_to, step_m), self.line_points(right_d, s_from, s_to, step_m))


def _arc_point(x0: float, y0: float, h0: float, k: float, ds: float) -> tuple[float, float, float]:
    """Closed-form end point and heading after travelling ``ds`` on an arc of curvature ``k``."""
    h = h0 + k * ds
    if abs(k) < 1e-12:
        return x0 + ds * math.cos(h0), y0 + ds * math.sin(h0), h
    return x0 + (math.sin(h) - math.sin(h0)) / k, y0 - (math.cos(h) - math.cos(h0)) / k, h
