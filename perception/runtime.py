"""One inference interface over the deployment backends of the driving model.

`open_backend("onnxruntime", "model.onnx")`, `open_backend("torch", "best.pt")` or
`open_backend("tensorrt", "model.engine")` all give an object whose `run(images, ego, command)` returns the
same named outputs (within stated tolerances), so the perception node, the evaluator and the benchmark
never care which runtime is underneath. Torch is only imported by the torch backend: the vehicle runs ONNX
Runtime (or TensorRT) and needs no training stack.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

INPUT_NAMES = ("images", "ego", "command")
OUTPUT_NAMES = ("det_logits", "det_boxes", "seg_logits", "plan")
BACKENDS = ("torch", "onnxruntime", "tensorrt")


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine; the message says what is missing and what to use."""


class InferenceBackend(Protocol):
    name: str
    providers: tuple[str, ...]

    def run(self, images: np.ndarray, ego: np.ndarray, command: np.ndarray,
            lead: np.ndarray | None = None) -> dict[str, np.ndarray]: ...


def _lead_feed(names: tuple[str, ...], lead: np.ndarray | None, batch: int, where: str) -> dict[str, np.ndarray]:
    """{"lead": ...} for a model whose graph takes the tracked lead, {} for one that does not (a lead given to such
    a model is not used). A model that takes it and gets none is an error: its planner would drive blind."""
    if "lead" not in names:
        return {}
    from .features import LEAD_DIM, LEAD_FIELDS

    if lead is None:
        raise ValueError(f"{where}: the model takes a `lead` input ({', '.join(LEAD_FIELDS)}, from "
                         f"perception.features.lead_vector of the tracked objects); none was given")
    lead = np.asarray(lead, dtype=np.float32)
    if lead.shape != (batch, LEAD_DIM) or not np.all(np.isfinite(lead)):
        raise ValueError(f"{where}: lead must be finite float32 [{batch}, {LEAD_DIM}], got {list(lead.shape)}")
    return {"lead": lead}


def _check_inputs(images: np.ndarray, ego: np.ndarray, command: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"images: expected uint8 [B, cameras, H, W, 3], got {images.dtype} {list(images.shape)}")
    from .features import EGO_DIM, EGO_FIELDS

    if ego.ndim != 2 or ego.shape[1] != EGO_DIM or ego.shape[0] != images.shape[0]:
        raise ValueError(f"ego: expected float32 [B, {EGO_DIM}] ({', '.join(EGO_FIELDS)}) with B = {images.shape[0]}, "
                         f"got {list(ego.shape)}")
    if command.ndim != 1 or command.shape[0] != images.shape[0]:
        raise ValueError(f"command: expected int64 [B] with B = {images.shape[0]}, got {list(command.shape)}")


@dataclass
class OnnxRuntimeBackend:
    """ONNX Runtime session tuned for a small SoC CPU: all graph optimisations, fixed intra-op threads,
    sequential execution (the model is one chain; parallel execution only adds scheduling overhead)."""

    path: Path
    threads: int = 2
    providers: tuple[str, ...] = ()
    profile: bool = False
    name: str = "onnxruntime"

    def __post_init__(self) -> None:
        import onnxruntime as ort

        if not Path(self.path).is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.enable_profiling = self.profile
        # flush denormals to zero: the detection decoder's attention has logits 90+ below the row maximum, whose
        # exp() lands in the denormal range, and denormal arithmetic made that Softmax 10x slower (0.2 ms a frame)
        opts.add_session_config_entry("session.set_denormal_as_zero", "1")
        available = ort.get_available_providers()
        wanted = self.providers or tuple(p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                                                     "CPUExecutionProvider") if p in available)
        missing = [p for p in wanted if p not in available]
        if missing:
            raise BackendUnavailable(f"ONNX Runtime execution provider(s) {', '.join(missing)} not available here "
                                     f"(available: {', '.join(available)})")
        self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=list(wanted))
        self.providers = tuple(self.session.get_providers())
        self.input_names = tuple(i.name for i in self.session.get_inputs())

    def run(self, images: np.ndarray, ego: np.ndarray, command: np.ndarray,
            lead: np.ndarray | None = None) -> dict[str, np.ndarray]:
        _check_inputs(images, ego, command)
        feeds = {"images": images, "ego": ego.astype(np.float32, copy=False),
                 "command": command.astype(np.int64, copy=False),
                 **_lead_feed(self.input_names, lead, images.shape[0], str(self.path))}
        outs = self.session.run(list(OUTPUT_NAMES), feeds)
        return dict(zip(OUTPUT_NAMES, outs))

    def end_profiling(self) -> str:
        """Path of the ONNX Runtime profile (JSON, chrome-trace format) when opened with profile=True."""
        return self.session.end_profiling()


def resolve_device(name: str, what: str = "train.device"):
    """A torch device from cpu | cuda | cuda:N | auto (cuda when present). A GPU that is asked for but missing is a
    ValueError naming `what`, never a silent CPU run. Shared by training and the torch backend."""
    import torch

    key = str(name).strip().lower()
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key == "cpu":
        return torch.device("cpu")
    if key == "cuda" or key.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"{what} {key!r}: no CUDA GPU is visible to PyTorch {torch.__version__} here "
                             "(use cpu or auto)")
        dev = torch.device(key)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{what} {key!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        return dev
    raise ValueError(f"{what} {key!r}: expected cpu, cuda, cuda:N or auto")


@dataclass
class TorchBackend:
    """Eager PyTorch from a training checkpoint (or an in-memory `model`, which is moved to `device`): the reference
    the exported models are compared against."""

    path: Path | None
    threads: int = 2
    name: str = "torch"
    providers: tuple[str, ...] = ("cpu",)
    device: str = "cpu"      # "cuda" / "cuda:N" runs on an NVIDIA GPU, "auto" where one is present
    fp16: bool = False       # CUDA only: autocast to FP16 (outputs are returned as FP32)
    model: Any = None        # an E2EDrivingModel to use instead of loading `path`

    def __post_init__(self) -> None:
        try:
            import torch
        except ImportError as exc:   # the vehicle image has no torch: say what to use instead
            raise BackendUnavailable(f"the torch backend needs PyTorch ({exc}); use --backend onnxruntime") from exc
        from perception.model import load_model

        try:
            dev = resolve_device(self.device, "torch backend device")
        except ValueError as exc:
            raise BackendUnavailable(str(exc)) from None
        if self.fp16 and dev.type == "cpu":
            raise BackendUnavailable("torch backend fp16 needs a CUDA device (FP16 on the CPU is slower than FP32)")
        self.device = str(dev)
        torch.set_num_threads(self.threads)
        self.model = (load_model(self.path) if self.model is None else self.model).eval().to(dev)
        self.providers = (self.device + (" fp16" if self.fp16 else ""),)
        self.input_names = tuple(self.model.input_names)
        self._torch = torch

    def run(self, images: np.ndarray, ego: np.ndarray, command: np.ndarray,
            lead: np.ndarray | None = None) -> dict[str, np.ndarray]:
        _check_inputs(images, ego, command)
        extra = _lead_feed(self.input_names, lead, images.shape[0], f"torch model {self.path}")
        torch, dev = self._torch, self.device
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            out = self.model(torch.from_numpy(np.ascontiguousarray(images)).to(dev),
                             torch.from_numpy(ego.astype(np.float32, copy=False)).to(dev),
                             torch.from_numpy(command.astype(np.int64, copy=False)).to(dev),
                             *(torch.from_numpy(v).to(dev) for v in extra.values()))
        if isinstance(out, dict):
            out = [out[k] for k in OUTPUT_NAMES]
        return {k: v.float().cpu().numpy() for k, v in zip(OUTPUT_NAMES, out)}


@dataclass
class TensorRTBackend:
    """A serialized TensorRT engine (built by perception.export.build_tensorrt_engine) on an NVIDIA GPU."""

    path: Path
    name: str = "tensorrt"
    providers: tuple[str, ...] = ("tensorrt",)

    def __post_init__(self) -> None:
        trt, torch = _require_tensorrt()
        if not Path(self.path).is_file():
            raise FileNotFoundError(f"TensorRT engine not found: {self.path}")
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(Path(self.path).read_bytes())
        if self.engine is None:
            raise BackendUnavailable(f"{self.path}: TensorRT could not deserialize the engine (built for another "
                                     f"TensorRT version or GPU?)")
        self.context = self.engine.create_execution_context()
        self.input_names = tuple(n for n in (self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors))
                                 if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self._trt, self._torch = trt, torch

    def run(self, images: np.ndarray, ego: np.ndarray, command: np.ndarray,
            lead: np.ndarray | None = None) -> dict[str, np.ndarray]:
        _check_inputs(images, ego, command)
        torch = self._torch
        feeds = {"images": images, "ego": ego.astype(np.float32), "command": command.astype(np.int64),
                 **_lead_feed(self.input_names, lead, images.shape[0], str(self.path))}
        buffers: dict[str, Any] = {}
        for name, value in feeds.items():
            buffers[name] = torch.from_numpy(np.ascontiguousarray(value)).cuda()
            self.context.set_input_shape(name, tuple(value.shape))
        for name in OUTPUT_NAMES:
            shape = tuple(self.context.get_tensor_shape(name))
            buffers[name] = torch.empty(shape, dtype=torch.float32, device="cuda")
        for name, buf in buffers.items():
            self.context.set_tensor_address(name, buf.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return {name: buffers[name].cpu().numpy() for name in OUTPUT_NAMES}


def _require_tensorrt(instead: str = "use --backend onnxruntime (CPU)"):
    """(tensorrt, torch) or BackendUnavailable with the exact reason and `instead`, what to do on this machine;
    TensorRT needs an NVIDIA GPU."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailable(
            f"TensorRT is not installed ({exc}). It needs an NVIDIA GPU with the `tensorrt` Python package; "
            f"on this machine {instead}") from None
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(f"the TensorRT backend uses PyTorch for CUDA buffers ({exc})") from None
    if not torch.cuda.is_available():
        raise BackendUnavailable(f"TensorRT is installed but no CUDA GPU is visible; {instead}")
    return trt, torch


def model_metadata(onnx_path: str | os.PathLike) -> dict[str, Any]:
    """{"model_config": dict, "rig": list, "classes": list} stored in an exported ONNX model (perception.export)."""
    import json

    import onnx

    path = Path(onnx_path)
    if not path.is_file():
        hint = ""
        if path.is_dir():
            found = sorted(path.glob("*.onnx"))
            hint = f" (a directory{': it holds ' + ', '.join(f.name for f in found) if found else ''})"
        raise ValueError(f"{onnx_path}: no ONNX model file there{hint}")
    m = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in m.metadata_props}
    out = {}
    for key, name in (("edgepilot.model_config", "model_config"), ("edgepilot.rig", "rig"),
                      ("edgepilot.classes", "classes")):
        if key not in props:
            raise ValueError(f"{onnx_path}: ONNX metadata has no {key!r} (export it with `edgepilot perception export`)")
        out[name] = json.loads(props[key])
    return out


def available_backends() -> list[str]:
    """Backends that can run here (torch only where PyTorch is installed, tensorrt only with a GPU)."""
    out = ["onnxruntime"]
    try:
        import torch  # noqa: F401

        out.insert(0, "torch")
    except ImportError:
        pass
    try:
        _require_tensorrt()
        out.append("tensorrt")
    except BackendUnavailable:
        pass
    return out


def open_backend(name: str, path: str | os.PathLike, **options: Any) -> InferenceBackend:
    """The backend `name` over the model file `path` (.pt checkpoint, .onnx model or TensorRT .engine)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    cls = {"torch": TorchBackend, "onnxruntime": OnnxRuntimeBackend, "tensorrt": TensorRTBackend}[name]
    return cls(Path(path), **options)
