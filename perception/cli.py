"""`edgepilot perception ...` commands (dataset generation; training/evaluation register alongside).

Why a list of registrars: the `perception` parser is shared by several modules; each adds its own
subcommands through a function taking the `perception` sub-parsers object (see SUBCOMMANDS).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable


def _cmd_dataset(args: argparse.Namespace) -> int:
    from perception.data.generate import generate

    spec = args.scenarios.strip()
    scenarios = None if spec == "random" else [s.strip() for s in spec.split(",") if s.strip()]
    if scenarios is not None:
        if not scenarios:
            raise ValueError(f"--scenarios {args.scenarios!r}: expected 'random' or a comma-separated list")
        from vehicle_sim.scenario import load_scenario

        for name in scenarios:       # fail early with the loader's error naming file and field
            load_scenario(name)
    cameras = tuple(c.strip() for c in args.cameras.split(",") if c.strip())
    splits = None
    if args.splits:
        splits = {}
        for item in args.splits.split(","):
            name, sep, weight = item.partition("=")
            try:
                splits[name.strip()] = float(weight)
            except ValueError:
                raise ValueError(f"--splits {args.splits!r}: {item!r} is not NAME=WEIGHT") from None
            if not sep:
                raise ValueError(f"--splits {args.splits!r}: {item!r} is not NAME=WEIGHT")
    meta = generate(args.out, frames=args.frames, splits=splits, seed=args.seed, workers=args.workers,
                    sample_hz=args.sample_hz,
                    width=args.width, height=args.height, cameras=cameras, max_objects=args.max_objects,
                    shard_size=args.shard_size, progress=not args.no_progress, scenarios=scenarios,
                    recoveries=args.recoveries, stop_and_go=args.stop_and_go, approach=args.approach,
                    dagger=args.dagger, lane_offsets=args.lane_offsets)
    for split, info in meta["splits"].items():
        print(f"{split:6s} {info['frames']:7d} frames from {info['runs']} runs")
    dropped = ", ".join(f"{k}: {v}" for k, v in meta["dropped_runs"].items()) or "none"
    print(f"dropped runs: {dropped}\ndataset in {args.out}/")
    return 0


def add_dataset_parser(perception_sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`perception dataset`: generate a driving dataset (perception/DATASET.md) from simulator runs."""
    p = perception_sub.add_parser(
        "dataset", help="generate an end-to-end driving dataset from closed-loop simulator runs",
        description="Run (randomized) scenarios with the classical ADAS as the expert driver and write camera "
                    "images, ego status, objects, BEV masks and the expert's future path (perception/DATASET.md). "
                    "Resumable: rerunning with the same arguments continues where it stopped.")
    p.add_argument("--scenarios", default="random",
                   help="'random' (generated scenarios, default) or a comma-separated list of library scenario "
                        "names / YAML paths, randomized only by seed (actor colours, lighting)")
    p.add_argument("--frames", type=int, required=True, help="total frames over all splits (80/10/10 unless --splits)")
    p.add_argument("--splits", default=None, metavar="train=W,val=W,test=W",
                   help="split weights instead of 80/10/10, e.g. train=8400,val=600,test=600 (a split's runs "
                        "depend only on its own count, so the val/test frames of a 6000-frame dataset stay the same)")
    p.add_argument("--out", required=True, help="dataset directory (created; resumed if it exists)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed: same seed, same bytes (default 0)")
    p.add_argument("--workers", type=int, default=1, help="parallel scenario runs (processes, default 1)")
    p.add_argument("--width", type=int, default=256, help="camera image width in pixels (default 256)")
    p.add_argument("--height", type=int, default=128, help="camera image height in pixels (default 128)")
    p.add_argument("--cameras", default="front,front_left,front_right",
                   help="comma-separated rig cameras, in image-axis order (default front,front_left,front_right)")
    p.add_argument("--sample-hz", type=float, default=2.0, help="frames sampled per simulated second (default 2)")
    p.add_argument("--max-objects", type=int, default=32, help="object rows per frame (default 32)")
    p.add_argument("--shard-size", type=int, default=256, help="frames per shard file (default 256)")
    p.add_argument("--recoveries", type=float, default=0.0, metavar="P",
                   help="share of random scenarios (0..1, default 0) in which the expert starts off-centre and "
                        "below its set speed, or a slowed lead pulls out: frames of the expert recovering")
    p.add_argument("--stop-and-go", type=float, default=0.0, metavar="P",
                   help="share of random scenarios (0..1, default 0) in which the lead brakes to a stop and drives "
                        "off again, or the ego starts stopped behind it: frames of the expert driving off")
    p.add_argument("--approach", type=float, default=0.0, metavar="P",
                   help="share of random scenarios (0..1, default 0) that start closing in on a slower lead "
                        "20-50 m ahead: frames of the expert braking for a lead from the first frame")
    p.add_argument("--lane-offsets", type=float, default=0.0, metavar="P",
                   help="share of random scenarios (0..1, default 0) in which the expert's LKA holds the car "
                        "0.3-0.9 m off its lane centre: frames that show the cameras the car off-centre (their "
                        "futures follow the offset: for perception training, not for a planner)")
    p.add_argument("--dagger", default=None, metavar="ONNX",
                   help="DAgger data: this exported driving model drives every run (as --driver e2e, AEB fallback "
                        "on), and each frame's future is the classical expert's 3 s rollout from the state the "
                        "model reached, not where the model went")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_dataset)
    return p


def _cmd_prune(args: argparse.Namespace) -> int:
    import torch

    from perception.model import load_checkpoint, load_config
    from perception.prune import prune_backbone
    from perception.train import train

    if not 0.0 < args.lr_scale <= 1.0:
        raise SystemExit(f"--lr-scale must be in (0, 1], got {args.lr_scale}")
    pruned, report = prune_backbone(load_checkpoint(args.checkpoint), args.keep)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(pruned, out / "pruned_init.pt")
    cfg = load_config(args.config or Path(__file__).resolve().parent / "configs" / "default.yaml")
    cfg.train.lr *= args.lr_scale
    res = train(cfg, args.data, out, init=pruned, epochs=args.epochs, max_minutes=args.max_minutes)
    print(json.dumps({"prune": report, **{k: v for k, v in res.items() if k != "metrics"}}, default=float))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from perception.train import train

    if args.init and args.resume:
        raise SystemExit("--init starts a new run from a checkpoint's weights; --resume continues OUT/last.pt: "
                         "give one of them")
    if args.init and not Path(args.init).is_file():
        raise SystemExit(f"--init {args.init}: no such checkpoint file")
    missing = [d for d in args.data if not (Path(d) / "meta.json").is_file()]
    if missing:
        raise SystemExit(f"--data {missing[0]}: not a dataset (no meta.json); make one with "
                         "`edgepilot perception dataset`")
    res = train(args.config, args.data, args.out, resume=args.resume, max_minutes=args.max_minutes,
                epochs=args.epochs, device=args.device, init=args.init)
    print(json.dumps({k: v for k, v in res.items() if k != "metrics"}, default=float))
    return 0


def _cmd_train_planner(args: argparse.Namespace) -> int:
    from perception.plan_stage import PlanStageConfig, train_planner

    cfg = PlanStageConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                          w_collision=args.w_collision, ego_hidden=args.ego_hidden, lead=args.lead)
    res = train_planner(args.checkpoint, args.data, args.out, cfg, progress=not args.no_progress)
    print(json.dumps({"best_epoch": res["best_epoch"], "val_start": res["start"],
                      "val_best": (res["history"][res["best_epoch"] - 1]["val"] if res["best_epoch"] else res["start"]),
                      "wall_time_s": res["wall_time_s"], "checkpoint": str(Path(args.out) / "best.pt")}, default=float))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import sys

    from perception.data.generate import ensure_eval_dataset
    from perception.driving import WEIGHTS_DIR
    from perception.runtime import BackendUnavailable
    from perception.train import evaluate_checkpoint, format_table

    checkpoint, model_file = args.checkpoint, args.model
    if args.backend == "torch":
        if model_file:
            raise ValueError(f"--model {model_file}: --backend torch runs a checkpoint (--checkpoint); "
                             f"use --backend onnxruntime or tensorrt for an exported file")
        checkpoint = checkpoint or str(WEIGHTS_DIR / "e2e.pt")
    elif model_file and checkpoint:
        raise ValueError("give --checkpoint (exported to a temporary ONNX file) or --model (an exported file), "
                         "not both")
    elif not checkpoint:
        model_file = model_file or str(WEIGHTS_DIR / "e2e_fp32.onnx")
    if args.fp16 and args.backend != "tensorrt":
        raise ValueError("--fp16 builds an FP16 TensorRT engine: it needs --backend tensorrt")
    scored = Path(model_file or checkpoint)
    if not scored.is_file():
        raise FileNotFoundError(f"no model file at {scored}")
    shipped = scored.resolve().parent == WEIGHTS_DIR.resolve()
    shipped_baseline = WEIGHTS_DIR / "baseline_mlp.pt"
    baseline = {"fit": True, "none": False}.get(args.baseline, args.baseline)
    if baseline == "auto":    # the shipped model against the baseline fitted on its own training data
        baseline = str(shipped_baseline) if shipped and shipped_baseline.is_file() else True
    if args.backend == "tensorrt":
        from perception.runtime import _require_tensorrt

        try:
            _require_tensorrt()
        except BackendUnavailable as exc:
            print(f"edgepilot: error: --backend tensorrt: {exc}", file=sys.stderr)
            return 2
    data = args.data or ensure_eval_dataset(progress=not args.json)
    res = evaluate_checkpoint(checkpoint if model_file is None else None, data, args.split, args.backend,
                              baseline=baseline, model_file=model_file, fp16=args.fp16)
    res["data"] = str(data)
    print(format_table(res))
    if args.json:
        print(json.dumps(res, default=float))
    return 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    from perception.baseline import evaluate_ego_mlp, save_ego_mlp
    from perception.driving import WEIGHTS_DIR
    from perception.model import config_from_dict, load_checkpoint
    from perception.train import LABEL_KEYS, fit_ego_baseline, load_split

    checkpoint = args.checkpoint or str(WEIGHTS_DIR / "e2e.pt")
    cfg = config_from_dict(load_checkpoint(checkpoint)["cfg"])
    if not (Path(args.data) / "train").is_dir():
        raise ValueError(f"{args.data}: no train split to fit the ego-status baseline on")
    mlp = fit_ego_baseline(cfg, args.data)
    meta = json.loads((Path(args.data) / "meta.json").read_text())
    gen = meta.get("generator", {})
    recipe = ", ".join(f"{k} {gen[k]}" for k in ("scenarios", "frames", "splits", "seed", "recoveries",
                                                 "lane_offsets", "dagger") if gen.get(k) or (k == "seed" and k in gen))
    info = {"data": f"the train split ({meta['splits']['train']['frames']} frames) of a dataset generated with "
                    f"{recipe or 'unrecorded settings'}",
            "settings_from": Path(checkpoint).name, "seed": cfg.train.seed, "epochs": cfg.train.baseline_epochs}
    out = save_ego_mlp(mlp, args.out, info)
    res = {"baseline": str(out), **info}
    if (Path(args.data) / "test").is_dir():
        res["test"] = evaluate_ego_mlp(mlp, load_split(args.data, "test", keys=LABEL_KEYS), cfg.model.future_dt)
    print(json.dumps(res, default=float))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import sys

    from perception.export import build_tensorrt_engine, export_onnx, quantize_int8
    from perception.model import load_model

    if args.format == "tensorrt":
        from perception.runtime import BackendUnavailable, _require_tensorrt

        try:                   # say so before exporting anything
            _require_tensorrt("export --format onnx or onnx-int8 for ONNX Runtime (CPU)")
        except BackendUnavailable as exc:
            print(f"edgepilot: error: --format tensorrt: {exc}", file=sys.stderr)
            return 2
    if not args.checkpoint:
        from perception.driving import WEIGHTS_DIR

        args.checkpoint = str(WEIGHTS_DIR / "e2e.pt")
    model = load_model(args.checkpoint)
    if args.data:
        from perception.model import rig_from_meta
        from perception.train import _check_same_rig, load_meta

        _check_same_rig(model.rig, rig_from_meta(load_meta(args.data)), f"checkpoint {args.checkpoint}",
                        f"dataset {args.data}")
    elif args.format == "onnx-int8":    # INT8 calibration uses simulator frames: the evaluation dataset's train split
        from perception.data.generate import ensure_eval_dataset, eval_dataset_cameras

        cams = [(c["name"], int(c["width"]), int(c["height"])) for c in model.rig]
        if cams != eval_dataset_cameras():
            print(f"edgepilot: error: --format onnx-int8 needs --data DIR: INT8 calibration uses simulator frames "
                  f"of the model's cameras {cams} (the default evaluation dataset has {eval_dataset_cameras()})",
                  file=sys.stderr)
            return 2
        args.data = str(ensure_eval_dataset())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = calib = held = None
    if args.data:
        from perception.quantize import LEAD_CALIBRATION_BLOCK, spread_indices
        from perception.train import load_split

        keys = ("images", "ego", "command", "t", "scenario_seed")
        # frames spread over 4x as many (several runs/scenes), not one scene's consecutive frames; a lead-input
        # model gets blocks of consecutive frames, so its tracker sees leads
        arrays = load_split(args.data, args.calibration_split, keys=keys, limit=4 * args.calibration_frames)
        idx = spread_indices(len(arrays["ego"]), args.calibration_frames,
                             LEAD_CALIBRATION_BLOCK if model.cfg.plan_lead else 1)
        calib = {k: arrays[k][idx] for k in keys}
        sample = {k: v[:4] for k, v in calib.items()}
        if args.held_out_split and (Path(args.data) / args.held_out_split).is_dir():
            held = load_split(args.data, args.held_out_split, keys=keys, limit=args.held_out_frames)
    fp32 = export_onnx(model, out / "model.onnx", sample)
    reports = [fp32]
    if args.format == "onnx-int8":
        reports.append(quantize_int8(fp32.path, out / "model.int8.onnx", calib, method=args.calibration,
                                     count=args.calibration_frames, recipe=args.recipe, held_out=held))
    elif args.format == "tensorrt":
        reports.append(build_tensorrt_engine(fp32.path, out / ("model.fp16.engine" if args.fp16 else "model.engine"),
                                             fp16=args.fp16))
    for r in reports:
        print(r.to_json())
    return 0


def add_model_parsers(perception_sub: argparse._SubParsersAction) -> None:
    """`train`, `eval` and `export`; torch is imported only when one of them runs."""
    p = perception_sub.add_parser("train", help="train the end-to-end driving model",
                                  description="Train with a progress bar, validation metrics per epoch, "
                                              "checkpoints (last.pt, best.pt) and resume; seeds fixed.")
    p.add_argument("--config", required=True, help="model/train YAML (perception/configs/default.yaml)")
    p.add_argument("--data", required=True, action="append",
                   help="dataset directory (meta.json + split shards); repeat to train on several together "
                        "(same camera rig and label format)")
    p.add_argument("--out", required=True, help="output directory (last.pt, best.pt, train_log.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-time budget; stops cleanly with a checkpoint")
    p.add_argument("--epochs", type=int, default=None,
                   help="override the epoch count; with --resume on a finished run, extends it (warm restart)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, cuda:N or auto (overrides train.device; checkpoints are saved as CPU tensors)")
    p.add_argument("--init", default=None,
                   help="fine-tune: start from this checkpoint's architecture, rig and weights with a fresh "
                        "optimizer and the config's loss/train settings (e.g. on new data)")
    p.set_defaults(func=_cmd_train)
    pr = perception_sub.add_parser("prune", help="structured pruning of the image backbone, then fine-tuning",
                                   description="Keep the KEEP fraction of each backbone stage's channels (ranked by "
                                               "|BN gamma|), then fine-tune from the pruned weights; prints the "
                                               "parameter counts and the run's result as JSON.")
    pr.add_argument("--checkpoint", required=True, help="trained checkpoint (RUN/best.pt)")
    pr.add_argument("--keep", type=float, required=True, help="fraction of backbone channels kept, e.g. 0.5")
    pr.add_argument("--data", required=True, help="dataset directory for fine-tuning")
    pr.add_argument("--out", required=True, help="output directory (pruned_init.pt, last.pt, best.pt)")
    pr.add_argument("--config", default=None, help="loss/train YAML (default: perception/configs/default.yaml)")
    pr.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs (default 2)")
    pr.add_argument("--lr-scale", type=float, default=0.25, help="fine-tuning lr = config lr x this (default 0.25)")
    pr.add_argument("--max-minutes", type=float, default=None)
    pr.set_defaults(func=_cmd_prune)
    tp = perception_sub.add_parser(
        "train-planner", help="planning stage: train the planner on the frozen perception's features",
        description="UniAD-style second stage: the checkpoint's perception is frozen and its features computed "
                    "once; the planner (with an ego-status branch started from the fitted ego-MLP baseline) is "
                    "trained on them. Writes OUT/best.pt (lowest validation planning loss), OUT/last.pt and "
                    "OUT/plan_log.jsonl.")
    tp.add_argument("--checkpoint", required=True, help="trained checkpoint (RUN/best.pt)")
    tp.add_argument("--data", required=True, action="append",
                    help="dataset directory (train and val splits); repeat to train on several datasets together")
    tp.add_argument("--out", required=True, help="output directory")
    tp.add_argument("--epochs", type=int, default=4,
                    help="planner epochs (default 4); 0 writes the ego-status planner on this perception untrained")
    tp.add_argument("--lr", type=float, default=3e-4)
    tp.add_argument("--batch-size", type=int, default=128)
    tp.add_argument("--w-collision", type=float, default=0.1, help="weight of the collision penalty (0 disables)")
    tp.add_argument("--ego-hidden", type=int, default=128, help="width of the ego-status branch when one is added")
    tp.add_argument("--seed", type=int, default=0)
    tp.add_argument("--lead", action="store_true",
                    help="give the planner the tracked lead (a 4th graph input, model.plan_lead): each run's frames "
                         "are tracked in order as on the car")
    tp.add_argument("--no-progress", action="store_true")
    tp.set_defaults(func=_cmd_train_planner)
    e = perception_sub.add_parser("eval", help="evaluate a checkpoint (mAP, L2, collision rate, lane IoU)",
                                  description="Metrics on a split, with the ego-status MLP baseline in the same "
                                              "table; --json prints one JSON object as the last line.")
    e.add_argument("--checkpoint", help="torch checkpoint to score (default with --backend torch: the shipped "
                                        "perception/weights/e2e.pt); with --backend onnxruntime it is exported to a "
                                        "temporary ONNX file first")
    e.add_argument("--model", help="exported ONNX model to score with --backend onnxruntime|tensorrt (default: the "
                                   "shipped perception/weights/e2e_fp32.onnx; the INT8 one is e2e_int8.onnx)")
    e.add_argument("--data", help="dataset directory (default: the evaluation dataset, the shipped model's test "
                                  "split, generated once into $EDGEPILOT_PERCEPTION_DATA or "
                                  "~/.cache/edgepilot/perception-eval-seed0)")
    e.add_argument("--split", default="test")
    e.add_argument("--backend", default="torch", choices=["torch", "onnxruntime", "tensorrt"],
                   help="torch (checkpoint), onnxruntime (CPU, or CUDA/TensorRT providers when present), tensorrt "
                        "(an engine built from the ONNX model; needs TensorRT and an NVIDIA GPU)")
    e.add_argument("--fp16", action="store_true", help="with --backend tensorrt: an FP16 engine")
    e.add_argument("--baseline", default="auto",
                   help="ego-status MLP baseline: auto (the shipped perception/weights/baseline_mlp.pt for a shipped "
                        "model, else fitted on --data's train split), fit, none, or a baseline file")
    e.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    e.set_defaults(func=_cmd_eval)
    b = perception_sub.add_parser("baseline", help="fit the ego-status MLP baseline on a dataset's train split",
                                  description="The 'Is Ego Status All You Need?' baseline (ego status + command "
                                              "-> waypoints), fitted with a model's training settings; `eval` "
                                              "compares the shipped model with the shipped baseline file.")
    b.add_argument("--data", required=True, help="dataset whose train split it is fitted on")
    b.add_argument("--checkpoint", help="take seed, epochs, motion prior and ego scale from this checkpoint "
                                        "(default: the shipped perception/weights/e2e.pt)")
    b.add_argument("--out", required=True, help="file to write (the shipped one: perception/weights/baseline_mlp.pt)")
    b.set_defaults(func=_cmd_baseline)
    x = perception_sub.add_parser("export", help="export to ONNX, INT8 ONNX or a TensorRT engine",
                                  description="ONNX export checked with onnx.checker and compared with torch; "
                                              "INT8 by static QDQ calibrated on simulator frames, quantizing "
                                              "only the ops that run faster in INT8 on the target CPU "
                                              "(--recipe); TensorRT engines where a GPU with TensorRT is "
                                              "present.")
    x.add_argument("--checkpoint", help="checkpoint to export (default: the shipped perception/weights/e2e.pt)")
    x.add_argument("--format", default="onnx", choices=["onnx", "onnx-int8", "tensorrt"])
    x.add_argument("--fp16", action="store_true", help="TensorRT: build in FP16")
    x.add_argument("--data", default=None, help="dataset for parity checks and INT8 calibration (default for "
                                                "onnx-int8: the evaluation dataset of `perception eval`)")
    from perception.quantize import CALIBRATION_METHODS, DEFAULT_CALIBRATION, DEFAULT_RECIPE, RECIPES

    x.add_argument("--calibration", default=DEFAULT_CALIBRATION, choices=list(CALIBRATION_METHODS),
                   help=f"INT8 activation-range calibration (default {DEFAULT_CALIBRATION}; compare them with "
                        "benchmarks/perception_bench.py --methods)")
    x.add_argument("--recipe", default=DEFAULT_RECIPE, choices=list(RECIPES),
                   help=f"which ops INT8 quantizes (perception/quantize.py; default {DEFAULT_RECIPE})")
    x.add_argument("--calibration-split", default="train")
    x.add_argument("--calibration-frames", type=int, default=64)
    x.add_argument("--held-out-split", default="val", help="frames for the INT8-vs-FP32 check ('' to skip)")
    x.add_argument("--held-out-frames", type=int, default=32)
    x.add_argument("--out", default="perception/models", help="output directory")
    x.set_defaults(func=_cmd_export)


def _cmd_release(args: argparse.Namespace) -> int:
    import sys

    from perception.release import rebuild_onnx, release

    if args.onnx_only:
        res = rebuild_onnx(args.data, args.out, split=args.split, suite=args.suite)
    elif not args.checkpoint:
        print("error: --checkpoint is required (or --onnx-only to re-export the shipped one)",
              file=sys.stderr)
        return 2
    else:
        res = release(args.checkpoint, args.data, args.out, split=args.split, suite=args.suite)
    rows = [(name, r) for name, r in res.items() if isinstance(r, dict) and "L2_3s" in r]
    print(f"{'':<20} {'mAP':>7} {'L2_1s':>7} {'L2_2s':>7} {'L2_3s':>7} {'coll.%':>7}")
    for name, r in rows:
        print(f"{name:<20} {r.get('mAP', float('nan')):7.4f} {r['L2_1s']:7.3f} {r['L2_2s']:7.3f} {r['L2_3s']:7.3f} "
              f"{r['collision_rate']:7.3f}")
    print(f"files in {args.out}: {res['model']['sizes_bytes']}")
    if "driving_suite" in res:
        s = res["driving_suite"]["summary"]
        fams = ", ".join(f"{f} {c['passed']}/{c['runs']}" for f, c in s["families"].items())
        print(f"driving suite (e2e, AEB fallback on): {s['passed']}/{s['runs']} passed, {s['collisions']} "
              f"collisions ({fams})")
    print(json.dumps({k: res[k] for k in ("split", "frames", "model")}, default=float))
    return 0


def add_release_parser(perception_sub: argparse._SubParsersAction) -> None:
    from perception.release import WEIGHTS_DIR

    r = perception_sub.add_parser("release", help="build the shipped model files (checkpoint, ONNX FP32/INT8, metrics)",
                                  description="Strip the checkpoint, export ONNX FP32 and INT8 (default recipe), and "
                                              "evaluate all three plus the ego-status baseline on a split, then "
                                              "drive the FP32 model through the driving suite; writes e2e.pt, "
                                              "e2e_fp32.onnx, e2e_int8.onnx and metrics.json.")
    r.add_argument("--checkpoint", help="training run checkpoint to release (not with --onnx-only)")
    r.add_argument("--onnx-only", action="store_true",
                   help="re-export the ONNX files from the checkpoint already in --out after a graph change, and "
                        "replace their entries in metrics.json (the checkpoint, torch and baseline entries stay)")
    r.add_argument("--data", required=True, help="dataset: train split calibrates INT8, --split is evaluated")
    r.add_argument("--split", default="test")
    r.add_argument("--out", default=str(WEIGHTS_DIR), help="output directory (default: the shipped weights)")
    r.add_argument("--no-suite", dest="suite", action="store_false",
                   help="skip the closed-loop driving suite (44 runs, about 6 min on 2 cores)")
    r.set_defaults(func=_cmd_release)


#: Functions that add subcommands to the `perception` parser.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], object]] = [add_dataset_parser, add_model_parsers,
                                                                      add_release_parser]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Register `perception` on the main CLI; returns its sub-parsers object for further subcommands."""
    parser = subparsers.add_parser("perception", help="end-to-end driving model: datasets, training, evaluation",
                                   description="End-to-end driving model tools.")
    perception_sub = parser.add_subparsers(dest="perception_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    for register in SUBCOMMANDS:
        register(perception_sub)
    return perception_sub
