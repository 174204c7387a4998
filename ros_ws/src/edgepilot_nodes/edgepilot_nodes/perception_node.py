"""perception: the end-to-end driving model on the car's cameras -> objects and a planned trajectory.

Thin adapter over perception.driving.E2EDriver. Inputs: /sensing/camera/<cam>/image_raw for every camera of the
rig stored in the model (and camera_info, checked once against that rig), /vehicle/state and
/vehicle/adas_settings (the ego input: speed, accel, yaw rate, steering, ACC set speed). Outputs, stamped with
the images' time in base_link: /perception/e2e/objects (ObjectArray: this frame's detections),
/perception/e2e/tracks (ObjectArray: confirmed tracks of the AEB tracker, `aeb_tracker_*` parameters, id = track
id, velocity from the tracker; the AEB watches these when the sim's object list is not used as fallback) and
/perception/e2e/trajectory (nav_msgs/Path; each pose's stamp is the time the plan reaches it; with `plan_refine`,
slowed along its path to keep clear of the tracks), which the adas node follows with `driver:=e2e`.

Rate: the network runs on each complete, synchronized camera set (all cameras with the same stamp), at most
`rate_hz` times a second. Running on arrival rather than on a free-running timer adds no phase delay between
the cameras and the plan; with the sim's 10 Hz cameras it is a fixed 10 Hz.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgepilot.ros import Node, get_message, qos_profile_sensor_data
from edgepilot.ros.run_node import main_for
from perception.driving import DEFAULT_MODEL, E2EDriver, ego_from_vehicle
from perception.refine import RefineConfig
from perception.tracking import AEB_TRACKER, TrackerConfig

from .common import CLASS_IDS, seconds

Image = get_message("sensor_msgs/msg/Image")
CameraInfo = get_message("sensor_msgs/msg/CameraInfo")
VehicleState = get_message("edgepilot_interfaces/msg/VehicleState")
AdasSettings = get_message("edgepilot_interfaces/msg/AdasSettings")
ObjectArray = get_message("edgepilot_interfaces/msg/ObjectArray")
DetectedObject = get_message("edgepilot_interfaces/msg/DetectedObject")
PathMsg = get_message("nav_msgs/msg/Path")
PoseStamped = get_message("geometry_msgs/msg/PoseStamped")



def _ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _time_msg(ns: int):
    from edgepilot.ros.clock import Time

    return Time(nanoseconds=int(ns)).to_msg()


def _object_array(stamp_ns: int, rows, accels=None) -> ObjectArray:
    """ObjectArray in base_link from (id, class name, score, x, y, yaw, length, width, vx, vy) rows; `accels`: per
    row (ax, ay) or None (not estimated)."""
    msg = ObjectArray()
    msg.header.stamp = _time_msg(stamp_ns)
    msg.header.frame_id = "base_link"
    accels = accels if accels is not None else [None] * len(rows)
    for (oid, cls, score, x, y, yaw, length, width, vx, vy), acc in zip(rows, accels):
        o = DetectedObject()
        o.id = int(oid)
        o.classification = CLASS_IDS.get(cls, 0)
        o.confidence = float(score)
        o.pose.position.x, o.pose.position.y = float(x), float(y)
        o.pose.orientation.z, o.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        o.size.x, o.size.y = float(length), float(width)
        o.velocity.x, o.velocity.y = float(vx), float(vy)
        if acc is not None:
            o.has_acceleration = True
            o.acceleration.x, o.acceleration.y = float(acc[0]), float(acc[1])
        msg.objects.append(o)
    return msg


class PerceptionNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("perception", **kwargs)
        model_path = str(self.declare_parameter("model_path", "").value) or str(DEFAULT_MODEL)
        backend = str(self.declare_parameter("backend", "onnxruntime").value)
        threads = int(self.declare_parameter("threads", 2).value)
        rate_hz = float(self.declare_parameter("rate_hz", 10.0).value)
        score = float(self.declare_parameter("score_threshold", 0.3).value)
        self.command = int(self.declare_parameter("command", 0).value)
        self.state_timeout_s = float(self.declare_parameter("state_timeout_s", 0.3).value)
        plan_refine = bool(self.declare_parameter("plan_refine", False).value)
        time_gap = float(self.declare_parameter("plan_refine_time_gap_s", 0.0).value)
        lane_blend = float(self.declare_parameter("plan_lane_blend", 1.0).value)
        aeb: dict = {name: float(self.declare_parameter(f"aeb_tracker_{name}", getattr(AEB_TRACKER, name)).value)
                     for name in ("accel_noise_mps2", "meas_noise_m", "meas_noise_per_m", "jerk_noise_mps3",
                                  "init_accel_std_mps2", "accel_report_range_m")}
        aeb["accel_state"] = bool(self.declare_parameter("aeb_tracker_accel_state", AEB_TRACKER.accel_state).value)
        aeb["accel_report_hits"] = int(self.declare_parameter("aeb_tracker_accel_report_hits",
                                                              AEB_TRACKER.accel_report_hits).value)
        try:
            aeb_tracker = TrackerConfig(**aeb)
        except ValueError as exc:
            raise ValueError(f"perception parameters aeb_tracker_*: {exc}") from None
        if rate_hz <= 0.0:
            raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
        self.min_period_ns = int(round(1e9 / rate_hz)) - 1_000_000    # 1 ms slack for stamp jitter
        refine = RefineConfig(time_gap_s=time_gap) if plan_refine else None
        self.driver = E2EDriver(Path(model_path), backend=backend, score_threshold=score, threads=threads,
                                refine=refine, lane_blend=lane_blend, aeb_tracker=aeb_tracker)
        self.state = None
        self.state_t = -1e9
        self.settings = None
        self.images: dict[str, tuple[int, np.ndarray]] = {}
        self.last_processed_ns: int | None = None
        self.rig_checked: set[str] = set()
        self.rig_error = ""
        self.warned_no_images = False
        self.frames = 0                 # camera sets run through the network
        self.plans_refined = 0          # plans slowed down to keep clear of a tracked object
        self.plans_lane_blended = 0     # plans whose lateral positions were moved to the fitted lane centre
        self.latency_ms_sum = 0.0
        self.latency_ms_max = 0.0
        self.objects_pub = self.create_publisher(ObjectArray, "/perception/e2e/objects", 10)
        self.plan_pub = self.create_publisher(PathMsg, "/perception/e2e/trajectory", 10)
        self.tracks_pub = self.create_publisher(ObjectArray, "/perception/e2e/tracks", 10)
        for name in self.driver.camera_names:
            self.create_subscription(Image, f"/sensing/camera/{name}/image_raw",
                                     lambda msg, n=name: self.on_image(n, msg), qos_profile_sensor_data)
            self.create_subscription(CameraInfo, f"/sensing/camera/{name}/camera_info",
                                     lambda msg, n=name: self.on_camera_info(n, msg), qos_profile_sensor_data)
        self.create_subscription(VehicleState, "/vehicle/state", self.on_state, 10)
        self.create_subscription(AdasSettings, "/vehicle/adas_settings", self.on_settings, 10)
        self.get_logger().info(f"model {self.driver.path.name} ({backend}, {self.driver.backend.providers[0]}), "
                               f"cameras {', '.join(self.driver.camera_names)}, at most {rate_hz:g} Hz")

    # ----------------------------------------------------------------------------------------- inputs
    def on_state(self, msg) -> None:
        self.state = msg if msg.can_valid else None
        self.state_t = seconds(self)
        if self.frames == 0 and not self.warned_no_images and self.state_t >= 2.0:
            self.warned_no_images = True   # say once why nothing is published (the adas node will not engage)
            missing = [n for n in self.driver.camera_names if n not in self.images]
            self.get_logger().warn(f"no plan after {self.state_t:.1f} s: " + (
                self.rig_error or (f"no images from camera(s) {missing} (does the sim render them? "
                                   f"see its camera_names parameter)" if missing else "camera stamps never match")))

    def on_settings(self, msg) -> None:
        self.settings = msg

    def on_camera_info(self, name: str, msg) -> None:
        """The camera must be the one the model was trained with (size and intrinsics); checked once per camera."""
        if name in self.rig_checked:
            return
        self.rig_checked.add(name)
        self._check_camera(name, msg)
        self._maybe_run()

    def _check_camera(self, name: str, msg) -> None:
        cam = next(c for c in self.driver.rig if c["name"] == name)
        k_model = np.asarray(cam["K"], float).ravel()
        k_msg = np.asarray(msg.k, float).ravel()
        if (msg.width, msg.height) != (cam["width"], cam["height"]) or not np.allclose(k_model, k_msg, rtol=1e-3,
                                                                                        atol=1e-3):
            self.rig_error = (f"camera {name!r} is {msg.width}x{msg.height} K={k_msg.round(2).tolist()}, the model "
                              f"was trained on {cam['width']}x{cam['height']} K={k_model.round(2).tolist()}: "
                              f"not driving on it")
            self.get_logger().error(self.rig_error)

    def on_image(self, name: str, msg) -> None:
        if msg.encoding != "rgb8":
            self.get_logger().error(f"camera {name!r}: encoding {msg.encoding!r}, expected rgb8")
            return
        pixels = np.asarray(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)
        self.images[name] = (_ns(msg.header.stamp), pixels)
        self._maybe_run()

    # ------------------------------------------------------------------------------------------- step
    def _maybe_run(self) -> None:
        names = self.driver.camera_names
        if self.rig_error or len(self.rig_checked) < len(names) or any(n not in self.images for n in names):
            return
        stamps = {self.images[n][0] for n in names}
        if len(stamps) != 1:
            return                                              # wait for the rest of this camera set
        stamp_ns = stamps.pop()
        if self.last_processed_ns is not None and stamp_ns - self.last_processed_ns < self.min_period_ns:
            return
        if self.state is None or seconds(self) - self.state_t > self.state_timeout_s:
            return                                              # no trustworthy ego status: no plan
        s, st = self.state, self.settings
        ego = ego_from_vehicle(s.speed_mps, s.accel_long_mps2, s.yaw_rate_rps, s.steering_wheel_angle_deg,
                               bool(st.acc_enabled) if st is not None else False,
                               float(st.acc_set_speed_kph) if st is not None else 0.0)
        if not np.all(np.isfinite(ego)):
            return
        self.last_processed_ns = stamp_ns
        frame = self.driver.step({n: self.images[n][1] for n in names}, ego, self.command, stamp_s=stamp_ns * 1e-9)
        self.frames += 1
        self.plans_refined += frame.refined_by >= 0
        self.plans_lane_blended += frame.lane_blended
        if self.frames == 1:
            self.get_logger().info(f"first plan from the images of t = {stamp_ns * 1e-9:.2f} s "
                                   f"({frame.latency_ms:.0f} ms inference)")
        self.latency_ms_sum += frame.latency_ms
        self.latency_ms_max = max(self.latency_ms_max, frame.latency_ms)
        self.objects_pub.publish(self._objects_msg(frame, stamp_ns))
        self.plan_pub.publish(self._path_msg(frame, stamp_ns))
        self.tracks_pub.publish(self._tracks_msg(frame, stamp_ns))

    def _tracks_msg(self, frame, stamp_ns: int):
        """Confirmed tracks: id = track id, velocity (and acceleration, with a constant-acceleration tracker) from
        the tracker (what the e2e AEB acts on)."""
        return _object_array(stamp_ns, [(t.track_id, self.driver.classes[t.cls], t.score, t.x[0], t.x[1], t.yaw,
                                          t.size[0], t.size[1], t.x[2], t.x[3]) for t in frame.tracks],
                             [t.accel for t in frame.tracks])

    def _objects_msg(self, frame, stamp_ns: int):
        """This frame's detections: id = DETR query, velocity from the network."""
        return _object_array(stamp_ns, [(d.query, d.cls, d.score, d.x, d.y, d.yaw, d.length, d.width, d.vx, d.vy)
                                        for d in frame.detections])

    def _path_msg(self, frame, stamp_ns: int):
        msg = PathMsg()
        msg.header.stamp = _time_msg(stamp_ns)
        msg.header.frame_id = "base_link"
        prev = np.zeros(2)
        for (x, y), t in zip(frame.plan.tolist(), frame.plan_times.tolist()):
            p = PoseStamped()
            p.header.stamp = _time_msg(stamp_ns + int(round(t * 1e9)))
            p.header.frame_id = "base_link"
            p.pose.position.x, p.pose.position.y = float(x), float(y)
            yaw = math.atan2(y - prev[1], x - prev[0]) if math.hypot(x - prev[0], y - prev[1]) > 1e-3 else 0.0
            p.pose.orientation.z, p.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
            prev = np.array([x, y])
            msg.poses.append(p)
        return msg

    @property
    def mean_latency_ms(self) -> float:
        return self.latency_ms_sum / self.frames if self.frames else 0.0

    def destroy_node(self) -> None:
        self.get_logger().info(f"{self.frames} plans, inference {self.mean_latency_ms:.1f} ms mean, "
                               f"{self.latency_ms_max:.1f} ms max")
        super().destroy_node()


main = main_for(PerceptionNode)
