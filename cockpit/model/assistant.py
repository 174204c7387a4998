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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..evaluation import TurnResult
from .format import (AnswerError, chat_messages, copy_spans, guidance_schema, history_answer, parse_answer,
                     prompt, says_number)
from .intent import DEFAULT_INTENT, IntentModel

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "weights" / "assistant"
PROMPT_STYLES = ("auto", "edgepilot", "chat")


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


class GenAIAssistant:
    """`propose(dialogue, state, previous)` for `CockpitSession`, backed by an ORT GenAI model folder."""

    def __init__(self, model_dir: str | Path = DEFAULT_MODEL, guidance: bool = True, max_new_tokens: int = 96,
                 prompt_style: str = "auto", copy_guidance: bool = True,
                 intent: str | Path | None = DEFAULT_INTENT, intent_mass: float = 0.95,
                 intent_max_labels: int = 3, intent_args: bool = True) -> None:
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
        self.max_new_tokens = max_new_tokens
        self.intent = None                  # the prior only acts through the guidance
        if guidance and intent is not None:
            self.intent = IntentModel(intent, mass=intent_mass, max_labels=intent_max_labels)
        self.intent_args = intent_args      # also narrow categorical arguments (the prior's argument heads)
        self.last_prior = None              # the intent prior's Prior for the last turn
        self.last_prior_s = 0.0             # and the seconds it took (encoder + heads)
        self.last: Generation | None = None
        self.last_error: str | None = None

    def generate(self, text: str, schema: str | None = None) -> Generation:
        """Greedy continuation of a prompt string, stopped at `</s>` or `max_new_tokens`; constrained to `schema`
        (JSON text) or, with guidance on, to the catalog's answer schema."""
        og = self.og
        t0 = time.perf_counter()
        ids = self.tokenizer.encode(text)
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + self.max_new_tokens, do_sample=False)
        if self.guidance is not None:
            params.set_guidance("json_schema", schema or self.guidance)
        gen = og.Generator(self.model, params)
        gen.append_tokens(ids)
        n = 0
        while not gen.is_done():
            gen.generate_next_token()
            n += 1
        seq = gen.get_sequence(0)
        out = self.tokenizer.decode(seq[len(ids):])
        return Generation(out, len(ids), n, time.perf_counter() - t0)

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
        if self.copy_guidance or prior is not None:
            said = [t for t, _ in history] + [dialogue[-1]]
            spans = copy_spans(said) if self.copy_guidance else None
            number = says_number(said)
            schema = json.dumps(guidance_schema(spans, self.replies, bool(spans) and number,
                                                prior.labels if prior else None,
                                                prior.args if prior and self.intent_args else None,
                                                number))
        self.last = self.generate(self.prompt_text(dialogue[-1], history), schema)
        try:
            return parse_answer(self.last.text)
        except AnswerError as exc:
            self.last_error = str(exc)
            return TurnResult(outcome="clarify", reply="Sorry, I didn't get that. Could you say it again?")
