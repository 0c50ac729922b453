"""New speakers from recorded ones: vocal-tract length and pitch changed by the WORLD vocoder.

A waveform is analysed by WORLD (Morise, Yokomori & Ozawa 2016, "WORLD: a vocoder-based
high-quality speech synthesis system", IEICE Trans. E99-D(7); PyPI ``pyworld``, the
maintained wrapper) into a fundamental-frequency track ``f0`` [frames] (DIO refined by
StoneMask), a smooth spectral envelope ``sp`` [frames, bins] (CheapTrick) and an
aperiodicity ``ap`` [frames, bins] (D4C), one frame every ``FRAME_MS`` ms, then
re-synthesised with:

* **vocal-tract length** (VTLP, Jaitly & Hinton 2013, "Vocal tract length perturbation
  improves speech recognition", ICML workshop): the envelope and aperiodicity are read at
  warped frequencies, so formants move by ``warp`` (> 1: a shorter tract, higher
  formants). The warp is Jaitly & Hinton's piecewise-linear one: ``f' = warp * f`` below
  ``F_HI * min(warp, 1)``, then a straight line to the Nyquist frequency, which stays put.
  Adult vocal tracts differ by about +-15% in length (Fitch & Giedd 1999), hence the
  0.85-1.15 range used by the digits set.
* **pitch**: ``f0`` of voiced frames times ``2 ** (semitones / 12)``;
* **intonation range**: log ``f0`` pulled towards (``intonation`` < 1) or pushed away from
  (> 1) its utterance mean, as talkers differ in how much they vary their pitch.

Speaking rate is left to the speech engines (they lengthen vowels more than consonants,
as talkers do). Input and output: float [n_samples] at ``fs`` Hz, same length.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FRAME_MS", "transform", "warp_axis"]

FRAME_MS = 10.0
F_HI = 4800.0  # Hz, Jaitly & Hinton's boundary frequency


def warp_axis(n_bins: int, fs: int, warp: float) -> np.ndarray:
    """Source bin (fractional) of every output bin for VTLP by ``warp``, float [n_bins].

    The inverse of Jaitly & Hinton's warp ``f -> f'`` on the grid ``k * (fs / 2) / (n_bins - 1)``.
    """
    nyq = fs / 2.0
    f_out = np.linspace(0.0, nyq, n_bins)
    knee_out = F_HI * min(warp, 1.0)  # where the output's linear part ends
    knee_in = knee_out / warp
    f_in = np.where(
        f_out <= knee_out,
        f_out / warp,
        knee_in + (f_out - knee_out) * (nyq - knee_in) / (nyq - knee_out),
    )
    return f_in / nyq * (n_bins - 1)


def _read_at(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of every row of ``table`` [frames, bins] at bins ``pos``."""
    lo = np.clip(np.floor(pos).astype(np.int64), 0, table.shape[1] - 2)
    frac = np.clip(pos - lo, 0.0, 1.0)
    return table[:, lo] * (1.0 - frac) + table[:, lo + 1] * frac


def transform(
    wave: np.ndarray, fs: int, *, warp: float = 1.0, semitones: float = 0.0, intonation: float = 1.0
) -> np.ndarray:
    """Re-synthesise ``wave`` with formants moved by ``warp``, pitch by ``semitones`` and
    the intonation range scaled by ``intonation`` (see the module docstring)."""
    import pyworld

    x = np.ascontiguousarray(wave, dtype=np.float64)
    f0, t = pyworld.dio(x, fs, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, fs)
    sp = pyworld.cheaptrick(x, f0, t, fs)
    ap = pyworld.d4c(x, f0, t, fs)
    voiced = f0 > 0
    if voiced.any():
        log_f0 = np.log(f0[voiced])
        mean = log_f0.mean()
        f0 = f0.copy()
        f0[voiced] = np.exp(mean + (log_f0 - mean) * intonation) * 2.0 ** (semitones / 12.0)
    if warp != 1.0:
        pos = warp_axis(sp.shape[1], fs, warp)
        # interpolate the envelope in the log domain (it spans many decades)
        sp = np.exp(_read_at(np.log(np.maximum(sp, 1e-20)), pos))
        ap = np.clip(_read_at(ap, pos), 0.0, 1.0)
    y = pyworld.synthesize(f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), fs, FRAME_MS)
    out = np.zeros(x.size)
    n = min(x.size, y.size)
    out[:n] = y[:n]
    return out
