"""Seeds and random-number-generator state, so runs repeat and resumed runs match.

:func:`seed_everything` seeds Python's ``random``, NumPy's global generator and torch
(CPU and CUDA); :func:`get_rng_state` / :func:`set_rng_state` capture and restore all of
them plus an optional data-order :class:`torch.Generator`, for checkpoints.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator for the data order (shuffling), independent of the global one."""
    return torch.Generator().manual_seed(seed)


def get_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every RNG state as a picklable dict (``torch.save``-able)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Restore what :func:`get_rng_state` captured (and the data-order ``generator``)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
