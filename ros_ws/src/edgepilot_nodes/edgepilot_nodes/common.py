"""Small helpers shared by the node adapters: CAN draining, stamps, dataclass <-> message copies."""
from __future__ import annotations

from dataclasses import fields
from typing import Any

import can

#: Object class name -> edgepilot_interfaces/DetectedObject CLASS_* (ground truth and model detections alike).
CLASS_IDS = {"car": 1, "truck": 2, "pedestrian": 3, "cyclist": 4, "obstacle": 5}


def drain(bus: can.BusABC, limit: int = 10_000) -> list[can.Message]:
    """Every frame waiting on the bus right now (non-blocking)."""
    frames = []
    while len(frames) < limit:
        msg = bus.recv(timeout=0.0)
        if msg is None:
            break
        frames.append(msg)
    return frames


def fill(msg: Any, data: Any) -> Any:
    """Copy the dataclass `data`'s fields onto the same-named message fields; returns msg."""
    for f in fields(data):
        if hasattr(msg, f.name):
            value = getattr(data, f.name)
            setattr(msg, f.name, value)
    return msg


def from_msg(msg: Any, data_type: type) -> Any:
    """Build the dataclass `data_type` from the same-named fields of a message (the reverse of fill)."""
    return data_type(**{f.name: getattr(msg, f.name) for f in fields(data_type) if hasattr(msg, f.name)})


def stamp(node: Any, msg: Any, frame_id: str = "base_link") -> Any:
    """Set header.stamp from the node's clock (sim time under use_sim_time) and header.frame_id."""
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.header.frame_id = frame_id
    return msg


def seconds(node: Any) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


def declare_config(node: Any, config_cls: type) -> Any:
    """Declare one ROS parameter per field of a config dataclass and build the config from their values.

    Autoware style: defaults live in the library's dataclass, overrides come from config/*.yaml.
    """
    values = {}
    for f in fields(config_cls):
        default = getattr(config_cls(), f.name)
        if isinstance(default, (bool, int, float, str)):
            values[f.name] = node.declare_parameter(f.name, default).value
    return config_cls.from_yaml(values)
