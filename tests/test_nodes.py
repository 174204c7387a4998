"""The node adapters: parameters from config/*.yaml are all real, and the graph is wired as documented."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgepilot.ros.lockstep import LockstepExecutor
from edgepilot_nodes.adas_node import AdasNode
from edgepilot_nodes.can_bridge_node import CanBridgeNode
from edgepilot_nodes.safety_node import SafetyNode
from edgepilot_nodes.sim_node import SimNode

CONFIG = Path(__file__).resolve().parents[1] / "ros_ws" / "src" / "edgepilot_nodes" / "config"
NODES = {"sim": SimNode, "can_bridge": CanBridgeNode, "adas": AdasNode, "safety": SafetyNode}


@pytest.mark.parametrize("name", sorted(NODES))
def test_every_config_key_is_a_declared_parameter(name):
    """A typo in a params file would otherwise be ignored silently (ROS ignores undeclared overrides)."""
    ex = LockstepExecutor()
    cfg = CONFIG / f"{name}.yaml"
    node = NODES[name](context=ex.context, cli_args=["--ros-args", "--params-file", str(cfg), "-p",
                                                     "can_bus:=virtual:test-params"])
    try:
        keys = yaml.safe_load(cfg.read_text())[name]["ros__parameters"]
        for key, value in keys.items():
            assert node.has_parameter(key), f"{cfg.name}: {key} is not a parameter of node {name}"
            assert node.get_parameter(key).value == value
    finally:
        node.destroy_node()
        ex.context.shutdown()


def test_adas_config_override_reaches_the_planner():
    ex = LockstepExecutor()
    node = AdasNode(context=ex.context, cli_args=["--ros-args", "-p", "acc_time_gap_s:=2.5"])
    try:
        assert node.planner.cfg.acc_time_gap_s == 2.5
    finally:
        node.destroy_node()
        ex.context.shutdown()


def test_bad_safety_limit_is_rejected_at_start_up():
    ex = LockstepExecutor()
    try:
        with pytest.raises(ValueError, match="accel"):
            SafetyNode(context=ex.context, cli_args=["--ros-args", "-p", "accel_max_mps2:=-5.0"])
    finally:
        ex.context.shutdown()


def test_graph_topics_in_lockstep():
    """Publishers and subscriptions match the README's topic table."""
    ex = LockstepExecutor()
    bus = "can_bus:=virtual:test-graph"
    nodes = [SimNode(context=ex.context, cli_args=["--ros-args", "-p", bus, "-p", "scenario:=cut_in"]),
             CanBridgeNode(context=ex.context, cli_args=["--ros-args", "-p", bus]),
             AdasNode(context=ex.context, cli_args=["--ros-args", "-r", "/perception/objects:=/sim/ground_truth/objects",
                                                    "-r", "/perception/lanes:=/sim/ground_truth/lanes"]),
             SafetyNode(context=ex.context)]
    try:
        pubs = {n.get_name(): sorted(p.topic for p in n.publishers) for n in nodes}
        subs = {n.get_name(): sorted(s.topic for s in n.subscriptions) for n in nodes}
        assert pubs["sim"] == ["/clock", "/sim/ground_truth/lanes", "/sim/ground_truth/objects", "/sim/status"]
        assert pubs["can_bridge"] == ["/vehicle/adas_settings", "/vehicle/state"]
        assert subs["can_bridge"] == ["/adas/hmi", "/safety/command"]   # never the planner's raw command
        assert subs["adas"] == ["/safety/status", "/sim/ground_truth/lanes", "/sim/ground_truth/objects",
                                "/vehicle/adas_settings", "/vehicle/state"]
        assert pubs["adas"] == ["/adas/command", "/adas/hmi"]
        assert subs["safety"] == ["/adas/command", "/vehicle/state"]
        assert pubs["safety"] == ["/safety/command", "/safety/status"]
        ex.spin_until(2_000_000_000)
        assert nodes[0].sim.t == pytest.approx(2.0)
        assert nodes[2].ego is not None          # vehicle state crossed CAN and the bridge
    finally:
        for n in nodes:
            n.destroy_node()
        ex.context.shutdown()


def test_sim_publishes_camera_images_and_info():
    from edgepilot.ros import Node, get_message, qos_profile_sensor_data

    Image = get_message("sensor_msgs/msg/Image")
    CameraInfo = get_message("sensor_msgs/msg/CameraInfo")
    ex = LockstepExecutor()
    sim = SimNode(context=ex.context, cli_args=["--ros-args", "-p", "can_bus:=virtual:test-cams", "-p",
                                                "cameras:=true", "-p", "scenario:=cut_in"])
    listener = Node("listener", context=ex.context)
    images, infos = [], []
    listener.create_subscription(Image, "/sensing/camera/front/image_raw", images.append, qos_profile_sensor_data)
    listener.create_subscription(CameraInfo, "/sensing/camera/front/camera_info", infos.append,
                                 qos_profile_sensor_data)
    try:
        ex.spin_until(250_000_000)
        assert len(images) == 3 and len(infos) == 3           # 10 Hz: t = 0.01, 0.11, 0.21 s
        img = images[-1]
        assert (img.width, img.height, img.encoding, img.step) == (256, 128, "rgb8", 256 * 3)
        pixels = img.data.reshape(128, 256, 3)
        assert pixels[:10].mean(axis=(0, 1))[2] > pixels[-10:].mean(axis=(0, 1))[2]   # blue sky above the road
        assert infos[-1].k[0] > 0 and infos[-1].header.stamp == img.header.stamp
    finally:
        listener.destroy_node()
        sim.destroy_node()
        ex.context.shutdown()


def test_track_acceleration_travels_in_the_object_message_only_where_it_is_estimated():
    """perception -> /perception/e2e/tracks -> adas: a constant-acceleration track's acceleration reaches the AEB's
    objects; a track without one (constant-velocity tracker, a young or far track) and the sim's object list leave
    ax unknown (None: the planner differentiates the velocity of ground-truth objects as before)."""
    from edgepilot_nodes.adas_node import objects_from_msg
    from edgepilot_nodes.perception_node import _object_array

    rows = [(7, "car", 0.9, 12.0, 0.1, 0.0, 4.5, 1.8, 10.0, 0.0), (8, "truck", 0.8, 40.0, 3.5, 0.0, 9.0, 2.5, 20.0, 0.0)]
    msg = _object_array(1_000_000_000, rows, [(-5.5, 0.2), None])
    assert [o.has_acceleration for o in msg.objects] == [True, False]
    objs = objects_from_msg(msg, base_to_centre_m=1.4)
    assert objs[0].ax_mps2 == pytest.approx(-5.5) and objs[1].ax_mps2 is None
    assert objects_from_msg(_object_array(0, rows), 1.4)[0].ax_mps2 is None      # no accels given: none claimed
