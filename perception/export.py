"""Export the driving model to its deployment formats: ONNX FP32, ONNX INT8 (static QDQ) and TensorRT.

Every export is checked: the ONNX graph with `onnx.checker`, its outputs against torch on real frames, the
INT8 model against the FP32 one. Calibration data are simulator frames from the dataset (never random
tensors: activation ranges must be the ones the car will see). Which nodes INT8 quantizes, and why not all of
them, is perception/quantize.py's business (recipes, measured with benchmarks/int8_profile.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .quantize import (CALIBRATION_METHODS, DEFAULT_CALIBRATION, DEFAULT_RECIPE, RECIPES,
                       FrameCalibrationReader, compare_calibration_methods, frames_for, make_session, output_error,
                       quantize_model, run_outputs)
from .runtime import OUTPUT_NAMES, BackendUnavailable, _require_tensorrt

OPSET = 17


@dataclass
class ExportReport:
    path: str
    format: str
    size_bytes: int
    checker_ok: bool = False
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def export_onnx(model, path: str | Path, sample: dict[str, np.ndarray] | None = None,
                opset: int = OPSET) -> ExportReport:
    """One standard ONNX graph (no custom ops, dynamic batch), checked with onnx.checker and compared with
    eager torch on `sample` (dataset frames; random bytes of the right shape when None)."""
    import onnx

    from perception.model import export_onnx as torch_export
    from perception.model.network import dummy_inputs

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch_export(model.eval(), str(path), opset=opset)
    write_metadata(path, model)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    if sample is None:
        sample = dict(zip(model.input_names, (t.numpy() for t in dummy_inputs(model.cfg, batch=2))))
    report = ExportReport(str(path), "onnx", path.stat().st_size, checker_ok=True)
    report.max_abs_diff = compare_with_torch(model, path, sample)
    return report


#: ONNX metadata_props keys: what a runtime needs to decode the outputs without torch or the checkpoint.
META_CONFIG = "edgepilot.model_config"   # JSON of ModelConfig (BEV range, vel_scale, future_dt, ...)
META_RIG = "edgepilot.rig"               # JSON list of cameras {name, width, height, K, T_cam_to_ego}
META_CLASSES = "edgepilot.classes"       # JSON list of class names (index = class id)


def write_metadata(path: str | Path, model) -> None:
    """Store the model config, rig and class names in the freshly exported ONNX file (read back by
    runtime.model_metadata) and shorten its internal tensor names (the exporter's are ~80 kB; node names stay for
    profiles: quantize.shorten_tensor_names)."""
    import onnx

    from perception.quantize import shorten_tensor_names

    m = onnx.load(str(path))
    shorten_tensor_names(m)
    classes = getattr(model, "classes", None) or ["car", "truck", "pedestrian", "cyclist", "obstacle"]
    props = {META_CONFIG: json.dumps(asdict(model.cfg)), META_RIG: json.dumps(model.rig),
             META_CLASSES: json.dumps(list(classes))}
    del m.metadata_props[:]
    for k, v in props.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(m, str(path))


def compare_with_torch(model, onnx_path: str | Path, sample: dict[str, np.ndarray]) -> dict[str, float]:
    """Max absolute difference per output between eager torch and ONNX Runtime on the same inputs (the ego
    columns are fitted to the model's input: dataset format v1 frames lack the set speed)."""
    import torch

    feeds = frames_for(onnx_path, sample)
    with torch.inference_mode():
        ref = model(*(torch.from_numpy(np.ascontiguousarray(feeds[k])) for k in model.input_names))
    if isinstance(ref, dict):
        ref = [ref[k] for k in OUTPUT_NAMES]
    session = make_session(onnx_path, threads=2)
    got = dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), {k: feeds[k] for k in model.input_names})))
    return {k: float(np.max(np.abs(r.numpy() - got[k]))) for k, r in zip(OUTPUT_NAMES, ref)}


def quantize_int8(fp32_path: str | Path, out_path: str | Path, calibration: dict[str, np.ndarray], *,
                  method: str = DEFAULT_CALIBRATION, per_channel: bool = True, count: int = 64,
                  op_types: tuple[str, ...] | None = None, nodes_to_exclude: tuple[str, ...] = (),
                  recipe: str = DEFAULT_RECIPE, held_out: dict[str, np.ndarray] | None = None,
                  **recipe_overrides) -> ExportReport:
    """Static INT8 (QDQ) with calibration on simulator frames, by an op/shape recipe (perception.quantize.RECIPES;
    the default keeps what INT8 does not speed up on an AVX2 CPU in FP32). `op_types` replaces the recipe's op
    types, `nodes_to_exclude` adds exclusions, `recipe_overrides` replace recipe fields (activation_type="s8",
    reduce_range=True, ...). The ONNX metadata (config, rig, classes) is copied from the FP32 file.

    The report's notes give the recipe, the node plan and the FP32-vs-INT8 output difference on the calibration
    frames and, when `held_out` frames are given, on those (max_abs_diff is then measured on held_out).
    """
    import onnx

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    info = quantize_model(fp32_path, out_path, calibration, recipe=recipe, method=method, count=count,
                          op_types=op_types, nodes_to_exclude=nodes_to_exclude, per_channel=per_channel,
                          **recipe_overrides)
    onnx.checker.check_model(onnx.load(str(out_path)), full_check=True)
    r = info["recipe"]
    fp32_size, size = fp32_path.stat().st_size, out_path.stat().st_size
    notes = [r.summary(),
             f"{method} calibration on {info['frames']} frames; nodes: " +
             ", ".join(f"{k} {v}" for k, v in info["plan"].counts().items()),
             f"file {size / 1e6:.2f} MB = {100 * size / fp32_size:.0f}% of FP32 ({fp32_size / 1e6:.2f} MB)"]
    s32, s8 = make_session(fp32_path), make_session(out_path)
    checks = {"calibration": {k: np.asarray(v)[: min(8, info["frames"])] for k, v in calibration.items()}}
    if held_out is not None:
        checks["held-out"] = held_out
    max_abs: dict[str, float] = {}
    for label, frames in checks.items():
        f = frames_for(fp32_path, frames)
        err = output_error(run_outputs(s32, f), run_outputs(s8, f))
        notes.append(f"INT8 vs FP32 on {len(f['ego'])} {label} frames: "
                     f"plan L2 mean {err['plan_l2_mean_m']:.3f} m "
                     f"(max {err['plan_l2_max_m']:.3f}), seg agreement {err['seg_agreement']:.4f}, detection class "
                     f"agreement {err['det_class_agreement']:.3f}, "
                     f"det logits rel. error {err['det_logits_rel_err']:.3f}")
        max_abs = {k: err[f"max_abs_{k}"] for k in OUTPUT_NAMES if f"max_abs_{k}" in err}
    return ExportReport(str(out_path), "onnx-int8", size, checker_ok=True, max_abs_diff=max_abs, notes=notes)


def build_tensorrt_engine(onnx_path: str | Path, engine_path: str | Path, *, fp16: bool = True,
                          int8: bool = False, workspace_mib: int = 1024) -> ExportReport:
    """Serialize a TensorRT engine from the ONNX graph (FP16; INT8 through the graph's explicit Q/DQ).

    Raises BackendUnavailable with the reason on machines without TensorRT and an NVIDIA GPU.
    """
    import onnx

    from perception.quantize import expand_constant_storage

    trt, _ = _require_tensorrt()
    model = onnx.load(str(onnx_path))
    expand_constant_storage(model)      # the INT8 file's int8/int16-stored constants, as FP32/int64 again
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.SerializeToString()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{onnx_path}: TensorRT could not parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if int8:
        config.set_flag(trt.BuilderFlag.INT8)   # scales come from the explicit Q/DQ nodes
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        t = network.get_input(i)
        shape = tuple(max(d, 1) for d in t.shape)
        profile.set_shape(t.name, shape, shape, shape)
    config.add_optimization_profile(profile)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise RuntimeError(f"{onnx_path}: TensorRT engine build failed (see the TensorRT log above)")
    engine_path = Path(engine_path)
    engine_path.write_bytes(bytes(blob))
    kind = "tensorrt-int8" if int8 else "tensorrt-fp16" if fp16 else "tensorrt-fp32"
    return ExportReport(str(engine_path), kind, engine_path.stat().st_size, checker_ok=True)


__all__ = ["ExportReport", "export_onnx", "compare_with_torch", "quantize_int8", "build_tensorrt_engine",
           "FrameCalibrationReader", "BackendUnavailable", "CALIBRATION_METHODS", "OPSET", "RECIPES",
           "DEFAULT_RECIPE", "compare_calibration_methods", "write_metadata"]
