"""Voice activity detection: where utterances start and end in a stream of 30 ms frames (`webrtcvad`).

Why a hangover: people pause inside a sentence; an utterance ends only after `end_silence_ms` of non-speech
(the endpointing delay a live system adds after the last word), and starts after `start_ms` of speech so a click
does not open one. `Vad.push(frame)` is the streaming form (the recogniser is fed while the driver speaks);
`segments()` collects whole utterances.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from .audio import FRAME_MS, SAMPLE_RATE

FRAME = SAMPLE_RATE * FRAME_MS // 1000


@dataclass
class Segment:
    start_s: float          # first voiced frame (minus padding)
    end_s: float            # end of the last voiced frame: the end of speech
    samples: np.ndarray     # the utterance with `pad_ms` of context either side


@dataclass
class VadConfig:
    aggressiveness: int = 2
    start_ms: int = 90
    end_silence_ms: int = 300
    pad_ms: int = 150

    def __post_init__(self) -> None:
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError(f"VadConfig.aggressiveness must be 0..3, got {self.aggressiveness}")


@dataclass
class VadEvent:
    kind: str                                # "start" | "audio" | "end"
    frames: list[np.ndarray] = field(default_factory=list)   # audio belonging to the utterance, in order
    segment: Segment | None = None           # with "end"


def frames_of(samples: np.ndarray) -> Iterator[np.ndarray]:
    for i in range(0, len(samples) - FRAME + 1, FRAME):
        yield samples[i:i + FRAME]


class Vad:
    """Streaming endpointer: `push(frame)` returns None (silence) or an event of the current utterance."""

    def __init__(self, cfg: VadConfig | None = None) -> None:
        import webrtcvad

        self.cfg = cfg or VadConfig()
        self._vad = webrtcvad.Vad(self.cfg.aggressiveness)
        self._need_start = max(1, self.cfg.start_ms // FRAME_MS)
        self._need_end = max(1, self.cfg.end_silence_ms // FRAME_MS)
        self._pad = self.cfg.pad_ms // FRAME_MS
        self._history: list[np.ndarray] = []
        self._current: list[np.ndarray] | None = None
        self._voiced = self._silent = 0
        self._start_i = self._last_voiced_i = 0
        self._i = -1

    @property
    def in_speech(self) -> bool:
        return self._current is not None

    def push(self, frame: np.ndarray) -> VadEvent | None:
        self._i += 1
        i = self._i
        speech = self._vad.is_speech(np.asarray(frame, dtype=np.int16).tobytes(), SAMPLE_RATE)
        if self._current is None:
            self._history = (self._history + [frame])[-(self._pad + self._need_start):]
            self._voiced = self._voiced + 1 if speech else 0
            if self._voiced < self._need_start:
                return None
            self._current, self._start_i, self._last_voiced_i, self._silent = list(self._history), \
                i - self._need_start + 1, i, 0
            return VadEvent("start", list(self._history))
        self._current.append(frame)
        if speech:
            self._last_voiced_i, self._silent = i, 0
            return VadEvent("audio", [frame])
        self._silent += 1
        if self._silent < self._need_end:
            return VadEvent("audio", [frame])
        return self._close(keep_silence=min(self._pad, self._silent))

    def flush(self) -> VadEvent | None:
        """End of the stream: close an utterance still open."""
        return self._close(keep_silence=self._silent) if self._current is not None else None

    def _close(self, keep_silence: int) -> VadEvent:
        fs = FRAME_MS / 1000
        cur = self._current
        keep = len(cur) - self._silent + keep_silence
        seg = Segment(max(0, self._start_i - self._pad) * fs, (self._last_voiced_i + 1) * fs, np.concatenate(cur[:keep]))
        self._current, self._history, self._voiced = None, [], 0
        return VadEvent("end", [], seg)


def segments(frames: Iterable[np.ndarray], cfg: VadConfig | None = None) -> Iterator[Segment]:
    """Whole utterances of a frame stream (a file's frames or the microphone's), yielded as each ends."""
    vad = Vad(cfg)
    for frame in frames:
        ev = vad.push(frame)
        if ev is not None and ev.kind == "end":
            yield ev.segment
    ev = vad.flush()
    if ev is not None:
        yield ev.segment
