"""Lockstep real-time factor: simulated seconds per wall-clock second, full node graph, with and without cameras.

    python benchmarks/sim_bench.py [--scenario cut_in] [--seconds 10]
"""
from __future__ import annotations

import argparse
import time

from edgepilot.ros.lockstep import LockstepExecutor
from edgepilot.runner import GROUND_TRUTH_REMAPS, _ros_args
from edgepilot_nodes.adas_node import AdasNode
from edgepilot_nodes.can_bridge_node import CanBridgeNode
from edgepilot_nodes.safety_node import SafetyNode
from edgepilot_nodes.sim_node import SimNode
from vehicle_sim.scenario import load_scenario
from vehicle_sim.simulator import Simulator


def graph_rtf(scenario: str, seconds: float, cameras: bool) -> float:
    ex = LockstepExecutor()
    bus = f"virtual:bench-{cameras}"
    params = {"scenario": scenario, "can_bus": bus, "cameras": cameras, "exit_on_finish": False}
    nodes = [SimNode(context=ex.context, cli_args=_ros_args("sim", params)),
             CanBridgeNode(context=ex.context, cli_args=_ros_args("can_bridge", {"can_bus": bus})),
             AdasNode(context=ex.context, cli_args=_ros_args("adas", {}, GROUND_TRUTH_REMAPS)),
             SafetyNode(context=ex.context, cli_args=_ros_args("safety", {}))]
    t0 = time.perf_counter()
    ex.spin_until(int(seconds * 1e9))
    wall = time.perf_counter() - t0
    for n in nodes:
        n.destroy_node()
    ex.context.shutdown()
    return seconds / wall


def sim_only_rtf(scenario: str, seconds: float) -> float:
    sim = Simulator(load_scenario(scenario))
    t0 = time.perf_counter()
    while sim.t < seconds and not sim.finished:
        sim.step([])
    return sim.t / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="highway_traffic")
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    rows = [
        ("simulator core only (world + ECUs + CAN encode)", sim_only_rtf(a.scenario, a.seconds)),
        ("lockstep graph, no cameras", graph_rtf(a.scenario, a.seconds, False)),
        ("lockstep graph, 4 cameras 256x128 @ 10 Hz", graph_rtf(a.scenario, a.seconds, True)),
    ]
    print(f"scenario {a.scenario}, {a.seconds:.0f} s simulated, 100 Hz physics\n")
    print(f"{'configuration':<52} {'real-time factor':>16}")
    print("-" * 69)
    for name, rtf in rows:
        print(f"{name:<52} {rtf:>15.2f}x")


if __name__ == "__main__":
    main()
