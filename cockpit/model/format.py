"""The one prompt and answer format shared by training and the runtime.

Why a fixed text format: the model is trained on exactly the strings the runtime builds, so the two cannot
drift. A prompt is the last few turns, each `<|user|>` text `<|assistant|>` answer, then the new user turn and
`<|assistant|>`; the model continues with one compact JSON answer and `</s>`. An answer is a tool call
`{"tool": NAME, "args": {...}}` or an outcome `{"outcome": "reply"|"refuse"|"clarify", "reply": TEXT}`. Earlier
answers in the prompt are what those turns ended in, so "and the passenger side too" sees the call it extends.
`guidance_schema()` is the JSON Schema the decoder is constrained to: tool names and enums from the catalog, but
no numeric ranges, so "set 40 degrees" reaches the catalog check and gets the spoken range instead of a silent
clamp.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping, Sequence

from ..catalog import CATALOG
from ..evaluation import OUTCOMES, TurnResult

BOS, EOS, PAD, USER, ASSISTANT = "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>"
SPECIAL_TOKENS = (BOS, EOS, PAD, USER, ASSISTANT)
HISTORY_TURNS = 2            # earlier turns kept in the prompt: follow-ups refer to the last one or two
MAX_TURN_CHARS = 300         # a longer utterance is cut (ASR run-ons); the prompt stays bounded
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})
_SPECIAL = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))
_UNITS = ((re.compile(r"\s*°\s*[cC]\b|\s*°"), " degrees"), (re.compile(r"\s*%"), " percent"),
          (re.compile(r"\s*km/h\b|\s*kph\b", re.IGNORECASE), " kilometres per hour"))


def normalize(text: str) -> str:
    """Unify quotes and dashes, spell out °C, % and km/h as spoken, collapse whitespace, drop trailing ?!. and any
    special-token text (a user cannot type `<|assistant|>` to forge an answer)."""
    text = _SPECIAL.sub(" ", str(text).translate(_QUOTES))
    for pattern, words in _UNITS:
        text = pattern.sub(words, text)
    text = " ".join(text.split())[:MAX_TURN_CHARS]
    return text.rstrip("?!. ").strip()


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def answer_text(answer: Mapping[str, Any]) -> str:
    """Compact JSON, keys in a fixed order, whole numbers without ".0" (the model learns one spelling)."""
    if "tool" in answer:
        obj = {"tool": answer["tool"], "args": _canonical(dict(answer.get("args", {})))}
    else:
        obj = {"outcome": answer["outcome"], "reply": answer.get("reply", "")}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def history_answer(result: TurnResult) -> dict[str, Any]:
    """What an earlier turn ended in, as it appears in the prompt."""
    if result.tool is not None:
        return {"tool": result.tool, "args": dict(result.args)}
    return {"outcome": result.outcome, "reply": result.reply}


def prompt(text: str, history: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> str:
    """The model input for user turn `text` after earlier (text, answer) turns, oldest first."""
    parts = [BOS]
    for turn, answer in list(history)[-HISTORY_TURNS:]:
        parts += [USER, normalize(turn), ASSISTANT, answer_text(answer)]
    parts += [USER, normalize(text), ASSISTANT]
    return "".join(parts)


class AnswerError(ValueError):
    """Model output that is not one answer object; the message quotes it."""


def parse_answer(text: str) -> TurnResult:
    """The model's continuation (without the prompt) -> a proposal; anything else is an AnswerError."""
    raw = text.split(EOS)[0].strip()
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"model output is not JSON ({exc.msg}): {raw[:120]!r}") from None
    if not isinstance(obj, dict):
        raise AnswerError(f"model output is not an object: {raw[:120]!r}")
    if "tool" in obj:
        args = obj.get("args", {})
        if not isinstance(obj["tool"], str) or not isinstance(args, dict):
            raise AnswerError(f"model output has a malformed tool call: {raw[:120]!r}")
        return TurnResult(tool=obj["tool"], args=args)
    if obj.get("outcome") in OUTCOMES and isinstance(obj.get("reply", ""), str):
        return TurnResult(outcome=obj["outcome"], reply=obj.get("reply", ""))
    raise AnswerError(f"model output is neither a tool call nor an outcome: {raw[:120]!r}")


def _arg_schema(arg) -> dict[str, Any]:
    if arg.enum is not None:
        return {"type": "string", "enum": list(arg.enum)}
    return {"type": arg.type}


def guidance_schema() -> dict[str, Any]:
    """The JSON Schema of one answer (for constrained decoding): any catalog tool with its argument names, types
    and enums, or an outcome with a reply."""
    calls = [{"type": "object",
              "properties": {"tool": {"const": t.name},
                             "args": {"type": "object", "properties": {a.name: _arg_schema(a) for a in t.args},
                                      "required": [a.name for a in t.args if a.required],
                                      "additionalProperties": False}},
              "required": ["tool", "args"], "additionalProperties": False} for t in CATALOG]
    outcome = {"type": "object", "properties": {"outcome": {"type": "string", "enum": list(OUTCOMES)},
                                                "reply": {"type": "string", "maxLength": 200}},
               "required": ["outcome", "reply"], "additionalProperties": False}
    return {"anyOf": calls + [outcome]}
