"""Cockpit assistant speed on this machine: text turn -> tool call -> CAN frame, model tokens/s, size, memory.

Why these rows: the driver notices the time from the end of speech to the car acting; the model's share of it is
the text -> tool call step (prompt, greedy decoding through onnxruntime-genai with the JSON-schema guidance, guard,
DBC encoding). Turns are unseen test-split phrasings from the corpus, each on a fresh simulated car.

Run: python benchmarks/cockpit_bench.py [--model DIR] [--turns 200] [--no-guidance]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from cockpit.corpus import generate
from cockpit.model.assistant import DEFAULT_MODEL, GenAIAssistant
from cockpit.model.export import folder_size_mb
from cockpit.runner import new_session


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--turns", type=int, default=200)
    ap.add_argument("--no-guidance", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    assistant = GenAIAssistant(args.model, guidance=not args.no_guidance)
    load_s = time.perf_counter() - t0
    rows = [r for r in generate("test", args.turns * 2, seed=7) if len(r["dialogue"]) == 1][:args.turns]
    for r in rows[:5]:                                         # warm-up (first-call allocations)
        assistant.propose(r["dialogue"], None)
    to_call, to_frame, gen_s, new_tokens, prompt_tokens = [], [], [], 0, 0
    for r in rows:
        car, session = new_session(assistant, r.get("vehicle_state"))
        t = time.perf_counter()
        turn = session.handle(r["dialogue"][0], car.t)
        done = time.perf_counter() - t
        g = assistant.last
        to_call.append(g.seconds * 1000)
        gen_s.append(g.seconds)
        new_tokens += g.new_tokens
        prompt_tokens += g.prompt_tokens
        if turn.frames:
            to_frame.append(done * 1000)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"cockpit assistant: {args.model} ({folder_size_mb(args.model):.1f} MB on disk), guidance "
          f"{'off' if args.no_guidance else 'on'}, {len(rows)} single-turn test-split utterances, load {load_s:.2f} s")
    print(f"{'metric':<44} {'p50':>9} {'p95':>9}")
    print(f"{'text -> tool call (model) ms':<44} {statistics.median(to_call):>9.1f} {pct(to_call, 95):>9.1f}")
    print(f"{'text -> CAN frame (model+guard+DBC) ms':<44} {statistics.median(to_frame):>9.1f} "
          f"{pct(to_frame, 95):>9.1f}   ({len(to_frame)} turns sent frames)")
    print(f"{'end of speech -> CAN frame ms':<44} skipped: the voice pipeline is not built yet")
    print(f"model tokens/s (generated tokens / decode time incl. prompt): {new_tokens / sum(gen_s):.0f} "
          f"({new_tokens / len(rows):.1f} generated, {prompt_tokens / len(rows):.1f} prompt tokens per turn)")
    print(f"peak memory (max RSS of this process): {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
