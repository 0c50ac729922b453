"""What every model is: a :class:`Model` returning one output type, :class:`ModelOutput`.

Inputs to every model are binned frames ``x`` float32 ``[T, B, C]`` (time-major: ``T``
time bins, ``B`` samples, ``C`` channels). Every model returns :class:`ModelOutput`, so
training, metrics and reports never branch on the model family.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class ModelOutput(NamedTuple):
    """What a forward pass returns.

    Attributes:
        logits: float32 ``[B, K]`` class scores (before softmax).
        spikes: one ``[T, B, N]`` spike tensor per spiking layer, in layer order; empty
            for non-spiking models.
    """

    logits: torch.Tensor
    spikes: tuple[torch.Tensor, ...] = ()


class Model(nn.Module):
    """Base of every registered model: ``forward(x [T, B, C]) -> ModelOutput`` and a hook
    the runner calls before each training epoch (delay-width schedules, STDP phases)."""

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Epoch ``epoch`` (0-based) of ``epochs`` is about to start; nothing by default."""
