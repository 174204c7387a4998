"""Planning stage (perception.plan_stage): frozen perception, ego-status branch from the baseline, export."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from perception.baseline import EgoMLP, train_ego_mlp
from perception.model import load_checkpoint, load_model
from perception.model.network import EgoStatusMLP, dummy_inputs
from perception.plan_stage import PlanStageConfig, extract_features, is_plan_param, planner_model, train_planner
from perception.train import load_split, train
from perception_fixtures import write_dataset

TINY = Path(__file__).resolve().parents[1] / "perception" / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan_stage")
    data = write_dataset(root / "data", {"train": 48, "val": 16, "test": 8})
    train(TINY, data, root / "run", progress=False, epochs=1)
    return data, root / "run" / "last.pt"


def test_ego_status_branch_equals_the_baseline_mlp():
    base = EgoMLP(hidden=16)
    branch = EgoStatusMLP(5, 3, 16, 12)
    branch.load_from_sequential(base.net)
    torch.manual_seed(3)
    ego = torch.randn(7, 5) * torch.tensor([10.0, 1.0, 0.1, 0.5, 10.0])
    cmd = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    with torch.no_grad():
        want = base.net(torch.cat([ego / base.ego_scale, torch.nn.functional.one_hot(cmd, 3).float()], 1))
        got = branch(ego / base.ego_scale, cmd)
    assert torch.allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError, match="does not fit hidden=8"):
        EgoStatusMLP(5, 3, 8, 12).load_from_sequential(base.net)


def test_stage_starts_at_the_baseline_and_leaves_perception_untouched(trained, tmp_path):
    data, ckpt_path = trained
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt["cfg"]["model"]["plan_ego_mlp"] == 0
    model, added = planner_model(ckpt, 16)
    assert added and model.plan_ego is not None
    feats = {s: extract_features(model, data, s, progress=False) for s in ("train", "val")}
    cfg = PlanStageConfig(epochs=2, batch_size=8, ego_hidden=16, baseline_epochs=200)
    res = train_planner(ckpt_path, data, tmp_path / "plan", cfg, progress=False, features=feats)
    # the stage starts from the baseline itself (attention branch zero): same planning loss as the fitted EgoMLP
    base = train_ego_mlp(load_split(data, "train"), seed=0, epochs=200, hidden=16)
    val = load_split(data, "val")
    base_plan = base.predict(val["ego"], val["command"])
    v = val["future_valid"][..., None]
    base_l1 = float((np.abs(base_plan - val["future"]) * v).sum() / (v.sum() * 2))
    assert res["start"]["plan_l1"] == pytest.approx(base_l1, rel=1e-4)
    assert [h["epoch"] for h in res["history"]] == [1, 2]
    out = load_checkpoint(tmp_path / "plan" / "best.pt")
    assert out["cfg"]["model"]["plan_ego_mlp"] == 16 and out["plan_stage"]["best_epoch"] == res["best_epoch"]
    last = load_checkpoint(tmp_path / "plan" / "last.pt")["model"]
    changed = {k for k in ckpt["model"] if not torch.equal(ckpt["model"][k], last[k])}
    assert changed and all(is_plan_param(k) for k in changed)            # only planner weights moved
    assert any(k.startswith("plan_layers.") for k in changed)            # the attention branch learned
    # perception outputs are identical; the plan comes from the new planner
    old, new = load_model(ckpt), load_model(tmp_path / "plan" / "last.pt")
    imgs, ego, cmd = dummy_inputs(old.cfg, batch=2, seed=4)
    with torch.no_grad():
        a, b = old(imgs, ego, cmd), new(imgs, ego, cmd)
    for k in ("det_logits", "det_boxes", "seg_logits"):
        assert torch.equal(getattr(a, k), getattr(b, k))
    assert not torch.allclose(a.plan, b.plan)
    log = [json.loads(line) for line in (tmp_path / "plan" / "plan_log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[0]["added_ego_branch"] and log[-1]["event"] == "end"


def test_model_with_ego_branch_exports_to_onnx_and_matches_torch(trained, tmp_path):
    import onnx
    import onnxruntime as ort

    from perception.model import export_onnx

    data, ckpt_path = trained
    train_planner(ckpt_path, data, tmp_path / "plan", PlanStageConfig(epochs=1, batch_size=8, ego_hidden=16,
                                                                      baseline_epochs=20), progress=False)
    model = load_model(tmp_path / "plan" / "best.pt")
    path = export_onnx(model, str(tmp_path / "m.onnx"))
    graph = onnx.load(path).graph
    assert "OneHot" not in {n.op_type for n in graph.node}
    imgs, ego, cmd = dummy_inputs(model.cfg, batch=3, seed=6)
    cmd = torch.tensor([0, 1, 2])
    with torch.no_grad():
        ref = model(imgs, ego, cmd)
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"images": imgs.numpy(), "ego": ego.numpy(), "command": cmd.numpy()})
    assert np.max(np.abs(ref.plan.numpy() - got[3])) < 1e-3
    # a second stage on a checkpoint that already has the branch keeps it (no re-initialisation)
    again, added = planner_model(load_checkpoint(tmp_path / "plan" / "best.pt"), 16)
    assert not added
    assert torch.equal(again.plan_ego.inp.weight, model.plan_ego.inp.weight)


def test_train_planner_cli_and_bad_settings(trained, tmp_path, capsys):
    from perception.cli import add_model_parsers

    data, ckpt_path = trained
    parser = argparse.ArgumentParser()
    add_model_parsers(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["train-planner", "--checkpoint", str(ckpt_path), "--data", str(data), "--out",
                              str(tmp_path / "p"), "--epochs", "1", "--batch-size", "8", "--ego-hidden", "16",
                              "--no-progress"])
    assert args.func(args) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"best_epoch", "val_start", "val_best", "checkpoint"} <= set(last)
    assert Path(last["checkpoint"]).exists()
    with pytest.raises(ValueError, match="epochs must be >= 0"):
        train_planner(ckpt_path, data, tmp_path / "q", PlanStageConfig(epochs=-1), progress=False)
    # epochs 0: the ego-status planner on this perception, untrained, e.g. to drive it in closed loop
    res = train_planner(ckpt_path, data, tmp_path / "r", PlanStageConfig(epochs=0, ego_hidden=16, baseline_epochs=20),
                        progress=False)
    assert res["best_epoch"] == 0 and res["history"] == []
    model = load_model(tmp_path / "r" / "best.pt")
    assert torch.count_nonzero(model.plan_head[-1].weight) == 0 and torch.count_nonzero(model.plan_head[-1].bias) == 0
