"""Where the open-loop planning error (UniAD L2 at 3 s) comes from, on a dataset split; prints a table.

Why: the issue's target is L2_3s <= 0.6 m. This script splits the split's frames by whether the traffic ahead
changes speed within the 3 s horizon (its real position at 3 s departs from constant velocity by > DEV m), and
fits two reference planners on the train split: the ego-status MLP baseline, and an *oracle* that also gets the
true current state of the lead vehicle (gap, lateral offset, velocity and acceleration). The oracle bounds what
any planner that sees the present perfectly, but not the future, can reach: a braking lead that has not begun to
brake is not in any frame. With --checkpoint the shipped (or any) model's planner is broken down the same way.

    python benchmarks/plan_error_breakdown.py --data DATA [--split test] [--checkpoint perception/weights/e2e.pt ...]
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LABELS = ("ego", "command", "objects", "num_objects", "future", "future_valid", "objects_future",
          "objects_future_valid")


def traffic_event(a: dict[str, np.ndarray], dev_m: float = 1.5, ahead_m: float = 60.0, corridor_m: float = 5.0
                  ) -> np.ndarray:
    """[N] bool: an object ahead (0 < x < ahead_m, |y| < corridor_m) is at 3 s more than dev_m from where constant
    velocity puts it (it brakes, accelerates or changes lane inside the horizon)."""
    o, n, of, ofv = a["objects"], a["num_objects"], a["objects_future"], a["objects_future_valid"]
    out = np.zeros(len(n), bool)
    for i in range(len(n)):
        for j in range(int(n[i])):
            x, y = o[i, j, 1], o[i, j, 2]
            if 0 < x < ahead_m and abs(y) < corridor_m and ofv[i, j, -1]:
                cv = np.array([x + 3 * o[i, j, 6], y + 3 * o[i, j, 7]])
                if np.hypot(*(of[i, j, -1, :2] - cv)) > dev_m:
                    out[i] = True
                    break
    return out


def lead_state(a: dict[str, np.ndarray], half_width_m: float = 2.0) -> np.ndarray:
    """[N, 6] true lead features: present, gap/50, lateral offset, vx/20, vy, acceleration/3 (from its true
    position 0.5 s later; 0 without a lead)."""
    o, n, of, ofv = a["objects"], a["num_objects"], a["objects_future"], a["objects_future_valid"]
    f = np.zeros((len(n), 6), np.float32)
    f[:, 1], f[:, 3] = 1.0, 1.0
    for i in range(len(n)):
        ob = o[i, :int(n[i])]
        m = (ob[:, 1] > 0) & (np.abs(ob[:, 2]) < half_width_m)
        if m.any():
            j = int(np.argmin(np.where(m, ob[:, 1], 1e9)))
            acc = 2 * (of[i, j, 0, 0] - ob[j, 1] - 0.5 * ob[j, 6]) / 0.25 if ofv[i, j, 0] else 0.0
            f[i] = [1, ob[j, 1] / 50, ob[j, 2], ob[j, 6] / 20, ob[j, 7], np.clip(acc, -8, 8) / 3]
    return f


def fit_oracle(tr: dict[str, np.ndarray], seed: int = 0, epochs: int = 200):
    """MLP on ego status + command + true lead state, same motion prior and loss as the baseline."""
    import torch
    from torch import nn

    from perception.features import EGO_SCALE
    from perception.model.network import motion_prior

    torch.manual_seed(seed)
    scale = np.array(EGO_SCALE, np.float32)

    def x_of(a):
        return torch.from_numpy(np.concatenate([a["ego"] / scale, np.eye(3, dtype=np.float32)[a["command"]],
                                                lead_state(a)], 1))

    times = torch.arange(1, 7, dtype=torch.float32) * 0.5
    net = nn.Sequential(nn.Linear(8 + 6, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 12))
    xt, ego = x_of(tr), torch.from_numpy(tr["ego"])
    fut = torch.from_numpy(tr["future"])
    val = torch.from_numpy(tr["future_valid"]).float()[..., None]
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    n, bs = len(fut), 256
    steps, k = epochs * (n // bs), 0
    for _ in range(epochs):
        perm = rng.permutation(n)
        for s in range(n // bs):
            idx = perm[s * bs:(s + 1) * bs]
            for g in opt.param_groups:
                g["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * k / steps))
            p = motion_prior(ego[idx], times, "ctrv") + net(xt[idx]).reshape(-1, 6, 2)
            loss = ((p - fut[idx]).abs() * val[idx]).sum() / (val[idx].sum() * 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            k += 1

    def predict(a):
        with torch.no_grad():
            return (motion_prior(torch.from_numpy(a["ego"]), times, "ctrv") + net(x_of(a)).reshape(-1, 6, 2)).numpy()
    return predict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--checkpoint", nargs="*", default=[], help="also break down these models' planners (torch)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from perception.baseline import train_ego_mlp
    from perception.train import load_split

    tr = load_split(args.data, "train", keys=LABELS)
    a = load_split(args.data, args.split, keys=LABELS)
    plans = {"ego-status MLP": train_ego_mlp(tr, seed=args.seed).predict(a["ego"], a["command"]),
             "oracle: ego + true lead state": fit_oracle(tr, args.seed)(a)}
    if args.checkpoint:
        from perception.model import load_model

        full = load_split(args.data, args.split, keys=("images", "ego", "command"))
        for path in args.checkpoint:
            plans[f"model {path}"] = _model_plans(load_model(path), full)
    v = a["future_valid"][:, -1].astype(bool)
    ev = traffic_event(a) & v
    calm = ~ev & v
    print(f"split {args.split}: {v.sum()} frames with a 3 s label; traffic ahead changes speed or lane within 3 s in "
          f"{ev.sum()} ({100 * ev.sum() / max(1, v.sum()):.0f} %)")
    print("| planner | L2_3s all (m) | no traffic event | traffic event | share of error from events |")
    print("|---|---|---|---|---|")
    for name, p in plans.items():
        err = np.linalg.norm(p[:, -1] - a["future"][:, -1], axis=1)
        print(f"| {name} | {err[v].mean():.3f} | {err[calm].mean():.3f} | {err[ev].mean():.3f} | "
              f"{err[ev].sum() / err[v].sum():.2f} |")
    return 0


def _model_plans(model, arrays: dict[str, np.ndarray], batch: int = 32) -> np.ndarray:
    from perception.metrics import as_predict_fn

    fn = as_predict_fn(model)[0]
    return np.concatenate([fn(arrays["images"][s:s + batch], arrays["ego"][s:s + batch],
                              arrays["command"][s:s + batch])["plan"] for s in range(0, len(arrays["ego"]), batch)])


if __name__ == "__main__":
    raise SystemExit(main())
