"""Plain data the ADAS exchanges with the outside world.

No ROS imports: every dataclass maps field-for-field onto an edgepilot_interfaces message so the ROS nodes
stay thin converters (see the mapping notes on each class). Units are SI unless the name says otherwise;
frames follow ISO 8855 (x forward, y left, angles positive counter-clockwise / to the left).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

NO_TTC_S = 999.0
"""Time-to-collision reported when nothing is closing (AdasHmi.lead_ttc_s wants a finite "inf-like" value)."""


class ObjectClass(IntEnum):
    """Same numbers as DetectedObject.CLASS_*."""
    UNKNOWN = 0
    CAR = 1
    TRUCK = 2
    PEDESTRIAN = 3
    CYCLIST = 4
    STATIC = 5


class LkaState(IntEnum):
    """Same numbers as AdasHmi.LKA_*."""
    OFF = 0
    STANDBY = 1
    ACTIVE = 2
    FAULT = 3


@dataclass(frozen=True)
class EgoState:
    """Ego chassis state; a subset of VehicleState (same names, same signs)."""
    speed_mps: float
    accel_long_mps2: float = 0.0
    yaw_rate_rps: float = 0.0
    steering_wheel_angle_deg: float = 0.0
    driver_steering_torque_nm: float = 0.0
    accelerator_pedal_pct: float = 0.0
    brake_pedal_pct: float = 0.0
    brake_pressed: bool = False


@dataclass(frozen=True)
class TrackedObject:
    """One object in the ego frame.

    x_m / y_m: centre of the object's box relative to the centre of the ego's box (NOT the rear axle);
    the ROS node subtracts the base_link -> ego box centre offset if its frame differs.
    vx_mps / vy_mps: velocity over ground (absolute), expressed in the ego frame, so a parked car has
    (0, 0) whatever the ego does. ax_mps2: longitudinal acceleration over ground if the tracker knows it;
    None lets the planner differentiate vx per id.
    Maps to DetectedObject: pose.position.x/y, yaw from pose.orientation, size.x/y, velocity.x/y, acceleration.x
    (when has_acceleration).
    """
    id: int
    classification: ObjectClass
    x_m: float
    y_m: float
    vx_mps: float = 0.0
    vy_mps: float = 0.0
    length_m: float = 4.5
    width_m: float = 1.8
    yaw_rad: float = 0.0
    confidence: float = 1.0
    ax_mps2: float | None = None

    def is_finite(self) -> bool:
        vals = (self.x_m, self.y_m, self.vx_mps, self.vy_mps, self.length_m, self.width_m, self.yaw_rad)
        return all(math.isfinite(v) for v in vals) and (self.ax_mps2 is None or math.isfinite(self.ax_mps2))


@dataclass(frozen=True)
class LaneLine:
    """LaneLine.msg: lane_index 0 = left line of the ego lane, 1 = right line; points (x, y) in the ego frame."""
    lane_index: int
    type: int
    points: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class LaneInfo:
    """LaneArray.msg. A lane width <= 0 (or any non-finite geometry) means "no lane"."""
    lane_width_m: float
    lateral_offset_m: float = 0.0      # + = ego left of the lane centre
    heading_error_rad: float = 0.0     # ego heading minus lane heading, + = pointing left
    curvature_1pm: float = 0.0         # lane centre curvature at the ego, + = turning left
    lines: tuple[LaneLine, ...] = ()

    @property
    def valid(self) -> bool:
        vals = (self.lane_width_m, self.lateral_offset_m, self.heading_error_rad, self.curvature_1pm)
        return all(math.isfinite(v) for v in vals) and 2.0 <= self.lane_width_m <= 6.0 \
            and abs(self.lateral_offset_m) < self.lane_width_m


@dataclass(frozen=True)
class DriverSettings:
    """What the driver chose on the HMI. The planner cancels ACC on a brake press until acc_enabled toggles."""
    acc_enabled: bool = False
    set_speed_kph: float = 0.0
    lka_enabled: bool = False
    aeb_enabled: bool = True


@dataclass(frozen=True)
class ActuationRequest:
    """ActuationCommand.msg, field for field (header stamped by the node)."""
    controls_active: bool = False
    accel_mps2: float = 0.0
    steering_wheel_angle_deg: float = 0.0
    aeb_active: bool = False
    aeb_decel_mps2: float = 0.0        # positive number


@dataclass(frozen=True)
class HmiState:
    """AdasHmi.msg, field for field; lka_state holds the LKA_* number."""
    acc_set_speed_kph: float = 0.0
    acc_active: bool = False
    lead_detected: bool = False
    lead_distance_m: float = 0.0
    lead_ttc_s: float = NO_TTC_S
    fcw: bool = False
    aeb_active: bool = False
    lka_state: LkaState = LkaState.OFF


@dataclass(frozen=True)
class Lead:
    """The object the ACC follows, reduced to what longitudinal control needs."""
    id: int
    gap_m: float                 # bumper to bumper along the path
    speed_mps: float             # longitudinal speed over ground
    accel_mps2: float            # longitudinal acceleration over ground (estimated)
    ttc_s: float = NO_TTC_S      # gap / closing speed, NO_TTC_S if not closing


@dataclass(frozen=True)
class Threat:
    """Result of the collision check for one object, fed to the AEB."""
    id: int
    classification: ObjectClass
    gap_m: float
    closing_speed_mps: float
    ttc_s: float                 # first predicted box overlap, NO_TTC_S if none within the horizon
    required_decel_mps2: float   # constant ego decel that avoids it (lead may brake), 0 if none needed
    in_path: bool = False
    object_accel_mps2: float = 0.0
