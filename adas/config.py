"""ADAS tuning in one flat dataclass, loadable from YAML or a ROS 2 parameters file.

Flat keys (acc_*, aeb_*, lka_*, path_*) so the same names work as ROS parameters without nesting.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping

import yaml


#: the most LKA may hold the car off its lane centre: a 1.8 m car in a 3.5 m lane still has 0.85 m to each line
LKA_MAX_LANE_OFFSET_M = 1.0


@dataclass(frozen=True)
class AdasConfig:
    dt_s: float = 0.02                       # nominal cycle (50 Hz); only used if t does not advance

    # --- path / lead selection
    path_horizon_s: float = 4.0              # constant-velocity prediction of objects and ego
    path_step_s: float = 0.025
    path_lateral_margin_m: float = 0.3       # added to each side of the ego width for the corridor
    path_min_speed_for_yaw_mps: float = 3.0  # below: ignore yaw-rate curvature when there is no lane
    object_accel_filter_tau_s: float = 0.1   # low-pass of d(vx)/dt when the tracker gives no accel
    object_min_confidence: float = 0.3

    # --- ACC
    acc_time_gap_s: float = 1.8
    acc_standstill_distance_m: float = 4.0
    acc_gap_gain: float = 0.2                # 1/s^2 on the gap error
    acc_speed_gain: float = 0.8              # 1/s on the relative speed
    acc_lead_accel_gain: float = 0.3         # feed-forward of the lead's (negative) acceleration
    acc_cruise_gain: float = 0.4             # 1/s on the set-speed error
    acc_cruise_min_accel_mps2: float = -1.5  # slowing down to a lower set speed
    acc_max_accel_mps2: float = 2.0
    acc_min_accel_mps2: float = -3.5
    acc_jerk_up_mps3: float = 2.5
    acc_jerk_down_mps3: float = 5.0          # equals the safety envelope's ACC jerk limit
    acc_standstill_speed_mps: float = 0.3
    acc_standstill_hold_accel_mps2: float = -1.0
    acc_resume_gap_margin_m: float = 1.0     # stop-and-go: drive off once the gap exceeds standstill + this
    acc_max_set_speed_kph: float = 160.0

    # --- AEB / FCW (staged: warning -> partial -> full braking)
    aeb_min_speed_mps: float = 1.4           # no new activation below (5 km/h)
    aeb_lateral_margin_m: float = 0.15       # added to the ego half width for the collision check
    aeb_latency_s: float = 0.25              # brake build-up (actuator lag) counted into the required decel
    aeb_ttc_min_decel_mps2: float = 2.5      # TTC triggers also need this required decel (no stop-and-go alarms)
    aeb_fcw_ttc_s: float = 2.4
    aeb_fcw_decel_mps2: float = 3.5
    aeb_partial_ttc_s: float = 1.7
    aeb_partial_decel_trigger_mps2: float = 4.0
    aeb_partial_decel_mps2: float = 4.0
    aeb_full_ttc_s: float = 1.2
    aeb_full_decel_trigger_mps2: float = 5.5
    aeb_full_decel_mps2: float = 10.0
    aeb_decel_margin: float = 1.3            # partial stage brakes at max(partial, margin * required)
    aeb_release_ttc_s: float = 3.0           # threat gone: no overlap predicted within this ...
    aeb_release_decel_mps2: float = 1.0      # ... and required decel below this
    aeb_release_time_s: float = 0.3          # ... for this long
    aeb_hold_time_s: float = 1.0             # hold at standstill before releasing
    aeb_standstill_speed_mps: float = 0.1
    aeb_cancel_accelerator_pct: float = 90.0 # kick-down cancels AEB and FCW braking
    aeb_fcw_min_on_s: float = 1.0

    # --- LKA (pure pursuit on the lane centre + curvature feed-forward)
    lka_min_speed_mps: float = 2.78         # 10 km/h
    lka_speed_hysteresis_mps: float = 0.5
    lka_lookahead_time_s: float = 1.0
    lka_lookahead_min_m: float = 8.0
    lka_lookahead_max_m: float = 45.0
    lka_integral_gain: float = 0.0001        # 1/m^2/s on the lateral offset (plant mismatch, bank)
    lka_integral_max_1pm: float = 0.002
    lka_max_curvature_1pm: float = 0.2
    lka_max_rate_dps: float = 300.0          # request slew; the safety envelope limits again per speed
    lka_understeer_comp: bool = False        # add the CarParams understeer gradient (dynamic plants)
    lka_driver_torque_override_nm: float = 1.5
    lka_lane_offset_m: float = 0.0           # where in the lane LKA holds the car: + left of the centre (|x| <= 1)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lka_lane_offset_m) and abs(self.lka_lane_offset_m) <= LKA_MAX_LANE_OFFSET_M):
            raise ValueError(f"lka_lane_offset_m: {self.lka_lane_offset_m!r} is outside "
                             f"[-{LKA_MAX_LANE_OFFSET_M}, {LKA_MAX_LANE_OFFSET_M}] m")

    @classmethod
    def from_yaml(cls, source: str | os.PathLike | Mapping[str, Any] | None) -> "AdasConfig":
        """Load from a YAML path, a YAML string or a dict; accepts {node: {ros__parameters: {...}}} and {adas: {...}}."""
        data = _load_mapping(source)
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown AdasConfig keys: {unknown}")
        kwargs = {k: _coerce(known[k].type, v, k) for k, v in data.items()}
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _load_mapping(source: Any, section: str = "adas") -> dict[str, Any]:
    """Shared by the safety config: YAML path/string/dict -> flat dict of parameters."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        text = str(source)
        if os.path.exists(text):
            with open(text, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        else:
            data = yaml.safe_load(text) or {}
    if not isinstance(data, Mapping):
        raise ValueError("config must be a mapping")
    # Unwrap ROS params files ({node: {ros__parameters: {...}}}) and a named section.
    for _ in range(3):
        if "ros__parameters" in data:
            data = data["ros__parameters"]
        elif section in data and isinstance(data[section], Mapping):
            data = data[section]
        elif len(data) == 1 and isinstance(next(iter(data.values())), Mapping):
            data = next(iter(data.values()))
        else:
            break
    return dict(data)


def _coerce(type_name: Any, value: Any, key: str) -> Any:
    t = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
    if t == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{key}: expected bool, got {value!r}")
        return value
    if t == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}: expected number, got {value!r}")
        return float(value)
    return value
