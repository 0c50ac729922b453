r"""Learnable synaptic delays (Hammouamri et al. 2023, DCLS): :class:`DelayedLinear`.

Every synapse ``i -> o`` has a weight ``w[o, i]`` and a learnable delay ``d[o, i]`` (in
time steps, within ``[0, K - 1]``, ``K = max_delay / bin_dt + 1`` taps). The delay
enters through a temporal kernel whose single tap is spread by a Gaussian of width
``sigma`` so that ``d`` receives a gradient::

    k[o, i, tau] = w[o, i] * g(tau - d[o, i]) / sum_tau' g(tau' - d[o, i]),
    g(s) = exp(-s^2 / (2 sigma^2)),     I[t, b, o] = sum_{i, tau} k[o, i, tau] x[t - tau, b, i]

(a causal 1-D convolution over time; ``x`` before ``t = 0`` is zero). ``sigma`` shrinks
geometrically, once per epoch, from ``sigma_start`` (default ``K / 2``) to ``sigma_end``
(the paper's schedule, :meth:`spikebench.models.spiking.SpikingStack.on_epoch_start`).
Delays start uniform in ``[0, K - 1]`` and are clamped there. An ``nn.Linear`` subclass,
installed as an engine LIF layer's ``linear``, so the LIF scan runs unchanged; the
``delays`` model (:mod:`.spiking`) is the paper's feed-forward network. Cost: ``K`` times
a dense linear layer (``2 B T C_in C_out K`` FLOPs).
"""

from __future__ import annotations

import torch
from torch import nn


class DelayedLinear(nn.Linear):
    """Synapses with learnable weights and Gaussian-interpolated delays (module docstring).

    ``forward(x [T, B, n_in]) -> current [T, B, n_out]``; ``weight`` ``[n_out, n_in]``,
    ``delay`` ``[n_out, n_in]`` (steps), buffer ``sigma`` (steps). With ``norm`` the output
    is batch-normalised as in :class:`~spikebench.models.spiking.NormLinear`.
    """

    def __init__(self, n_in: int, n_out: int, *, taps: int, sigma: float, norm: bool = True) -> None:
        super().__init__(n_in, n_out, bias=not norm)
        if taps < 1:
            raise ValueError(f"need at least one delay tap, got {taps}")
        self.taps = taps
        self.delay = nn.Parameter(torch.rand(n_out, n_in) * (taps - 1))
        self.register_buffer("sigma", torch.tensor(float(sigma)))
        self.norm = nn.BatchNorm1d(n_out) if norm else None
        # Each input now reaches the neuron through one (blurred) tap: keep the
        # nn.Linear initialisation, which already scales by 1/sqrt(n_in).

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, taps={self.taps}, sigma={float(self.sigma):.3g}"

    def kernel(self) -> torch.Tensor:
        """The temporal kernel ``[n_out, n_in, K]``, tap ``tau`` = delay of ``tau`` steps."""
        tau = torch.arange(self.taps, dtype=self.weight.dtype, device=self.weight.device)
        g = torch.exp(-0.5 * ((tau - self.delay.unsqueeze(-1)) / self.sigma) ** 2)
        g = g / (g.sum(-1, keepdim=True) + 1e-12)
        return self.weight.unsqueeze(-1) * g

    def clamp_delays(self) -> None:
        with torch.no_grad():
            self.delay.clamp_(0.0, self.taps - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.clamp_delays()
        xb = nn.functional.pad(x.permute(1, 2, 0), (self.taps - 1, 0))  # [B, n_in, K-1+T]
        # conv1d is a cross-correlation: flip so that tap tau multiplies x[t - tau].
        y = nn.functional.conv1d(xb, self.kernel().flip(-1), self.bias)  # [B, n_out, T]
        y = y.permute(2, 0, 1)  # [T, B, n_out]
        if self.norm is not None:
            y = self.norm(y.reshape(-1, y.shape[-1])).reshape(y.shape)
        return y
