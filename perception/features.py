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


#: `lead` input fields (models with `model.plan_lead`): the nearest tracked object ahead in the ego's path, from the
#: multi-object tracker, i.e. from several frames. Why: one image cannot show whether a lead is slowing, stopped or
#: driving off (perception/MODEL.md, "Closed loop"), and that is what the planner needs to brake early behind a
#: slowing lead and to drive off behind one that leaves. Units: 1 / m (gap to the box's rear) / m / m/s / m/s
#: (velocity over ground, ego axes).
LEAD_FIELDS = ("present", "gap_m", "lateral_m", "vx_mps", "vy_mps")
LEAD_DIM = len(LEAD_FIELDS)
LEAD_SCALE = (1.0, 50.0, 4.0, 30.0, 5.0)
#: What "no lead" reads as: nothing present, the gap beyond the 50 m BEV range.
NO_LEAD_GAP_M = 60.0
#: Half width of the ego's path corridor an object's box must reach into to count as the lead.
LEAD_CORRIDOR_HALF_WIDTH_M = 1.6


def no_lead() -> np.ndarray:
    return np.array([0.0, NO_LEAD_GAP_M, 0.0, 0.0, 0.0], dtype=np.float32)


def lead_vector(boxes: np.ndarray, speed_mps: float, yaw_rate_radps: float,
                half_width_m: float = LEAD_CORRIDOR_HALF_WIDTH_M) -> np.ndarray:
    """The `lead` input from tracked boxes [K, 7] (x, y, length, width, yaw, vx, vy in base_link, as
    `MultiObjectTracker.as_boxes`): the nearest box whose centre lies ahead of the rear axle and whose side reaches
    into the ego's path (an arc of the current yaw rate / speed curvature, `half_width_m` each side).
    float32 [LEAD_DIM]; `no_lead()` when none."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    k = yaw_rate_radps / speed_mps if speed_mps > 1.0 else 0.0
    best = None
    for b in boxes:
        x, y = b[0], b[1]
        if x <= 0.0:
            continue
        if abs(y - 0.5 * k * x * x) > half_width_m + 0.5 * b[3]:
            continue
        if best is None or x - 0.5 * b[2] < best[0] - 0.5 * best[2]:
            best = b
    if best is None:
        return no_lead()
    return np.array([1.0, max(0.0, best[0] - 0.5 * best[2]), best[1], best[5], best[6]], dtype=np.float32)
