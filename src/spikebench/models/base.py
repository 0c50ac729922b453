"""The one output type every model returns.

Inputs to every model are binned frames ``x`` float32 ``[T, B, C]`` (time-major: ``T``
time bins, ``B`` samples, ``C`` channels). Every model returns :class:`ModelOutput`, so
training, metrics and reports never branch on the model family.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class ModelOutput(NamedTuple):
    """What a forward pass returns.

    Attributes:
        logits: float32 ``[B, K]`` class scores (before softmax).
        spikes: one ``[T, B, N]`` spike tensor per spiking layer, in layer order; empty
            for non-spiking models.
    """

    logits: torch.Tensor
    spikes: tuple[torch.Tensor, ...] = ()
