"""Per-step metrics, the run summary and pass/fail evaluation against a scenario's ``success`` block."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .scenario import SuccessSpec

KPH = 3.6
STOP_SPEED_MPS = 0.1
BRAKE_ONSET_MPS2 = -1.0   # requested accel at/below this (or AEB active) counts as braking


@dataclass
class CollisionInfo:
    time_s: float
    actor_id: str
    ego_speed_kph: float        # absolute ego speed at impact
    relative_speed_kph: float   # closing speed along the contact normal


class MetricsRecorder:
    """Collects one sample per physics step; ``summary()`` reduces them (JSON-friendly values)."""

    def __init__(self, actor_ids: list[str], dt: float) -> None:
        self.dt = dt
        self.actor_ids = list(actor_ids)
        self._cols: dict[str, list] = {k: [] for k in (
            "t", "ego_speed_mps", "ego_accel_mps2", "ego_jerk_mps3", "lead_id", "gap_m", "rel_speed_mps",
            "ttc_s", "lane_offset_m", "lane_departure_m", "min_distance_m", "requested_accel_mps2")}
        self._actor_speeds: dict[str, list[float]] = {a: [] for a in actor_ids}
        self.collision: CollisionInfo | None = None
        self._min_dist = math.inf
        self._brake_onset: float | None = None
        self._stop_time: float | None = None
        self.end_reason: str | None = None

    def record(self, t: float, ego_speed: float, ego_accel: float, lead_id: str | None, gap: float,
               rel_speed: float, ttc: float, lane_offset: float, lane_departure: float, min_distance: float,
               requested_accel: float, braking: bool, actor_speeds: dict[str, float]) -> None:
        """Append one step. ``rel_speed`` > 0 means closing on the lead; ``gap``/``ttc`` NaN/inf if none."""
        c = self._cols
        prev_a = c["ego_accel_mps2"][-1] if c["ego_accel_mps2"] else ego_accel
        for k, v in (("t", t), ("ego_speed_mps", ego_speed), ("ego_accel_mps2", ego_accel),
                     ("ego_jerk_mps3", (ego_accel - prev_a) / self.dt), ("lead_id", lead_id), ("gap_m", gap),
                     ("rel_speed_mps", rel_speed), ("ttc_s", ttc), ("lane_offset_m", lane_offset),
                     ("lane_departure_m", lane_departure), ("min_distance_m", min_distance),
                     ("requested_accel_mps2", requested_accel)):
            c[k].append(v)
        for a in self.actor_ids:
            self._actor_speeds[a].append(actor_speeds.get(a, math.nan))
        self._min_dist = min(self._min_dist, min_distance)
        if braking and self._brake_onset is None:
            self._brake_onset = t
        if self._brake_onset is not None and self._stop_time is None and ego_speed < STOP_SPEED_MPS:
            self._stop_time = t

    def on_collision(self, info: CollisionInfo) -> None:
        if self.collision is None:
            self.collision = info

    def timeseries(self) -> dict[str, Any]:
        """Arrays per channel (``lead_id`` stays a list) plus ``actor_speed_mps``: {actor id: array}."""
        out: dict[str, Any] = {k: (v if k == "lead_id" else np.asarray(v, dtype=float)) for k, v in self._cols.items()}
        out["actor_speed_mps"] = {a: np.asarray(v, dtype=float) for a, v in self._actor_speeds.items()}
        return out

    def summary(self) -> dict[str, Any]:
        c = self._cols
        ttc = np.asarray(c["ttc_s"], dtype=float)
        accel = np.asarray(c["ego_accel_mps2"], dtype=float)
        jerk = np.asarray(c["ego_jerk_mps3"], dtype=float)
        dep = np.asarray(c["lane_departure_m"], dtype=float)
        col = self.collision
        min_ttc = float(ttc.min()) if ttc.size and np.isfinite(ttc.min()) else None
        tts = (self._stop_time - self._brake_onset) if (self._stop_time is not None
                                                        and self._brake_onset is not None) else None
        return {
            "collision": col is not None,
            "collision_time_s": None if col is None else round(col.time_s, 6),
            "collision_actor": None if col is None else col.actor_id,
            "impact_speed_kph": None if col is None else col.ego_speed_kph,
            "impact_relative_speed_kph": None if col is None else col.relative_speed_kph,
            "min_ttc_s": min_ttc,
            "min_distance_m": None if not math.isfinite(self._min_dist) else float(self._min_dist),
            "max_decel_mps2": float(max(0.0, -accel.min())) if accel.size else 0.0,
            "max_jerk_mps3": float(np.abs(jerk).max()) if jerk.size else 0.0,
            "max_lane_departure_m": float(dep.max()) if dep.size else 0.0,
            "time_to_stop_s": None if tts is None else float(tts),
            "brake_onset_s": self._brake_onset,
            "final_speed_kph": float(c["ego_speed_mps"][-1] * KPH) if c["ego_speed_mps"] else None,
            "sim_time_s": float(c["t"][-1]) if c["t"] else 0.0,
            "end_reason": self.end_reason,
        }


def evaluate(success: SuccessSpec | dict | None, summary: dict[str, Any]) -> tuple[bool, list[str]]:
    """Check the summary against the success criteria; returns (passed, reasons for each failure)."""
    if success is None:
        success = SuccessSpec()
    if isinstance(success, dict):
        success = SuccessSpec(**success)
    reasons: list[str] = []
    if success.no_collision and summary.get("collision"):
        reasons.append(f"collision with {summary.get('collision_actor')} at t={summary.get('collision_time_s')} s, "
                       f"impact {summary.get('impact_speed_kph', 0.0):.1f} km/h")
    if success.max_lane_departure_m is not None and summary["max_lane_departure_m"] >= success.max_lane_departure_m:
        reasons.append(f"lane departure {summary['max_lane_departure_m']:.3f} m >= {success.max_lane_departure_m} m")
    md = summary.get("min_distance_m")
    if success.min_distance_m is not None and md is not None and md <= success.min_distance_m:
        reasons.append(f"min distance {md:.2f} m <= {success.min_distance_m} m")
    if success.max_decel_mps2 is not None and summary["max_decel_mps2"] > success.max_decel_mps2:
        reasons.append(f"max decel {summary['max_decel_mps2']:.2f} m/s^2 > {success.max_decel_mps2} m/s^2")
    fs = summary.get("final_speed_kph")
    if success.min_final_speed_kph is not None and (fs is None or fs < success.min_final_speed_kph):
        reasons.append(f"final speed {fs if fs is None else round(fs, 1)} km/h < {success.min_final_speed_kph} km/h")
    return not reasons, reasons
