"""Cockpit assistant speed on this machine: text turn -> tool call -> CAN frame, model tokens/s, size, memory.

Why these rows: the driver notices the time from the end of speech to the car acting; the model's share of it is
the text -> tool call step (prompt, greedy decoding through onnxruntime-genai with the JSON-schema guidance, guard,
DBC encoding). Turns are unseen test-split phrasings from the corpus, each on a fresh simulated car.

Speech rows: test-split utterances spoken by espeak-ng are streamed frame by frame through the VAD into the
recogniser (fed while "the driver speaks"); the latency is from the end of the last word to the CAN frames: the
silence the endpointer waited (semantic endpointing, `cockpit/voice/endpoint.py`, or the VAD's fixed 300 ms
hangover: both run) + recogniser final pass + model + guard + DBC. By default the model's proposal for the
recogniser's partial hypothesis is computed during that silence (`VoicePipeline.prepare_ms`, 60 ms after the last
voiced frame) and used if the final hypothesis reads the same; a run with it off is printed too. That compute
must fit in the silence the endpointer waits anyway (at least 210 - 60 = 150 ms): the frames are timed as live
audio (one per 30 ms; processing that overruns a frame delays the following ones), and the delay of the frame at
which the end is decided is counted in the latency. The real-time factor shows the decoding keeps up with speech.

Run: python benchmarks/cockpit_bench.py [--model DIR] [--turns 200] [--speech-turns 40] [--no-guidance] [--no-intent] [--no-rerank]
     [--prompt-style chat] [--speech-snr 10]
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
from cockpit.voice.audio import FRAME_MS


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def speech_rows(assistant, rows, endpoint, snr_db: float | None = None, prepare_ms: int | None = 60) -> dict:
    """Stream each utterance (espeak-ng, cabin noise at `snr_db` if given) through VAD + recogniser + session;
    collect the latencies. `endpoint`: an EndpointConfig, or None for the VAD's fixed hangover."""
    import zlib

    from cockpit.voice.noise import mix_at_snr

    from cockpit.voice.asr import PocketSphinxASR
    from cockpit.voice.pipeline import VoicePipeline
    from cockpit.voice.tts import spoken_clip
    from cockpit.voice.vad import frames_of

    asr = PocketSphinxASR(profile="espeak-ng")       # the speaker profile of the voice that speaks the rows
    out = {"endpoint_to_frames": [], "last_word_to_frames": [], "waited": [], "finish": [], "rtf": 0.0,
           "utterances": 0, "turns": 0, "prepared": 0, "prepare_ms": [], "late": []}
    audio_s = decode_s = 0.0

    class Timed:                                # the recogniser, with the time spent feeding it
        def __getattr__(self, name):
            return getattr(asr, name)

        def feed(self, samples):
            nonlocal decode_s
            t = time.perf_counter()
            asr.feed(samples)
            decode_s += time.perf_counter() - t

    class Live:
        """The frames as a microphone delivers them, one per 30 ms: a frame whose processing (recogniser, endpointer,
        a proposal prepared in the silence) overruns its 30 ms delays the next ones. `backlog_s` is how late the
        frame being processed started: what a live decision at that frame is late by."""

        def __init__(self, frames):
            self.frames, self.backlog_s, self.last = iter(frames), 0.0, None

        def __iter__(self):
            return self

        def __next__(self):
            now = time.perf_counter()
            if self.last is not None:
                self.backlog_s = max(0.0, self.backlog_s + (now - self.last) - FRAME_MS / 1000)
            frame = next(self.frames)
            self.last = time.perf_counter()
            return frame

    for r in rows:
        car, session = new_session(assistant, r.get("vehicle_state"))
        pipe = VoicePipeline(Timed(), session, endpoint=endpoint, prepare_ms=prepare_ms)
        clip = spoken_clip(r["dialogue"][0], pad_s=0.6)     # trailing silence > the longest endpointing wait
        if snr_db is not None:
            clip = mix_at_snr(clip, snr_db, seed=zlib.crc32(r["id"].encode()))
        audio_s += len(clip) / 16000
        out["turns"] += 1
        live = Live(frames_of(clip))
        for h in pipe.stream(live, clock=lambda: car.t):
            late_ms = live.backlog_s * 1000         # the deciding frame's queueing delay
            out["utterances"] += 1
            decode_s += h.asr_ms / 1000
            out["finish"].append(h.asr_ms)
            out["waited"].append(h.waited_ms)
            if h.turn is not None and h.turn.frames:
                out["endpoint_to_frames"].append(late_ms + h.endpoint_to_frames_ms)
                out["last_word_to_frames"].append(h.waited_ms + late_ms + h.endpoint_to_frames_ms)
                out["late"].append(late_ms)
                out["prepared"] += h.prepared
                if h.prepare_ms:
                    out["prepare_ms"].append(h.prepare_ms)
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
    ap.add_argument("--no-rerank", action="store_true", help="without the product-of-experts rerank")
    ap.add_argument("--speech-snr", type=float, default=None, help="mix cabin noise at this SNR (dB) into the speech")
    args = ap.parse_args()
    t0 = time.perf_counter()
    assistant = GenAIAssistant(args.model, guidance=not args.no_guidance, prompt_style=args.prompt_style,
                               intent=None if args.no_intent else DEFAULT_INTENT, rerank=not args.no_rerank)
    load_s = time.perf_counter() - t0
    rows = [r for r in generate("test", args.turns * 2, seed=7) if len(r["dialogue"]) == 1][:args.turns]
    for r in rows[:5]:                                         # warm-up (first-call allocations)
        assistant.propose(r["dialogue"], None)
    to_call, to_frame, gen_s, prior_ms, new_tokens, prompt_tokens = [], [], [], [], 0, 0

    class Timed:                          # the assistant, with the time of its last proposal (prior, model, rerank)
        seconds = 0.0

        def __getattr__(self, name):
            return getattr(assistant, name)

        def propose(self, *a):
            t = time.perf_counter()
            out = assistant.propose(*a)
            self.seconds = time.perf_counter() - t
            return out

    timed = Timed()
    for r in rows:
        car, session = new_session(timed, r.get("vehicle_state"))
        t = time.perf_counter()
        turn = session.handle(r["dialogue"][0], car.t)
        done = time.perf_counter() - t
        g = assistant.last
        to_call.append(timed.seconds * 1000)
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
    print(f"{'text -> tool call (prior + model + rerank) ms':<44} {statistics.median(to_call):>9.1f} {pct(to_call, 95):>9.1f}")
    if assistant.intent is not None:
        print(f"{'  of which intent prior (encoder+heads) ms':<44} {statistics.median(prior_ms):>9.1f} "
              f"{pct(prior_ms, 95):>9.1f}   ({folder_size_mb(DEFAULT_INTENT):.1f} MB on disk)")
    print(f"{'text -> CAN frame (model+guard+DBC) ms':<44} {statistics.median(to_frame):>9.1f} "
          f"{pct(to_frame, 95):>9.1f}   ({len(to_frame)} turns sent frames)")
    from cockpit.voice.endpoint import EndpointConfig

    runs = [("semantic endpointing, proposal prepared in the silence", EndpointConfig(), 60),
            ("semantic endpointing, proposal after the end", EndpointConfig(), None),
            ("fixed 300 ms VAD hangover, proposal prepared", None, 60)]
    for name, endpoint, prepare in runs:
        speech = speech_rows(assistant, rows[:args.speech_turns], endpoint, args.speech_snr, prepare)
        if not speech["endpoint_to_frames"]:
            continue
        e, w, f = speech["last_word_to_frames"], speech["waited"], speech["finish"]
        print(f"{'end of speech (last word) -> CAN frame ms':<44} {statistics.median(e):>9.1f} {pct(e, 95):>9.1f}   "
              f"({name}{'' if args.speech_snr is None else f', {args.speech_snr:g} dB noise'}; {len(e)} of {speech['turns']} spoken turns sent frames, {speech['utterances']} "
              f"utterances heard)")
        print(f"{'  of which silence waited (endpointing) ms':<44} {statistics.median(w):>9.1f} {pct(w, 95):>9.1f}")
        d = speech["endpoint_to_frames"]
        print(f"{'  of which end decided -> CAN frame ms':<44} {statistics.median(d):>9.1f} {pct(d, 95):>9.1f}")
        late = speech["late"]
        print(f"{'    of which frames queued behind compute ms':<44} {statistics.median(late):>9.1f} "
              f"{pct(late, 95):>9.1f}   (live audio: 30 ms frames that took longer to process delay the decision)")
        print(f"{'    of which recogniser final pass ms':<44} {statistics.median(f):>9.1f} {pct(f, 95):>9.1f}")
        if prepare is not None and speech["prepare_ms"]:
            p = speech["prepare_ms"]
            print(f"{'  proposal computed during the silence ms':<44} {statistics.median(p):>9.1f} {pct(p, 95):>9.1f}"
                  f"   (ready and used at the end in {speech['prepared']} of {len(e)} turns)")
        print(f"recogniser real-time factor while streaming: {speech['rtf']:.2f} (decode time / audio time)")
    print(f"model tokens/s (generated tokens / decode time incl. prompt): {new_tokens / sum(gen_s):.0f} "
          f"({new_tokens / len(rows):.1f} generated, {prompt_tokens / len(rows):.1f} prompt tokens per turn)")
    print(f"peak memory (max RSS of this process): {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
