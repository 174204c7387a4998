"""The cockpit assistant on wording other people wrote: Home Assistant's community intent sentences.

Why: the corpus's train and test phrasings were written by one author (this project), so the test split measures
wording the model never saw but not another person's way of asking. Home Assistant Assist's English sentence
templates (PyPI `home-assistant-intents`, Apache-2.0, expanded with HA's own parser `hassil`) are written by its
community for the same kind of requests. This script samples them for the intents that have a car counterpart,
maps each to the answer the spec asks for, and scores the shipped assistant (text) with `cockpit eval`'s rules.
It only measures: nothing here is used for training, so it stays an outside check.

Mapping (HA intent -> expected answer): media pause / unpause / next / previous -> `media_control`; mute ->
`set_volume(0)`; set volume -> `set_volume(V)`; volume up / down [by N] -> `adjust_volume(>0 / <0 / ±N)`; set the
temperature -> `set_temperature(T)`; what is the temperature -> `query_vehicle` of the cabin or the outside
temperature (either is accepted: in a car "how cold is it" may mean outside); never mind ->
a reply; shopping list, timers, broadcast, vacuum, lawn mower -> refuse (not something a car does). Only the
sentences of each intent that need no Home Assistant entity, area or floor name are used (a car has none), and
free text (a shopping item, a timer's command) is filled from small fixed lists.

Run: pip install hassil home-assistant-intents   (not a runtime or test dependency)
     python benchmarks/ha_intents_probe.py [--per-intent 40] [--seed 0] [--out FILE.jsonl] [--no-rerank] [--no-intent] [--no-number-guidance]
     [--speech [--snr 10]]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

SKIP_LISTS = {"area", "floor", "name"}        # a car has no Home Assistant entities, areas or floors
FILL = {                                       # free text: fixed, so the run is reproducible
    "shopping_list_item": ["milk", "eggs", "bread", "apples", "coffee", "batteries"],
    "todo_list_item": ["call the bank", "book a dentist appointment", "pay the gas bill"],
    "timer_command": ["turn off the oven", "check the laundry"],
    "message": ["dinner is ready", "time to leave"],
    "timer_name": ["pasta", "tea"],
}


def expectation(intent: str, slots: dict) -> dict | None:
    """The spec's `expect` for one HA intent and its sampled slot values (None: no car counterpart)."""
    media = {"HassMediaPause": "pause", "HassMediaUnpause": "resume", "HassMediaNext": "next",
             "HassMediaPrevious": "previous"}
    if intent in media:
        return {"tool": "media_control", "args": {"action": media[intent]}}
    if intent == "HassMediaPlayerMute":
        return {"tool": "set_volume", "args": {"percent": 0}}
    if intent == "HassSetVolume" and "volume" in slots:
        return {"tool": "set_volume", "args": {"percent": slots["volume"]}}
    if intent == "HassSetVolumeRelative" and "volume_step" in slots:
        step = slots["volume_step"]
        return {"tool": "adjust_volume", "args": {"delta_percent": step if isinstance(step, int) else
                                                  (">0" if step == "up" else "<0")}}
    if intent == "HassClimateSetTemperature" and "temperature" in slots:
        return {"tool": "set_temperature", "args": {"celsius": slots["temperature"]}}
    if intent == "HassClimateGetTemperature":      # in a car "how cold is it" may well mean outside
        return {"expect_any": [{"tool": "query_vehicle", "args": {"item": "cabin_temperature"}},
                               {"tool": "query_vehicle", "args": {"item": "outside_temperature"}}]}
    if intent == "HassNevermind":
        return {"outcome": "reply"}
    if intent in ("HassShoppingListAddItem", "HassListAddItem", "HassStartTimer", "HassBroadcast",
                  "HassVacuumStart", "HassLawnMowerStartMowing"):
        return {"outcome": "refuse"}
    return None


def _lists_in(expr, rules, seen=None) -> set[str]:
    from hassil.expression import Group, ListReference, RuleReference

    seen = set() if seen is None else seen
    if isinstance(expr, ListReference):
        return {expr.list_name}
    if isinstance(expr, RuleReference):
        if expr.rule_name in seen:
            return set()
        seen.add(expr.rule_name)
        return _lists_in(rules[expr.rule_name].expression, rules, seen)
    if isinstance(expr, Group):
        return set().union(*(_lists_in(i, rules, seen) for i in expr.items)) if expr.items else set()
    return set()


def sample(expr, rng: random.Random, rules, slots: dict) -> str:
    """One random expansion of a hassil expression; numbers for range lists are drawn and recorded in `slots`."""
    from hassil.expression import Alternative, ListReference, Permutation, RuleReference, Sequence, TextChunk

    if isinstance(expr, TextChunk):
        return expr.original_text or ""
    if isinstance(expr, Alternative):
        return sample(rng.choice(expr.items), rng, rules, slots)
    if isinstance(expr, Permutation):
        items = list(expr.items)
        rng.shuffle(items)
        return " ".join(sample(i, rng, rules, slots) for i in items)
    if isinstance(expr, Sequence):
        return "".join(sample(i, rng, rules, slots) for i in expr.items)
    if isinstance(expr, RuleReference):
        return sample(rules[expr.rule_name].expression, rng, rules, slots)
    if isinstance(expr, ListReference):
        return _fill(expr.list_name, rng, slots)
    raise ValueError(f"unexpected hassil expression {type(expr).__name__}")


def _fill(list_name: str, rng: random.Random, slots: dict) -> str:
    """Text for one list reference; the values the answer depends on are recorded in `slots` by meaning."""
    if list_name in FILL:
        return rng.choice(FILL[list_name])
    if list_name == "temperature":
        slots["temperature"] = rng.randint(16, 28)             # the car's range is 16-30 C
        return str(slots["temperature"])
    if list_name == "volume":
        slots["volume"] = rng.randrange(10, 100, 10)
        return str(slots["volume"])
    if list_name in ("volume_step_up", "volume_step_down"):
        n = rng.choice([5, 10, 20])
        slots["volume_step"] = n if list_name.endswith("up") else -n
        return str(n)
    if list_name == "volume_step":
        word = rng.choice(["up", "increase", "down", "decrease"])
        slots["volume_step"] = "up" if word in ("up", "increase") else "down"
        return word
    if list_name in ("timer_hours", "timer_minutes", "timer_seconds"):
        return str(rng.randint(2, 45))
    if list_name == "timer_half":
        return "half"
    raise KeyError(list_name)


def probe_cases(per_intent: int, seed: int) -> list[dict]:
    from hassil.intents import Intents
    import home_assistant_intents

    data = json.loads((Path(home_assistant_intents.__file__).parent / "data" / "en.json").read_text())
    intents = Intents.from_dict(data)
    rng = random.Random(seed)
    cases = []
    for name in sorted(intents.intents):
        if expectation(name, {"volume": 0, "volume_step": "up", "temperature": 20}) is None:
            continue
        sentences = [s for block in intents.intents[name].data for s in block.sentences
                     if not _lists_in(s.expression, intents.expansion_rules) & SKIP_LISTS]
        seen = set()
        for _ in range(per_intent * 20):
            if len(seen) >= per_intent or not sentences:
                break
            slots: dict = {}
            try:
                text = " ".join(sample(rng.choice(sentences).expression, rng, intents.expansion_rules,
                                       slots).split())
            except KeyError:                       # a list this probe does not fill (colour names, ...)
                continue
            expect = expectation(name, slots)
            if not text or text in seen or expect is None:
                continue
            seen.add(text)
            cases.append({"id": f"ha-{name}-{len(seen):03d}", "dialogue": [text],
                          **(expect if "expect_any" in expect else {"expect": expect}), "ha_intent": name})
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-intent", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the cases (the spec's JSON Lines format)")
    ap.add_argument("--no-rerank", action="store_true")
    ap.add_argument("--no-intent", action="store_true")
    ap.add_argument("--no-number-guidance", action="store_true", help="numeric arguments not held to said numbers")
    ap.add_argument("--speech", action="store_true", help="speak each sentence (espeak-ng) through the voice "
                    "pipeline, as `cockpit eval --speech` does")
    ap.add_argument("--snr", type=float, default=None, help="with --speech: cabin noise at this SNR (dB)")
    args = ap.parse_args()
    try:
        cases = probe_cases(args.per_intent, args.seed)
    except ImportError as exc:
        print(f"{exc}: run `pip install hassil home-assistant-intents` first", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text("".join(json.dumps({k: v for k, v in c.items() if k != "ha_intent"}) + "\n"
                                          for c in cases))
    from cockpit.evaluation import evaluate, load_cases
    from cockpit.model.assistant import GenAIAssistant
    from cockpit.model.intent import DEFAULT_INTENT
    from cockpit.runner import run_case
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ha.jsonl"
        path.write_text("".join(json.dumps({k: v for k, v in c.items() if k != "ha_intent"}) + "\n" for c in cases))
        loaded = load_cases(path)
    assistant = GenAIAssistant(intent=None if args.no_intent else DEFAULT_INTENT, rerank=not args.no_rerank,
                               number_guidance=not args.no_number_guidance)
    t0 = time.perf_counter()
    if args.speech:
        from cockpit.voice.adapt import DEFAULT_PROFILE
        from cockpit.voice.asr import PocketSphinxASR
        from cockpit.voice.speech_eval import SpeechRunner

        runner = SpeechRunner(assistant, snr_db=args.snr, asr=PocketSphinxASR(profile=DEFAULT_PROFILE))
        result = evaluate(loaded, runner.run_case)
    else:
        result = evaluate(loaded, lambda case: run_case(assistant, case))
    failed = {f["id"]: f for f in result["failures"]}
    per = defaultdict(Counter)
    for c in cases:
        per[c["ha_intent"]]["n"] += 1
        per[c["ha_intent"]]["ok"] += c["id"] not in failed
    print(f"Home Assistant intent sentences (home-assistant-intents, seed {args.seed}), shipped cockpit assistant"
          f"{'' if not args.no_intent else ', no intent prior'}{', no rerank' if args.no_rerank else ''}"
          f"{', no number guidance' if args.no_number_guidance else ''}"
          f"{'' if not args.speech else ', spoken (espeak-ng) and recognised' + ('' if args.snr is None else f' at {args.snr:g} dB')}:")
    print(f"{'HA intent':<28} {'cases':>6} {'exact':>7}")
    for name, c in sorted(per.items()):
        print(f"{name:<28} {c['n']:>6} {c['ok'] / c['n']:>7.3f}")
    print(f"{'all':<28} {result['n']:>6} {result['exact_match']:>7.3f}   (tool/outcome {result['tool_accuracy']:.3f}, "
          f"{time.perf_counter() - t0:.0f} s)")
    by_id = {c["id"]: c for c in cases}
    for f in list(failed.values())[:25]:
        print(f"  miss: {by_id[f['id']]['dialogue'][0]!r} -> {json.dumps(f['got'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
