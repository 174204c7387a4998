"""Training data as the recogniser hears it: train-split cases spoken by espeak-ng (some with cabin noise) and
transcribed by the shipped recogniser (with the espeak-ng speaker profile by default: the speech is espeak-ng's, as
in `eval --speech`), so the model learns to map "heat my seat on hi" to the call meant.

`edgepilot cockpit speech-data --cases N --out FILE` writes one JSON line per case: the case (with its answers)
and `heard`, the transcript of every turn. Seeded (case generation, voice choice, noise), parallel over worker
processes, and resumable: cases already in FILE are skipped.
"""
from __future__ import annotations

import json
import random
import zlib
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..corpus import generate

VOICES = ("en-us+f5", "en-us+f2", "en-us+f5", "en-us+m2", "en-us+klatt3")
SNRS = (None, None, 20.0, 10.0)
_ASR = None
_PROFILE: str | None = None


def _init(profile: str | None) -> None:
    global _PROFILE
    _PROFILE = profile


def _hear(row: dict[str, Any]) -> dict[str, Any]:
    global _ASR
    from .asr import PocketSphinxASR
    from .noise import mix_at_snr
    from .tts import spoken_clip

    if _ASR is None:
        _ASR = PocketSphinxASR(profile=_PROFILE)
    rng = random.Random(row["id"])
    voice, snr = rng.choice(VOICES), rng.choice(SNRS)
    heard = []
    for j, text in enumerate(row["dialogue"]):
        clip = spoken_clip(text, voice)
        if snr is not None:
            clip = mix_at_snr(clip, snr, seed=zlib.crc32(f"{row['id']}/{j}".encode()))
        heard.append(_ASR.transcribe(clip).text)
    return {**row, "heard": heard, "voice": voice, "snr_db": snr}


def build(out: str | Path, cases: int, seed: int = 7, workers: int = 2,
          profile: str | None = "espeak-ng") -> dict[str, int]:
    out = Path(out)
    done = set()
    if out.is_file():
        done = {json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines() if line.strip()}
    rows = [r for r in generate("train", cases, seed=seed) if r["id"] not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh, get_context("spawn").Pool(workers, _init, (profile,)) as pool:
        for r in pool.imap(_hear, rows, chunksize=8):
            fh.write(json.dumps(r) + "\n")
            fh.flush()
    return {"new": len(rows), "total": len(done) + len(rows)}


def config_path(path: str | Path) -> Path:
    """A training config's `speech_file`: absolute, or relative to the cockpit package (`data/heard_....jsonl`)."""
    path = Path(path)
    return path if path.is_absolute() else Path(__file__).resolve().parents[1] / path


def load(path: str | Path) -> list[dict[str, Any]]:
    """The rows with `dialogue` replaced by what was heard (empty transcripts dropped: nothing to learn)."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        r = json.loads(line)
        if "heard" not in r or len(r["heard"]) != len(r["dialogue"]):
            raise ValueError(f"{path}:{n}: expected `heard` with one transcript per turn")
        if all(h.strip() for h in r["heard"]):
            out.append({**r, "dialogue": r["heard"]})
    return out
