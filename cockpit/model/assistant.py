"""The conversational model at run time: ONNX Runtime GenAI, greedy decoding with the KV cache, and the decoder
constrained to the answer schema.

Why constrained decoding: the car only acts on catalog-shaped JSON, so `set_guidance("json_schema", ...)` makes
any other output impossible instead of merely unlikely; what is left to the model is choosing the right call.
Any ORT GenAI model folder can be used: the shipped assistant is trained on `format.prompt()`; a general chat model
(a Qwen or Phi export a user brings, `python -m onnxruntime_genai.models.builder -m ...`) gets the same turns as chat
messages with `format.system_prompt()` (the catalog and the answer format) through its own chat template
(`prompt_style="chat"`; "auto" picks it when the tokenizer has a chat template). Either way the guidance holds it
to the same answer schema. Output that still fails to parse (a cut-off generation) becomes a "clarify" turn naming
the problem, never a call.
With an intent prior (`intent.IntentModel`: a fine-tuned pretrained sentence encoder with tool and argument heads;
the shipped one in `weights/intent`) the schema of each turn only offers the tools/outcomes and categorical
argument values the prior finds likely, so wording the assistant never saw still reaches the right call; the
assistant writes the answer within them.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..evaluation import TurnResult
from .format import (ABSENT, EOS, OTHER, OUTCOME_LABEL, AnswerError, answer_text, chat_messages, copy_spans,
                     guidance_schema, history_answer, numbers_said, parse_answer, prompt, says_number)
from .intent import DEFAULT_INTENT, IntentModel, Prior, arg_class, categorical_args, label_of

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "weights" / "assistant"
PROMPT_STYLES = ("auto", "edgepilot", "chat")
REFUSE_LABEL = OUTCOME_LABEL + "refuse"


def has_chat_template(model_dir: str | Path) -> bool:
    """Whether the folder's tokenizer brings a chat template (general chat models do; the shipped one does not)."""
    cfg = Path(model_dir) / "tokenizer_config.json"
    try:
        return bool(json.loads(cfg.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError):
        return False


@dataclass
class Generation:
    text: str             # the continuation, without the prompt
    prompt_tokens: int
    new_tokens: int
    seconds: float
    logprob: float = 0.0  # `with_logprob`: the model's log-probability of the continuation (raw logits, unguided)


class GenAIAssistant:
    """`propose(dialogue, state, previous)` for `CockpitSession`, backed by an ORT GenAI model folder."""

    uses_state = False    # answers from the words alone; the guard decides on the state (`CockpitSession.prepare`)

    def __init__(self, model_dir: str | Path = DEFAULT_MODEL, guidance: bool = True, max_new_tokens: int = 96,
                 prompt_style: str = "auto", copy_guidance: bool = True,
                 intent: str | Path | None = DEFAULT_INTENT, intent_mass: float = 0.95,
                 intent_max_labels: int = 3, intent_args: bool = True, rerank: bool = True,
                 number_guidance: bool = True, keep_refusal: bool = True) -> None:
        import onnxruntime_genai as og

        model_dir = Path(model_dir)
        if not (model_dir / "genai_config.json").is_file():
            raise FileNotFoundError(f"{model_dir}: no genai_config.json (export one with `edgepilot cockpit export`)")
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style {prompt_style!r}: expected one of {PROMPT_STYLES}")
        if prompt_style == "auto":
            prompt_style = "chat" if has_chat_template(model_dir) else "edgepilot"
        elif prompt_style == "chat" and not has_chat_template(model_dir):
            raise ValueError(f"{model_dir / 'tokenizer_config.json'}: prompt_style 'chat' needs a chat_template")
        self.prompt_style = prompt_style
        self.og, self.model_dir = og, model_dir
        self.model = og.Model(str(model_dir))
        self.tokenizer = og.Tokenizer(self.model)
        # the shipped model's outcomes carry one of its trained replies; a user's chat model words its own
        self.replies = None
        if prompt_style == "edgepilot":
            from ..corpus import outcome_replies
            self.replies = outcome_replies()
        self.guidance = json.dumps(guidance_schema(replies=self.replies)) if guidance else None
        self.copy_guidance = guidance and copy_guidance      # free-text arguments only as the driver's words
        self.number_guidance = guidance and number_guidance  # a number said in the turn: numeric arguments copy it
        self.max_new_tokens = max_new_tokens
        self.intent = None                  # the prior only acts through the guidance
        if guidance and intent is not None:
            self.intent = IntentModel(intent, mass=intent_mass, max_labels=intent_max_labels)
        self.intent_args = intent_args      # also narrow categorical arguments (the prior's argument heads)
        # the prior may take tools away, never the refusal: wording it has not seen must not force an action
        self.keep_refusal = keep_refusal
        # where the model's answer and the prior's favourite differ, keep the one both find likelier (`_rerank`);
        # only for the shipped format, whose answers it can write and score token for token
        self.rerank = rerank and self.intent is not None and prompt_style == "edgepilot"
        self.last_rerank: dict[str, Any] | None = None   # what the last rerank compared (None: nothing to compare)
        self.last_prior = None              # the intent prior's Prior for the last turn
        self.last_prior_s = 0.0             # and the seconds it took (encoder + heads)
        self.last: Generation | None = None
        self.last_error: str | None = None

    def generate(self, text: str, schema: str | None = None, with_logprob: bool = False) -> Generation:
        """Greedy continuation of a prompt string, stopped at `</s>` or `max_new_tokens`; constrained to `schema`
        (JSON text) or, with guidance on, to the catalog's answer schema. `with_logprob`: also sum the model's
        log-probability of what it wrote (reads every step's logits; `score` does the same afterwards)."""
        og = self.og
        t0 = time.perf_counter()
        ids = self.tokenizer.encode(text)
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + self.max_new_tokens, do_sample=False)
        if self.guidance is not None:
            params.set_guidance("json_schema", schema or self.guidance)
        gen = og.Generator(self.model, params)
        gen.append_tokens(ids)
        n, logprob = 0, 0.0
        while not gen.is_done():
            logits = gen.get_logits() if with_logprob else None
            gen.generate_next_token()
            if with_logprob:
                logprob += _log_softmax_at(logits, int(gen.get_next_tokens()[0]))
            n += 1
        seq = gen.get_sequence(0)
        out = self.tokenizer.decode(seq[len(ids):])
        return Generation(out, len(ids), n, time.perf_counter() - t0, logprob)

    def score(self, text: str, answers: Sequence[str]) -> list[float]:
        """The model's log-probability of each of `answers` (+ end of sequence) after prompt string `text`,
        teacher-forced, no guidance: what `generate` would have summed had it written that answer. One prompt
        pass; the answers' common beginning is run once and rewound to."""
        og = self.og
        ids = list(self.tokenizer.encode(text))
        targets = [list(self.tokenizer.encode(a + EOS)) for a in answers]
        if not targets:
            return []
        common = 0
        while all(len(t) > common + 1 and t[common] == targets[0][common] for t in targets):
            common += 1
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + max(map(len, targets)) + 1, do_sample=False)
        gen = og.Generator(self.model, params)
        gen.append_tokens(ids)
        shared = 0.0
        for tok in targets[0][:common]:
            shared += _log_softmax_at(gen.get_logits(), tok)
            gen.append_tokens([tok])
        fork, first = len(ids) + common, np.array(gen.get_logits(), copy=True)
        out = []
        for k, target in enumerate(targets):
            if k:
                gen.rewind_to(fork)
            total = shared + _log_softmax_at(first, target[common])
            for i in range(common + 1, len(target)):
                gen.append_tokens([target[i - 1]])
                total += _log_softmax_at(gen.get_logits(), target[i])
            out.append(total)
        return out

    def prompt_text(self, text: str, history: Sequence[tuple[str, Any]] = ()) -> str:
        """The model input for a turn: `format.prompt()`, or the chat messages through the model's template."""
        if self.prompt_style == "chat":
            return self.tokenizer.apply_chat_template(json.dumps(chat_messages(text, history)),
                                                      add_generation_prompt=True)
        return prompt(text, history)

    def propose(self, dialogue: Sequence[str], state: Any = None,
                previous: Sequence[TurnResult] = ()) -> TurnResult:
        """The answer for the last turn of `dialogue`; `previous` holds what the earlier turns ended in."""
        earlier = list(dialogue[:-1])
        results = list(previous)[-len(earlier):] if earlier else []
        history = [(t, history_answer(r)) for t, r in zip(earlier[len(earlier) - len(results):], results)]
        self.last_error = None
        schema = None
        t0 = time.perf_counter()
        prior = self.intent.predict(dialogue) if self.intent is not None else None
        self.last_prior, self.last_prior_s = prior, time.perf_counter() - t0
        said = [t for t, _ in history] + [dialogue[-1]]
        spans = copy_spans(said) if self.copy_guidance else None
        number = says_number(said)
        numbers = numbers_said(dialogue[-1]) if self.number_guidance else None

        def schema_for(labels):
            return json.dumps(guidance_schema(spans, self.replies, bool(spans) and number, labels,
                                              prior.args if prior and self.intent_args else None, number, numbers))

        if self.copy_guidance or self.number_guidance or prior is not None:
            schema = schema_for(self._allowed(prior))
        text = self.prompt_text(dialogue[-1], history)
        self.last_rerank = None
        try:
            self.last = self.generate(text, schema)
        except RuntimeError as exc:      # a turn schema the grammar compiler rejects: answer under the catalog's
            if schema is None or self.guidance is None:
                raise
            self.last_error = f"turn schema rejected, catalog schema used: {exc}"
            self.last, prior = self.generate(text), None
        try:
            result = parse_answer(self.last.text)
        except AnswerError as exc:
            self.last_error = str(exc)
            return TurnResult(outcome="clarify", reply="Sorry, I didn't get that. Could you say it again?")
        if self.rerank and prior is not None:
            result = self._rerank(text, result, prior, schema_for, number)
        return result

    def _allowed(self, prior: Prior | None) -> list[str] | None:
        """The labels the turn's schema offers: the prior's, plus the refusal unless `keep_refusal` is off."""
        if prior is None:
            return None
        if self.keep_refusal and REFUSE_LABEL not in prior.labels:
            return [*prior.labels, REFUSE_LABEL]
        return list(prior.labels)

    def _rerank(self, text: str, result: TurnResult, prior: Prior, schema_for, number_said: bool) -> TurnResult:
        """Product of experts where the two disagree. The guidance only removes what the prior finds unlikely;
        among what is left the model's greedy choice wins even where the prior, which has read far more English,
        clearly prefers another label or argument value ("my seat is too hot": level 0 at 0.6 against the
        model's 2). Candidates: the model's answer; an answer written under the prior's favourite label, if the
        model chose another; and in each, where the prior's favourite for a categorical argument is not the
        model's value, that argument set to each value the prior allows (its top mass, as for the labels: "let
        some air in" leaves open, crack and close all plausible, and the prior's 0.56 on crack alone should not
        decide between the others; numbers the driver said are left to the model). Each is scored
        log P_model(answer) + log P_prior(label) + sum log P_prior(argument class | tool), and the best is kept.
        Agreement costs nothing: the model's answer is then also the prior's favourite."""
        answers = [history_answer(result)]
        top = max(prior.probs, key=prior.probs.get)
        if top != label_of(answers[0]) and top in prior.labels:
            try:
                answers.append(history_answer(parse_answer(self.generate(text, schema_for([top])).text)))
            except (AnswerError, RuntimeError):    # no parsable answer under that label alone: nothing to compare
                pass
        candidates = []
        for answer in answers:
            candidates.append(answer)
            if "tool" not in answer:
                continue
            for arg in categorical_args(answer["tool"]):
                dist = prior.arg_probs.get(answer["tool"], {}).get(arg.name)
                if not dist or (arg.type in ("integer", "number") and number_said):
                    continue
                mine = arg_class(arg, answer["args"])
                if max(dist, key=dist.get) == mine:
                    continue
                for cls in prior.args.get(answer["tool"], {}).get(arg.name) or [max(dist, key=dist.get)]:
                    if cls in (OTHER, mine) or (cls == ABSENT and arg.required):
                        continue
                    args = dict(answer["args"])
                    if cls == ABSENT:
                        args.pop(arg.name, None)
                    else:
                        args[arg.name] = json.loads(cls)
                    candidates.append({"tool": answer["tool"], "args": args})
        if len(candidates) == 1:
            return result
        written = [answer_text(c) for c in candidates]
        todo = list(dict.fromkeys(written))
        model_lp = dict(zip(todo, self.score(text, todo)))
        scored = [(model_lp[w] + _prior_logprob(prior, c), model_lp[w], w, c) for w, c in zip(written, candidates)]
        best = max(scored, key=lambda s: s[0])
        self.last_rerank = {"candidates": [(w, round(total, 3), round(m, 3)) for total, m, w, _ in scored],
                            "chosen": best[2]}
        return result if best[3] == candidates[0] else parse_answer(best[2])


def _log_softmax_at(logits: Any, token: int) -> float:
    """log softmax(logits)[token] for one step's logits (any shape with the vocabulary last)."""
    x = np.asarray(logits, dtype=np.float64).reshape(-1)
    m = x.max()
    return float(x[token] - m - np.log(np.exp(x - m).sum()))


def _prior_logprob(prior: Prior, answer: dict[str, Any]) -> float:
    """log P_prior(label) + sum over the tool's argument heads of log P_prior(the answer's class); a value the
    head has no class for counts as OTHER."""
    floor = 1e-6
    total = math.log(max(prior.probs.get(label_of(answer), 0.0), floor))
    if "tool" in answer:
        heads = prior.arg_probs.get(answer["tool"], {})
        for arg in categorical_args(answer["tool"]):
            dist = heads.get(arg.name)
            if dist:
                cls = arg_class(arg, answer["args"])
                total += math.log(max(dist.get(cls, dist.get(OTHER, 0.0)), floor))
    return total
