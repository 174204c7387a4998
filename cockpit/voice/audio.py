"""Audio in and out at the pipeline's format: 16 kHz, mono, 16-bit samples (numpy int16).

WAV files in other rates or with two channels are converted (channel mean, polyphase resampling); anything that
is not 16-bit PCM WAV is an error naming the file and what it is. The microphone (`sounddevice`, optional) yields
30 ms frames.
"""
from __future__ import annotations

import wave
from math import gcd
from pathlib import Path
from typing import Iterator

import numpy as np

SAMPLE_RATE = 16000
FRAME_MS = 30


class AudioError(ValueError):
    """Unreadable or unsupported audio; the message names the file and the format found."""


def to_pipeline_format(samples: np.ndarray, rate: int, channels: int = 1) -> np.ndarray:
    """int16 mono 16 kHz from int16 interleaved samples at any rate."""
    x = np.asarray(samples, dtype=np.int16)
    if channels > 1:
        x = x.reshape(-1, channels).astype(np.float32).mean(axis=1)
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly

        g = gcd(rate, SAMPLE_RATE)
        x = resample_poly(np.asarray(x, dtype=np.float32), SAMPLE_RATE // g, rate // g)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def read_wav(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        with wave.open(str(path), "rb") as w:
            width, rate, channels = w.getsampwidth(), w.getframerate(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{path}: not a PCM WAV file ({exc})") from None
    if width != 2:
        raise AudioError(f"{path}: {8 * width}-bit samples; expected 16-bit PCM (convert with "
                         f"`sox {path.name} -b 16 out.wav`)")
    return to_pipeline_format(np.frombuffer(raw, dtype="<i2"), rate, channels)


def write_wav(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype=np.int16).tobytes())
    return path


def microphone_frames(device: int | str | None = None) -> Iterator[np.ndarray]:
    """30 ms int16 frames from the default (or given) input device until the caller stops iterating."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise RuntimeError(f"the microphone needs the `sounddevice` package and PortAudio ({exc}); "
                           "`pip install sounddevice`, or give a WAV file") from None
    n = SAMPLE_RATE * FRAME_MS // 1000
    with sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=n, device=device) as stream:
        while True:
            block, _ = stream.read(n)
            yield block[:, 0].copy()
