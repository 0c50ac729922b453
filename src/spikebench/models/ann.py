"""Feedforward ANN on binned frames (the study's phase-2 baseline).

The whole binned sample ``[T, C]`` is flattened into one vector of ``T * C`` inputs, then
``(Linear -> ReLU -> Dropout) x n_layers -> Linear`` gives the logits ``[B, K]``. Input
``x`` float32 ``[T, B, C]`` (time-major); ``n_steps`` must equal ``T``.
"""

from __future__ import annotations

import torch
from torch import nn

from spikebench.models.base import Model, ModelOutput
from spikebench.models.registry import register_model


@register_model("ann", family="ann")
class ANN(Model):
    """Multi-layer perceptron over the flattened ``[T, C]`` frame."""

    def __init__(self, *, n_in: int, n_classes: int, n_steps: int, hidden: int = 256,
                 n_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden < 1 or n_layers < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError("need hidden >= 1, n_layers >= 1 and 0 <= dropout < 1")
        self.n_steps = n_steps
        layers: list[nn.Module] = []
        width = n_steps * n_in
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if x.shape[0] != self.n_steps:
            raise ValueError(f"ANN built for {self.n_steps} time steps got {x.shape[0]}")
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)  # [B, T * C]
        return ModelOutput(self.net(flat), ())
