"""Build the model files that ship in the repo (perception/weights/) from a training run, reproducibly.

`edgepilot perception release --checkpoint RUN/best.pt --data DATA` writes:
  e2e.pt          the checkpoint without optimizer state (load_model reads it)
  e2e_fp32.onnx   checked ONNX export (the closed-loop driver's default model)
  e2e_int8.onnx   static QDQ INT8 by the default recipe, calibrated on train-split frames
  metrics.json    test-split metrics of torch, ONNX Runtime FP32 and INT8, the ego-status baseline, sizes, and the
                  closed-loop driving suite with the FP32 model (`driving_suite`; `--no-suite` skips it)
Why one command: the model card's numbers must come from the files that ship, not from a different run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FILES = {"checkpoint": "e2e.pt", "fp32": "e2e_fp32.onnx", "int8": "e2e_int8.onnx", "metrics": "metrics.json"}


def driving_suite_results(model_path: str | Path, workers: int = 2, seed: int = 0) -> dict[str, Any]:
    """The driving suite (vehicle_sim/suite.py, 44 closed-loop runs) with this ONNX model as the e2e driver, AEB
    fallback on: what metrics.json keeps of it (summary per family and one row per run)."""
    from edgepilot.runner import run_suite

    rep = run_suite("all", driver="e2e", seed=seed, workers=workers, model_path=Path(model_path))
    return {"seed": seed, "e2e_fallback_aeb": True, "summary": rep["summary"], "rows": rep["rows"]}


def release(checkpoint: str | Path, data_dir: str | Path, out_dir: str | Path = WEIGHTS_DIR, split: str = "test",
            calibration_frames: int = 64, threads: int = 2, suite: bool = True, suite_workers: int = 2
            ) -> dict[str, Any]:
    from perception.export import export_onnx, quantize_int8
    from perception.metrics import evaluate
    from perception.model import count_flops, load_model
    from perception.runtime import OnnxRuntimeBackend
    from perception.train import evaluate_checkpoint, load_split, release_checkpoint

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    slim = release_checkpoint(checkpoint, out / FILES["checkpoint"])
    model = load_model(out / FILES["checkpoint"])
    keys = ("images", "ego", "command", "t", "scenario_seed")   # frame order: a lead-input model is tracked
    calib = load_split(data_dir, "train", keys=keys, limit=calibration_frames)
    held = load_split(data_dir, "val", keys=keys, limit=32)
    fp32 = export_onnx(model, out / FILES["fp32"], {k: v[:4] for k, v in held.items()})
    int8 = quantize_int8(fp32.path, out / FILES["int8"], calib, count=calibration_frames, held_out=held)
    arrays = load_split(data_dir, split)
    results: dict[str, Any] = {"split": split, "frames": int(len(arrays["ego"]))}
    torch_res = evaluate_checkpoint(out / FILES["checkpoint"], data_dir, split)     # + the ego-MLP baseline
    results["ego_mlp_baseline"] = {k[len("baseline_"):]: v for k, v in torch_res.items() if k.startswith("baseline_")}
    results["torch"] = {k: v for k, v in torch_res.items() if not k.startswith("baseline_")}
    for name, path in (("onnxruntime_fp32", fp32.path), ("onnxruntime_int8", int8.path)):
        results[name] = evaluate(OnnxRuntimeBackend(Path(path), threads=threads).run, arrays, model.cfg)
    results["model"] = {"parameters": int(sum(p.numel() for p in model.parameters())),
                        "flops": int(count_flops(model)), "epochs": slim.get("epoch"),
                        "train_wall_time_s": slim.get("wall_time_s"),
                        "plan_stage": ({"best_epoch": slim["plan_stage"]["best_epoch"],
                                        "wall_time_s": slim["plan_stage"]["wall_time_s"]}
                                       if slim.get("plan_stage") else None),
                        "sizes_bytes": {k: (out / f).stat().st_size for k, f in FILES.items() if k != "metrics"}}
    results["int8_export_notes"] = int8.notes
    if suite:        # closed loop on every release: open-loop figures barely tell planners apart
        results["driving_suite"] = driving_suite_results(fp32.path, suite_workers)
    (out / FILES["metrics"]).write_text(json.dumps(results, indent=1, sort_keys=True, default=float) + "\n")
    return results
