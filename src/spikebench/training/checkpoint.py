"""Checkpoints: one dict per model, written atomically after every epoch.

A checkpoint holds ``model`` and ``optimizer`` state dicts, ``rng`` (every RNG state and
the data-order generator, see :mod:`.seeding`), the model's ``config`` (a plain dict),
the last finished ``epoch`` (1-based) and the ``history`` so far, so that a resumed run
continues bit-identically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from spikebench.errors import TrainingError
from spikebench.fileio import atomic_path


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (``torch.save``)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (onto the CPU)."""
    path = Path(path)
    try:
        # weights_only=False: RNG states (numpy/python tuples) are not plain tensors;
        # checkpoints are files this program wrote itself.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise TrainingError(f"{path}: no checkpoint to resume from") from None
    except Exception as err:  # a truncated or foreign file
        raise TrainingError(f"{path}: not a readable spikebench checkpoint ({err})") from err
    for key in ("model", "optimizer", "rng", "epoch", "history", "config"):
        if key not in state:
            raise TrainingError(f"{path}: checkpoint lacks {key!r}")
    return state
