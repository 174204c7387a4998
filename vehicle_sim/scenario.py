"""Scenario files (see scenarios/SCHEMA.md): strict loading into dataclasses.

Strict on purpose: a typo in a key silently falling back to a default would make a test pass for the
wrong reason, so every problem raises :class:`ScenarioError` naming the file, the field path
(``actors[1].behavior.actions[0].trigger``) and what is wrong.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .road import Segment

NAME_RE = re.compile(r"^[a-z0-9_]+$")
MARKINGS = ("solid", "dashed", "none")
ACTOR_TYPES = ("car", "truck", "pedestrian", "cyclist", "obstacle")
BEHAVIORS = ("lane_follow", "idm", "straight", "static")
TRIGGERS = ("time_s", "ego_s_m", "gap_m", "ttc_s")
ACTIONS = ("brake", "set_speed", "lane_change")

#: Default box sizes (length, width, height) per actor type.
DEFAULT_SIZES: dict[str, tuple[float, float, float]] = {
    "car": (4.5, 1.8, 1.5),
    "truck": (12.0, 2.55, 3.6),
    "pedestrian": (0.5, 0.6, 1.8),
    "cyclist": (1.8, 0.6, 1.8),
    "obstacle": (1.0, 1.0, 1.0),
}
DEFAULT_BEHAVIOR = {"car": "lane_follow", "truck": "lane_follow", "pedestrian": "straight",
                    "cyclist": "straight", "obstacle": "static"}


class ScenarioError(ValueError):
    """Malformed scenario; the message names the source, the field path and the problem."""


# ----------------------------------------------------------------------------- dataclasses
@dataclass
class RoadSpec:
    lanes: int = 1
    lane_width_m: float = 3.5
    segments: list[Segment] = field(default_factory=lambda: [Segment(1000.0, 0.0)])
    edge_marking: str = "solid"
    between_marking: str = "dashed"

    @property
    def length_m(self) -> float:
        return sum(sg.length_m for sg in self.segments)


@dataclass
class AdasSpec:
    acc: bool = False
    acc_set_speed_kph: float | None = None
    lka: bool = False
    aeb: bool = True


@dataclass
class TriggerSpec:
    kind: str     # one of TRIGGERS
    value: float


@dataclass
class DriverEventSpec:
    trigger: TriggerSpec
    duration_s: float
    steering_torque_nm: float = 0.0
    brake_pct: float = 0.0
    accelerator_pct: float = 0.0


@dataclass
class DriverSpec:
    model: str = "robot"
    events: list[DriverEventSpec] = field(default_factory=list)


@dataclass
class EgoSpec:
    speed_kph: float
    lane: int = 0
    s_m: float = 0.0
    d_offset_m: float = 0.0
    heading_offset_deg: float = 0.0
    adas: AdasSpec = field(default_factory=AdasSpec)
    driver: DriverSpec = field(default_factory=DriverSpec)


@dataclass
class SizeSpec:
    length_m: float
    width_m: float
    height_m: float


@dataclass
class IdmSpec:
    desired_speed_kph: float
    time_headway_s: float = 1.5
    min_gap_m: float = 2.0
    max_accel_mps2: float = 1.5
    comfort_decel_mps2: float = 2.0


@dataclass
class BrakeAction:
    decel_mps2: float
    ramp_s: float = 0.0


@dataclass
class SetSpeedAction:
    speed_kph: float
    accel_mps2: float = 2.0


@dataclass
class LaneChangeAction:
    to_lane: int
    duration_s: float = 3.0


@dataclass
class ActionSpec:
    trigger: TriggerSpec
    action: BrakeAction | SetSpeedAction | LaneChangeAction

    @property
    def kind(self) -> str:
        return {BrakeAction: "brake", SetSpeedAction: "set_speed", LaneChangeAction: "lane_change"}[type(self.action)]


@dataclass
class BehaviorSpec:
    type: str
    idm: IdmSpec | None = None
    actions: list[ActionSpec] = field(default_factory=list)


@dataclass
class ActorSpec:
    id: str
    type: str
    s_m: float
    size: SizeSpec
    behavior: BehaviorSpec
    color: tuple[int, int, int] | None = None
    lane: int = 0
    d_offset_m: float = 0.0
    heading_deg: float = 0.0
    speed_kph: float = 0.0


@dataclass
class EndSpec:
    ego_stopped: bool = False
    ego_slower_than: str | None = None
    collision: bool = True


@dataclass
class SuccessSpec:
    no_collision: bool = True
    max_lane_departure_m: float | None = None
    min_distance_m: float | None = None
    max_decel_mps2: float | None = None
    min_final_speed_kph: float | None = None


@dataclass
class Scenario:
    name: str
    duration_s: float
    ego: EgoSpec
    description: str = ""
    tags: list[str] = field(default_factory=list)
    seed: int | None = None
    dt_s: float = 0.01
    road: RoadSpec = field(default_factory=RoadSpec)
    actors: list[ActorSpec] = field(default_factory=list)
    end: EndSpec = field(default_factory=EndSpec)
    success: SuccessSpec = field(default_factory=SuccessSpec)
    source: str = "<dict>"


# ----------------------------------------------------------------------------- validation helpers
class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> None:
        raise ScenarioError(f"{self.source}: {path or '<root>'}: {problem}")

    def mapping(self, obj: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(obj, dict):
            self.fail(path, f"expected a mapping, got {_tn(obj)}")
        for k in obj:
            if not isinstance(k, str) or k not in allowed:
                self.fail(_join(path, str(k)), f"unknown key (allowed: {', '.join(allowed)})")
        for k in required:
            if k not in obj:
                self.fail(_join(path, k), "missing required field")
        return obj

    def num(self, obj: dict, path: str, key: str, default: Any = None, *, lo: float | None = None,
            hi: float | None = None, lo_open: bool = False, nullable: bool = False, integer: bool = False):
        p = _join(path, key)
        if key not in obj:
            return default
        v = obj[key]
        if v is None and nullable:
            return None
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok:
            self.fail(p, f"expected {'an integer' if integer else 'a number'}{' or null' if nullable else ''}, "
                         f"got {_tn(v)} {v!r}")
        if not math.isfinite(v):
            self.fail(p, f"must be finite, got {v!r}")
        if lo is not None and (v <= lo if lo_open else v < lo):
            self.fail(p, f"out of range: {v!r} must be {'>' if lo_open else '>='} {lo}")
        if hi is not None and v > hi:
            self.fail(p, f"out of range: {v!r} must be <= {hi}")
        return int(v) if integer else float(v)

    def boolean(self, obj: dict, path: str, key: str, default: bool) -> bool:
        if key not in obj:
            return default
        v = obj[key]
        if not isinstance(v, bool):
            self.fail(_join(path, key), f"expected true/false, got {_tn(v)} {v!r}")
        return v

    def string(self, obj: dict, path: str, key: str, default: Any = None, *, choices: tuple[str, ...] | None = None,
               pattern: re.Pattern | None = None, nullable: bool = False):
        p = _join(path, key)
        if key not in obj:
            return default
        v = obj[key]
        if v is None and nullable:
            return None
        if not isinstance(v, str):
            self.fail(p, f"expected a string, got {_tn(v)} {v!r}")
        if choices is not None and v not in choices:
            self.fail(p, f"invalid value {v!r} (expected one of: {', '.join(choices)})")
        if pattern is not None and not pattern.match(v):
            self.fail(p, f"invalid value {v!r} (must match {pattern.pattern})")
        return v

    def seq(self, obj: dict, path: str, key: str) -> list:
        v = obj.get(key, None)
        if v is None:
            return []
        if not isinstance(v, list):
            self.fail(_join(path, key), f"expected a list, got {_tn(v)}")
        return v


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _tn(v: Any) -> str:
    return "null" if v is None else type(v).__name__


# ----------------------------------------------------------------------------- parsing
def _trigger(c: _Ctx, obj: Any, path: str, allowed: tuple[str, ...]) -> TriggerSpec:
    c.mapping(obj, path, allowed)
    if len(obj) != 1:
        c.fail(path, f"expected exactly one trigger key of: {', '.join(allowed)} (got {len(obj)})")
    kind = next(iter(obj))
    lo = None if kind == "ego_s_m" else 0.0
    return TriggerSpec(kind, c.num(obj, path, kind, lo=lo))


def _road(c: _Ctx, obj: Any) -> RoadSpec:
    if obj is None:
        return RoadSpec()
    c.mapping(obj, "road", ("lanes", "lane_width_m", "segments", "markings"))
    lanes = c.num(obj, "road", "lanes", 1, lo=1, hi=6, integer=True)
    width = c.num(obj, "road", "lane_width_m", 3.5, lo=2.0, hi=6.0)
    segs = []
    raw = c.seq(obj, "road", "segments")
    if "segments" in obj and not raw:
        c.fail("road.segments", "must contain at least one segment")
    for i, sg in enumerate(raw):
        p = f"road.segments[{i}]"
        c.mapping(sg, p, ("length_m", "curvature_1pm"), ("length_m",))
        length = c.num(sg, p, "length_m", lo=0.0, lo_open=True, hi=100000.0)
        # The outermost lane edge must stay outside the turn centre (|k| * d < 1).
        kmax = 0.9 / ((lanes + 0.5) * width + 1.0)
        k = c.num(sg, p, "curvature_1pm", 0.0, lo=-kmax, hi=kmax)
        segs.append(Segment(length, k))
    edge, between = "solid", "dashed"
    if "markings" in obj:
        m = c.mapping(obj["markings"], "road.markings", ("edge", "between"))
        edge = c.string(m, "road.markings", "edge", "solid", choices=MARKINGS)
        between = c.string(m, "road.markings", "between", "dashed", choices=MARKINGS)
    return RoadSpec(lanes, width, segs or [Segment(1000.0, 0.0)], edge, between)


def _ego(c: _Ctx, obj: Any, road: RoadSpec) -> EgoSpec:
    p = "ego"
    c.mapping(obj, p, ("lane", "s_m", "d_offset_m", "heading_offset_deg", "speed_kph", "adas", "driver"),
              ("speed_kph",))
    lane = c.num(obj, p, "lane", 0, lo=0, hi=road.lanes - 1, integer=True)
    s = c.num(obj, p, "s_m", 0.0, lo=0.0, hi=road.length_m)
    d_off = c.num(obj, p, "d_offset_m", 0.0, lo=-road.lane_width_m * 2, hi=road.lane_width_m * 2)
    hd = c.num(obj, p, "heading_offset_deg", 0.0, lo=-90.0, hi=90.0)
    speed = c.num(obj, p, "speed_kph", lo=0.0, hi=250.0)
    adas = AdasSpec()
    if obj.get("adas") is not None:
        pa = "ego.adas"
        a = c.mapping(obj["adas"], pa, ("acc", "acc_set_speed_kph", "lka", "aeb"))
        adas = AdasSpec(c.boolean(a, pa, "acc", False),
                        c.num(a, pa, "acc_set_speed_kph", None, lo=0.0, hi=250.0, nullable=True),
                        c.boolean(a, pa, "lka", False), c.boolean(a, pa, "aeb", True))
    driver = DriverSpec()
    if obj.get("driver") is not None:
        pd = "ego.driver"
        dobj = c.mapping(obj["driver"], pd, ("model", "events"))
        model = c.string(dobj, pd, "model", "robot", choices=("robot", "idle"))
        events = []
        for i, ev in enumerate(c.seq(dobj, pd, "events")):
            pe = f"{pd}.events[{i}]"
            c.mapping(ev, pe, ("trigger", "steering_torque_nm", "brake_pct", "accelerator_pct", "duration_s"),
                      ("trigger", "duration_s"))
            events.append(DriverEventSpec(
                trigger=_trigger(c, ev["trigger"], pe + ".trigger", ("time_s", "ego_s_m")),
                duration_s=c.num(ev, pe, "duration_s", lo=0.0, lo_open=True),
                steering_torque_nm=c.num(ev, pe, "steering_torque_nm", 0.0, lo=-20.0, hi=20.0),
                brake_pct=c.num(ev, pe, "brake_pct", 0.0, lo=0.0, hi=100.0),
                accelerator_pct=c.num(ev, pe, "accelerator_pct", 0.0, lo=0.0, hi=100.0)))
        driver = DriverSpec(model, events)
    return EgoSpec(speed, lane, s, d_off, hd, adas, driver)


def _actor(c: _Ctx, obj: Any, p: str, road: RoadSpec) -> ActorSpec:
    c.mapping(obj, p, ("id", "type", "size", "color", "lane", "s_m", "d_offset_m", "heading_deg", "speed_kph",
                       "behavior"), ("id", "type", "s_m"))
    aid = c.string(obj, p, "id", pattern=NAME_RE)
    atype = c.string(obj, p, "type", choices=ACTOR_TYPES)
    dl, dw, dh = DEFAULT_SIZES[atype]
    size = SizeSpec(dl, dw, dh)
    if obj.get("size") is not None:
        ps = p + ".size"
        so = c.mapping(obj["size"], ps, ("length_m", "width_m", "height_m"))
        size = SizeSpec(c.num(so, ps, "length_m", dl, lo=0.0, lo_open=True, hi=30.0),
                        c.num(so, ps, "width_m", dw, lo=0.0, lo_open=True, hi=5.0),
                        c.num(so, ps, "height_m", dh, lo=0.0, lo_open=True, hi=6.0))
    color = None
    if obj.get("color") is not None:
        col = obj["color"]
        if (not isinstance(col, list) or len(col) != 3
                or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255 for v in col)):
            c.fail(p + ".color", f"expected [r, g, b] with integers 0..255, got {col!r}")
        color = (col[0], col[1], col[2])
    lane = c.num(obj, p, "lane", 0, lo=0, hi=road.lanes - 1, integer=True)
    s = c.num(obj, p, "s_m", lo=-1000.0, hi=road.length_m + 1000.0)
    d_off = c.num(obj, p, "d_offset_m", 0.0, lo=-50.0, hi=50.0)
    heading = c.num(obj, p, "heading_deg", 0.0, lo=-180.0, hi=180.0)
    speed = c.num(obj, p, "speed_kph", 0.0, lo=0.0, hi=250.0)
    pb = p + ".behavior"
    bobj = obj.get("behavior")
    if bobj is None:
        behavior = BehaviorSpec(DEFAULT_BEHAVIOR[atype])
    else:
        c.mapping(bobj, pb, ("type", "idm", "actions"))
        btype = c.string(bobj, pb, "type", DEFAULT_BEHAVIOR[atype], choices=BEHAVIORS)
        idm = None
        if "idm" in bobj:
            if btype != "idm":
                c.fail(pb + ".idm", f"only allowed with behavior type idm (type is {btype})")
            pi = pb + ".idm"
            io = c.mapping(bobj["idm"], pi, ("desired_speed_kph", "time_headway_s", "min_gap_m", "max_accel_mps2",
                                             "comfort_decel_mps2"))
            idm = IdmSpec(c.num(io, pi, "desired_speed_kph", speed, lo=0.0, lo_open=True, hi=250.0),
                          c.num(io, pi, "time_headway_s", 1.5, lo=0.0, hi=10.0),
                          c.num(io, pi, "min_gap_m", 2.0, lo=0.0, hi=50.0),
                          c.num(io, pi, "max_accel_mps2", 1.5, lo=0.0, lo_open=True, hi=10.0),
                          c.num(io, pi, "comfort_decel_mps2", 2.0, lo=0.0, lo_open=True, hi=10.0))
        elif btype == "idm":
            if speed <= 0:
                c.fail(pb + ".idm", "missing (needed for desired_speed_kph when speed_kph is 0)")
            idm = IdmSpec(speed)
        if idm is not None and idm.desired_speed_kph <= 0:
            c.fail(pb + ".idm.desired_speed_kph", "missing (the actor's speed_kph is 0, so there is no default)")
        if btype == "static" and speed > 0:
            c.fail(p + ".speed_kph", f"a static actor must have speed 0, got {speed}")
        actions = []
        for i, ao in enumerate(c.seq(bobj, pb, "actions")):
            pa = f"{pb}.actions[{i}]"
            if btype == "static":
                c.fail(pa, "static actors cannot have actions")
            c.mapping(ao, pa, ("trigger",) + ACTIONS, ("trigger",))
            trig = _trigger(c, ao["trigger"], pa + ".trigger", TRIGGERS)
            keys = [k for k in ACTIONS if k in ao]
            if len(keys) != 1:
                c.fail(pa, f"expected exactly one action key of: {', '.join(ACTIONS)} (got {len(keys)})")
            k = keys[0]
            pk = f"{pa}.{k}"
            if k == "brake":
                bo = c.mapping(ao[k], pk, ("decel_mps2", "ramp_s"), ("decel_mps2",))
                act: Any = BrakeAction(c.num(bo, pk, "decel_mps2", lo=0.0, lo_open=True, hi=15.0),
                                       c.num(bo, pk, "ramp_s", 0.0, lo=0.0, hi=10.0))
            elif k == "set_speed":
                so = c.mapping(ao[k], pk, ("speed_kph", "accel_mps2"), ("speed_kph",))
                act = SetSpeedAction(c.num(so, pk, "speed_kph", lo=0.0, hi=250.0),
                                     c.num(so, pk, "accel_mps2", 2.0, lo=0.0, lo_open=True, hi=15.0))
            else:
                if btype not in ("lane_follow", "idm"):
                    c.fail(pk, f"lane_change needs behavior lane_follow or idm (type is {btype})")
                lo = c.mapping(ao[k], pk, ("to_lane", "duration_s"), ("to_lane",))
                act = LaneChangeAction(c.num(lo, pk, "to_lane", lo=0, hi=road.lanes - 1, integer=True),
                                       c.num(lo, pk, "duration_s", 3.0, lo=0.0, lo_open=True, hi=30.0))
            actions.append(ActionSpec(trig, act))
        behavior = BehaviorSpec(btype, idm, actions)
    return ActorSpec(aid, atype, s, size, behavior, color, lane, d_off, heading, speed)


def parse_scenario(data: Any, source: str = "<dict>") -> Scenario:
    """Validate a decoded YAML document and build the :class:`Scenario`."""
    c = _Ctx(source)
    c.mapping(data, "", ("name", "description", "tags", "seed", "duration_s", "dt_s", "road", "ego", "actors",
                         "end", "success"), ("name", "duration_s", "ego"))
    name = c.string(data, "", "name", pattern=NAME_RE)
    desc = c.string(data, "", "description", "")
    if desc is None:
        desc = ""
    tags = c.seq(data, "", "tags")
    for i, tg in enumerate(tags):
        if not isinstance(tg, str):
            c.fail(f"tags[{i}]", f"expected a string, got {_tn(tg)} {tg!r}")
    seed = c.num(data, "", "seed", None, lo=0, integer=True, nullable=True)
    duration = c.num(data, "", "duration_s", lo=0.0, lo_open=True, hi=3600.0)
    dt = c.num(data, "", "dt_s", 0.01, lo=0.0, lo_open=True, hi=0.1)
    road = _road(c, data.get("road"))
    ego = _ego(c, data["ego"], road)
    actors = []
    seen: dict[str, int] = {}
    for i, ao in enumerate(c.seq(data, "", "actors")):
        a = _actor(c, ao, f"actors[{i}]", road)
        if a.id in seen:
            c.fail(f"actors[{i}].id", f"duplicate actor id {a.id!r} (also actors[{seen[a.id]}])")
        seen[a.id] = i
        actors.append(a)
    end = EndSpec()
    if data.get("end") is not None:
        eo = c.mapping(data["end"], "end", ("ego_stopped", "ego_slower_than", "collision"))
        slower = c.string(eo, "end", "ego_slower_than", None, nullable=True)
        if slower is not None and slower not in seen:
            c.fail("end.ego_slower_than", f"unknown actor {slower!r} (actors: {', '.join(seen) or 'none'})")
        end = EndSpec(c.boolean(eo, "end", "ego_stopped", False), slower, c.boolean(eo, "end", "collision", True))
    success = SuccessSpec()
    if data.get("success") is not None:
        so = c.mapping(data["success"], "success", ("no_collision", "max_lane_departure_m", "min_distance_m",
                                                    "max_decel_mps2", "min_final_speed_kph"))
        success = SuccessSpec(
            c.boolean(so, "success", "no_collision", True),
            c.num(so, "success", "max_lane_departure_m", None, lo=0.0, nullable=True),
            c.num(so, "success", "min_distance_m", None, lo=0.0, nullable=True),
            c.num(so, "success", "max_decel_mps2", None, lo=0.0, nullable=True),
            c.num(so, "success", "min_final_speed_kph", None, lo=0.0, nullable=True))
    return Scenario(name, duration, ego, desc, list(tags), seed, dt, road, actors, end, success, source)


def load_scenario(path_or_dict: str | Path | dict, name_hint: str | None = None) -> Scenario:
    """Load a scenario from a YAML file, a library name, or an already-decoded dict.

    ``name_hint`` labels a dict's errors (it has no file path); for paths it is ignored.
    """
    if isinstance(path_or_dict, dict):
        return parse_scenario(path_or_dict, source=name_hint or "<dict>")
    path = resolve_scenario(path_or_dict)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: <root>: invalid YAML: {exc}") from exc
    return parse_scenario(data, source=str(path))


def scenario_library_dir() -> Path:
    return Path(__file__).resolve().parent / "scenarios"


def list_scenarios() -> list[str]:
    """Names (file stems) of every library scenario, recursively, sorted."""
    return sorted(p.stem for p in scenario_library_dir().rglob("*.yaml"))


def resolve_scenario(name_or_path: str | Path) -> Path:
    """An existing path as is; otherwise a library scenario by name (``ccrs_50kph_100`` or ``ncap/x``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    lib = scenario_library_dir()
    stem = p.name[:-5] if p.name.endswith(".yaml") else p.name
    direct = lib / p.parent / f"{stem}.yaml"
    if direct.is_file():
        return direct
    matches = sorted(lib.rglob(f"{stem}.yaml"))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ScenarioError(f"{name_or_path}: ambiguous scenario name, matches: {', '.join(map(str, matches))}")
    raise ScenarioError(f"{name_or_path}: no such file or library scenario (see list_scenarios())")
