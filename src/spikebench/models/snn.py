"""Spiking networks: input -> (linear -> LIF) x n_layers -> leaky-integrator readout.

The phase-1 and phase-2 SNNs of the original study: each hidden layer is an
:class:`spikebench.engine.layers.LIF` (its own ``nn.Linear`` input projection followed by
Norse ``LIFCell`` dynamics; equations in :mod:`spikebench.engine`), the readout an
:class:`~spikebench.engine.layers.LI` leaky integrator (Norse ``LICell``).

Layout: input ``x`` float32 ``[T, B, C]`` (time-major, one step per time bin); the readout
membrane is ``[T, B, K]``. **Class score rule: the maximum over time of the readout
membrane** (``logits[b, k] = max_t v[t, b, k]``), as in Norse's SHD tutorial; ``readout=
"mean"`` (mean over time) and ``"last"`` (final step) are there to compare.

Time constants are in seconds; ``dt`` is the integration step in seconds. The defaults
are Norse's (``tau_syn = 1/200 s``, ``tau_mem = 1/100 s``, ``dt = 1e-3 s``), i.e. what a
plain ``LIFCell()`` does in the original study: each time bin counts as one Norse step.

``engine`` selects the implementation of the same dynamics: ``"fused"`` (the fastest
fused scan available here), ``"torch"`` (pure-PyTorch scan, also on CUDA) or ``"norse"``
(the reference: Norse's own cells stepped in a Python loop).
"""

from __future__ import annotations

import torch
from torch import nn

from spikebench.models.base import ModelOutput
from spikebench.models.registry import register_model

ENGINES = {"fused": "auto", "torch": "torch", "norse": "norse"}
READOUTS = ("max", "mean", "last")


class SNN(nn.Module):
    """Feedforward (or recurrent) LIF network with a leaky-integrator readout."""

    def __init__(
        self,
        n_in: int,
        n_classes: int,
        *,
        hidden: int = 128,
        n_layers: int = 1,
        recurrent: bool = False,
        engine: str = "fused",
        readout: str = "max",
        tau_syn: float = 5e-3,
        tau_mem: float = 1e-2,
        v_th: float = 1.0,
        dt: float = 1e-3,
        alpha: float = 100.0,
        surrogate: str = "superspike",
        in_gain: float = 1.0,
        out_gain: float = 1.0,
    ) -> None:
        super().__init__()
        from spikebench.engine.layers import LI, LIF

        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")
        if hidden < 1 or n_layers < 1:
            raise ValueError("hidden and n_layers must be >= 1")
        if not (in_gain > 0 and out_gain > 0):
            raise ValueError(f"in_gain and out_gain must be > 0, not {in_gain}, {out_gain}")
        backend = ENGINES[engine]
        self.engine = engine
        self.readout = readout
        sizes = [n_in] + [hidden] * n_layers
        self.hidden = nn.ModuleList(
            LIF(a, b, recurrent=recurrent, tau_syn=tau_syn, tau_mem=tau_mem, v_th=v_th,
                dt=dt, surrogate=surrogate, alpha=alpha, backend=backend)
            for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.out = LI(hidden, n_classes, tau_syn=tau_syn, tau_mem=tau_mem, dt=dt, backend=backend)
        with torch.no_grad():
            for layer in self.hidden:
                layer.linear.weight.mul_(in_gain)
            self.out.linear.weight.mul_(out_gain)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        spikes = []
        for layer in self.hidden:
            x = layer(x)  # [T, B, hidden]
            spikes.append(x)
        v = self.out(x)  # [T, B, K]
        if self.readout == "max":
            logits = v.amax(dim=0)
        elif self.readout == "mean":
            logits = v.mean(dim=0)
        else:
            logits = v[-1]
        return ModelOutput(logits, tuple(spikes))


@register_model("snn")
def snn(
    *,
    n_in: int,
    n_classes: int,
    n_steps: int,
    hidden: int = 128,
    n_layers: int = 1,
    recurrent: bool = False,
    engine: str = "fused",
    readout: str = "max",
    tau_syn: float = 5e-3,
    tau_mem: float = 1e-2,
    v_th: float = 1.0,
    dt: float = 1e-3,
    alpha: float = 100.0,
    surrogate: str = "superspike",
    in_gain: float = 1.0,
    out_gain: float = 1.0,
) -> SNN:
    """The study's SNN: Linear -> LIF (Norse ``LIFCell``) -> LI readout, max over time."""
    return SNN(n_in, n_classes, hidden=hidden, n_layers=n_layers, recurrent=recurrent,
               engine=engine, readout=readout, tau_syn=tau_syn, tau_mem=tau_mem, v_th=v_th,
               dt=dt, alpha=alpha, surrogate=surrogate, in_gain=in_gain, out_gain=out_gain)
