"""Voice activity detection: where utterances start and end in a stream of 30 ms frames (`webrtcvad`, gated by
the frame's signal-to-noise ratio against a tracked noise floor).

Why a hangover: people pause inside a sentence; an utterance ends only after `end_silence_ms` of non-speech
(the endpointing delay a live system adds after the last word), and starts after `start_ms` of speech so a click
does not open one. `Vad.push(frame)` is the streaming form (the recogniser is fed while the driver speaks);
`segments()` collects whole utterances.

Why the noise gate: webrtcvad calls steady car-cabin noise speech. At 10 dB SNR of the simulated cabin noise not one
of 60 utterances ever ended (the stream ran to its end with the utterance open), so a hands-free assistant on the
motorway would never stop listening. `NoiseFloor` tracks each band's noise power as the minimum of the smoothed
power over the last `noise_window_ms` (minimum statistics: speech has gaps, steady noise has none), and a frame is
speech only if webrtcvad says so and its best bands stand `snr_db` above that floor. Measured on 60 train-split
turns (`benchmarks/vad_noise_eval.py`: espeak-ng, cabin noise): turns heard as one closed utterance clean 60/60
(webrtcvad alone 60/60), 20 dB 59/60 (0/60), 10 dB 58/60 (0/60), 5 dB 54/60 (0/60).
"""
from __future__ import annotations

import collections
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
    closed_s: float | None = None   # stream time the end was decided (end_s + the silence waited)


@dataclass
class VadConfig:
    aggressiveness: int = 2
    start_ms: int = 90
    end_silence_ms: int = 300
    pad_ms: int = 150
    snr_db: float | None = 6.0       # noise gate: the best bands' SNR a speech frame needs; None: webrtcvad alone
    noise_window_ms: int = 3000      # minimum-statistics window of the noise floor

    def __post_init__(self) -> None:
        if not 0 <= self.aggressiveness <= 3:
            raise ValueError(f"VadConfig.aggressiveness must be 0..3, got {self.aggressiveness}")
        if self.noise_window_ms < 300:
            raise ValueError(f"VadConfig.noise_window_ms must be >= 300 (a noise floor needs time), got "
                             f"{self.noise_window_ms}")


class NoiseFloor:
    """Per-band noise power by minimum statistics, and each frame's SNR against it (dB, mean of the best
    `top` of `bands` log-spaced bands over 200-4000 Hz, where speech is and road rumble mostly is not)."""

    FFT = 512
    SMOOTH = 0.6        # recursive smoothing of the band powers before the minimum is taken
    BIAS = 1.5          # the minimum of a smoothed power underestimates the mean noise power
    FLOOR = 100.0       # absolute power floor: digital silence is not "infinitely" above its noise

    def __init__(self, window_frames: int, bands: int = 12, top: int = 3) -> None:
        f = np.fft.rfftfreq(self.FFT, 1 / SAMPLE_RATE)
        edges = np.geomspace(200.0, 4000.0, bands + 1)
        self._bands = [np.nonzero((f >= a) & (f < b))[0] for a, b in zip(edges[:-1], edges[1:])]
        self._window = np.hanning(FRAME)
        self._history: collections.deque[np.ndarray] = collections.deque(maxlen=window_frames)
        self._smoothed: np.ndarray | None = None
        self.top = top

    def snr_db(self, frame: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(np.asarray(frame, dtype=np.float32) * self._window, self.FFT)) ** 2
        power = np.array([spec[b].mean() for b in self._bands]) + self.FLOOR
        self._smoothed = power if self._smoothed is None else \
            self.SMOOTH * self._smoothed + (1 - self.SMOOTH) * power
        self._history.append(self._smoothed)
        noise = np.min(np.stack(self._history), axis=0) * self.BIAS
        return float(np.sort(10 * np.log10(power / noise))[-self.top:].mean())


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
        self._noise = None if self.cfg.snr_db is None else NoiseFloor(self.cfg.noise_window_ms // FRAME_MS)
        self._need_start = max(1, self.cfg.start_ms // FRAME_MS)
        self._need_end = max(1, self.cfg.end_silence_ms // FRAME_MS)
        self._pad = self.cfg.pad_ms // FRAME_MS
        self._history: list[np.ndarray] = []
        self._current: list[np.ndarray] | None = None
        self._voiced = self._silent = 0
        self._start_i = self._last_voiced_i = 0
        self._i = -1
        self._snrs: list[float] = []

    @property
    def in_speech(self) -> bool:
        return self._current is not None

    @property
    def speech_snr_db(self) -> float | None:
        """Median SNR of the open utterance's speech frames over the noise floor (None: no gate or no frames):
        about 77 dB for clean speech, 27 at 20 dB of cabin noise, 18 at 10 dB."""
        return float(np.median(self._snrs)) if self._snrs and self._current is not None else None

    @property
    def now_s(self) -> float:
        """Stream time at the end of the last frame pushed."""
        return (self._i + 1) * FRAME_MS / 1000

    @property
    def silence_ms(self) -> int:
        """Silence since the last voiced frame of the open utterance (0 outside one)."""
        return self._silent * FRAME_MS if self._current is not None else 0

    def push(self, frame: np.ndarray) -> VadEvent | None:
        self._i += 1
        i = self._i
        speech = self._vad.is_speech(np.asarray(frame, dtype=np.int16).tobytes(), SAMPLE_RATE)
        snr = None
        if self._noise is not None:             # the floor is tracked on every frame, speech or not
            snr = self._noise.snr_db(frame)
            speech = snr >= self.cfg.snr_db and speech
        if self._current is None:
            self._history = (self._history + [frame])[-(self._pad + self._need_start):]
            self._voiced = self._voiced + 1 if speech else 0
            if self._voiced < self._need_start:
                return None
            self._current, self._start_i, self._last_voiced_i, self._silent = list(self._history), \
                i - self._need_start + 1, i, 0
            self._snrs = []
            return VadEvent("start", list(self._history))
        self._current.append(frame)
        if speech:
            self._last_voiced_i, self._silent = i, 0
            if snr is not None:
                self._snrs.append(snr)
            return VadEvent("audio", [frame])
        self._silent += 1
        if self._silent < self._need_end:
            return VadEvent("audio", [frame])
        return self._close(keep_silence=min(self._pad, self._silent))

    def end_now(self) -> VadEvent:
        """Close the open utterance at this frame (an endpointer decided it has ended before `end_silence_ms`)."""
        if self._current is None:
            raise RuntimeError("Vad.end_now: no utterance is open")
        return self._close(keep_silence=min(self._pad, self._silent))

    def flush(self) -> VadEvent | None:
        """End of the stream: close an utterance still open."""
        return self._close(keep_silence=self._silent) if self._current is not None else None

    def _close(self, keep_silence: int) -> VadEvent:
        fs = FRAME_MS / 1000
        cur = self._current
        keep = len(cur) - self._silent + keep_silence
        seg = Segment(max(0, self._start_i - self._pad) * fs, (self._last_voiced_i + 1) * fs,
                      np.concatenate(cur[:keep]), (self._i + 1) * fs)
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
