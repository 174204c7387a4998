"""End-to-end driving model: config, network, Hungarian matcher, losses, checkpoint loading."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Config, LossConfig, ModelConfig, TrainConfig, apply_meta, config_from_dict, load_config, rig_from_meta
from .network import (INPUT_NAMES, OUTPUT_NAMES, DrivingOutputs, E2EDrivingModel, count_flops, decode_boxes,
                      encode_boxes, export_onnx)

__all__ = ["Config", "LossConfig", "ModelConfig", "TrainConfig", "apply_meta", "config_from_dict", "load_config",
           "rig_from_meta", "INPUT_NAMES", "OUTPUT_NAMES", "DrivingOutputs", "E2EDrivingModel", "count_flops",
           "decode_boxes", "encode_boxes", "export_onnx", "load_checkpoint", "load_model"]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    import torch

    return torch.load(str(path), map_location="cpu", weights_only=False)


def load_model(path_or_ckpt: str | Path | dict[str, Any]) -> E2EDrivingModel:
    """Rebuild the model from a checkpoint (cfg + rig + weights); returned in eval mode."""
    ckpt = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    cfg = config_from_dict(ckpt["cfg"])
    model = E2EDrivingModel(cfg, ckpt["rig"])
    model.load_state_dict(ckpt["model"])
    model.classes = list((ckpt.get("meta") or {}).get("classes") or [])
    return model.eval()
