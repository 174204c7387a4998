"""The planner's tracked-lead input (model.plan_lead): selection, tracking in frame order, graph, backends, eval."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from perception.driving import E2EDriver, tracked_lead_inputs
from perception.features import LEAD_DIM, NO_LEAD_GAP_M, lead_vector, no_lead
from perception.model import load_checkpoint, load_model
from perception.model.network import dummy_inputs
from perception.plan_stage import PlanStageConfig, extract_features, planner_model, train_planner
from perception.tracking import MultiObjectTracker
from perception.train import load_split, train
from perception_fixtures import write_dataset

TINY = Path(__file__).resolve().parents[1] / "perception" / "configs" / "tiny.yaml"


def box(x, y, length=4.5, width=1.8, vx=0.0, vy=0.0):
    return [x, y, length, width, 0.0, vx, vy]


def test_lead_vector_picks_the_nearest_box_in_the_path():
    assert np.array_equal(lead_vector(np.zeros((0, 7)), 20.0, 0.0), no_lead())
    assert no_lead()[0] == 0 and no_lead()[1] == NO_LEAD_GAP_M
    boxes = np.array([box(40.0, 0.2, vx=25.0), box(22.0, -0.5, vx=12.0, vy=0.5), box(12.0, 3.6),  # next lane
                      box(-6.0, 0.0)])                                                            # behind
    got = lead_vector(boxes, 20.0, 0.0)
    assert got.dtype == np.float32 and got.shape == (LEAD_DIM,)
    assert got.tolist() == pytest.approx([1.0, 22.0 - 2.25, -0.5, 12.0, 0.5])
    # a box whose side reaches into the corridor counts (centre 2.4 m off, half width 0.9 + corridor 1.6)
    assert lead_vector(np.array([box(15.0, 2.4)]), 20.0, 0.0)[0] == 1.0
    assert lead_vector(np.array([box(15.0, 2.6)]), 20.0, 0.0)[0] == 0.0
    # in a left curve (yaw rate / speed = 0.01 1/m) the path is at y = 0.5 k x^2 = 2 m at 20 m
    curve = np.array([box(20.0, 3.0), box(30.0, -1.0)])
    assert lead_vector(curve, 20.0, 0.2)[1] == pytest.approx(20.0 - 2.25)
    assert lead_vector(curve, 20.0, 0.0)[1] == pytest.approx(30.0 - 2.25)   # straight: the other box


def test_predicted_boxes_move_the_tracks_without_changing_them():
    mot = MultiObjectTracker()
    for k in range(4):   # a car 20 m ahead driving at the ego's 10 m/s: it stays at 20 m
        mot.update(0.1 * k, 10.0, 0.0, np.array([[20.0, 0.0, 4.5, 1.8, 0.0, 10.0, 0.0]]), np.array([0]),
                   np.array([0.9]))
    assert len(mot.confirmed()) == 1
    before = [(t.x.copy(), t.P.copy()) for t in mot.tracks]
    # the ego stops: 1 s later the car is 10 m further away
    pred = mot.predicted_boxes(0.3 + 1.0, 0.0, 0.0)
    assert pred.shape == (1, 7) and pred[0, 0] == pytest.approx(30.0, abs=0.5)
    assert all(np.array_equal(t.x, x) and np.array_equal(t.P, P) for t, (x, P) in zip(mot.tracks, before))
    assert mot.predicted_boxes(0.3 + 5.0, 10.0, 0.0).shape == (0, 7)     # past max_dt: nothing
    assert MultiObjectTracker().predicted_boxes(1.0, 10.0, 0.0).shape == (0, 7)


def _outputs_for(xs: list[float], classes=("car", "truck", "pedestrian", "cyclist", "obstacle")):
    """det_logits/det_boxes of one confident car at x (straight ahead) per frame, in network parameters."""
    n, q = len(xs), 4
    logits = np.full((n, q, len(classes) + 1), -5.0, np.float32)
    logits[:, :, -1] = 5.0
    logits[:, 0, 0], logits[:, 0, -1] = 5.0, -5.0
    boxes = np.zeros((n, q, 8), np.float32)
    boxes[:, :, 5] = 1.0
    x0, x1, y0, y1 = -10.0, 50.0, -16.0, 16.0
    boxes[:, 0, 0] = (np.asarray(xs) - x0) / (x1 - x0)
    boxes[:, 0, 1] = (0.0 - y0) / (y1 - y0)
    boxes[:, 0, 2], boxes[:, 0, 3] = np.log(4.5), np.log(1.8)
    return logits, boxes, list(classes), (x0, x1, y0, y1)


def test_tracked_lead_inputs_follow_each_run_in_time_order():
    # run 7: ego at 10 m/s behind a car that closes in (gap 30 m -> 22 m over 2 s: the car drives at 6 m/s)
    xs = [30.0, 28.0, 26.0, 24.0, 22.0]
    logits, boxes, classes, rng = _outputs_for(xs + xs)
    ego = np.tile(np.array([10.0, 0.0, 0.0, 0.0, 10.0], np.float32), (10, 1))
    stamps = np.array([0.0, 0.5, 1.0, 1.5, 2.0] * 2, np.float32)
    runs = np.array([7] * 5 + [8] * 5)
    lead = tracked_lead_inputs(logits, boxes, ego, stamps, runs, classes, rng, 10.0)
    assert lead.shape == (10, LEAD_DIM)
    # the lead of a frame comes from earlier frames only: none until a track is confirmed (3 hits)
    assert np.array_equal(lead[:3], np.tile(no_lead(), (3, 1)))
    assert lead[3, 0] == 1.0 and lead[4, 0] == 1.0
    assert lead[4, 1] == pytest.approx(22.0 - 2.25, abs=1.5)       # predicted to the frame's time
    assert lead[4, 3] == pytest.approx(6.0, abs=1.5)               # velocity over ground from the motion
    assert np.array_equal(lead[5:], lead[:5])                      # the second run starts afresh
    # frame order in the arrays does not matter, only time within a run
    perm = np.random.default_rng(0).permutation(10)
    shuffled = tracked_lead_inputs(logits[perm], boxes[perm], ego[perm], stamps[perm], runs[perm], classes, rng,
                                   10.0)
    assert np.allclose(shuffled, lead[perm])


@pytest.fixture(scope="module")
def lead_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("lead")
    data = write_dataset(root / "data", {"train": 48, "val": 16, "test": 8})
    train(TINY, data, root / "run", progress=False, epochs=1)
    cfg = PlanStageConfig(epochs=2, batch_size=8, ego_hidden=16, baseline_epochs=30, lead=True)
    res = train_planner(root / "run" / "last.pt", data, root / "plan", cfg, progress=False)
    return data, root / "run" / "last.pt", root / "plan" / "best.pt", res


def test_plan_stage_with_lead_adds_the_input_and_trains_on_tracked_leads(lead_model):
    data, base_ckpt, lead_ckpt, res = lead_model
    model, added = planner_model(load_checkpoint(base_ckpt), 16, lead=True)
    assert added and model.input_names == ("images", "ego", "command", "lead")
    assert model.plan_ego.inp.in_features == 5 + LEAD_DIM
    feats = extract_features(model, data, "val", progress=False)
    assert feats["lead"].shape == (len(feats["ego"]), LEAD_DIM) and np.isfinite(feats["lead"]).all()
    out = load_checkpoint(lead_ckpt)
    assert out["cfg"]["model"]["plan_lead"] is True and out["plan_stage"]["config"]["lead"] is True
    m = load_model(lead_ckpt)
    imgs, ego, cmd, lead = dummy_inputs(m.cfg, batch=2, seed=1)
    far = torch.from_numpy(np.tile(no_lead(), (2, 1)))
    close = torch.tensor([[1.0, 8.0, 0.0, 0.0, 0.0]] * 2)
    with torch.no_grad():
        a, b, c = m(imgs, ego, cmd, far), m(imgs, ego, cmd, close), m(imgs, ego, cmd)
    assert torch.equal(a.det_boxes, b.det_boxes) and torch.equal(a.seg_logits, b.seg_logits)
    assert not torch.allclose(a.plan, b.plan)           # the planner reads the lead
    assert torch.equal(a.plan, c.plan)                  # no lead given = "no lead"


def test_lead_model_exports_runs_on_every_backend_and_says_when_the_lead_is_missing(lead_model, tmp_path):
    from perception.export import export_onnx
    from perception.runtime import open_backend

    data, _, lead_ckpt, _ = lead_model
    model = load_model(lead_ckpt)
    val = load_split(data, "val")
    rep = export_onnx(model, tmp_path / "m.onnx", {k: val[k][:4] for k in ("images", "ego", "command", "t",
                                                                            "scenario_seed")})
    assert max(rep.max_abs_diff.values()) < 1e-3
    imgs, ego, cmd, lead = (t.numpy() for t in dummy_inputs(model.cfg, batch=2, seed=2))
    outs = {}
    for name, path in (("onnxruntime", tmp_path / "m.onnx"), ("torch", lead_ckpt)):
        be = open_backend(name, path)
        assert be.input_names[-1] == "lead"
        outs[name] = be.run(imgs, ego, cmd, lead=lead)["plan"]
        with pytest.raises(ValueError, match="takes a `lead` input"):
            be.run(imgs, ego, cmd)
        with pytest.raises(ValueError, match=r"lead must be finite float32 \[2, 5\]"):
            be.run(imgs, ego, cmd, lead=lead[:1])
    assert np.max(np.abs(outs["onnxruntime"] - outs["torch"])) < 1e-3
    # the driver feeds the tracker's lead when frames come with stamps, "no lead" without
    drv = E2EDriver(tmp_path / "m.onnx")
    cams = {c: val["images"][0, i] for i, c in enumerate(drv.camera_names)}
    assert np.array_equal(drv.step(cams, val["ego"][0]).lead, no_lead())
    f = drv.step(cams, val["ego"][0], stamp_s=0.0)
    assert f.lead is not None and f.lead.shape == (LEAD_DIM,)


def test_evaluate_scores_a_lead_model_on_tracked_leads(lead_model):
    from perception.metrics import evaluate

    data, _, lead_ckpt, _ = lead_model
    model = load_model(lead_ckpt)
    arrays = load_split(data, "test")
    res = evaluate(model, arrays)
    assert res["frames"] == len(arrays["ego"]) and np.isfinite(res["L2_3s"])
    with pytest.raises(ValueError, match="needs the split's"):
        evaluate(model, {k: v for k, v in arrays.items() if k != "t"})


def test_lead_response_benchmark_sweeps_the_lead_input(lead_model, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "lead_response", Path(__file__).resolve().parents[1] / "benchmarks" / "lead_response.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data, base_ckpt, lead_ckpt, _ = lead_model
    assert mod.main(["--checkpoint", str(lead_ckpt), "--data", str(data), "--frame", "3"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert [r[:20].strip() for r in rows] == [name for name, _ in mod.LEADS]
    assert all(len(r.split()) >= 5 for r in rows)
    assert mod.main(["--checkpoint", str(base_ckpt), "--data", str(data)]) == 2       # no lead input
    assert "no lead input" in capsys.readouterr().out


def test_train_planner_takes_several_datasets(lead_model, tmp_path):
    from perception.train import concat_splits

    data, base_ckpt, _, _ = lead_model
    other = write_dataset(tmp_path / "other", {"train": 16, "val": 8}, seed=5)
    cfg = PlanStageConfig(epochs=1, batch_size=8, ego_hidden=16, baseline_epochs=5, lead=True)
    train_planner(base_ckpt, [data, other], tmp_path / "plan", cfg, progress=False)
    start = json.loads((tmp_path / "plan" / "plan_log.jsonl").read_text().splitlines()[0])
    assert start["data"] == [str(data), str(other)]
    assert start["train_frames"] == 48 + 16 and start["val_frames"] == 16 + 8
    a = {"ego": np.zeros((3, 5)), "objects": np.zeros((3, 32, 9))}
    b = {"ego": np.zeros((2, 5)), "objects": np.zeros((2, 16, 9))}
    with pytest.raises(ValueError, match=r"B: 'objects' has shape \[16, 9\] per frame, A has \[32, 9\]"):
        concat_splits([a, b], ["A", "B"])
    assert concat_splits([a, dict(a)], ["A", "A2"])["objects"].shape == (6, 32, 9)


def test_calibration_frames_come_in_blocks_for_a_lead_model():
    from perception.quantize import spread_indices

    single = spread_indices(256, 64)
    assert np.array_equal(single, np.linspace(0, 255, 64).astype(int))      # unchanged for other models
    blocks = spread_indices(256, 64, 8)
    assert len(blocks) == 64 and len(np.unique(blocks)) == 64 and blocks.max() < 256
    runs = np.split(blocks, np.flatnonzero(np.diff(blocks) > 1) + 1)
    assert len(runs) == 8 and all(len(r) == 8 for r in runs)               # 8 stretches of 8 consecutive frames
    assert runs[-1][-1] == 255                                             # spread to the end of the split
    assert np.array_equal(spread_indices(10, 64, 8), np.arange(10))
    assert np.array_equal(spread_indices(5, 3, 8), np.arange(3))


def test_export_int8_of_a_lead_model_from_the_command_line(lead_model, tmp_path):
    import argparse

    import onnx

    from perception.cli import add_model_parsers

    data, _, lead_ckpt, _ = lead_model
    parser = argparse.ArgumentParser()
    add_model_parsers(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["export", "--checkpoint", str(lead_ckpt), "--format", "onnx-int8", "--data", str(data),
                              "--calibration-frames", "16", "--held-out-frames", "8", "--out", str(tmp_path)])
    assert args.func(args) == 0
    for name in ("model.onnx", "model.int8.onnx"):
        assert [i.name for i in onnx.load(str(tmp_path / name)).graph.input] == ["images", "ego", "command", "lead"]
