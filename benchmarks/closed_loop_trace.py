"""Frame-by-frame trace of one closed-loop run: what the car did and what the plan it followed said.

    python benchmarks/closed_loop_trace.py SCENARIO_OR_TEST [--driver e2e|classical] [--model ONNX]
        [--every 0.5] [--param NODE.NAME=VALUE ...] [--lanes] [--no-fallback] [--tracks]

SCENARIO_OR_TEST: a library name or YAML path (`edgepilot scenario list`), a driving-suite test id as the suite
prints it (`curve:radius_m=250,kph=60,side=right`) or a Euro NCAP test id (`ccrb_2mps2_12m`). Why: a suite or
NCAP row says that a run failed; this table says when and how (e.g. the plan's lateral position swinging at a
curve entry). One row every --every seconds of simulation time: speed, steering wheel angle, offset from the
start lane's centre and heading error (ground truth), road curvature, gap to the nearest actor ahead in the lane,
and the plan's longitudinal and lateral positions at 1, 2 and 3 s (e2e driver). --lanes adds the lane the e2e
driver blends its plan onto (the perception node's `perception.lanes.LaneTracker`): its centre's lateral position
at the car and 20 m ahead. A car centred in its lane sees the centre at 0; a car 1 m left of centre (offset +1)
should see it at -1. --no-fallback: the AEB brakes on the model's own tracks (as `ncap run --no-fallback`).
--tracks adds what that AEB sees: the nearest confirmed track ahead within 1.8 m of the car's axis (x in
base_link, i.e. from the rear axle, its speed over ground and, from a constant-acceleration tracker, its
acceleration) next to the true speed of the nearest actor ahead in the lane; a track speed that lags the actor's
is an AEB that brakes late.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def scenario_source(name: str, tmp: Path) -> str:
    """A library name / YAML path as is; a suite or NCAP test id written out as a YAML file in tmp."""
    import yaml

    if ":" not in name:
        from vehicle_sim import ncap

        try:
            point = ncap.find_point(name)
        except KeyError:
            return name
        path = tmp / f"{point.scenario_name}.yaml"
        path.write_text(yaml.safe_dump(ncap.scenario_dict(point), sort_keys=False))
        return str(path)
    from vehicle_sim import suite

    try:
        point = suite.find_point(name)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    path = tmp / f"{point.scenario_name}.yaml"
    path.write_text(yaml.safe_dump(suite.scenario_dict(point), sort_keys=False))
    return str(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--driver", default="e2e", choices=["e2e", "classical"])
    ap.add_argument("--model", default=None)
    ap.add_argument("--every", type=float, default=0.5, help="seconds of simulation time between rows")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE")
    ap.add_argument("--lanes", action="store_true", help="add the tracked lane centre at 0 and 20 m (e2e driver)")
    ap.add_argument("--no-fallback", dest="fallback", action="store_false",
                    help="e2e driver: the AEB brakes on the model's own tracks, not the sim's object list")
    ap.add_argument("--tracks", action="store_true",
                    help="add the nearest AEB track ahead (x, km/h, acceleration) and the true speed of the actor "
                         "ahead")
    args = ap.parse_args()

    from edgepilot.cli import _params
    from edgepilot.runner import RunRequest, build_lockstep_graph

    with tempfile.TemporaryDirectory() as tmp:
        req = RunRequest(scenario_source(args.scenario, Path(tmp)), driver=args.driver, seed=args.seed,
                         log_level="error", out_dir=Path(tmp) / "out", extra_params=_params(args.param, "lockstep"),
                         model_path=Path(args.model) if args.model else None, e2e_fallback_aeb=args.fallback)
        graph = build_lockstep_graph(req)
        world = graph.sim.sim.world
        adas = next(n for n in graph.nodes if n.get_name() == "adas")
        perception = next((n for n in graph.nodes if n.get_name() == "perception"), None)
        for flag, on in (("--lanes", args.lanes), ("--tracks", args.tracks)):
            if on and perception is None:
                raise SystemExit(f"{flag} needs the e2e driver (no perception node in this run)")
        print(f"{'t s':>5s} {'km/h':>6s} {'wheel °':>8s} {'offset m':>8s} {'head rad':>8s} {'k 1/m':>8s} "
              f"{'gap m':>6s}  plan x@1/2/3 s | y@1/2/3 s" + ("  | lane y@0 y@20" if args.lanes else "")
              + ("  | trk x m trk km/h trk ax lead km/h" if args.tracks else ""))
        t = 0.0
        try:
            while graph.sim.result is None and t < graph.sim.sim.scenario.duration_s:
                t += args.every
                graph.spin_until(t)
                e, lane = world.ego_state, world.lane_geometry()
                ahead = sorted((a.s - world.ego_s, a.v) for a in world.actors
                               if a.s > world.ego_s and abs(a.d - world.ego_d) < 1.8)
                gap = f"{ahead[0][0]:6.1f}" if ahead else f"{'-':>6s}"
                plan = getattr(adas, "plan", None)
                cols = ""
                if plan is not None:
                    pts = plan.points[1::2]          # 1, 2 and 3 s of the 0.5 s waypoints
                    cols = " ".join(f"{q[0]:5.1f}" for q in pts) + " | " + " ".join(f"{q[1]:5.2f}" for q in pts)
                if args.lanes:
                    tracker = perception.driver.lane_tracker
                    lc = tracker.lane if tracker is not None else None
                    cols += " | " + (f"{lc.y_at(0.0):+6.2f} {lc.y_at(20.0):+6.2f}" if lc is not None else "     -      -")
                if args.tracks:
                    drv = perception.driver
                    mot = drv.aeb_tracker if drv.aeb_tracker is not None else drv.tracker
                    trk = min(((tr.x[0], tr.x[2], (tr.accel or (float("nan"),))[0]) for tr in mot.confirmed()
                               if tr.x[0] > 0 and abs(tr.x[1]) < 1.8), default=None)
                    cols += " | " + (f"{trk[0]:6.1f} {trk[1] * 3.6:7.1f} {trk[2]:6.1f}" if trk is not None
                                     else "     -       -      -") \
                        + (f" {ahead[0][1] * 3.6:8.1f}" if ahead else "        -")
                print(f"{t:5.1f} {e.speed * 3.6:6.1f} {e.steering_wheel_angle_deg:8.2f} {lane.lateral_offset_m:8.2f} "
                      f"{lane.heading_error_rad:8.3f} {lane.curvature_1pm:8.4f} {gap}  {cols}", flush=True)
        finally:
            graph.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
