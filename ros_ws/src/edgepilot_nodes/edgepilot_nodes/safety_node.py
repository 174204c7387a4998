"""safety: the envelope between the planner and the CAN bus (panda safety / vehicle_cmd_gate style).

Every /adas/command is bounded by safety.envelope.SafetyEnvelope against the latest /vehicle/state before it
is republished on /safety/command, the only command topic can_bridge puts on CAN. It runs at a fixed rate so a
missing planner is noticed (stale input -> controlled stop).
"""
from __future__ import annotations

from adas.types import ActuationRequest
from edgepilot.carparams import DEFAULT_CAR
from edgepilot.ros import Node, get_message
from edgepilot.ros.run_node import main_for
from safety.config import SafetyLimits
from safety.envelope import SafetyEnvelope, VehicleSnapshot

from .common import declare_config, fill, from_msg, seconds, stamp

VehicleState = get_message("edgepilot_interfaces/msg/VehicleState")
ActuationCommand = get_message("edgepilot_interfaces/msg/ActuationCommand")
SafetyStatusMsg = get_message("edgepilot_interfaces/msg/SafetyStatus")


class SafetyNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("safety", **kwargs)
        rate_hz = float(self.declare_parameter("rate_hz", 100.0).value)
        self.envelope = SafetyEnvelope(declare_config(self, SafetyLimits), DEFAULT_CAR)
        self.command: ActuationRequest | None = None
        self.command_t: float | None = None
        self.vehicle: VehicleSnapshot | None = None
        self.create_subscription(ActuationCommand, "/adas/command", self.on_command, 10)
        self.create_subscription(VehicleState, "/vehicle/state", self.on_state, 10)
        self.cmd_pub = self.create_publisher(ActuationCommand, "/safety/command", 10)
        self.status_pub = self.create_publisher(SafetyStatusMsg, "/safety/status", 10)
        self.create_timer(1.0 / rate_hz, self.on_timer)

    def on_command(self, msg) -> None:
        self.command = from_msg(msg, ActuationRequest)
        self.command_t = seconds(self)

    def on_state(self, msg) -> None:
        self.vehicle = VehicleSnapshot(
            speed_mps=msg.speed_mps, steering_wheel_angle_deg=msg.steering_wheel_angle_deg,
            driver_steering_torque_nm=msg.driver_steering_torque_nm, brake_pressed=msg.brake_pressed,
            brake_pedal_pct=msg.brake_pedal_pct, accelerator_pedal_pct=msg.accelerator_pedal_pct,
            can_valid=msg.can_valid, stamp_s=seconds(self))

    def on_timer(self) -> None:
        if self.vehicle is None:
            return  # nothing to bound against yet; can_bridge sends controls inactive meanwhile
        bounded, status = self.envelope.step(seconds(self), self.command, self.vehicle, self.command_t)
        self.cmd_pub.publish(stamp(self, fill(ActuationCommand(), bounded)))
        self.status_pub.publish(stamp(self, fill(SafetyStatusMsg(), status)))


main = main_for(SafetyNode)
