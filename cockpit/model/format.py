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


_ARG_ORDER = {t.name: [a.name for a in t.args] for t in CATALOG}


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def answer_text(answer: Mapping[str, Any]) -> str:
    """Compact JSON, keys in a fixed order, whole numbers without ".0" (the model learns one spelling).
    Arguments in the catalog's order: the JSON-schema guidance makes the decoder write them in that order, so a
    model trained on another order is pushed off what it learned at the first key (and decides its values there)."""
    if "tool" in answer:
        args = dict(answer.get("args", {}))
        order = _ARG_ORDER.get(answer["tool"], ())
        args = {k: args[k] for k in sorted(args, key=lambda k: order.index(k) if k in order else len(order))}
        obj = {"tool": answer["tool"], "args": _canonical(args)}
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


#: A few turns shown to a general chat model (chat prompt style) so it sees the answer format in use.
CHAT_EXAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("I'm cold", {"tool": "adjust_temperature", "args": {"delta_celsius": 1}}),
    ("open my window halfway", {"tool": "set_window", "args": {"window": "driver", "open_percent": 50}}),
    ("call Alex Smith", {"tool": "call_contact", "args": {"name": "Alex Smith"}}),
    ("how much fuel is left", {"tool": "query_vehicle", "args": {"item": "fuel_level"}}),
    ("steer into the left lane", {"outcome": "refuse", "reply": "I can't control the driving."}),
    ("hello", {"outcome": "reply", "reply": "Hello! What can I do for you?"}),
)


def _arg_text(arg) -> str:
    if arg.enum is not None:
        kind = "|".join(arg.enum)
    elif arg.minimum is not None and arg.maximum is not None:
        kind = f"{arg.type} {arg.range_text()}"
    else:
        kind = arg.type
    return f"{arg.name}: {kind}" + ("" if arg.required else " (optional)")


def system_prompt() -> str:
    """Instructions for a general chat model (a Qwen or Phi export a user brings): the answer format, the catalog
    in one line per function and a few examples. The JSON-schema guidance enforces the shape; this says what
    to choose."""
    tools = "\n".join(f"- {t.name}({', '.join(_arg_text(a) for a in t.args)}): {t.description}" for t in CATALOG)
    examples = "\n".join(f"{text} -> {answer_text(answer)}" for text, answer in CHAT_EXAMPLES)
    return ("You are the voice assistant of a car. Answer each driver turn with one JSON object and nothing else: "
            '{"tool": NAME, "args": {...}} to use one of the functions below, or {"outcome": "reply", "reply": '
            'TEXT} for conversation and questions you can answer without a function, "refuse" for driving '
            "control (steering, braking, speed, gears), exterior lights and anything outside the car, \"clarify\" "
            "when the request is unclear. Keep replies short: they are spoken.\n"
            f"Functions:\n{tools}\nExamples:\n{examples}")


def chat_messages(text: str, history: Sequence[tuple[str, Mapping[str, Any]]] = (),
                  system: str | None = None) -> list[dict[str, str]]:
    """The same turn as `prompt()` as chat messages (system, then user/assistant pairs) for a model's own chat
    template; earlier answers are the assistant's JSON, as in `prompt()`."""
    messages = [{"role": "system", "content": system_prompt() if system is None else system}]
    for turn, answer in list(history)[-HISTORY_TURNS:]:
        messages += [{"role": "user", "content": normalize(turn)},
                     {"role": "assistant", "content": answer_text(answer)}]
    return messages + [{"role": "user", "content": normalize(text)}]


class AnswerError(ValueError):
    """Model output that is not one answer object; the message quotes it."""


def parse_answer(text: str) -> TurnResult:
    """The model's continuation (without the prompt) -> a proposal; anything else is an AnswerError."""
    raw = text.split(EOS)[0].strip()
    try:                               # one JSON value; a chat model may add its own end-of-turn text after it
        obj, end = json.JSONDecoder().raw_decode(raw)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"model output is not JSON ({exc.msg}): {raw[:120]!r}") from None
    raw = raw[:end]
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


#: The intent prior's vocabulary (model/intent.py): an outcome label is OUTCOME_LABEL + outcome; an argument class
#: is a JSON value, ABSENT (an optional argument left out) or OTHER (any value).
OUTCOME_LABEL, ABSENT, OTHER = "outcome:", "<absent>", "<other>"
MAX_SPAN_WORDS = 8                       # longest name/place/title copied from an utterance
FREQUENCY = r"^[0-9]{2,3}(\.[0-9])?$"   # a radio frequency said in words ("ninety nine point five" -> 99.5)
_EDGE = "\"'.,;:!?()[]"
_PRONOUN_I = {"I", "I'm", "I'd", "I'll", "I've"}
_ONES = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                     "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
_NUMBER_WORDS = set(_ONES) | set(_TENS) | {"oh", "hundred", "point"}


def says_number(texts: Sequence[str]) -> bool:
    """Whether the driver said a number (digits or words): only then may a station query be a frequency."""
    return any(any(c.isdigit() for c in w) or w.strip(_EDGE).lower() in _NUMBER_WORDS
               for t in texts for part in normalize(t).split() for w in part.split("-"))


_DIGITS_RE = re.compile(r"^-?\d+(\.\d+)?$")


def numbers_said(text: str) -> list[float] | None:
    """The numbers in one utterance, digits or words ("21.5", "twenty one and a half", "a hundred and ten",
    "ninety nine point five"), in order; None when a number word is left that this reader does not understand
    (then nothing is constrained by them). "oh" is a number only after "point"."""
    words = [w.strip(_EDGE).lower() for part in normalize(text).split() for w in part.split("-")]
    words = [w for w in words if w]
    out: list[float] = []
    i = 0
    while i < len(words):
        w = words[i]
        if _DIGITS_RE.match(w):
            out.append(float(w))
            i += 1
            continue
        if w not in _ONES and w not in _TENS and not (w in ("a", "one") and i + 1 < len(words)
                                                       and words[i + 1] == "hundred"):
            if w in ("hundred", "point") or (w == "oh" and i > 0 and words[i - 1] == "point"):
                return None                              # a number word outside a number this reader parses
            i += 1
            continue
        value, j = 0, i
        if j + 1 < len(words) and words[j + 1] == "hundred":
            value = 100 * (1 if words[j] == "a" else _ONES.get(words[j], 0))
            if value == 0:
                return None
            j += 2
            if j + 1 < len(words) and words[j] == "and" and (words[j + 1] in _ONES or words[j + 1] in _TENS):
                j += 1
        if j < len(words) and words[j] in _TENS:
            value += _TENS[words[j]]
            j += 1
            if j < len(words) and words[j] in _ONES and 0 < _ONES[words[j]] < 10:
                value += _ONES[words[j]]
                j += 1
        elif j < len(words) and words[j] in _ONES:
            value += _ONES[words[j]]
            j += 1
        number = float(value)
        if j + 1 < len(words) and words[j] == "point" and (words[j + 1] in _ONES or words[j + 1] == "oh"):
            number += _ONES.get(words[j + 1], 0) / 10
            j += 2
        elif j + 2 < len(words) and words[j:j + 3] == ["and", "a", "half"]:
            number += 0.5
            j += 3
        if not (j == i + 1 and w == "one"):              # a lone "one" is "the other one", "that one"
            out.append(number)
        i = j
    return out


def _name_like(words: list[str], k: int) -> bool:
    """A word inside a name as typed: capitalised (not the first word, not "I"), or a number next to one."""
    w = words[k].strip(_EDGE)
    if w.isdigit():
        return any(0 < m < len(words) and words[m][:1].isupper() and words[m].strip(_EDGE) not in _PRONOUN_I
                   for m in (k - 1, k + 1))
    return k > 0 and w[:1].isupper() and w not in _PRONOUN_I


def copy_spans(texts: Sequence[str]) -> list[str]:
    """Every run of 1..MAX_SPAN_WORDS words of the utterances (as `normalize` writes them, edge punctuation
    stripped): the only values a free-text argument may take under `guidance_schema(spans)`. A run of
    capitalised words is not cut ("Ivan Lee", "114 Baker Street", "Moore Lane, Vienna"): half a name is the
    wrong contact, not a shorter right one. Lower-case text (a recogniser's) has no such runs."""
    out: dict[str, None] = {}
    for text in texts:
        words = normalize(text).split()
        name = [_name_like(words, k) for k in range(len(words))]
        joined = [name[k] and name[k + 1] for k in range(len(words) - 1)] + [False]
        for i in range(len(words)):
            if i > 0 and joined[i - 1]:
                continue
            for j in range(i + 1, min(len(words), i + MAX_SPAN_WORDS) + 1):
                if joined[j - 1]:
                    continue
                span = " ".join(words[i:j]).strip(_EDGE)
                if span:
                    out[span] = None
    return list(out)


def _arg_schema(arg, spans: Sequence[str] | None = None, frequency: bool = False) -> dict[str, Any]:
    if arg.enum is not None:
        return {"type": "string", "enum": list(arg.enum)}
    if arg.type == "string" and spans:
        alts = [{"type": "string", "enum": list(spans)}]
        if arg.name == "query" and frequency:
            alts.append({"type": "string", "pattern": FREQUENCY})
        return {"anyOf": alts}
    return {"type": arg.type}


def _number_enum(arg, numbers: Sequence[float]) -> list[float | int]:
    """The values a numeric argument may take when the driver said `numbers`: each of them, or its negative
    where the argument can be negative ("turn it down by 2" -> -2), whole numbers only for an integer."""
    out: list[float | int] = []
    for x in numbers:
        for v in (x, -x) if arg.minimum is None or arg.minimum < 0 else (x,):
            if arg.type == "integer" and not float(v).is_integer():
                continue
            v = int(v) if float(v).is_integer() else v
            if v not in out:
                out.append(v)
    return out


def _call_schema(tool, spans, frequency: bool, classes: Mapping[str, Sequence[str]],
                 number_said: bool, numbers: Sequence[float] | None = None) -> dict[str, Any]:
    """One tool's call schema; `classes` (the intent prior's argument heads) narrows categorical arguments to
    the values it allows (JSON values, ABSENT, OTHER: see OUTCOME_LABEL). A numeric argument is held to the
    `numbers` said in the turn (`_number_enum`); when a number was said that the reader could not place, or only
    in an earlier turn, it is left open for the assistant to copy, with no class restriction."""
    props = {a.name: _arg_schema(a, spans, frequency) for a in tool.args}
    required = [a.name for a in tool.args if a.required]
    for a in tool.args:
        values = _number_enum(a, numbers) if a.type in ("integer", "number") and numbers else []
        if values:                       # a said number is copied; none that fits (2.5 for an integer): left open
            props[a.name] = {"type": a.type, "enum": values}
            continue
        allowed = classes.get(a.name)
        if not allowed or OTHER in allowed or (a.type in ("integer", "number") and number_said):
            continue
        values = [json.loads(c) for c in allowed if c != ABSENT]
        if a.type == "boolean" and not all(isinstance(v, bool) for v in values):
            continue                                  # a head that disagrees with the catalog: ignore it
        absent_ok = ABSENT in allowed or (a.default is not None and a.default in values)
        if values:
            props[a.name] = {"type": a.type, "enum": values}
        elif absent_ok and not a.required:
            del props[a.name]
        if not absent_ok and a.name not in required:
            required.append(a.name)
    return {"type": "object",
            "properties": {"tool": {"const": tool.name},
                           "args": {"type": "object", "properties": props, "required": required,
                                    "additionalProperties": False}},
            "required": ["tool", "args"], "additionalProperties": False}


def guidance_schema(spans: Sequence[str] | None = None, replies: Sequence[str] | None = None,
                    frequency: bool = False, labels: Sequence[str] | None = None,
                    arg_classes: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
                    number_said: bool = False, numbers: Sequence[float] | None = None) -> dict[str, Any]:
    """The JSON Schema of one answer (for constrained decoding): any catalog tool with its argument names, types
    and enums, or an outcome with a reply. With `spans` (`copy_spans` of the driver's words) a free-text argument
    (name, destination, query, colour) must be one of them, so a name is copied exactly or not at all instead of
    drifting ("Dr. Edwards" -> "Dr. S"); with `frequency` (the driver said a number) a station query may also be
    a frequency. With `replies` an outcome's reply is one of them (the shipped model's own replies: a half-formed
    one is never spoken). With `labels` (the intent prior's: tool names and OUTCOME_LABEL + outcome) only those
    tools and outcomes are offered; labels the catalog does not know are ignored, and if none is left nothing is
    restricted. `arg_classes` narrows categorical arguments per tool (`_call_schema`). With `numbers` (what
    `numbers_said` read in the turn, non-empty) a numeric argument is one of them or its negative: a model that
    knows "adjust" from "adjust the temperature by 1" otherwise writes 1 for "adjust the temperature to 16"."""
    tools = {t.name for t in CATALOG}
    outcomes = list(OUTCOMES)
    if labels:
        keep_tools = {x for x in labels if x in tools}
        keep_outcomes = [o for o in OUTCOMES if OUTCOME_LABEL + o in labels]
        if keep_tools or keep_outcomes:
            tools, outcomes = keep_tools, keep_outcomes
    calls = [_call_schema(t, spans, frequency, (arg_classes or {}).get(t.name, {}), number_said, numbers)
             for t in CATALOG if t.name in tools]
    outcome = {"type": "object", "properties": {"outcome": {"type": "string", "enum": outcomes},
                                                "reply": {"type": "string", "enum": list(replies)} if replies else
                                                {"type": "string", "maxLength": 200}},
               "required": ["outcome", "reply"], "additionalProperties": False}
    # compact JSON only, as the model was trained to write it: with the default flexible whitespace a model held
    # off the word it wanted (a span cut short: "dr" of "dr edwards") could pad with spaces to max_new_tokens
    return {"x-guidance": {"whitespace_flexible": False}, "anyOf": calls + ([outcome] if outcomes else [])}
