"""Recurrent LIF networks with batch norm and dropout (the surrogate-gradient SHD recipe).

Architecture (as in the SpArch baselines of Bittar & Garner 2022, with LIF neurons):
input ``x`` float32 ``[T, B, C]`` (time-major) -> ``n_layers`` x (``W x`` -> batch norm
-> recurrent LIF -> dropout) -> leaky-integrator readout ``[T, B, K]`` -> class scores.

The neurons are the engine's :class:`~spikebench.engine.layers.LIF` (Norse ``LIFCell`` /
``LIFRecurrentCell`` dynamics; equations in :mod:`spikebench.engine.lif`) and
:class:`~spikebench.engine.layers.LI`. Batch norm acts on the synaptic input current
``W x`` (statistics over time and batch), as in SpArch: :class:`NormLinear` is an
``nn.Linear`` whose output is batch-normalised, installed as the layer's ``linear`` so the
engine's fused scan and every tool that reads ``layer.linear.weight`` (efficiency counts)
keep working. At inference the norm is a fixed per-neuron affine map and could be folded
into ``W`` and the bias.

Units: ``dt``, ``tau_syn`` and ``tau_mem`` in seconds. With the defaults (``dt = 1e-3``)
one time bin counts as one 1 ms Euler step, as in Norse; set ``dt`` to the bin width to
give the time constants their real meaning.

Class score rule (``readout``): ``"max"`` (max over time of the readout membrane, Norse's
SHD tutorial), ``"mean"`` (mean over time) or ``"softmax_mean"`` (log of the mean over
time of the per-step softmax, SpArch's rule; a log-probability, so cross-entropy applies).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from spikebench.models.base import ModelOutput
from spikebench.models.registry import register_model

ENGINES = {"fused": "auto", "torch": "torch", "norse": "norse"}
READOUTS = ("max", "mean", "softmax_mean")


class NormLinear(nn.Linear):
    """``nn.Linear`` (no bias) followed by ``BatchNorm1d`` over its outputs.

    ``forward(x [T, B, n_in]) -> [T, B, n_out]``; the batch statistics are taken over all
    ``T * B`` steps, the norm's shift ``beta`` replaces the linear bias.
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__(n_in, n_out, bias=False)
        self.norm = nn.BatchNorm1d(n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return self.norm(y.reshape(-1, y.shape[-1])).reshape(y.shape)  # [T*B, N] -> [T, B, N]


def class_scores(v: torch.Tensor, readout: str) -> torch.Tensor:
    """Logits ``[B, K]`` from a readout membrane ``v [T, B, K]`` by rule ``readout``."""
    if readout == "max":
        return v.amax(dim=0)
    if readout == "mean":
        return v.mean(dim=0)
    if readout == "softmax_mean":
        return torch.logsumexp(torch.log_softmax(v, dim=-1), dim=0) - math.log(v.shape[0])
    raise ValueError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")


def check_common(*, hidden: int, n_layers: int, dropout: float, readout: str) -> None:
    """Raise ValueError (the registry turns it into a ConfigError) on bad shared options."""
    if hidden < 1 or n_layers < 1:
        raise ValueError("hidden and n_layers must be >= 1")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), not {dropout}")
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")


class SpikingStack(nn.Module):
    """Spiking layers (each ``[T, B, n] -> [T, B, m]``) with dropout between them, then an LI readout.

    An optional ``front`` module (``[T, B, C] -> [T, B, F]``, e.g. the hybrid model's
    convolutions) runs first; its output is dropped out like a hidden layer's.
    """

    def __init__(self, layers: list[nn.Module], readout_layer: nn.Module, *, dropout: float,
                 readout: str, front: nn.Module | None = None) -> None:
        super().__init__()
        self.front = front
        self.hidden = nn.ModuleList(layers)
        self.drop = nn.Dropout(dropout)
        self.out = readout_layer
        self.readout = readout

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if self.front is not None:
            x = self.drop(self.front(x))  # [T, B, F]
        spikes = []
        for layer in self.hidden:
            x = layer(x)  # [T, B, hidden]
            spikes.append(x)
            x = self.drop(x)
        v = self.out(x)  # [T, B, K]
        return ModelOutput(class_scores(v, self.readout), tuple(spikes))


def spiking_layers(make_layer: Callable[[int], nn.Module], n_in: int, *, hidden: int,
                   n_layers: int, norm: bool,
                   make_linear: Callable[[int], nn.Module] | None = None) -> list[nn.Module]:
    """``n_layers`` layers ``n_in -> hidden -> ... -> hidden``, built by ``make_layer(fan_in)``.

    Each layer's input projection ``linear`` is then replaced by ``make_linear(fan_in)`` if
    given, else by :class:`NormLinear` when ``norm``.
    """
    if make_linear is None and norm:
        make_linear = lambda a: NormLinear(a, hidden)  # noqa: E731
    layers = []
    for a in [n_in] + [hidden] * (n_layers - 1):
        layer = make_layer(a)
        if make_linear is not None:
            layer.linear = make_linear(a)
        layers.append(layer)
    return layers


def lif_stack(n_in: int, n_classes: int, *, hidden: int, n_layers: int, recurrent: bool,
              norm: bool, dropout: float, readout: str, engine: str, tau_syn: float,
              tau_mem: float, dt: float, alpha: float) -> SpikingStack:
    """The network of this module's docstring."""
    from spikebench.engine.layers import LI, LIF

    check_common(hidden=hidden, n_layers=n_layers, dropout=dropout, readout=readout)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "norse" and norm:
        raise ValueError("engine 'norse' steps Norse's cells with a plain linear; use norm=false")
    backend = ENGINES[engine]
    layers = spiking_layers(
        lambda a: LIF(a, hidden, recurrent=recurrent, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt,
                      alpha=alpha, backend=backend),
        n_in, hidden=hidden, n_layers=n_layers, norm=norm)
    out = LI(hidden, n_classes, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt, backend=backend)
    return SpikingStack(layers, out, dropout=dropout, readout=readout)


@register_model("rsnn", family="snn", streamable=True, nir_exportable=True)
def rsnn(
    *,
    n_in: int,
    n_classes: int,
    n_steps: int,
    hidden: int = 256,
    n_layers: int = 2,
    recurrent: bool = True,
    norm: bool = True,
    dropout: float = 0.1,
    readout: str = "max",
    engine: str = "fused",
    tau_syn: float = 5e-3,
    tau_mem: float = 2e-2,
    dt: float = 1e-3,
    alpha: float = 100.0,
) -> SpikingStack:
    """Recurrent LIF network: (W x -> batch norm -> recurrent LIF -> dropout) x n_layers -> LI."""
    return lif_stack(n_in, n_classes, hidden=hidden, n_layers=n_layers, recurrent=recurrent,
                     norm=norm, dropout=dropout, readout=readout, engine=engine,
                     tau_syn=tau_syn, tau_mem=tau_mem, dt=dt, alpha=alpha)
