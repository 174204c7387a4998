"""Configuration of the end-to-end driving model, its losses and its training run (loaded from YAML).

Why dataclasses: one typed, documented place for every knob; the checkpoint stores `asdict(cfg)` so a model can be
rebuilt exactly without the YAML file. Dataset-dependent fields (image size, camera count, BEV range and mask size)
are overwritten from the dataset's meta.json by `apply_meta` so the YAML never disagrees with the data.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgepilot.config import build_section, read_yaml


@dataclass
class ModelConfig:
    # --- set from meta.json by apply_meta ---
    num_cameras: int = 4
    image_hw: tuple[int, int] = (128, 256)          # source image (H, W)
    bev_range: tuple[float, float, float, float] = (-10.0, 50.0, -16.0, 16.0)  # x_min, x_max, y_min, y_max (m)
    seg_hw: tuple[int, int] = (120, 64)             # BEV mask (Hb, Wb)
    num_classes: int = 5
    future_steps: int = 6
    future_dt: float = 0.5
    # --- architecture ---
    input_downsample: int = 1                       # integer average-pool factor applied inside the model
    backbone: list[list[int]] = field(default_factory=lambda: [[16, 2, 1], [24, 2, 1], [48, 2, 2], [64, 1, 1]])
    dim: int = 64
    heads: int = 4
    ffn_mult: int = 2
    bev_hw: tuple[int, int] = (30, 16)              # BEV query grid (rows along x, cols along y)
    bev_layers: int = 2
    pe_depths: list[float] = field(default_factory=lambda: [3.0, 6.0, 12.0, 24.0, 48.0])
    sample_heights: list[float] = field(default_factory=lambda: [0.25, 0.75, 1.5, 2.5])  # pillar points (m)
    sample_xy: int = 2                              # pillar points per cell axis (sample_xy^2 * heights per cell)
    num_queries: int = 32                           # top-K proposals refined by the DETR decoder
    det_sigma_cells: float = 1.5                    # decoder cross-attention prior around a proposal (BEV cells)
    det_layers: int = 2
    plan_layers: int = 2
    seg_channels: int = 32
    vel_scale: float = 10.0                         # box vx, vy are predicted in units of vel_scale m/s
    ego_scale: tuple[float, ...] = (20.0, 3.0, 0.5, 5.0, 20.0)  # divides the ego input (perception.features.EGO_SCALE)
    num_commands: int = 3
    plan_prior: str = "ctrv"                        # "cv" (x = v t), "ctrv" (constant turn rate) or "none"
    plan_ego_mlp: int = 0                           # hidden width of the planner's ego-status MLP path (0: none)
    plan_lead: bool = False                         # a 4th input `lead` (perception.features.lead_vector of the
                                                    # tracked objects) feeds the planner: temporal, from the tracker
    depth_bins: int = 0                             # per-token depth distribution weighting the lift (0: none)
    depth_range: tuple[float, float] = (1.0, 57.0)  # optical depth covered by the bins (m), uniform bins


@dataclass
class LossConfig:
    w_heat: float = 1.0            # dense CenterPoint heatmap focal loss (proposals)
    w_dense_box: float = 2.0       # dense box L1 at the GT centre cells
    w_cls: float = 2.0
    w_box: float = 5.0
    w_center: float = 2.0          # extra weight on the box centre (inside the L1 box loss and the matching cost)
    noobj_weight: float = 0.1
    focal_gamma: float = 2.0       # 0 = plain cross-entropy
    w_seg: float = 2.0
    lane_pos_weight: float = 8.0   # BCE pos_weight of the thin lane-line channel
    w_dice: float = 1.0
    w_plan: float = 1.0
    w_collision: float = 0.1       # differentiable penalty for waypoints inside GT boxes (0 disables)
    w_depth: float = 1.0           # token depth cross-entropy (only when the model has a depth head)
    match_cls: float = 2.0
    match_box: float = 5.0


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_frac: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    num_threads: int = 2
    color_jitter: float = 0.15     # max relative brightness/contrast change (0 disables)
    max_val_frames: int = 1024     # validation subset per epoch (metrics on the full split at eval time)
    baseline_epochs: int = 300
    device: str = "cpu"            # cpu | cuda | cuda:N | auto (cuda when present); labels are built on the CPU


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Config from a plain dict (YAML content or a checkpoint's `cfg`); unknown keys are errors, not ignored."""
    unknown = set(data or {}) - {"model", "loss", "train"}
    if unknown:
        raise ValueError(f"config: unknown sections {sorted(unknown)} (known: model, loss, train)")
    data = data or {}
    return Config(build_section(ModelConfig, data.get("model"), "model"), build_section(LossConfig, data.get("loss"), "loss"),
                  build_section(TrainConfig, data.get("train"), "train"))


def load_config(path: str | Path) -> Config:
    """A YAML config; `extends: default.yaml` at the top takes every key the file does not set from that file."""
    return config_from_dict(read_yaml(path))


def rig_from_meta(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The camera rig (name, width, height, K, T_cam_to_ego) as stored in the checkpoint."""
    return [{"name": c["name"], "width": int(c["width"]), "height": int(c["height"]),
             "K": [list(map(float, r)) for r in c["K"]], "T_cam_to_ego": [list(map(float, r)) for r in c["T_cam_to_ego"]]}
            for c in meta["cameras"]]


def apply_meta(cfg: Config, meta: dict[str, Any]) -> Config:
    """Overwrite the dataset-dependent model fields from meta.json (in place; returns cfg)."""
    m = cfg.model
    cams = meta["cameras"]
    m.num_cameras = len(cams)
    m.image_hw = (int(cams[0]["height"]), int(cams[0]["width"]))
    b = meta["bev"]
    m.bev_range = (float(b["x_min"]), float(b["x_max"]), float(b["y_min"]), float(b["y_max"]))
    res = float(b["resolution_m"])
    m.seg_hw = (int(round((m.bev_range[1] - m.bev_range[0]) / res)), int(round((m.bev_range[3] - m.bev_range[2]) / res)))
    m.num_classes = len(meta["classes"])
    fut = meta.get("future", {})
    m.future_steps = int(fut.get("steps", m.future_steps))
    if "rate_hz" in fut:
        m.future_dt = 1.0 / float(fut["rate_hz"])
    m.num_commands = len(meta.get("commands", [None] * m.num_commands))
    return cfg
