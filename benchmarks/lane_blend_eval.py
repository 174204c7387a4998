"""Open-loop effect of the lane blend (perception/lanes.py) on a dataset split; prints a table.

Mean lateral error of the plan at 1/2/3 s against the expert's path, raw and blended with the lane centre fitted
on the model's own lane-line mask and on the ground-truth mask, and on the frames where the raw plan is off by
more than 0.5 m at 3 s (curves, mostly); then how closely the lane fitted on the model's mask follows the one on
the ground truth (offset at the car, centre at 20 m, curvature).

    python benchmarks/lane_blend_eval.py --data DATA [--split test] [--model perception/weights/e2e_fp32.onnx]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--model", default=None, help="ONNX driving model (default: the shipped FP32 one)")
    ap.add_argument("--weight", type=float, default=1.0, help="blend weight (default 1)")
    args = ap.parse_args(argv)

    from perception.driving import DEFAULT_MODEL
    from perception.lanes import blend_plan, lane_centre
    from perception.runtime import OnnxRuntimeBackend, model_metadata
    from perception.train import load_split

    model = Path(args.model) if args.model else Path(DEFAULT_MODEL)
    bev = tuple(float(v) for v in model_metadata(model)["model_config"]["bev_range"])
    a = load_split(args.data, args.split)
    backend = OnnxRuntimeBackend(model, threads=2)
    plans, masks = [], []
    for s in range(0, len(a["ego"]), 16):
        out = backend.run(a["images"][s:s + 16], a["ego"][s:s + 16], a["command"][s:s + 16])
        plans.append(out["plan"])
        masks.append(out["seg_logits"][:, 0] > 0)
    plan, pred = np.concatenate(plans), np.concatenate(masks)
    fut, valid = a["future"], a["future_valid"][:, -1].astype(bool)
    hard = valid & (np.abs(fut[:, -1, 1] - plan[:, -1, 1]) > 0.5)
    res = (bev[1] - bev[0]) / pred.shape[1]
    print(f"split {args.split}: {valid.sum()} frames with a 3 s label, {hard.sum()} with > 0.5 m lateral error at 3 s")
    print("| plan | lanes fitted | lateral error 1 / 2 / 3 s (m) | same, hard frames |")
    print("|---|---|---|---|")
    rows = [("raw", plan, len(plan))]
    centres = {}
    for name, m in (("blended, model lane mask", pred), ("blended, ground-truth lane mask", a["bev_masks"][:, 0] > 0)):
        lanes = centres[name] = [lane_centre(m[i], bev, res) for i in range(len(plan))]
        rows.append((name, np.array([blend_plan(plan[i], lanes[i], args.weight) for i in range(len(plan))]),
                     sum(x is not None for x in lanes)))
    idx = [1, 3, 5]
    for name, p, fitted in rows:
        e = np.abs(p[:, :, 1] - fut[:, :, 1])
        print(f"| {name} | {fitted} | {' / '.join(f'{v:.3f}' for v in e[valid][:, idx].mean(0))} | "
              f"{' / '.join(f'{v:.3f}' for v in e[hard][:, idx].mean(0))} |")
    # how far the lane the model draws follows the car's real place in its lane: least-squares slope of the
    # centre fitted on the model's mask against the one fitted on the ground-truth mask (1 = follows it, 0 = the
    # model draws the lane around the car wherever it is)
    both = [(g, p) for p, g in zip(*centres.values()) if p is not None and g is not None]
    print(f"\nlane centre on the model's mask vs on the ground truth ({len(both)} frames with both):")
    # the signed mean shows a bias to one side, which a closed loop integrates into a drift (MODEL.md, "A wider model")
    print("| quantity | ground-truth spread (std) | slope | mean abs difference | mean difference (model - truth) |")
    print("|---|---|---|---|---|")
    for label, f in (("offset at the car (x = 0)", lambda l: l.y_at(0.0)), ("centre at x = 20 m", lambda l: l.y_at(20.0)),
                     ("curvature (1/m)", lambda l: 2 * l.coeffs[0])):
        g, p = np.array([f(x) for x, _ in both]), np.array([f(y) for _, y in both])
        slope = float(np.polyfit(g, p, 1)[0]) if g.std() > 0 else float("nan")
        print(f"| {label} | {g.std():.4f} | {slope:.3f} | {np.abs(g - p).mean():.4f} | {(p - g).mean():+.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
