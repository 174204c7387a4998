"""The model's non-image inputs, defined once for the dataset writer, the trainer and the perception node.

Why one place: the closed-loop node builds `ego` from CAN/topics and the dataset generator builds it from the
simulator; a field order or unit that differs between the two is a silent train/deploy mismatch.
"""
from __future__ import annotations

import numpy as np

#: `ego` vector fields, in order (units: m/s, m/s^2, rad/s, rad, m/s). The set speed is the driver's ACC set
#: speed (0 when ACC is off): the route/driver intent a planner needs, as the command is for lateral intent.
EGO_FIELDS = ("speed_mps", "accel_mps2", "yaw_rate_radps", "steering_wheel_rad", "set_speed_mps")
EGO_DIM = len(EGO_FIELDS)
#: Typical magnitudes (the network divides by these).
EGO_SCALE = (20.0, 3.0, 0.5, 5.0, 20.0)
#: Route commands, index = `command` input.
COMMANDS = ("lane_follow", "change_left", "change_right")


def ego_vector(speed_mps: float, accel_mps2: float, yaw_rate_radps: float, steering_wheel_rad: float,
               set_speed_mps: float) -> np.ndarray:
    """One frame's `ego` input, float32 [EGO_DIM]."""
    return np.array([speed_mps, accel_mps2, yaw_rate_radps, steering_wheel_rad, set_speed_mps], dtype=np.float32)
