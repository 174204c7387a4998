"""`cockpit eval --speech`: every user turn of a case is spoken by espeak-ng (optionally mixed with cabin noise at
an SNR), recognised, and the recognised text goes to the same session as in the text evaluation.

Seeds: the noise of case i, turn j uses seed hash(case id, j), so a run is repeatable. Per turn the recognised
text is kept, and the word error rate of the recogniser over all turns is reported next to the accuracy.
"""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from ..evaluation import Case, TurnResult
from ..model.train import asr_style
from ..runner import TURN_GAP_S, new_session
from .asr import PocketSphinxASR
from .noise import mix_at_snr
from .pipeline import VoicePipeline
from .tts import DEFAULT_VOICE, spoken_clip


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    r, h = ref.split(), hyp.split()
    prev = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        cur = [i] + [0] * len(h)
        for j in range(1, len(h) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
        prev = cur
    return prev[-1], len(r)


class SpeechRunner:
    def __init__(self, assistant, snr_db: float | None = None, voice: str | None = None, asr=None,
                 guard_config=None) -> None:
        self.assistant, self.snr_db, self.voice = assistant, snr_db, voice or DEFAULT_VOICE
        self.guard_config = guard_config
        self.asr = asr or PocketSphinxASR()
        self.errors = self.words = 0
        self.asr_ms: list[float] = []
        self.heard: list[dict[str, Any]] = []

    def run_case(self, case: Case) -> TurnResult:
        car, session = new_session(self.assistant, case.vehicle_state, guard_config=self.guard_config)
        pipe = VoicePipeline(self.asr, session)
        result = TurnResult(outcome="clarify", reply="I didn't hear anything.")
        for j, text in enumerate(case.dialogue):
            clip = spoken_clip(text, self.voice)
            if self.snr_db is not None:
                clip = mix_at_snr(clip, self.snr_db, seed=zlib.crc32(f"{case.id}/{j}".encode()))
            h = pipe.push_to_talk(clip, car.t)
            heard = h.text if h else ""
            e, n = word_errors(asr_style(text), heard)
            self.errors, self.words = self.errors + e, self.words + n
            self.heard.append({"id": case.id, "said": text, "heard": heard})
            if h is not None:
                self.asr_ms.append(h.asr_ms)
            if h is not None and h.turn is not None:
                result = h.turn.result
            else:   # nothing recognised: the driver hears "sorry?" - the turn ends in a clarify
                result = TurnResult(outcome="clarify", reply="Sorry, I didn't catch that.")
            car.advance(TURN_GAP_S)
        return result

    def heard_by_case(self) -> dict[str, list[str]]:
        """What the recogniser wrote for each turn, by case id (the eval attaches it to each failure: whether a
        miss is the recogniser's or the model's is then read off the output)."""
        out: dict[str, list[str]] = {}
        for h in self.heard:
            out.setdefault(h["id"], []).append(h["heard"])
        return out

    def summary(self) -> dict[str, Any]:
        profile = getattr(self.asr, "profile", None)
        return {"voice": self.voice, "snr_db": self.snr_db, "asr_profile": profile.name if profile else None,
                "word_error_rate": self.errors / max(self.words, 1),
                "asr_ms_p50": float(np.median(self.asr_ms)) if self.asr_ms else None}
