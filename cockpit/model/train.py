"""`edgepilot cockpit train`: tokenizer and decoder trained from scratch on the generated dialogue corpus.

Why from scratch and this small: the model only has to map in-car requests to catalog calls, so a 4-layer
Llama-style decoder (a standard `transformers` architecture the ONNX Runtime GenAI builder exports) learns it on
this 2-core CPU in well under an hour and stays a few MB. The tokenizer is a byte-level BPE trained on the same
corpus, so any text encodes. The loss is taken only on the answer tokens (and `</s>`); the prompt is context.
Output: a Hugging Face folder (config, safetensors, tokenizer) that `cockpit export` turns into an ORT GenAI
model, plus `train_log.jsonl`. Same config and seed, same weights.
"""
from __future__ import annotations

import json
import math
import random
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from edgepilot.config import build_section, read_yaml

from ..corpus import generate, number_words
from .format import ASSISTANT, BOS, EOS, PAD, SPECIAL_TOKENS, USER, answer_text, prompt

FREE_TEXT_ARGS = ("query", "destination", "name", "color")


@dataclass
class CorpusConfig:
    train_cases: int = 60000
    val_cases: int = 1500
    seed: int = 0
    asr_style_prob: float = 0.4
    speech_file: str = ""         # `cockpit speech-data` output (relative paths: to cockpit/): cases as heard
    speech_repeat: int = 1        # how often each heard case is added


@dataclass
class TokenizerConfig:
    vocab_size: int = 2048


@dataclass
class ModelConfig:
    hidden_size: int = 256
    intermediate_size: int = 704
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    max_position_embeddings: int = 384


@dataclass
class TrainConfig:
    steps: int = 5000
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 0.05
    seed: int = 0
    threads: int = 2
    eval_every: int = 500
    init_from: str = ""           # the `hf` folder of an earlier run: fine-tune its weights with its tokenizer


@dataclass
class AssistantTrainConfig:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS = {"corpus": CorpusConfig, "tokenizer": TokenizerConfig, "model": ModelConfig, "train": TrainConfig}


def config_from_dict(data: dict[str, Any], where: str = "config") -> AssistantTrainConfig:
    unknown = sorted(set(data or {}) - set(SECTIONS))
    if unknown:
        raise ValueError(f"{where}: unknown sections {unknown} (known: {sorted(SECTIONS)})")
    return AssistantTrainConfig(**{k: build_section(cls, (data or {}).get(k), f"{where}: {k}")
                                   for k, cls in SECTIONS.items()})


def load_config(path: str | Path) -> AssistantTrainConfig:
    return config_from_dict(read_yaml(path), str(path))


# ---------------------------------------------------------------------------------------------------------- data
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def _spoken_number(match: re.Match) -> str:
    whole, _, frac = match.group(0).partition(".")
    if int(whole) > 999:
        return " ".join(number_words(int(d)) for d in whole)
    return number_words(int(whole)) + ("" if not frac else " point " + " ".join(number_words(int(d)) for d in frac))


def asr_style(text: str) -> str:
    """Text as a speech recogniser writes it: lower case, no punctuation or accents ("Müller" -> "muller"), numbers
    in words without hyphens."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = _DIGITS.sub(_spoken_number, text.lower())
    text = re.sub(r"[^a-z' ]+", " ", text.replace("-", " "))
    return " ".join(text.split())


def examples(rows: list[dict[str, Any]], asr_style_prob: float, seed: int) -> list[tuple[str, str]]:
    """(prompt, answer text + EOS) for the last turn of every corpus row. A share of rows is rewritten like speech
    recognition output (`asr_style`) - and then so are the free-text arguments the answer copies; numeric arguments
    stay numbers ("twenty one point five" -> 21.5)."""
    rng = random.Random(seed)
    out = []
    for r in rows:
        heard = "heard" in r                 # already recogniser output (speech_data.load)
        asr = heard or rng.random() < asr_style_prob
        turns, answers = list(r["dialogue"]), [json.loads(json.dumps(a)) for a in r["_answers"]]
        if asr:
            turns = turns if heard else [asr_style(t) for t in turns]
            for a in answers:
                for k in FREE_TEXT_ARGS:
                    if isinstance(a.get("args", {}).get(k), str):
                        a["args"][k] = asr_style(a["args"][k])
        history = list(zip(turns[:-1], answers[:-1]))
        out.append((prompt(turns[-1], history), answer_text(answers[-1]) + EOS))
    return out


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE over the corpus with the format's special tokens (ids 0..4 = <s>, </s>, <pad>, user, asst)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return tok


def save_tokenizer(tok, out_dir: Path):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   additional_special_tokens=[USER, ASSISTANT])
    fast.save_pretrained(out_dir)
    return fast


def encode(tok, pairs: list[tuple[str, str]], max_len: int) -> list[tuple[list[int], int]]:
    """Token ids of prompt+answer and where the answer starts; too-long examples are an error naming the text."""
    prompts = tok.encode_batch([p for p, _ in pairs], add_special_tokens=False)
    answers = tok.encode_batch([a for _, a in pairs], add_special_tokens=False)
    out = []
    for (p, a), pe, ae in zip(pairs, prompts, answers):
        ids = pe.ids + ae.ids
        if len(ids) > max_len:
            raise ValueError(f"training example of {len(ids)} tokens exceeds max_position_embeddings={max_len}: "
                             f"{(p + a)[:120]!r}")
        out.append((ids, len(pe.ids)))
    return out


def batches(data: list[tuple[list[int], int]], batch_size: int, rng: random.Random, pad_id: int) -> Iterator:
    """Endless shuffled batches of similar length (less padding): (input_ids, attention_mask, labels)."""
    while True:
        order = list(range(len(data)))
        rng.shuffle(order)
        chunks = [order[i:i + batch_size * 50] for i in range(0, len(order), batch_size * 50)]
        for chunk in chunks:
            chunk.sort(key=lambda i: len(data[i][0]))
            group = [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
            rng.shuffle(group)
            for idx in group:
                yield collate([data[i] for i in idx], pad_id)


def collate(items: list[tuple[list[int], int]], pad_id: int):
    import torch

    n = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), n), dtype=torch.long)
    labels = torch.full((len(items), n), -100, dtype=torch.long)
    for row, (seq, start) in enumerate(items):
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
        labels[row, start:len(seq)] = torch.tensor(seq[start:])
    return ids, mask, labels


# ------------------------------------------------------------------------------------------------------ training
def build_model(cfg: AssistantTrainConfig, vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    m = cfg.model
    hf = LlamaConfig(vocab_size=vocab_size, hidden_size=m.hidden_size, intermediate_size=m.intermediate_size,
                     num_hidden_layers=m.num_hidden_layers, num_attention_heads=m.num_attention_heads,
                     num_key_value_heads=m.num_key_value_heads, max_position_embeddings=m.max_position_embeddings,
                     bos_token_id=SPECIAL_TOKENS.index(BOS), eos_token_id=SPECIAL_TOKENS.index(EOS),
                     pad_token_id=SPECIAL_TOKENS.index(PAD), tie_word_embeddings=False, rope_theta=10000.0)
    return LlamaForCausalLM(hf)


def _evaluate(model, data, batch_size: int, pad_id: int) -> dict[str, float]:
    """Answer-token loss and whole-answer exact match under teacher forcing (argmax at every answer position)."""
    import torch

    model.eval()
    loss_sum = tok_n = 0.0
    exact = 0
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            ids, mask, labels = collate(data[i:i + batch_size], pad_id)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            target = labels[:, 1:]
            valid = target != -100
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                     ignore_index=-100, reduction="sum")
            loss_sum += float(loss)
            tok_n += float(valid.sum())
            right = (logits.argmax(-1) == target) | ~valid
            exact += int(right.all(dim=1).sum())
    model.train()
    return {"val_loss": loss_sum / max(tok_n, 1), "val_exact": exact / max(len(data), 1)}


def train(cfg: AssistantTrainConfig, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train tokenizer and model; write `OUT/hf` (the checkpoint `export` reads) and `OUT/train_log.jsonl`."""
    import torch
    from tqdm import tqdm

    init = Path(cfg.train.init_from) if cfg.train.init_from else None
    if init is not None and not ((init / "tokenizer.json").is_file() and (init / "config.json").is_file()):
        raise FileNotFoundError(f"train.init_from {init}: no tokenizer.json/config.json (an `hf` folder of a run)")
    out = Path(out_dir)
    (out / "hf").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    torch.manual_seed(cfg.train.seed)
    torch.set_num_threads(cfg.train.threads)
    c = cfg.corpus
    train_rows = generate("train", c.train_cases, seed=c.seed)
    val_rows = generate("train", c.val_cases, seed=c.seed + 1_000_003)
    if c.speech_file:
        from ..voice.speech_data import config_path, load as load_heard

        train_rows = train_rows + load_heard(config_path(c.speech_file)) * max(1, c.speech_repeat)
    train_pairs = examples(train_rows, c.asr_style_prob, seed=c.seed)
    val_pairs = examples(val_rows, c.asr_style_prob, seed=c.seed + 1)
    if init is not None:                     # fine-tuning: the earlier run's tokenizer and architecture
        from tokenizers import Tokenizer
        from transformers import LlamaForCausalLM

        tok = Tokenizer.from_file(str(init / "tokenizer.json"))
    else:
        tok = train_tokenizer([p + a for p, a in train_pairs], cfg.tokenizer.vocab_size)
    save_tokenizer(tok, out / "hf")
    pad_id = tok.token_to_id(PAD)
    train_data = encode(tok, train_pairs, cfg.model.max_position_embeddings)
    val_data = encode(tok, val_pairs, cfg.model.max_position_embeddings)
    model = LlamaForCausalLM.from_pretrained(init) if init is not None else build_model(cfg, tok.get_vocab_size())
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.train.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.train.lr, betas=(0.9, 0.98))
    steps, warm = cfg.train.steps, cfg.train.warmup_steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(warm, 1)) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    log = open(out / "train_log.jsonl", "w", encoding="utf-8")
    info = {"params": params, "vocab": tok.get_vocab_size(), "train_examples": len(train_data),
            "val_examples": len(val_data), "config": asdict(cfg)}
    log.write(json.dumps({"event": "start", **info}) + "\n")
    rng = random.Random(cfg.train.seed)
    stream = batches(train_data, cfg.train.batch_size, rng, pad_id)
    history, running = [{"step": 0, **_evaluate(model, val_data, 64, pad_id)}], None
    log.write(json.dumps(history[0]) + "\n")
    model.train()
    bar = tqdm(range(1, steps + 1), desc="cockpit train", disable=not progress, unit="step")
    for step in bar:
        ids, mask, labels = next(stream)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.set_postfix(loss=f"{running:.3f}")
        if step % cfg.train.eval_every == 0 or step == steps:
            ev = {"step": step, "train_loss": running, "lr": sched.get_last_lr()[0],
                  "minutes": (time.time() - t0) / 60, **_evaluate(model, val_data, 64, pad_id)}
            history.append(ev)
            log.write(json.dumps(ev) + "\n")
            log.flush()
            model.save_pretrained(out / "hf")          # an interrupted run still leaves its latest weights
    model.save_pretrained(out / "hf")
    summary = {"event": "done", **{k: v for k, v in info.items() if k != "config"}, "steps": steps,
               "minutes": (time.time() - t0) / 60, "final": history[-1] if history else {}}
    log.write(json.dumps(summary) + "\n")
    log.close()
    return summary
