"""adas: classical planning and control (ACC, AEB with FCW, LKA) at a fixed rate, or the end-to-end driver's plan.

Thin adapter over adas.planner.AdasPlanner. Inputs: /vehicle/state, /vehicle/adas_settings, and the object
list and lanes on /perception/objects and /perception/lanes (remapped to the simulator's ground truth in
sim_stack.launch.xml). Output: /adas/command (to the safety envelope, never to CAN directly) and /adas/hmi. /safety/status closes
the loop: when the envelope disengages (driver override, stale input) the planner stays off until the
driver re-engages.

`driver:=e2e`: longitudinal and lateral control follow the perception node's plan on /perception/e2e/trajectory
(adas.trajectory_follower.E2EPlanner); with `e2e_fallback_aeb` the AEB keeps watching the independent object
list /perception/objects and brakes when it must; without it, and with `e2e_model_aeb`, the AEB watches the
driving model's own tracks (/perception/e2e/tracks) instead; with neither, only the plan can slow the car.
A stale plan ends in a controlled stop. Either way the command goes through the same safety envelope.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from adas.config import AdasConfig
from adas.planner import AdasPlanner
from adas.trajectory_follower import E2EPlanner, FollowerConfig, TimedPlan
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
PathMsg = get_message("nav_msgs/msg/Path")
DRIVERS = ("classical", "e2e")


def ego_from_msg(msg) -> EgoState:
    return EgoState(
        speed_mps=msg.speed_mps, accel_long_mps2=msg.accel_long_mps2, yaw_rate_rps=msg.yaw_rate_rps,
        steering_wheel_angle_deg=msg.steering_wheel_angle_deg,
        driver_steering_torque_nm=msg.driver_steering_torque_nm,
        accelerator_pedal_pct=msg.accelerator_pedal_pct, brake_pedal_pct=msg.brake_pedal_pct,
        brake_pressed=msg.brake_pressed)


def _longitudinal_accel(o) -> float | None:
    """The object's acceleration along the ego's x axis when the publisher estimates it, else None."""
    return float(o.acceleration.x) if o.has_acceleration else None


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
            confidence=o.confidence, ax_mps2=_longitudinal_accel(o)))
    return out


def plan_from_msg(msg) -> TimedPlan | None:
    """nav_msgs/Path in base_link, header stamp = image time, pose stamps = when the plan reaches each pose."""
    if not msg.poses:
        return None
    t0 = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    pts = [(p.pose.position.x, p.pose.position.y) for p in msg.poses]
    times = [p.header.stamp.sec + p.header.stamp.nanosec * 1e-9 - t0 for p in msg.poses]
    return TimedPlan(points=np.array(pts, dtype=float), times=np.array(times, dtype=float), stamp_s=t0)


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
        self.driver = str(self.declare_parameter("driver", "classical").value)
        if self.driver not in DRIVERS:
            raise ValueError(f"adas: unknown driver {self.driver!r}: choose one of {', '.join(DRIVERS)}")
        fallback = bool(self.declare_parameter("e2e_fallback_aeb", True).value)
        model_aeb = bool(self.declare_parameter("e2e_model_aeb", True).value)
        follower_cfg = declare_config(self, FollowerConfig)
        self.planner = AdasPlanner(declare_config(self, AdasConfig), DEFAULT_CAR)
        self.e2e = E2EPlanner(self.planner, follower_cfg, fallback, DEFAULT_CAR, model_aeb) if self.driver == "e2e" else None
        self.plan: TimedPlan | None = None
        self.plans_received = 0
        self.base_to_centre_m = DEFAULT_CAR.wheelbase_m / 2.0
        self.ego: EgoState | None = None
        self.settings = DriverSettings()
        self.objects: list[TrackedObject] = []
        self.objects_t = -1e9
        self.model_objects: list[TrackedObject] = []
        self.model_objects_t = -1e9
        self.lanes: LaneInfo | None = None
        self.lanes_t = -1e9
        self.create_subscription(VehicleState, "/vehicle/state", self.on_state, 10)
        self.create_subscription(AdasSettings, "/vehicle/adas_settings", self.on_settings, 10)
        self.create_subscription(ObjectArray, "/perception/objects", self.on_objects, 10)
        self.create_subscription(LaneArray, "/perception/lanes", self.on_lanes, 10)
        self.create_subscription(SafetyStatus, "/safety/status", self.on_safety_status, 10)
        if self.e2e is not None:
            self.create_subscription(PathMsg, "/perception/e2e/trajectory", self.on_plan, 10)
            self.create_subscription(ObjectArray, "/perception/e2e/tracks", self.on_model_objects, 10)
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

    def on_model_objects(self, msg) -> None:
        # the tracker's acceleration where it estimates one; from a constant-velocity tracker ax = 0, rather than
        # let the planner differentiate its velocities, whose frame-to-frame noise reads as hard braking of the
        # lead and triggers the AEB
        self.model_objects = [o if o.ax_mps2 is not None else dataclasses.replace(o, ax_mps2=0.0)
                              for o in objects_from_msg(msg, self.base_to_centre_m)]
        self.model_objects_t = seconds(self)

    def on_lanes(self, msg) -> None:
        self.lanes = lanes_from_msg(msg)
        self.lanes_t = seconds(self)

    def on_plan(self, msg) -> None:
        self.plan = plan_from_msg(msg)
        self.plans_received += 1
        if self.plans_received == 1:
            self.get_logger().info(f"e2e: first plan (images of t = {self.plan.stamp_s if self.plan else 0.0:.2f} s) "
                                   f"at t = {seconds(self):.2f} s")

    def on_safety_status(self, msg) -> None:
        if self.controls_allowed and not msg.controls_allowed:
            self.get_logger().info(f"disengaged by the safety envelope: {msg.reason or 'no reason given'}")
            (self.e2e or self.planner).notify_disengaged()
        self.controls_allowed = msg.controls_allowed

    def on_timer(self) -> None:
        if self.ego is None:
            return  # no valid vehicle state: publish nothing; the safety envelope brings the car to a stop
        now = seconds(self)
        objects = self.objects if now - self.objects_t <= self.input_timeout_s else []
        lanes = self.lanes if now - self.lanes_t <= self.input_timeout_s else None
        if self.e2e is not None:
            stale_before = self.e2e.stale_events
            model_objects = self.model_objects if now - self.model_objects_t <= self.input_timeout_s else []
            request, hmi = self.e2e.update(now, self.ego, objects, lanes, self.settings, self.plan, model_objects)
            if self.e2e.stale_events > stale_before:
                age = now - self.plan.stamp_s if self.plan is not None else float("nan")
                self.get_logger().warn(f"e2e plan stale ({age:.2f} s old): controlled stop until re-engaged")
        else:
            request, hmi = self.planner.update(now, self.ego, objects, lanes, self.settings)
        self.cmd_pub.publish(stamp(self, fill(ActuationCommand(), request)))
        self.hmi_pub.publish(stamp(self, fill(AdasHmi(), hmi)))


main = main_for(AdasNode)
