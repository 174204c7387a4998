"""Lockstep real-time factor: simulated seconds per wall-clock second, full node graph, with and without cameras.

    python benchmarks/sim_bench.py [--scenario cut_in] [--seconds 10]
"""
from __future__ import annotations

import argparse
import time

import tempfile
from pathlib import Path

from edgepilot.runner import RunRequest, build_lockstep_graph
from vehicle_sim.scenario import load_scenario
from vehicle_sim.simulator import Simulator


def graph_rtf(scenario: str, seconds: float, cameras: bool) -> float:
    graph = build_lockstep_graph(RunRequest(scenario=scenario, cameras=cameras, out_dir=Path(tempfile.mkdtemp())))
    t0 = time.perf_counter()
    graph.spin_until(seconds)
    wall = time.perf_counter() - t0
    graph.close()
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
