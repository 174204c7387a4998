"""DAgger data: the classical expert's rollout from a simulator state, and datasets the driving model drives."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from perception.data import generate as gen
from perception.data.expert import expert_rollout, ground_truth_lanes, ground_truth_objects
from perception.data.generate import future_in_ego_frame
from perception.data.reader import open_dataset

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "perception" / "weights" / "e2e_fp32.onnx"


@contextlib.contextmanager
def _graph(scenario: str, t_s: float = 0.0):
    """A classical lockstep graph of a library scenario at t_s: (simulator, ADAS node, safety node)."""
    from edgepilot.runner import RunRequest, build_lockstep_graph

    graph = build_lockstep_graph(RunRequest(scenario=scenario, seed=0, out_dir=None, log_level="error"))
    try:
        adas = next(n for n in graph.nodes if hasattr(n, "planner") and hasattr(n, "settings"))
        safety = next(n for n in graph.nodes if hasattr(n, "envelope"))
        graph.spin_until(t_s)
        yield graph, graph.sim.sim, adas, safety
    finally:
        graph.close()


def _classical_run(scenario: str, branch_s: tuple[float, ...], horizon_s: float = 3.0):
    """Run a scenario with the classical driver in lockstep; at each branch time take the expert rollout (and one
    with ACC switched off). Returns (poses of the run by step, {branch step: rollout}, dt)."""
    with _graph(scenario) as (graph, sim, adas, safety):
        dt = sim.dt
        poses, rollouts = {}, {}
        branches = {int(round(b / dt)) for b in branch_s}
        last = int(round((max(branch_s) + horizon_s) / dt))
        for k in range(last + 1):
            graph.spin_until(k * dt)
            st = sim.world.ego_state
            poses[k] = (st.x, st.y)
            if k in branches:
                rollouts[k] = expert_rollout(sim.world, adas.planner, safety.envelope, adas.settings, horizon_s,
                                             shadowed=False)
                rollouts[k, "off"] = expert_rollout(sim.world, adas.planner, safety.envelope,
                                                    dataclasses.replace(adas.settings, acc_enabled=False), horizon_s,
                                                    shadowed=False)
        return poses, rollouts, dt


def test_expert_rollout_drives_where_the_classical_driver_drove():
    """From a state of a classical run, the rollout is that run's own future: same planner, same envelope, same
    world, same rates. acc_following brakes behind a slowing lead from 4 s on, so the branches see ACC at work."""
    poses, rollouts, dt = _classical_run("acc_following", (4.0, 8.0))
    for k in (int(round(4.0 / dt)), int(round(8.0 / dt))):
        r = rollouts[k]
        assert max(r) == k + int(round(3.0 / dt))          # every step of the horizon, keyed by world step
        for ahead_s in (1.0, 2.0, 3.0):
            j = k + int(round(ahead_s / dt))
            err = math.hypot(r[j][0] - poses[j][0], r[j][1] - poses[j][1])
            assert err < 0.25, f"rollout from t = {k * dt:.1f} s is {err:.3f} m off the run at +{ahead_s} s"
        # the check can fail: without ACC (the car coasts) the rollout leaves the run's path
        off = rollouts[k, "off"]
        j = k + int(round(3.0 / dt))
        assert math.hypot(off[j][0] - poses[j][0], off[j][1] - poses[j][1]) > 1.0


def test_a_shadowing_planner_engages_from_the_wheel_without_its_wound_up_integral():
    """In an e2e run the classical planner only shadows: its LKA integral winds up on offsets it never corrects.
    The rollout must start the LKA as switching it on does, or every DAgger label would steer by that integral."""
    with _graph("lane_keeping_curve", 4.0) as (_, sim, adas, safety):
        wound = adas.planner
        wound.lka.integral = wound.cfg.lka_integral_max_1pm          # as a shadow's integral ends up
        k = int(round(sim.world.t / sim.dt))
        j = k + int(round(2.0 / sim.dt))
        fresh = expert_rollout(sim.world, wound, safety.envelope, adas.settings, 2.0)
        kept = expert_rollout(sim.world, wound, safety.envelope, adas.settings, 2.0, shadowed=False)
        # the wound-up integral steers the kept rollout 0.3 m or more away from the engaged one
        st = sim.world.ego_state
        y = [float(future_in_ego_frame(np.array([r[j]]), np.array([True]), st.x, st.y, st.yaw)[0, 1])
             for r in (fresh, kept)]
        assert abs(y[1] - y[0]) > 0.3
        assert wound.lka.integral == wound.cfg.lka_integral_max_1pm   # the graph's planner is left as it was


def test_expert_rollout_changes_nothing_it_is_given():
    with _graph("cut_in", 3.0) as (_, sim, adas, safety):
        before = (sim.world.t, dataclasses.astuple(sim.world.ego_state), adas.planner._t, adas.planner.acc.accel,
                  safety.envelope._t, [(a.x, a.y) for a in sim.world.actors])
        r = expert_rollout(sim.world, adas.planner, safety.envelope, adas.settings, 1.0)
        after = (sim.world.t, dataclasses.astuple(sim.world.ego_state), adas.planner._t, adas.planner.acc.accel,
                 safety.envelope._t, [(a.x, a.y) for a in sim.world.actors])
        assert before == after
        assert len(r) == int(round(1.0 / sim.dt))
        # the planner's inputs as the ADAS node gets them: the lead of cut_in is in the object list, and the ego
        # lane's two lines in the lane list
        assert any(o.x_m > 0 and abs(o.y_m) < 5 for o in ground_truth_objects(sim.world))
        assert len(ground_truth_lanes(sim.world).lines) >= 2


def test_dagger_dataset_is_driven_by_the_model_and_labelled_by_the_expert(tmp_path):
    import onnx

    model = tmp_path / "model.onnx"
    model.write_bytes(SHIPPED.read_bytes())
    args = dict(frames=3, splits={"train": 1.0}, scenarios=["acc_following"], progress=False, dagger=model)
    meta = gen.generate(tmp_path / "d", **args)
    assert "DAgger" in meta["generator"]["expert"] and meta["generator"]["dagger"] == str(model)
    assert meta["generator"]["dagger_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    ds = open_dataset(tmp_path / "d")
    arrays = ds.load_split("train")
    assert arrays["future"].shape == (3, 6, 2) and arrays["future_valid"].all()
    # the expert keeps the lane at ACC speed: ~speed x time ahead, never more than a lane width aside
    speed = arrays["ego"][:, 0]
    assert np.allclose(arrays["future"][:, -1, 0], 3.0 * speed, rtol=0.25)
    assert np.abs(arrays["future"][..., 1]).max() < 1.75
    # the labels depend on the model that drove: the same path re-exported must not continue the dataset
    m = onnx.load(str(model))
    m.doc_string = "re-exported"
    onnx.save(m, str(model))
    with pytest.raises(ValueError, match=r"other settings \(dagger_sha256 differ"):
        gen.generate(tmp_path / "d", **args)


def test_dagger_model_must_see_the_dataset_cameras(tmp_path):
    with pytest.raises(ValueError, match="dagger: .* trained on cameras"):
        gen.generate(tmp_path / "d", frames=3, width=64, height=32, progress=False, dagger=SHIPPED)
    with pytest.raises(ValueError, match="does not exist"):
        gen.generate(tmp_path / "d", frames=3, progress=False, dagger=tmp_path / "none.onnx")
