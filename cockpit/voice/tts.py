"""Spoken replies with espeak-ng (Debian package `espeak-ng`): text -> 16 kHz int16 samples, a WAV file, or the
speaker. The default voice is the en-US variant the bundled recogniser understands best (measured: cockpit/DESIGN.md)."""
from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from .audio import to_pipeline_format

DEFAULT_VOICE = "en-us+f5"
DEFAULT_WPM = 150


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (Debian/Ubuntu: `apt-get install espeak-ng`)")
    return exe


def synthesize(text: str, voice: str = DEFAULT_VOICE, wpm: int = DEFAULT_WPM) -> np.ndarray:
    if not text.strip():
        raise ValueError("synthesize: empty text")
    proc = subprocess.run([_espeak(), "-v", voice, "-s", str(wpm), "--stdout", text], capture_output=True)
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {proc.stderr.decode(errors='replace')[-300:]}")
    with wave.open(io.BytesIO(proc.stdout)) as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
    return to_pipeline_format(np.frombuffer(raw, dtype="<i2"), rate)


def trim_silence(samples: np.ndarray, level: int = 300) -> np.ndarray:
    """`samples` from the first to the last sample louder than `level`: espeak-ng pads its speech with silence,
    and studies of pauses need them exact."""
    loud = np.nonzero(np.abs(samples) > level)[0]
    return samples[loud[0]:loud[-1] + 1] if len(loud) else samples


def spoken_clip(text: str, voice: str = DEFAULT_VOICE, pad_s: float = 0.3) -> np.ndarray:
    """`text` spoken with `pad_s` of silence either side: one press of the talk button."""
    pad = np.zeros(int(round(pad_s * 16000)), dtype=np.int16)
    return np.concatenate([pad, synthesize(text, voice), pad])


def play(samples: np.ndarray) -> None:
    """Play on the default output (sounddevice), or raise naming what is missing."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise RuntimeError(f"playing audio needs `sounddevice` and PortAudio ({exc}); use --reply-wav") from None
    sd.play(samples, 16000, blocking=True)
