"""1-D convolutional network over time (the study's phase-2 CNN).

The ``C`` input channels are the convolution's channels and the ``T`` time bins its
length: ``(Conv1d(k) -> BatchNorm1d -> ReLU -> Dropout) x n_layers``, each with
``filters`` filters (128 in the study), then the maximum over time and a linear layer give
the logits ``[B, K]``. Input ``x`` float32 ``[T, B, C]`` (time-major).
"""

from __future__ import annotations

import torch
from torch import nn

from spikebench.models.base import Model, ModelOutput
from spikebench.models.registry import register_model


@register_model("cnn", family="cnn")
class CNN(Model):
    """Temporal convolutions with batch norm and dropout, global max-pool over time.

    ``hidden`` is the number of filters per layer (128 in the study), named like the other
    families' width so an experiment file sets every model's size the same way.
    """

    def __init__(self, *, n_in: int, n_classes: int, n_steps: int, hidden: int = 128,
                 kernel_size: int = 5, n_layers: int = 2, dropout: float = 0.3) -> None:
        super().__init__()
        filters = hidden
        if filters < 1 or n_layers < 1 or kernel_size < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError("need filters, kernel_size, n_layers >= 1 and 0 <= dropout < 1")
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(n_layers):
            layers += [
                nn.Conv1d(width, filters, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm1d(filters),
                nn.ReLU(),
                nn.Dropout(dropout),
            ]
            width = filters
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(filters, n_classes)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = self.features(x.permute(1, 2, 0))  # [B, C, T] -> [B, filters, T]
        return ModelOutput(self.head(h.amax(dim=2)), ())
