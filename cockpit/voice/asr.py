"""Speech recognition behind one small interface, so a Whisper or Vosk model the user has on disk can replace the
bundled recogniser: `transcribe(samples) -> Transcript` on 16 kHz mono int16 audio.

The default is pocketsphinx with its bundled en-US acoustic model and the domain language model of `lm.py`
(shipped in `cockpit/voice/model/`, rebuilt by `edgepilot cockpit lm`), optionally with a speaker profile
(`adapt.py`) over the acoustic model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16000
LM_DIR = Path(__file__).resolve().parent / "model"


@dataclass
class Transcript:
    text: str
    seconds: float          # recognition time


class ASR(Protocol):
    def transcribe(self, samples: np.ndarray) -> Transcript:
        """16 kHz mono int16 samples of one utterance -> text (lower case, words)."""


class StreamingASR(ASR, Protocol):
    """Fed while the driver speaks, so that only the last step is left when the utterance ends."""

    def start(self) -> None: ...

    def feed(self, samples: np.ndarray) -> None: ...

    def finish(self) -> Transcript:
        """Text of everything fed since `start`; `seconds` is the time `finish` itself took."""

    def partial(self) -> str:
        """The best hypothesis so far, mid-utterance (what semantic endpointing reads, `endpoint.py`)."""


class PocketSphinxASR:
    """pocketsphinx decoding with the cockpit's trigram LM and dictionary. The flat-lexicon second pass is off:
    on test-split utterances it changed the word error rate by under a point (0.217 vs 0.222 streaming) but took
    the end-of-utterance step from 81 to 3 ms (p50)."""

    def __init__(self, lm_dir: str | Path = LM_DIR, profile: str | Path | None = None) -> None:
        """`profile`: a speaker profile (`adapt.py`: a shipped name such as "espeak-ng", or a folder) over the
        bundled acoustic model; None uses the bundled model as it is."""
        from pocketsphinx import Decoder

        from .adapt import resolve_profile

        lm_dir = Path(lm_dir)
        self.lm_path = lm_dir / "cockpit.lm"          # also read by the semantic endpointer
        self.profile = resolve_profile(profile)
        extra = {} if self.profile is None else {"mean": str(self.profile / "means"),
                                                 "var": str(self.profile / "variances")}
        for name in ("cockpit.lm", "cockpit.dict"):
            if not (lm_dir / name).is_file():
                raise FileNotFoundError(f"{lm_dir}: no {name} (build it with `edgepilot cockpit lm --out {lm_dir}`)")
        self.decoder = Decoder(lm=str(lm_dir / "cockpit.lm"), dict=str(lm_dir / "cockpit.dict"),
                               samprate=SAMPLE_RATE, loglevel="FATAL", fwdflat=False, **extra)

    @staticmethod
    def _check(samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(f"ASR input must be 1-D int16 samples at {SAMPLE_RATE} Hz, got {samples.dtype} "
                             f"{samples.shape}")
        return samples

    def transcribe(self, samples: np.ndarray) -> Transcript:
        """A whole utterance at once (batch cepstral normalisation over the utterance: the most accurate)."""
        samples = self._check(samples)
        t0 = time.perf_counter()
        d = self.decoder
        d.start_utt()
        d.process_raw(samples.tobytes(), full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        return Transcript(hyp.hypstr if hyp is not None else "", time.perf_counter() - t0)

    def start(self) -> None:
        self.decoder.start_utt()

    def feed(self, samples: np.ndarray) -> None:
        self.decoder.process_raw(self._check(samples).tobytes(), full_utt=False)

    def partial(self) -> str:
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def finish(self) -> Transcript:
        t0 = time.perf_counter()
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return Transcript(hyp.hypstr if hyp is not None else "", time.perf_counter() - t0)
