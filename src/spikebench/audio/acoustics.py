"""Where a word is spoken and how it is recorded: room, background noise, microphone, channel.

Each function takes and returns float64 waveforms [n_samples] at ``fs`` Hz; randomness
comes from the caller's ``numpy.random.Generator`` (or a seed), so results are
reproducible. In the order sound takes:

* **Room** (:func:`room_impulse_response`): Polack's statistical model of reverberation
  (Polack 1993, "Playing billiards in the concert hall", Appl. Acoust. 38): a direct path,
  then Gaussian noise under an exponential envelope that falls by 60 dB in ``rt60``
  seconds, starting after a short gap (the first reflections, 2-10 ms), with the band
  above 2 kHz decaying faster (``rt60 * 0.6``; walls and air absorb high frequencies).
  ``drr_db`` sets the direct-to-reverberant energy ratio (near talker: high). Living
  rooms and offices have RT60 of 0.2-0.6 s. Hand-written: a few lines of numpy, where an
  image-source simulator (pyroomacoustics) would cost seconds per room.
* **Background noise**: :func:`babble` (several other talkers at once, the hardest noise
  for recognisers, e.g. the NOISEX-92 "babble" condition) and stationary noise of random
  spectral slope (audiomentations' ``AddColorNoise``), mixed at a signal-to-noise ratio
  by :func:`add_at_snr`.
* **Microphone** (:func:`microphone`, audiomentations): a random seven-band equaliser
  (+-6 dB: the frequency response of cheap microphones), a high-pass (rumble filters,
  50-250 Hz) and rarely soft clipping (an over-driven input); plus a self-noise floor.
* **Channel** (:func:`narrowband`, :func:`telephone`): 8 kHz sampling (energy only below
  4 kHz, as in telephone-quality and many embedded recordings) and the telephone band
  (300-3400 Hz, ITU-T G.712) with G.711 mu-law 8-bit coding.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

__all__ = ["add_at_snr", "babble", "colored_noise", "microphone", "narrowband", "reverberate", "room_impulse_response", "telephone"]


def room_impulse_response(rng: np.random.Generator, fs: int, rt60: float, drr_db: float) -> np.ndarray:
    """An impulse response [n] for a room of reverberation time ``rt60`` s (see above)."""
    n = max(int(rt60 * fs), 2)
    t = np.arange(n) / fs
    gap = int(rng.uniform(0.002, 0.010) * fs)
    low = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60)
    high = rng.standard_normal(n) * 10.0 ** (-3.0 * t / (0.6 * rt60))
    sos = scipy.signal.butter(2, 2000.0, fs=fs, output="sos")
    tail = scipy.signal.sosfilt(sos, low) + (high - scipy.signal.sosfilt(sos, high))
    tail[:gap] = 0.0
    tail *= np.sqrt(10.0 ** (-drr_db / 10.0) / max(np.sum(tail**2), 1e-12))
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``x`` convolved with ``rir``, cut to the length of ``x`` (the tail runs into the clip's end)."""
    return scipy.signal.fftconvolve(x, rir)[: x.size]


def add_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x + noise`` with the noise scaled to ``snr_db`` below ``x`` (mean power over the clip)."""
    p_x, p_n = np.mean(x**2), np.mean(noise**2)
    if p_n <= 0.0 or p_x <= 0.0:
        return x
    return x + noise * np.sqrt(p_x / p_n / 10.0 ** (snr_db / 10.0))


def babble(rng: np.random.Generator, talkers: list[np.ndarray], n: int, n_voices: int) -> np.ndarray:
    """``n_voices`` talkers drawn from ``talkers`` (long waveforms), each from a random
    point, looped to ``n`` samples and brought to equal power, summed."""
    out = np.zeros(n)
    for k in rng.choice(len(talkers), size=n_voices, replace=n_voices > len(talkers)):
        src = talkers[int(k)]
        start = int(rng.integers(src.size))
        seg = np.resize(np.roll(src, -start), n)
        out += seg / np.sqrt(max(np.mean(seg**2), 1e-12))
    return out


def colored_noise(seed: int, x: np.ndarray, fs: int, snr_db: float) -> np.ndarray:
    """``x`` plus stationary noise of random spectral slope (-6..+6 dB per octave) at ``snr_db``."""
    import random

    from audiomentations import AddColorNoise

    np.random.seed(seed)
    random.seed(seed)
    aug = AddColorNoise(min_snr_db=snr_db, max_snr_db=snr_db, p=1.0)
    return aug(samples=x.astype(np.float32), sample_rate=fs).astype(np.float64)


def microphone(seed: int, x: np.ndarray, fs: int, p_clip: float = 0.05) -> np.ndarray:
    """A random microphone response: equaliser, high-pass and (with ``p_clip``) soft clipping."""
    import random

    from audiomentations import Compose, HighPassFilter, SevenBandParametricEQ, TanhDistortion

    np.random.seed(seed)
    random.seed(seed)
    chain = Compose([
        SevenBandParametricEQ(min_gain_db=-6.0, max_gain_db=6.0, p=0.8),
        HighPassFilter(min_cutoff_freq=50.0, max_cutoff_freq=250.0, p=0.5),
        TanhDistortion(min_distortion=0.05, max_distortion=0.4, p=p_clip),
    ])  # fmt: skip
    peak = max(float(np.abs(x).max()), 1e-12)
    y = chain(samples=(0.5 * x / peak).astype(np.float32), sample_rate=fs)
    return y.astype(np.float64)


def narrowband(x: np.ndarray, fs: int) -> np.ndarray:
    """``x`` sampled at 8 kHz (anti-alias filtered) and brought back to ``fs``."""
    if fs <= 8000:
        return x
    g = np.gcd(fs, 8000)
    low = scipy.signal.resample_poly(x, 8000 // g, fs // g)
    return scipy.signal.resample_poly(low, fs // g, 8000 // g)[: x.size]


def telephone(x: np.ndarray, fs: int) -> np.ndarray:
    """``x`` through a telephone channel: 300-3400 Hz band, 8 kHz, G.711 mu-law (8 bits)."""
    g = np.gcd(fs, 8000)
    y = scipy.signal.resample_poly(x, 8000 // g, fs // g)
    y = scipy.signal.sosfilt(scipy.signal.butter(4, [300.0, 3400.0], btype="band", fs=8000, output="sos"), y)
    y = y / max(float(np.abs(y).max()), 1e-12) * 0.7
    mu = 255.0
    code = np.round(np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu) * 127.0) / 127.0
    y = np.sign(code) * ((1.0 + mu) ** np.abs(code) - 1.0) / mu
    return scipy.signal.resample_poly(y, fs // g, 8000 // g)[: x.size]
