"""Safety envelope limits as a flat dataclass, loadable from YAML or a ROS 2 parameters file."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Mapping

from adas.config import _coerce, _load_mapping


@dataclass(frozen=True)
class SafetyLimits:
    # longitudinal
    accel_min_mps2: float = -3.5          # ACC range
    accel_max_mps2: float = 2.0
    aeb_max_decel_mps2: float = 10.0      # only reachable with aeb_active
    jerk_max_mps3: float = 5.0            # ACC jerk
    aeb_jerk_max_mps3: float = 50.0       # AEB builds 10 m/s^2 in 0.2 s
    # lateral
    steer_angle_max_deg: float = 540.0    # absolute steering wheel angle (also capped by CarParams)
    lat_accel_max_mps2: float = 3.0       # speed-dependent angle limit
    lat_jerk_max_mps3: float = 5.0        # speed-dependent rate limit
    steer_rate_min_dps: float = 5.0
    steer_rate_max_dps: float = 720.0     # also capped by CarParams
    limit_speed_floor_mps: float = 1.0    # below: the speed-dependent limits stop growing
    unknown_speed_mps: float = 90.0       # speed assumed when invalid (tightest limits); faster = invalid
    # driver override
    driver_torque_override_nm: float = 1.8
    brake_pedal_override_pct: float = 5.0
    accelerator_override_pct: float = 5.0
    aeb_cancel_accelerator_pct: float = 90.0
    # staleness and fallback
    cmd_timeout_s: float = 0.1
    vehicle_timeout_s: float = 0.1
    stop_decel_mps2: float = 2.0          # controlled stop after stale inputs
    max_dt_s: float = 0.1                 # longest step the rate limits integrate over

    def __post_init__(self) -> None:
        vals = dataclasses.astuple(self)
        if not all(isinstance(v, (int, float)) and v == v and abs(v) != float("inf") for v in vals):
            raise ValueError("SafetyLimits must be finite numbers")
        if not (self.accel_min_mps2 < 0.0 < self.accel_max_mps2 and self.aeb_max_decel_mps2 >= -self.accel_min_mps2):
            raise ValueError("need accel_min < 0 < accel_max and aeb_max_decel >= -accel_min")
        positive = ("jerk_max_mps3", "aeb_jerk_max_mps3", "steer_angle_max_deg", "lat_accel_max_mps2",
                    "lat_jerk_max_mps3", "steer_rate_min_dps", "steer_rate_max_dps", "limit_speed_floor_mps",
                    "unknown_speed_mps", "cmd_timeout_s", "vehicle_timeout_s", "stop_decel_mps2", "max_dt_s")
        if any(getattr(self, k) <= 0.0 for k in positive):
            raise ValueError(f"these limits must be > 0: {positive}")
        if self.stop_decel_mps2 > -self.accel_min_mps2:
            raise ValueError("stop_decel must lie inside the ACC range")

    @classmethod
    def from_yaml(cls, source: str | os.PathLike | Mapping[str, Any] | None) -> "SafetyLimits":
        """Load from a YAML path, YAML string or dict; accepts {node: {ros__parameters: {...}}} and {safety: {...}}."""
        data = _load_mapping(source, section="safety")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown SafetyLimits keys: {unknown}")
        return cls(**{k: _coerce(known[k].type, v, k) for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
