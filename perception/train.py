"""Training and evaluation of the end-to-end driving model (CPU-friendly, resumable, time-budgeted).

`train(cfg, data_dir, out_dir, resume, max_minutes)` writes `last.pt` (every epoch and when the time budget runs out),
`best.pt` (lowest validation loss) and `train_log.jsonl`; perception/cli.py registers the `train` and `eval`
sub-commands on the perception CLI.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from perception.model import (OUTPUT_NAMES, Config, E2EDrivingModel, apply_meta, config_from_dict, load_checkpoint,
                              load_config, load_model, rig_from_meta)
from perception.model.losses import total_loss
from perception.runtime import resolve_device

ARRAY_KEYS = ("images", "ego", "command", "objects", "num_objects", "bev_masks", "future", "future_valid",
              "visibility", "objects_future", "objects_future_valid", "t", "scenario_seed")
LABEL_KEYS = ("ego", "command", "objects", "num_objects", "future", "future_valid", "visibility", "objects_future",
              "objects_future_valid")
#: Keys a dataset may lack (format v1): training and metrics fall back (all objects visible, constant velocity).
OPTIONAL_KEYS = ("visibility", "objects_future", "objects_future_valid", "t", "scenario_seed")


# ---------------------------------------------------------------------------------------------------------- data
def load_meta(data_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(data_dir) / "meta.json").read_text())


def load_split(data_dir: str | Path, split: str, keys=ARRAY_KEYS, limit: int | None = None) -> dict[str, np.ndarray]:
    """All shards of a split concatenated (npz is read lazily per key, so label-only loads skip the images)."""
    shards = sorted((Path(data_dir) / split).glob("shard_*.npz"))
    if not shards:
        raise FileNotFoundError(f"no shards in {Path(data_dir) / split}")
    with np.load(shards[0]) as z:
        keys = tuple(k for k in keys if k in z.files or k not in OPTIONAL_KEYS)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    n = 0
    for sh in shards:
        with np.load(sh) as z:
            for k in keys:
                if k not in z.files:
                    raise KeyError(f"{sh}: missing key {k!r}")
                parts[k].append(z[k])
            n += len(z["ego"])
        if limit is not None and n >= limit:
            break
    out = {k: np.concatenate(v) for k, v in parts.items()}
    return {k: v[:limit] for k, v in out.items()} if limit is not None else out


def concat_splits(parts: list[dict[str, np.ndarray]], where: list[str]) -> dict[str, np.ndarray]:
    """One split's arrays from several datasets, frames appended in the order given (ValueError naming the
    dataset and key whose shape does not fit the first, e.g. another --max-objects)."""
    if len(parts) == 1:
        return parts[0]
    keys = [k for k in parts[0] if all(k in p for p in parts)]
    for k in keys:
        for p, w in zip(parts[1:], where[1:]):
            if p[k].shape[1:] != parts[0][k].shape[1:]:
                raise ValueError(f"{w}: {k!r} has shape {list(p[k].shape[1:])} per frame, {where[0]} has "
                                 f"{list(parts[0][k].shape[1:])}: the datasets cannot be trained on together")
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def to_batch(arrays: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(arrays[k][idx])) for k in ARRAY_KEYS if k in arrays}


def colour_jitter(images: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Per frame and camera brightness/contrast jitter on uint8 images -> float images in [0, 255].

    The random gains come from the CPU generator whatever the images' device, so a GPU run sees the same jitter."""
    x = images.float()
    b, c = x.shape[:2]
    gain = (1 + (torch.rand(b, c, 1, 1, 1, generator=gen) * 2 - 1) * strength).to(x.device)
    shift = ((torch.rand(b, c, 1, 1, 1, generator=gen) * 2 - 1) * strength * 40).to(x.device)
    mean = x.mean(dim=(2, 3, 4), keepdim=True)
    return ((x - mean) * gain + mean + shift).clamp(0, 255)


def lr_at(step: int, total: int, base: float, warmup_frac: float) -> float:
    """Linear warm-up then cosine decay to 1 % of base."""
    warm = max(1, int(total * warmup_frac))
    if step < warm:
        return base * (step + 1) / warm
    p = min(1.0, (step - warm) / max(1, total - warm))
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, ego, command) on the model's device; the labels stay on the CPU (losses move their targets)."""
    return (batch["images"].to(device, non_blocking=True), batch["ego"].to(device, non_blocking=True),
            batch["command"].to(device, non_blocking=True))


@torch.no_grad()
def validation_loss(model: E2EDrivingModel, arrays: dict[str, np.ndarray], cfg: Config, batch_size: int) -> float:
    model.eval()
    device = next(model.parameters()).device
    tot, n = 0.0, len(arrays["ego"])
    for s in range(0, n, batch_size):
        idx = np.arange(s, min(n, s + batch_size))
        batch = to_batch(arrays, idx)
        out, aux = model.forward_with_aux(*model_inputs(batch, device))
        tot += total_loss(out, batch, model.cfg, cfg.loss, aux)[1]["total"] * len(idx)
    return tot / max(1, n)


def _check_same_dataset_format(a: dict[str, Any], b: dict[str, Any], name_a: str, name_b: str) -> None:
    """Datasets trained on together must share the rig and the label conventions (classes, BEV grid, route
    commands, future horizon); ValueError naming the field that differs."""
    _check_same_rig(rig_from_meta(a), rig_from_meta(b), f"dataset {name_a}", f"dataset {name_b}")
    for key in ("classes", "bev", "bev_channels", "commands", "future"):
        if a.get(key) != b.get(key):
            raise ValueError(f"dataset {name_b}: meta.json {key!r} is {b.get(key)!r}, dataset {name_a} has "
                             f"{a.get(key)!r}: the datasets cannot be trained on together")


def _check_same_rig(a: list[dict[str, Any]], b: list[dict[str, Any]], name_a: str, name_b: str) -> None:
    """A model fine-tuned on a dataset must see the cameras it was built for (names, sizes, K, extrinsics): its
    geometry buffers come from the rig, so other cameras would train it on the wrong rays without an error."""
    def key(c):
        return (c["name"], int(c["width"]), int(c["height"]))

    if [key(c) for c in a] != [key(c) for c in b]:
        raise ValueError(f"{name_a} has cameras {[key(c) for c in a]} (name, width, height), {name_b} "
                         f"{[key(c) for c in b]}")
    for ca, cb in zip(a, b):
        for field_name in ("K", "T_cam_to_ego"):
            if not np.allclose(np.asarray(ca[field_name], float), np.asarray(cb[field_name], float), atol=1e-6):
                raise ValueError(f"{name_a} and {name_b} differ in camera {ca['name']!r} {field_name}")


def _check_model_fits_data(mcfg: Any, data_meta: dict[str, Any], name_model: str, name_data: str) -> None:
    """A model scored on a dataset must share its label conventions (BEV grid, classes, horizon, commands), or the
    metrics compare arrays of other shapes; ValueError naming the field."""
    import copy

    want = apply_meta(Config(model=copy.deepcopy(mcfg)), data_meta).model
    for name in ("num_cameras", "image_hw", "bev_range", "seg_hw", "num_classes", "future_steps", "future_dt",
                 "num_commands"):
        have, need = np.asarray(getattr(mcfg, name), float), np.asarray(getattr(want, name), float)
        if have.shape != need.shape or not np.allclose(have, need):
            raise ValueError(f"{name_data}: its meta.json gives {name} = {getattr(want, name)}, {name_model} was "
                             f"trained for {getattr(mcfg, name)}")


# ---------------------------------------------------------------------------------------------------------- train
def train(config: str | Path | Config, data_dir: str | Path | list[str | Path], out_dir: str | Path, resume: bool = False,
          max_minutes: float | None = None, progress: bool = True, epochs: int | None = None,
          init: str | Path | dict[str, Any] | None = None, device: str | None = None) -> dict[str, Any]:
    """Train (or resume) and return {"epoch", "step", "metrics", "best", "wall_time_s", "stopped_early"}.

    `epochs` overrides the configured (or, on resume, the checkpoint's) epoch count. Resuming a finished run with
    more epochs extends it: the learning rate continues on the cosine schedule of the new length, so it jumps up
    from the old schedule's end (a warm restart), which is what lets a converged-looking run keep improving.
    `init`: a checkpoint (path or dict) whose architecture, rig and weights a new run starts from, with a fresh
    optimizer and the config's loss/train settings (fine-tuning, e.g. after `perception.prune`).
    `device` overrides `train.device` (cpu, cuda, auto); checkpoints always hold CPU tensors, so a GPU-trained run
    loads and exports on a CPU-only machine.
    `data_dir`: one dataset or a list of them, trained on together (their train splits appended, their val splits
    too; the first one's meta goes into the checkpoint), e.g. the base dataset plus a `--lane-offsets` one so that
    a fine-tune learns the new scenes without forgetting the old ones. They must come from the same camera rig.
    """
    from perception.metrics import evaluate

    t_start = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config if isinstance(config, Config) else load_config(config)
    dirs = [str(d) for d in (data_dir if isinstance(data_dir, (list, tuple)) else [data_dir])]
    if not dirs:
        raise ValueError("train: no dataset given")
    meta = load_meta(dirs[0])
    for d in dirs[1:]:
        _check_same_dataset_format(meta, load_meta(d), dirs[0], d)
    ckpt = None
    if resume and (out / "last.pt").exists():
        ckpt = load_checkpoint(out / "last.pt")
        cfg = config_from_dict(ckpt["cfg"])
        rig = ckpt["rig"]
    else:
        cfg = apply_meta(cfg, meta)
        rig = rig_from_meta(meta)
    init_ckpt = None
    if init is not None and ckpt is None:
        init_ckpt = init if isinstance(init, dict) else load_checkpoint(init)
        cfg.model = config_from_dict(init_ckpt["cfg"]).model
        rig = init_ckpt["rig"]
        source = "init checkpoint" + ("" if isinstance(init, dict) else f" {init}")
        _check_same_rig(rig, rig_from_meta(meta), source, f"dataset {dirs[0]}")
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        cfg.train.epochs = int(epochs)
    if device is not None:
        cfg.train.device = str(device)
    tc = cfg.train
    dev = resolve_device(tc.device)
    torch.set_num_threads(tc.num_threads)
    torch.manual_seed(tc.seed)
    model = E2EDrivingModel(cfg, rig)
    if init_ckpt is not None:
        model.load_state_dict(init_ckpt["model"])
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    start_epoch, step, best, prior_wall = 0, 0, float("inf"), 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])   # moves the moments onto the parameters' device
        start_epoch, step, best, prior_wall = ckpt["epoch"], ckpt["step"], ckpt.get("best_val_loss", best), ckpt["wall_time_s"]
    train_arr = concat_splits([load_split(d, "train") for d in dirs], dirs)
    per_val = None if tc.max_val_frames is None else -(-tc.max_val_frames // len(dirs))   # each dataset validates
    val_arr = concat_splits([load_split(d, "val", limit=per_val) for d in dirs], dirs)
    n = len(train_arr["ego"])
    steps_per = max(1, n // tc.batch_size)
    total_steps = steps_per * tc.epochs
    log = open(out / "train_log.jsonl", "a", encoding="utf-8")
    log.write(json.dumps({"event": "start", "resumed_from_epoch": start_epoch if ckpt else None, "step": step,
                          "train_frames": n, "val_frames": len(val_arr["ego"]), "device": str(dev),
                          "data": dirs}) + "\n")
    metrics: dict[str, Any] = {}
    stopped = False
    epoch = start_epoch

    def save(name: str, completed_epochs: int, metrics: dict[str, Any], val_loss: float | None) -> None:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # loadable without the GPU
        torch.save({"cfg": cfg.to_dict(), "rig": rig, "meta": meta, "model": state,
                    "optimizer": opt.state_dict(), "epoch": completed_epochs, "step": step, "metrics": metrics,
                    "val_loss": val_loss, "best_val_loss": best, "output_names": list(OUTPUT_NAMES),
                    "wall_time_s": prior_wall + time.monotonic() - t_start, "torch_version": torch.__version__},
                   out / name)

    for epoch in range(start_epoch, tc.epochs):
        rng = np.random.default_rng(tc.seed * 100_003 + epoch)  # per-epoch stream: resume-deterministic
        gen = torch.Generator().manual_seed(tc.seed * 100_003 + epoch)
        perm = rng.permutation(n)
        model.train()
        bar = tqdm(range(steps_per), desc=f"epoch {epoch + 1}/{tc.epochs}", disable=not progress, leave=False)
        run: dict[str, float] = {}
        for s in bar:
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total_steps, tc.lr, tc.warmup_frac)
            batch = to_batch(train_arr, np.sort(perm[s * tc.batch_size:(s + 1) * tc.batch_size]))
            imgs, ego, command = model_inputs(batch, dev)
            imgs = colour_jitter(imgs, tc.color_jitter, gen) if tc.color_jitter > 0 else imgs
            o, aux = model.forward_with_aux(imgs, ego, command)
            loss, parts = total_loss(o, batch, model.cfg, cfg.loss, aux)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            step += 1
            run = {k: 0.9 * run.get(k, v) + 0.1 * v for k, v in parts.items()}
            bar.set_postfix(loss=f"{run['total']:.3f}")
            if max_minutes is not None and time.monotonic() - t_start > max_minutes * 60:
                stopped = True
                break
        if stopped:
            break
        val_loss = validation_loss(model, val_arr, cfg, tc.batch_size)
        metrics = evaluate(model, val_arr, batch_size=tc.batch_size)
        line = {"epoch": epoch + 1, "step": step, "train_loss": run.get("total"), "val_loss": val_loss,
                **{k: metrics[k] for k in ("mAP", "L2_1s", "L2_2s", "L2_3s", "collision_rate", "lane_iou",
                                           "drivable_iou")}, "wall_s": round(prior_wall + time.monotonic() - t_start, 1)}
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in line.items()), flush=True)
        log.write(json.dumps(line) + "\n")
        log.flush()
        if val_loss < best:
            best = val_loss
            save("best.pt", epoch + 1, metrics, val_loss)
        save("last.pt", epoch + 1, metrics, val_loss)
    completed = epoch if stopped else (tc.epochs if tc.epochs > start_epoch else start_epoch)
    if stopped:  # time budget: keep the weights; the interrupted epoch is redone on resume
        save("last.pt", completed, metrics, None)
    wall = prior_wall + time.monotonic() - t_start
    log.write(json.dumps({"event": "stop", "epoch": completed, "step": step, "stopped_early": stopped,
                          "wall_time_s": wall}) + "\n")
    log.close()
    return {"epoch": completed, "step": step, "metrics": metrics, "best_val_loss": best, "wall_time_s": wall,
            "stopped_early": stopped}


# ----------------------------------------------------------------------------------------------------------- eval
def onnx_predict_fn(model: E2EDrivingModel, path: str | Path, threads: int = 2):
    """Export to ONNX and return an ONNX Runtime predict function (same outputs as the torch model)."""
    from perception.export import export_onnx
    from perception.runtime import OnnxRuntimeBackend

    export_onnx(model, path)
    return OnnxRuntimeBackend(Path(path), threads=threads).run


def evaluate_checkpoint(checkpoint: str | Path | None, data_dir: str | Path, split: str = "test",
                        backend: str = "torch", baseline: bool | str | Path = True,
                        model_file: str | Path | None = None, fp16: bool = False) -> dict[str, Any]:
    """Metrics of a model on a split, plus the ego-status MLP baseline.

    What is scored: `checkpoint` in torch (`backend="torch"`), or exported to a temporary ONNX file and run in ONNX
    Runtime (`backend="onnxruntime"`); or, with `model_file` (an exported .onnx such as the shipped FP32/INT8
    files), that file in ONNX Runtime or, for `backend="tensorrt"`, an engine built from it (`fp16`: FP16 engine;
    needs TensorRT and a GPU, else BackendUnavailable). `baseline`: True fits the MLP on the dataset's train split
    (skipped, with the reason, when there is none), a path loads a saved one (`perception.baseline.save_ego_mlp`),
    False leaves it out."""
    import tempfile

    from perception.baseline import evaluate_ego_mlp, load_ego_mlp
    from perception.metrics import evaluate

    backend = {"onnx": "onnxruntime"}.get(backend, backend)
    if backend not in ("torch", "onnxruntime", "tensorrt"):
        raise ValueError(f"unknown backend {backend!r} (torch, onnxruntime, tensorrt)")
    data_meta = load_meta(data_dir)
    if model_file is None:
        if checkpoint is None:
            raise ValueError("evaluate_checkpoint: give a checkpoint or a model file")
        if backend == "tensorrt":
            raise ValueError("--backend tensorrt scores an exported model: pass the ONNX file (--model) it is built from")
        ckpt = load_checkpoint(checkpoint)
        model = load_model(ckpt)
        cfg = config_from_dict(ckpt["cfg"])
        _check_same_rig(model.rig, rig_from_meta(data_meta), f"checkpoint {checkpoint}", f"dataset {data_dir}")
        _check_model_fits_data(model.cfg, data_meta, f"checkpoint {checkpoint}", f"dataset {data_dir}")
        torch.set_num_threads(cfg.train.num_threads)
        arrays = load_split(data_dir, split)
        if backend == "torch":
            res = evaluate(model, arrays)
        else:
            with tempfile.TemporaryDirectory() as td:
                res = evaluate(onnx_predict_fn(model, Path(td) / "model.onnx"), arrays, mcfg=model.cfg)
        res.update({"split": split, "backend": backend, "checkpoint": str(checkpoint),
                    "checkpoint_epoch": ckpt["epoch"]})
    else:
        if backend == "torch":
            raise ValueError(f"--backend torch runs a checkpoint, not the exported {model_file}: use --checkpoint, "
                             f"or --backend onnxruntime|tensorrt for the file")
        res = _evaluate_file(Path(model_file), data_dir, data_meta, split, backend, fp16)
        cfg = Config()
        cfg.model = res.pop("_mcfg")
    if baseline is True and (Path(data_dir) / "train").exists():
        mlp = fit_ego_baseline(cfg, data_dir)
        source = f"fitted on {data_dir}/train"
    elif baseline is True:
        res["baseline_skipped"] = f"{data_dir} has no train split to fit the ego-status MLP baseline on"
        return res
    elif baseline is False or baseline is None:
        return res
    else:
        mlp, info = load_ego_mlp(baseline)
        source = f"{baseline}" + (f" (fitted on {info['data']})" if info.get("data") else "")
    b = evaluate_ego_mlp(mlp, load_split(data_dir, split, keys=LABEL_KEYS), float(mlp.times[0]))
    res.update({f"baseline_{k}": v for k, v in b.items()})
    res["baseline_source"] = source
    return res


def fit_ego_baseline(cfg: Config, data_dir: str | Path):
    """The ego-status MLP baseline fitted on `data_dir`'s train split with the model's settings (seed, epochs,
    motion prior, ego scale, horizon): what `eval` compares a model with and `perception baseline` ships."""
    from perception.baseline import train_ego_mlp

    return train_ego_mlp(load_split(data_dir, "train", keys=LABEL_KEYS), seed=cfg.train.seed,
                         epochs=cfg.train.baseline_epochs, prior=cfg.model.plan_prior,
                         ego_scale=tuple(cfg.model.ego_scale), dt=cfg.model.future_dt)


def _evaluate_file(path: Path, data_dir: str | Path, data_meta: dict[str, Any], split: str, backend: str,
                   fp16: bool) -> dict[str, Any]:
    """An exported model file scored as the car runs it (ONNX Runtime, or a TensorRT engine built from it)."""
    import tempfile

    from perception.metrics import evaluate
    from perception.runtime import OnnxRuntimeBackend, _require_tensorrt, model_metadata, open_backend

    if path.suffix != ".onnx":
        raise ValueError(f"{path}: expected an exported .onnx model (TensorRT engines are built from one: pass the "
                         f"ONNX file with --backend tensorrt)")
    meta = model_metadata(path)
    mcfg = config_from_dict({"model": meta["model_config"]}).model
    _check_same_rig(list(meta["rig"]), rig_from_meta(data_meta), f"model {path}", f"dataset {data_dir}")
    _check_model_fits_data(mcfg, data_meta, f"model {path}", f"dataset {data_dir}")
    if list(meta["classes"]) != list(data_meta.get("classes", meta["classes"])):
        raise ValueError(f"model {path} has classes {meta['classes']}, dataset {data_dir} {data_meta.get('classes')}")
    arrays = load_split(data_dir, split)
    if backend == "onnxruntime":
        res = evaluate(OnnxRuntimeBackend(path).run, arrays, mcfg=mcfg)
    else:
        import onnx

        from perception.export import build_tensorrt_engine

        _require_tensorrt()                     # the clear message before any build
        graph = onnx.load(str(path), load_external_data=False).graph
        int8 = any(n.op_type == "QuantizeLinear" for n in graph.node)       # explicit Q/DQ: an INT8 engine
        with tempfile.TemporaryDirectory() as td:
            engine = build_tensorrt_engine(path, Path(td) / "model.engine", fp16=fp16, int8=int8).path
            res = evaluate(open_backend("tensorrt", engine).run, arrays, mcfg=mcfg)
    res.update({"split": split, "backend": backend + ("-fp16" if backend == "tensorrt" and fp16 else ""),
                "model": str(path), "_mcfg": mcfg})
    return res


def format_table(res: dict[str, Any]) -> str:
    rows = [("mAP (0.5/1/2/4 m)", res["mAP"])] + [(f"  AP {k}", v) for k, v in res.get("AP", {}).items()]
    rows += [(k, res[k]) for k in ("L2_1s", "L2_2s", "L2_3s", "collision_rate", "lane_iou", "drivable_iou")]
    rows += [(k, v) for k, v in res.items() if k.startswith("baseline_") and isinstance(v, (int, float))]
    scored = res.get("model") or res.get("checkpoint")
    lines = [f"{scored} ({res.get('backend')}, {res.get('split')} split, {res.get('frames')} frames)"] if scored else []
    lines += [f"{k:<24} {v:8.4f}" for k, v in rows]
    if res.get("mAP_by_range"):
        lines.append("mAP by range             " + ", ".join(f"{k} {v['mAP']:.3f} ({v['objects']} objects)"
                                                          for k, v in res["mAP_by_range"].items()))
    if "baseline_source" in res:
        lines.append(f"(baseline: {res['baseline_source']})")
    if "baseline_skipped" in res:
        lines.append(f"(baseline not run: {res['baseline_skipped']})")
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------------- release
def release_checkpoint(checkpoint: str | Path, out_path: str | Path) -> dict[str, Any]:
    """A shippable copy of a training checkpoint: weights, config, rig, dataset meta, metrics and training time,
    without the optimizer state (a third of the size). `load_model` reads it like any checkpoint."""
    ckpt = load_checkpoint(checkpoint)
    keep = ("cfg", "rig", "meta", "model", "epoch", "step", "metrics", "val_loss", "best_val_loss", "wall_time_s",
            "output_names", "torch_version", "plan_stage")
    slim = {k: ckpt[k] for k in keep if k in ckpt}
    slim["source"] = str(checkpoint)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim, out_path)
    return slim
