"""INT8 study: which quantized op set, format and layer shapes make ONNX Runtime INT8 faster than FP32 here.

    python benchmarks/int8_profile.py [--checkpoint best.pt | --config default.yaml [--backbone JSON]]
        [--data DIR] [--recipes conv-body,conv,all-ops] [--threads 2] [--rounds 30] [--runs 30]
        [--methods] [--micro] [--variants JSON-LIST] [--fixed-batch] [--no-spin] [--json]

1. exports the model (a checkpoint, or an untrained model of --config on the simulator rig / --data's rig);
2. quantizes it with each recipe (perception/quantize.py RECIPES) on simulator frames (--data: the train split,
   format v1 or v2; without --data random bytes, fine for timing only);
3. FP32 (ORT_ENABLE_ALL, as the runtime opens it) and every INT8 variant: end-to-end latency measured
   interleaved (A B C C B A ...: a loaded CPU slows all alike; compare the ratio of medians), file size,
   output error vs FP32 on held-out frames;
4. ONNX Runtime's profiler on FP32 and each INT8 variant, run alternately: per-op-type table (ms, share), a
   per-category table and a per-conv-layer table (FP32 vs INT8 ms of the same layer);
--methods: minmax / entropy / percentile calibration compared (output error on held-out frames);
--micro:   isolated Conv+ReLU layers of many shapes, FP32 vs U8S8 vs S8S8 (which layer shapes pay);
--variants '[[[16,2,1],[24,2,1],[48,2,2],[64,1,1]], ...]': backbone specs compared (params, FLOPs, FP32 and INT8
           latency, speed-up) with the default recipe.
The last line is one JSON object with every number.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from perception.quantize import (DEFAULT_RECIPE, RECIPES, compare_calibration_methods,  # noqa: E402
                                 format_profile_table, frames_for, interleaved_latency, make_session, output_error,
                                 profile_sessions, quantize_model, run_outputs)


def sim_meta(width: int = 256, height: int = 128, cameras=("front", "front_left", "front_right")) -> dict:
    """meta.json content of a simulator dataset with this rig (no frames), as perception.data.generate writes it."""
    from perception.data.generate import GenConfig, _meta

    cfg = GenConfig(frames=0, splits=(("train", 0.8), ("val", 0.1), ("test", 0.1)), seed=0, sample_hz=2.0,
                    width=width, height=height, cameras=tuple(cameras), max_objects=32, shard_size=256,
                    scenarios=None)
    return _meta(cfg, {}, {})


def build_model(checkpoint: str | None, config: str, data: str | None, backbone=None):
    from perception.model import E2EDrivingModel, apply_meta, load_config, load_model, rig_from_meta

    if checkpoint:
        return load_model(checkpoint).eval()
    cfg = load_config(config)
    meta = json.loads((Path(data) / "meta.json").read_text()) if data else sim_meta()
    apply_meta(cfg, meta)
    if backbone is not None:
        cfg.model.backbone = [list(map(int, s)) for s in backbone]
    import torch

    torch.manual_seed(0)
    return E2EDrivingModel(cfg, rig_from_meta(meta)).eval()


def export_fp32(model, path: Path) -> Path:
    """ONNX FP32 with metadata (perception.export; no torch parity check: that is tested elsewhere)."""
    from perception.export import write_metadata
    from perception.model import export_onnx as torch_export

    torch_export(model.eval(), str(path))
    write_metadata(path, model)
    return path


def load_frames(data: str | None, model, calib_n: int, held_n: int):
    """(calibration frames, held-out frames, where they came from). Frames carry their run and time (`t`,
    `scenario_seed`): a model that plans on the tracked lead is fed the lead its tracker finds in them."""
    if data:
        from perception.quantize import LEAD_CALIBRATION_BLOCK, spread_indices
        from perception.train import load_split

        keys = ("images", "ego", "command", "t", "scenario_seed")
        calib = load_split(data, "train", keys=keys, limit=max(calib_n * 4, calib_n))
        # spread over runs, not one scene; a lead-input model gets blocks of consecutive frames (as `export`)
        idx = spread_indices(len(calib["ego"]), calib_n, LEAD_CALIBRATION_BLOCK if model.cfg.plan_lead else 1)
        calib = {k: v[idx] for k, v in calib.items()}
        held_split = "val" if (Path(data) / "val").exists() else "test"
        held = load_split(data, held_split, keys=keys, limit=held_n)
        return calib, held, f"simulator frames: {len(idx)} train (calibration), {len(held['ego'])} {held_split}"
    m = model.cfg
    rng = np.random.default_rng(0)
    n = calib_n + held_n
    imgs = rng.integers(0, 256, (n, m.num_cameras, m.image_hw[0], m.image_hw[1], 3), dtype=np.uint8)
    ego = np.tile(np.array([[8.0, 0.3, 0.05, 0.1, 8.0]], np.float32), (n, 1))
    cmd = np.zeros(n, np.int64)
    f = {"images": imgs, "ego": ego, "command": cmd,            # one 10 Hz run each (for a lead-input model)
         "t": np.r_[np.arange(calib_n), np.arange(held_n)] * 0.1,
         "scenario_seed": np.r_[np.zeros(calib_n), np.ones(held_n)].astype(np.int64)}
    return ({k: v[:calib_n] for k, v in f.items()}, {k: v[calib_n:] for k, v in f.items()},
            "RANDOM bytes (no --data): timing only, errors are not meaningful")


def conv_layer_table(fp32_prof: dict, int8_prof: dict) -> str:
    """FP32 vs INT8 time of each conv layer (nodes matched by their module path)."""
    def layers(p):
        out: dict[str, float] = {}
        for name, (op, ms) in p["nodes"].items():
            if op in ("Conv", "FusedConv", "QLinearConv", "NhwcConv", "ConvInteger"):
                parts = name.strip("/").split("/")
                key = "/".join(parts[:-2]) if len(parts) > 2 else name.replace("_nchwc", "")
                out[key] = out.get(key, 0.0) + ms
        return out
    a, b = layers(fp32_prof), layers(int8_prof)
    lines = [f"{'conv layer':<34} {'FP32 ms':>8} {'INT8 ms':>8} {'speed-up':>9}"]
    for k in sorted(set(a) | set(b), key=lambda k: -a.get(k, 0)):
        fa, fb = a.get(k), b.get(k)
        # a layer left in FP32 shows as Conv in both; the INT8 graph may rename fused output convs
        su = f"{fa / fb:8.2f}x" if fa and fb else ""
        lines.append(f"{k:<34} {fa or 0:8.3f} {fb or 0:8.3f} {su:>9}")
    return "\n".join(lines)


def micro_conv(threads: int, spinning: bool, rounds: int) -> list[dict]:
    """Isolated Conv+ReLU layers (input QuantizeLinear and output DequantizeLinear included in INT8: the cost of
    a layer at the edge of an INT8 region), FP32 vs QDQ U8S8 vs S8S8, per-channel, median of interleaved runs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    rng = np.random.default_rng(0)
    shapes = [  # cin, cout, H, W (input), stride, k, batch (cameras)
        (3, 16, 128, 256, 2, 3, 3), (3, 32, 128, 256, 2, 3, 3), (16, 24, 64, 128, 2, 3, 3), (16, 32, 64, 128, 2, 3, 3),
        (32, 32, 64, 128, 1, 3, 3), (24, 48, 32, 64, 2, 3, 3), (32, 48, 32, 64, 2, 3, 3), (32, 64, 32, 64, 2, 3, 3),
        (48, 48, 16, 32, 1, 3, 3), (48, 64, 16, 32, 1, 3, 3), (64, 64, 16, 32, 1, 3, 3), (64, 96, 16, 32, 1, 3, 3),
        (96, 96, 16, 32, 1, 3, 3), (128, 128, 16, 32, 1, 3, 3), (64, 64, 16, 32, 1, 1, 3), (128, 64, 16, 32, 1, 1, 3),
        (16, 16, 120, 64, 1, 3, 1), (32, 32, 120, 64, 1, 3, 1)]
    tmp = Path(tempfile.mkdtemp(prefix="int8_micro_"))
    rows = []
    for cin, cout, h, w, s, k, n in shapes:
        wt = rng.normal(0, 1, (cout, cin, k, k)) / np.sqrt(cin * k * k)
        W = numpy_helper.from_array(wt.astype(np.float32), "W")
        B = numpy_helper.from_array(rng.normal(0, 0.1, cout).astype(np.float32), "B")
        nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[k // 2] * 4, strides=[s, s],
                                  kernel_shape=[k, k]),
                 helper.make_node("Relu", ["c"], ["y"])]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, cin, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [W, B])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        fp = tmp / "fp32.onnx"
        onnx.save(m, str(fp))
        xs = [np.maximum(rng.normal(0.3, 1, (n, cin, h, w)), 0).astype(np.float32) for _ in range(4)]

        class Reader:
            def __init__(self):
                self.it = iter({"x": x} for x in xs)

            def get_next(self):
                return next(self.it, None)
        paths = {"fp32": fp}
        for act in ("u8", "s8"):
            p = tmp / f"{act}.onnx"
            quantize_static(str(fp), str(p), Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8 if act == "u8" else QuantType.QInt8,
                            weight_type=QuantType.QInt8, per_channel=True)
            paths[act] = p
        sess = {k: make_session(p, threads, spinning=spinning) for k, p in paths.items()}
        lat = interleaved_latency({k: (lambda s=s: s.run(None, {"x": xs[0]})) for k, s in sess.items()},
                                  rounds=rounds, inner=5)
        med = {k: float(np.median(v)) for k, v in lat.items()}
        mmac = n * cout * (h // s) * (w // s) * cin * k * k / 1e6
        rows.append({"cin": cin, "cout": cout, "hw": [h, w], "stride": s, "k": k, "batch": n, "depth": cin * k * k,
                     "mmac": mmac, "fp32_ms": med["fp32"], "u8s8_ms": med["u8"], "s8s8_ms": med["s8"],
                     "speedup_u8s8": med["fp32"] / med["u8"], "speedup_s8s8": med["fp32"] / med["s8"]})
        r = rows[-1]
        print(f"{cin:4d} {cout:4d} {h:4d}x{w:<4d} s{s} k{k} b{n} | K={r['depth']:5d} | {mmac:6.1f} MMAC | "
              f"FP32 {r['fp32_ms']:6.3f} | U8S8 {r['u8s8_ms']:6.3f} ({r['speedup_u8s8']:4.2f}x) | "
              f"S8S8 {r['s8s8_ms']:6.3f} ({r['speedup_s8s8']:4.2f}x)", flush=True)
    return rows


def study_variants(specs, args, calib, held) -> list[dict]:
    """Backbone variants: params, FLOPs, FP32 vs INT8 (default recipe) latency and output error."""
    from perception.model import count_flops

    out = []
    tmp = Path(tempfile.mkdtemp(prefix="int8_var_"))
    for i, spec in enumerate(specs):
        model = build_model(None, args.config, args.data, backbone=spec)
        fp = export_fp32(model, tmp / f"v{i}.onnx")
        q = tmp / f"v{i}.int8.onnx"
        quantize_model(fp, q, calib, recipe=args.default_recipe, count=args.calib_frames)
        feeds = {k: v[:1] for k, v in frames_for(fp, held).items()}
        s = {"fp32": make_session(fp, args.threads, fixed_batch=args.fixed_batch, spinning=not args.no_spin),
             "int8": make_session(q, args.threads, fixed_batch=args.fixed_batch, spinning=not args.no_spin)}
        lat = interleaved_latency({k: (lambda x=x: x.run(None, feeds)) for k, x in s.items()},
                                  rounds=args.rounds, inner=5)
        p50 = {k: float(np.median(v)) for k, v in lat.items()}
        row = {"backbone": spec, "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
               "gflop": count_flops(model) / 1e9, "fp32_p50_ms": p50["fp32"], "int8_p50_ms": p50["int8"],
               "speedup": p50["fp32"] / p50["int8"], "fp32_mb": fp.stat().st_size / 1e6,
               "int8_mb": q.stat().st_size / 1e6,
               "feat_hw": list(model.feat_hw)}
        out.append(row)
        print(f"{json.dumps(spec):<44} {row['params_M']:6.3f} M {row['gflop']:6.3f} GFLOP  FP32 {p50['fp32']:7.2f} ms  "
              f"INT8 {p50['int8']:7.2f} ms  {row['speedup']:5.2f}x  tokens {model.feat_hw}", flush=True)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="trained checkpoint (default: untrained --config model)")
    ap.add_argument("--config", default=str(ROOT / "perception" / "configs" / "default.yaml"))
    ap.add_argument("--backbone", default=None, help="JSON backbone spec overriding the config's")
    ap.add_argument("--data", default=None, help="dataset (calibration = train split, held-out = val split)")
    ap.add_argument("--recipes", default="conv-nostem,conv-nostem+kv,conv-body,all-ops",
                    help=f"comma-separated, of: {', '.join(RECIPES)}")
    ap.add_argument("--default-recipe", default=DEFAULT_RECIPE)
    ap.add_argument("--calibration", default="minmax", choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--calib-frames", type=int, default=32)
    ap.add_argument("--held-frames", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=30, help="interleaved rounds (x5 runs per model per round)")
    ap.add_argument("--runs", type=int, default=30, help="profiled runs per model")
    ap.add_argument("--fixed-batch", type=int, default=None, help="fix the symbolic batch (ORT free-dim override)")
    ap.add_argument("--no-spin", action="store_true", help="intra-op thread pool without spinning")
    ap.add_argument("--methods", action="store_true", help="compare calibration methods")
    ap.add_argument("--micro", action="store_true", help="conv layer-shape micro benchmark")
    ap.add_argument("--micro-only", action="store_true", help="only the micro benchmark")
    ap.add_argument("--variants", default=None, help="JSON list of backbone specs to compare")
    ap.add_argument("--out", default=None, help="keep the models here (default: a temporary directory)")
    a = ap.parse_args(argv)
    result: dict = {"threads": a.threads, "fixed_batch": a.fixed_batch, "spinning": not a.no_spin}
    print("NOTE: latencies are medians of interleaved runs; on a CPU shared with other jobs the absolute ms are "
          "inflated, the ratios are what to read.\n")
    if a.micro or a.micro_only:
        print(f"== conv layer shapes, isolated Conv+ReLU, {a.threads} thread(s) (INT8 incl. input Q / output DQ)")
        result["micro"] = micro_conv(a.threads, not a.no_spin, max(6, a.rounds // 2))
        if a.micro_only:
            print(json.dumps(result, default=float))
            return result

    import torch

    torch.set_num_threads(a.threads)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="int8_study_"))
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(a.checkpoint, a.config, a.data,
                        backbone=json.loads(a.backbone) if a.backbone else None)
    calib, held, src = load_frames(a.data, model, a.calib_frames, a.held_frames)
    fp32 = export_fp32(model, out / "model.onnx")
    print(f"model: backbone {model.cfg.backbone}, {model.cfg.num_cameras} cameras "
          f"{model.cfg.image_hw[1]}x{model.cfg.image_hw[0]}, tokens/camera {model.feat_hw}; {src}")
    held_f = frames_for(fp32, held)
    feeds1 = {k: v[:1] for k, v in held_f.items()}
    ref = run_outputs(make_session(fp32, a.threads), held_f)
    recipes = [r.strip() for r in a.recipes.split(",") if r.strip()]
    paths = {"fp32": fp32}
    rows = {}
    print(f"\n== recipes ({a.calibration} calibration, {a.calib_frames} frames)")
    for r in recipes:
        p = out / f"model.int8.{r}.onnx"
        info = quantize_model(fp32, p, calib, recipe=r, method=a.calibration, count=a.calib_frames)
        err = output_error(ref, run_outputs(make_session(p, a.threads), held_f))
        paths[r] = p
        rows[r] = {"summary": info["recipe"].summary(), "nodes": info["plan"].counts(),
                   "size_bytes": p.stat().st_size, "size_ratio": p.stat().st_size / fp32.stat().st_size, **err}
        print(f"{r:<18} {info['recipe'].summary()}\n{'':<18} nodes {info['plan'].counts()}\n{'':<18} "
              f"file {p.stat().st_size / 1e6:.2f} MB ({100 * rows[r]['size_ratio']:.0f}% of FP32 "
              f"{fp32.stat().st_size / 1e6:.2f} MB); vs FP32 on held-out: plan L2 {err['plan_l2_mean_m']:.3f} m "
              f"(max {err['plan_l2_max_m']:.3f}), seg agreement {err['seg_agreement']:.4f}, det class agreement "
              f"{err['det_class_agreement']:.3f}, det centre err {err['det_center_err']:.4f}")
    result["recipes"] = rows
    result["fp32_size_bytes"] = fp32.stat().st_size

    spin = not a.no_spin
    print(f"\n== end-to-end latency, batch 1, {a.threads} threads, interleaved ({a.rounds} rounds x 5 runs each)")
    sessions = {"fp32 (ORT_ENABLE_ALL)": make_session(fp32, a.threads, fixed_batch=a.fixed_batch, spinning=spin),
                "fp32 (ORT_ENABLE_BASIC)": make_session(fp32, a.threads, fixed_batch=a.fixed_batch, spinning=spin,
                                                        opt_level="basic")}
    sessions.update({f"int8 {r}": make_session(paths[r], a.threads, fixed_batch=a.fixed_batch, spinning=spin)
                     for r in recipes})
    cpu: dict = {}
    lat = interleaved_latency({k: (lambda s=s: s.run(None, feeds1)) for k, s in sessions.items()},
                              rounds=a.rounds, inner=5, cpu_times=cpu)
    base = float(np.median(lat["fp32 (ORT_ENABLE_ALL)"]))
    base_cpu = float(np.median(cpu["fp32 (ORT_ENABLE_ALL)"]))
    result["latency"] = {}
    for k, v in lat.items():
        p50, p99, c50 = float(np.median(v)), float(np.percentile(v, 99)), float(np.median(cpu[k]))
        result["latency"][k] = {"p50_ms": p50, "p99_ms": p99, "speedup_vs_fp32": base / p50,
                                "thread_cpu_p50_ms": c50, "cpu_speedup_vs_fp32": base_cpu / c50}
        extra = (f" | thread CPU p50 {c50:7.2f} ms ({base_cpu / c50:4.2f}x)" if a.threads == 1 else "")
        print(f"{k:<40} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {base / p50:5.2f}x{extra}")
    if a.threads == 1:
        print("(1 thread: ONNX Runtime computes on the calling thread, so its CPU time excludes the time other "
              "jobs took: the cleaner ratio on a loaded machine)")

    print(f"\n== ONNX Runtime op profile (median per node over {a.runs} alternating runs, ms per frame)")
    prof_s = {"FP32": make_session(fp32, a.threads, fixed_batch=a.fixed_batch, spinning=spin, profile=True)}
    prof_s.update({f"INT8 {r}": make_session(paths[r], a.threads, fixed_batch=a.fixed_batch, spinning=spin,
                                             profile=True) for r in recipes})
    prof = profile_sessions(prof_s, {k: feeds1 for k in prof_s}, runs=a.runs)
    print(format_profile_table(prof, "op_types", top=40))
    print()
    print(format_profile_table(prof, "categories"))
    result["profile"] = {k: {kk: p[kk] for kk in ("op_types", "counts", "categories", "total_ms")}
                         for k, p in prof.items()}
    for r in recipes:
        print(f"\n-- conv layers, FP32 vs INT8 {r}")
        print(conv_layer_table(prof["FP32"], prof[f"INT8 {r}"]))

    if a.methods:
        print(f"\n== calibration methods (recipe {a.default_recipe}, {a.calib_frames} frames; error vs FP32 on "
              f"{len(held_f['ego'])} held-out frames)")
        res = compare_calibration_methods(fp32, calib, held, out / "methods", recipe=a.default_recipe,
                                          count=a.calib_frames, threads=a.threads)
        result["calibration_methods"] = res
        print(f"{'method':<11} {'calib s':>8} {'plan L2 m':>10} {'plan max':>9} {'seg agree':>10} "
              f"{'det cls agr':>11} {'det ctr err':>11}")
        for m, r in res.items():
            print(f"{m:<11} {r['seconds']:8.1f} {r['plan_l2_mean_m']:10.4f} {r['plan_l2_max_m']:9.4f} "
                  f"{r['seg_agreement']:10.4f} {r['det_class_agreement']:11.4f} {r['det_center_err']:11.5f}")

    if a.variants:
        print("\n== backbone variants (untrained, default recipe)")
        result["variants"] = study_variants(json.loads(a.variants), a, calib, held)
    print(json.dumps(result, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))
    return result


if __name__ == "__main__":
    main()
