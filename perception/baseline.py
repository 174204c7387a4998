"""The "Is Ego Status All You Need?" (Li et al., 2024) planner: an MLP from ego status + route command to waypoints.

Why: open-loop L2 on logged driving is largely predictable from ego speed/yaw rate alone; reporting this baseline next
to the camera model shows how much the perception actually contributes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from perception.features import EGO_SCALE
from perception.model.network import motion_prior


class EgoMLP(nn.Module):
    """ego [B, EGO_DIM] + command [B] -> waypoints [B, T, 2] (offsets on the same motion prior as the main model)."""

    def __init__(self, steps: int = 6, dt: float = 0.5, hidden: int = 128, num_commands: int = 3,
                 ego_scale=EGO_SCALE, prior: str = "ctrv") -> None:
        super().__init__()
        self.steps, self.prior, self.num_commands = steps, prior, num_commands
        self.register_buffer("ego_scale", torch.tensor(ego_scale, dtype=torch.float32))
        self.register_buffer("times", torch.arange(1, steps + 1, dtype=torch.float32) * dt)
        self.net = nn.Sequential(nn.Linear(len(ego_scale) + num_commands, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, steps * 2))

    def forward(self, ego: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        x = torch.cat([ego / self.ego_scale, nn.functional.one_hot(command, self.num_commands).float()], dim=1)
        return motion_prior(ego, self.times, self.prior) + self.net(x).reshape(-1, self.steps, 2)

    def predict(self, ego: np.ndarray, command: np.ndarray) -> np.ndarray:
        self.eval()
        with torch.no_grad():
            return self(torch.from_numpy(ego.astype(np.float32)), torch.from_numpy(command.astype(np.int64))).numpy()


def train_ego_mlp(train_arrays: dict[str, np.ndarray], seed: int = 0, epochs: int = 300, batch_size: int = 256,
                  lr: float = 2e-3, **model_kw) -> EgoMLP:
    """Fit EgoMLP with masked L1 on `future` (AdamW, cosine LR); deterministic for a given seed."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = EgoMLP(steps=train_arrays["future"].shape[1], **model_kw)
    ego = torch.from_numpy(train_arrays["ego"].astype(np.float32))
    cmd = torch.from_numpy(train_arrays["command"].astype(np.int64))
    fut = torch.from_numpy(train_arrays["future"].astype(np.float32))
    val = torch.from_numpy(train_arrays["future_valid"].astype(np.float32))[..., None]
    n = len(ego)
    steps_per = max(1, (n + batch_size - 1) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per)
    model.train()
    for _ in range(epochs):
        perm = torch.from_numpy(rng.permutation(n))
        for s in range(steps_per):
            idx = perm[s * batch_size:(s + 1) * batch_size]
            pred = model(ego[idx], cmd[idx])
            loss = ((pred - fut[idx]).abs() * val[idx]).sum() / (val[idx].sum() * 2).clamp(min=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def save_ego_mlp(model: EgoMLP, path: str | Path, info: dict[str, Any]) -> Path:
    """Write the baseline with what rebuilds it (sizes, prior, ego scale) and `info` (its training data and command):
    the shipped model's baseline ships next to it, so `perception eval` compares both without the training split."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hidden = model.net[0].out_features
    torch.save({"format": "edgepilot.ego_mlp.v1", "steps": model.steps, "dt": float(model.times[0]),
                "hidden": hidden, "num_commands": model.num_commands, "prior": model.prior,
                "ego_scale": model.ego_scale.tolist(), "state_dict": model.state_dict(), "info": dict(info)}, path)
    return path


def load_ego_mlp(path: str | Path) -> tuple[EgoMLP, dict[str, Any]]:
    """(the baseline, its `info`) from save_ego_mlp's file; a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ego-status baseline not found: {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "edgepilot.ego_mlp.v1":
        raise ValueError(f"{path}: not an ego-status baseline file (expected format 'edgepilot.ego_mlp.v1', "
                         f"written by `edgepilot perception baseline`)")
    model = EgoMLP(steps=int(blob["steps"]), dt=float(blob["dt"]), hidden=int(blob["hidden"]),
                   num_commands=int(blob["num_commands"]), ego_scale=tuple(blob["ego_scale"]), prior=str(blob["prior"]))
    model.load_state_dict(blob["state_dict"])
    return model.eval(), dict(blob.get("info", {}))


def evaluate_ego_mlp(model: EgoMLP, arrays: dict[str, np.ndarray], dt: float = 0.5) -> dict[str, float]:
    """L2 at 1/2/3 s and collision rate of the baseline on a split."""
    from perception.metrics import collision_rate, l2_at

    plan = model.predict(arrays["ego"], arrays["command"])
    out = l2_at(plan, arrays["future"], arrays["future_valid"], rate_hz=1.0 / dt)
    out["collision_rate"] = collision_rate(plan, arrays["objects"], arrays["num_objects"], arrays["future_valid"], dt,
                                           arrays.get("objects_future"), arrays.get("objects_future_valid"))
    return out
