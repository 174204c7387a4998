"""Structured pruning of the driving model's image backbone (channels out, a smaller dense model in).

Why the backbone: it runs once per camera (3x per frame) and is the only part whose cost is plain dense convs
that shrink with their channel count on every runtime (ORT CPU, TensorRT); the BEV/decoder width is shared by
attention, LayerNorm and every head, where removing channels needs far more surgery for less gain.

How (network slimming, Liu et al. 2017): each conv-BN-ReLU's output channels are ranked by |BN gamma| (a channel
with a small scale contributes little after normalisation); each stage keeps the same fraction of its channels
(`keep`), the next conv's input and the 1x1 projection's input are sliced to match, and everything else is
copied unchanged. The result is an ordinary, smaller `E2EDrivingModel` (its config lists the new widths), which
is then fine-tuned (`train(..., init=...)`) and exported like any other checkpoint.
"""
from __future__ import annotations

import copy
from typing import Any

import torch

from .model import E2EDrivingModel
from .model.config import Config, config_from_dict


def _stage_of_layers(spec: list[list[int]]) -> list[int]:
    return [s for s, (_, _, n) in enumerate(spec) for _ in range(n)]


def prune_backbone(ckpt: dict[str, Any], keep: float, min_channels: int = 8) -> tuple[dict[str, Any], dict[str, Any]]:
    """A checkpoint (as `train` writes it: cfg, rig, meta, model) -> a checkpoint whose backbone keeps the `keep`
    fraction of each stage's channels (at least `min_channels`), chosen by |BN gamma|; and a report."""
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    for key in ("cfg", "rig", "model"):
        if key not in ckpt:
            raise ValueError(f"prune_backbone: the checkpoint has no {key!r}")
    cfg: Config = config_from_dict(copy.deepcopy(ckpt["cfg"]))
    spec = [list(s) for s in cfg.model.backbone]
    new_spec = [[max(min_channels, min(ch, int(round(ch * keep)))), stride, n] for ch, stride, n in spec]
    state = {k: v.clone() for k, v in ckpt["model"].items()}
    n_layers = sum(n for _, _, n in spec)
    stages = _stage_of_layers(spec)
    prev = torch.arange(3)
    for i in range(n_layers):
        p = f"backbone.body.{i}"
        gamma = state[f"{p}.1.weight"].abs()
        idx = torch.sort(torch.topk(gamma, new_spec[stages[i]][0]).indices).values
        state[f"{p}.0.weight"] = state[f"{p}.0.weight"][idx][:, prev]
        for name in ("weight", "bias", "running_mean", "running_var"):
            state[f"{p}.1.{name}"] = state[f"{p}.1.{name}"][idx]
        prev = idx
    state["proj.0.weight"] = state["proj.0.weight"][:, prev]
    cfg.model.backbone = new_spec
    model = E2EDrivingModel(cfg, ckpt["rig"])
    model.load_state_dict(state, strict=True)                  # every tensor accounted for, shapes included
    # parameters only on both sides (conv weights, BN weight/bias); BN running statistics are buffers
    before = sum(v.numel() for k, v in ckpt["model"].items()
                 if k.startswith("backbone.") and k.endswith((".weight", ".bias")))
    after = sum(p.numel() for p in model.backbone.parameters())
    out = {k: v for k, v in ckpt.items() if k not in ("optimizer",)}
    out.update(cfg=cfg.to_dict(), model=model.state_dict(), pruned={"keep": keep, "from_backbone": spec})
    report = {"keep": keep, "backbone": {"before": spec, "after": new_spec},
              "backbone_parameters": {"before": int(before), "after": int(after)},
              "parameters": {"after": int(sum(p.numel() for p in model.parameters()))}}
    return out, report
