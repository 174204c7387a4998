"""Car-cabin noise and mixing at a given signal-to-noise ratio, for robustness tests of the voice pipeline.

The noise is synthetic and seeded (no recordings ship): road/tyre rumble (brown noise, most energy below 500 Hz),
engine harmonics at a random rpm, and wind hiss (band-limited white noise); the mix weights vary per seed.
"""
from __future__ import annotations

import numpy as np

from .audio import SAMPLE_RATE


def cabin_noise(n: int, seed: int) -> np.ndarray:
    """`n` float32 samples of cabin noise, unit RMS."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    t = np.arange(n) / SAMPLE_RATE
    brown = np.cumsum(rng.standard_normal(n))
    brown = sosfilt(butter(2, 20, "highpass", fs=SAMPLE_RATE, output="sos"), brown)
    rpm = rng.uniform(1500, 3500)
    f0 = rpm / 60 * 2                                  # four-stroke, four cylinders: 2nd engine order
    engine = sum(rng.uniform(0.3, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
                 for k in range(1, 6))
    wind = sosfilt(butter(4, [300, 4000], "bandpass", fs=SAMPLE_RATE, output="sos"), rng.standard_normal(n))
    parts = [brown, engine, wind]
    w = rng.uniform([0.5, 0.2, 0.2], [1.0, 0.6, 0.6])
    x = sum(wi * p / (np.sqrt(np.mean(p ** 2)) + 1e-12) for wi, p in zip(w, parts))
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def mix_at_snr(speech: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """Speech plus cabin noise scaled so that speech power / noise power = `snr_db` (speech power measured over the
    samples louder than 1 % of full scale, i.e. without the silence around the words)."""
    s = np.asarray(speech, dtype=np.float32)
    active = s[np.abs(s) > 327.0]
    p_speech = float(np.mean(active ** 2)) if active.size else float(np.mean(s ** 2))
    noise = cabin_noise(len(s), seed) * np.sqrt(p_speech / 10 ** (snr_db / 10))
    return np.clip(np.rint(s + noise), -32768, 32767).astype(np.int16)
