"""Synthetic spike data in the SHD layout, with class structure a small model can learn.

Each class is a fixed set of frequency "formants": bands that sweep linearly across
channels during part of the utterance (like vowel transitions seen by a cochlea model).
Each speaker shifts all bands by a few channels and speaks faster or slower. Events of a
sample are Poisson: ``mean_events`` on average (scaled by duration), a fraction of them
uniform background noise. Times are in seconds, already rounded to float16 (the SHD
file type), so write_shd -> read_shd round-trips exactly.

The class and speaker structure depends only on ``structure_seed``; ``seed`` draws the
samples. Two calls with the same structure seed and different seeds therefore give a
train and a test split of the same task. Generation is vectorised over all events (an
SHD-scale split, 8156 samples x 3000 events, takes a few seconds).
"""

from __future__ import annotations

import numpy as np

from spikebench.data.shd import SpikeData
from spikebench.errors import ConfigError

DIGIT_KEYS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun",
)  # fmt: skip
N_BANDS = 3


def class_keys(n_classes: int) -> tuple[str, ...]:
    """SHD-like class names (English then German digits), ``class-<i>`` beyond 20."""
    if n_classes <= len(DIGIT_KEYS):
        return DIGIT_KEYS[:n_classes]
    return tuple(f"class-{i}" for i in range(n_classes))


def make_synthetic(
    n_samples: int,
    *,
    n_classes: int = 20,
    n_speakers: int = 6,
    n_channels: int = 700,
    seed: int = 0,
    structure_seed: int = 0,
    first_speaker: int = 0,
    mean_events: float = 1500.0,
    duration: tuple[float, float] = (0.5, 0.95),
    noise_fraction: float = 0.1,
) -> SpikeData:
    """Make ``n_samples`` SHD-layout samples with learnable class-dependent structure.

    Args:
        n_samples: number of samples; labels are balanced over ``n_classes``.
        n_classes: number of classes (keys from :func:`class_keys`).
        n_speakers: speaker ids ``first_speaker .. first_speaker + n_speakers - 1``,
            drawn uniformly per sample.
        n_channels: channel count (700 like SHD).
        seed: draws samples, speakers and events.
        structure_seed: fixes the class bands and the speaker shifts.
        mean_events: mean events per sample of mean duration.
        duration: range of utterance durations in seconds (before the speaker's rate).
        noise_fraction: share of events uniform over channels and time.
    """
    if n_samples < 0 or n_classes < 1 or n_speakers < 1 or n_channels < 1:
        raise ConfigError(
            "make_synthetic: n_samples must be >= 0 and n_classes, n_speakers, n_channels >= 1"
        )
    if not 0 < duration[0] <= duration[1]:
        raise ConfigError(f"make_synthetic: duration {duration} must satisfy 0 < low <= high")
    structure = np.random.default_rng([structure_seed, 7919])
    c = float(n_channels)
    start = structure.uniform(0.05, 0.95, (n_classes, N_BANDS)) * c
    end = np.clip(start + structure.normal(0.0, 0.2, (n_classes, N_BANDS)) * c, 0, c - 1)
    onset = structure.uniform(0.0, 0.4, (n_classes, N_BANDS))
    offset = structure.uniform(0.6, 1.0, (n_classes, N_BANDS))
    n_ids = first_speaker + n_speakers
    shift = structure.normal(0.0, 0.01, n_ids) * c
    rate = structure.uniform(0.85, 1.15, n_ids)
    meta = {
        "gender": np.array(["female", "male"])[structure.integers(0, 2, n_ids)],
        "age": structure.integers(20, 60, n_ids).astype(np.uint8),
        "body_height": structure.integers(155, 195, n_ids).astype(np.uint8),
    }

    rng = np.random.default_rng([seed, 104729])
    labels = rng.permutation(np.arange(n_samples) % n_classes).astype(np.int64)
    speakers = (first_speaker + rng.integers(0, n_speakers, n_samples)).astype(np.int64)
    dur = rng.uniform(duration[0], duration[1], n_samples) / rate[speakers]
    mean_dur = 0.5 * (duration[0] + duration[1])
    counts = rng.poisson(mean_events * dur / mean_dur).astype(np.int64)
    offsets = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    times = np.empty(offsets[-1], dtype=np.float32)
    units = np.empty(offsets[-1], dtype=np.uint16)
    # Chunks of ~1M events keep the temporaries small (large fresh arrays page-fault slowly).
    step = max(1, int(2**20 // max(mean_events, 1.0)))
    for first in range(0, n_samples, step):
        stop = min(first + step, n_samples)
        lo, hi = offsets[first], offsets[stop]
        sample = np.repeat(np.arange(first, stop), counts[first:stop])
        n_events = hi - lo
        cls = labels[sample]
        band = rng.integers(0, N_BANDS, n_events)
        u0, u1 = onset[cls, band], offset[cls, band]
        frac = rng.random(n_events)
        u = u0 + (u1 - u0) * frac
        chan = start[cls, band] + (end[cls, band] - start[cls, band]) * frac
        chan += shift[speakers[sample]] + rng.normal(0.0, 0.01 * c, n_events)
        noise = rng.random(n_events) < noise_fraction
        u[noise] = rng.random(int(noise.sum()))
        chan[noise] = rng.uniform(0, c, int(noise.sum()))
        t16 = (u * dur[sample]).astype(np.float16)
        # Sort by (sample, time): non-negative float16 bit patterns order like the values.
        key = (sample.astype(np.uint64) << np.uint64(16)) | t16.view(np.uint16)
        order = np.argsort(key)
        times[lo:hi] = t16[order]
        units[lo:hi] = np.clip(np.rint(chan[order]), 0, n_channels - 1)
    return SpikeData(
        times=times,
        units=units,
        offsets=offsets,
        labels=labels,
        speakers=speakers,
        keys=class_keys(n_classes),
        n_channels=n_channels,
        meta=meta,
    )
