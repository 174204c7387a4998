"""`edgepilot perception eval` as the issue writes it: the shipped model by default, any exported file, every
backend (TensorRT's absence said plainly), the shipped ego-status baseline, and the evaluation dataset default."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from perception.baseline import EgoMLP, evaluate_ego_mlp, load_ego_mlp, save_ego_mlp, train_ego_mlp
from perception.cli import add_model_parsers
from perception.driving import WEIGHTS_DIR
from perception.train import load_split
from tests.perception_fixtures import write_dataset

SHIPPED_BASELINE = WEIGHTS_DIR / "baseline_mlp.pt"


def _eval(argv: list[str], capsys) -> tuple[int, dict, list[str]]:
    parser = argparse.ArgumentParser()
    add_model_parsers(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["eval", *argv, "--json"])
    rc = args.func(args)
    lines = capsys.readouterr().out.strip().splitlines()
    return rc, json.loads(lines[-1]), lines[:-1]


@pytest.fixture(scope="module")
def rig_data(tmp_path_factory):
    """Frames on the shipped model's rig (3 cameras, 256x128): random pixels, labelled boxes and futures."""
    return write_dataset(tmp_path_factory.mktemp("d") / "data", {"train": 16, "test": 6}, width=256, height=128,
                         cameras=3, bev_resolution_m=0.5)


def test_eval_scores_the_shipped_model_in_each_backend_against_the_shipped_baseline(rig_data, capsys):
    rc, fp32, table = _eval(["--backend", "onnxruntime", "--data", str(rig_data)], capsys)
    assert rc == 0 and fp32["model"] == str(WEIGHTS_DIR / "e2e_fp32.onnx") and fp32["frames"] == 6
    assert {"mAP", "L2_1s", "L2_2s", "L2_3s", "collision_rate", "lane_iou"} <= set(fp32)
    # the baseline is the shipped one (fitted on the model's own training data), not one fitted on these 16 frames
    assert fp32["baseline_source"].startswith(str(SHIPPED_BASELINE))
    mlp, _ = load_ego_mlp(SHIPPED_BASELINE)
    ref = evaluate_ego_mlp(mlp, load_split(rig_data, "test"))
    assert fp32["baseline_L2_3s"] == pytest.approx(ref["L2_3s"])
    assert table[0].startswith(str(WEIGHTS_DIR / "e2e_fp32.onnx")) and "(baseline: " in table[-1]

    rc, int8, _ = _eval(["--backend", "onnxruntime", "--model", str(WEIGHTS_DIR / "e2e_int8.onnx"),
                         "--data", str(rig_data), "--baseline", "none"], capsys)
    assert rc == 0 and int8["model"].endswith("e2e_int8.onnx") and "baseline_L2_3s" not in int8
    assert int8["L2_3s"] != fp32["L2_3s"] and np.isfinite(int8["mAP"])      # another network ran

    rc, torch_res, _ = _eval(["--data", str(rig_data), "--baseline", "fit"], capsys)     # torch, shipped checkpoint
    assert rc == 0 and torch_res["checkpoint"] == str(WEIGHTS_DIR / "e2e.pt")
    assert torch_res["baseline_source"] == f"fitted on {rig_data}/train"
    assert torch_res["L2_3s"] == pytest.approx(fp32["L2_3s"], abs=0.02)     # ONNX Runtime runs the same network


def test_eval_says_what_is_wrong(rig_data, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_model_parsers(parser.add_subparsers(dest="cmd"))

    def run(*argv):
        args = parser.parse_args(["eval", *argv])
        return args.func(args)

    try:
        import tensorrt  # noqa: F401
    except ImportError:         # no TensorRT here: exit 2 with the reason, before anything is evaluated
        assert run("--backend", "tensorrt", "--data", str(rig_data)) == 2
        assert "--backend tensorrt: TensorRT is not installed" in capsys.readouterr().err
        from edgepilot.cli import main           # export says so before writing anything, with the CPU way out
        assert main(["perception", "export", "--format", "tensorrt", "--out", str(tmp_path / "trt")]) == 2
        assert "on this machine export --format onnx or onnx-int8" in capsys.readouterr().err
        assert not (tmp_path / "trt").exists()
    with pytest.raises(ValueError, match="--backend torch runs a checkpoint"):
        run("--model", str(WEIGHTS_DIR / "e2e_int8.onnx"), "--data", str(rig_data))
    with pytest.raises(FileNotFoundError, match="no model file at"):
        run("--backend", "onnxruntime", "--model", str(tmp_path / "none.onnx"), "--data", str(rig_data))
    with pytest.raises(ValueError, match="--fp16 builds an FP16 TensorRT engine"):
        run("--backend", "onnxruntime", "--fp16", "--data", str(rig_data))
    other_rig = write_dataset(tmp_path / "small", {"test": 2})            # 2 cameras of 32x16
    with pytest.raises(ValueError, match=r"model .*e2e_fp32.onnx has cameras .*front_left.*dataset"):
        run("--backend", "onnxruntime", "--data", str(other_rig))
    coarse = write_dataset(tmp_path / "coarse", {"test": 2}, width=256, height=128, cameras=3)   # 2 m BEV cells
    with pytest.raises(ValueError, match=r"dataset .*coarse: its meta.json gives seg_hw = \(30, 16\), checkpoint "
                                         r".*e2e.pt was trained for \(120, 64\)"):
        run("--data", str(coarse))


def test_the_default_dataset_folder_is_never_taken_over(tmp_path, monkeypatch):
    from perception.data.generate import EVAL_DATA_ENV, default_eval_dir, ensure_eval_dataset, generate

    monkeypatch.setenv(EVAL_DATA_ENV, str(tmp_path / "mine"))
    assert default_eval_dir() == tmp_path / "mine"
    monkeypatch.delenv(EVAL_DATA_ENV)
    assert default_eval_dir() == Path.home() / ".cache" / "edgepilot" / "perception-eval-seed0"
    # a folder holding a dataset of other settings is an error naming it and the way out, and stays as it was
    other = tmp_path / "other"
    generate(other, frames=2, splits={"test": 1.0}, seed=3, workers=1, progress=False)
    before = sorted(p.name for p in other.rglob("*"))
    with pytest.raises(ValueError, match=rf"evaluation dataset {other}: .*progress.json: generated with other "
                                         rf"settings .*frames.*seed.*{EVAL_DATA_ENV}"):
        ensure_eval_dataset(other, workers=1, progress=False)
    assert sorted(p.name for p in other.rglob("*")) == before


def test_the_baseline_file_round_trips_and_rejects_other_files(tmp_path, rig_data):
    mlp = train_ego_mlp(load_split(rig_data, "train"), seed=0, epochs=3, hidden=16)
    path = save_ego_mlp(mlp, tmp_path / "b.pt", {"data": "somewhere"})
    back, info = load_ego_mlp(path)
    arrays = load_split(rig_data, "test")
    assert isinstance(back, EgoMLP) and info == {"data": "somewhere"}
    assert np.array_equal(back.predict(arrays["ego"], arrays["command"]), mlp.predict(arrays["ego"], arrays["command"]))
    import torch
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not an ego-status baseline file"):
        load_ego_mlp(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="ego-status baseline not found"):
        load_ego_mlp(tmp_path / "nothing.pt")


def test_the_shipped_baseline_is_the_one_the_model_card_reports():
    """Its file says what it was fitted on (the model's 8400 training frames) and with which settings."""
    mlp, info = load_ego_mlp(SHIPPED_BASELINE)
    assert "8400 frames" in info["data"] and info["epochs"] == 300 and info["seed"] == 0
    assert mlp.prior == "ctrv" and mlp.steps == 6
