"""Scenario runs with the full node graph, in lockstep or real time; NCAP grids; the demo.

lockstep: the four nodes of sim_stack.launch.xml in this process on a LockstepExecutor, CAN on a private
`virtual` bus, parameters from the same config/*.yaml the launch file uses. Deterministic.
realtime: `edgepilot launch edgepilot_nodes sim_stack.launch.xml` as a child process (one process per node,
DDS on a private ROS_DOMAIN_ID, CAN on udp_multicast on a private port); the sim node writes the report.

driver "e2e": the perception node (the end-to-end model on the cameras of its rig) joins the graph and the adas
node follows its plan, with the classical AEB on the sim's object list as fallback unless `e2e_fallback_aeb` is off;
then the AEB watches the model's own tracks (`e2e_model_aeb`, on by default) or nothing. In lockstep the model
runs with one intra-op thread, so results do not depend on how many NCAP workers share the CPU.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

NODES_PKG = Path(__file__).resolve().parents[1] / "ros_ws" / "src" / "edgepilot_nodes"
DRIVERS = ("classical", "e2e")
# The perception inputs of the ADAS come from the simulator's ground truth in simulation.
GROUND_TRUTH_REMAPS = ("/perception/objects:=/sim/ground_truth/objects", "/perception/lanes:=/sim/ground_truth/lanes")


@dataclass
class RunRequest:
    scenario: str                      # library name or YAML path
    driver: str = "classical"
    seed: int | None = None
    mode: str = "lockstep"             # lockstep | realtime
    out_dir: Path | None = Path("out")   # None: run_generated writes to a temporary folder
    cameras: bool = False
    timeout_s: float | None = None     # realtime wall-clock limit (default: duration x 4 + 60 s)
    can_log: Path | None = None        # record the vehicle CAN bus (.log/.asc/.blf)
    log_level: str | None = None       # node log level (e.g. "warn" for batch jobs); None: ROS default (info)
    extra_params: dict = field(default_factory=dict)
    e2e_fallback_aeb: bool = True      # driver e2e: the classical AEB watches the object list and brakes if it must
    e2e_model_aeb: bool = True         # driver e2e without fallback: the AEB watches the model's own tracks
    model_path: Path | None = None     # driver e2e: ONNX model (None: perception/weights/e2e_fp32.onnx)
    cockpit_script: tuple = ()         # ((sim time s, utterance), ...): the cockpit node joins and hears them
    cockpit_speech: bool = False       # speak the utterances (espeak-ng) through the voice pipeline, not as text
    bag: Path | None = None            # lockstep: record every topic to this rosbag2 bag (MCAP, sim-time stamps)


def _model_path(req: RunRequest) -> Path:
    from perception.driving import DEFAULT_MODEL

    path = Path(req.model_path) if req.model_path else DEFAULT_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"driver e2e needs the driving model {path}, which does not exist (train and export "
                                f"it, see perception/MODEL.md, or pass --model)")
    return path.resolve()


def aeb_source(fallback: bool, model_aeb: bool) -> str:
    """What the e2e driver's AEB watched, in words (tables and summaries)."""
    if fallback:
        return "AEB fallback on (sim object list)"
    return "AEB fallback off, AEB on the model's tracks" if model_aeb else "AEB fallback off, no AEB"


def driver_info(req: RunRequest) -> dict:
    """Who drove, for results and reports."""
    if req.driver != "e2e":
        return {"driver": req.driver}
    return {"driver": req.driver, "e2e_fallback_aeb": bool(req.e2e_fallback_aeb),
            "e2e_model_aeb": bool(req.e2e_model_aeb), "model": str(_model_path(req))}


def _annotate_report(result: dict, info: dict) -> None:
    """Add the driver fields to the result and to the JSON report the sim node wrote."""
    result.update(info)
    path = result.get("report_path")
    if path and Path(path).is_file():
        doc = json.loads(Path(path).read_text())
        if isinstance(doc, dict):
            doc.update(info)
            Path(path).write_text(json.dumps(doc, indent=2, sort_keys=True))


def _ros_args(node: str, params: dict, remaps: tuple[str, ...] = (), log_level: str | None = None) -> list[str]:
    args = ["--ros-args", "--params-file", str(NODES_PKG / "config" / f"{node}.yaml")]
    if log_level:
        args += ["--log-level", log_level]
    for key, value in params.items():
        args += ["-p", f"{key}:={_param_text(value)}"]
    for remap in remaps:
        args += ["-r", remap]
    return args


def _param_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_driver(driver: str) -> None:
    if driver not in DRIVERS:
        raise ValueError(f"unknown driver {driver!r}: choose one of {', '.join(DRIVERS)}")


@dataclass
class LockstepGraph:
    """The four nodes of sim_stack.launch.xml on one LockstepExecutor (see build_lockstep_graph)."""

    executor: object
    sim: object          # the SimNode; .sim is its vehicle_sim.simulator.Simulator
    nodes: list
    perception: object | None = None   # the PerceptionNode of the e2e driver
    cockpit: object | None = None      # the CockpitNode when the run has a cockpit script

    def spin_until(self, t_s: float) -> None:
        """Advance simulation time to t_s seconds (every node's timers fire on the way)."""
        self.executor.spin_until(int(round(t_s * 1e9)))

    def close(self) -> None:
        for node in self.nodes:
            node.destroy_node()
        self.executor.context.shutdown()


def build_lockstep_graph(req: RunRequest) -> LockstepGraph:
    """sim, can_bridge, adas and safety (and perception for the e2e driver) in this process on simulation time,
    CAN on a private virtual bus, parameters from the same config/*.yaml files the launch file uses."""
    from edgepilot.ros.lockstep import LockstepExecutor
    from edgepilot_nodes.adas_node import AdasNode
    from edgepilot_nodes.can_bridge_node import CanBridgeNode
    from edgepilot_nodes.safety_node import SafetyNode
    from edgepilot_nodes.sim_node import SimNode

    _check_driver(req.driver)
    e2e = req.driver == "e2e"
    bus = f"virtual:edgepilot-{uuid.uuid4().hex[:12]}"   # private bus: parallel runs never share frames
    ex = LockstepExecutor()
    sim_params = {"scenario": req.scenario, "seed": -1 if req.seed is None else req.seed,
                  "out_dir": str(req.out_dir), "can_bus": bus, "cameras": req.cameras,
                  "exit_on_finish": False, "can_log": str(req.can_log or "")}
    adas_params = {"driver": req.driver}
    if e2e:
        from perception.runtime import model_metadata

        model = _model_path(req)
        # the sim renders exactly the cameras the model was trained on (its rig metadata), not the whole rig
        sim_params["camera_names"] = ",".join(c["name"] for c in model_metadata(model)["rig"])
        adas_params["e2e_fallback_aeb"] = bool(req.e2e_fallback_aeb)
        adas_params["e2e_model_aeb"] = bool(req.e2e_model_aeb)
    sim_params.update(req.extra_params.get("sim", {}))
    adas_params.update(req.extra_params.get("adas", {}))
    lvl = req.log_level
    sim = SimNode(context=ex.context, cli_args=_ros_args("sim", sim_params, log_level=lvl))
    nodes = [sim]
    perception = None
    if e2e:
        from edgepilot_nodes.perception_node import PerceptionNode

        perception_params = {"model_path": str(model), "threads": 1, **req.extra_params.get("perception", {})}
        perception = PerceptionNode(context=ex.context, cli_args=_ros_args("perception", perception_params,
                                                                           log_level=lvl))
        nodes.append(perception)
    nodes += [
        CanBridgeNode(context=ex.context, cli_args=_ros_args("can_bridge", {"can_bus": bus}, log_level=lvl)),
        AdasNode(context=ex.context, cli_args=_ros_args("adas", adas_params, GROUND_TRUTH_REMAPS, log_level=lvl)),
        SafetyNode(context=ex.context, cli_args=_ros_args("safety", {}, log_level=lvl)),
    ]
    cockpit = None
    if req.cockpit_script:
        from edgepilot_nodes.cockpit_node import CockpitNode

        script = " | ".join(f"{float(t):g} {text}" for t, text in req.cockpit_script)
        cockpit = CockpitNode(context=ex.context, cli_args=_ros_args(
            "cockpit", {"can_bus": bus, "script": script, "script_speech": bool(req.cockpit_speech),
                        "guard_log": str(Path(req.out_dir) / "cockpit_guard.jsonl"),
                        **req.extra_params.get("cockpit", {})}, log_level=lvl))
        nodes.append(cockpit)
    graph = LockstepGraph(ex, sim, nodes, perception, cockpit)
    by_name = {n.get_name(): n for n in nodes}
    unknown = [f"{node}.{name}" for node, params in req.extra_params.items() for name in params
               if node not in by_name or not by_name[node].has_parameter(name)]
    if unknown:                        # a misspelt override must not be ignored silently
        graph.close()
        raise ValueError(f"parameter override(s) {', '.join(unknown)}: no such node parameter in this run "
                         f"(nodes: {', '.join(by_name)})")
    return graph


def run_lockstep(req: RunRequest) -> dict:
    """All nodes in one process on simulation time; returns the sim's result dict."""
    graph = build_lockstep_graph(req)
    sim = graph.sim
    tap = None
    if req.bag:
        from edgepilot.ros.bag import BagWriter
        from edgepilot.ros.replay import LockstepBagTap

        tap = LockstepBagTap(graph.executor, BagWriter(req.bag), graph.nodes)
    try:
        limit_s = sim.sim.scenario.duration_s + 1.0
        # bounded by executor time too: a sim held by wait_for_start (nobody calls /sim/start) must not hang
        while sim.result is None and sim.sim.t < limit_s and graph.executor.now_ns() < (limit_s + 10.0) * 1e9:
            graph.spin_until(graph.executor.now_ns() / 1e9 + 0.1)
        if sim.result is None:
            raise RuntimeError(f"scenario {sim.sim.scenario.name} did not finish within its duration")
        result = dict(sim.result)
        stats = e2e_stats(graph)
        if graph.cockpit is not None:
            stats["cockpit"] = [json.loads(t) for t in graph.cockpit.turns]
    finally:
        if tap is not None:
            counts = tap.close()
        graph.close()
    result["mode"] = "lockstep"
    if tap is not None:
        result["bag"] = {"path": str(req.bag), "messages": sum(counts.values()), "topics": len(counts)}
    _annotate_report(result, {**driver_info(req), **stats})
    return result


def e2e_stats(graph: LockstepGraph) -> dict:
    """What the e2e driver did in a lockstep run: plans made and followed, stale-plan stops, inference time
    (wall clock: the only field that is not deterministic)."""
    if graph.perception is None:
        return {}
    adas = next(n for n in graph.nodes if getattr(n, "e2e", None) is not None)
    p = graph.perception
    return {"e2e": {"plans": p.frames, "plans_refined": p.plans_refined, "plans_lane_blended": p.plans_lane_blended,
                    "plans_received": adas.plans_received,
                    "plan_control_cycles": adas.e2e.plan_cycles, "stale_plan_stops": adas.e2e.stale_events,
                    "inference_ms_mean": round(p.mean_latency_ms, 2), "inference_ms_max": round(p.latency_ms_max, 2)}}


def run_realtime(req: RunRequest) -> dict:
    """One process per node from sim_stack.launch.xml; returns the result the sim node wrote."""
    from vehicle_sim.scenario import load_scenario

    _check_driver(req.driver)
    info = driver_info(req)                  # fail early when the e2e model is missing
    scenario = load_scenario(req.scenario)   # fail early, with the loader's error, on a bad file
    out_dir = Path(req.out_dir).resolve()
    report = out_dir / f"{scenario.name}.json"
    if report.exists():
        report.unlink()
    token = uuid.uuid4().int
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(1 + token % 200))             # private DDS domain per run
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    port = 44000 + token % 8000                                        # private CAN port per run
    scenario_arg = str(Path(req.scenario).resolve()) if Path(req.scenario).is_file() else req.scenario
    cmd = [sys.executable, "-m", "edgepilot.cli", "launch", "edgepilot_nodes", "sim_stack.launch.xml",
           f"scenario:={scenario_arg}", f"seed:={-1 if req.seed is None else req.seed}", f"out_dir:={out_dir}",
           f"can_bus:=udp_multicast:default@{port}", f"driver:={req.driver}",
           f"cameras:={_param_text(req.cameras)}"]
    if req.driver == "e2e":
        cmd += [f"e2e_fallback_aeb:={_param_text(req.e2e_fallback_aeb)}",
                f"e2e_model_aeb:={_param_text(req.e2e_model_aeb)}", f"model_path:={info['model']}"]
    timeout = req.timeout_s or scenario.duration_s * 4 + 60
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    if not report.exists():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"real-time run of {scenario.name} wrote no report (launch exit {proc.returncode}):\n{tail}")
    result = json.loads(report.read_text())
    result.update(mode="realtime", wall_time_s=round(wall, 2), launch_exit=proc.returncode)
    _annotate_report(result, info)
    (out_dir / f"{scenario.name}.log").write_text(proc.stdout + proc.stderr)
    return result


def run_scenario(req: RunRequest) -> dict:
    if req.cockpit_script and req.mode != "lockstep":
        raise ValueError("cockpit utterances (--say) run in lockstep mode only")
    if req.mode == "lockstep":
        return run_lockstep(req)
    if req.mode == "realtime":
        return run_realtime(req)
    raise ValueError(f"unknown mode {req.mode!r}: choose lockstep or realtime")


def format_summary(r: dict) -> str:
    def num(key: str, fmt: str = "{:.2f}") -> str:
        v = r.get(key)
        return "-" if v is None else fmt.format(v)

    driver = str(r.get("driver"))
    if r.get("driver") == "e2e":
        driver += ", " + aeb_source(bool(r.get("e2e_fallback_aeb")), bool(r.get("e2e_model_aeb")))
    lines = [
        f"scenario   {r['scenario']}  (seed {r.get('seed')}, {r.get('mode')}, driver {driver})",
        f"result     {'PASS' if r['passed'] else 'FAIL'}" + (f"  ({'; '.join(r['reasons'])})" if r.get("reasons") else ""),
        f"collision  {'yes' if r['collision'] else 'no'}" + (f" at {num('impact_speed_kph', '{:.1f}')} km/h"
                                                            if r["collision"] else ""),
        f"min TTC    {num('min_ttc_s')} s    min distance {num('min_distance_m')} m",
        f"max decel  {num('max_decel_mps2')} m/s²    max jerk {num('max_jerk_mps3', '{:.1f}')} m/s³",
        f"lane dep.  {num('max_lane_departure_m')} m    time to stop {num('time_to_stop_s')} s",
        f"ended      {r.get('end_reason')} at {num('sim_time_s')} s",
    ]
    if r.get("e2e"):
        e = r["e2e"]
        lines.append(f"e2e        {e['plans']} plans, inference {e['inference_ms_mean']:.1f} ms mean "
                     f"(max {e['inference_ms_max']:.1f}), stale-plan stops {e['stale_plan_stops']}")
    if r.get("report_path"):
        lines.append(f"report     {r['report_path']}" + (f"  plot {r['plot_path']}" if r.get("plot_path") else ""))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------- NCAP
def run_generated(scenario: dict, req: RunRequest, build_only: bool = False) -> dict:
    """Run a generated scenario dict (NCAP points, suite points) in lockstep: it is written as YAML to a temporary
    file, which req.scenario then names; without req.out_dir the report goes to that temporary folder too.
    build_only: build the node graph and close it (checks the request, e.g. parameter overrides); returns {}."""
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{scenario['name']}.yaml"
        path.write_text(yaml.safe_dump(scenario, sort_keys=False))
        req = replace(req, scenario=str(path), out_dir=Path(req.out_dir) if req.out_dir else Path(tmp) / "out")
        if build_only:
            build_lockstep_graph(req).close()
            return {}
        return run_lockstep(req)


def _who(driver: str, e2e_fallback_aeb: bool, e2e_model_aeb: bool, extra_params: dict | None) -> str:
    """The driver, the e2e AEB's source and any parameter overrides, as the NCAP and suite tables name them."""
    who = f"driver: {driver}" + (", " + aeb_source(e2e_fallback_aeb, e2e_model_aeb) if driver == "e2e" else "")
    if extra_params:
        who += ", params " + ", ".join(f"{n}.{k}={v}" for n, ps in extra_params.items() for k, v in ps.items())
    return who


def _ncap_point(args: tuple) -> dict:
    point, req = args
    from vehicle_sim.ncap import scenario_dict

    return run_generated(scenario_dict(point), req)


def run_ncap(protocol: str = "ccrs", driver: str = "classical", seed: int = 0, workers: int | None = None,
             out_dir: Path | None = None, speeds: str | None = None, e2e_fallback_aeb: bool = True,
             model_path: Path | None = None, e2e_model_aeb: bool = True, extra_params: dict | None = None) -> dict:
    """Run a protocol grid (independent lockstep runs over worker processes) and score it. `extra_params`:
    {node: {name: value}} node parameter overrides in every run (as `run_suite`)."""
    from vehicle_sim import ncap

    _check_driver(driver)
    info = driver_info(RunRequest(scenario="", driver=driver, e2e_fallback_aeb=e2e_fallback_aeb,
                                  e2e_model_aeb=e2e_model_aeb, model_path=model_path))     # fails early when the e2e model is missing
    model_path = Path(info["model"]) if "model" in info else None
    protocols = ["ccrs", "ccrm", "ccrb", "cpna", "cpfa", "cbla"] if protocol == "all" else [protocol]
    wanted = None
    if speeds:
        try:
            wanted = {float(s) for s in speeds.split(",") if s.strip()}
        except ValueError:
            raise ValueError(f"--speeds {speeds!r}: expected comma-separated numbers in km/h") from None
    points = [p for proto in protocols for p in ncap.grid(proto) if wanted is None or p.vut_kph in wanted]
    if not points:
        raise ValueError(f"no test points in protocol {protocol!r} for speeds {speeds!r}")
    workers = workers or os.cpu_count() or 1
    jobs = [(p, RunRequest(scenario="", driver=driver, seed=seed, out_dir=Path(out_dir) if out_dir else None,
                           log_level="warn", e2e_fallback_aeb=e2e_fallback_aeb, e2e_model_aeb=e2e_model_aeb,
                           model_path=model_path, extra_params=dict(extra_params or {})))
            for p in points]
    if extra_params:     # a misspelt override fails here, once, before any worker starts
        run_generated(ncap.scenario_dict(points[0]), replace(jobs[0][1], out_dir=None), build_only=True)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_ncap_point, jobs))
    else:
        results = [_ncap_point(j) for j in jobs]
    report: dict = {"protocol": protocol, **info, "points": [], "scores": {}}
    tables = []
    for proto in protocols:
        pairs = [(p, r) for p, r in zip(points, results) if p.protocol.startswith(proto) or
                 (proto == "cpna" and p.protocol.startswith("cpna"))]
        if not pairs:
            continue
        score = ncap.score(proto, [(p, _score_input(r)) for p, r in pairs])
        report["scores"][proto] = score["score"]
        tables.append(ncap.format_table([p for p, _ in pairs], [_score_input(r) for _, r in pairs], score))
    for p, r in zip(points, results):
        report["points"].append({
            "test": p.test_id, "protocol": p.protocol, "vut_kph": p.vut_kph, "overlap_pct": p.overlap_pct,
            "passed": bool(r["passed"]), "collision": bool(r["collision"]),
            "impact_speed_kph": r.get("impact_speed_kph") if r["collision"] else 0.0,
            "relative_impact_speed_kph": r.get("relative_impact_speed_kph") if r["collision"] else 0.0,
        })
    report["score"] = report["scores"][protocols[0]] if len(protocols) == 1 else \
        round(sum(report["scores"].values()) / len(report["scores"]), 4)
    who = _who(driver, e2e_fallback_aeb, e2e_model_aeb, extra_params)
    if extra_params:
        report["params"] = extra_params
    report["table"] = "\n\n".join(tables) + f"\n\nscore: {report['score']}  ({who})"
    return report


def _score_input(r: dict) -> dict:
    return {"collision": bool(r["collision"]),
            "impact_speed_kph": float(r.get("impact_speed_kph") or 0.0) if r["collision"] else 0.0,
            "relative_impact_speed_kph": float(r.get("relative_impact_speed_kph") or 0.0) if r["collision"] else 0.0}


# ------------------------------------------------------------------------------------------------------ suite
def _suite_point(args: tuple) -> dict:
    """One suite run -> its row; a run that raises becomes a failed row naming the error (the rest still run)."""
    point, req = args
    from vehicle_sim.suite import point_row, scenario_dict

    try:
        return point_row(point, run_generated(scenario_dict(point), req))
    except Exception as exc:  # noqa: BLE001 - reported in the row, never swallowed
        return point_row(point, {"passed": False, "collision": False,
                                 "reasons": [f"run error: {type(exc).__name__}: {exc}"]})


def run_suite(families: str = "all", driver: str = "classical", seed: int = 0, workers: int | None = None,
              out_dir: Path | None = None, e2e_fallback_aeb: bool = True, e2e_model_aeb: bool = True,
              model_path: Path | None = None, extra_params: dict | None = None, progress: bool = False) -> dict:
    """Run the driving suite (vehicle_sim/suite.py) with one driver: independent lockstep runs over worker
    processes; returns {"driver" fields, "rows": [per run], "summary": per family, "table": text}.
    progress: a line per finished run on standard error."""
    from vehicle_sim import suite

    _check_driver(driver)
    info = driver_info(RunRequest(scenario="", driver=driver, e2e_fallback_aeb=e2e_fallback_aeb,
                                  e2e_model_aeb=e2e_model_aeb, model_path=model_path))   # fails early on no model
    points = suite.select(families)
    jobs = [(pt, RunRequest(scenario="", driver=driver, seed=seed, log_level="error",
                            out_dir=Path(out_dir) / pt.scenario_name if out_dir else None,
                            e2e_fallback_aeb=e2e_fallback_aeb, e2e_model_aeb=e2e_model_aeb,
                            model_path=Path(info["model"]) if "model" in info else None,
                            extra_params=dict(extra_params or {})))
            for pt in points]
    if extra_params:     # a misspelt override fails here, once, before any worker starts
        run_generated(suite.scenario_dict(points[0]), replace(jobs[0][1], out_dir=None), build_only=True)
    workers = workers or os.cpu_count() or 1
    rows: list[dict] = []

    def done(row: dict) -> None:      # one progress line per finished run (a whole suite takes minutes)
        rows.append(row)
        if progress:
            print(f"[{len(rows)}/{len(jobs)}] {row['test']}: {'PASS' if row['passed'] else 'FAIL'}",
                  file=sys.stderr, flush=True)

    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for row in pool.map(_suite_point, jobs):
                done(row)
    else:
        for job in jobs:
            done(_suite_point(job))
    who = _who(driver, e2e_fallback_aeb, e2e_model_aeb, extra_params)
    summary = suite.summarize(rows)
    return {"families": families, "seed": seed, **info, "params": extra_params or {}, "rows": rows,
            "summary": summary, "table": suite.format_table(rows) + f"\n\n({who}, seed {seed})"}


# ------------------------------------------------------------------------------------------------------- demo
DEMO_SCENARIOS = ("ccrs_50kph_100", "ccrb_6mps2_12m", "cut_in", "cpna25_40kph")


def run_demo(out_dir: Path = Path("out"), mode: str = "realtime", driver: str = "e2e",
             e2e_fallback_aeb: bool = True, model_path: Path | None = None, e2e_model_aeb: bool = True) -> int:
    """The representative set, each run in its own node graph; writes reports and plots to out_dir.
    The end-to-end driver drives (classical AEB as fallback) unless `driver` says otherwise."""
    failures = 0
    rows = []
    for name in DEMO_SCENARIOS:
        print(f"== {name} ({mode}, driver {driver})", flush=True)
        result = run_scenario(RunRequest(scenario=name, mode=mode, out_dir=out_dir, driver=driver,
                                         e2e_fallback_aeb=e2e_fallback_aeb, e2e_model_aeb=e2e_model_aeb,
                                         model_path=model_path))
        print(format_summary(result), flush=True)
        failures += not result["passed"]
        rows.append(result)
    (Path(out_dir) / "demo_summary.json").write_text(json.dumps(rows, indent=2, sort_keys=True))
    print(f"\n{len(rows) - failures}/{len(rows)} scenarios passed; reports in {out_dir}/")
    return 1 if failures else 0
