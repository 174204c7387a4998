"""can_bridge: chassis CAN frames -> /vehicle/state; /safety/command + /adas/hmi -> ADAS CAN frames.

Thin adapter over canbus.car_interface (CarStateParser / CarController). Only the safety envelope's
output reaches the bus: the bridge never subscribes to the planner's raw command.
"""
from __future__ import annotations

from canbus.bus import open_bus
from adas.types import ActuationRequest, HmiState
from canbus.car_interface import CarController, CarStateParser
from edgepilot.ros import Node, get_message
from edgepilot.ros.run_node import main_for

from .common import drain, fill, from_msg, seconds, stamp

VehicleState = get_message("edgepilot_interfaces/msg/VehicleState")
AdasSettings = get_message("edgepilot_interfaces/msg/AdasSettings")
ActuationCommand = get_message("edgepilot_interfaces/msg/ActuationCommand")
AdasHmi = get_message("edgepilot_interfaces/msg/AdasHmi")


class CanBridgeNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("can_bridge", **kwargs)
        can_bus = str(self.declare_parameter("can_bus", "virtual:edgepilot").value)
        rate_hz = float(self.declare_parameter("rate_hz", 100.0).value)
        self.command_timeout_s = float(self.declare_parameter("command_timeout_s", 0.1).value)
        self.bus = open_bus(can_bus)
        self.parser = CarStateParser()
        self.controller = CarController()
        self.command: ActuationRequest | None = None
        self.command_t = -1e9
        self.hmi: HmiState | None = None
        self.state_pub = self.create_publisher(VehicleState, "/vehicle/state", 10)
        self.settings_pub = self.create_publisher(AdasSettings, "/vehicle/adas_settings", 10)
        self.create_subscription(ActuationCommand, "/safety/command", self.on_command, 10)
        self.create_subscription(AdasHmi, "/adas/hmi", self.on_hmi, 10)
        self.create_timer(1.0 / rate_hz, self.on_timer)

    def on_command(self, msg) -> None:
        self.command = from_msg(msg, ActuationRequest)
        self.command_t = seconds(self)

    def on_hmi(self, msg) -> None:
        self.hmi = from_msg(msg, HmiState)

    def on_timer(self) -> None:
        now = seconds(self)
        state = self.parser.update(drain(self.bus), now)
        self.state_pub.publish(stamp(self, fill(VehicleState(), state)))
        self.settings_pub.publish(stamp(self, fill(AdasSettings(), self.parser.switches)))
        fresh = now - self.command_t <= self.command_timeout_s
        for frame in self.controller.update(now, self.command if fresh else None, self.hmi):
            self.bus.send(frame)

    def destroy_node(self) -> None:
        try:
            self.bus.shutdown()
        finally:
            super().destroy_node()


main = main_for(CanBridgeNode)
