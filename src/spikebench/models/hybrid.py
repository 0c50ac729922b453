"""The hybrid model's convolutional front end over frequency and time.

Input ``x`` float32 ``[T, B, C]`` (time-major; ``C`` frequency channels) is read as a
one-channel image ``[B, 1, C, T]``; ``conv_layers`` x (``Conv2d`` over frequency x time ->
batch norm -> ReLU -> max-pool by 2 over frequency) extract local spectro-temporal
features. The convolutions are causal in time (the current and past ``kernel_size - 1``
bins only). The output ``[T, B, filters * C']`` drives the LIF layers of the ``hybrid``
model (:mod:`.spiking`); the front end is dense (MACs in the efficiency counts).
"""

from __future__ import annotations

import torch
from torch import nn


class CausalConvFront(nn.ModuleList):
    """``conv_layers`` x (causal Conv2d over frequency x time -> BN -> ReLU -> 2x pool in frequency).

    ``forward(x [T, B, C]) -> [T, B, filters * C']`` with ``C' = C >> conv_layers``.
    """

    def __init__(self, n_in: int, *, filters: int, conv_layers: int, kernel_size: int) -> None:
        convs: list[nn.Module] = []
        width, freq = 1, n_in
        for _ in range(conv_layers):
            convs += [
                nn.Conv2d(width, filters, kernel_size, padding=(kernel_size // 2, 0), bias=False),
                nn.BatchNorm2d(filters),
                nn.ReLU(),
                nn.MaxPool2d((2, 1)),
            ]
            width, freq = filters, freq // 2
        super().__init__(convs)
        self.kernel_size = kernel_size
        self.n_features = filters * freq

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.permute(1, 2, 0).unsqueeze(1)  # [B, 1, C, T]
        for m in self:
            if isinstance(m, nn.Conv2d):
                h = nn.functional.pad(h, (self.kernel_size - 1, 0))  # causal in time
            h = m(h)
        b, f, c, t = h.shape
        return h.reshape(b, f * c, t).permute(2, 0, 1)  # [B, F*C', T] -> [T, B, F*C']
