"""Which frames make the open-loop collision rate, and why: one row per planned trajectory that hits a GT box.

    python benchmarks/open_loop_collisions.py --checkpoint perception/weights/e2e.pt --data DATA [--split test]
        [--json]

Why: `perception eval` gives collision_rate as a percentage of a few hundred frames, where one frame is 0.17
points; to change it one has to know what each hit was. Per colliding frame: the run (scenario seed) and time,
the ego speed, what was hit (class; where it was at the image time, base_link; its speed), when (waypoint time),
the plan against the expert's trajectory at that time, the tracked `lead` input the planner was fed (lead models),
whether the expert's own trajectory hits something too, and a cause read from the geometry:

* `reverses`  the plan moves backwards (below -0.5 m at its last waypoint; a car in D cannot);
* `ahead`     the plan is more than 1 m further along than the expert at the hit (did not slow or stop);
* `lateral`   the plan is more than 0.5 m beside the expert's path at the hit (drifted towards the object);
* `expert`    the expert's trajectory hits too (a label the model cannot beat);
* `other`     none of these.

The last line is one JSON object with the rows (`--json` prints only that).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def cause(plan: np.ndarray, expert: np.ndarray, k: int, expert_hits: bool) -> str:
    """The geometric reading of one hit at waypoint k (module docstring)."""
    if expert_hits:
        return "expert"
    if plan[-1, 0] < -0.5:
        return "reverses"
    if plan[k, 0] - expert[k, 0] > 1.0:
        return "ahead"
    if abs(plan[k, 1] - expert[k, 1]) > 0.5:
        return "lateral"
    return "other"


def collision_rows(checkpoint: Path, data: Path, split: str = "test") -> tuple[list[dict], int]:
    """(one dict per colliding frame, frames in the split)."""
    from perception.metrics import CLASSES, as_predict_fn, collision_hits, predict_split
    from perception.model import load_model
    from perception.train import load_split

    model = load_model(checkpoint)
    arrays = load_split(data, split)
    fn, mcfg = as_predict_fn(model)
    _, plan, _, leads = predict_split(fn, arrays, mcfg)
    common = (arrays["objects"], arrays["num_objects"], arrays["future_valid"], mcfg.future_dt,
              arrays.get("objects_future"), arrays.get("objects_future_valid"))
    expert_hit = {i for i, _, _ in collision_hits(arrays["future"], *common)}
    rows = []
    for i, k, j in collision_hits(plan, *common):
        o = arrays["objects"][i, j]
        row = {"frame": int(i), "scenario_seed": int(arrays["scenario_seed"][i]) if "scenario_seed" in arrays else -1,
               "t_s": round(float(arrays["t"][i]), 2) if "t" in arrays else None,
               "ego_kph": round(float(arrays["ego"][i][0]) * 3.6, 1), "hit_s": round((k + 1) * mcfg.future_dt, 2),
               "object": CLASSES[int(o[0])], "object_xy": [round(float(o[1]), 2), round(float(o[2]), 2)],
               "object_kph": round(float(np.hypot(o[6], o[7])) * 3.6, 1),
               "plan_xy": [round(float(v), 2) for v in plan[i, k]],
               "expert_xy": [round(float(v), 2) for v in arrays["future"][i, k]],
               "plan_end_x": round(float(plan[i, -1, 0]), 2),
               "lead": None if leads is None else [round(float(v), 2) for v in leads[i]],
               "cause": cause(plan[i], arrays["future"][i], k, i in expert_hit)}
        rows.append(row)
    return rows, len(arrays["ego"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--json", action="store_true", help="only the JSON line")
    args = ap.parse_args(argv)
    rows, n = collision_rows(Path(args.checkpoint), Path(args.data), args.split)
    if not args.json:
        print(f"{len(rows)} of {n} planned trajectories hit a GT box ({100.0 * len(rows) / max(n, 1):.3f} %)")
        print(f"{'frame':>5s} {'seed':>8s} {'t s':>5s} {'km/h':>5s} {'hit s':>5s} {'object':>9s} {'obj x,y m':>13s} "
              f"{'obj km/h':>8s} {'plan x,y':>13s} {'expert x,y':>13s} {'cause':>8s}  lead (present, gap, y, vx, vy)")
        for r in rows:
            xy = lambda v: f"{v[0]:6.1f},{v[1]:6.2f}"   # noqa: E731 - a column format
            print(f"{r['frame']:5d} {r['scenario_seed']:8d} {r['t_s'] if r['t_s'] is not None else '-':>5} "
                  f"{r['ego_kph']:5.1f} {r['hit_s']:5.1f} {r['object']:>9s} {xy(r['object_xy']):>13s} "
                  f"{r['object_kph']:8.1f} {xy(r['plan_xy']):>13s} {xy(r['expert_xy']):>13s} {r['cause']:>8s}  "
                  f"{r['lead'] if r['lead'] is not None else '-'}")
    print(json.dumps({"frames": n, "collisions": len(rows), "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
