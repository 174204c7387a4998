"""Deployment: backend selection, the clear TensorRT message, ONNX checker/parity, INT8 within tolerance."""
from __future__ import annotations

import numpy as np
import pytest

from perception.export import ExportReport, export_onnx, quantize_int8
from perception.runtime import BACKENDS, BackendUnavailable, available_backends, open_backend
from perception_fixtures import make_arrays, make_meta
from test_perception_model import tiny_model


def exported_cfg_rig():
    from perception.model import apply_meta, load_config, rig_from_meta
    from test_perception_model import TINY

    meta = make_meta()
    return apply_meta(load_config(TINY), meta), rig_from_meta(meta)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model, meta = tiny_model()
    d = tmp_path_factory.mktemp("deploy")
    frames = make_arrays(24, meta, seed=3)
    sample = {"images": frames["images"][:4], "ego": frames["ego"][:4], "command": frames["command"][:4]}
    report = export_onnx(model, d / "tiny.onnx", sample)
    return model, frames, report, d


def test_onnx_export_is_checked_and_matches_torch(exported):
    _, _, report, _ = exported
    assert isinstance(report, ExportReport) and report.checker_ok
    assert set(report.max_abs_diff) == {"det_logits", "det_boxes", "seg_logits", "plan"}
    assert max(report.max_abs_diff.values()) < 1e-3


def test_backends_give_the_same_outputs(exported, tmp_path):
    import torch

    model, frames, report, _ = exported
    ckpt = tmp_path / "tiny.pt"
    cfg, rig = exported_cfg_rig()
    torch.save({"cfg": cfg.to_dict(), "rig": rig, "model": model.state_dict()}, ckpt)
    x = (frames["images"][:2], frames["ego"][:2], frames["command"][:2])
    a = open_backend("torch", ckpt).run(*x)
    b = open_backend("onnxruntime", report.path).run(*x)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-3)


def test_int8_stays_close_to_fp32(exported):
    _, frames, report, d = exported
    calib = {k: frames[k][:16] for k in ("images", "ego", "command")}
    q = quantize_int8(report.path, d / "tiny.int8.onnx", calib, count=16)
    assert q.format == "onnx-int8" and q.size_bytes > 0   # size targets are measured on default.yaml (benchmark)
    x = (frames["images"][16:24], frames["ego"][16:24], frames["command"][16:24])
    fp32 = open_backend("onnxruntime", report.path).run(*x)
    int8 = open_backend("onnxruntime", q.path).run(*x)
    # planning waypoints (metres, up to ~20 m ahead here): an untrained tiny net on random pixels moves
    # them by a few percent under INT8; a broken quantization moves them by metres
    err = np.abs(fp32["plan"] - int8["plan"])
    assert err.max() < 0.05 * np.abs(fp32["plan"]).max() + 0.1
    assert err.mean() < 0.1
    # segmentation decisions mostly agree
    agree = np.mean((fp32["seg_logits"] > 0) == (int8["seg_logits"] > 0))
    assert agree > 0.9


def test_backend_selection_and_errors(exported, tmp_path):
    assert "onnxruntime" in available_backends() and set(available_backends()) <= set(BACKENDS)
    with pytest.raises(ValueError, match="unknown backend 'tflite'"):
        open_backend("tflite", tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        open_backend("onnxruntime", tmp_path / "missing.onnx")
    _, frames, report, _ = exported
    b = open_backend("onnxruntime", report.path)
    with pytest.raises(ValueError, match="images: expected uint8"):
        b.run(frames["images"].astype(np.float32)[:1], frames["ego"][:1], frames["command"][:1])


def test_tensorrt_missing_is_a_clear_message(tmp_path):
    pytest.importorskip("torch")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT present: the GPU path is exercised on the device machine")
    except ImportError:
        pass
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed.*use --backend onnxruntime"):
        open_backend("tensorrt", tmp_path / "model.engine")
    from perception.export import build_tensorrt_engine

    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"):
        build_tensorrt_engine(tmp_path / "m.onnx", tmp_path / "m.engine")


def test_export_cli_writes_checked_onnx_and_int8(tmp_path, capsys):
    import json

    from edgepilot.cli import main
    from perception.train import train
    from perception_fixtures import write_dataset
    from test_perception_model import TINY

    data = write_dataset(tmp_path / "data", {"train": 8, "val": 4, "test": 4})
    train(TINY, data, tmp_path / "run", max_minutes=1e-6, progress=False)
    rc = main(["perception", "export", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--format", "onnx-int8",
               "--data", str(data), "--calibration-frames", "8", "--out", str(tmp_path / "models")])
    assert rc == 0
    assert (tmp_path / "models" / "model.onnx").is_file() and (tmp_path / "models" / "model.int8.onnx").is_file()
    out = capsys.readouterr().out
    assert '"checker_ok": true' in out and '"format": "onnx-int8"' in out
    with pytest.raises(SystemExit):
        main(["perception", "export", "--checkpoint", "x.pt", "--format", "tflite"])
    assert main(["perception", "export", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--format",
                 "onnx-int8", "--out", str(tmp_path / "m2")]) == 2   # no calibration data: clear error
    assert "needs --data" in capsys.readouterr().err
