"""Adaptive LIF networks (adLIF / RadLIF of Bittar & Garner 2022, idiap/sparch).

Architecture (SpArch's ``RadLIFLayer`` stack): input ``x`` float32 ``[T, B, C]``
(time-major) -> ``n_layers`` x (``W x`` -> batch norm -> adaptive LIF, recurrent by
default -> dropout) -> leaky-integrator readout ``[T, B, K]`` -> class scores (rule
``readout``, see :mod:`spikebench.models.rsnn`).

The neurons are the engine's :class:`~spikebench.engine.layers.AdLIF` (equations in
:mod:`spikebench.engine.adlif`), which carries the Bittar & Garner parameterisation:
per-neuron learnable decays ``alpha = exp(-dt / tau_mem)``, ``beta = exp(-dt /
tau_adapt)`` and adaptation couplings ``a``, ``b``, initialised uniformly in and clamped
at every step to ``tau_mem`` in [5, 25] steps, ``tau_adapt`` in [30, 350] steps, ``a`` in
[-1, 1], ``b`` in [0, 2] (SpArch's constraints; the clamp keeps the neuron stable).
Times in seconds; with ``dt = 1e-3`` one time bin is one 1 ms step, as in SpArch's
SHD set-up with its default bin count. Batch norm on the feedforward current and dropout
0.1 follow SpArch's defaults.
"""

from __future__ import annotations

from spikebench.models.registry import register_model
from spikebench.models.rsnn import SpikingStack, check_common, spiking_layers

ENGINES = {"fused": "auto", "torch": "torch"}


@register_model("adlif")
def adlif(
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
    tau_mem: tuple[float, float] = (5e-3, 25e-3),
    tau_adapt: tuple[float, float] = (30e-3, 350e-3),
    a_range: tuple[float, float] = (-1.0, 1.0),
    b_range: tuple[float, float] = (0.0, 2.0),
    tau_out: float = 1e-2,
    dt: float = 1e-3,
    alpha: float = 100.0,
) -> SpikingStack:
    """Adaptive LIF network (RadLIF when recurrent): (W x -> BN -> adLIF -> dropout) x n -> LI."""
    from spikebench.engine.layers import LI, AdLIF

    check_common(hidden=hidden, n_layers=n_layers, dropout=dropout, readout=readout)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)} (Norse has no adLIF), "
                         f"not {engine!r}")
    backend = ENGINES[engine]
    layers = spiking_layers(
        lambda a: AdLIF(a, hidden, recurrent=recurrent, tau_mem=tuple(tau_mem),
                        tau_adapt=tuple(tau_adapt), a_range=tuple(a_range),
                        b_range=tuple(b_range), dt=dt, alpha=alpha, backend=backend),
        n_in, hidden=hidden, n_layers=n_layers, norm=norm)
    out = LI(hidden, n_classes, tau_syn=tau_out / 2, tau_mem=tau_out, dt=dt, backend=backend)
    return SpikingStack(layers, out, dropout=dropout, readout=readout)
