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


def export_pair(model, out: Path, data_dir: str | Path, calibration_frames: int = 64, held_split: str = "val"):
    """e2e_fp32.onnx and e2e_int8.onnx (default recipe) of `model` in `out`: INT8 calibrated on `calibration_frames`
    train-split frames spread over the split (in blocks of consecutive frames for a lead-input model, whose
    tracker needs them), checked against FP32 on 32 frames of `held_split` (the first split present of it, val,
    test). Returns the two ExportReports."""
    from perception.export import export_onnx, quantize_int8
    from perception.quantize import LEAD_CALIBRATION_BLOCK, spread_indices
    from perception.train import load_split

    keys = ("images", "ego", "command", "t", "scenario_seed")   # frame order: a lead-input model is tracked
    arrays = load_split(data_dir, "train", keys=keys, limit=4 * calibration_frames)
    idx = spread_indices(len(arrays["ego"]), calibration_frames, LEAD_CALIBRATION_BLOCK if model.cfg.plan_lead else 1)
    calib = {k: v[idx] for k, v in arrays.items()}
    held_split = next((h for h in (held_split, "val", "test") if (Path(data_dir) / h).is_dir()), None)
    if held_split is None:
        raise FileNotFoundError(f"{data_dir}: no val or test split to check the INT8 model on")
    held = load_split(data_dir, held_split, keys=keys, limit=32)
    fp32 = export_onnx(model, out / FILES["fp32"], {k: v[:4] for k, v in held.items()})
    int8 = quantize_int8(fp32.path, out / FILES["int8"], calib, count=len(idx), held_out=held)
    return fp32, int8


def rebuild_onnx(data_dir: str | Path, out_dir: str | Path = WEIGHTS_DIR, split: str = "test",
                 calibration_frames: int = 64, threads: int = 2, suite: bool = True, suite_workers: int = 2
                 ) -> dict[str, Any]:
    """Re-export the ONNX files from the checkpoint already in `out_dir` after a change of the exported graph
    (not of the weights), and replace their entries in metrics.json (ONNX Runtime FP32/INT8 on `split`, INT8
    notes, file sizes, and the driving suite unless `suite` is False). The checkpoint, its torch metrics and the
    ego-status baseline stay as they were: they do not depend on the graph. metrics.json records the rebuild."""
    import datetime

    from perception.metrics import evaluate
    from perception.model import count_flops, load_model
    from perception.runtime import OnnxRuntimeBackend
    from perception.train import load_split

    out = Path(out_dir)
    mpath = out / FILES["metrics"]
    if not mpath.is_file():
        raise FileNotFoundError(f"{mpath}: no metrics to update (run `perception release` first)")
    results = json.loads(mpath.read_text())
    if results.get("split") != split:
        raise ValueError(f"{mpath} holds split {results.get('split')!r}; rebuild on that split, not {split!r}")
    arrays = load_split(data_dir, split)       # checked before anything is written
    if int(len(arrays["ego"])) != int(results.get("frames", -1)):
        raise ValueError(f"{data_dir}: split {split!r} has {len(arrays['ego'])} frames, metrics.json was measured on "
                         f"{results.get('frames')}: not the same split")
    model = load_model(out / FILES["checkpoint"])
    fp32, int8 = export_pair(model, out, data_dir, calibration_frames)
    for name, path in (("onnxruntime_fp32", fp32.path), ("onnxruntime_int8", int8.path)):
        results[name] = evaluate(OnnxRuntimeBackend(Path(path), threads=threads).run, arrays, model.cfg)
    results["model"]["sizes_bytes"] = {k: (out / f).stat().st_size for k, f in FILES.items() if k != "metrics"}
    results["model"]["flops"] = int(count_flops(model))      # the same function, computed another way
    results["int8_export_notes"] = int8.notes
    meta_path = Path(data_dir) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    gen = meta.get("generator", {})          # how the dataset was made: enough to make it again
    data = {"scenarios": gen.get("scenarios"), "seed": gen.get("seed"),
            "splits": {k: int(v.get("frames", 0)) for k, v in meta.get("splits", {}).items()}}
    results["onnx_rebuilt"] = {"date": datetime.date.today().isoformat(), "calibration_frames": calibration_frames,
                               "data": data, "suite_rerun": suite}
    if suite:
        results["driving_suite"] = driving_suite_results(fp32.path, suite_workers)
    mpath.write_text(json.dumps(results, indent=1, sort_keys=True, default=float) + "\n")
    return results


def release(checkpoint: str | Path, data_dir: str | Path, out_dir: str | Path = WEIGHTS_DIR, split: str = "test",
            calibration_frames: int = 64, threads: int = 2, suite: bool = True, suite_workers: int = 2
            ) -> dict[str, Any]:
    from perception.metrics import evaluate
    from perception.model import count_flops, load_model
    from perception.runtime import OnnxRuntimeBackend
    from perception.train import evaluate_checkpoint, load_split, release_checkpoint

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    slim = release_checkpoint(checkpoint, out / FILES["checkpoint"])
    model = load_model(out / FILES["checkpoint"])
    fp32, int8 = export_pair(model, out, data_dir, calibration_frames)
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
