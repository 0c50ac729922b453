"""Validation splits that hold out whole speakers of the training file.

Model selection must never see the test file, and a validation split that shares speakers
with training overestimates accuracy on new voices; so the validation samples are all the
samples of a few speakers of the training file, chosen deterministically from ``seed``.
"""

from __future__ import annotations

import numpy as np

from spikebench.errors import ConfigError, DataError


def speaker_holdout(
    speakers: np.ndarray,
    *,
    n_val_speakers: int | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into (train_idx, val_idx), int64, sorted, by whole speakers.

    Args:
        speakers: speaker id per sample of the training file.
        n_val_speakers: hold out exactly this many speakers; when None, hold out speakers
            (in a seeded random order) until at least ``val_fraction`` of the samples are
            held out, never all speakers.
        val_fraction: target share of samples in validation, in (0, 1).
        seed: fixes which speakers are held out.

    Raises:
        DataError: fewer than two speakers. ConfigError: bad fraction or speaker count.
    """
    spk = np.asarray(speakers).reshape(-1)
    ids, counts = np.unique(spk, return_counts=True)
    if len(ids) < 2:
        raise DataError(
            f"speaker hold-out needs at least 2 speakers in the training file, found {len(ids)}"
        )
    order = np.random.default_rng(seed).permutation(len(ids))
    if n_val_speakers is not None:
        if not 1 <= n_val_speakers < len(ids):
            raise ConfigError(
                f"n_val_speakers={n_val_speakers}: must be 1..{len(ids) - 1} "
                f"(the training file has {len(ids)} speakers)"
            )
        n_val = n_val_speakers
    else:
        if not 0 < val_fraction < 1:
            raise ConfigError(f"val_fraction={val_fraction}: must be between 0 and 1")
        held = np.cumsum(counts[order])
        n_val = int(np.searchsorted(held, val_fraction * len(spk))) + 1
        n_val = min(n_val, len(ids) - 1)
    val_ids = ids[order[:n_val]]
    is_val = np.isin(spk, val_ids)
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)
