"""Planning stage: train the planner on frozen perception features (UniAD's second stage).

Why a stage of its own: in the joint run the planner gets the same ~2,000 optimizer steps as detection, and that is
not enough for it to learn ego kinematics: the v2.3 planner's lateral error at 3 s was 0.22 m on the validation split
where a 2-layer MLP on ego status alone reaches 0.16 m, and its L2 at 3 s was worse than that MLP's. Here the
perception part is frozen, its features (BEV tokens, decoded object queries) are computed once, and the planner is
trained on them for as many steps as it needs in seconds per epoch. The planner gets an ego-status branch
(`model.plan_ego_mlp`) started from the fitted "Is Ego Status All You Need?" baseline, and its attention branch
(zero at the start) learns what the cameras add. The perception outputs (objects, masks) are bit-identical to the
input checkpoint's.

`edgepilot perception train-planner --checkpoint RUN/best.pt --data DATA --out DIR` writes DIR/best.pt (best
validation planning loss), DIR/last.pt and DIR/plan_log.jsonl.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from perception.model import E2EDrivingModel, config_from_dict, load_checkpoint
from perception.model.losses import collision_penalty, planning_loss

#: Module names (first component of the parameter name) that the planning stage trains; everything else is frozen.
PLAN_MODULES = ("ego_enc", "cmd_embed", "plan_query_pos", "plan_layers", "plan_head", "plan_ego", "lead_enc")
FEATURE_KEYS = ("bev", "det_feat", "det_pos")
LABEL_KEYS = ("ego", "command", "future", "future_valid", "objects", "num_objects", "objects_future",
              "objects_future_valid")


@dataclass
class PlanStageConfig:
    epochs: int = 4              # 0: write the baseline-started planner untrained (the ego-status planner on this
                                 # perception, to drive it in closed loop next to the trained one)
    lr: float = 3e-4
    weight_decay: float = 1e-4
    batch_size: int = 128
    w_collision: float = 0.1     # as the joint training's loss.w_collision
    ego_hidden: int = 128        # width of the ego-status branch when the checkpoint has none
    baseline_epochs: int = 300   # fit of the ego-status MLP that starts the branch
    seed: int = 0
    num_threads: int = 2
    feature_batch: int = 32
    lead: bool = False           # give the planner the tracked lead (model.plan_lead): the frames of each run are
                                 # tracked in order, as on the car (perception.driving.tracked_lead_inputs)


def is_plan_param(name: str) -> bool:
    return name.split(".")[0] in PLAN_MODULES


def planner_model(ckpt: dict[str, Any], ego_hidden: int, lead: bool = False) -> tuple[E2EDrivingModel, bool]:
    """The checkpoint's model with an ego-status branch (added, untrained, when it has none, or when the lead input
    is added: the branch then reads it too). Returns (model, added)."""
    cfg = config_from_dict(ckpt["cfg"])
    add_lead = lead and not cfg.model.plan_lead
    added = cfg.model.plan_ego_mlp <= 0 or add_lead
    state = dict(ckpt["model"])
    if added:
        if ego_hidden <= 0 and cfg.model.plan_ego_mlp <= 0:
            raise ValueError(f"ego_hidden must be > 0 to add the ego-status branch, got {ego_hidden}")
        cfg.model.plan_ego_mlp = cfg.model.plan_ego_mlp if cfg.model.plan_ego_mlp > 0 else int(ego_hidden)
        state = {k: v for k, v in state.items() if not k.startswith("plan_ego.")}
    cfg.model.plan_lead = cfg.model.plan_lead or lead
    model = E2EDrivingModel(cfg, ckpt["rig"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not (added and k.startswith("plan_ego.")) and not (add_lead and
                                                                                    k.startswith("lead_enc."))]
    if bad or unexpected:
        raise ValueError(f"checkpoint does not fit the model: missing {bad[:5]}, unexpected {list(unexpected)[:5]}")
    model.classes = list((ckpt.get("meta") or {}).get("classes") or [])
    return model.eval(), added


@torch.no_grad()
def extract_features(model: E2EDrivingModel, data_dir: str | Path, split: str, batch: int = 32,
                     progress: bool = True) -> dict[str, np.ndarray]:
    """Labels of a split plus the frozen perception's planner inputs (float16: 139 KB a frame instead of 279)."""
    from perception.train import load_split

    out: dict[str, list[np.ndarray]] = {k: [] for k in FEATURE_KEYS + LABEL_KEYS + ("det_logits", "det_boxes")}
    shards = sorted((Path(data_dir) / split).glob("shard_*.npz"))
    if not shards:
        raise FileNotFoundError(f"no shards in {Path(data_dir) / split}")
    lead = model.cfg.plan_lead
    labels = load_split(data_dir, split, keys=LABEL_KEYS + (("t", "scenario_seed") if lead else ()))
    n_total = len(labels["ego"])
    bar = tqdm(total=n_total, desc=f"features {split}", unit="frame", disable=not progress)
    model.eval()
    for sh in shards:
        with np.load(sh) as z:
            images, ego, cmd = z["images"], z["ego"], z["command"]
        for s in range(0, len(ego), batch):
            res, aux = model.forward_with_aux(torch.from_numpy(images[s:s + batch]),
                                              torch.from_numpy(ego[s:s + batch]),
                                              torch.from_numpy(cmd[s:s + batch].astype(np.int64)))
            for k in FEATURE_KEYS:
                out[k].append(aux[k].numpy().astype(np.float16))
            if lead:
                out["det_logits"].append(res.det_logits.numpy())
                out["det_boxes"].append(res.det_boxes.numpy())
            bar.update(len(ego[s:s + batch]))
    bar.close()
    feats = {k: np.concatenate(out[k]) for k in FEATURE_KEYS}
    if len(feats["bev"]) != n_total:
        raise ValueError(f"{split}: {len(feats['bev'])} feature rows for {n_total} label rows")
    feats.update(labels)
    if lead:
        from perception.driving import tracked_lead_inputs

        classes = list((getattr(model, "classes", None) or []))
        if not classes:
            raise ValueError("lead input: the checkpoint's dataset meta has no class names")
        m = model.cfg
        feats["lead"] = tracked_lead_inputs(np.concatenate(out["det_logits"]), np.concatenate(out["det_boxes"]),
                                            labels["ego"], labels["t"], labels["scenario_seed"], classes,
                                            m.bev_range, m.vel_scale)
    return feats


def _tensors(a: dict[str, np.ndarray], idx: np.ndarray | slice) -> dict[str, torch.Tensor]:
    t = {k: torch.from_numpy(np.ascontiguousarray(a[k][idx])) for k in FEATURE_KEYS + LABEL_KEYS + ("lead",)
         if k in a}
    for k in FEATURE_KEYS:
        t[k] = t[k].float()
    t["command"] = t["command"].long()
    return t


def _plan(model: E2EDrivingModel, t: dict[str, torch.Tensor]) -> torch.Tensor:
    return model.plan(t["ego"], t["command"], t["bev"], t["det_feat"], t["det_pos"], t.get("lead"))


def _loss(model: E2EDrivingModel, t: dict[str, torch.Tensor], w_col: float) -> torch.Tensor:
    """Planning L1 plus the joint training's collision penalty (same weight meaning as loss.w_collision)."""
    plan = _plan(model, t)
    total = planning_loss(plan, t["future"], t["future_valid"])
    if w_col > 0:
        total = total + w_col * collision_penalty(plan, t["objects"], t["num_objects"], t["future_valid"],
                                                  model.cfg.future_dt, t.get("objects_future"),
                                                  t.get("objects_future_valid"))
    return total


@torch.no_grad()
def plan_metrics(model: E2EDrivingModel, a: dict[str, np.ndarray], batch: int = 256) -> dict[str, float]:
    """Planning loss (L1) and UniAD L2 at 1/2/3 s of the planner on cached features."""
    from perception.metrics import l2_at

    model.eval()
    plans, l1, n = [], 0.0, len(a["ego"])
    for s in range(0, n, batch):
        t = _tensors(a, slice(s, s + batch))
        p = _plan(model, t)
        l1 += float(planning_loss(p, t["future"], t["future_valid"])) * len(p)
        plans.append(p.numpy())
    out = {"plan_l1": l1 / max(1, n)}
    out.update(l2_at(np.concatenate(plans), a["future"], a["future_valid"], rate_hz=1.0 / model.cfg.future_dt))
    return out


def train_planner(checkpoint: str | Path | dict[str, Any], data_dir: str | Path | list[str | Path],
                  out_dir: str | Path, cfg: PlanStageConfig | None = None, progress: bool = True,
                  features: dict[str, dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """Run the planning stage; returns {"best_epoch", "best", "history", "wall_time_s", "start"}.

    `data_dir`: one dataset or a list of them (their train splits train, their val splits validate; the tracked
    lead is built within each dataset's runs). `features`: precomputed {"train": ..., "val": ...} from
    `extract_features` (tests, repeated runs)."""
    from perception.baseline import train_ego_mlp

    c = cfg or PlanStageConfig()
    if c.epochs < 0 or c.batch_size < 1 or c.lr <= 0:
        raise ValueError(f"plan stage: epochs must be >= 0, batch_size and lr positive (got {c.epochs}, "
                         f"{c.batch_size}, {c.lr})")
    t0 = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    source = str(ckpt.get("source", "")) if isinstance(checkpoint, dict) else str(checkpoint)
    torch.set_num_threads(c.num_threads)
    torch.manual_seed(c.seed)
    model, added = planner_model(ckpt, c.ego_hidden, c.lead)
    m = model.cfg
    dirs = [str(d) for d in (data_dir if isinstance(data_dir, (list, tuple)) else [data_dir])]
    if features is None:
        from perception.train import concat_splits, load_split

        def split(name: str, labels_only: bool) -> dict[str, np.ndarray]:
            return concat_splits([load_split(d, name, keys=LABEL_KEYS) if labels_only else
                                  extract_features(model, d, name, c.feature_batch, progress) for d in dirs], dirs)

        features = {"val": split("val", False),
                    "train": split("train", c.epochs == 0 and not c.lead)}   # 0 epochs: labels suffice
    tr, va = features["train"], features["val"]
    if added:   # start the ego-status branch from the fitted baseline, the attention branch from zero
        base_in = {k: tr[k] for k in ("ego", "command", "future", "future_valid")}
        scale = tuple(m.ego_scale)
        if m.plan_lead:   # the branch reads [ego, lead]: fit the baseline on both (the prior uses ego's columns)
            from perception.features import LEAD_SCALE

            base_in["ego"] = np.concatenate([tr["ego"], tr["lead"]], axis=1)
            scale += tuple(LEAD_SCALE)
        base = train_ego_mlp(base_in, seed=c.seed, epochs=c.baseline_epochs, hidden=m.plan_ego_mlp,
                             num_commands=m.num_commands, ego_scale=scale, prior=m.plan_prior, dt=m.future_dt)
        model.plan_ego.load_from_sequential(base.net)
        torch.nn.init.zeros_(model.plan_head[-1].weight)
        torch.nn.init.zeros_(model.plan_head[-1].bias)
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(is_plan_param(name))
        if p.requires_grad:
            params.append(p)
    opt = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
    n = len(tr["ego"])
    steps_per = max(1, n // c.batch_size)
    total = max(1, steps_per * c.epochs)
    rng = np.random.default_rng(c.seed)
    start = plan_metrics(model, va)
    history: list[dict[str, Any]] = []
    best, best_state, best_epoch, step = start["plan_l1"], copy.deepcopy(model.state_dict()), 0, 0
    log = open(out / "plan_log.jsonl", "a", encoding="utf-8")
    log.write(json.dumps({"event": "start", "source": source, "data": dirs, "added_ego_branch": added,
                          "config": asdict(c), "train_frames": n, "val_frames": len(va["ego"]), "val": start}) + "\n")
    for epoch in range(1, c.epochs + 1):
        model.train()
        perm = rng.permutation(n)
        run = 0.0
        for s in tqdm(range(steps_per), desc=f"plan epoch {epoch}/{c.epochs}", disable=not progress, leave=False):
            for g in opt.param_groups:
                g["lr"] = c.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = _loss(model, _tensors(tr, perm[s * c.batch_size:(s + 1) * c.batch_size]), c.w_collision)
            opt.zero_grad()
            loss.backward()
            opt.step()
            run += float(loss.detach())
            step += 1
        val = plan_metrics(model, va)
        rec = {"epoch": epoch, "train_loss": run / steps_per, "val": val}
        history.append(rec)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if val["plan_l1"] < best:
            best, best_state, best_epoch = val["plan_l1"], copy.deepcopy(model.state_dict()), epoch
        if progress:
            print(f"plan epoch {epoch}: train {rec['train_loss']:.4f}  val L1 {val['plan_l1']:.4f}  "
                  f"L2 1/2/3 s {val['L2_1s']:.3f}/{val['L2_2s']:.3f}/{val['L2_3s']:.3f}")
    wall = time.monotonic() - t0
    info = {"source": source, "config": asdict(c), "best_epoch": best_epoch,
            "val_start": start, "history": history, "wall_time_s": wall}

    def save(name: str, state: dict[str, torch.Tensor]) -> None:
        slim = {k: ckpt[k] for k in ckpt if k not in ("model", "optimizer", "cfg")}
        slim.update({"cfg": _cfg_dict(ckpt, m.plan_ego_mlp, m.plan_lead), "model": {k: v.detach().cpu() for k, v in state.items()},
                     "plan_stage": info})
        torch.save(slim, out / name)

    save("last.pt", model.state_dict())
    save("best.pt", best_state)
    log.write(json.dumps({"event": "end", "best_epoch": best_epoch, "best_val_plan_l1": best,
                          "wall_time_s": wall}) + "\n")
    log.close()
    return {"best_epoch": best_epoch, "best": best, "start": start, "history": history, "wall_time_s": wall}


def _cfg_dict(ckpt: dict[str, Any], plan_ego_mlp: int, plan_lead: bool = False) -> dict[str, Any]:
    cfg = copy.deepcopy(ckpt["cfg"])
    cfg.setdefault("model", {})["plan_ego_mlp"] = int(plan_ego_mlp)
    if plan_lead:
        cfg["model"]["plan_lead"] = True
    return cfg
