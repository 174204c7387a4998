"""Export the driving model to its deployment formats: ONNX FP32, ONNX INT8 (static QDQ) and TensorRT.

Every export is checked: the ONNX graph with `onnx.checker`, its outputs against torch on real frames, the
INT8 model against the FP32 one. Calibration data are simulator frames from the dataset (never random
tensors: activation ranges must be the ones the car will see).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .runtime import INPUT_NAMES, OUTPUT_NAMES, BackendUnavailable, _require_tensorrt

OPSET = 17
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


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
        sample = dict(zip(INPUT_NAMES, (t.numpy() for t in dummy_inputs(model.cfg, batch=2))))
    report = ExportReport(str(path), "onnx", path.stat().st_size, checker_ok=True)
    report.max_abs_diff = compare_with_torch(model, path, sample)
    return report


#: ONNX metadata_props keys: what a runtime needs to decode the outputs without torch or the checkpoint.
META_CONFIG = "edgepilot.model_config"   # JSON of ModelConfig (BEV range, vel_scale, future_dt, ...)
META_RIG = "edgepilot.rig"               # JSON list of cameras {name, width, height, K, T_cam_to_ego}
META_CLASSES = "edgepilot.classes"       # JSON list of class names (index = class id)


def write_metadata(path: str | Path, model) -> None:
    """Store the model config, rig and class names in the ONNX file (read back by runtime.model_metadata)."""
    import onnx

    m = onnx.load(str(path))
    classes = getattr(model, "classes", None) or ["car", "truck", "pedestrian", "cyclist", "obstacle"]
    props = {META_CONFIG: json.dumps(asdict(model.cfg)), META_RIG: json.dumps(model.rig),
             META_CLASSES: json.dumps(list(classes))}
    del m.metadata_props[:]
    for k, v in props.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(m, str(path))


def compare_with_torch(model, onnx_path: str | Path, sample: dict[str, np.ndarray]) -> dict[str, float]:
    """Max absolute difference per output between eager torch and ONNX Runtime on the same inputs."""
    import torch

    from .runtime import OnnxRuntimeBackend

    with torch.inference_mode():
        ref = model(*(torch.from_numpy(np.ascontiguousarray(sample[k])) for k in INPUT_NAMES))
    if isinstance(ref, dict):
        ref = [ref[k] for k in OUTPUT_NAMES]
    got = OnnxRuntimeBackend(Path(onnx_path)).run(*(sample[k] for k in INPUT_NAMES))
    return {k: float(np.max(np.abs(r.numpy() - got[k]))) for k, r in zip(OUTPUT_NAMES, ref)}


class FrameCalibrationReader:
    """onnxruntime.quantization CalibrationDataReader over dataset frames (images, ego, command)."""

    def __init__(self, frames: dict[str, np.ndarray], count: int | None = None) -> None:
        n = len(frames["images"]) if count is None else min(count, len(frames["images"]))
        self._frames = frames
        self._iter: Iterator[dict[str, np.ndarray]] = iter(
            {"images": frames["images"][i:i + 1], "ego": frames["ego"][i:i + 1].astype(np.float32),
             "command": frames["command"][i:i + 1].astype(np.int64)} for i in range(n))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)


def quantize_int8(fp32_path: str | Path, out_path: str | Path, calibration: dict[str, np.ndarray], *,
                  method: str = "minmax", per_channel: bool = True, count: int = 64,
                  op_types: tuple[str, ...] | None = None, nodes_to_exclude: tuple[str, ...] = ()) -> ExportReport:
    """Static QDQ INT8 (S8S8) with calibration on simulator frames; `quant_pre_process` first (shape
    inference and the fusions that make quantized kernels applicable)."""
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quant_pre_process,
                                          quantize_static)

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method {method!r}: choose one of {', '.join(CALIBRATION_METHODS)}")
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    prep = out_path.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32_path), str(prep))
    quantize_static(
        str(prep), str(out_path), FrameCalibrationReader(calibration, count),
        quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        per_channel=per_channel,
        calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                          "percentile": CalibrationMethod.Percentile}[method],
        op_types_to_quantize=list(op_types) if op_types else None,
        nodes_to_exclude=list(nodes_to_exclude),
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )
    prep.unlink(missing_ok=True)
    report = ExportReport(str(out_path), "onnx-int8", out_path.stat().st_size, checker_ok=True,
                          notes=[f"static QDQ S8S8, {method} calibration on {count} frames, "
                                 f"per_channel={per_channel}"])
    return report


def build_tensorrt_engine(onnx_path: str | Path, engine_path: str | Path, *, fp16: bool = True,
                          int8: bool = False, workspace_mib: int = 1024) -> ExportReport:
    """Serialize a TensorRT engine from the ONNX graph (FP16; INT8 through the graph's explicit Q/DQ).

    Raises BackendUnavailable with the reason on machines without TensorRT and an NVIDIA GPU.
    """
    trt, _ = _require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
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
           "FrameCalibrationReader", "BackendUnavailable", "CALIBRATION_METHODS", "OPSET"]
