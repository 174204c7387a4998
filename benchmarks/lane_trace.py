"""The lane the e2e driver blends its plan onto, frame by frame, in one closed-loop run.

    python benchmarks/lane_trace.py SCENARIO_OR_SUITE_TEST [--model ONNX] [--every 0.5]

Why: `closed_loop_trace.py` shows that a car drifts and what plan it followed; this shows whether the lane behind
that plan was wrong. One row every --every seconds of simulation time: the tracked lane centre
(`perception.lanes.LaneTracker`, what `plan_lane_blend` uses) and the one-frame fit on the same mask
(`lane_centre`), each as its lateral position at the car (x = 0) and 20 m ahead, the lane width and the
boundaries seen, and the mask's lane-line pixels. Compare with the ground-truth offset in `closed_loop_trace.py`'s
table: a centred car has the lane centre at 0; a car 1 m left of the centre should see it at -1 m.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario")
    ap.add_argument("--model", default=None)
    ap.add_argument("--every", type=float, default=0.5, help="seconds of simulation time between rows")
    args = ap.parse_args(argv)

    from closed_loop_trace import scenario_source

    import perception.lanes as lanes
    from edgepilot.runner import RunRequest, run_scenario

    rows = []
    update = lanes.LaneTracker.update

    def logged(self, t, mask, speed, yaw_rate):      # instrument the tracker the perception node runs in-process
        out = update(self, t, mask, speed, yaw_rate)
        one = lanes.lane_centre(mask, self.bev_range, self.res)
        rows.append((t, out, one, int(mask.sum())))
        return out

    lanes.LaneTracker.update = logged
    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_scenario(RunRequest(scenario_source(args.scenario, Path(tmp)), driver="e2e", log_level="error",
                                        out_dir=str(Path(tmp) / "out"), model_path=args.model))
    finally:
        lanes.LaneTracker.update = update
    if not rows:
        raise SystemExit("no lane updates were logged: is plan_lane_blend 0 for this run?")

    def cell(lane) -> str:
        return "-" if lane is None else \
            f"{lane.y_at(0.0):+6.2f} {lane.y_at(20.0):+6.2f} {lane.width_m:5.2f} {lane.sides:>2d}"

    print(f"{'PASS' if r['passed'] else 'FAIL'}, max lane departure {r['max_lane_departure_m']:.2f} m")
    print(f"{'t s':>5}  {'tracked: y@0   y@20  width sides':33s} {'one frame: y@0   y@20  width sides':35s} px")
    next_t = -1.0
    for t, tracked, one, px in rows:
        if t + 1e-9 < next_t:
            continue
        next_t = t + args.every
        print(f"{t:5.1f}  {cell(tracked):33s} {cell(one):35s} {px}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
