"""The end-to-end driver's runtime core: camera images + ego status -> objects, BEV masks and a 3 s plan.

Design notes (closed loop, `--driver e2e`):

* One class, `E2EDriver`, owns the inference backend (ONNX Runtime by default, any `perception.runtime` backend)
  and the model metadata stored in the ONNX file (rig, BEV range, velocity scale, plan time step, class names).
  The ROS perception node is a thin adapter around it, so the same code runs in tests, in lockstep and on a car.
* No torch: the vehicle image runs ONNX Runtime only. Box decoding and class scores live here and the
  training/evaluation code (`perception.model.network.decode_boxes`, `perception.metrics`) calls them, so
  the car and the metrics decode the network the same way.
* Cameras are looked up by name in the order of the rig stored in the model, never by position: a sim or car
  that publishes the cameras in another order, or more cameras, still feeds the network what it was trained on.
  A missing or mis-sized camera is an error naming the camera.
* `ego` is built only with `perception.features.ego_vector` (the dataset generator uses the same function), so
  the train/deploy input definition cannot drift apart.
* The plan: ego (x, y) at `plan_dt`, 2 `plan_dt`, ... in base_link (rear axle, x forward, y left) at the time the
  images were taken. When frames come with their time stamps (`step(..., stamp_s=...)`, as on the car), the
  detections are tracked across frames (`perception.tracking`: velocity from motion, which one image cannot show).
  Two trackers run on the same detections: `tracker` feeds the planner's `lead` input (the configuration its
  planner was trained with) and `aeb_tracker` (`perception.tracking.AEB_TRACKER`, quicker to follow a braking
  lead) gives `frame.tracks`, the tracks published for the AEB when the sim's object list is not used
  (`aeb_tracker=None`: `frame.tracks` come from `tracker`). With `refine` the plan is also slowed
  along its own path to keep clear of the tracks (`perception.refine`, UniAD's post-optimisation step; off by
  default: measured on the test split it costs L2 and avoids no collision, see MODEL.md). With `lane_blend` the
  plan's lateral positions are moved towards the ego lane's centre fitted on the network's own lane-line mask
  (`perception.lanes`; with time stamps the centre is tracked from frame to frame; off in this class by default,
  on in the perception node, see MODEL.md). `plan_raw` then keeps the network's own plan. Turning the
  plan into actuation is the ADAS side's job (`adas.trajectory_follower`), behind the same safety envelope as
  the classical planner.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .features import COMMANDS, EGO_DIM, LEAD_DIM, ego_vector, lead_vector, no_lead
from .lanes import LaneTracker, blend_plan, lane_centre
from .refine import RefineConfig, refine_plan
from .tracking import AEB_TRACKER, MultiObjectTracker, Track, TrackerConfig

#: Where the shipped models live (the lead drops the trained files here).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "e2e_fp32.onnx"
DEFAULT_SCORE_THRESHOLD = 0.3


@dataclass(frozen=True)
class Detection:
    """One detected object in base_link: box centre (x, y), size, yaw and velocity over ground (ego axes)."""

    cls: str
    class_id: int
    x: float
    y: float
    length: float
    width: float
    yaw: float
    vx: float
    vy: float
    score: float
    query: int = -1          # DETR query index (no tracking: the closest thing to an id the network gives)


@dataclass
class DrivingFrame:
    """Everything the network said about one set of camera images."""

    detections: list[Detection]
    lane_mask: np.ndarray            # bool [Hb, Wb], row 0 = farthest ahead, col 0 = leftmost (DATASET.md)
    drivable_mask: np.ndarray        # bool [Hb, Wb]
    plan: np.ndarray                 # float32 [T, 2]: ego (x, y) at plan_times in base_link
    plan_times: np.ndarray           # float32 [T]: seconds after the image time
    latency_ms: float                # wall time of the inference call (not deterministic)
    ego: np.ndarray = field(default_factory=lambda: np.zeros(EGO_DIM, np.float32))   # what the network was fed
    plan_raw: np.ndarray | None = None   # the network's plan before refinement (None: same as `plan`)
    tracks: list[Track] = field(default_factory=list)   # confirmed AEB tracks (empty without stamps)
    refined_by: int = -1             # track_id of the track that slowed the plan most, -1 if none
    lane_blended: bool = False       # lateral positions moved to the lane centre fitted on lane_mask (lane_blend)
    lead: np.ndarray | None = None   # the `lead` input the planner was fed (models with one), else None


def decode_boxes(boxes: np.ndarray, bev_range: tuple[float, float, float, float] | list[float],
                 vel_scale: float) -> np.ndarray:
    """Network box parameters [..., 8] -> metric boxes [..., 7]: x, y, length, width, yaw, vx, vy (base_link).

    The one implementation (training and metrics call it too); inverse of perception.model.encode_boxes.
    """
    x0, x1, y0, y1 = (float(v) for v in bev_range)
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.shape[-1] != 8:
        raise ValueError(f"det_boxes: expected [..., 8] (u, v, log l, log w, sin, cos, vx, vy), got {list(boxes.shape)}")
    out = np.empty(boxes.shape[:-1] + (7,), dtype=np.float32)
    out[..., 0] = x0 + boxes[..., 0] * (x1 - x0)
    out[..., 1] = y0 + boxes[..., 1] * (y1 - y0)
    out[..., 2:4] = np.exp(np.clip(boxes[..., 2:4], -3.0, 4.0))
    out[..., 4] = np.arctan2(boxes[..., 4], boxes[..., 5])
    out[..., 5:7] = boxes[..., 6:8] * vel_scale
    return out


def class_scores(det_logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over K+1 logits (last = no object) -> (best real class [...], its probability [...])."""
    z = np.asarray(det_logits, dtype=np.float64)
    z = z - z.max(-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(-1, keepdims=True)
    cls = p[..., :-1].argmax(-1)
    score = np.take_along_axis(p[..., :-1], cls[..., None], -1)[..., 0]
    return cls, score


def decode_detections(det_logits: np.ndarray, det_boxes: np.ndarray, classes: list[str],
                      bev_range: tuple[float, float, float, float] | list[float], vel_scale: float,
                      score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> list[Detection]:
    """One frame's [Q, K+1] logits and [Q, 8] boxes -> detections scoring at least `score_threshold`, best first."""
    det_logits, det_boxes = np.asarray(det_logits), np.asarray(det_boxes)
    if det_logits.ndim != 2 or det_boxes.ndim != 2 or det_logits.shape[0] != det_boxes.shape[0]:
        raise ValueError(f"expected one frame: det_logits [Q, K+1] and det_boxes [Q, 8], got "
                         f"{list(det_logits.shape)} and {list(det_boxes.shape)}")
    if det_logits.shape[1] != len(classes) + 1:
        raise ValueError(f"det_logits has {det_logits.shape[1]} columns, the model's classes {classes} need "
                         f"{len(classes) + 1} (last = no object)")
    cls, score = class_scores(det_logits)
    boxes = decode_boxes(det_boxes, bev_range, vel_scale)
    out = []
    for q in np.argsort(-score, kind="stable"):
        if score[q] < score_threshold:
            break
        b = boxes[q]
        out.append(Detection(cls=classes[int(cls[q])], class_id=int(cls[q]), x=float(b[0]), y=float(b[1]),
                             length=float(b[2]), width=float(b[3]), yaw=float(b[4]), vx=float(b[5]),
                             vy=float(b[6]), score=float(score[q]), query=int(q)))
    return out


def tracked_lead_inputs(det_logits: np.ndarray, det_boxes: np.ndarray, ego: np.ndarray, stamps: np.ndarray,
                        runs: np.ndarray, classes: list[str], bev_range, vel_scale: float,
                        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                        tracker: TrackerConfig = TrackerConfig()) -> np.ndarray:
    """The `lead` input of every frame of a dataset split, [N, LEAD_DIM], built as the car builds it: frames of one
    run (`runs`, e.g. the scenario seed) in time order, the lead read from the tracks predicted to the frame's time
    before its own detections update them (the network plans in the same pass that detects). Why here: the
    planning stage trains on it and the evaluator scores with it, so both see what `E2EDriver.step` feeds."""
    n = len(ego)
    out = np.empty((n, LEAD_DIM), np.float32)
    mot = MultiObjectTracker(tracker)
    last = None
    for i in np.lexsort((np.asarray(stamps), np.asarray(runs))):
        if runs[i] != last:
            mot.reset()
            last = runs[i]
        t, v, w = float(stamps[i]), float(ego[i][0]), float(ego[i][2])
        out[i] = lead_vector(mot.predicted_boxes(t, v, w), v, w)
        dets = decode_detections(det_logits[i], det_boxes[i], classes, bev_range, vel_scale, score_threshold)
        boxes = np.array([[d.x, d.y, d.length, d.width, d.yaw, d.vx, d.vy] for d in dets]).reshape(-1, 7)
        mot.update(t, v, w, boxes, np.array([d.class_id for d in dets]), np.array([d.score for d in dets]))
    return out


def tracked_first_pass(run, frames: Mapping[str, np.ndarray], classes: list[str], bev_range, vel_scale: float,
                       batch: int = 16, where: str = "model") -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Dataset frames through `run(images, ego, command, lead=)` with "no lead", then `tracked_lead_inputs` on its
    detections: (the outputs, concatenated; the lead of every frame). The lead enters only the planner, so the
    detections and masks of this pass are the model's; a second pass with the leads gives its plans. Needs the
    frames' `t` and `scenario_seed` (the frame order of each run)."""
    missing = [k for k in ("t", "scenario_seed") if k not in frames]
    if missing:
        raise ValueError(f"{where}: the model plans on the tracked lead, which needs the split's {missing} "
                         f"(frame order of each run; load them with the split)")
    n = len(frames["ego"])
    parts: dict[str, list[np.ndarray]] = {}
    for s in range(0, n, batch):
        sl = slice(s, min(n, s + batch))
        out = run(frames["images"][sl], frames["ego"][sl], frames["command"][sl],
                  lead=np.tile(no_lead(), (sl.stop - sl.start, 1)))
        for k, v in out.items():
            parts.setdefault(k, []).append(np.asarray(v))
    outs = {k: np.concatenate(v) for k, v in parts.items()}
    leads = tracked_lead_inputs(outs["det_logits"], outs["det_boxes"], frames["ego"], frames["t"],
                                frames["scenario_seed"], classes, bev_range, vel_scale)
    return outs, leads


class E2EDriver:
    """The driving model behind one call: `step(images_by_camera, ego, command) -> DrivingFrame`.

    `metadata` defaults to what the exporter stored in the ONNX file (`perception.runtime.model_metadata`); pass
    it explicitly for backends whose files carry none (a TensorRT engine built from that ONNX file).
    """

    def __init__(self, model_path: str | os.PathLike = DEFAULT_MODEL, backend: str = "onnxruntime",
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD, threads: int = 2,
                 metadata: Mapping[str, Any] | None = None, refine: RefineConfig | None = None,
                 tracker: TrackerConfig = TrackerConfig(), lane_blend: float = 0.0,
                 aeb_tracker: TrackerConfig | None = AEB_TRACKER) -> None:
        from .runtime import model_metadata, open_backend

        if not 0.0 <= lane_blend <= 1.0:
            raise ValueError(f"lane_blend must be in [0, 1], got {lane_blend}")
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"driving model not found: {path} (the trained models are shipped as "
                                    f"{WEIGHTS_DIR}/e2e_fp32.onnx and e2e_int8.onnx)")
        meta = dict(metadata) if metadata is not None else model_metadata(path)
        for key in ("model_config", "rig", "classes"):
            if key not in meta:
                raise ValueError(f"{path}: model metadata has no {key!r}")
        cfg = meta["model_config"]
        missing = [k for k in ("bev_range", "vel_scale", "future_dt", "image_hw") if k not in cfg]
        if missing:
            raise ValueError(f"{path}: model_config metadata lacks {missing}")
        self.path = path
        self.metadata = meta
        self.rig: list[dict[str, Any]] = list(meta["rig"])
        self.camera_names: list[str] = [str(c["name"]) for c in self.rig]
        self.classes: list[str] = list(meta["classes"])
        self.bev_range = tuple(float(v) for v in cfg["bev_range"])
        self.vel_scale = float(cfg["vel_scale"])
        self.plan_dt = float(cfg["future_dt"])
        self.image_hw = (int(cfg["image_hw"][0]), int(cfg["image_hw"][1]))
        self.score_threshold = float(score_threshold)
        options = {"threads": threads} if backend == "onnxruntime" else {}
        self.backend = open_backend(backend, path, **options)
        self.refine = refine if refine is not None and refine.enabled else None
        self.tracker = MultiObjectTracker(tracker)             # the planner's `lead` input (as it was trained)
        self.aeb_tracker = MultiObjectTracker(aeb_tracker) if aeb_tracker is not None else None   # frame.tracks
        self.lane_blend = float(lane_blend)
        self.lane_tracker: LaneTracker | None = None

    def images_array(self, images: Mapping[str, np.ndarray]) -> np.ndarray:
        """{camera name: HxWx3 uint8} -> uint8 [1, C, H, W, 3] in the model's rig order (extra cameras ignored)."""
        h, w = self.image_hw
        frames = []
        for name in self.camera_names:
            if name not in images:
                raise KeyError(f"camera {name!r} missing: the model needs {self.camera_names}, got {sorted(images)}")
            img = np.asarray(images[name])
            if img.dtype != np.uint8 or img.shape != (h, w, 3):
                raise ValueError(f"camera {name!r}: expected uint8 [{h}, {w}, 3], got {img.dtype} {list(img.shape)}")
            frames.append(img)
        return np.stack(frames)[None]

    def step(self, images: Mapping[str, np.ndarray], ego: np.ndarray, command: int = 0,
             stamp_s: float | None = None) -> DrivingFrame:
        """Run the network on one set of images. `ego`: perception.features.ego_vector(...) of the same instant;
        `stamp_s`: the images' time, which turns on tracking and plan refinement (frames must come in order)."""
        ego = np.asarray(ego, dtype=np.float32).reshape(-1)
        if ego.shape != (EGO_DIM,) or not np.all(np.isfinite(ego)):
            raise ValueError(f"ego: expected {EGO_DIM} finite values from perception.features.ego_vector, got {ego}")
        if not 0 <= int(command) < len(COMMANDS):
            raise ValueError(f"command {command}: expected 0..{len(COMMANDS) - 1} ({', '.join(COMMANDS)})")
        if stamp_s is not None and not math.isfinite(stamp_s):
            raise ValueError(f"stamp_s must be finite, got {stamp_s}")
        batch = self.images_array(images)
        lead = None
        if "lead" in getattr(self.backend, "input_names", ()):
            lead = (no_lead() if stamp_s is None else
                    lead_vector(self.tracker.predicted_boxes(float(stamp_s), float(ego[0]), float(ego[2])),
                                float(ego[0]), float(ego[2])))
        t0 = time.perf_counter()
        out = self.backend.run(batch, ego[None], np.array([int(command)], np.int64),
                               lead=None if lead is None else lead[None])
        latency_ms = (time.perf_counter() - t0) * 1e3
        dets = decode_detections(out["det_logits"][0], out["det_boxes"][0], self.classes, self.bev_range,
                                 self.vel_scale, self.score_threshold)
        seg = out["seg_logits"][0]
        plan = np.asarray(out["plan"][0], dtype=np.float32)
        times = (np.arange(1, len(plan) + 1) * self.plan_dt).astype(np.float32)
        frame = DrivingFrame(detections=dets, lane_mask=seg[0] > 0, drivable_mask=seg[1] > 0, plan=plan,
                             plan_times=times, latency_ms=latency_ms, ego=ego, lead=lead)
        if self.lane_blend > 0:
            res = (self.bev_range[1] - self.bev_range[0]) / frame.lane_mask.shape[0]
            if stamp_s is None:                      # frames out of order: one frame's fit
                lane = lane_centre(frame.lane_mask, self.bev_range, res)
            else:
                if self.lane_tracker is None:
                    self.lane_tracker = LaneTracker(self.bev_range, res)
                lane = self.lane_tracker.update(float(stamp_s), frame.lane_mask, float(ego[0]), float(ego[2]))
            if lane is not None:
                frame.plan_raw, frame.plan = plan, blend_plan(plan, lane, self.lane_blend)
                frame.lane_blended = True
                plan = frame.plan
        if stamp_s is None:
            return frame
        boxes = np.array([[d.x, d.y, d.length, d.width, d.yaw, d.vx, d.vy] for d in dets]).reshape(-1, 7)
        classes, scores = np.array([d.class_id for d in dets]), np.array([d.score for d in dets])
        for mot in (self.tracker, self.aeb_tracker):
            if mot is not None:      # the last one's confirmed tracks are the frame's: the AEB's when it has one
                frame.tracks = mot.update(float(stamp_s), float(ego[0]), float(ego[2]), boxes, classes, scores)
        if self.refine is not None and frame.tracks:
            res = refine_plan(plan, times, MultiObjectTracker.as_boxes(frame.tracks), None, self.refine)
            if res.constrained:
                frame.plan_raw = plan if frame.plan_raw is None else frame.plan_raw    # the network's own plan
                frame.plan = res.plan
                frame.refined_by = frame.tracks[res.blocking].track_id
        return frame


def ego_from_vehicle(speed_mps: float, accel_mps2: float, yaw_rate_rps: float, steering_wheel_angle_deg: float,
                     acc_enabled: bool, acc_set_speed_kph: float) -> np.ndarray:
    """The `ego` input from what the car reports on CAN (VehicleState + AdasSettings), as the dataset builds it."""
    set_mps = acc_set_speed_kph / 3.6 if acc_enabled and math.isfinite(acc_set_speed_kph) else 0.0
    return ego_vector(speed_mps, accel_mps2, yaw_rate_rps, math.radians(steering_wheel_angle_deg), set_mps)
