"""Euro NCAP AEB test grids, scenario builders and scoring for the simulator.

Facts (speed grids, overlaps, colour bands, points) come from /work/shared/specs/euro_ncap.md. The builders
emit plain scenario dicts in the schema of ``vehicle_sim/scenarios/SCHEMA.md`` so the same loader and
simulator run hand-written and generated tests.

Conventions chosen here (the protocol text was not available to check them; they are documented so that
results stay comparable):

* **Overlap sign (car-to-car).** ``overlap_pct`` is the share of the VUT width covered by the target.
  Positive = the target is offset towards the VUT's LEFT (d > 0, the driver side of a left-hand-drive
  car); negative = offset towards the right (passenger side). Lateral offset of the target centre from
  the VUT centre = sign * (1 - |overlap|) * VUT width; the target is given the VUT's width so the
  overlapping strip is exactly |overlap| * width.
* **Impact position (VRU).** Measured across the VUT front from the side the VRU comes from (nearside =
  right for CPNA, farside = left for CPFA): 25 % is a quarter of the width in from the right edge for
  CPNA-25. CBLA-50 puts the cyclist's centreline on the VUT's centreline.
  The impact instant is first contact: the VUT front bumper reaching the near face of the VRU box
  (for a walker crossing at +-90 deg that face is width_m / 2 before its centre); at that instant the
  VRU's centre is at the nominal % of the VUT width.
* **Colour bands** use the spec table, which is the "50 km/h example": the band limits scale with the
  test's closing speed (limit * closing / 50), so an unbraked impact is Red at every test speed.
  ``colour_band(x)`` with the default reference gives the table exactly.
* **VRU scoring** (simplification): each test point scores its colour factor; the protocol score is the
  mean over the grid (1.0 = all green). The real protocol weights points per speed and uses OEM predictions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from edgepilot.carparams import DEFAULT_CAR

EGO_LENGTH_M = DEFAULT_CAR.length_m
EGO_WIDTH_M = DEFAULT_CAR.width_m

#: Global Vehicle Target stand-in: NCAP-like length, VUT width so overlaps are exact (see module doc).
GVT_SIZE = {"length_m": 4.0, "width_m": EGO_WIDTH_M, "height_m": 1.5}
PEDESTRIAN_SIZE = {"length_m": 0.4, "width_m": 0.6, "height_m": 1.8}
CYCLIST_SIZE = {"length_m": 1.9, "width_m": 0.6, "height_m": 1.8}

OVERLAPS_PCT: tuple[int, ...] = (-50, -75, 100, 75, 50)
T0_TTC_S = 4.0              # CCR / CBLA start: time to collision at the first sample
POST_T0_S = 6.0             # run length after T0 (AEB stops the car well within it)
EGO_START_S_M = 20.0        # leave road behind the ego for the renderer
LANE_WIDTH_M = 3.5

# CCRb
CCRB_SPEED_KPH = 50.0
CCRB_DECELS_MPS2: tuple[float, ...] = (2.0, 6.0)
CCRB_HEADWAYS_M: tuple[float, ...] = (12.0, 40.0)
CCRB_BRAKE_TIME_S = 1.5     # steady state first; protocol needs a stable run-in, exact time ours
CCRB_RAMP_S = 0.5           # spec: "deceleration reached within 1.0 s" -> mid value chosen

# VRU
PED_NEARSIDE_START_M = 4.0  # UNCERTAIN: lateral start from the VUT centreline (spec gives only CPFA's 6 m)
PED_FARSIDE_START_M = 6.0   # spec: CPFA "starts 6 m out"
VRU_ACCEL_DIST_M = 1.0      # UNCERTAIN: distance over which the VRU reaches its speed
VRU_PRE_RUN_S = 2.0         # ego steady-state time before the VRU trigger

# Scoring
BANDS: tuple[tuple[str, float, float], ...] = (   # (name, upper limit km/h at 50 km/h, factor)
    ("green", 5.0, 1.0),
    ("yellow", 15.0, 0.75),
    ("orange", 30.0, 0.5),
    ("brown", 40.0, 0.25),
    ("red", math.inf, 0.0),
)
BAND_REFERENCE_KPH = 50.0

PROTOCOLS = ("ccrs", "ccrm", "ccrb", "cpna", "cpfa", "cbla")
_ALIASES = {"cpna25": "cpna", "cpna75": "cpna", "cpfa50": "cpfa", "cbla50": "cbla"}


@dataclass(frozen=True)
class TestPoint:
    """One cell of a Euro NCAP test grid; enough to rebuild its scenario and to score it."""

    __test__ = False  # not a pytest class

    protocol: str                          # ccrs | ccrm | ccrb | cpna | cpfa | cbla
    test_id: str                           # e.g. "ccrs_50kph_+75", "ccrb_6mps2_12m", "cpna25_40kph"
    vut_kph: float
    target_kph: float = 0.0
    overlap_pct: int | None = None         # car-to-car only; sign convention in the module doc
    headway_m: float | None = None         # CCRb bumper-to-bumper gap
    target_decel_mps2: float | None = None  # CCRb
    impact_pct: float | None = None        # VRU impact position across the VUT front

    @property
    def scenario_name(self) -> str:
        """Schema names are [a-z0-9_]+, so '+75' -> 'p75' and '-50' -> 'm50'."""
        return self.test_id.replace("+", "p").replace("-", "m")

    @property
    def closing_kph(self) -> float:
        """Speed that would be the impact speed without braking (reference for the colour bands)."""
        if self.protocol in ("ccrm", "cbla"):
            return self.vut_kph - self.target_kph
        return self.vut_kph


def _kph_range(lo: int, hi: int, step: int = 5) -> list[int]:
    return list(range(lo, hi + 1, step))


def _overlap_tag(o: int) -> str:
    return "100" if o == 100 else f"{o:+d}"


def canonical_protocol(protocol: str) -> str:
    p = protocol.lower().replace("-", "")
    p = _ALIASES.get(p, p)
    if p not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    return p


def grid(protocol: str) -> list[TestPoint]:
    """All test points of a protocol; 'cpna25'/'cpna75' select one CPNA impact position."""
    raw = protocol.lower().replace("-", "")
    p = canonical_protocol(raw)
    if p == "ccrs":
        return [TestPoint("ccrs", f"ccrs_{v}kph_{_overlap_tag(o)}", float(v), 0.0, o)
                for v in _kph_range(10, 50) for o in OVERLAPS_PCT]
    if p == "ccrm":
        return [TestPoint("ccrm", f"ccrm_{v}kph_{_overlap_tag(o)}", float(v), 20.0, o)
                for v in _kph_range(30, 80) for o in OVERLAPS_PCT]
    if p == "ccrb":
        return [TestPoint("ccrb", f"ccrb_{d:g}mps2_{h:g}m", CCRB_SPEED_KPH, CCRB_SPEED_KPH, 100,
                          headway_m=h, target_decel_mps2=d)
                for d in CCRB_DECELS_MPS2 for h in CCRB_HEADWAYS_M]
    if p == "cpna":
        positions = {"cpna25": (25,), "cpna75": (75,)}.get(raw, (25, 75))
        return [TestPoint("cpna", f"cpna{i}_{v}kph", float(v), 5.0, impact_pct=float(i))
                for i in positions for v in _kph_range(10, 60)]
    if p == "cpfa":
        return [TestPoint("cpfa", f"cpfa50_{v}kph", float(v), 8.0, impact_pct=50.0)
                for v in _kph_range(10, 60)]
    return [TestPoint("cbla", f"cbla50_{v}kph", float(v), 15.0, impact_pct=50.0)
            for v in _kph_range(25, 60)]


def find_point(test_id: str) -> TestPoint:
    """Look a test id up across all grids (ids are unique)."""
    for p in PROTOCOLS:
        for tp in grid(p):
            if tp.test_id == test_id or tp.scenario_name == test_id:
                return tp
    raise KeyError(test_id)


# ----------------------------------------------------------------------------------------------------------
# scenario builders

def overlap_offset_m(overlap_pct: int, vut_width_m: float = EGO_WIDTH_M) -> float:
    """Target-centre lateral offset from the VUT centre (d, + = left) for a signed overlap."""
    frac = abs(overlap_pct) / 100.0
    return math.copysign((1.0 - frac) * vut_width_m, overlap_pct) if frac < 1.0 else 0.0


def impact_d_m(point: TestPoint, vut_width_m: float = EGO_WIDTH_M) -> float:
    """Lateral (d) coordinate, relative to the VUT centreline, of the intended impact point."""
    frac = (point.impact_pct or 50.0) / 100.0
    if point.protocol == "cpfa":          # from the left: measured from the left edge
        return vut_width_m / 2.0 - frac * vut_width_m
    return -vut_width_m / 2.0 + frac * vut_width_m   # nearside / longitudinal: from the right edge


def vru_travel_time_s(distance_m: float, speed_mps: float, accel_mps2: float) -> float:
    """Time to cover a distance from rest, accelerating to speed then holding it."""
    d_acc = speed_mps ** 2 / (2.0 * accel_mps2)
    if distance_m <= d_acc:
        return math.sqrt(2.0 * distance_m / accel_mps2)
    return distance_m / speed_mps + speed_mps / (2.0 * accel_mps2)


def straight_road(length_m: float, lanes: int) -> dict[str, Any]:
    """A straight road of `lanes` 3.5 m lanes, at least `length_m` long (rounded up to 100 m); also used by
    vehicle_sim.suite."""
    return {"lanes": lanes, "lane_width_m": LANE_WIDTH_M,
            "segments": [{"length_m": float(math.ceil(length_m / 100.0) * 100.0), "curvature_1pm": 0.0}],
            "markings": {"edge": "solid", "between": "dashed"}}


def _ego(speed_kph: float, lane: int) -> dict[str, Any]:
    return {"lane": lane, "s_m": EGO_START_S_M, "d_offset_m": 0.0, "heading_offset_deg": 0.0,
            "speed_kph": float(speed_kph),
            "adas": {"acc": False, "lka": False, "aeb": True},
            "driver": {"model": "robot"}}


def _r(x: float) -> float:
    return round(float(x), 4)


def scenario_dict(point: TestPoint) -> dict[str, Any]:
    """Scenario dict (SCHEMA.md) for one test point; the ego is a robot driver with AEB only."""
    p = point.protocol
    v_e = point.vut_kph / 3.6
    v_t = point.target_kph / 3.6
    base: dict[str, Any] = {
        "name": point.scenario_name,
        "description": f"Euro NCAP {p.upper()} {point.test_id} (generated by vehicle_sim.ncap)",
        "tags": ["ncap", p],
        "seed": 0,
        "dt_s": 0.01,
    }
    if p in ("ccrs", "ccrm"):
        lane = 1                                   # middle of 3 lanes: room for either overlap sign
        gap = (v_e - v_t) * T0_TTC_S
        target_s = EGO_START_S_M + gap + (EGO_LENGTH_M + GVT_SIZE["length_m"]) / 2.0
        duration = T0_TTC_S + POST_T0_S
        actor = {"id": "gvt", "type": "car", "size": dict(GVT_SIZE), "lane": lane, "s_m": _r(target_s),
                 "d_offset_m": _r(overlap_offset_m(point.overlap_pct or 100)), "heading_deg": 0.0,
                 "speed_kph": float(point.target_kph),
                 "behavior": {"type": "static" if p == "ccrs" else "lane_follow"}}
        end: dict[str, Any] = {"ego_stopped": True, "collision": True}
        if p == "ccrm":
            end = {"ego_stopped": True, "ego_slower_than": "gvt", "collision": True}
        length = EGO_START_S_M + max(v_e, v_t) * duration + 100.0
        base.update(duration_s=duration, road=straight_road(length, 3), ego=_ego(point.vut_kph, lane),
                    actors=[actor], end=end)
    elif p == "ccrb":
        lane = 1
        headway = float(point.headway_m or 12.0)
        decel = float(point.target_decel_mps2 or 6.0)
        target_s = EGO_START_S_M + headway + (EGO_LENGTH_M + GVT_SIZE["length_m"]) / 2.0
        duration = CCRB_BRAKE_TIME_S + CCRB_RAMP_S + v_t / decel + POST_T0_S
        actor = {"id": "gvt", "type": "car", "size": dict(GVT_SIZE), "lane": lane, "s_m": _r(target_s),
                 "d_offset_m": 0.0, "heading_deg": 0.0, "speed_kph": float(point.target_kph),
                 "behavior": {"type": "lane_follow", "actions": [
                     {"trigger": {"time_s": CCRB_BRAKE_TIME_S},
                      "brake": {"decel_mps2": decel, "ramp_s": CCRB_RAMP_S}}]}}
        # No ego_slower_than: both start at 50 km/h, so numerical jitter could end the run at t = 0.
        length = EGO_START_S_M + v_e * duration + 100.0
        base.update(duration_s=_r(duration), road=straight_road(length, 3), ego=_ego(point.vut_kph, lane),
                    actors=[actor], end={"ego_stopped": True, "collision": True})
    elif p in ("cpna", "cpfa"):
        lane = 0
        nearside = p == "cpna"
        d_start = -PED_NEARSIDE_START_M if nearside else PED_FARSIDE_START_M
        d_imp = impact_d_m(point)
        accel = v_t ** 2 / (2.0 * VRU_ACCEL_DIST_M)
        t_walk = vru_travel_time_s(abs(d_start - d_imp), v_t, accel)
        trigger_s = EGO_START_S_M + v_e * VRU_PRE_RUN_S
        # crossing at +-90 deg the box's width_m lies along s: contact starts at its near face
        ped_s = trigger_s + v_e * t_walk + (EGO_LENGTH_M + PEDESTRIAN_SIZE["width_m"]) / 2.0
        duration = VRU_PRE_RUN_S + t_walk + POST_T0_S
        actor = {"id": "ped", "type": "pedestrian", "size": dict(PEDESTRIAN_SIZE), "lane": lane,
                 "s_m": _r(ped_s), "d_offset_m": _r(d_start), "heading_deg": 90.0 if nearside else -90.0,
                 "speed_kph": 0.0,
                 "behavior": {"type": "straight", "actions": [
                     {"trigger": {"ego_s_m": _r(trigger_s)},
                      "set_speed": {"speed_kph": float(point.target_kph), "accel_mps2": _r(accel)}}]}}
        length = ped_s + 100.0
        base.update(duration_s=_r(duration), road=straight_road(length, 2), ego=_ego(point.vut_kph, lane),
                    actors=[actor], end={"ego_stopped": True, "collision": True})
    elif p == "cbla":
        lane = 0
        gap = (v_e - v_t) * T0_TTC_S
        cyc_s = EGO_START_S_M + gap + (EGO_LENGTH_M + CYCLIST_SIZE["length_m"]) / 2.0
        duration = T0_TTC_S + POST_T0_S
        actor = {"id": "cyclist", "type": "cyclist", "size": dict(CYCLIST_SIZE), "lane": lane,
                 "s_m": _r(cyc_s), "d_offset_m": _r(impact_d_m(point)), "heading_deg": 0.0,
                 "speed_kph": float(point.target_kph), "behavior": {"type": "lane_follow"}}
        length = EGO_START_S_M + v_e * duration + 100.0
        base.update(duration_s=duration, road=straight_road(length, 2), ego=_ego(point.vut_kph, lane),
                    actors=[actor],
                    end={"ego_stopped": True, "ego_slower_than": "cyclist", "collision": True})
    else:  # pragma: no cover - grid() only produces the protocols above
        raise ValueError(p)
    base["success"] = {"no_collision": True}
    return base


# ----------------------------------------------------------------------------------------------------------
# scoring

def colour_band(impact_speed_kph: float, reference_kph: float = BAND_REFERENCE_KPH) -> tuple[str, float]:
    """(colour, factor) for an impact speed; limits scale with the test's closing speed (see module doc)."""
    x = max(0.0, float(impact_speed_kph))
    scale = max(reference_kph, 1e-9) / BAND_REFERENCE_KPH
    for name, upper, factor in BANDS:
        if x < upper * scale:
            return name, factor
    return BANDS[-1][0], BANDS[-1][2]  # pragma: no cover


def measured_speed_kph(point: TestPoint, result: Mapping[str, Any]) -> float:
    """The quantity Euro NCAP grades: relative impact speed for CCRm/CBLA, impact speed otherwise."""
    if not result.get("collision", False):
        return 0.0
    if point.protocol in ("ccrm", "cbla"):
        rel = result.get("relative_impact_speed_kph")
        if rel is not None:
            return float(rel)
    return float(result.get("impact_speed_kph") or 0.0)


def point_colour(point: TestPoint, result: Mapping[str, Any]) -> tuple[str, float]:
    return colour_band(measured_speed_kph(point, result), point.closing_kph)


def speed_points(protocol: str, vut_kph: float) -> float:
    """Points a car-to-car test speed is worth (spec section 3); VRU points count 1 each."""
    p = canonical_protocol(protocol)
    if p == "ccrs":
        return 1.0 if vut_kph <= 10 or vut_kph >= 40 else 2.0
    if p == "ccrm":
        return 2.0 if vut_kph >= 65 else 1.0
    return 1.0


def score(protocol: str, results: Iterable[tuple[TestPoint, Mapping[str, Any]]]) -> dict[str, Any]:
    """Protocol score in [0, 1] (1.0 = every grid point green).

    Car-to-car: per test speed, the overlap average with 100 % counted twice (÷ 6 for a full set), times
    the speed's points; normalised by the full grid's points, so untested speeds count 0 in ``score``
    (``score_tested`` normalises over tested speeds only). VRU: mean colour factor over the grid.
    """
    p = canonical_protocol(protocol)
    full = grid(p)
    by_speed: dict[float, list[tuple[float, float]]] = {}
    n = 0
    for point, res in results:
        if canonical_protocol(point.protocol) != p:
            raise ValueError(f"result for {point.test_id} passed to score({protocol!r})")
        _, factor = point_colour(point, res)
        weight = 2.0 if (p in ("ccrs", "ccrm") and point.overlap_pct == 100) else 1.0
        key = point.vut_kph if p in ("ccrs", "ccrm") else float(n)   # VRU / CCRb: one bucket per test
        by_speed.setdefault(key, []).append((weight, factor))
        n += 1

    per_speed = {k: sum(w * f for w, f in v) / sum(w for w, _ in v) for k, v in by_speed.items()}
    if p in ("ccrs", "ccrm"):
        max_points = sum(speed_points(p, v) for v in sorted({tp.vut_kph for tp in full}))
        got = sum(speed_points(p, v) * avg for v, avg in per_speed.items())
        tested_max = sum(speed_points(p, v) for v in per_speed)
        out_per_speed = {v: round(a, 6) for v, a in sorted(per_speed.items())}
    else:
        max_points = float(len(full))
        got = sum(per_speed.values())
        tested_max = float(len(per_speed))
        out_per_speed = {}
    return {
        "protocol": p,
        "n_tests": n,
        "points": got,
        "max_points": max_points,
        "score": got / max_points if max_points else 0.0,
        "score_tested": got / tested_max if tested_max else 0.0,
        "per_speed": out_per_speed,
    }


def format_table(points: Sequence[TestPoint], results: Sequence[Mapping[str, Any]],
                 score_: Mapping[str, Any] | None = None) -> str:
    """Plain-text table of a protocol run (results aligned with points)."""
    header = ("test", "VUT km/h", "overlap %", "passed", "collision", "impact km/h", "colour")
    rows: list[tuple[str, ...]] = []
    for tp, res in zip(points, results):
        coll = bool(res.get("collision", False))
        colour, _ = point_colour(tp, res)
        overlap = _overlap_tag(tp.overlap_pct) if tp.overlap_pct is not None else (
            f"@{tp.impact_pct:g}" if tp.impact_pct is not None else "-")
        rows.append((tp.test_id, f"{tp.vut_kph:g}", overlap, "yes" if not coll else "no",
                     "yes" if coll else "no", f"{measured_speed_kph(tp, res):.1f}", colour))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [line(header), line(tuple("-" * w for w in widths))] + [line(r) for r in rows]
    if score_:
        out.append(f"{score_.get('protocol', '').upper()} score {score_.get('score', 0.0):.3f} "
                   f"({score_.get('points', 0.0):.2f} / {score_.get('max_points', 0.0):g} points, "
                   f"{score_.get('n_tests', len(rows))} tests)")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------------------
# library of representative YAML files

LIBRARY_IDS: tuple[str, ...] = (
    "ccrs_50kph_100", "ccrs_20kph_+50", "ccrm_50kph_100", "ccrb_6mps2_12m", "ccrb_2mps2_40m",
    "cpna25_40kph", "cpfa50_30kph", "cbla50_40kph",
)

_CHOICES = {
    "ccrs": ["target: stationary car, static behaviour; T0 = TTC 4 s at t = 0 (run starts at T0)",
             "GVT size 4.0 x 1.85 m (VUT width so the overlap strip is exact) -- chosen"],
    "ccrm": ["target: 20 km/h lane_follow; T0 = TTC 4 s on closing speed at t = 0",
             "GVT size 4.0 x 1.85 m -- chosen"],
    "ccrb": [f"GVT brakes at t = {CCRB_BRAKE_TIME_S} s with ramp {CCRB_RAMP_S} s "
             "(spec: decel reached within 1.0 s; brake time and ramp chosen)",
             "no ego_slower_than end: both start at 50 km/h, jitter would end the run at t = 0"],
    "cpna": [f"pedestrian starts {PED_NEARSIDE_START_M} m right of the VUT centreline (UNCERTAIN, chosen)",
             f"reaches 5 km/h over {VRU_ACCEL_DIST_M} m (UNCERTAIN, chosen); triggered at ego_s_m",
             "impact % from the VUT's right (near) side, ped centre at first bumper contact"],
    "cpfa": [f"pedestrian starts {PED_FARSIDE_START_M} m left of the VUT centreline (spec: 6 m out)",
             f"reaches 8 km/h over {VRU_ACCEL_DIST_M} m (UNCERTAIN, chosen); triggered at ego_s_m"],
    "cbla": ["cyclist 15 km/h ahead on the VUT centreline (50 %); start at TTC 4 s (chosen)"],
}


def to_yaml(point: TestPoint) -> str:
    """YAML text for one point, with a header comment naming the protocol point and the choices made."""
    d = scenario_dict(point)
    head = [f"# Euro NCAP {point.protocol.upper()} test point {point.test_id}",
            f"# VUT {point.vut_kph:g} km/h, target {point.target_kph:g} km/h"
            + (f", overlap {_overlap_tag(point.overlap_pct)} %" if point.overlap_pct is not None else "")
            + (f", headway {point.headway_m:g} m, decel {point.target_decel_mps2:g} m/s^2"
               if point.headway_m is not None else "")
            + (f", impact at {point.impact_pct:g} %" if point.impact_pct is not None else ""),
            "# Generated by vehicle_sim.ncap.write_library(); conventions in vehicle_sim/ncap.py docstring.",
            "# Overlap sign: + = target offset to the VUT's left (d > 0), - = to the right."]
    head += [f"# Choice: {c}" for c in _CHOICES[point.protocol]]
    return "\n".join(head) + "\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=None, width=110)


def write_library(directory: str | Path | None = None, ids: Sequence[str] = LIBRARY_IDS) -> list[Path]:
    """Write one representative YAML per protocol point into directory (default scenarios/ncap/)."""
    out = Path(directory) if directory is not None else Path(__file__).parent / "scenarios" / "ncap"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for tid in ids:
        tp = find_point(tid)
        path = out / f"{tp.scenario_name}.yaml"
        path.write_text(to_yaml(tp))
        written.append(path)
    return written
