"""Multi-object tracking of the network's detections across frames (pure numpy, deterministic).

Why: the network sees one instant, so its velocity head can only guess from context (measured on the test split:
in-lane vehicles are predicted at about the ego's speed, error 2.5 m/s, and a stopped car in the lane looks like
a moving one). How fast a detected object really moves follows from where it is over several frames, which is
what tracking gives (UniAD's TrackFormer; a Kalman tracker in classical stacks such as Autoware's
multi_object_tracker). This is the classical one:

* state per track: position and velocity over ground (x, y, vx, vy) in base_link of the latest frame;
  constant-velocity prediction with white-noise acceleration, then moved into the new base_link by the ego's own
  motion (speed and yaw rate, constant turn over the frame interval); optionally (`accel_state`) constant
  acceleration with white-noise jerk, so that a track also says how hard its object brakes;
* measurement: the detection centre, noise growing with range (a pixel spans more metres further away);
* association: greedy on the Mahalanobis distance inside a 99 % gate, highest-scoring detection first;
* a new track takes the network's velocity as its first guess with a large variance, is confirmed after
  `confirm_hits` associated frames and dropped after `max_misses` frames without one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

GATE_CHI2 = 9.21   # chi-square, 2 dof, 99 %


@dataclass(frozen=True)
class TrackerConfig:
    accel_noise_mps2: float = 2.0         # white-noise acceleration of the constant-velocity model
    meas_noise_m: float = 0.4             # position noise at zero range ...
    meas_noise_per_m: float = 0.05        # ... plus this much per metre of range
    init_vel_std_mps: float = 8.0         # trust in the network's velocity for a new track
    confirm_hits: int = 3
    max_misses: int = 3
    max_dt_s: float = 1.0                 # a longer gap between frames resets the tracker
    #: constant-acceleration model (state x, y, vx, vy, ax, ay; white-noise jerk `jerk_noise_mps3`) instead of
    #: constant velocity (white-noise acceleration `accel_noise_mps2`): the track then knows how hard its object
    #: brakes, which an AEB needs when the lead brakes hard (Euro NCAP CCRb); `Track.accel` reads it out
    accel_state: bool = False
    jerk_noise_mps3: float = 5.0
    init_accel_std_mps2: float = 4.0      # a new track's acceleration: 0 with this std
    #: a track reports its acceleration only after this many associated frames: until its velocity has
    #: converged from the network's first guess, that convergence reads as acceleration
    accel_report_hits: int = 15
    #: ... and only within this range: further out the detection centre is too noisy (the measurement noise
    #: grows with range) for a second derivative, and a far car's velocity converging reads as braking
    accel_report_range_m: float = 25.0

    def __post_init__(self) -> None:
        for name in ("accel_noise_mps2", "meas_noise_m", "init_vel_std_mps", "max_dt_s", "jerk_noise_mps3",
                     "init_accel_std_mps2", "accel_report_range_m"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"TrackerConfig.{name} must be a finite number > 0, got {v!r}")
        if not (math.isfinite(self.meas_noise_per_m) and self.meas_noise_per_m >= 0):
            raise ValueError(f"TrackerConfig.meas_noise_per_m must be finite and >= 0, got {self.meas_noise_per_m!r}")
        if int(self.confirm_hits) < 1 or int(self.max_misses) < 0:
            raise ValueError(f"TrackerConfig: confirm_hits must be >= 1 and max_misses >= 0, got "
                             f"{self.confirm_hits} and {self.max_misses}")
        if int(self.accel_report_hits) < 0:
            raise ValueError(f"TrackerConfig.accel_report_hits must be >= 0, got {self.accel_report_hits}")


#: The tracker whose tracks the e2e AEB brakes on (`perception.driving.E2EDriver(aeb_tracker=...)`). Why not the
#: default: an AEB needs the closing speed of a lead that brakes now, and the default's white-noise acceleration
#: (2 m/s^2) with range-proportional measurement noise (1.4 m std at 20 m) averages over so many frames that a lead
#: braking at 2 m/s^2 was tracked 2 m/s too fast two seconds later (Euro NCAP CCRb, 50 km/h, 12 m: measured, see
#: perception/MODEL.md "AEB tracker"). Detections of one object move by well under 1 m between frames at 10 Hz, so
#: this one trusts them more and lets the velocity change faster. The planner's `lead` input keeps the default:
#: its planner was trained on what that tracker gives.
AEB_TRACKER = TrackerConfig(accel_noise_mps2=12.0, meas_noise_m=0.3, meas_noise_per_m=0.02)


@dataclass
class Track:
    track_id: int
    x: np.ndarray                          # [4] x, y, vx, vy (constant acceleration: [6] ..., ax, ay)
    P: np.ndarray                          # [4, 4] ([6, 6])
    cls: int
    size: tuple[float, float]              # length, width
    yaw: float
    score: float
    hits: int = 1
    misses: int = 0

    report_after: int = 0                  # hits before `accel` is reported (TrackerConfig.accel_report_hits)
    report_range_m: float = math.inf       # range within which it is (TrackerConfig.accel_report_range_m)

    @property
    def accel(self) -> tuple[float, float] | None:
        """(ax, ay) over ground in base_link axes, m/s^2; None for a constant-velocity track, a young one or a far
        one (see TrackerConfig.accel_report_hits / accel_report_range_m)."""
        if len(self.x) != 6 or self.hits < self.report_after or math.hypot(self.x[0], self.x[1]) > self.report_range_m:
            return None
        return float(self.x[4]), float(self.x[5])


@dataclass
class MultiObjectTracker:
    """`update(stamp_s, ego_speed, ego_yaw_rate, boxes, classes, scores)` once per frame; `confirmed()` reads out."""

    cfg: TrackerConfig = field(default_factory=TrackerConfig)
    tracks: list[Track] = field(default_factory=list)
    stamp_s: float | None = None
    next_id: int = 0

    def reset(self) -> None:
        self.tracks, self.stamp_s = [], None

    @property
    def state_dim(self) -> int:
        return 6 if self.cfg.accel_state else 4

    def _predict(self, dt: float, speed: float, yaw_rate: float) -> None:
        th = yaw_rate * dt
        c, s = math.cos(-th), math.sin(-th)
        R = np.array([[c, -s], [s, c]])
        d = speed * dt * np.array([math.cos(th / 2), math.sin(th / 2)])     # ego displacement, old frame
        if self.cfg.accel_state:       # white-noise jerk; state blocks (x, y), (vx, vy), (ax, ay)
            F1 = np.array([[1.0, dt, dt * dt / 2], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
            Q1 = self.cfg.jerk_noise_mps3 ** 2 * np.array([[dt ** 5 / 20, dt ** 4 / 8, dt ** 3 / 6],
                                                          [dt ** 4 / 8, dt ** 3 / 3, dt ** 2 / 2],
                                                          [dt ** 3 / 6, dt ** 2 / 2, dt]])
        else:                          # white-noise acceleration; blocks (x, y), (vx, vy)
            F1 = np.array([[1.0, dt], [0.0, 1.0]])
            Q1 = self.cfg.accel_noise_mps2 ** 2 * np.array([[dt ** 4 / 4, dt ** 3 / 2], [dt ** 3 / 2, dt ** 2]])
        F, Q = np.kron(F1, np.eye(2)), np.kron(Q1, np.eye(2))
        G = np.kron(np.eye(len(F1)), R)   # every block turns into the new base_link
        for t in self.tracks:
            x = F @ t.x
            x[:2] -= d
            t.x = G @ x
            t.P = G @ (F @ t.P @ F.T + Q) @ G.T
            t.yaw -= th

    def update(self, stamp_s: float, speed: float, yaw_rate: float, boxes: np.ndarray, classes: np.ndarray,
               scores: np.ndarray) -> list[Track]:
        """One frame: boxes [K, 7] (x, y, length, width, yaw, vx, vy in base_link of this frame), class ids [K],
        scores [K] (already thresholded). Returns the confirmed tracks."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 7)
        if not (math.isfinite(stamp_s) and math.isfinite(speed) and math.isfinite(yaw_rate)):
            raise ValueError(f"tracker: stamp, speed and yaw rate must be finite, got {stamp_s}, {speed}, {yaw_rate}")
        if self.stamp_s is not None:
            dt = stamp_s - self.stamp_s
            if dt <= 0 or dt > self.cfg.max_dt_s:
                self.reset()                      # time went backwards (replay restart) or a long gap
            else:
                self._predict(dt, speed, yaw_rate)
        self.stamp_s = stamp_s
        H = np.zeros((2, self.state_dim))
        H[0, 0] = H[1, 1] = 1.0
        # measurement variance per detection: the noise grows with range
        var = (self.cfg.meas_noise_m + self.cfg.meas_noise_per_m * np.hypot(boxes[:, 0], boxes[:, 1])) ** 2
        pairs = []
        for j in range(len(boxes)):
            for i, t in enumerate(self.tracks):
                S = H @ t.P @ H.T + np.eye(2) * var[j]
                innov = boxes[j, :2] - t.x[:2]
                d2 = float(innov @ np.linalg.solve(S, innov))
                if d2 < GATE_CHI2:
                    pairs.append((d2, -float(scores[j]), j, i))
        pairs.sort()
        used_d, used_t = set(), set()
        for d2, _, j, i in pairs:
            if j in used_d or i in used_t:
                continue
            used_d.add(j)
            used_t.add(i)
            t = self.tracks[i]
            S = H @ t.P @ H.T + np.eye(2) * var[j]
            K = t.P @ H.T @ np.linalg.inv(S)
            t.x = t.x + K @ (boxes[j, :2] - t.x[:2])
            t.P = (np.eye(self.state_dim) - K @ H) @ t.P
            t.cls, t.size, t.yaw, t.score = int(classes[j]), (float(boxes[j, 2]), float(boxes[j, 3])), \
                float(boxes[j, 4]), float(scores[j])
            t.hits += 1
            t.misses = 0
        for i, t in enumerate(self.tracks):
            if i not in used_t:
                t.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.cfg.max_misses]
        for j in range(len(boxes)):
            if j in used_d:
                continue
            p = [var[j], var[j], self.cfg.init_vel_std_mps ** 2, self.cfg.init_vel_std_mps ** 2]
            x0 = boxes[j, [0, 1, 5, 6]]
            if self.cfg.accel_state:
                p += [self.cfg.init_accel_std_mps2 ** 2] * 2
                x0 = np.r_[x0, 0.0, 0.0]
            self.tracks.append(Track(self.next_id, x0.copy(), np.diag(p), int(classes[j]),
                                     (float(boxes[j, 2]), float(boxes[j, 3])), float(boxes[j, 4]),
                                     float(scores[j]), report_after=int(self.cfg.accel_report_hits),
                                     report_range_m=float(self.cfg.accel_report_range_m)))
            self.next_id += 1
        return self.confirmed()

    def predicted_boxes(self, stamp_s: float, speed: float, yaw_rate: float) -> np.ndarray:
        """The confirmed tracks moved to `stamp_s` (constant velocity, ego motion), in the layout of `as_boxes`,
        without changing the tracker: what the tracks say about this instant before its detections arrive (the
        planner's `lead` input is built from this, as the network that gives the detections also plans)."""
        if self.stamp_s is None:
            return np.zeros((0, 7))
        dt = stamp_s - self.stamp_s
        if dt < 0 or dt > self.cfg.max_dt_s:
            return np.zeros((0, 7))
        saved = [(t.x.copy(), t.P.copy(), t.yaw) for t in self.tracks]
        try:
            if dt > 0:
                self._predict(dt, speed, yaw_rate)
            return self.as_boxes(self.confirmed())
        finally:
            for t, (x, P, yaw) in zip(self.tracks, saved):
                t.x, t.P, t.yaw = x, P, yaw

    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if t.hits >= self.cfg.confirm_hits and t.misses == 0]

    @staticmethod
    def as_boxes(tracks: list[Track]) -> np.ndarray:
        """Tracks -> [K, 7] x, y, length, width, yaw, vx, vy (the layout `perception.refine.refine_plan` takes)."""
        return np.array([[t.x[0], t.x[1], t.size[0], t.size[1], t.yaw, t.x[2], t.x[3]] for t in tracks],
                        np.float64).reshape(-1, 7)
