"""Driving-model latency per multi-camera frame at batch 1: torch eager, ONNX Runtime FP32 and INT8.

    python benchmarks/perception_bench.py [--checkpoint best.pt] [--data DIR] [--runs 100] [--threads 2]

Without --checkpoint an untrained default.yaml model is timed (latency does not depend on the weights);
with --data the accuracy of each backend on the test split is printed too, and INT8 is calibrated on
simulator frames from the train split (otherwise on random bytes, which is fine for timing only).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _latency(fn, x, runs: int) -> tuple[float, float]:
    for _ in range(5):
        fn(*x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(*x)
        times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--config", default=str(ROOT / "perception" / "configs" / "default.yaml"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import torch

    from perception.export import export_onnx, quantize_int8
    from perception.model import E2EDrivingModel, count_flops, load_config, load_model
    from perception.model.network import dummy_inputs
    from perception.runtime import open_backend

    torch.set_num_threads(a.threads)
    model = load_model(a.checkpoint) if a.checkpoint else E2EDrivingModel(load_config(a.config))
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model)
    arrays = None
    if a.data:
        from perception.train import load_split

        arrays = load_split(a.data, "test")
        calib_src = load_split(a.data, "train")
        calib = {k: calib_src[k][:64] for k in ("images", "ego", "command")}
        x = (arrays["images"][:1], arrays["ego"][:1], arrays["command"][:1])
    else:
        imgs, ego, cmd = (t.numpy() for t in dummy_inputs(model.cfg, batch=16))
        calib = {"images": imgs, "ego": ego, "command": cmd}
        x = (imgs[:1], ego[:1], cmd[:1])

    tmp = Path(tempfile.mkdtemp())
    fp32 = export_onnx(model, tmp / "model.onnx", {"images": x[0], "ego": x[1], "command": x[2]})
    int8 = quantize_int8(fp32.path, tmp / "model.int8.onnx", calib, count=len(calib["images"]))

    def torch_run(images, ego, command):
        with torch.inference_mode():
            return model(torch.from_numpy(images), torch.from_numpy(ego), torch.from_numpy(command))

    rows = [("torch eager FP32", torch_run, None, None)]
    for name, rep in (("ONNX Runtime FP32", fp32), ("ONNX Runtime INT8 (QDQ)", int8)):
        backend = open_backend("onnxruntime", rep.path, threads=a.threads)
        rows.append((name, backend.run, rep.size_bytes, backend))

    print(f"model: {params / 1e6:.3f} M parameters, {flops / 1e9:.3f} GFLOP per frame "
          f"({model.cfg.num_cameras} cameras {model.cfg.image_hw[1]}x{model.cfg.image_hw[0]}), "
          f"{a.threads} threads, batch 1, {a.runs} runs\n")
    header = f"{'backend':<26} {'p50 ms':>8} {'p99 ms':>8} {'file MB':>8}"
    if arrays is not None:
        header += f" {'mAP':>6} {'L2_3s':>6} {'coll%':>6}"
    print(header)
    print("-" * len(header))
    for name, fn, size, backend in rows:
        p50, p99 = _latency(fn, x, a.runs)
        line = f"{name:<26} {p50:8.2f} {p99:8.2f} {'' if size is None else f'{size / 1e6:8.2f}':>8}"
        if arrays is not None:
            from perception.metrics import evaluate

            res = evaluate(model if backend is None else backend.run, arrays, mcfg=model.cfg)
            line += f" {res['mAP']:6.3f} {res['L2_3s']:6.3f} {res['collision_rate']:6.2f}"
        print(line)


if __name__ == "__main__":
    main()
