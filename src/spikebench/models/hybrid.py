"""Hybrid SNN-CNN: a convolutional front end over time and frequency, then spiking layers.

The original study's "future work" (issue 7, item 4). Input ``x`` float32 ``[T, B, C]``
(time-major; ``C`` frequency channels, low to high as in SHD) is read as a one-channel
image ``[B, 1, C, T]``. ``conv_layers`` x (``Conv2d`` over frequency x time -> batch norm
-> ReLU -> max-pool by 2 over frequency) extract local spectro-temporal features; the
convolutions are causal in time (only the current and past ``kernel_size - 1`` bins), so
the front end can stream bin by bin. Each time step's feature maps are flattened to
``[T, B, filters * C']`` and drive ``n_layers`` engine LIF layers
(:class:`~spikebench.engine.layers.LIF`, optionally recurrent, batch-normalised input
current, dropout) and an LI readout; class scores by rule ``readout``
(:mod:`spikebench.models.rsnn`). The spiking part is what the efficiency metrics count as
event-driven; the front end is dense (MACs).

Units: ``dt``, ``tau_syn``, ``tau_mem`` in seconds (one time bin = one step of ``dt``).
"""

from __future__ import annotations

import torch
from torch import nn

from spikebench.models.registry import register_model
from spikebench.models.rsnn import ENGINES, SpikingStack, check_common, spiking_layers


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


class HybridSNN(SpikingStack):
    """Conv2d front end over (frequency, time) -> LIF layers -> LI readout."""

    def __init__(self, n_in: int, n_classes: int, *, filters: int, conv_layers: int,
                 kernel_size: int, hidden: int, n_layers: int, recurrent: bool, norm: bool,
                 dropout: float, readout: str, engine: str, tau_syn: float, tau_mem: float,
                 dt: float, alpha: float) -> None:
        from spikebench.engine.layers import LI, LIF

        check_common(hidden=hidden, n_layers=n_layers, dropout=dropout, readout=readout)
        if engine not in ENGINES or engine == "norse":
            raise ValueError(f"engine must be fused or torch, not {engine!r}")
        if filters < 1 or conv_layers < 1 or kernel_size < 1:
            raise ValueError("need filters, conv_layers and kernel_size >= 1")
        if n_in >> conv_layers < 1:
            raise ValueError(f"{conv_layers} frequency poolings by 2 leave nothing of {n_in} channels")
        front = CausalConvFront(n_in, filters=filters, conv_layers=conv_layers,
                                kernel_size=kernel_size)
        backend = ENGINES[engine]
        layers = spiking_layers(
            lambda a: LIF(a, hidden, recurrent=recurrent, tau_syn=tau_syn, tau_mem=tau_mem,
                          dt=dt, alpha=alpha, backend=backend),
            front.n_features, hidden=hidden, n_layers=n_layers, norm=norm)
        out = LI(hidden, n_classes, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt, backend=backend)
        super().__init__(layers, out, dropout=dropout, readout=readout, front=front)
        self.kernel_size = kernel_size
        self.n_features = front.n_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Front end: ``[T, B, C] -> [T, B, filters * C']``."""
        return self.front(x)


@register_model("hybrid", family="hybrid")
def hybrid(
    *,
    n_in: int,
    n_classes: int,
    n_steps: int,
    hidden: int = 128,
    filters: int = 16,
    conv_layers: int = 2,
    kernel_size: int = 5,
    n_layers: int = 1,
    recurrent: bool = False,
    norm: bool = True,
    dropout: float = 0.2,
    readout: str = "max",
    engine: str = "fused",
    tau_syn: float = 5e-3,
    tau_mem: float = 2e-2,
    dt: float = 1e-3,
    alpha: float = 100.0,
) -> HybridSNN:
    """Hybrid SNN-CNN: (causal Conv2d over frequency x time -> BN -> ReLU -> pool) x k -> LIF -> LI."""
    return HybridSNN(n_in, n_classes, filters=filters, conv_layers=conv_layers,
                     kernel_size=kernel_size, hidden=hidden, n_layers=n_layers,
                     recurrent=recurrent, norm=norm, dropout=dropout, readout=readout,
                     engine=engine, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt, alpha=alpha)
