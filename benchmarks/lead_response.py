"""How much the planner of a lead-input model (`train-planner --lead`) reacts to the tracked lead.

Why: a planner can take the tracked lead as an input and still ignore it (behaviour cloning lets the measured
acceleration explain the expert's braking: the copycat problem). This holds the images and ego status fixed and
sweeps the `lead` input over leads a driver must react to, printing the planned distance at 1/2/3 s and the mean
deceleration it implies. A planner that uses the input plans much shorter for a slow lead 15 m ahead than for an
empty road.

    python benchmarks/lead_response.py --checkpoint RUN/best.pt --data DATA [--speed 19] [--frame 20]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (what, lead vector: present, gap m, lateral m, vx m/s over ground, vy m/s)
LEADS = (("no lead", None),
         ("same speed, 40 m", (1.0, 40.0, 0.0, "v", 0.0)),
         ("11 m/s, 40 m", (1.0, 40.0, 0.0, 11.0, 0.0)),
         ("11 m/s, 25 m", (1.0, 25.0, 0.0, 11.0, 0.0)),
         ("5 m/s, 15 m", (1.0, 15.0, 0.0, 5.0, 0.0)),
         ("stopped, 8 m", (1.0, 8.0, 0.0, 0.0, 0.0)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="a checkpoint whose planner takes the lead (model.plan_lead)")
    ap.add_argument("--data", required=True, help="dataset directory: the images of one validation frame are used")
    ap.add_argument("--split", default="val")
    ap.add_argument("--frame", type=int, default=20)
    ap.add_argument("--speed", type=float, default=19.0, help="ego speed m/s (accel, yaw rate, wheel 0)")
    ap.add_argument("--set-speed", type=float, default=27.8, help="ACC set speed m/s")
    a = ap.parse_args(argv)

    import torch

    from perception.features import no_lead
    from perception.model import load_model
    from perception.train import load_split

    model = load_model(a.checkpoint)
    if not model.cfg.plan_lead:
        print(f"{a.checkpoint}: this model's planner has no lead input (train it with train-planner --lead)")
        return 2
    frames = load_split(a.data, a.split, keys=("images",), limit=a.frame + 1)
    if a.frame >= len(frames["images"]):
        print(f"{a.data}/{a.split} has {len(frames['images'])} frames, --frame {a.frame} is past the end")
        return 2
    imgs = torch.from_numpy(frames["images"][a.frame:a.frame + 1])
    ego = torch.tensor([[a.speed, 0.0, 0.0, 0.0, a.set_speed]], dtype=torch.float32)
    cmd = torch.zeros(1, dtype=torch.long)
    dt = model.cfg.future_dt
    steps = [int(round(s / dt)) - 1 for s in (1.0, 2.0, 3.0)]
    print(f"{a.checkpoint}: ego {a.speed:.1f} m/s, images of {a.split} frame {a.frame}")
    print(f"{'lead':<20} {'x@1s m':>8} {'x@2s m':>8} {'x@3s m':>8} {'mean accel m/s2':>16}")
    for name, lead in LEADS:
        vec = no_lead() if lead is None else np.array([a.speed if v == "v" else v for v in lead], np.float32)
        with torch.no_grad():
            plan = model(imgs, ego, cmd, torch.from_numpy(vec[None])).plan[0, :, 0].numpy()
        t = (steps[-1] + 1) * dt
        acc = 2.0 * (plan[steps[-1]] - a.speed * t) / t ** 2
        print(f"{name:<20} " + " ".join(f"{plan[s]:8.1f}" for s in steps) + f" {acc:16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
