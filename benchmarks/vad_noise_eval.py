"""Does the VAD find where each utterance ends in cabin noise? webrtcvad alone vs gated by the noise floor.

    python benchmarks/vad_noise_eval.py [--split train] [--turns 60] [--seed 11] [--snrs clean,20,10,5] [--json]

Each turn is spoken by espeak-ng with 1.5 s of silence either side, mixed with seeded cabin noise at each SNR
(`cockpit/voice/noise.py`) and streamed through the VAD (`cockpit/voice/vad.py`, 300 ms hangover). Per setting:
turns heard as exactly one utterance that closed before the stream ended (what a hands-free assistant needs),
utterances per turn, turns whose utterance never closed, and the error of the detected end of speech against the
last loud sample of the clean speech (p50, p95 of |error|). The last line is one JSON object with every number.
"""
from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cockpit.corpus import generate  # noqa: E402
from cockpit.voice.noise import mix_at_snr  # noqa: E402
from cockpit.voice.tts import spoken_clip  # noqa: E402
from cockpit.voice.vad import Vad, VadConfig, frames_of  # noqa: E402


def study(turns: list[str], snr: float | None, cfg: VadConfig) -> dict:
    one = never_closed = 0
    counts, end_err = [], []
    for j, t in enumerate(turns):
        clean = spoken_clip(t, pad_s=1.5)
        last_loud = np.nonzero(np.abs(clean) > 300)[0][-1] / 16000
        clip = clean if snr is None else mix_at_snr(clean, snr, seed=zlib.crc32(f"vad/{j}".encode()))
        vad, segs = Vad(cfg), []
        for f in frames_of(clip):
            ev = vad.push(f)
            if ev is not None and ev.kind == "end":
                segs.append(ev.segment)
        never_closed += vad.in_speech and not segs
        one += len(segs) == 1 and not vad.in_speech
        counts.append(len(segs) + vad.in_speech)
        if segs:
            end_err.append(segs[-1].end_s - last_loud)
    e = np.abs(np.array(end_err)) * 1000 if end_err else np.array([np.nan])
    return {"turns": len(turns), "one_closed_utterance": one, "utterances_per_turn": float(np.mean(counts)),
            "never_closed": int(never_closed), "end_error_ms_p50": float(np.median(np.array(end_err) * 1000))
            if end_err else None, "abs_end_error_ms_p95": float(np.percentile(e, 95))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="train", choices=("train", "test"))
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--snrs", default="clean,20,10,5", help="comma-separated SNRs in dB; 'clean' for no noise")
    ap.add_argument("--json", action="store_true", help="only the JSON line")
    args = ap.parse_args()
    snrs = [None if s == "clean" else float(s) for s in args.snrs.split(",")]
    turns = [t for r in generate(args.split, args.turns, seed=args.seed) for t in r["dialogue"]][:args.turns]
    settings = {"webrtcvad alone": VadConfig(snr_db=None), "noise-gated (default)": VadConfig()}
    res = {name: {("clean" if s is None else f"{s:g} dB"): study(turns, s, cfg) for s in snrs}
           for name, cfg in settings.items()}
    if not args.json:
        print(f"{len(turns)} {args.split}-split turns (seed {args.seed}), espeak-ng, "
              f"1.5 s of silence/noise either side")
        print(f"{'VAD':<22} {'noise':>7} {'one utt.':>9} {'utt/turn':>9} {'never closed':>13} {'end err p50':>12} "
              f"{'|err| p95':>10}")
        for name, by in res.items():
            for s, r in by.items():
                p50 = "-" if r["end_error_ms_p50"] is None else f"{r['end_error_ms_p50']:.0f} ms"
                print(f"{name:<22} {s:>7} {r['one_closed_utterance']:>6}/{r['turns']:<2} "
                      f"{r['utterances_per_turn']:>9.2f} "
                      f"{r['never_closed']:>13} {p50:>12} {r['abs_end_error_ms_p95']:>7.0f} ms")
    print(json.dumps({"split": args.split, "turns": len(turns), "seed": args.seed, "results": res}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
