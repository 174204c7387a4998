"""The `edgepilot` command line: one entry point, a subcommand per job.

Each subcommand's implementation lives in its package (canbus.cli, edgepilot.ros.launch, edgepilot.runner);
this module only wires argparse together and keeps imports lazy so `--help` stays fast.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _cmd_scenario_list(args: argparse.Namespace) -> int:
    from vehicle_sim.scenario import list_scenarios

    for name in list_scenarios():
        print(name)
    return 0


def _say(text: str) -> tuple[float, str]:
    t, sep, utterance = text.partition(":")
    try:
        if not sep or not utterance.strip():
            raise ValueError
        return float(t), utterance.strip()
    except ValueError:
        raise ValueError(f"--say {text!r}: expected SECONDS:TEXT, e.g. '2.5:open my window'") from None


#: nodes whose parameters `scenario run --param` may set (the lockstep graph passes them on)
PARAM_NODES = ("sim", "adas", "perception", "cockpit")


def _params(items: list[str], mode: str) -> dict[str, dict]:
    """`--param NODE.NAME=VALUE` (repeatable) -> {node: {name: value}}; VALUE is read as YAML (1.0, false, text)."""
    import yaml

    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--param {item!r}: expected NODE.NAME=VALUE, e.g. perception.plan_lane_blend=0.0")
        if node not in PARAM_NODES:
            raise ValueError(f"--param {item!r}: unknown node {node!r} (choose {', '.join(PARAM_NODES)})")
        out.setdefault(node, {})[name] = yaml.safe_load(value)
    if out and mode != "lockstep":
        raise ValueError("--param works in lockstep mode; in realtime mode set the parameter in "
                         "ros_ws/src/edgepilot_nodes/config/<node>.yaml")
    return out


def _cmd_scenario_run(args: argparse.Namespace) -> int:
    from edgepilot.runner import RunRequest, format_summary, run_scenario

    result = run_scenario(
        RunRequest(scenario=args.scenario, driver=args.driver, seed=args.seed, mode=args.mode,
                   extra_params=_params(args.param, args.mode),
                   out_dir=Path(args.out), cameras=args.cameras,
                   can_log=Path(args.can_log) if args.can_log else None,
                   e2e_fallback_aeb=args.fallback, e2e_model_aeb=args.model_aeb,
                   model_path=Path(args.model) if args.model else None,
                   cockpit_script=tuple(_say(s) for s in args.say), cockpit_speech=args.speech,
                   bag=Path(args.bag) if args.bag else None)
    )
    print(format_summary(result))
    for turn in result.get("cockpit", []):
        print(f"cockpit t={turn['stamp_s']:.1f} s: {turn.get('heard', turn['said'])!r} -> {turn['reply']}"
              f"{'  [CAN ' + ' '.join(turn['frames']) + ']' if turn['frames'] else ''}")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0 if result.get("passed") else 1


def _cmd_ncap_run(args: argparse.Namespace) -> int:
    from edgepilot.runner import run_ncap

    report = run_ncap(protocol=args.protocol, driver=args.driver, seed=args.seed, workers=args.workers,
                      out_dir=Path(args.out) if args.out else None, speeds=args.speeds,
                      e2e_fallback_aeb=args.fallback, e2e_model_aeb=args.model_aeb,
                      model_path=Path(args.model) if args.model else None,
                      extra_params=_params(args.param, "lockstep"))
    print(report["table"])
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "table"}, sort_keys=True))
    return 0


def _cmd_scenario_suite(args: argparse.Namespace) -> int:
    from edgepilot.runner import run_suite

    report = run_suite(families=args.family, driver=args.driver, seed=args.seed, workers=args.workers,
                       out_dir=Path(args.out) if args.out else None, e2e_fallback_aeb=args.fallback,
                       e2e_model_aeb=args.model_aeb, model_path=Path(args.model) if args.model else None,
                       extra_params=_params(args.param, "lockstep"), progress=True)
    print(report["table"])
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "table"}, sort_keys=True))
    return 0 if report["summary"]["passed"] == report["summary"]["runs"] else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from edgepilot.runner import run_demo

    return run_demo(out_dir=Path(args.out), mode=args.mode, driver=args.driver, e2e_fallback_aeb=args.fallback,
                    model_path=Path(args.model) if args.model else None, e2e_model_aeb=args.model_aeb)


def _add_driver_args(p: argparse.ArgumentParser, default: str = "classical") -> None:
    from edgepilot.runner import DRIVERS

    p.add_argument("--driver", default=default, choices=list(DRIVERS),
                   help=f"who drives: the classical ADAS or the end-to-end model (e2e) (default: {default})")
    p.add_argument("--no-fallback", dest="fallback", action="store_false",
                   help="driver e2e: no AEB on the sim's independent object list; the AEB then watches the "
                        "model's own tracks (unless --no-model-aeb)")
    p.add_argument("--no-model-aeb", dest="model_aeb", action="store_false",
                   help="driver e2e with --no-fallback: no AEB at all (only the plan can slow the car)")
    p.add_argument("--model", default=None, metavar="ONNX",
                   help="driver e2e: the driving model (default: perception/weights/e2e_fp32.onnx)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgepilot",
        description="EdgePilot: simulator, CAN vehicle interface, ADAS and AI models as ROS 2 nodes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # scenario
    p_scen = sub.add_parser("scenario", help="list and run simulator scenarios",
                            description="List the scenario library or run one scenario closed-loop.")
    scen_sub = p_scen.add_subparsers(dest="scenario_command", metavar="ACTION")
    scen_sub.required = True
    p = scen_sub.add_parser("list", help="list the scenario library, one name per line",
                            description="Print the names of the scenarios under vehicle_sim/scenarios/.")
    p.set_defaults(func=_cmd_scenario_list)
    p = scen_sub.add_parser("run", help="run one scenario closed-loop and print a summary",
                            description="Run one scenario with the full node graph (sim, can_bridge, adas, "
                                        "safety) and write a JSON report and a PNG plot.")
    p.add_argument("scenario", help="scenario name from `edgepilot scenario list` or a path to a YAML file")
    _add_driver_args(p)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's seed)")
    p.add_argument("--mode", default="lockstep", choices=["lockstep", "realtime"],
                   help="lockstep: all nodes in one process on simulation time (deterministic); "
                        "realtime: one process per node over DDS and UDP-multicast CAN")
    p.add_argument("--out", default="out", help="output directory for report.json and plot.png")
    p.add_argument("--cameras", action="store_true", help="render and publish the camera images")
    p.add_argument("--can-log", default=None, metavar="FILE",
                   help="record the vehicle CAN bus to FILE (.log candump, .asc or .blf; lockstep mode)")
    p.add_argument("--bag", default=None, metavar="DIR",
                   help="record every topic to a rosbag2 bag (MCAP, zstd; lockstep mode, stamped with sim time)")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON object on the last line of standard output")
    p.add_argument("--say", action="append", default=[], metavar="T:TEXT",
                   help="the cockpit node hears TEXT at simulation time T seconds (repeatable; lockstep mode)")
    p.add_argument("--speech", action="store_true",
                   help="with --say: speak the utterances (espeak-ng) through the voice pipeline")
    p.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                   help="override a node parameter for this run (repeatable; lockstep mode), e.g. "
                        "perception.plan_lane_blend=0.0; nodes: " + ", ".join(PARAM_NODES))
    p.set_defaults(func=_cmd_scenario_run)
    from vehicle_sim.suite import FAMILIES

    p = scen_sub.add_parser("suite", help="run the driving suite (a closed-loop grid) and print a table",
                            description="Run the driving suite: a grid of everyday ADAS situations (ACC "
                                        "following, a lead braking to a stop, cut-ins from either side, curves, "
                                        "stopped obstacles) as independent lockstep runs in parallel worker "
                                        "processes; one row per run, passed/run per family. Exit status 1 when "
                                        "any run fails. Families and pass criteria: vehicle_sim/suite.py.")
    p.add_argument("--family", default="all",
                   help=f"comma-separated families: {', '.join(FAMILIES)} (default: all)")
    _add_driver_args(p)
    p.add_argument("--seed", type=int, default=0, help="random seed for every run")
    p.add_argument("--workers", type=int, default=None, help="parallel worker processes (default: CPUs)")
    p.add_argument("--out", default=None, help="write each run's report and plot under this directory")
    p.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                   help="override a node parameter in every run (repeatable), e.g. perception.plan_lane_blend=0.0")
    p.add_argument("--json", action="store_true",
                   help="print the results as one JSON object on the last line of standard output")
    p.set_defaults(func=_cmd_scenario_suite)

    # ncap
    p_ncap = sub.add_parser("ncap", help="run Euro NCAP protocol grids",
                            description="Run Euro NCAP AEB test grids and score them.")
    ncap_sub = p_ncap.add_subparsers(dest="ncap_command", metavar="ACTION")
    ncap_sub.required = True
    p = ncap_sub.add_parser("run", help="run a protocol grid and print each point and the score",
                            description="Run every test point of a protocol grid (independent runs, in "
                                        "parallel worker processes) and print a table with the NCAP score.")
    p.add_argument("--protocol", default="ccrs",
                   choices=["ccrs", "ccrm", "ccrb", "cpna", "cpfa", "cbla", "all"], help="protocol grid")
    _add_driver_args(p)
    p.add_argument("--seed", type=int, default=0, help="random seed for every run")
    p.add_argument("--workers", type=int, default=None, help="parallel worker processes (default: CPUs)")
    p.add_argument("--speeds", default=None,
                   help="comma-separated VUT speeds in km/h to run a subset of the grid (default: all)")
    p.add_argument("--out", default=None, help="write each run's report and plot under this directory")
    p.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                   help="override a node parameter in every run (repeatable), e.g. "
                        "perception.aeb_tracker_accel_state=true")
    p.add_argument("--json", action="store_true",
                   help="print the results as one JSON object on the last line of standard output")
    p.set_defaults(func=_cmd_ncap_run)

    # can
    from canbus.cli import add_parser as add_can_parser

    add_can_parser(sub)

    # perception
    from perception.cli import add_parser as add_perception_parser

    add_perception_parser(sub)

    # cockpit
    from cockpit.cli import add_parser as add_cockpit_parser

    add_cockpit_parser(sub)

    # launch
    from edgepilot.ros.launch import add_parser as add_launch_parser

    add_launch_parser(sub)

    # topic, node (ros2 topic / ros2 node over DDS)
    from edgepilot.ros.tools import add_parser as add_graph_parser

    add_graph_parser(sub)

    # demo
    p = sub.add_parser("demo", help="run the representative demo set and write reports to out/",
                       description="Run one CCRs, one CCRb, the cut-in and one CPNA scenario in real-time mode "
                                   "(one process per node), driven by the end-to-end model with the classical AEB "
                                   "as fallback, and write reports and plots.")
    p.add_argument("--out", default="out", help="output directory")
    p.add_argument("--mode", default="realtime", choices=["lockstep", "realtime"], help="execution mode")
    _add_driver_args(p, default="e2e")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError, LookupError) as exc:
        # Bad input (scenario file, bus spec, CAN log, parameter): one clear line, no traceback.
        print(f"edgepilot: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # `edgepilot can decode x.log | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
