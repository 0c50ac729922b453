"""Waveform -> spikes: a fast re-implementation of the Lauscher cochlea chain.

The chain that made the Spiking Heidelberg Digits (Cramer et al. 2020, IEEE TNNLS,
arXiv:1910.07407), as coded in Lauscher 1.0.1 (PyPI ``lauscher``, ``Wave2Spike``); every
default in :class:`CochleaParams` is Lauscher's. A mono waveform sampled at ``fs`` Hz goes
through:

1. RMS normalisation to 0.3: absolute level is removed, only relative levels matter.
2. A Hann window over the whole clip (rising half on the first ``n // 2`` samples, falling
   half on the last).
3. The hydrodynamic basilar membrane of Sieroka, Dosch & Rupp (2006, JASA 120(1):297):
   the stimulus spectrum times a transfer function ``v(omega, x)`` on Lauscher's
   one-sided grid ``omega = 2 pi linspace(1, fs // 2, n // 2 + 1)``, back by an inverse
   FFT of that length (real part). The output has ``N = n // 2 + 1`` samples at
   ``fs' = fs // 2`` Hz; channel 0 is the base (about 22 kHz), 699 the apex (about 120 Hz).
4. The Meddis (1986, 1988) inner hair cell: three transmitter pools, forward Euler at
   ``fs'``; output = firing probability of one fibre per sample.
5. The bushy cell: 40 fibres with a 1 ms dead time feed one LIF cell (tau_mem 1 ms,
   tau_syn 0.5 ms, refractory 1 ms, weight 13000); its spikes are the SHD events.

Why hand-written, and how it is fast (Lauscher needs about a minute per clip):

* Step 3's transfer function depends only on the clip length and sample rate; it is
  computed once and cached in memory and on disk (complex64), and applied as the inverse
  *real* FFT of the Hermitian part of ``H * S`` (half the work). ``length_quantum`` pads
  the windowed clip with silence to a multiple of that many seconds, so clips of many
  lengths share a few transfer functions.
* Steps 4 and 5 are numba kernels over time-major arrays [N, C]. The hair cell is
  Lauscher's float64 arithmetic in Lauscher's order; the LIF is Lauscher's update.
* Step 5 draws per channel and sample only the *number* of fibres that fire:
  Binomial(fibres not in their dead time, p), which has exactly the distribution of
  Lauscher's 40 Bernoulli draws with dead-time deletion (tested against Lauscher's
  sampler), by inverse-CDF sampling from one counter-based SplitMix64 uniform (Steele,
  Lea & Flood 2014). Individual spikes differ from Lauscher's; their statistics do not.

Layouts: waveform float [n_samples]; velocity, probabilities and fibre counts [N, C];
result: flat events ``times`` (float32 s) and ``units`` (uint16, 0 = highest frequency),
sorted by time, then channel. Timings: ``docs/audio.md``.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np
import scipy.fft
from scipy import special

from spikebench.errors import DataError
from spikebench.fileio import atomic_path

__all__ = [
    "CochleaParams",
    "bm_transfer",
    "bushy_lif",
    "fibre_counts",
    "hair_cell",
    "membrane_velocity",
    "padded_length",
    "prepare_transfer",
    "preprocess",
    "waveform_to_spikes",
]


@dataclass(frozen=True)
class CochleaParams:
    """All parameters of the chain, with Lauscher 1.0.1's defaults (see the module docstring)."""

    n_channels: int = 700
    rms_level: float = 0.3
    # basilar membrane (Sieroka et al. 2006)
    bm_a: float = 3500.0
    bm_alpha: float = 3.0
    bm_rho: float = 1.0
    bm_c: float = 3.5
    bm_c0: float = 10e8
    bm_de: float = 0.15
    bm_h: float = 0.1
    bm_m: float = 0.05
    # inner hair cell (Meddis 1986, 1988)
    hc_y: float = 5.05
    hc_g: float = 2000.0
    hc_l: float = 2500.0
    hc_r: float = 6580.0
    hc_x: float = 66.3
    hc_a: float = 5.0
    hc_b: float = 300.0
    hc_h: float = 50000.0
    hc_m: float = 1.0
    # bushy cell
    n_fibres: int = 40
    tau_mem: float = 1e-3
    tau_syn: float = 5e-4
    tau_refrac: float = 1e-3
    weight: float = 13e3


DEFAULT_PARAMS = CochleaParams()


# ---------------------------------------------------------------------------------------
# 1-2: normalisation and window


def preprocess(wave: np.ndarray, params: CochleaParams = DEFAULT_PARAMS) -> np.ndarray:
    """RMS-normalise to ``params.rms_level`` and apply the whole-clip Hann window (float64).

    Raises DataError for an empty, silent or non-finite waveform.
    """
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1:
        raise DataError(f"waveform must be mono (one dimension), got shape {x.shape}")
    if x.size < 4:
        raise DataError(f"waveform is empty or too short ({x.size} samples)")
    if not np.all(np.isfinite(x)):
        raise DataError("waveform contains NaN or infinite samples")
    rms = float(np.sqrt(np.mean(x**2)))
    if rms == 0.0:
        raise DataError("waveform is silent (all samples are zero)")
    x = x * (params.rms_level / rms)
    half = x.size // 2
    ramp = np.hanning(2 * half)[:half]
    x[:half] *= ramp
    x[-half:] *= ramp[::-1]
    return x


# ---------------------------------------------------------------------------------------
# 3: basilar membrane


def _bm_velocity_transfer(omega: np.ndarray, ch: np.ndarray, p: CochleaParams) -> np.ndarray:
    """v(omega, x) of Sieroka et al. (2006) as Lauscher writes it; omega [1, N], ch [C, 1]."""
    a, alpha, rho, c0, h, m = p.bm_a, p.bm_alpha, p.bm_rho, p.bm_c0, p.bm_h, p.bm_m
    r = p.bm_de * np.sqrt(c0 * m)

    def xi(c):
        return (c0 * np.exp(-alpha * c) - a) - m * omega**2 - 1j * omega * (r * np.exp(-alpha * c / 2.0))

    def g(c):
        return omega * np.sqrt(rho / (h * xi(c)))

    def pressure(c):
        big_g = 2.0 * g(0.0) / alpha - 1 / (alpha * (np.sqrt(h * 2.0 * (m * omega**2 + a)))) * (
            2.0 * 1j * np.sqrt(2.0) * omega
            * (np.log(
                (-alpha * np.sqrt(-a + c0 - omega * (m * omega + 1j * r))
                 + 1j * alpha * (2.0 * a + omega * (2.0 * m * omega + 1j * r))
                 / (2.0 * np.sqrt(a + m * omega**2)))
                / (0.5 * alpha * np.exp(alpha * c / 2.0)
                   * (-2.0 * np.sqrt(-a + c0 * np.exp(-alpha * c) - m * omega**2
                                     - 1j * np.exp(-alpha * c / 2.0) * omega * r)
                      + 1j * (2.0 * a + omega * (2.0 * m * omega + 1j * np.exp(-alpha * c / 2.0) * r))
                      / np.sqrt(a + m * omega**2)))
            ))
        )  # fmt: skip
        return np.sqrt(big_g / g(c)) * special.hankel1(0, big_g)

    f = omega / (2.0 * np.pi)
    arg = 4.0 * np.pi * f / alpha * np.sqrt(2.0 / (h * c0))
    z = np.sqrt(2.0 * c0 / h) * (1j * special.j0(arg) + special.y0(arg)) / (
        special.j1(arg) - 1j * special.y1(arg)
    )
    return 2.0 * omega / xi(ch) * pressure(ch) * z / pressure(0.0)


_TABLE_CACHE: OrderedDict[tuple, np.ndarray] = OrderedDict()
_TABLE_LOCK = threading.Lock()
_TABLE_CACHE_SIZE = 4
_BLOCK_CHANNELS = 50


def bm_transfer(n_samples: int, sample_rate: int, params: CochleaParams = DEFAULT_PARAMS) -> np.ndarray:
    """The basilar-membrane velocity transfer function, complex128 [n_channels, n_samples // 2 + 1].

    Evaluated on Lauscher's grid ``omega = 2 pi linspace(1, sample_rate // 2, n_samples // 2 + 1)``
    in blocks of channels (bounded memory). Not cached: see :func:`_bm_tables`.
    """
    n_freq = n_samples // 2 + 1
    omega = (2 * np.pi * np.linspace(1, sample_rate // 2, n_freq))[None, :]
    ch = np.linspace(0, params.bm_c, params.n_channels)[:, None]
    table = np.empty((params.n_channels, n_freq), dtype=np.complex128)
    with np.errstate(all="ignore"):
        for start in range(0, params.n_channels, _BLOCK_CHANNELS):
            block = ch[start : start + _BLOCK_CHANNELS]
            table[start : start + len(block)] = _bm_velocity_transfer(omega, block, params)
    return table


def _table_file(cache_dir: Path, n_samples: int, sample_rate: int, params: CochleaParams) -> Path:
    text = repr((n_samples, sample_rate, sorted(asdict(params).items()), _TABLE_VERSION))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return cache_dir / f"bm_{sample_rate}Hz_{n_samples}_{digest}.npy"


_TABLE_VERSION = 2


def _bm_tables(
    n_samples: int, sample_rate: int, params: CochleaParams, cache_dir: str | os.PathLike[str] | None
) -> np.ndarray:
    """complex64 [2, C, K], K = N // 2 + 1, N = n_samples // 2 + 1: ``H / 2`` and its mirror.

    ``[0, c, k] = H[c, k] / 2`` and ``[1, c, k] = conj(H[c, (N - k) % N]) / 2``, so that the
    Hermitian part of ``H * S`` is ``[0] * S[k] + [1] * conj(S[(N - k) % N])`` (see
    :func:`membrane_velocity`). Cached in memory (the last few lengths) and, with
    ``cache_dir``, as ``.npy`` files there (written atomically, read memory-mapped).
    """
    key = (int(n_samples), int(sample_rate), params)
    with _TABLE_LOCK:
        hit = _TABLE_CACHE.get(key)
        if hit is not None:
            _TABLE_CACHE.move_to_end(key)
            return hit
    n_freq = n_samples // 2 + 1
    shape = (2, params.n_channels, n_freq // 2 + 1)
    path = _table_file(Path(cache_dir), *key) if cache_dir is not None else None
    tables = None
    if path is not None and path.exists():
        try:
            tables = np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            tables = None
        if tables is not None and (tables.shape != shape or tables.dtype != np.complex64):
            tables = None
    if tables is None:
        h = bm_transfer(n_samples, sample_rate, params)
        k = np.arange(shape[2])
        tables = np.empty(shape, dtype=np.complex64)
        tables[0] = 0.5 * h[:, k]
        tables[1] = 0.5 * np.conj(h[:, (-k) % n_freq])
        if path is not None:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, tables)
    with _TABLE_LOCK:
        _TABLE_CACHE[key] = tables
        while len(_TABLE_CACHE) > _TABLE_CACHE_SIZE:
            _TABLE_CACHE.popitem(last=False)
    return tables


def prepare_transfer(
    n_samples: int,
    sample_rate: int,
    params: CochleaParams = DEFAULT_PARAMS,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Compute (or load) the transfer function for this clip length now, e.g. before
    starting worker processes that will read it from ``cache_dir``."""
    _bm_tables(int(n_samples), int(sample_rate), params, cache_dir)


_JIT = dict(cache=True, nogil=True, error_model="numpy")  # numpy's float semantics let loops vectorise


@numba.njit(**_JIT)
def _hermitian(tables, spectrum):
    """Hermitian part of ``H * S`` on k = 0..K-1, complex64 [C, K] (see :func:`_bm_tables`)."""
    _, n_ch, n_k = tables.shape
    n_freq = spectrum.shape[0]
    s = spectrum[:n_k].astype(np.complex64)
    s_mirror = np.empty(n_k, dtype=np.complex64)
    for k in range(n_k):
        s_mirror[k] = np.conj(spectrum[(n_freq - k) % n_freq])
    out = np.empty((n_ch, n_k), dtype=np.complex64)
    for ch in range(n_ch):
        a = tables[0, ch]
        b = tables[1, ch]
        o = out[ch]
        for k in range(n_k):
            o[k] = a[k] * s[k] + b[k] * s_mirror[k]
    return out


def membrane_velocity(
    x: np.ndarray,
    sample_rate: int,
    params: CochleaParams = DEFAULT_PARAMS,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Basilar-membrane velocity, float32 [len(x) // 2 + 1, n_channels] (time-major) at ``sample_rate // 2`` Hz.

    ``x`` is the preprocessed clip (:func:`preprocess`). Lauscher computes
    ``Re(ifft_N(H * S))`` with ``S = fft(x)[:N]``; the real part of an inverse FFT equals the
    inverse real FFT of the Hermitian part ``(y_k + conj(y_{-k mod N})) / 2``, which needs
    only ``k <= N // 2``.
    """
    n = x.size
    n_freq = n // 2 + 1
    tables = _bm_tables(n, int(sample_rate), params, cache_dir)
    spectrum = np.fft.rfft(x)  # == fft(x)[:N] for real x
    velocity = scipy.fft.irfft(_hermitian(tables, spectrum), n=n_freq, axis=1)  # [C, N]
    return np.ascontiguousarray(velocity.T)  # [N, C]


# ---------------------------------------------------------------------------------------
# 4-5: hair cell, fibres and bushy cell; time-major, the inner loops run over channels


@numba.njit(**_JIT)
def _meddis(bm, fs, y, g, l, r, x, a, b, h, m):  # noqa: E741 (the model's names)
    """Meddis hair cell over velocity [N, C]; Lauscher's float64 arithmetic, in its order."""
    n_t, n_ch = bm.shape
    ymdt = y * m / fs
    xdt = x / fs
    ydt = y / fs
    rdt = r / fs
    gdt = g / fs
    hdt = h / fs
    lplusrdt = (l + r) / fs
    kt0 = g * a / (a + b)
    c0 = m * y * kt0 / (l * kt0 + y * (l + r))
    hair_q = np.full(n_ch, c0 * (l + r) / kt0)
    hair_c = np.full(n_ch, c0)
    hair_w = np.full(n_ch, c0 * r / x)
    out = np.empty((n_t, n_ch), dtype=np.float64)
    for t in range(n_t):
        u_row = bm[t]
        o_row = out[t]
        for ch in range(n_ch):
            ua = np.float64(u_row[ch]) + a
            kt = gdt * ua / (ua + b)
            kt = kt if ua > 0 else 0.0
            q = hair_q[ch]
            c = hair_c[ch]
            w = hair_w[ch]
            replenish = ymdt - ydt * q
            replenish = replenish if q < m else 0.0
            eject = kt * q
            reprocess = xdt * w
            new_q = q + replenish - eject + reprocess
            new_c = c + eject - lplusrdt * c
            new_w = w + rdt * c - reprocess
            hair_q[ch] = new_q if new_q > 0.0 else 0.0
            new_c = new_c if new_c > 0.0 else 0.0
            hair_c[ch] = new_c
            hair_w[ch] = new_w if new_w > 0.0 else 0.0
            o_row[ch] = new_c * hdt
    return out


@numba.njit(**_JIT, inline="always")
def _splitmix(z):
    """SplitMix64's output function (Steele, Lea & Flood 2014): a uint64 -> float64 in [0, 1).

    Applied to ``seed + i * golden`` it is the SplitMix64 stream, counter-based, so the
    draw of sample ``t``, channel ``c`` is a pure function of (seed, t, c).
    """
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(**_JIT)
def _fibre_counts(prob, n_fibres, dead, seed):
    """Fibre spike counts, uint8 [N, C]: Binomial(available fibres, p) per sample and channel.

    Inverse-CDF sampling, one uniform per cell. Per sample (row): a first, branch-free
    (vectorised) pass computes ``P(0) = (1 - p)^a`` by binary powers (``a < 256``) and the
    uniform; only the cells where a fibre fires (``u >= P(0)``, about a quarter at the
    spontaneous rate) walk the CDF further in a second pass; a third pass moves fibres into
    and out of their dead time (``ring`` holds the counts of the last ``dead`` samples).
    """
    n_t, n_ch = prob.shape
    ring = np.zeros((max(dead, 1), n_ch), dtype=np.uint8)
    n_dead = np.zeros(n_ch, dtype=np.int64)
    counts = np.empty((n_t, n_ch), dtype=np.uint8)
    u_row = np.empty(n_ch)
    f_row = np.empty(n_ch)
    golden = np.uint64(0x9E3779B97F4A7C15)
    base = np.uint64(seed)
    for t in range(n_t):
        p_row = prob[t]
        c_row = counts[t]
        start = base + np.uint64(t * n_ch + 1) * golden
        n_hit = 0
        for ch in range(n_ch):
            a = n_fibres - n_dead[ch]
            b = 1.0 - p_row[ch]
            b2 = b * b
            b4 = b2 * b2
            b8 = b4 * b4
            b16 = b8 * b8
            b32 = b16 * b16
            b64 = b32 * b32
            b128 = b64 * b64
            f = ((b if a & 1 else 1.0) * (b2 if a & 2 else 1.0)) * ((b4 if a & 4 else 1.0) * (b8 if a & 8 else 1.0))
            f = f * (((b16 if a & 16 else 1.0) * (b32 if a & 32 else 1.0))
                     * ((b64 if a & 64 else 1.0) * (b128 if a & 128 else 1.0)))  # fmt: skip
            u = _splitmix(start + np.uint64(ch) * golden)
            u_row[ch] = u
            f_row[ch] = f
            c_row[ch] = 0
            n_hit += u >= f
        if n_hit:
            for ch in range(n_ch):
                u = u_row[ch]
                f = f_row[ch]
                if u >= f:
                    a = n_fibres - n_dead[ch]
                    p = p_row[ch]
                    if p >= 1.0:
                        c_row[ch] = a
                        continue
                    ratio = p / (1.0 - p)
                    u -= f
                    f *= a * ratio
                    k = 1
                    while u >= f and k < a:
                        u -= f
                        f *= (a - k) / (k + 1) * ratio
                        k += 1
                    c_row[ch] = k
        if dead > 0:
            slot = ring[t % dead]
            for ch in range(n_ch):
                n_dead[ch] += np.int64(c_row[ch]) - np.int64(slot[ch])
                slot[ch] = c_row[ch]
    return counts


@numba.njit(**_JIT)
def _lif(counts, dt, tau_mem, tau_syn, n_refrac, weight):
    """Lauscher's bushy-cell LIF over fibre counts [N, C]; spikes uint8 [N, C].

    Per channel: ``vm`` is the previous step's membrane; a cell that reached 1 spikes (at
    the previous step) and is held at 0 while ``counter`` > 0; the synaptic current always
    decays and takes the new fibre spikes.
    """
    n_t, n_ch = counts.shape
    decay_mem = np.exp(-dt / tau_mem)
    decay_syn = np.exp(-dt / tau_syn)
    wdt = weight * dt
    vm = np.zeros(n_ch)
    isyn = np.zeros(n_ch)
    counter = np.zeros(n_ch)
    spikes = np.zeros((n_t, n_ch), dtype=np.uint8)
    for step in range(n_t):
        c_row = counts[step]
        s_row = spikes[step - 1]  # written only when step > 0
        for ch in range(n_ch):
            v = 0.0
            if step > 0:
                if counter[ch] <= 0:
                    if vm[ch] < 1.0:
                        v = vm[ch] * decay_mem
                    else:
                        counter[ch] = n_refrac
                        s_row[ch] = 1
                isyn[ch] = isyn[ch] * decay_syn
            isyn[ch] += c_row[ch]
            if counter[ch] <= 0:
                v += isyn[ch] * wdt
            if v > 1.0:
                v = 1.0
            counter[ch] -= 1
            vm[ch] = v
    return spikes


@numba.njit(**_JIT)
def _events(spikes):
    """(row, column) of the non-zero cells of uint8 [N, C], row-major order (np.nonzero, faster)."""
    n_t, n_ch = spikes.shape
    n = 0
    for t in range(n_t):
        row = spikes[t]
        for ch in range(n_ch):
            n += row[ch]
    steps = np.empty(n, dtype=np.int64)
    units = np.empty(n, dtype=np.int64)
    j = 0
    for t in range(n_t):
        row = spikes[t]
        for ch in range(n_ch):
            if row[ch]:
                steps[j] = t
                units[j] = ch
                j += 1
    return steps, units


def _hc_args(params: CochleaParams) -> tuple[float, ...]:
    p = params
    return (p.hc_y, p.hc_g, p.hc_l, p.hc_r, p.hc_x, p.hc_a, p.hc_b, p.hc_h, p.hc_m)


def _lif_args(sample_rate: int, params: CochleaParams) -> tuple[float, ...]:
    return (
        params.tau_mem,
        params.tau_syn,
        params.tau_refrac * sample_rate,
        params.weight / float(params.n_fibres),
    )


def dead_samples(sample_rate: int, params: CochleaParams = DEFAULT_PARAMS) -> int:
    """Samples after a fibre spike during which that fibre cannot fire (Lauscher: ``j - last < refrac``)."""
    return max(math.ceil(params.tau_refrac * sample_rate) - 1, 0)


def _seed64(seed: int) -> np.uint64:
    return np.random.SeedSequence(int(seed)).generate_state(1, dtype=np.uint64)[0]


def hair_cell(bm: np.ndarray, sample_rate: int, params: CochleaParams = DEFAULT_PARAMS) -> np.ndarray:
    """Meddis hair cell: velocity [N, C] at ``sample_rate`` Hz -> firing probability per sample, float64 [N, C]."""
    return _meddis(np.ascontiguousarray(bm), float(sample_rate), *_hc_args(params))


def fibre_counts(
    prob: np.ndarray, sample_rate: int, *, seed: int = 0, params: CochleaParams = DEFAULT_PARAMS
) -> np.ndarray:
    """Number of each channel's ``n_fibres`` fibres that fire in each sample, uint8 [N, C]."""
    if not 0 < params.n_fibres < 256:
        raise ValueError(f"n_fibres must be within 1..255, got {params.n_fibres}")
    return _fibre_counts(
        np.ascontiguousarray(prob, dtype=np.float64),
        params.n_fibres, dead_samples(sample_rate, params), _seed64(seed),
    )  # fmt: skip


def bushy_lif(
    counts: np.ndarray, sample_rate: int, params: CochleaParams = DEFAULT_PARAMS
) -> tuple[np.ndarray, np.ndarray]:
    """The bushy cell's LIF fed by fibre spike counts [N, C] at ``sample_rate`` Hz.

    Returns the spikes as (step, unit) int64 arrays, sorted by step, then unit.
    """
    spikes = _lif(np.ascontiguousarray(counts), 1.0 / float(sample_rate), *_lif_args(sample_rate, params))
    return _events(spikes)


# ---------------------------------------------------------------------------------------
# the whole chain


def waveform_to_spikes(
    wave: np.ndarray,
    sample_rate: int,
    *,
    seed: int = 0,
    params: CochleaParams = DEFAULT_PARAMS,
    length_quantum: float | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert a mono waveform to SHD-format spikes.

    Args:
        wave: float [n_samples], any scale (it is RMS-normalised).
        sample_rate: Hz (an integer, e.g. 8000, 16000, 44100, 48000).
        seed: seed of the stochastic fibres; the same seed gives the same spikes.
        params: the chain's parameters (Lauscher's defaults).
        length_quantum: if set (seconds), pad the clip with silence after normalisation and
            windowing to a multiple of this length (then to a fast FFT length) before the
            basilar membrane, so that clips of many lengths share few cached transfer
            functions (see the module docstring).
        cache_dir: folder for the on-disk transfer-function cache (None: memory only).

    Returns:
        ``times`` float32 [n_events] in seconds (multiples of ``1 / (sample_rate // 2)``)
        and ``units`` uint16 [n_events] (0 = highest frequency), sorted by time, then unit.
    """
    sample_rate = int(sample_rate)
    if sample_rate < 1000:
        raise DataError(f"sample rate {sample_rate} Hz is too low (need at least 1000 Hz)")
    x = preprocess(wave, params)
    n = x.size
    if length_quantum:
        x = np.concatenate([x, np.zeros(padded_length(n, sample_rate, length_quantum) - n)])
    fs_half = sample_rate // 2
    bm = membrane_velocity(x, sample_rate, params, cache_dir=cache_dir)[: n // 2 + 1]
    prob = hair_cell(bm, fs_half, params)
    steps, units = bushy_lif(fibre_counts(prob, fs_half, seed=seed, params=params), fs_half, params)
    return (steps / fs_half).astype(np.float32), units.astype(np.uint16)


def padded_length(n_samples: int, sample_rate: int, length_quantum: float) -> int:
    """The clip length (samples) that ``length_quantum`` pads ``n_samples`` to.

    A multiple of the quantum, then raised so that the one-sided spectrum length
    ``n // 2 + 1`` is a fast FFT length (``scipy.fft.next_fast_len``).
    """
    quantum = max(int(round(length_quantum * sample_rate)), 2)
    n_q = -(-n_samples // quantum) * quantum
    n_freq = scipy.fft.next_fast_len(n_q // 2 + 1, real=True)
    return 2 * (n_freq - 1)
