"""Where the tracked lead of a lead-input model differs from the ground truth, and what that costs its plans.

Why: `eval` feeds a lead model the lead tracked from its own detections (as the car does), so its open-loop L2
mixes planning error with tracking error. This prints
1. lead presence, tracked against ground truth (`features.lead_vector` on the split's labelled boxes), the gap
   error where both have one, and the gaps of the leads only one of them has;
2. L2 at 1/2/3 s with three lead sources: tracked (as `eval`), ground truth, none;
3. with `--resim`, for every frame with a tracked lead and no labelled one: the run is driven again from its
   scenario seed (the dataset's expert, no rendering) and the objects ahead (|y| < 3 m) are listed, so a car
   beyond the labelled BEV range tells itself apart from a false track. Needs the dataset's progress.json.

    python benchmarks/lead_sources.py --checkpoint RUN/last.pt --data DATA [--split test] [--resim [--show 20]]
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GAP_BINS = (0, 10, 20, 30, 40, 45, 50, 60)


def gap_histogram(gaps: np.ndarray) -> str:
    h, edges = np.histogram(gaps, bins=GAP_BINS)
    return ", ".join(f"{edges[i]:.0f}-{edges[i + 1]:.0f} m: {h[i]}" for i in range(len(h)))


def truth_leads(frames: dict[str, np.ndarray]) -> np.ndarray:
    from perception.features import lead_vector

    out = []
    for i in range(len(frames["ego"])):
        k = int(frames["num_objects"][i])
        boxes = frames["objects"][i, :k][:, [1, 2, 3, 4, 5, 6, 7]]      # x, y, length, width, yaw, vx, vy
        out.append(lead_vector(boxes, float(frames["ego"][i][0]), float(frames["ego"][i][2])))
    return np.stack(out)


def objects_ahead_again(data: Path, frames: dict[str, np.ndarray], idx: np.ndarray,
                        half_width_m: float = 3.0) -> dict[int, list[tuple[str, float, float]]]:
    """Each listed frame's objects ahead in base_link (class, x, y), from its run driven again by the expert."""
    from perception.data.generate import GenConfig, run_graph

    progress = data / "progress.json"
    if not progress.is_file():
        raise SystemExit(f"--resim: {progress} is missing (the generator's config re-creates the runs)")
    cfg = GenConfig.from_json(json.loads(progress.read_text())["config"])
    if cfg.dagger:
        raise SystemExit(f"--resim: {data} is a DAgger dataset (a model drove it); its runs are not re-driven here")
    by_run: dict[int, list[int]] = collections.defaultdict(list)
    for i in idx:
        by_run[int(frames["scenario_seed"][i])].append(int(i))
    found: dict[int, list[tuple[str, float, float]]] = {}
    for seed, rows in sorted(by_run.items()):
        with tempfile.TemporaryDirectory(prefix="edgepilot_lead_") as tmp:
            graph = run_graph(cfg, seed, Path(tmp))          # as the generator drove it
            try:
                sim = graph.sim.sim
                for i in sorted(rows, key=lambda j: frames["t"][j]):
                    graph.spin_until(float(frames["t"][i]))
                    found[i] = sorted(((o.cls, round(o.x, 1), round(o.y, 1)) for o in sim.objects_base_link()
                                       if o.x > 0 and abs(o.y) < half_width_m), key=lambda o: o[1])
            finally:
                graph.close()
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="a checkpoint whose planner takes the lead (model.plan_lead)")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--resim", action="store_true", help="drive the runs again to see what the extra leads are")
    ap.add_argument("--show", type=int, default=0, help="with --resim, print this many extra-lead frames")
    a = ap.parse_args(argv)

    from perception.data.reader import open_dataset
    from perception.driving import tracked_first_pass
    from perception.features import no_lead
    from perception.metrics import as_predict_fn, l2_at
    from perception.model import load_model

    model = load_model(a.checkpoint).eval()
    if not model.cfg.plan_lead:
        raise SystemExit(f"{a.checkpoint}: its planner takes no lead input (train it with `train-planner --lead`)")
    ds = open_dataset(a.data)
    frames = ds.load_split(a.split)
    fn, mcfg = as_predict_fn(model)
    _, tracked = tracked_first_pass(fn, frames, list(ds.meta["classes"]), mcfg.bev_range, mcfg.vel_scale)
    truth = truth_leads(frames)
    n = len(truth)
    tp, gp = tracked[:, 0] > 0, truth[:, 0] > 0
    print(f"{a.split}: {n} frames; lead present: tracked {tp.mean():.1%}, ground truth {gp.mean():.1%}, both "
          f"{np.mean(tp & gp):.1%}, tracked only {np.mean(tp & ~gp):.1%}, ground truth only {np.mean(~tp & gp):.1%}")
    both = tp & gp
    if both.any():
        d = tracked[both, 1] - truth[both, 1]
        print(f"both: gap error median {np.median(d):+.2f} m, |error| median {np.median(np.abs(d)):.2f} m, "
              f"p90 {np.percentile(np.abs(d), 90):.2f} m; |vx error| median "
              f"{np.median(np.abs(tracked[both, 3] - truth[both, 3])):.2f} m/s")
    extra = np.where(tp & ~gp)[0]
    print(f"tracked only, by tracked gap: {gap_histogram(tracked[extra, 1])}")
    print(f"ground truth only, by true gap: {gap_histogram(truth[~tp & gp, 1])}")
    print(f"\n{'lead fed to the planner':26s} {'L2_1s':>7s} {'L2_2s':>7s} {'L2_3s':>7s}")
    for name, lead in (("tracked (as eval)", tracked), ("ground truth", truth), ("none", np.tile(no_lead(), (n, 1)))):
        plans = [fn(frames["images"][s:s + 32], frames["ego"][s:s + 32], frames["command"][s:s + 32],
                    lead=lead[s:s + 32])["plan"] for s in range(0, n, 32)]
        r = l2_at(np.concatenate(plans), frames["future"], frames["future_valid"])
        print(f"{name:26s} {r['L2_1s']:7.3f} {r['L2_2s']:7.3f} {r['L2_3s']:7.3f}")
    if a.resim and extra.size:
        x_max = float(mcfg.bev_range[1])
        ahead = objects_ahead_again(Path(a.data), frames, extra)
        kinds = collections.Counter()
        for k, i in enumerate(extra):
            objs = ahead[int(i)]
            kind = ("object beyond the labelled range" if any(o[1] > x_max for o in objs) else
                    "nothing ahead" if not objs else "object ahead inside the range, no labelled lead")
            kinds[kind] += 1
            if k < a.show:
                print(f"run {int(frames['scenario_seed'][i])} t {float(frames['t'][i]):5.1f} s: tracked gap "
                      f"{tracked[i, 1]:5.1f} m, y {tracked[i, 2]:+.1f} m, vx {tracked[i, 3]:4.1f} m/s | ahead "
                      f"{objs[:3]}")
        print(f"\n{extra.size} frames with a tracked lead and no labelled one (re-driven, objects with |y| < 3 m):")
        for kind, c in kinds.most_common():
            print(f"  {kind:50s} {c:4d}  {c / extra.size:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
