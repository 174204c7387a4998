"""sim: steps the simulated world, runs the vehicle's ECUs on CAN and publishes sensors and /clock.

Thin adapter over vehicle_sim.simulator.Simulator. It is the clock source of the graph, so its own timer
always runs on its own clock (wall time in real-time mode, the executor's time in lockstep).
"""
from __future__ import annotations

import math

from canbus.bus import open_bus, open_logger
from edgepilot.ros import Node, get_message, get_service, qos_profile_sensor_data
from edgepilot.ros.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy
from edgepilot.ros.run_node import main_for
from vehicle_sim import camera as cam
from vehicle_sim.scenario import load_scenario
from vehicle_sim.simulator import Simulator
from vehicle_sim.world import LINE_TYPE_IDS, actor_numeric_id

from .common import CLASS_IDS, drain, seconds

Clock = get_message("rosgraph_msgs/msg/Clock")
Image = get_message("sensor_msgs/msg/Image")
CameraInfo = get_message("sensor_msgs/msg/CameraInfo")
ObjectArray = get_message("edgepilot_interfaces/msg/ObjectArray")
DetectedObject = get_message("edgepilot_interfaces/msg/DetectedObject")
LaneArray = get_message("edgepilot_interfaces/msg/LaneArray")
LaneLine = get_message("edgepilot_interfaces/msg/LaneLine")
Point = get_message("geometry_msgs/msg/Point")
SimStatus = get_message("edgepilot_interfaces/msg/SimStatus")
Trigger = get_service("std_srvs/srv/Trigger")
SetBool = get_service("std_srvs/srv/SetBool")

STATUS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL, history=HistoryPolicy.KEEP_LAST)


class SimNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim", **kwargs)
        scenario = self.declare_parameter("scenario", "ccrs_50kph_100").value
        seed = int(self.declare_parameter("seed", -1).value)
        self.out_dir = str(self.declare_parameter("out_dir", "out").value)
        can_bus = str(self.declare_parameter("can_bus", "virtual:edgepilot").value)
        cameras = bool(self.declare_parameter("cameras", False).value)
        width = int(self.declare_parameter("camera_width", 256).value)
        height = int(self.declare_parameter("camera_height", 128).value)
        self.camera_period_s = 1.0 / float(self.declare_parameter("camera_rate_hz", 10.0).value)
        self.gt_period_s = 1.0 / float(self.declare_parameter("ground_truth_rate_hz", 20.0).value)
        self.exit_on_finish = bool(self.declare_parameter("exit_on_finish", True).value)
        timeout = float(self.declare_parameter("actuation_timeout_s", 0.1).value)
        # wait_for_start: hold the scenario at t = 0 until ~/start is called (start a run when the rest of the stack
        # and the tools - recorder, Foxglove - are up); ~/set_paused freezes it (and /clock) for inspection
        self.paused = bool(self.declare_parameter("wait_for_start", False).value)

        rig_file = str(self.declare_parameter("camera_rig", "").value)
        # camera_names: the cameras a consumer needs (the e2e model's rig), rendered whatever `cameras` says, and
        # only those: every rendered camera costs simulation time. Empty: every camera of the rig if `cameras`.
        names = [n.strip() for n in str(self.declare_parameter("camera_names", "").value).split(",") if n.strip()]
        rig = (cam.load_rig(rig_file) if rig_file else cam.default_rig(width, height)) if cameras or names else []
        if names:
            unknown = [n for n in names if n not in {spec.name for spec in rig}]
            if unknown:
                raise ValueError(f"sim: camera_names {unknown} not in the rig ({', '.join(s.name for s in rig)})")
            rig = [next(spec for spec in rig if spec.name == n) for n in names]
        self.sim = Simulator(load_scenario(scenario), None if seed < 0 else seed, cameras=rig,
                             actuation_timeout_s=timeout)
        can_log = str(self.declare_parameter("can_log", "").value)
        self.bus = open_bus(can_bus)
        # every frame sent and received, stamped with simulation time, in the format the suffix names
        self.can_log = open_logger(can_log) if can_log else None
        self.result: dict | None = None

        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.objects_pub = self.create_publisher(ObjectArray, "/sim/ground_truth/objects", 10)
        self.lanes_pub = self.create_publisher(LaneArray, "/sim/ground_truth/lanes", 10)
        self.status_pub = self.create_publisher(SimStatus, "/sim/status", STATUS_QOS)
        self.camera_pubs = {
            spec.name: (self.create_publisher(Image, f"/sensing/camera/{spec.name}/image_raw",
                                              qos_profile_sensor_data),
                        self.create_publisher(CameraInfo, f"/sensing/camera/{spec.name}/camera_info",
                                              qos_profile_sensor_data),
                        self._camera_info_msg(spec))
            for spec in rig
        }
        self._next_gt = 0.0
        self._next_cam = 0.0
        self._next_status = 0.0
        self.create_timer(self.sim.dt, self.on_step)
        self.create_service(Trigger, "~/start", self.on_start)
        self.create_service(SetBool, "~/set_paused", self.on_set_paused)
        if self.paused:
            self.get_logger().info("waiting for a call of ~/start (std_srvs/srv/Trigger)")
        self.get_logger().info(f"scenario {self.sim.scenario.name} seed {self.sim.seed} on CAN {can_bus}, "
                               f"{len(rig)} cameras")

    # ------------------------------------------------------------------------------------------------ step
    def on_start(self, _request, response):
        """~/start: run the scenario (it was held at t = 0 by wait_for_start, or paused)."""
        if self.result is not None:
            response.success, response.message = False, f"scenario {self.sim.scenario.name} has finished"
        else:
            response.success = True
            verb = "started" if self.sim.t == 0 else "resumed"
            response.message = f"{verb} {self.sim.scenario.name} at t = {self.sim.t:.2f} s"
            self.paused = False
        return response

    def on_set_paused(self, request, response):
        """~/set_paused: true freezes the simulation (and /clock), false resumes it."""
        self.paused = bool(request.data)
        response.success = self.result is None
        response.message = (f"{'paused' if self.paused else 'running'} at t = {self.sim.t:.2f} s" if response.success
                            else f"scenario {self.sim.scenario.name} has finished")
        return response

    def on_step(self) -> None:
        if self.result is not None or self.paused:
            return
        received = drain(self.bus)
        out = self.sim.step(received)
        for frame in out:
            self.bus.send(frame)
        if self.can_log is not None:
            for frame in received:
                frame.timestamp = self.sim.t - self.sim.dt   # when the ECUs saw it
                self.can_log(frame)
            for frame in out:
                self.can_log(frame)
        t = self.sim.t
        self._publish_clock(t)
        if t >= self._next_gt - 1e-9:
            self._next_gt += self.gt_period_s
            self._publish_ground_truth()
        if self.camera_pubs and t >= self._next_cam - 1e-9:
            self._next_cam += self.camera_period_s
            self._publish_cameras()
        if self.sim.finished:
            self.result = self.sim.write_report(self.out_dir)
            self._publish_status()
            self.get_logger().info(
                f"finished {self.result['scenario']}: {'PASS' if self.result['passed'] else 'FAIL'} "
                f"({self.result['end_reason']}), report {self.result['report_path']}")
            if self.exit_on_finish:
                self.context.request_shutdown()
        elif t >= self._next_status - 1e-9:
            self._next_status += 0.1
            self._publish_status()

    def _stamp(self, msg, frame_id: str):
        msg.header.stamp = _time_msg(self.sim.t)
        msg.header.frame_id = frame_id
        return msg

    def _publish_clock(self, t: float) -> None:
        msg = Clock()
        msg.clock = _time_msg(t)
        self.clock_pub.publish(msg)

    def _publish_ground_truth(self) -> None:
        objs = self._stamp(ObjectArray(), "base_link")
        for o in self.sim.objects_base_link():
            d = DetectedObject()
            d.id = actor_numeric_id(o.id)
            d.classification = CLASS_IDS.get(o.cls, 0)
            d.confidence = 1.0
            d.pose.position.x, d.pose.position.y, d.pose.position.z = float(o.x), float(o.y), float(o.z)
            d.pose.orientation.z, d.pose.orientation.w = math.sin(o.yaw / 2), math.cos(o.yaw / 2)
            d.size.x, d.size.y, d.size.z = float(o.length), float(o.width), float(o.height)
            d.velocity.x, d.velocity.y = float(o.vx), float(o.vy)
            objs.objects.append(d)
        self.objects_pub.publish(objs)
        lg = self.sim.world.lane_geometry()
        lanes = self._stamp(LaneArray(), "base_link")
        lanes.lane_width_m = float(lg.lane_width_m)
        lanes.lateral_offset_m = float(lg.lateral_offset_m)
        lanes.heading_error_rad = float(lg.heading_error_rad)
        lanes.curvature_1pm = float(lg.curvature_1pm)
        for index, line in enumerate(lg.lines):
            ll = LaneLine()
            ll.lane_index = index
            ll.type = LINE_TYPE_IDS.get(line.kind, 0)
            ll.points = [Point(x=float(x), y=float(y), z=0.0) for x, y in line.points]
            lanes.lines.append(ll)
        self.lanes_pub.publish(lanes)

    def _camera_info_msg(self, spec: cam.CameraSpec):
        info = cam.camera_info(spec)
        msg = CameraInfo()
        msg.header.frame_id = f"camera_{spec.name}_optical"
        msg.width, msg.height = spec.width, spec.height
        msg.distortion_model = "plumb_bob"
        msg.d = info.D.astype("float64").ravel()
        msg.k = info.K.astype("float64").ravel()
        msg.r = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
        msg.p = info.P.astype("float64").ravel()
        return msg

    def _publish_cameras(self) -> None:
        stamp = _time_msg(self.sim.t)
        for name, pixels in self.sim.render_all().items():
            image_pub, info_pub, info = self.camera_pubs[name]
            img = Image()
            img.header.stamp = stamp
            img.header.frame_id = info.header.frame_id
            img.height, img.width = pixels.shape[0], pixels.shape[1]
            img.encoding = "rgb8"
            img.step = pixels.shape[1] * 3
            img.data = pixels.reshape(-1)
            image_pub.publish(img)
            info.header.stamp = stamp
            info_pub.publish(info)

    def _publish_status(self) -> None:
        msg = self._stamp(SimStatus(), "map")
        msg.scenario = self.sim.scenario.name
        msg.sim_time_s = self.sim.t
        msg.running = self.result is None
        msg.finished = self.result is not None
        if self.result is not None:
            msg.collision = bool(self.result["collision"])
            msg.passed = bool(self.result["passed"])
            msg.result_path = self.result["report_path"]
        else:
            msg.collision = self.sim.world.collision is not None
        self.status_pub.publish(msg)

    def destroy_node(self) -> None:
        try:
            self.bus.shutdown()
            if self.can_log is not None:
                self.can_log.stop()
        finally:
            super().destroy_node()


def _time_msg(t: float):
    from edgepilot.ros.clock import Time

    return Time(nanoseconds=int(round(t * 1e9))).to_msg()


main = main_for(SimNode)
