r"""Feedforward LIF network with learnable synaptic delays (Hammouamri et al. 2023, DCLS).

Every synapse ``i -> o`` has a weight ``w[o, i]`` and a learnable delay ``d[o, i]`` (in
time steps, within ``[0, K - 1]``, ``K = max_delay / dt_bin + 1`` taps). As in
"Learning Delays in Spiking Neural Networks using Dilated Convolutions with Learnable
Spacings" (ICLR 2024), the delay enters through a temporal kernel whose single tap is
spread by a Gaussian of width ``sigma`` so that ``d`` receives a gradient::

    k[o, i, tau] = w[o, i] * g(tau - d[o, i]) / sum_tau' g(tau' - d[o, i]),
    g(s) = exp(-s^2 / (2 sigma^2)),     I[t, b, o] = sum_{i, tau} k[o, i, tau] x[t - tau, b, i]

(a causal 1-D convolution over time; ``x`` before ``t = 0`` is zero). ``sigma`` starts at
``sigma_start`` (default ``K / 2``) and shrinks geometrically, once per epoch, to
``sigma_end = 0.5`` steps at the last epoch (the paper's schedule); the runner calls
:meth:`DelayNet.on_epoch_start`. With ``sigma = 0.5`` each synapse is nearly one delayed tap.
Delays are initialised uniformly in ``[0, K - 1]`` and clamped there after each update.

Architecture (the paper's SHD model): input ``x`` float32 ``[T, B, C]`` (time-major) ->
``n_layers`` x (delayed synapses -> batch norm -> feedforward LIF -> dropout) -> LI readout.
The delayed synapses are :class:`DelayedLinear`, an ``nn.Linear`` subclass installed as
the engine LIF layer's ``linear``, so the engine's fused LIF scan runs unchanged.

Cost: the convolution costs ``K`` times a dense linear layer (``2 B T C_in C_out K``
FLOPs); on CPU keep ``max_delay`` a few hundred ms at 10 ms bins. The paper uses
``max_delay = 250 ms`` with 10 ms bins (K = 26 taps), 2 x 256 neurons, dropout 0.4.
"""

from __future__ import annotations

import torch
from torch import nn

from spikebench.models.registry import register_model
from spikebench.models.rsnn import ENGINES, NormLinear, SpikingStack, check_common, spiking_layers


class DelayedLinear(nn.Linear):
    """Synapses with learnable weights and Gaussian-interpolated delays (module docstring).

    ``forward(x [T, B, n_in]) -> current [T, B, n_out]``; ``weight`` ``[n_out, n_in]``,
    ``delay`` ``[n_out, n_in]`` (steps), buffer ``sigma`` (steps). With ``norm`` the output
    is batch-normalised as in :class:`~spikebench.models.rsnn.NormLinear`.
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


class DelayNet(SpikingStack):
    """:class:`~spikebench.models.rsnn.SpikingStack` whose synapses have learnable delays."""

    def __init__(self, *args, sigma_start: float, sigma_end: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sigma_start, self.sigma_end = sigma_start, sigma_end

    def sigma_at(self, epoch: int, epochs: int) -> float:
        """Gaussian width (steps) during 0-based ``epoch`` of ``epochs``: geometric decay."""
        if epochs <= 1:
            return self.sigma_end
        frac = min(epoch / (epochs - 1), 1.0)
        return self.sigma_start * (self.sigma_end / self.sigma_start) ** frac

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        sigma = self.sigma_at(epoch, epochs)
        for layer in self.hidden:
            layer.linear.sigma.fill_(sigma)


@register_model("delays", family="snn", streamable=True)
def delays(
    *,
    n_in: int,
    n_classes: int,
    n_steps: int,
    hidden: int = 256,
    n_layers: int = 2,
    max_delay: float = 0.25,
    bin_dt: float = 0.01,
    sigma_start: float = 0.0,
    sigma_end: float = 0.5,
    norm: bool = True,
    dropout: float = 0.4,
    readout: str = "max",
    engine: str = "fused",
    tau_syn: float = 5e-3,
    tau_mem: float = 2e-2,
    dt: float = 1e-3,
    alpha: float = 100.0,
) -> DelayNet:
    """Feedforward LIF with learnable delays: (delayed W x -> BN -> LIF -> dropout) x n -> LI.

    ``max_delay`` and ``bin_dt`` (the data's bin width) are in seconds and give the number
    of taps ``K = round(max_delay / bin_dt) + 1``; ``sigma_start = 0`` means ``K / 2``.
    """
    from spikebench.engine.layers import LI, LIF

    check_common(hidden=hidden, n_layers=n_layers, dropout=dropout, readout=readout)
    if engine not in ENGINES or engine == "norse":
        raise ValueError(f"engine must be fused or torch, not {engine!r}")
    if max_delay < 0 or bin_dt <= 0:
        raise ValueError("need max_delay >= 0 and bin_dt > 0 seconds")
    taps = int(round(max_delay / bin_dt)) + 1
    sigma_start = sigma_start if sigma_start > 0 else max(taps / 2, sigma_end)
    if sigma_end <= 0 or sigma_start < sigma_end:
        raise ValueError("need 0 < sigma_end <= sigma_start")
    backend = ENGINES[engine]
    layers = spiking_layers(
        lambda a: LIF(a, hidden, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt, alpha=alpha,
                      backend=backend),
        n_in, hidden=hidden, n_layers=n_layers, norm=norm,
        make_linear=lambda a: (DelayedLinear(a, hidden, taps=taps, sigma=sigma_start, norm=norm)
                               if taps > 1 else NormLinear(a, hidden) if norm
                               else nn.Linear(a, hidden)))
    out = LI(hidden, n_classes, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt, backend=backend)
    return DelayNet(layers, out, dropout=dropout, readout=readout, sigma_start=sigma_start,
                    sigma_end=sigma_end)

