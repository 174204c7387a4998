"""Driving model per multi-camera frame at batch 1: torch eager, ONNX Runtime FP32 and ONNX Runtime INT8.

    python benchmarks/perception_bench.py [--checkpoint best.pt] [--data DIR] [--runs 300] [--threads 2]
        [--recipe conv-nostem] [--calibration minmax] [--methods] [--no-spin] [--untrained [--config YAML]]

One run prints one table: p50/p99 latency (the three backends measured interleaved, so a loaded CPU slows
them alike), parameters, FLOPs, model file sizes and the accuracy of each backend on the --split (default test)
via perception.metrics.evaluate; the INT8 model is calibrated on train-split frames (format v1 or v2 datasets).
Defaults: the shipped checkpoint (perception/weights/e2e.pt) on the evaluation dataset of `perception eval`
(its test split, generated once: perception.data.generate.ensure_eval_dataset). --untrained times an untrained
--config model on the simulator rig instead (latency does not depend on the weights; no accuracy). --methods adds the minmax/entropy/percentile calibration
comparison (output error vs FP32 on held-out frames, and the metrics with a checkpoint). The last line is one
JSON object. ONNX Runtime sessions are opened as perception.runtime.OnnxRuntimeBackend opens them
(ORT_ENABLE_ALL, sequential, --threads intra-op threads); --no-spin turns thread-pool spinning off (ONNX
Runtime's and, via OMP_WAIT_POLICY=PASSIVE, torch's), which a CPU shared with other processes needs.
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

METRIC_KEYS = ("mAP", "L2_1s", "L2_3s", "collision_rate", "lane_iou", "drivable_iou")


def _state_dict_bytes(model) -> int:
    return int(sum(t.numel() * t.element_size() for t in model.state_dict().values()))


def _add_gpu_backends(backends: dict, sizes: dict, model, onnx_path, out: Path, threads: int) -> list[str]:
    """Add the GPU rows that can run here (torch CUDA FP32/FP16, ONNX Runtime CUDA / TensorRT execution providers,
    a TensorRT FP16 engine) and return one note per row added or skipped, with the reason."""
    import copy

    import onnxruntime as ort
    import torch

    from perception.runtime import TensorRTBackend, TorchBackend

    if not torch.cuda.is_available():
        return []   # a CPU machine: the table is the CPU table, nothing to note
    notes = [f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
             "GPU rows time the whole call: host->device copy, inference and device->host copy"]
    gpu_model = copy.deepcopy(model)    # moved to the GPU by the backend; the CPU rows keep `model`
    for label, fp16 in (("torch CUDA FP32", False), ("torch CUDA FP16 (autocast)", True)):
        backends[label] = TorchBackend(None, threads, device="cuda", fp16=fp16, model=gpu_model).run
        sizes[label] = sizes["torch eager FP32"]
    available = ort.get_available_providers()
    for ep, label in (("CUDAExecutionProvider", "ONNX Runtime CUDA EP"), ("TensorrtExecutionProvider", "ONNX Runtime TRT EP")):
        if ep not in available:
            notes.append(f"{label}: skipped, onnxruntime {ort.__version__} here has {', '.join(available)}")
            continue
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(onnx_path), sess_options=o, providers=[ep, "CPUExecutionProvider"])
        names = [x.name for x in sess.get_outputs()]
        backends[label] = (lambda sess=sess, names=names: lambda images, ego, command, lead=None: dict(zip(
            names, sess.run(names, {"images": images, "ego": ego, "command": command,
                                    **({"lead": lead} if lead is not None and "lead" in model.input_names
                                       else {})}))))()
        sizes[label] = Path(onnx_path).stat().st_size
    try:
        from perception.export import build_tensorrt_engine

        rep = build_tensorrt_engine(onnx_path, out / "model.fp16.engine", fp16=True)
        trt_backend = TensorRTBackend(Path(rep.path))
        backends["TensorRT FP16"], sizes["TensorRT FP16"] = trt_backend.run, rep.size_bytes
    except RuntimeError as exc:   # BackendUnavailable (no TensorRT/GPU) or a failed build: say why, keep the table
        notes.append(f"TensorRT: skipped, {exc}")
    return notes


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="default: the shipped perception/weights/e2e.pt")
    ap.add_argument("--untrained", action="store_true", help="time an untrained --config model (no accuracy)")
    ap.add_argument("--config", default=str(ROOT / "perception" / "configs" / "default.yaml"))
    ap.add_argument("--data", default=None, help="dataset: calibration (train) and accuracy (--split) frames "
                                                 "(default: the evaluation dataset; none with --untrained)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--eval-frames", type=int, default=None, help="limit the accuracy frames (default: all)")
    ap.add_argument("--runs", type=int, default=300, help="timed runs per backend (interleaved in rounds of 5)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-spin", action="store_true", help="ONNX Runtime thread pools without spinning")
    ap.add_argument("--recipe", default=None, help="INT8 recipe (perception/quantize.py; default the export's)")
    ap.add_argument("--calibration", default="minmax", choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--calibration-frames", type=int, default=64)
    ap.add_argument("--methods", action="store_true", help="compare the calibration methods too")
    ap.add_argument("--out", default=None, help="keep the exported models here")
    ap.add_argument("--no-gpu", action="store_true", help="skip the GPU rows even where a CUDA GPU is present")
    a = ap.parse_args(argv)
    if a.no_spin:   # torch's OpenMP pool too: spinning threads on a shared 2-core CPU slow torch ~20x
        import os

        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch

    from perception.export import export_onnx, quantize_int8
    from perception.model import count_flops, load_model
    from perception.quantize import (DEFAULT_RECIPE, LEAD_CALIBRATION_BLOCK, compare_calibration_methods, fit_ego,
                                     frames_for, interleaved_latency, make_session, spread_indices)
    from perception.runtime import TorchBackend

    torch.set_num_threads(a.threads)
    recipe = a.recipe or DEFAULT_RECIPE
    if a.untrained and a.checkpoint:
        ap.error("--untrained times a --config model: leave out --checkpoint")
    if not a.untrained:
        a.checkpoint = a.checkpoint or str(ROOT / "perception" / "weights" / "e2e.pt")
        if not a.data:
            from perception.data.generate import ensure_eval_dataset

            a.data = str(ensure_eval_dataset())
    if a.checkpoint:
        model = load_model(a.checkpoint)
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from int8_profile import build_model

        model = build_model(None, a.config, a.data)
    model.eval()
    mcfg = model.cfg
    ego_dim = int(model.ego_enc[0].in_features) if hasattr(model, "ego_enc") else 5
    params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="perception_bench_"))
    out.mkdir(parents=True, exist_ok=True)

    arrays = held = None
    if a.data:
        from perception.train import load_split

        keys = ("images", "ego", "command", "t", "scenario_seed")   # frame order: a lead-input model is tracked
        src = load_split(a.data, "train", keys=keys, limit=a.calibration_frames * 4)
        idx = spread_indices(len(src["ego"]), a.calibration_frames, LEAD_CALIBRATION_BLOCK if mcfg.plan_lead else 1)
        calib = {k: v[idx] for k, v in src.items()}
        held_split = "val" if (Path(a.data) / "val").is_dir() else a.split
        held = load_split(a.data, held_split, keys=keys, limit=32)
        if a.checkpoint:
            arrays = load_split(a.data, a.split, limit=a.eval_frames)
            arrays["ego"] = fit_ego(arrays["ego"], ego_dim)
        calib_src = f"{len(idx)} train frames of {a.data}"
    else:
        from perception.model.network import dummy_inputs

        calib = dict(zip(model.input_names, (t.numpy() for t in dummy_inputs(mcfg, batch=16))))
        calib_src = "16 RANDOM frames (no --data: timing only)"

    one = {k: v[:1] for k, v in (held or calib).items()}
    fp32 = export_onnx(model, out / "model.onnx", {k: v[:2] for k, v in (held or calib).items()})
    int8 = quantize_int8(fp32.path, out / "model.int8.onnx", calib, method=a.calibration,
                         count=a.calibration_frames, recipe=recipe, held_out=held)
    x = frames_for(fp32.path, one)
    spin = not a.no_spin
    sessions = {"fp32": make_session(fp32.path, a.threads, spinning=spin),
                "int8": make_session(int8.path, a.threads, spinning=spin)}

    torch_run = TorchBackend(None, a.threads, model=model).run
    def ort_fn(session):
        names = [o.name for o in session.get_outputs()]

        def run(images, ego, command, lead=None):
            feed = {"images": np.ascontiguousarray(images), "ego": fit_ego(ego, ego_dim),
                    "command": np.asarray(command, dtype=np.int64)}
            if lead is not None and "lead" in model.input_names:
                feed["lead"] = np.asarray(lead, dtype=np.float32)
            return dict(zip(names, session.run(names, feed)))
        return run

    backends = {"torch eager FP32": torch_run, "ONNX Runtime FP32": ort_fn(sessions["fp32"]),
                "ONNX Runtime INT8": ort_fn(sessions["int8"])}
    sizes = {"torch eager FP32": _state_dict_bytes(model), "ONNX Runtime FP32": fp32.size_bytes,
             "ONNX Runtime INT8": int8.size_bytes}
    gpu_notes = [] if a.no_gpu else _add_gpu_backends(backends, sizes, model, fp32.path, out, a.threads)
    feeds = (x["images"], x["ego"], x["command"]) + ((x["lead"],) if "lead" in x else ())
    rounds = max(2, a.runs // 5)
    lat = interleaved_latency({k: (lambda f=f: f(*feeds)) for k, f in backends.items()}, rounds=rounds, inner=5)
    acc = {}
    if arrays is not None:
        from perception.metrics import evaluate

        for name, fn in backends.items():
            acc[name] = evaluate(fn, arrays, mcfg)

    print(f"model: {params / 1e6:.3f} M parameters, {flops / 1e9:.3f} GFLOP per frame (2 FLOP/MAC; "
          f"{mcfg.num_cameras} cameras {mcfg.image_hw[1]}x{mcfg.image_hw[0]}), batch 1, {a.threads} threads"
          f"{'' if spin else ' (no spinning)'}, {rounds * 5} interleaved runs per backend")
    print(f"INT8: {int8.notes[0]}; {a.calibration} calibration on {calib_src}")
    for n in int8.notes[1:]:
        print(f"      {n}")
    for n in gpu_notes:
        print(f"GPU: {n}")
    print("(latency on a CPU shared with other jobs is inflated for all backends alike: read the ratios)\n")
    head = f"{'backend':<26} {'p50 ms':>8} {'p99 ms':>8} {'vs FP32':>8} {'file MB':>8}"
    if acc:
        head += "".join(f" {k:>8}" for k in ("mAP", "L2_3s", "coll%", "laneIoU", "drvIoU"))
    print(head)
    print("-" * len(head))
    base = float(np.median(lat["ONNX Runtime FP32"]))
    result: dict = {"params": params, "flops": flops, "threads": a.threads, "spinning": spin, "recipe": recipe,
                    "calibration": a.calibration, "runs": rounds * 5, "backends": {}}
    for name, t in lat.items():
        p50, p99 = float(np.median(t)), float(np.percentile(t, 99))
        row = {"p50_ms": p50, "p99_ms": p99, "speedup_vs_ort_fp32": base / p50, "file_bytes": sizes[name]}
        line = f"{name:<26} {p50:8.2f} {p99:8.2f} {base / p50:7.2f}x {sizes[name] / 1e6:8.2f}"
        if name in acc:
            r = acc[name]
            row.update({k: r[k] for k in METRIC_KEYS})
            line += (f" {r['mAP']:8.4f} {r['L2_3s']:8.3f} {r['collision_rate']:8.2f} {r['lane_iou']:8.3f} "
                     f"{r['drivable_iou']:8.3f}")
        result["backends"][name] = row
        print(line)
    print(f"\n(torch file = state dict; ONNX files include the constant-folded geometry; INT8 file "
          f"{100 * int8.size_bytes / fp32.size_bytes:.0f}% of FP32)")
    if acc:
        d = 100 * (acc["ONNX Runtime FP32"]["mAP"] - acc["ONNX Runtime INT8"]["mAP"])
        print(f"INT8 mAP drop vs ONNX Runtime FP32: {d:.2f} points")
        result["int8_map_drop_points"] = d

    if a.methods:
        print(f"\ncalibration methods (recipe {recipe}, {a.calibration_frames} frames; INT8 vs FP32 on "
              f"{len((held or calib)['ego'])} held-out frames{'; metrics on ' + a.split if arrays else ''})")
        evaluate_fn = None
        if arrays is not None:
            from perception.metrics import evaluate

            def evaluate_fn(path):
                r = evaluate(ort_fn(make_session(path, a.threads, spinning=spin)), arrays, mcfg)
                return {k: r[k] for k in METRIC_KEYS}
        res = compare_calibration_methods(fp32.path, calib, held or calib, out / "methods", recipe=recipe,
                                          count=a.calibration_frames, evaluate_fn=evaluate_fn, threads=a.threads)
        cols = ["plan_l2_mean_m", "seg_agreement", "det_class_agreement", "det_logits_rel_err"] + \
            (list(METRIC_KEYS) if arrays is not None else [])
        print(f"{'method':<11}" + "".join(f" {c[:12]:>12}" for c in cols))
        for m, r in res.items():
            print(f"{m:<11}" + "".join(f" {r[c]:12.4f}" for c in cols))
        result["calibration_methods"] = {m: {c: r[c] for c in cols} for m, r in res.items()}
    print(json.dumps(result, default=float))
    return result


if __name__ == "__main__":
    main()
