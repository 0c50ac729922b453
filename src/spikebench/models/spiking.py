"""The one spiking stack; ``snn``, ``rsnn``, ``adlif``, ``delays`` and ``hybrid`` configure it.

Network: input ``x`` float32 ``[T, B, C]`` (time-major) -> optional causal convolutional
front end (``filters > 0``, :mod:`.hybrid`) -> ``n_layers`` x (projection ``W x``, batch
normalised when ``norm``, with learned delays when ``max_delay > 0`` (:mod:`.delays`) ->
LIF or adaptive LIF neurons, recurrent when ``recurrent`` -> dropout) -> leaky-integrator
readout ``v [T, B, K]`` -> logits ``[B, K]`` by the rule ``readout``:

* ``max``: ``max_t v_t`` (Norse's SHD tutorial); ``mean``: ``(1/T) sum_t v_t``;
  ``last``: ``v_T``; ``softmax_mean``: ``log (1/T) sum_t softmax(v_t)`` (SpArch's rule, a
  log-probability, so cross-entropy applies). ``readout_scale`` multiplies the logits.

Each registered name is :func:`spiking_stack` with its own defaults and the options it
exposes (timm's builders calling one ``_create``). Neurons are the engine's layers
(:mod:`spikebench.engine.layers`; equations in :mod:`spikebench.engine`). Units: every
``tau_*``, ``dt``, ``max_delay`` and ``bin_dt`` in seconds; with ``dt = 1e-3`` one time bin
counts as one 1 ms Euler step (Norse's convention). ``in_gain`` / ``out_gain`` scale the
initial hidden / readout projection weights. ``init="fluctuation"``: fluctuation-driven
initialisation (Rossbroich, Gygax & Zenke 2022), see :meth:`SpikingStack.fluctuation_init`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from spikebench.models.base import Model, ModelOutput
from spikebench.models.registry import register_model

READOUTS = ("max", "mean", "last", "softmax_mean")
INITS = ("default", "fluctuation")


def class_scores(v: torch.Tensor, readout: str) -> torch.Tensor:
    """Logits ``[B, K]`` from a readout membrane ``v [T, B, K]`` by rule ``readout``."""
    if readout == "max":
        return v.amax(dim=0)
    if readout == "mean":
        return v.mean(dim=0)
    if readout == "last":
        return v[-1]
    if readout == "softmax_mean":
        return torch.logsumexp(torch.log_softmax(v, dim=-1), dim=0) - math.log(v.shape[0])
    raise ValueError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")


def psp_kernel_energy(tau_syn: float, tau_mem: float, dt: float, n_steps: int = 4000) -> float:
    """``sum_k eps_k^2`` of the membrane's response ``eps_k`` to a unit input at step 0.

    ``eps`` follows :mod:`spikebench.engine.lif`'s Euler equations without threshold
    (``a_mem = dt / tau_mem``, ``a_syn = dt / tau_syn``); dimensionless, per unit current.
    """
    a_mem, a_syn = dt / tau_mem, dt / tau_syn
    v = i = total = 0.0
    for k in range(n_steps):
        j = i + (1.0 if k == 0 else 0.0)
        v = v + a_mem * (j - v)
        i = j - a_syn * j
        total += v * v
    return total


class NormLinear(nn.Linear):
    """``nn.Linear`` (no bias) followed by ``BatchNorm1d`` over its outputs.

    ``forward(x [T, B, n_in]) -> [T, B, n_out]``; statistics over all ``T * B`` steps (as
    SpArch); the norm's shift replaces the bias. At inference it is a fixed affine map
    that :mod:`spikebench.export.nir` folds into the weights.
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__(n_in, n_out, bias=False)
        self.norm = nn.BatchNorm1d(n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return self.norm(y.reshape(-1, y.shape[-1])).reshape(y.shape)  # [T*B, N] -> [T, B, N]


class SpikingStack(Model):
    """Spiking layers (``[T, B, n] -> [T, B, m]``) with dropout between them, an LI readout.

    ``front`` (``[T, B, C] -> [T, B, F]``) runs first and is dropped out like a layer.
    ``sigma`` ``(start, end)``: the delay-kernel width schedule of learned-delay synapses,
    set before each epoch by :meth:`on_epoch_start` (geometric from start to end).
    """

    def __init__(self, layers: list[nn.Module], readout_layer: nn.Module, *, dropout: float,
                 readout: str, readout_scale: float = 1.0, front: nn.Module | None = None,
                 sigma: tuple[float, float] | None = None, init: str = "default",
                 init_xi: float = 3.0, psp_energy: float = 0.0) -> None:
        super().__init__()
        self.front = front
        self.hidden = nn.ModuleList(layers)
        self.drop = nn.Dropout(dropout)
        self.out = readout_layer
        self.readout, self.readout_scale = readout, float(readout_scale)
        self.n_features = getattr(front, "n_features", None)
        self.sigma = sigma
        self.init_xi, self.psp_energy = float(init_xi), float(psp_energy)
        self.register_buffer("init_done", torch.tensor(init == "default"),
                             persistent=init != "default")  # default-init checkpoints unchanged

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The front end's output ``[T, B, F]`` (``x`` itself without one)."""
        return x if self.front is None else self.front(x)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if self.training and not bool(self.init_done):
            self.fluctuation_init(x)
        if self.front is not None:
            x = self.drop(self.front(x))  # [T, B, F]
        spikes = []
        for layer in self.hidden:
            x = layer(x)  # [T, B, hidden]
            spikes.append(x)
            x = self.drop(x)
        v = self.out(x)  # [T, B, K]
        logits = class_scores(v, self.readout)
        if self.readout_scale != 1.0:
            logits = logits * self.readout_scale
        return ModelOutput(logits, tuple(spikes))

    def data_init(self, x: torch.Tensor) -> None:
        """Complete a pending fluctuation-driven init from the first training batch ``x``
        (the runner calls it before training; a no-op when done or not asked for)."""
        if not bool(self.init_done):
            self.fluctuation_init(x)

    @torch.no_grad()
    def fluctuation_init(self, x: torch.Tensor) -> None:
        """Redraw each hidden projection from the first training batch ``x [T, B, C]``.

        ``W ~ N(0, sigma_w^2)``, bias 0, ``sigma_w = (v_th / xi) / sqrt(m2 * sum_k eps_k^2)``
        with ``m2`` the batch's mean over steps of ``sum_c x_c^2`` and ``eps`` the PSP
        kernel (:func:`psp_kernel_energy`): the free membrane then fluctuates around 0 with
        standard deviation ``v_th / xi``. Assumes uncorrelated inputs and a zero mean, a
        simplification of Rossbroich et al.'s choice of mean and spread.
        """
        x = self.features(x)
        for layer in self.hidden:
            m2 = float(x.double().pow(2).sum(-1).mean())  # mean over steps of sum_c x_c^2
            sigma_w = (layer.p.v_th / self.init_xi) / max(m2 * self.psp_energy, 1e-12) ** 0.5
            layer.linear.weight.normal_(0.0, sigma_w)
            if layer.linear.bias is not None:
                layer.linear.bias.zero_()
            x = layer(x)  # the next layer's input: these spikes
        self.init_done.fill_(True)

    def sigma_at(self, epoch: int, epochs: int) -> float:
        """Delay-kernel width (steps) during 0-based ``epoch`` of ``epochs``."""
        start, end = self.sigma or (0.0, 0.0)
        if epochs <= 1:
            return end
        return start * (end / start) ** min(epoch / (epochs - 1), 1.0)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        if self.sigma is None:
            return
        from spikebench.models.delays import DelayedLinear

        width = self.sigma_at(epoch, epochs)
        for layer in self.hidden:
            if isinstance(layer.linear, DelayedLinear):
                layer.linear.sigma.fill_(width)


def _check(hidden: int, n_layers: int, dropout: float, readout: str, gains: tuple[float, ...],
           init: str, init_xi: float) -> None:
    if hidden < 1 or n_layers < 1:
        raise ValueError("hidden and n_layers must be >= 1")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), not {dropout}")
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {', '.join(READOUTS)}, not {readout!r}")
    if min(gains) <= 0:
        raise ValueError(f"in_gain, out_gain and readout_scale must be > 0, not {gains}")
    if init not in INITS or not init_xi > 0:
        raise ValueError(f"init must be one of {', '.join(INITS)} and init_xi > 0")


def _adlif_maker(hidden: int, recurrent: bool, tau_mem: float | tuple[float, float],
                 tau_adapt: tuple[float, float], a_range: tuple[float, float],
                 b_range: tuple[float, float], **neuron) -> Callable[[int], nn.Module]:
    """Adaptive LIF layers; ``a`` must stay above ``-(1 - exp(-dt / tau_adapt))`` or the
    subthreshold dynamics are unstable (derivation in docs/experiments.md)."""
    from spikebench.engine.layers import AdLIF

    tau_mem = (tau_mem, tau_mem) if isinstance(tau_mem, (int, float)) else tuple(tau_mem)
    bound = -(1.0 - math.exp(-neuron["dt"] / max(tau_adapt)))
    if a_range[0] <= bound:
        raise ValueError(f"a_range lower bound {a_range[0]} makes the adLIF unstable (it must "
                         f"be > -(1 - exp(-dt / tau_adapt)) = {bound:.4g}); use e.g. [0.0, 1.0]")
    return lambda a: AdLIF(a, hidden, recurrent=recurrent, tau_mem=tau_mem,
                           tau_adapt=tuple(tau_adapt), a_range=tuple(a_range),
                           b_range=tuple(b_range), **neuron)


def spiking_stack(
    *, n_in: int, n_classes: int, n_steps: int, neuron: str = "lif", hidden: int = 128,
    n_layers: int = 1, recurrent: bool = False, norm: bool = False, dropout: float = 0.0,
    readout: str = "max", readout_scale: float = 1.0, in_gain: float = 1.0,
    out_gain: float = 1.0, engine: str = "fused", dt: float = 1e-3, alpha: float = 100.0,
    surrogate: str = "superspike", v_th: float = 1.0, tau_syn: float = 5e-3,
    tau_mem: float | tuple[float, float] = 1e-2, init: str = "default", init_xi: float = 3.0,
    tau_adapt: tuple[float, float] = (30e-3, 350e-3), a_range: tuple[float, float] = (0.0, 1.0),
    b_range: tuple[float, float] = (0.0, 2.0), tau_out: float = 1e-2, max_delay: float = 0.0,
    bin_dt: float = 0.01, sigma_start: float = 0.0, sigma_end: float = 0.5, filters: int = 0,
    conv_layers: int = 2, kernel_size: int = 5,
) -> SpikingStack:
    """Build the network of the module docstring (``neuron``: ``"lif"`` or ``"adlif"``)."""
    from spikebench.engine.layers import LI, LIF
    from spikebench.models.delays import DelayedLinear
    from spikebench.models.hybrid import CausalConvFront

    _check(hidden, n_layers, dropout, readout, (in_gain, out_gain, readout_scale), init, init_xi)
    taps = int(round(max_delay / bin_dt)) + 1 if max_delay > 0 else 1
    if engine == "norse" and (norm or taps > 1):
        raise ValueError("engine 'norse' steps Norse's cells with a plain linear projection; "
                         "use norm=false and no delays")
    front = None
    if filters > 0:
        if conv_layers < 1 or kernel_size < 1 or n_in >> conv_layers < 1:
            raise ValueError(f"need conv_layers, kernel_size >= 1 and enough of {n_in} channels "
                             f"for {conv_layers} poolings by 2")
        front = CausalConvFront(n_in, filters=filters, conv_layers=conv_layers,
                                kernel_size=kernel_size)
    common = dict(dt=dt, alpha=alpha, surrogate=surrogate, v_th=v_th, engine=engine)
    if neuron == "adlif":
        if init != "default":
            raise ValueError("init='fluctuation' is derived for LIF neurons, not adLIF")
        make_layer = _adlif_maker(hidden, recurrent, tau_mem, tau_adapt, a_range, b_range, **common)
        readout_layer = lambda: LI(hidden, n_classes, tau_syn=tau_out / 2,  # noqa: E731
                                   tau_mem=tau_out, dt=dt, engine=engine)
    else:
        if not isinstance(tau_mem, (int, float)):
            raise ValueError(f"tau_mem of LIF neurons is one number of seconds, not {tau_mem!r}")
        make_layer = lambda a: LIF(a, hidden, recurrent=recurrent, tau_syn=tau_syn,  # noqa: E731
                                   tau_mem=tau_mem, **common)
        readout_layer = lambda: LI(hidden, n_classes, tau_syn=tau_syn,  # noqa: E731
                                   tau_mem=tau_mem, dt=dt, engine=engine)
    sigma = None
    if taps > 1:
        if recurrent:
            raise ValueError("learned delays are feed-forward here; use recurrent=false")
        start = sigma_start if sigma_start > 0 else max(taps / 2, sigma_end)
        if sigma_end <= 0 or start < sigma_end:
            raise ValueError("need 0 < sigma_end <= sigma_start")
        sigma = (start, sigma_end)
    layers = []
    for a in [front.n_features if front else n_in] + [hidden] * (n_layers - 1):
        layer = make_layer(a)
        if taps > 1:
            layer.linear = DelayedLinear(a, hidden, taps=taps, sigma=sigma[0], norm=norm)
        elif norm:
            layer.linear = NormLinear(a, hidden)
        layers.append(layer)
    out = readout_layer()
    if in_gain != 1.0 or out_gain != 1.0:
        with torch.no_grad():
            for layer in layers:
                layer.linear.weight.mul_(in_gain)
            out.linear.weight.mul_(out_gain)
    energy = psp_kernel_energy(tau_syn, float(tau_mem), dt) if init == "fluctuation" else 0.0
    return SpikingStack(layers, out, dropout=dropout, readout=readout,
                        readout_scale=readout_scale, front=front, sigma=sigma, init=init,
                        init_xi=init_xi, psp_energy=energy)


_SHARED = ("hidden", "n_layers", "recurrent", "norm", "dropout", "readout", "readout_scale",
           "in_gain", "out_gain", "engine", "dt", "alpha", "surrogate", "v_th")
_LIF = (*_SHARED, "tau_syn", "tau_mem", "init", "init_xi")
_SOTA = dict(hidden=256, n_layers=2, recurrent=True, norm=True, dropout=0.1, tau_mem=2e-2)

register_model(  # the original study's SNN: Linear -> LIF (Norse LIFCell) -> LI readout
    "snn", family="snn", options=_LIF, defaults=dict(hidden=128, n_layers=1),
    streamable=True, nir_exportable=True)(spiking_stack)
register_model(  # SpArch's recipe with LIF neurons: (W x -> BN -> recurrent LIF -> dropout) x 2
    "rsnn", family="snn", options=_LIF, defaults=_SOTA,
    streamable=True, nir_exportable=True)(spiking_stack)
register_model(  # adaptive LIF (RadLIF when recurrent; Bittar & Garner 2022), a in [0, 1]
    "adlif", family="snn",
    options=(*_SHARED, "tau_mem", "tau_adapt", "a_range", "b_range", "tau_out"),
    defaults={**_SOTA, "neuron": "adlif", "tau_mem": (5e-3, 25e-3)}, streamable=True)(spiking_stack)
register_model(  # feed-forward LIF with learned synaptic delays (Hammouamri et al. 2023, DCLS)
    "delays", family="snn",
    options=(*(o for o in _LIF if o != "recurrent"), "max_delay", "bin_dt", "sigma_start",
             "sigma_end"),
    defaults={**_SOTA, "recurrent": False, "dropout": 0.4, "max_delay": 0.25},
    streamable=True)(spiking_stack)
register_model(  # causal Conv2d front end over (frequency, time), then LIF layers
    "hybrid", family="hybrid", options=(*_LIF, "filters", "conv_layers", "kernel_size"),
    defaults=dict(hidden=128, norm=True, dropout=0.2, tau_mem=2e-2, filters=16))(spiking_stack)
