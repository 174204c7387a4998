"""adas: classical planning and control (ACC, AEB with FCW, LKA) at a fixed rate.

Thin adapter over adas.planner.AdasPlanner. Inputs: /vehicle/state, /vehicle/adas_settings, and the object
list and lanes on /perception/objects and /perception/lanes (remapped to the simulator's ground truth in
sim_stack.launch.xml). Output: /adas/command (to the safety envelope, never to CAN directly) and /adas/hmi. /safety/status closes
the loop: when the envelope disengages (driver override, stale input) the planner stays off until the
driver re-engages.
"""
from __future__ import annotations

import math

from adas.config import AdasConfig
from adas.planner import AdasPlanner
from adas.types import DriverSettings, EgoState, LaneInfo, LaneLine, ObjectClass, TrackedObject
from edgepilot.carparams import DEFAULT_CAR
from edgepilot.ros import Node, get_message
from edgepilot.ros.run_node import main_for

from .common import declare_config, fill, seconds, stamp

VehicleState = get_message("edgepilot_interfaces/msg/VehicleState")
AdasSettings = get_message("edgepilot_interfaces/msg/AdasSettings")
ObjectArray = get_message("edgepilot_interfaces/msg/ObjectArray")
LaneArray = get_message("edgepilot_interfaces/msg/LaneArray")
ActuationCommand = get_message("edgepilot_interfaces/msg/ActuationCommand")
AdasHmi = get_message("edgepilot_interfaces/msg/AdasHmi")
SafetyStatus = get_message("edgepilot_interfaces/msg/SafetyStatus")


def ego_from_msg(msg) -> EgoState:
    return EgoState(
        speed_mps=msg.speed_mps, accel_long_mps2=msg.accel_long_mps2, yaw_rate_rps=msg.yaw_rate_rps,
        steering_wheel_angle_deg=msg.steering_wheel_angle_deg,
        driver_steering_torque_nm=msg.driver_steering_torque_nm,
        accelerator_pedal_pct=msg.accelerator_pedal_pct, brake_pedal_pct=msg.brake_pedal_pct,
        brake_pressed=msg.brake_pressed)


def objects_from_msg(msg, base_to_centre_m: float) -> list[TrackedObject]:
    """ObjectArray in base_link (rear axle) -> planner objects relative to the ego box centre."""
    out = []
    for o in msg.objects:
        q = o.pose.orientation
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        try:
            cls = ObjectClass(int(o.classification))
        except ValueError:
            cls = ObjectClass(0)
        out.append(TrackedObject(
            id=int(o.id), classification=cls, x_m=o.pose.position.x - base_to_centre_m, y_m=o.pose.position.y,
            vx_mps=o.velocity.x, vy_mps=o.velocity.y, length_m=o.size.x, width_m=o.size.y, yaw_rad=yaw,
            confidence=o.confidence))
    return out


def lanes_from_msg(msg) -> LaneInfo:
    lines = tuple(LaneLine(int(l.lane_index), int(l.type), tuple((p.x, p.y) for p in l.points))
                  for l in msg.lines)
    return LaneInfo(lane_width_m=msg.lane_width_m, lateral_offset_m=msg.lateral_offset_m,
                    heading_error_rad=msg.heading_error_rad, curvature_1pm=msg.curvature_1pm, lines=lines)


class AdasNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("adas", **kwargs)
        rate_hz = float(self.declare_parameter("rate_hz", 50.0).value)
        self.input_timeout_s = float(self.declare_parameter("input_timeout_s", 0.3).value)
        self.declare_parameter("driver", "classical")
        self.planner = AdasPlanner(declare_config(self, AdasConfig), DEFAULT_CAR)
        self.base_to_centre_m = DEFAULT_CAR.wheelbase_m / 2.0
        self.ego: EgoState | None = None
        self.settings = DriverSettings()
        self.objects: list[TrackedObject] = []
        self.objects_t = -1e9
        self.lanes: LaneInfo | None = None
        self.lanes_t = -1e9
        self.create_subscription(VehicleState, "/vehicle/state", self.on_state, 10)
        self.create_subscription(AdasSettings, "/vehicle/adas_settings", self.on_settings, 10)
        self.create_subscription(ObjectArray, "/perception/objects", self.on_objects, 10)
        self.create_subscription(LaneArray, "/perception/lanes", self.on_lanes, 10)
        self.create_subscription(SafetyStatus, "/safety/status", self.on_safety_status, 10)
        self.controls_allowed = False
        self.cmd_pub = self.create_publisher(ActuationCommand, "/adas/command", 10)
        self.hmi_pub = self.create_publisher(AdasHmi, "/adas/hmi", 10)
        self.create_timer(1.0 / rate_hz, self.on_timer)

    def on_state(self, msg) -> None:
        self.ego = ego_from_msg(msg) if msg.can_valid else None

    def on_settings(self, msg) -> None:
        self.settings = DriverSettings(acc_enabled=msg.acc_enabled, set_speed_kph=msg.acc_set_speed_kph,
                                       lka_enabled=msg.lka_enabled, aeb_enabled=msg.aeb_enabled)

    def on_objects(self, msg) -> None:
        self.objects = objects_from_msg(msg, self.base_to_centre_m)
        self.objects_t = seconds(self)

    def on_lanes(self, msg) -> None:
        self.lanes = lanes_from_msg(msg)
        self.lanes_t = seconds(self)

    def on_safety_status(self, msg) -> None:
        if self.controls_allowed and not msg.controls_allowed:
            self.get_logger().info(f"disengaged by the safety envelope: {msg.reason or 'no reason given'}")
            self.planner.notify_disengaged()
        self.controls_allowed = msg.controls_allowed

    def on_timer(self) -> None:
        if self.ego is None:
            return  # no valid vehicle state: publish nothing; the safety envelope brings the car to a stop
        now = seconds(self)
        objects = self.objects if now - self.objects_t <= self.input_timeout_s else []
        lanes = self.lanes if now - self.lanes_t <= self.input_timeout_s else None
        request, hmi = self.planner.update(now, self.ego, objects, lanes, self.settings)
        self.cmd_pub.publish(stamp(self, fill(ActuationCommand(), request)))
        self.hmi_pub.publish(stamp(self, fill(AdasHmi(), hmi)))


main = main_for(AdasNode)
