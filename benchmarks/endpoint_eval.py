"""Endpointing study: how long the voice pipeline waits after the last word, and what waiting less costs.

    python benchmarks/endpoint_eval.py [--split test] [--turns 300] [--seed 11] [--snr 10] [--pause-ms 350] [--json]

Each user turn of `--turns` corpus turns (`--split`; tune on train, report on test) is spoken by espeak-ng (the
voice and speaker profile of `cockpit eval --speech`), optionally mixed with cabin noise at `--snr` dB, and
streamed frame by frame through VAD + recogniser with each endpointing policy: the VAD's fixed hangover of 300 ms
(the previous default) and of 210 ms, and semantic endpointing (`cockpit/voice/endpoint.py`, defaults; and
without its noise branch, i.e. ending finished requests after 210 ms in cabin noise too). Per
policy: how many turns were cut into more than one utterance (a pause mid-sentence taken for the end), the
silence waited after the last word (p50/p95/mean, the part of end-of-speech -> CAN latency the endpointer
decides), and the word error rate of the streamed transcripts (ending sooner gives the recogniser less trailing
silence). `--pause-ms`: a hesitation inside every turn of more than one word (espeak-ng pauses only at commas,
and briefly): the turn is cut at a seeded random word boundary, both halves are spoken and trimmed of espeak-ng's
own edge silence, and this much silence is put between them. The last line is one JSON object with every number.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cockpit.corpus import generate  # noqa: E402
from cockpit.model.train import asr_style  # noqa: E402
from cockpit.voice.asr import PocketSphinxASR  # noqa: E402
from cockpit.voice.endpoint import EndpointConfig  # noqa: E402
from cockpit.voice.noise import mix_at_snr  # noqa: E402
from cockpit.voice.pipeline import VoicePipeline  # noqa: E402
from cockpit.voice.speech_eval import word_errors  # noqa: E402
from cockpit.voice.tts import spoken_clip, synthesize, trim_silence  # noqa: E402
from cockpit.voice.vad import VadConfig, frames_of  # noqa: E402


class _Listener:
    """Stands in for the cockpit session: this study stops at the transcript."""

    def handle(self, text: str, now: float):
        return None


def policies() -> dict[str, tuple[VadConfig, EndpointConfig | None]]:
    return {"fixed 300 ms": (VadConfig(end_silence_ms=300), None),
            "fixed 210 ms": (VadConfig(end_silence_ms=210), None),
            "semantic": (VadConfig(end_silence_ms=300), EndpointConfig()),
            "semantic, no noise branch": (VadConfig(end_silence_ms=300), EndpointConfig(min_snr_db=float("-inf")))}


def hesitant_clip(text: str, pause_ms: int, seed: int) -> np.ndarray:
    """`text` with a pause of `pause_ms` at a random word boundary (seeded), 0.6 s of silence either side."""
    words = text.split()
    pad = np.zeros(int(0.6 * 16000), dtype=np.int16)
    if len(words) < 2:
        return np.concatenate([pad, trim_silence(synthesize(text)), pad])
    cut = random.Random(seed).randrange(1, len(words))
    gap = np.zeros(int(pause_ms * 16), dtype=np.int16)
    first, rest = (trim_silence(synthesize(" ".join(part))) for part in (words[:cut], words[cut:]))
    return np.concatenate([pad, first, gap, rest, pad])


def run(turns: list[str], snr: float | None, asr, pause_ms: int | None = None) -> dict[str, dict]:
    out = {}
    clips = []
    for j, t in enumerate(turns):
        clip = spoken_clip(t, pad_s=0.6) if pause_ms is None else hesitant_clip(t, pause_ms, seed=j)
        if snr is not None:
            clip = mix_at_snr(clip, snr, seed=zlib.crc32(f"endpoint/{j}".encode()))
        clips.append(clip)
    for name, (vad, endpoint) in policies().items():
        waited, split, errors, words = [], 0, 0, 0
        for t, clip in zip(turns, clips):
            pipe = VoicePipeline(asr, _Listener(), vad=vad, endpoint=endpoint)
            heard = list(pipe.stream(frames_of(clip)))
            split += len(heard) > 1
            if heard:
                waited.append(heard[-1].waited_ms)
            e, n = word_errors(asr_style(t), " ".join(h.text for h in heard))
            errors, words = errors + e, words + n
        w = np.array(waited)
        out[name] = {"turns": len(turns), "split_turns": split, "heard_turns": len(waited),
                     "waited_ms_p50": float(np.percentile(w, 50)), "waited_ms_p95": float(np.percentile(w, 95)),
                     "waited_ms_mean": float(w.mean()), "waited_ms_max": float(w.max()),
                     "share_ended_at_min": float(np.mean(w <= w.min() + 1e-6)),
                     "word_error_rate": errors / max(words, 1)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="test", choices=("train", "test"))
    ap.add_argument("--turns", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--snr", type=float, default=None, help="mix cabin noise at this SNR (dB)")
    ap.add_argument("--pause-ms", type=int, default=None, help="a hesitation of this length inside every turn")
    ap.add_argument("--json", action="store_true", help="only the JSON line")
    args = ap.parse_args()
    turns = [t for r in generate(args.split, args.turns, seed=args.seed) for t in r["dialogue"]][:args.turns]
    res = run(turns, args.snr, PocketSphinxASR(profile="espeak-ng"), args.pause_ms)
    if not args.json:
        print(f"{len(turns)} {args.split}-split turns (seed {args.seed}), espeak-ng, "
              f"{'clean' if args.snr is None else f'{args.snr:g} dB cabin noise'}"
              f"{'' if args.pause_ms is None else f', a {args.pause_ms} ms pause inside each turn'}")
        print(f"{'policy':<16} {'split turns':>11} {'wait p50':>9} {'wait p95':>9} {'mean':>7} {'max':>6} {'WER':>7}")
        for name, r in res.items():
            print(f"{name:<16} {r['split_turns']:>11} {r['waited_ms_p50']:>9.0f} {r['waited_ms_p95']:>9.0f} "
                  f"{r['waited_ms_mean']:>7.1f} {r['waited_ms_max']:>6.0f} {r['word_error_rate']:>7.3f}")
    print(json.dumps({"split": args.split, "turns": len(turns), "seed": args.seed, "snr_db": args.snr,
                      "pause_ms": args.pause_ms, "endpoint": EndpointConfig().__dict__, "policies": res}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
