"""Accuracy, parameter counts and inference timing.

Inference time is measured on the forward pass alone (``torch.no_grad``, eval mode): the
input batch is built and moved to the device before the clock starts, CUDA is
synchronised before the clock stops. ``seconds_per_batch`` is the mean over full batches
of a fixed size (warm-up batches excluded; the first passes pay for allocation, lazy
initialisation and compilation); ``latency_seconds_per_sample`` is the mean forward time
of single samples (batch size 1), also after warm-up. All times are wall-clock seconds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn


class FrameSource(Protocol):
    """What timing needs from a split (``BinnedSplit`` fits)."""

    def __len__(self) -> int: ...

    def frames(self, indices: Any) -> torch.Tensor: ...


@dataclass(frozen=True)
class InferenceTiming:
    batch_size: int
    seconds_per_batch: float
    latency_seconds_per_sample: float
    n_batches_timed: int
    warmup_batches: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def _time_forward(model: nn.Module, x: torch.Tensor, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    model(x)
    _sync(device)
    return time.perf_counter() - start


def time_inference(
    model: nn.Module,
    split: FrameSource,
    *,
    batch_size: int = 128,
    warmup_batches: int = 2,
    max_batches: int | None = None,
    latency_samples: int = 16,
    device: torch.device | str = "cpu",
) -> InferenceTiming:
    """Mean forward seconds per batch of ``batch_size`` over ``split``, and per-sample latency.

    Batches are consecutive, full, in split order; when the split is smaller than one
    batch, the whole split is one batch and ``batch_size`` records that size.
    ``max_batches`` caps the timed batches (``None``: the whole split).
    """
    device = torch.device(device)
    model.eval()
    n = len(split)
    if n == 0:
        raise ValueError("cannot time inference on an empty split")
    batch_size = min(batch_size, n)
    n_full = n // batch_size
    starts = [i * batch_size for i in range(n_full)]
    # warm-up reuses the first batches when the split is short
    warm = [starts[i % len(starts)] for i in range(warmup_batches)]
    timed = starts if max_batches is None else starts[:max_batches]
    for s in warm:
        _time_forward(model, split.frames(np.arange(s, s + batch_size)).to(device), device)
    seconds = [
        _time_forward(model, split.frames(np.arange(s, s + batch_size)).to(device), device)
        for s in timed
    ]
    k = min(latency_samples, n)
    singles = [split.frames(np.array([i])).to(device) for i in range(k)]
    for x in singles[:2]:
        _time_forward(model, x, device)
    latency = [_time_forward(model, x, device) for x in singles]
    return InferenceTiming(
        batch_size=batch_size,
        seconds_per_batch=float(np.mean(seconds)),
        latency_seconds_per_sample=float(np.mean(latency)),
        n_batches_timed=len(seconds),
        warmup_batches=warmup_batches,
    )
