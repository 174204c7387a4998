"""Cockpit assistant speed on this machine: text turn -> tool call -> CAN frame, model tokens/s, size, memory.

Why these rows: the driver notices the time from the end of speech to the car acting; the model's share of it is
the text -> tool call step (prompt, greedy decoding through onnxruntime-genai with the JSON-schema guidance, guard,
DBC encoding). Turns are unseen test-split phrasings from the corpus, each on a fresh simulated car.

Speech rows: test-split utterances spoken by espeak-ng are streamed frame by frame through the VAD into the
recogniser (fed while "the driver speaks"); the latency is from the VAD's end of utterance to the CAN frames
(recogniser final pass + model + guard + DBC), and the real-time factor shows the decoding keeps up with speech.
The VAD's 300 ms end-of-speech hangover comes on top in a live car and is printed with them.

Run: python benchmarks/cockpit_bench.py [--model DIR] [--turns 200] [--speech-turns 40] [--no-guidance] [--no-intent]
     [--prompt-style chat]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time

from cockpit.corpus import generate
from cockpit.model.assistant import DEFAULT_MODEL, GenAIAssistant
from cockpit.model.export import folder_size_mb
from cockpit.model.intent import DEFAULT_INTENT
from cockpit.runner import new_session


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def speech_rows(assistant, rows) -> dict:
    """Stream each utterance (espeak-ng) through VAD + recogniser + session; collect the latencies."""

    from cockpit.voice.asr import PocketSphinxASR
    from cockpit.voice.pipeline import VoicePipeline
    from cockpit.voice.tts import spoken_clip
    from cockpit.voice.vad import frames_of

    asr = PocketSphinxASR(profile="espeak-ng")       # the speaker profile of the voice that speaks the rows
    out = {"endpoint_to_frames": [], "finish": [], "rtf": 0.0, "hangover_ms": 0}
    audio_s = decode_s = 0.0

    class Timed:                                # the recogniser, with the time spent feeding it
        def __getattr__(self, name):
            return getattr(asr, name)

        def feed(self, samples):
            nonlocal decode_s
            t = time.perf_counter()
            asr.feed(samples)
            decode_s += time.perf_counter() - t

    for r in rows:
        car, session = new_session(assistant, r.get("vehicle_state"))
        pipe = VoicePipeline(Timed(), session)
        out["hangover_ms"] = pipe.vad.end_silence_ms
        clip = spoken_clip(r["dialogue"][0], pad_s=0.5)     # trailing silence > the VAD hangover
        audio_s += len(clip) / 16000
        for h in pipe.stream(frames_of(clip), clock=lambda: car.t):
            decode_s += h.asr_ms / 1000
            out["finish"].append(h.asr_ms)
            if h.turn is not None and h.turn.frames:
                out["endpoint_to_frames"].append(h.endpoint_to_frames_ms)
    out["rtf"] = decode_s / max(audio_s, 1e-9)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--turns", type=int, default=200)
    ap.add_argument("--speech-turns", type=int, default=40)
    ap.add_argument("--no-guidance", action="store_true")
    ap.add_argument("--prompt-style", choices=("auto", "edgepilot", "chat"), default="auto")
    ap.add_argument("--no-intent", action="store_true", help="without the sentence-encoder intent prior")
    args = ap.parse_args()
    t0 = time.perf_counter()
    assistant = GenAIAssistant(args.model, guidance=not args.no_guidance, prompt_style=args.prompt_style,
                               intent=None if args.no_intent else DEFAULT_INTENT)
    load_s = time.perf_counter() - t0
    rows = [r for r in generate("test", args.turns * 2, seed=7) if len(r["dialogue"]) == 1][:args.turns]
    for r in rows[:5]:                                         # warm-up (first-call allocations)
        assistant.propose(r["dialogue"], None)
    to_call, to_frame, gen_s, prior_ms, new_tokens, prompt_tokens = [], [], [], [], 0, 0
    for r in rows:
        car, session = new_session(assistant, r.get("vehicle_state"))
        t = time.perf_counter()
        turn = session.handle(r["dialogue"][0], car.t)
        done = time.perf_counter() - t
        g = assistant.last
        to_call.append((g.seconds + assistant.last_prior_s) * 1000)
        prior_ms.append(assistant.last_prior_s * 1000)
        gen_s.append(g.seconds)
        new_tokens += g.new_tokens
        prompt_tokens += g.prompt_tokens
        if turn.frames:
            to_frame.append(done * 1000)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"cockpit assistant: {args.model} ({folder_size_mb(args.model):.1f} MB on disk), guidance "
          f"{'off' if args.no_guidance else 'on'}, {len(rows)} single-turn test-split utterances, load {load_s:.2f} s")
    print(f"{'metric':<44} {'p50':>9} {'p95':>9}")
    print(f"{'text -> tool call (prior + model) ms':<44} {statistics.median(to_call):>9.1f} {pct(to_call, 95):>9.1f}")
    if assistant.intent is not None:
        print(f"{'  of which intent prior (encoder+heads) ms':<44} {statistics.median(prior_ms):>9.1f} "
              f"{pct(prior_ms, 95):>9.1f}   ({folder_size_mb(DEFAULT_INTENT):.1f} MB on disk)")
    print(f"{'text -> CAN frame (model+guard+DBC) ms':<44} {statistics.median(to_frame):>9.1f} "
          f"{pct(to_frame, 95):>9.1f}   ({len(to_frame)} turns sent frames)")
    speech = speech_rows(assistant, rows[:args.speech_turns])
    if speech["endpoint_to_frames"]:
        e = speech["endpoint_to_frames"]
        print(f"{'end of utterance (VAD) -> CAN frame ms':<44} {statistics.median(e):>9.1f} {pct(e, 95):>9.1f}   "
              f"({len(e)} of {len(rows[:args.speech_turns])} spoken turns sent frames; + {speech['hangover_ms']} ms "
              f"VAD hangover after the last word)")
        f = speech["finish"]
        print(f"{'  of which recogniser final pass ms':<44} {statistics.median(f):>9.1f} {pct(f, 95):>9.1f}")
        print(f"recogniser real-time factor while streaming: {speech['rtf']:.2f} (decode time / audio time)")
    print(f"model tokens/s (generated tokens / decode time incl. prompt): {new_tokens / sum(gen_s):.0f} "
          f"({new_tokens / len(rows):.1f} generated, {prompt_tokens / len(rows):.1f} prompt tokens per turn)")
    print(f"peak memory (max RSS of this process): {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
