"""INT8 post-training quantization of the driving model for ONNX Runtime on small x86 CPUs, and the tools to
measure it (interleaved latency, ONNX Runtime op profiles, output error, calibration-method comparison).

Why not "quantize everything": on an AVX2 CPU without VNNI (the target: 2-core AMD EPYC) ONNX Runtime's INT8
kernels only beat FP32 where the GEMM behind an op is big enough to amortise the u8/s8 packing, and every
quantized tensor that meets a float op costs a QuantizeLinear/DequantizeLinear pass. Measured in the model
(benchmarks/int8_profile.py, 1 thread): 3x3 convs with 48-64 channels run 1.7-2.0x faster as QLinearConv, the
16-channel conv after the stem ~1.3x, 1x1 convs ~1.5x; the 3-channel stem 0.4x and the 2-8 channel logit convs
~0.8x (so they stay FP32); QLinearSoftmax, QLinearMul and the Q/DQ pairs around every element-wise op make the
naive all-ops recipe 1.3x *slower* than FP32 (and it moves the plan by 0.6 m). The default recipe quantizes the
convs only (`conv-nostem`); weight MatMuls gain nothing measurable here (their rows are few) and weight-only
int8 MatMuls (DQ -> MatMul, run as MatMulNBits) are 2.5x slower than FP32.

Two graph details matter as much as the op set: (1) a Relu after a quantized Conv must be quantized with it (the
quantizer then folds it into the u8 output range and ONNX Runtime fuses DQ-Conv-Q into one QLinearConv; left
out, the conv is not fused at all); (2) the exporter shares identical weight/bias tensors between convs (e.g. the
all-zero biases of BN-folded convs), so a bias quantized for one conv reaches an FP32 conv through a
DequantizeLinear and that conv loses its NCHWc kernel (2x slower): every conv gets private initializers first.

`RECIPES[DEFAULT_RECIPE]` is what `perception.export.quantize_int8` uses. Recipes are applied after shape
inference (`quant_pre_process` without its ORT optimisation, so constant subgraphs stay small ops that ONNX
Runtime folds at load instead of large stored tensors).
"""
from __future__ import annotations

import collections
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

INPUT_NAMES = ("images", "ego", "command")
OUTPUT_NAMES = ("det_logits", "det_boxes", "seg_logits", "plan")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
#: measured on the trained v2 checkpoint (benchmarks/perception_bench.py --methods, test split): minmax keeps mAP
#: (0.1469 -> 0.1469), percentile 0.1450, entropy (KL on a 2048-bin histogram) 0.1453 and the worst output error
DEFAULT_CALIBRATION = "minmax"


# ------------------------------------------------------------------------------------------------ recipes
@dataclass(frozen=True)
class QuantRecipe:
    """Which nodes get INT8 and how. Shape rules use the weights (channels, kernel) and the inferred shapes."""

    name: str
    description: str
    #: op types considered at all; None = every op type ONNX Runtime can quantize (the naive recipe)
    op_types: tuple[str, ...] | None = ("Conv",)
    #: Conv rules: input channels x kernel area (the GEMM depth K) and output channels, both at least
    conv_min_depth: int = 0
    conv_min_out_channels: int = 1
    #: Convs with fewer input channels (the RGB stem: INT8 0.4x) stay FP32 ...
    conv_min_in_channels: int = 1
    #: ... and optionally the conv reading the stem too
    keep_stem_consumer_fp32: bool = False
    #: MatMul/Gemm rules: only with a constant weight B, and only when A has at least this many rows
    #: (tokens x batch 1); None = no MatMul/Gemm
    matmul_min_rows: int | None = None
    per_channel: bool = True
    reduce_range: bool = False
    activation_type: str = "u8"          # "u8" (QUInt8) or "s8" (QInt8)
    weight_type: str = "s8"
    quant_format: str = "qdq"            # "qdq" or "qoperator"
    activation_symmetric: bool = False
    weight_symmetric: bool = True
    extra_options: tuple[tuple[str, Any], ...] = ()
    #: store FP32 constants that are not quantized weights compactly (+ Cast, folded by ORT at load), factor
    #: per-head scaled copies of one prior (see compact_constants) and shorten the internal tensor names (see
    #: shorten_tensor_names): a smaller file, same runtime graph
    compact: bool = True
    #: how: "int8" (per-row symmetric int8 + scale: weight-only quantization of the FP32-run weights and tables,
    #: dequantized once when the session is created) or "fp16"
    compact_float: str = "int8"
    #: before quantization: "shapes" = shape inference only (constant subgraphs stay small ops that ONNX Runtime
    #: folds at load, so the file does not store their large results); "optimize" = quant_pre_process's ORT
    #: optimisation too; "none"
    preprocess: str = "shapes"

    def summary(self) -> str:
        ops = "all quantizable op types" if self.op_types is None else "+".join(self.op_types)
        rules = []
        if self.op_types is None or "Conv" in (self.op_types or ()):
            conv = []
            if self.conv_min_in_channels > 1:
                conv.append(f"Cin >= {self.conv_min_in_channels}" +
                            (" (and not the conv after the stem)" if self.keep_stem_consumer_fp32 else ""))
            if self.conv_min_depth:
                conv.append(f"Cin*k*k >= {self.conv_min_depth}")
            if self.conv_min_out_channels > 1:
                conv.append(f"Cout >= {self.conv_min_out_channels}")
            if conv:
                rules.append("Conv with " + ", ".join(conv))
        if self.matmul_min_rows is not None:
            rules.append(f"MatMul/Gemm with constant B and >= {self.matmul_min_rows} rows")
        act = {"u8": "U8", "s8": "S8"}[self.activation_type] + {"u8": "U8", "s8": "S8"}[self.weight_type]
        return (f"recipe {self.name!r}: {ops}" + (f" ({'; '.join(rules)})" if rules else "") +
                f", {self.quant_format.upper()} {act}, per_channel={self.per_channel}, "
                f"reduce_range={self.reduce_range}, activation_symmetric={self.activation_symmetric}")


#: The conv rule of the default recipe: GEMM depth Cin*k*k >= 200 keeps the stem (3*9 = 27), the 16-channel
#: 3x3 convs (144) and every 1x1 conv with < 200 input channels in FP32.
_DEPTH = 200

RECIPES: dict[str, QuantRecipe] = {r.name: r for r in (
    QuantRecipe("all-ops", "every quantizable op (the naive recipe), S8S8 QDQ", op_types=None,
                activation_type="s8", compact=False, preprocess="optimize"),
    QuantRecipe("conv", "every Conv, U8S8 QDQ per-channel"),
    QuantRecipe("conv-nostem", "every Conv but the 3-channel stem and the < 16-channel logit convs",
                conv_min_in_channels=8, conv_min_out_channels=16),
    QuantRecipe("conv-nostem+kv", "conv-nostem + weight MatMuls over >= 512 rows (K/V projections of the camera "
                "tokens)", op_types=("Conv", "MatMul", "Gemm"), conv_min_in_channels=8, conv_min_out_channels=16,
                matmul_min_rows=512),
    QuantRecipe("conv-nostem+matmul", "conv-nostem + every weight MatMul/Gemm", op_types=("Conv", "MatMul", "Gemm"),
                conv_min_in_channels=8, conv_min_out_channels=16, matmul_min_rows=1),
    QuantRecipe("conv-trunk", "conv-nostem, and the 16-channel conv after the stem stays FP32 too",
                conv_min_in_channels=8, conv_min_out_channels=16, keep_stem_consumer_fp32=True),
    QuantRecipe("conv-body", "Convs whose GEMM depth Cin*k*k >= 200 (not the stem, 16-channel or 1x1 convs)",
                conv_min_depth=_DEPTH, conv_min_out_channels=16),
)}
DEFAULT_RECIPE = "conv-nostem"


def get_recipe(recipe: str | QuantRecipe, **overrides: Any) -> QuantRecipe:
    r = recipe if isinstance(recipe, QuantRecipe) else RECIPES.get(recipe)
    if r is None:
        raise ValueError(f"unknown INT8 recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(r, **overrides) if overrides else r


# --------------------------------------------------------------------------------------------- graph helpers
def _shape_of(vi) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]


def _shapes(model) -> dict[str, list[int | None]]:
    out = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        out[vi.name] = _shape_of(vi)
    for init in model.graph.initializer:
        out[init.name] = list(init.dims)
    return out


@dataclass
class NodePlan:
    """The outcome of a recipe on one graph: node names to quantize and why the others were left in FP32."""

    quantize: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)   # node name -> reason (only for op types considered)
    fused_activations: int = 0                               # Relu/Clip quantized with the Conv before them

    def counts(self) -> dict[str, int]:
        reasons = collections.Counter(self.excluded.values())
        return {"quantized": len(self.quantize) - self.fused_activations, "fused Relu": self.fused_activations,
                **{f"fp32: {k}": v for k, v in reasons.items()}}


def plan_nodes(model, recipe: QuantRecipe) -> NodePlan:
    """Apply the recipe's shape rules to an ONNX model (after shape inference) -> NodePlan."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    inits = {i.name: i for i in model.graph.initializer}
    shapes = _shapes(model)
    const = set(inits)                      # tensors computed from constants only (folded by ORT at load)
    for node in model.graph.node:
        if node.op_type == "Constant" or (node.input and all(not i or i in const for i in node.input)):
            const.update(node.output)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for o in node.output:
                a = next((x.t for x in node.attribute if x.name == "value"), None)
                if a is not None:
                    inits.setdefault(o, a)
    plan = NodePlan()
    if recipe.op_types is None:               # the naive recipe: everything ONNX Runtime can quantize
        plan.quantize = [n.name for n in model.graph.node]
        return plan
    producer = {o: n for n in model.graph.node for o in n.output}
    stems: set[str] = set()

    def _source(t: str) -> str:   # through Relu/Clip to the tensor a conv produced
        n = producer.get(t)
        return _source(n.input[0]) if n is not None and n.op_type in ("Relu", "Clip") else t

    for node in model.graph.node:
        if recipe.op_types is not None and node.op_type not in recipe.op_types:
            continue
        if node.input and all(not i or i in const for i in node.input):
            plan.excluded[node.name] = "constant subgraph (folded at load)"
            continue
        if node.op_type == "Conv":
            w = inits.get(node.input[1]) if len(node.input) > 1 else None
            if w is None:
                plan.excluded[node.name] = "conv with non-constant weight"
                continue
            cout, cin_g = int(w.dims[0]), int(w.dims[1])
            depth = cin_g * int(np.prod(w.dims[2:]))
            if cin_g < recipe.conv_min_in_channels:
                plan.excluded[node.name] = f"stem conv (Cin < {recipe.conv_min_in_channels})"
                stems.add(node.output[0])
            elif recipe.keep_stem_consumer_fp32 and _source(node.input[0]) in stems:
                plan.excluded[node.name] = "conv reading the FP32 stem"
            elif depth < recipe.conv_min_depth:
                plan.excluded[node.name] = f"conv GEMM depth Cin*k*k < {recipe.conv_min_depth}"
            elif cout < recipe.conv_min_out_channels:
                plan.excluded[node.name] = f"conv with < {recipe.conv_min_out_channels} output channels"
            else:
                plan.quantize.append(node.name)
        elif node.op_type in ("MatMul", "Gemm"):
            if recipe.matmul_min_rows is None:
                plan.excluded[node.name] = "MatMul/Gemm not in recipe"
                continue
            if len(node.input) < 2 or node.input[1] not in inits:
                plan.excluded[node.name] = "activation x activation MatMul (attention)"
                continue
            a = shapes.get(node.input[0]) or []
            rows = int(np.prod([d for d in a[:-1] if d])) if a else 0   # unknown (batch) dims count as 1
            if rows < recipe.matmul_min_rows:
                plan.excluded[node.name] = f"weight MatMul with < {recipe.matmul_min_rows} rows"
            else:
                plan.quantize.append(node.name)
        else:
            plan.quantize.append(node.name)
    # a Relu/Clip right after a quantized Conv/MatMul goes with it: the quantizer then drops it into the
    # output range (u8, zero point 0) and ORT fuses DQ-Conv-Q into one QLinearConv; left out, it stays as
    # Conv -> Q -> DQ -> Relu -> Q -> DQ and the conv is not fused at all
    consumers: dict[str, list] = collections.defaultdict(list)
    for node in model.graph.node:
        for i in node.input:
            consumers[i].append(node)
    chosen = set(plan.quantize)
    for node in model.graph.node:
        if node.name in chosen and node.op_type in ("Conv", "MatMul", "Gemm"):
            nxt = consumers.get(node.output[0], [])
            if len(nxt) == 1 and nxt[0].op_type in ("Relu", "Clip") and nxt[0].name not in chosen:
                plan.quantize.append(nxt[0].name)
                plan.fused_activations += 1
    return plan


def fit_ego(ego: np.ndarray, dim: int) -> np.ndarray:
    """`ego` rows with `dim` columns: dataset format v1 has 4 (no set speed) -> the current speed is repeated
    as the ACC set speed (perception/features.py); extra columns are dropped for an older 4-input model."""
    ego = np.asarray(ego, dtype=np.float32)
    if ego.shape[1] == dim:
        return ego
    if ego.shape[1] == 4 and dim == 5:
        return np.concatenate([ego, ego[:, :1]], axis=1)
    if ego.shape[1] > dim:
        return np.ascontiguousarray(ego[:, :dim])
    raise ValueError(f"ego has {ego.shape[1]} columns, the model takes {dim}")


def model_ego_dim(path: str | Path) -> int:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    for i in m.graph.input:
        if i.name == "ego":
            d = _shape_of(i)[-1]
            if d:
                return int(d)
    raise ValueError(f"{path}: no 'ego' input with a static last dimension")


#: Consecutive frames per calibration block for a model that plans on the tracked lead: the tracker confirms a
#: track after 3 frames, so single frames spread over many runs would all read "no lead".
LEAD_CALIBRATION_BLOCK = 8


def spread_indices(n: int, count: int, block: int = 1) -> np.ndarray:
    """`count` (at most n) frame indices spread evenly over n frames (several runs and scenes rather than one
    scene's frames), in blocks of `block` consecutive frames."""
    count, block = min(count, n), max(1, min(block, count, n))
    starts = np.linspace(0, n - block, max(1, -(-count // block))).astype(int)
    idx = (starts[:, None] + np.arange(block)[None]).ravel()
    return np.unique(idx)[:count] if block > 1 else idx


def model_input_names(path: str | Path) -> tuple[str, ...]:
    import onnx

    return tuple(i.name for i in onnx.load(str(path), load_external_data=False).graph.input)


def frames_for(path: str | Path, frames: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """images/ego/command (and lead, for a model that plans on the tracked lead) of dataset frames in the dtypes
    and ego width the ONNX model at `path` takes. Frames without a `lead` get the one the car would feed: the
    model at `path` detects, the frames of each run are tracked in time order (`t`, `scenario_seed`)."""
    out = {"images": np.ascontiguousarray(frames["images"], dtype=np.uint8),
           "ego": fit_ego(frames["ego"], model_ego_dim(path)),
           "command": np.asarray(frames["command"], dtype=np.int64)}
    if "lead" in model_input_names(path):
        out["lead"] = (np.asarray(frames["lead"], np.float32) if "lead" in frames
                       else leads_from_model(path, {**frames, **out}))
    return out


def leads_from_model(path: str | Path, frames: Mapping[str, np.ndarray], batch: int = 16) -> np.ndarray:
    """The tracked-lead input of every frame as the model at `path` sees it (see `frames_for`)."""
    from perception.driving import tracked_first_pass
    from perception.runtime import OnnxRuntimeBackend, model_metadata

    meta = model_metadata(path)
    cfg = meta["model_config"]
    return tracked_first_pass(OnnxRuntimeBackend(Path(path)).run, frames, list(meta["classes"]), cfg["bev_range"],
                              cfg["vel_scale"], batch, str(path))[1]


class FrameCalibrationReader:
    """onnxruntime.quantization CalibrationDataReader over dataset frames (images, ego, command), batch 1."""

    def __init__(self, frames: Mapping[str, np.ndarray], count: int | None = None) -> None:
        n = len(frames["images"]) if count is None else min(count, len(frames["images"]))
        self._frames = frames
        self._iter: Iterator[dict[str, np.ndarray]] = iter(
            {"images": frames["images"][i:i + 1], "ego": np.asarray(frames["ego"][i:i + 1], dtype=np.float32),
             "command": np.asarray(frames["command"][i:i + 1], dtype=np.int64),
             **({"lead": np.asarray(frames["lead"][i:i + 1], np.float32)} if "lead" in frames else {})}
            for i in range(n))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)


# ---------------------------------------------------------------------------------------------- quantization
def _qtype(name: str):
    from onnxruntime.quantization import QuantType

    return {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}[name]


def quantize_model(fp32_path: str | Path, out_path: str | Path, calibration: Mapping[str, np.ndarray], *,
                   recipe: str | QuantRecipe = DEFAULT_RECIPE, method: str = DEFAULT_CALIBRATION,
                   count: int | None = 64,
                   op_types: Sequence[str] | None = None, nodes_to_exclude: Sequence[str] = (),
                   preprocess: bool = True, **overrides: Any) -> dict[str, Any]:
    """Static INT8 quantization of an ONNX model with a recipe; returns {recipe, plan, method, frames, ...}.

    `op_types` (when given) replaces the recipe's op types, `nodes_to_exclude` adds to its exclusions and
    `overrides` replace recipe fields (per_channel=False, activation_type="s8", ...). Metadata (model config,
    rig, classes) is copied from the FP32 file.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quant_pre_process, quantize_static

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method {method!r}: choose one of {', '.join(CALIBRATION_METHODS)}")
    r = get_recipe(recipe, **overrides)
    if op_types:
        r = replace(r, op_types=tuple(op_types),
                    matmul_min_rows=r.matmul_min_rows if r.matmul_min_rows is not None else
                    (1 if {"MatMul", "Gemm"} & set(op_types) else None))
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    src = fp32_path
    prep = out_path.with_name(out_path.stem + ".prep.onnx")
    if preprocess and r.preprocess != "none":
        quant_pre_process(str(fp32_path), str(prep), skip_optimization=r.preprocess != "optimize")
        src = prep
    src = _unshare_weights(src, prep)
    plan = plan_nodes(src, r)
    for n in nodes_to_exclude:
        if n in plan.quantize:
            plan.quantize.remove(n)
        plan.excluded[n] = "excluded by caller"
    frames = frames_for(fp32_path, calibration)
    n_frames = len(frames["images"]) if count is None else min(count, len(frames["images"]))
    extra = {"ActivationSymmetric": r.activation_symmetric, "WeightSymmetric": r.weight_symmetric,
             **dict(r.extra_options)}
    q_types = sorted(set(r.op_types) | {"Relu", "Clip"}) if r.op_types is not None else None
    cache = out_path.with_name(out_path.stem + ".calib.json")
    cache.unlink(missing_ok=True)
    try:
        if method == "entropy":
            # quantize_static cannot pass the histogram size: ORT's default (128 bins for 128 quantized bins)
            # leaves the KL search a single candidate, the full range, i.e. entropy == minmax. Calibrate here with
            # TensorRT's 2048 bins and hand the ranges over as a calibration cache.
            _entropy_cache(src, cache, FrameCalibrationReader(frames, n_frames), q_types)
        quantize_static(
            str(src), str(out_path), FrameCalibrationReader(frames, n_frames),
            calibration_cache_path=str(cache) if method == "entropy" else None,
            quant_format=QuantFormat.QDQ if r.quant_format == "qdq" else QuantFormat.QOperator,
            activation_type=_qtype(r.activation_type), weight_type=_qtype(r.weight_type),
            per_channel=r.per_channel, reduce_range=r.reduce_range,
            calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                              "percentile": CalibrationMethod.Percentile}[method],
            op_types_to_quantize=q_types,
            nodes_to_quantize=plan.quantize if r.op_types is not None else None,
            nodes_to_exclude=list(nodes_to_exclude),
            extra_options=extra)
    finally:
        prep.unlink(missing_ok=True)
        cache.unlink(missing_ok=True)
    m = onnx.load(str(out_path))
    copy_metadata(onnx.load(str(fp32_path), load_external_data=False), m)
    compact = {**compact_constants(m, float_storage=r.compact_float), **shorten_tensor_names(m)} if r.compact else {}
    onnx.save(m, str(out_path))
    return {"recipe": r, "plan": plan, "method": method, "frames": n_frames, "compact": compact}


def _entropy_cache(model_path: Path, cache: Path, reader, op_types, num_bins: int = 2048,
                   num_quantized_bins: int = 128) -> None:
    import tempfile as _tempfile

    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator, save_tensors_data

    with _tempfile.TemporaryDirectory(prefix="edgepilot_calib_") as td:
        cal = create_calibrator(Path(model_path), op_types, augmented_model_path=str(Path(td) / "augmented.onnx"),
                                calibrate_method=CalibrationMethod.Entropy,
                                extra_options={"num_bins": num_bins, "num_quantized_bins": num_quantized_bins})
        cal.collect_data(reader)
        save_tensors_data(cal.compute_data(), cache, smooth_quant=False)


def _unshare_weights(src: Path, dst: Path) -> Path:
    """Give every Conv/MatMul/Gemm its own weight and bias initializers. The exporter shares identical
    tensors (e.g. the all-zero biases of BN-folded convs of an untrained net): a bias quantized for one conv
    would then reach an FP32 conv through a DequantizeLinear, and ONNX Runtime only runs an FP32 conv with its
    NCHWc kernels when weight and bias are plain constants."""
    import onnx

    m = onnx.load(str(src))
    inits = {i.name: i for i in m.graph.initializer}
    identity = {n.output[0]: n.input[0] for n in m.graph.node if n.op_type == "Identity"}
    uses = collections.Counter(i for n in m.graph.node for i in n.input)
    seen: collections.Counter = collections.Counter()
    changed = False
    for node in m.graph.node:
        if node.op_type not in ("Conv", "MatMul", "Gemm"):
            continue
        for k, name in enumerate(node.input):
            root, via_identity = name, False
            while root in identity:                 # the exporter dedups initializers through Identity nodes
                root, via_identity = identity[root], True
            if k == 0 or root not in inits or (uses[root] < 2 and not via_identity):
                continue
            seen[root] += 1
            if seen[root] == 1 and not via_identity:
                continue           # the first direct user keeps the original
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[root])
            copy.name = f"{root}__{node.name or seen[root]}"
            m.graph.initializer.append(copy)
            node.input[k] = copy.name
            changed = True
    if not changed:
        return src
    onnx.save(m, str(dst))
    return dst


def copy_metadata(src, dst) -> None:
    """metadata_props of `src` (ModelProto) into `dst` (ModelProto), replacing keys that exist."""
    props = {p.key: p.value for p in dst.metadata_props}
    props.update({p.key: p.value for p in src.metadata_props})
    del dst.metadata_props[:]
    for k, v in props.items():
        e = dst.metadata_props.add()
        e.key, e.value = k, v


def compact_constants(model, min_elements: int = 256, float_storage: str = "fp16", block: int = 32
                      ) -> dict[str, int]:
    """Shrink float constants that are not quantized weights, without changing the runtime graph's values much:

    * an initializer [H, ...] whose H slices are scalar multiples of one tensor (the projection prior times the
      learned per-head scale, constant-folded by the exporter once per attention layer) becomes Mul(scale[H,1..],
      base), the base stored once for all layers that share it;
    * float tensors with >= min_elements values (initializers and Constant nodes) that feed no quantized op
      (FP32-run weights, positional encodings, bilinear tables) are stored as FP16 + Cast (`float_storage="fp16"`)
      or as int8 with one scale per row of their last axis + Cast and Mul (`"int8"`: 1/254 of the row's largest
      value at most; rows shorter than `block` values share a scale per `block`-or-more consecutive values, so a
      [N, 1] table does not store a 4-byte scale per 1-byte value), int64 index tables in the narrowest signed
      integer type that holds them + Cast;
    * the value_info shape hints are dropped (ONNX Runtime infers shapes itself).
    Both are folded back by ONNX Runtime's constant folding when the session is created (no runtime cost).
    Returns byte counts before/after. Modifies `model` (ModelProto) in place.
    """
    import onnx
    from onnx import helper, numpy_helper

    if float_storage not in ("fp16", "int8"):
        raise ValueError(f"float_storage must be 'fp16' or 'int8', got {float_storage!r}")
    g = model.graph
    del g.value_info[:]
    # large Constant nodes (the exporter's folded geometry tables) become initializers, so they get compacted too
    for node in list(g.node):
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value" \
                and int(np.prod(node.attribute[0].t.dims)) >= min_elements:
            t = onnx.TensorProto()
            t.CopyFrom(node.attribute[0].t)
            t.name = node.output[0]
            g.initializer.append(t)
            g.node.remove(node)
    consumers: dict[str, list] = collections.defaultdict(list)
    for node in g.node:
        for i, name in enumerate(node.input):
            consumers[name].append((node, i))
    before = sum(len(i.raw_data) or i.ByteSize() for i in g.initializer)
    new_nodes: list = []
    bases: list = []
    keep = []
    for init in list(g.initializer):
        if init.data_type != onnx.TensorProto.FLOAT or len(init.dims) < 2 or init.dims[0] < 2 \
                or int(np.prod(init.dims)) < min_elements or int(np.prod(init.dims[1:])) < 8:   # slices worth a base
            keep.append(init)
            continue
        if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n, _ in consumers[init.name]):
            keep.append(init)
            continue
        a = numpy_helper.to_array(init).astype(np.float32)
        flat = a.reshape(a.shape[0], -1).astype(np.float64)
        ref = flat[int(np.argmax(np.abs(flat).sum(1)))]
        denom = float(ref @ ref)
        if denom == 0.0:
            keep.append(init)
            continue
        s = flat @ ref / denom
        if np.max(np.abs(flat - s[:, None] * ref[None])) > 1e-5 * max(1.0, float(np.max(np.abs(flat)))):
            keep.append(init)   # not one tensor times per-slice scales
            continue
        peak = float(np.max(np.abs(ref)))
        unit = ref / peak
        for shape, bunit, bname, bpeak in bases:   # layers that share the prior share its base
            if shape == a.shape[1:] and np.allclose(unit, bunit, rtol=1e-5, atol=1e-6):
                s = s * (peak / bpeak)
                break
        else:
            bname = init.name + "_base"
            bases.append((a.shape[1:], unit, bname, peak))
            keep.append(numpy_helper.from_array(ref.reshape(a.shape[1:]).astype(np.float32), bname))
        sname = init.name + "_scale"
        keep.append(numpy_helper.from_array(s.reshape((-1,) + (1,) * (a.ndim - 1)).astype(np.float32), sname))
        new_nodes.append(helper.make_node("Mul", [sname, bname], [init.name], name=init.name + "_unfold"))
    del g.initializer[:]
    g.initializer.extend(keep)
    # FP16 storage of the large float constants left (none of them is a quantized weight: those are int8),
    # int32 storage of large int64 index tables
    out = []
    dequant: list = []
    for init in list(g.initializer):
        quantized_use = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n, _ in consumers[init.name])
        big = int(np.prod(init.dims)) >= min_elements and not quantized_use
        a = numpy_helper.to_array(init) if big and init.data_type in (onnx.TensorProto.FLOAT,
                                                                       onnx.TensorProto.INT64) else None
        rows = _int8_rows(a, block) if a is not None and a.dtype == np.float32 and float_storage == "int8" else None
        if rows is not None:
            peak = np.abs(rows).max(axis=-1, keepdims=True).astype(np.float32)
            scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
            q = np.clip(np.round(rows / scale), -127, 127).astype(np.int8)
            h, sc = numpy_helper.from_array(q, init.name + "_i8"), numpy_helper.from_array(scale, init.name + "_i8s")
            new_nodes.append(helper.make_node("Cast", [h.name], [init.name + "_i8f"], to=onnx.TensorProto.FLOAT,
                                              name=init.name + "_cast"))
            if rows.shape == a.shape:
                dequant.append(helper.make_node("Mul", [init.name + "_i8f", sc.name], [init.name],
                                                name=init.name + "_dequant"))
            else:                        # blocks of short rows: back to the table's shape
                shape = numpy_helper.from_array(np.array(a.shape, np.int64), init.name + "_shape")
                dequant.append(helper.make_node("Mul", [init.name + "_i8f", sc.name], [init.name + "_i8b"],
                                                name=init.name + "_dequant"))
                dequant.append(helper.make_node("Reshape", [init.name + "_i8b", shape.name], [init.name],
                                                name=init.name + "_reshape"))
                out.append(shape)
            out += [h, sc]
            continue
        if a is not None and a.dtype == np.float32:
            store, to = a.astype(np.float16), onnx.TensorProto.FLOAT
        elif a is not None and a.dtype == np.int64 and a.size and np.abs(a).max() < 2 ** 31:
            store, to = a.astype(_narrowest_int(a)), onnx.TensorProto.INT64
        else:
            out.append(init)
            continue
        h = numpy_helper.from_array(store, init.name + ("_fp16" if store.dtype == np.float16
                                                        else f"_i{store.dtype.itemsize * 8}"))
        new_nodes.append(helper.make_node("Cast", [h.name], [init.name], to=to, name=init.name + "_cast"))
        out.append(h)
    del g.initializer[:]
    g.initializer.extend(out)
    ordered = ([n for n in new_nodes if n.op_type == "Cast"] + dequant +
               [n for n in new_nodes if n.op_type != "Cast"])
    for n in reversed(ordered):          # Casts (and int8 scales) first: an unfolded prior's base may be compacted
        g.node.insert(0, n)
    after = sum(len(i.raw_data) or i.ByteSize() for i in g.initializer)
    return {"initializer_bytes_before": int(before), "initializer_bytes_after": int(after),
            "unfolded": sum(1 for n in new_nodes if n.op_type == "Mul"),
            "cast": sum(1 for n in new_nodes if n.op_type == "Cast"),
            "int8_stored": sum(1 for n in dequant if n.op_type == "Mul")}


def shorten_tensor_names(model) -> dict[str, int]:
    """Rename the graph's internal tensors (initializers and intermediate values; not its inputs, outputs or node
    names, which profiles and error messages show) to short ids: the exporter's and quantizer's names
    ("/bev_layers.0/cross/Constant_12_output_0_scale_i8s") are ~100 kB of a 1 MB INT8 file and nothing reads
    them. Returns the name bytes before/after. Modifies `model` in place; a graph with control flow (If, Loop,
    Scan) is left unchanged ("skipped" in the result)."""
    g = model.graph
    keep = {v.name for v in g.input} | {v.name for v in g.output} | {""}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if name in keep:
            return name
        if name not in names:
            i, s = len(names), ""
            while True:
                i, r = divmod(i, 36)
                s = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + s
                if i == 0:
                    break
            names[name] = "t" + s
        return names[name]

    def name_bytes() -> int:
        return sum(len(x) for n in g.node for x in (*n.input, *n.output)) + sum(len(t.name) for t in g.initializer)

    before = name_bytes()
    nested = next((n for n in g.node if any(a.type in (a.GRAPH, a.GRAPHS) for a in n.attribute)), None)
    if nested is not None:      # a subgraph may read outer names: the model is left as it is
        return {"name_bytes_before": int(before), "name_bytes_after": int(before),
                "skipped": f"node {nested.name!r} ({nested.op_type}) has a subgraph"}
    for t in g.initializer:
        t.name = short(t.name)
    for n in g.node:
        n.input[:] = [short(x) for x in n.input]
        n.output[:] = [short(x) for x in n.output]
    for vi in g.value_info:
        vi.name = short(vi.name)
    return {"name_bytes_before": int(before), "name_bytes_after": int(name_bytes())}


#: the ops compact_constants adds on stored constants (int8/FP16/narrow-integer storage, per-head unfolding)
_STORAGE_OPS = ("Cast", "Mul", "Reshape")


def expand_constant_storage(model) -> int:
    """Undo compact_constants' storage in place: every Cast / Mul / Reshape whose inputs are all constants is
    computed here (in NumPy, as ONNX Runtime's constant folding does at load) and becomes an FP32 or int64
    initializer again. For runtimes that parse the file as written: TensorRT has no INT16 type and does not fold
    Cast(int8) -> Mul chains on weights; Q/DQ nodes are left as they are (they carry the INT8 scales).
    Returns the number of nodes folded."""
    import onnx
    from onnx import numpy_helper

    g = model.graph
    const: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            const[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    keep, produced = [], {}
    for n in g.node:                                   # topological order: inputs are folded before their users
        if n.op_type in _STORAGE_OPS and n.input and all(i in const for i in n.input):
            a = [const[i] for i in n.input]
            if n.op_type == "Cast":
                to = next(x.i for x in n.attribute if x.name == "to")
                out = a[0].astype(onnx.helper.tensor_dtype_to_np_dtype(to))
            elif n.op_type == "Mul":
                out = np.multiply(a[0], a[1]).astype(np.result_type(a[0], a[1]))
            else:
                shape = [int(d) if int(d) != 0 else a[0].shape[k] for k, d in enumerate(a[1])]
                out = a[0].reshape(shape)
            const[n.output[0]] = produced[n.output[0]] = out
            continue
        keep.append(n)
    used = {i for n in keep for i in n.input} | {o.name for o in g.output}
    inits = [i for i in g.initializer if i.name in used]
    inits += [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in produced.items() if k in used]
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(inits)
    return len(produced)


def _int8_rows(a: np.ndarray, block: int) -> np.ndarray | None:
    """The rows that get one int8 scale each: the last axis when it has >= `block` values, else runs of whole
    last-axis rows of >= `block` values; None when those do not tile the tensor (it is stored as FP16)."""
    width = a.shape[-1] if a.ndim >= 2 else 1       # a vector: blocks of consecutive values
    if width >= block:
        return a
    run = width * -(-block // max(width, 1))
    return a.reshape(-1, run) if width and a.size % run == 0 else None


def _narrowest_int(a: np.ndarray) -> type:
    lo, hi = int(a.min()), int(a.max())
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return t
    return np.int64


# ------------------------------------------------------------------------------------------ measuring tools
def make_session(path: str | Path, threads: int = 2, *, fixed_batch: int | None = None, spinning: bool = True,
                 profile: bool = False, opt_level: str = "all"):
    """A CPU InferenceSession like runtime.OnnxRuntimeBackend's (ORT_ENABLE_ALL, sequential, `threads` intra-op),
    optionally with the symbolic batch fixed (shape subgraphs fold away) and thread-pool spinning off (what a
    CPU shared with other processes needs)."""
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                  "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[opt_level]
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.enable_profiling = profile
    o.add_session_config_entry("session.set_denormal_as_zero", "1")      # as the runtime (see OnnxRuntimeBackend)
    if profile:   # the chrome-trace JSON goes to a temporary directory, not the working directory
        import tempfile

        o.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="ort_profile_")) / "ort_profile")
    if fixed_batch:
        o.add_free_dimension_override_by_name("batch", int(fixed_batch))
    if not spinning:
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=o, providers=["CPUExecutionProvider"])


def interleaved_latency(runs: Mapping[str, Any], rounds: int = 30, inner: int = 5, warmup: int = 3,
                        cpu_times: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Latency samples (ms) of several callables measured in alternation (A B C C B A ...), so that a CPU shared
    with other jobs slows them all alike; compare medians (ratio of medians), not single runs.

    `cpu_times` (a dict, filled when given): the calling thread's CPU time per run (ms). With one intra-op
    thread ONNX Runtime computes on the calling thread, so this excludes the time the OS gave to other jobs:
    the cleanest kernel-cost comparison on a loaded machine (it is not a latency)."""
    fns = list(runs.items())
    for _, fn in fns:
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {k: [] for k, _ in fns}
    cpu: dict[str, list[float]] = {k: [] for k, _ in fns}
    for r in range(rounds):
        for k, fn in (fns if r % 2 == 0 else fns[::-1]):
            for _ in range(inner):
                c0 = time.thread_time_ns()
                t0 = time.perf_counter()
                fn()
                samples[k].append((time.perf_counter() - t0) * 1e3)
                cpu[k].append((time.thread_time_ns() - c0) / 1e6)
    if cpu_times is not None:
        cpu_times.update({k: np.asarray(v) for k, v in cpu.items()})
    return {k: np.asarray(v) for k, v in samples.items()}


#: op type -> category of the profile summary
OP_CATEGORY = {
    "Conv": "conv", "FusedConv": "conv", "QLinearConv": "conv", "ConvInteger": "conv", "NhwcConv": "conv",
    "ReorderInput": "layout", "ReorderOutput": "layout", "Transpose": "layout", "Reshape": "layout",
    "MatMul": "matmul/gemm", "FusedMatMul": "matmul/gemm", "Gemm": "matmul/gemm", "FusedGemm": "matmul/gemm",
    "QLinearMatMul": "matmul/gemm", "MatMulInteger": "matmul/gemm", "QGemm": "matmul/gemm",
    "MatMulIntegerToFloat": "matmul/gemm", "DynamicQuantizeMatMul": "matmul/gemm",
    "QuantizeLinear": "quantize/dequantize", "DequantizeLinear": "quantize/dequantize",
    "DynamicQuantizeLinear": "quantize/dequantize",
    "Softmax": "softmax", "QLinearSoftmax": "softmax",
    "LayerNormalization": "norm", "SkipLayerNormalization": "norm",
}


def profile_sessions(sessions: Mapping[str, Any], feeds: Mapping[str, Mapping[str, np.ndarray]], runs: int = 30
                     ) -> dict[str, dict[str, Any]]:
    """Op-level ONNX Runtime profiles of sessions created with profile=True, run alternately `runs` times.

    Returns per label: {"nodes": {node: (op_type, median ms)}, "op_types": {op: ms}, "counts": {op: n},
    "categories": {cat: ms}, "total_ms": sum of node medians}. Medians over runs (not means): on a loaded CPU a
    node that was descheduled once would otherwise dominate its op type.
    """
    items = list(sessions.items())
    for r in range(runs):
        for k, s in (items if r % 2 == 0 else items[::-1]):
            s.run(None, dict(feeds[k]))
    out = {}
    for k, s in items:
        trace = Path(s.end_profiling())
        events = json.loads(trace.read_text())
        trace.unlink(missing_ok=True)
        per: dict[str, list[float]] = collections.defaultdict(list)
        ops: dict[str, str] = {}
        for e in events:
            if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
                n = e["name"][: -len("_kernel_time")]
                per[n].append(e["dur"] / 1e3)
                ops[n] = e["args"].get("op_name", "?")
        skip = max(0, len(next(iter(per.values()), [])) - runs)    # the session's first (warm-up) runs
        nodes = {n: (ops[n], float(np.median(v[skip:] if len(v) > skip else v))) for n, v in per.items()}
        by_op: dict[str, float] = collections.defaultdict(float)
        cnt: collections.Counter = collections.Counter()
        cats: dict[str, float] = collections.defaultdict(float)
        for n, (op, ms) in nodes.items():
            by_op[op] += ms
            cnt[op] += 1
            cats[OP_CATEGORY.get(op, "elementwise/other")] += ms
        out[k] = {"nodes": nodes, "op_types": dict(by_op), "counts": dict(cnt), "categories": dict(cats),
                  "total_ms": float(sum(by_op.values()))}
    return out


def format_profile_table(profiles: Mapping[str, Mapping[str, Any]], key: str = "op_types", top: int = 30) -> str:
    """Plain-text table: one row per op type (or category), per profile its ms per run, node count and share."""
    labels = list(profiles)
    rows = sorted(set().union(*[p[key] for p in profiles.values()]),
                  key=lambda o: -max(p[key].get(o, 0.0) for p in profiles.values()))
    w = max(16, *(len(x) for x in labels))
    head = f"{key[:-1] if key.endswith('s') else key:<24}" + "".join(f"{lab:>{w + 8}}" for lab in labels)
    lines = [head, f"{'':<24}" + "".join(f"{'ms  (n)  share':>{w + 8}}" for _ in labels), "-" * len(head)]
    for o in rows[:top]:
        cells = []
        for p in profiles.values():
            ms = p[key].get(o, 0.0)
            n = p["counts"].get(o, 0) if key == "op_types" else ""
            cells.append(f"{ms:8.3f} {f'({n})' if n != '' else '':>5} {100 * ms / max(p['total_ms'], 1e-9):5.1f}%")
        lines.append(f"{o:<24}" + "".join(f"{c:>{w + 8}}" for c in cells))
    lines.append("-" * len(head))
    lines.append(f"{'total (sum of nodes)':<24}" + "".join(f"{p['total_ms']:8.3f}{'':>12}".rjust(w + 8)
                                                          for p in profiles.values()))
    return "\n".join(lines)


def run_outputs(session, frames: Mapping[str, np.ndarray], batch: int = 1) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    outs: dict[str, list[np.ndarray]] = {k: [] for k in names}
    n = len(frames["images"])
    for s in range(0, n, batch):
        feed = {k: frames[k][s:s + batch] for k in (*INPUT_NAMES, "lead") if k in frames}
        for k, v in zip(names, session.run(names, feed)):
            outs[k].append(v)
    return {k: np.concatenate(v) for k, v in outs.items()}


def output_error(ref: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray]) -> dict[str, float]:
    """FP32-vs-INT8 differences a reader can judge: max |diff| per output, plan L2 error (m), agreement of the
    segmentation decisions and of the detection classes, relative mean error of the logits."""
    out: dict[str, float] = {}
    for k in ref:
        out[f"max_abs_{k}"] = float(np.max(np.abs(ref[k] - got[k])))
    if "plan" in ref:
        out["plan_l2_mean_m"] = float(np.mean(np.linalg.norm(ref["plan"] - got["plan"], axis=-1)))
        out["plan_l2_max_m"] = float(np.max(np.linalg.norm(ref["plan"] - got["plan"], axis=-1)))
    if "seg_logits" in ref:
        out["seg_agreement"] = float(np.mean((ref["seg_logits"] > 0) == (got["seg_logits"] > 0)))
    if "det_logits" in ref:
        out["det_class_agreement"] = float(np.mean(ref["det_logits"].argmax(-1) == got["det_logits"].argmax(-1)))
        out["det_logits_rel_err"] = float(np.mean(np.abs(ref["det_logits"] - got["det_logits"])) /
                                          (np.mean(np.abs(ref["det_logits"])) + 1e-9))
    if "det_boxes" in ref:
        out["det_center_err"] = float(np.mean(np.abs(ref["det_boxes"][..., :2] - got["det_boxes"][..., :2])))
    return out


def compare_outputs(fp32_path: str | Path, int8_path: str | Path, frames: Mapping[str, np.ndarray],
                    threads: int = 2) -> dict[str, float]:
    f = frames_for(fp32_path, frames)
    a = run_outputs(make_session(fp32_path, threads), f)
    b = run_outputs(make_session(int8_path, threads), f)
    return output_error(a, b)


def compare_calibration_methods(fp32_path: str | Path, calibration: Mapping[str, np.ndarray],
                                held_out: Mapping[str, np.ndarray], workdir: str | Path, *,
                                recipe: str | QuantRecipe = DEFAULT_RECIPE,
                                methods: Iterable[str] = CALIBRATION_METHODS, count: int = 64,
                                evaluate_fn=None, threads: int = 2) -> dict[str, dict[str, Any]]:
    """Quantize with each calibration method and measure the INT8 model against FP32 on held-out frames.

    `evaluate_fn(onnx_path) -> dict` (optional, e.g. mAP/L2 via perception.metrics.evaluate) adds task metrics.
    Returns {method: {"path", "seconds", "size_bytes", **output_error, **metrics}}.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    held = frames_for(fp32_path, held_out)
    ref = run_outputs(make_session(fp32_path, threads), held)
    res: dict[str, dict[str, Any]] = {}
    for m in methods:
        path = workdir / f"model.int8.{m}.onnx"
        t0 = time.perf_counter()
        quantize_model(fp32_path, path, calibration, recipe=recipe, method=m, count=count)
        row: dict[str, Any] = {"path": str(path), "seconds": time.perf_counter() - t0,
                               "size_bytes": path.stat().st_size}
        row.update(output_error(ref, run_outputs(make_session(path, threads), held)))
        if evaluate_fn is not None:
            row.update(evaluate_fn(path))
        res[m] = row
    return res


def recipe_dict(r: QuantRecipe) -> dict[str, Any]:
    d = asdict(r)
    d["extra_options"] = dict(r.extra_options)
    return d


__all__ = ["QuantRecipe", "RECIPES", "DEFAULT_RECIPE", "get_recipe", "NodePlan", "plan_nodes", "fit_ego",
           "frames_for", "FrameCalibrationReader", "quantize_model", "copy_metadata", "compact_constants",
           "shorten_tensor_names", "expand_constant_storage", "make_session", "interleaved_latency",
           "profile_sessions", "format_profile_table", "run_outputs",
           "output_error", "compare_outputs", "compare_calibration_methods", "CALIBRATION_METHODS",
           "OP_CATEGORY", "recipe_dict", "DEFAULT_CALIBRATION"]
