"""Deployment: backend selection, the clear TensorRT message, ONNX checker/parity, INT8 within tolerance."""
from __future__ import annotations

import re
from pathlib import Path

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


@pytest.fixture(scope="module")
def quantized(exported):
    _, frames, report, d = exported
    calib = {k: frames[k][:16] for k in ("images", "ego", "command")}
    held = {k: frames[k][16:24] for k in ("images", "ego", "command")}
    q = quantize_int8(report.path, d / "tiny.int8.onnx", calib, count=16, held_out=held)
    return q, calib, held


def test_int8_stays_close_to_fp32(exported, quantized):
    from perception.quantize import frames_for, make_session, run_outputs

    _, frames, report, d = exported
    q, _, held = quantized
    assert q.format == "onnx-int8" and q.size_bytes > 0 and q.checker_ok
    # the report says what was quantized and how far INT8 is from FP32 on the held-out frames
    assert any("recipe 'conv-nostem'" in n for n in q.notes)
    assert any("held-out frames" in n and "plan L2" in n for n in q.notes)
    assert set(q.max_abs_diff) == {"det_logits", "det_boxes", "seg_logits", "plan"}
    x = frames_for(report.path, held)
    fp32 = run_outputs(make_session(report.path), x)
    int8 = run_outputs(make_session(q.path), x)
    # planning waypoints (metres, up to ~20 m ahead here): an untrained tiny net on random pixels moves
    # them by a few percent under INT8; a broken quantization moves them by metres
    err = np.abs(fp32["plan"] - int8["plan"])
    assert err.max() < 0.05 * np.abs(fp32["plan"]).max() + 0.1
    assert err.mean() < 0.1
    # segmentation decisions mostly agree
    agree = np.mean((fp32["seg_logits"] > 0) == (int8["seg_logits"] > 0))
    assert agree > 0.9
    # class logits stay close (top-K proposals of an untrained net may reorder, so no box check here)
    assert np.mean(np.abs(fp32["det_logits"] - int8["det_logits"])) < 0.1 * np.mean(np.abs(fp32["det_logits"])) + 0.05


def test_int8_file_keeps_the_metadata(exported, quantized):
    from perception.runtime import model_metadata

    _, _, report, _ = exported
    q, _, _ = quantized
    assert model_metadata(q.path) == model_metadata(report.path)
    assert model_metadata(q.path)["rig"] and model_metadata(q.path)["classes"]
    # an export's --out directory given where the model file belongs: named, with the file it holds
    with pytest.raises(ValueError, match=r"no ONNX model file there \(a directory: it holds .*\.onnx"):
        model_metadata(Path(report.path).parent)
    with pytest.raises(ValueError, match="missing.onnx: no ONNX model file there"):
        model_metadata(Path(report.path).parent / "missing.onnx")


def test_int8_recipe_quantizes_what_it_says(exported, quantized):
    """conv-nostem: the 3-channel stem and the < 16-channel logit convs stay FP32; every other Conv becomes INT8
    (QDQ with its Relu folded in); no MatMul, Softmax or LayerNorm is quantized."""
    import onnx

    from perception.quantize import RECIPES, plan_nodes

    _, _, report, _ = exported
    q, _, _ = quantized
    fp = onnx.load(report.path)
    inits = {i.name: i for i in fp.graph.initializer}
    convs = {n.name: n for n in fp.graph.node if n.op_type == "Conv"}
    plan = plan_nodes(fp, RECIPES["conv-nostem"])
    reasons = plan.excluded
    stem = [n for n, c in convs.items() if inits[c.input[1]].dims[1] == 3]
    assert len(stem) == 1 and reasons[stem[0]].startswith("stem conv")
    assert sum(r.startswith("conv reading the FP32 stem") for r in reasons.values()) == 0
    trunk = plan_nodes(fp, RECIPES["conv-trunk"]).excluded
    assert sum(r.startswith("conv reading the FP32 stem") for r in trunk.values()) == 1
    logits = [n for n, c in convs.items() if inits[c.input[1]].dims[0] < 16 and n not in stem]
    assert logits and all(reasons[n].startswith("conv with < 16 output channels") for n in logits)
    chosen = [n for n in plan.quantize if n in convs]
    assert chosen and set(chosen) | set(reasons) >= set(convs)

    m = onnx.load(q.path)
    producer = {o: n for n in m.graph.node for o in n.output}
    qconv = {n.name for n in m.graph.node if n.op_type == "Conv" and n.input[1] in producer
             and producer[n.input[1]].op_type == "DequantizeLinear"}
    fconv = {n.name for n in m.graph.node if n.op_type == "Conv" and n.name not in qconv}
    assert qconv == set(chosen)
    assert set(stem) <= fconv and set(logits) <= fconv
    # the FP32 stem keeps plain constant weight and bias (what ONNX Runtime's NCHWc conv needs)
    stem_node = next(n for n in m.graph.node if n.name == stem[0])
    assert all(i not in producer or producer[i].op_type == "Cast" for i in stem_node.input[1:])
    for node in m.graph.node:
        if node.op_type in ("MatMul", "Softmax", "LayerNormalization", "Gemm"):
            assert all(i not in producer or producer[i].op_type != "DequantizeLinear" for i in node.input), node.name


def test_naive_recipe_quantizes_matmuls_the_default_does_not(exported, tmp_path):
    """The naive recipe (every op) quantizes MatMuls and Softmax; the default one does not."""
    import onnx

    from perception.quantize import quantize_model

    _, frames, report, _ = exported
    calib = {k: frames[k][:8] for k in ("images", "ego", "command")}
    info = quantize_model(report.path, tmp_path / "naive.onnx", calib, recipe="all-ops", count=8)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "naive.onnx")).graph.node}
    assert info["recipe"].op_types is None and "QuantizeLinear" in ops
    q = onnx.load(str(tmp_path / "naive.onnx"))
    producer = {o: n for n in q.graph.node for o in n.output}
    assert any(n.op_type == "MatMul" and any(i in producer and producer[i].op_type == "DequantizeLinear"
                                             for i in n.input) for n in q.graph.node)


def test_compact_constants_stores_scaled_priors_once_and_fp16(tmp_path):
    """Per-head scaled copies of one prior are stored once (+ scales); other big constants as FP16: ONNX Runtime
    folds both back at load."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from perception.quantize import compact_constants, make_session

    rng = np.random.default_rng(0)
    prior = -rng.uniform(0, 20, (6, 50)).astype(np.float32)
    c1 = np.array([1.0, 0.5, 2.0], np.float32)[:, None, None] * prior[None]
    c2 = np.array([0.3, 1.5, 1.0], np.float32)[:, None, None] * prior[None]
    table = rng.normal(0, 1, (80, 64)).astype(np.float32)
    nodes = [helper.make_node("Add", ["x", "c1"], ["a"]), helper.make_node("Add", ["a", "c2"], ["b"]),
             helper.make_node("MatMul", ["y", "table"], ["z"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 50]),
                                       helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 80])],
                          [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 6, 50]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 64])],
                          [numpy_helper.from_array(c1, "c1"), numpy_helper.from_array(c2, "c2"),
                           numpy_helper.from_array(table, "table")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "a.onnx"))
    stats = compact_constants(m, min_elements=256)
    assert stats["unfolded"] == 2 and stats["initializer_bytes_after"] < 0.5 * stats["initializer_bytes_before"]
    onnx.checker.check_model(m)
    onnx.save(m, str(tmp_path / "b.onnx"))
    feed = {"x": rng.normal(0, 1, (1, 3, 6, 50)).astype(np.float32), "y": rng.normal(0, 1, (2, 80)).astype(np.float32)}
    a = make_session(tmp_path / "a.onnx").run(None, feed)
    b = make_session(tmp_path / "b.onnx").run(None, feed)
    # both priors come back from one FP16-stored base times their scales; the table from FP16
    np.testing.assert_allclose(a[0], b[0], rtol=2e-3, atol=2e-2)
    np.testing.assert_allclose(a[1], b[1], rtol=2e-3, atol=2e-2)

    # int8 storage (the default recipe's): one scale per row of the last axis, each value within half a step;
    # the shape hints go too
    m8 = onnx.load(str(tmp_path / "a.onnx"))
    m8.graph.value_info.append(helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3, 6, 50]))
    stats8 = compact_constants(m8, min_elements=256, float_storage="int8")
    assert stats8["int8_stored"] == 2 and not m8.graph.value_info      # the shared prior base and the table
    assert stats8["initializer_bytes_after"] < 0.3 * stats8["initializer_bytes_before"]
    onnx.checker.check_model(m8)
    onnx.save(m8, str(tmp_path / "c.onnx"))
    stored = {i.name: numpy_helper.to_array(i) for i in m8.graph.initializer}
    assert stored["table_i8"].dtype == np.int8 and stored["table_i8s"].shape == (80, 1)
    step = np.abs(table).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(stored["table_i8"] * stored["table_i8s"] - table) <= step / 2 + 1e-6)
    c = make_session(tmp_path / "c.onnx").run(None, feed)
    np.testing.assert_allclose(a[1], c[1], rtol=0.02, atol=0.05 * np.abs(a[1]).max())
    np.testing.assert_allclose(a[0], c[0], rtol=0.02, atol=0.01 * np.abs(a[0]).max())
    with pytest.raises(ValueError, match="float_storage must be 'fp16' or 'int8'"):
        compact_constants(onnx.load(str(tmp_path / "a.onnx")), float_storage="bf16")


def test_compact_constants_narrow_tables_and_short_names(tmp_path):
    """A [N, 1] table shares one int8 scale per 32 values (not a 4-byte scale per 1-byte value), an int64 index
    table is stored in the narrowest integer type that holds it, and shortening the internal tensor names keeps
    inputs, outputs and node names: the session gives the same results."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from perception.quantize import compact_constants, make_session, shorten_tensor_names

    rng = np.random.default_rng(1)
    column = rng.uniform(0.5, 2.0, (640, 1)).astype(np.float32)
    idx = rng.integers(0, 1000, 640).astype(np.int64)
    src = rng.normal(0, 1, (1000,)).astype(np.float32)
    nodes = [helper.make_node("Mul", ["x", "column"], ["scaled"], name="scale_node"),
             helper.make_node("Gather", ["src", "idx"], ["picked"], name="gather_node"),
             helper.make_node("Unsqueeze", ["picked", "axes"], ["picked2"], name="unsq_node"),
             helper.make_node("Add", ["scaled", "picked2"], ["y"], name="add_node")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [640, 4]),
                                       helper.make_tensor_value_info("src", TensorProto.FLOAT, [1000])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [640, 4])],
                          [numpy_helper.from_array(column, "column"), numpy_helper.from_array(idx, "idx"),
                           numpy_helper.from_array(np.array([1], np.int64), "axes")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "a.onnx"))
    stats = compact_constants(m, float_storage="int8")
    stored = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    assert stored["column_i8"].shape == (20, 32) and stored["column_i8s"].shape == (20, 1)
    assert stored["idx_i16"].dtype == np.int16 and np.array_equal(stored["idx_i16"], idx)
    assert stats["initializer_bytes_after"] < 0.45 * stats["initializer_bytes_before"]
    names = shorten_tensor_names(m)
    assert names["name_bytes_after"] < names["name_bytes_before"]
    assert [n.name for n in m.graph.node][-4:] == ["scale_node", "gather_node", "unsq_node", "add_node"]
    assert {i.name for i in m.graph.input} == {"x", "src"} and {o.name for o in m.graph.output} == {"y"}
    assert not any("column" in i.name for i in m.graph.initializer)
    onnx.checker.check_model(m)
    onnx.save(m, str(tmp_path / "b.onnx"))
    # control flow: a subgraph may read outer names, so nothing is renamed
    branch = helper.make_graph([helper.make_node("Identity", ["outer_value"], ["o"])], "b", [],
                               [helper.make_tensor_value_info("o", TensorProto.FLOAT, [1])])
    cf = helper.make_graph([helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)], "cf",
                           [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                           [numpy_helper.from_array(np.ones(1, np.float32), "outer_value")])
    mcf = helper.make_model(cf, opset_imports=[helper.make_opsetid("", 17)])
    before = mcf.SerializeToString()
    assert "subgraph" in shorten_tensor_names(mcf)["skipped"] and mcf.SerializeToString() == before
    x = rng.normal(0, 1, (640, 4)).astype(np.float32)
    a = make_session(tmp_path / "a.onnx").run(None, {"x": x, "src": src})[0]
    b = make_session(tmp_path / "b.onnx").run(None, {"x": x, "src": src})[0]
    step = np.abs(column.reshape(20, 32)).max(axis=1).repeat(32)[:, None] / 127      # half a step per value
    assert np.all(np.abs(a - b) <= np.abs(x) * step / 2 + 1e-5)
    assert not np.array_equal(a, b)          # it is the int8 copy that ran


def test_calibration_methods_are_compared(exported, tmp_path):
    from perception.quantize import CALIBRATION_METHODS, compare_calibration_methods

    _, frames, report, _ = exported
    calib = {k: frames[k][:8] for k in ("images", "ego", "command")}
    held = {k: frames[k][16:20] for k in ("images", "ego", "command")}
    res = compare_calibration_methods(report.path, calib, held, tmp_path, count=8,
                                      evaluate_fn=lambda p: {"size": float(p.stat().st_size)})
    assert set(res) == set(CALIBRATION_METHODS)
    for r in res.values():
        assert 0.0 <= r["seg_agreement"] <= 1.0 and r["plan_l2_mean_m"] >= 0.0 and r["size"] > 0
    with pytest.raises(ValueError, match="calibration method 'kl'"):
        quantize_int8(report.path, tmp_path / "x.onnx", calib, method="kl")


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
    assert '"format": "onnx-int8"' in out and "recipe 'conv-nostem'" in out and "held-out frames" in out
    with pytest.raises(SystemExit):
        main(["perception", "export", "--checkpoint", "x.pt", "--format", "tflite"])
    assert main(["perception", "export", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--format",
                 "onnx-int8", "--out", str(tmp_path / "m2")]) == 2   # no calibration data: clear error
    err = capsys.readouterr().err      # (the default evaluation dataset is of other cameras: not generated)
    assert "needs --data DIR" in err and "('front', 32, 16)" in err and "('front', 256, 128)" in err
    other = write_dataset(tmp_path / "other", {"train": 2}, width=48, height=24)
    assert main(["perception", "export", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--format", "onnx-int8",
                 "--data", str(other), "--out", str(tmp_path / "m3")]) == 2
    assert re.search(r"checkpoint .*last.pt has cameras .*32, 16.*dataset .*other.*48, 24", capsys.readouterr().err)


def test_torch_backend_device_options_are_checked(exported, tmp_path):
    import torch

    model, frames, _, _ = exported
    ckpt = tmp_path / "tiny.pt"
    cfg, rig = exported_cfg_rig()
    torch.save({"cfg": cfg.to_dict(), "rig": rig, "model": model.state_dict()}, ckpt)
    with pytest.raises(BackendUnavailable, match="fp16 needs a CUDA device"):
        open_backend("torch", ckpt, fp16=True)
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="device 'cuda': no CUDA GPU is visible"):
            open_backend("torch", ckpt, device="cuda")
        return
    x = (frames["images"][:4], frames["ego"][:4], frames["command"][:4])
    ref = open_backend("torch", ckpt).run(*x)
    fp32 = open_backend("torch", ckpt, device="cuda").run(*x)
    fp16 = open_backend("torch", ckpt, device="cuda", fp16=True).run(*x)
    for k in ref:
        assert fp32[k].dtype == np.float32 and fp16[k].dtype == np.float32 and fp16[k].shape == ref[k].shape
        np.testing.assert_allclose(fp32[k], ref[k], atol=2e-3, rtol=1e-3)
        assert np.isfinite(fp16[k]).all()
    # No elementwise FP16 bound here: on this untrained tiny model FP16 moves det logits by up to 0.5 (H100, measured);
    # FP16 accuracy is measured on the trained model by benchmarks/perception_bench.py (mAP, L2, IoU per backend).


def test_release_then_onnx_only_rebuild_keeps_the_checkpoint_and_its_metrics(tmp_path, capsys):
    """`perception release` writes the shipped files; `release --onnx-only` re-exports the ONNX files from that
    checkpoint (a graph change) and replaces only their entries in metrics.json."""
    import json

    from edgepilot.cli import main
    from perception.train import train
    from perception_fixtures import write_dataset
    from test_perception_model import TINY

    data = write_dataset(tmp_path / "data", {"train": 16, "val": 4, "test": 6})
    train(TINY, data, tmp_path / "run", max_minutes=1e-6, progress=False)
    out = tmp_path / "weights"
    assert main(["perception", "release", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--data", str(data),
                 "--out", str(out), "--no-suite"]) == 0
    first = json.loads((out / "metrics.json").read_text())
    assert {"torch", "onnxruntime_fp32", "onnxruntime_int8", "ego_mlp_baseline"} <= set(first)
    ckpt = (out / "e2e.pt").read_bytes()
    (out / "e2e_fp32.onnx").write_bytes(b"stale")              # what a graph change leaves behind
    (out / "e2e_int8.onnx").unlink()
    assert main(["perception", "release", "--onnx-only", "--data", str(data), "--out", str(out), "--no-suite"]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert (out / "e2e.pt").read_bytes() == ckpt
    assert again["torch"] == first["torch"] and again["ego_mlp_baseline"] == first["ego_mlp_baseline"]
    assert again["onnxruntime_fp32"]["mAP"] == pytest.approx(first["onnxruntime_fp32"]["mAP"], abs=1e-6)
    assert again["model"]["sizes_bytes"]["fp32"] == (out / "e2e_fp32.onnx").stat().st_size > 1000
    assert again["onnx_rebuilt"]["data"]["splits"] == {"train": 16, "val": 4, "test": 6}
    assert again["onnx_rebuilt"]["suite_rerun"] is False
    # the split must be the one metrics.json was measured on
    other = write_dataset(tmp_path / "other", {"train": 16, "test": 5})
    capsys.readouterr()
    onnx_bytes = (out / "e2e_fp32.onnx").read_bytes()
    assert main(["perception", "release", "--onnx-only", "--data", str(other), "--out", str(out), "--no-suite"]) != 0
    assert "has 5 frames, metrics.json was measured on 6" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text()) == again          # nothing written
    assert (out / "e2e_fp32.onnx").read_bytes() == onnx_bytes
    assert main(["perception", "release", "--data", str(data), "--out", str(out)]) == 2
    assert "--checkpoint is required" in capsys.readouterr().err


def test_expand_constant_storage_gives_the_runtime_graph_back(tmp_path):
    """The shipped INT8 file with its compact storage undone (what the TensorRT builder parses): no int16 or
    int8-stored constants left outside Q/DQ, the Q/DQ nodes kept, and ONNX Runtime gives the same outputs, bit for
    bit, since it folds the same Cast/Mul/Reshape chains at load."""
    import onnx
    from onnx import TensorProto

    from perception.quantize import expand_constant_storage, make_session
    from perception.release import FILES, WEIGHTS_DIR

    path = Path(WEIGHTS_DIR) / FILES["int8"]
    m = onnx.load(str(path))
    qdq = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in m.graph.node)
    folded = expand_constant_storage(m)
    assert folded > 50
    assert not any(i.data_type == TensorProto.INT16 for i in m.graph.initializer)
    inits = {i.name for i in m.graph.initializer}
    assert not any(n.op_type in ("Cast", "Reshape") and all(x in inits for x in n.input) for n in m.graph.node)
    assert sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in m.graph.node) == qdq
    onnx.checker.check_model(m)
    onnx.save(m, str(tmp_path / "expanded.onnx"))
    a = make_session(path)
    b = make_session(tmp_path / "expanded.onnx")
    rng = np.random.default_rng(0)
    feed = {}
    for i in a.get_inputs():
        shape = [1 if not isinstance(d, int) else d for d in i.shape]
        feed[i.name] = {"tensor(uint8)": lambda: rng.integers(0, 256, shape).astype(np.uint8),
                        "tensor(int64)": lambda: rng.integers(0, 3, shape).astype(np.int64),
                        "tensor(float)": lambda: rng.uniform(0, 1, shape).astype(np.float32)}[i.type]()
    for x, y in zip(a.run(None, feed), b.run(None, feed)):
        np.testing.assert_array_equal(x, y)
