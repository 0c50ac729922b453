"""Spiking layers: modules that own the weights and run a kernel over a whole sequence.

Every layer takes and returns time-major tensors ``[T, B, N]`` (time steps, batch,
neurons); time constants and ``dt`` are in seconds. On CPU with the compiled loops, an
``LIF`` or ``LI`` layer with a plain ``nn.Linear`` projection runs as one kernel that
finds each step's active inputs, adds their weight rows and updates the neurons
(:mod:`spikebench.engine.fused`). Otherwise the input projection ``self.linear`` is
applied to all ``T`` steps at once (one matrix product; for mostly-zero spike input on
CPU, a gather over the active inputs, see :mod:`spikebench.engine._native.projection`),
then the neuron dynamics run as one fused scan (:mod:`~spikebench.engine.lif`,
:mod:`~spikebench.engine.li` and :mod:`~spikebench.engine.adlif` hold the equations).
``step_sequence(x, state)`` runs a chunk (``T >= 1``) from a carried state and returns
the new state, so streaming in chunks gives exactly the result of one call on the whole
sequence.

``engine`` (:mod:`spikebench.engine.engines`, resolved per call): ``"fused"`` (the
fastest kernels for the tensor's device), ``"torch"`` (PyTorch scans with a hand-written
backward), ``"norse"`` (the reference: Norse's ``LIFCell`` / ``LIFRecurrentCell`` /
``LICell`` stepped in a loop with the projection inside, as the original study ran it).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from spikebench.engine import engines, fused
from spikebench.engine._native.projection import project
from spikebench.engine.adlif import AdLIFParams, AdLIFState, adlif_initial_state, adlif_scan
from spikebench.engine.li import LIParams, LIState, li_initial_state, li_scan
from spikebench.engine.lif import LIFParams, LIFState, lif_initial_state, lif_scan
from spikebench.engine.engines import Engine, parse_engine
from spikebench.engine.surrogate import check_surrogate
from spikebench.errors import ConfigError

log = logging.getLogger(__name__)

_warned_norse_surrogate = False


def _warn_norse_surrogate(surrogate: str) -> None:
    global _warned_norse_surrogate
    if surrogate != "norse-superspike" and not _warned_norse_surrogate:
        _warned_norse_surrogate = True
        log.warning(
            "engine 'norse' uses Norse's SuperSpike, whose backward ignores alpha "
            "(surrogate 'norse-superspike'), not %r", surrogate,
        )


def _scalar(value: float, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _norse_decays(p, like: torch.Tensor) -> dict[str, torch.Tensor]:
    """The ``tau_syn_inv``, ``tau_mem_inv``, ``v_leak`` of Norse's parameter tuples."""
    return dict(tau_syn_inv=_scalar(1.0 / p.tau_syn, like), tau_mem_inv=_scalar(1.0 / p.tau_mem, like),
                v_leak=_scalar(p.v_leak, like))


def _norse_loop(cell, x: torch.Tensor, s, project=None):
    """Norse's cell called step by step (``project`` applied to each step's input first)."""
    outputs = []
    for t in range(x.shape[0]):
        out, s = cell(project(x[t]) if project is not None else x[t], s)
        outputs.append(out)
    return torch.stack(outputs), s


class _Layer(nn.Module):
    """What every layer shares: ``linear``, the engine, ``forward`` and ``step_sequence``.

    A subclass defines ``initial_state`` and ``_run(x, state, engine) -> (output, state)``.
    """

    def __init__(self, n_in: int, n_out: int, *, recurrent: bool, bias: bool, engine: str,
                 allowed: tuple[Engine, ...] = tuple(Engine)) -> None:
        super().__init__()
        self.engine = parse_engine(engine, allowed)
        self.n_in, self.n_out = n_in, n_out
        self.linear = nn.Linear(n_in, n_out, bias=bias)
        self.recurrent = nn.Linear(n_out, n_out, bias=False) if recurrent else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step_sequence(x)[0]

    def step_sequence(self, x: torch.Tensor, state=None):
        """Run chunk ``x [T, B, n_in]`` from ``state`` (rest if None): ``(output, state)``."""
        if state is None:
            state = self.initial_state(x.shape[1], dtype=x.dtype, device=x.device)
        engine = engines.resolve(self.engine, x, getattr(self.p, "surrogate", None))
        return self._run(x, state, engine)

    def _recurrent_weight(self) -> torch.Tensor | None:
        return self.recurrent.weight if self.recurrent is not None else None


class LIF(_Layer):
    """Current-based LIF layer (Norse ``LIFCell`` dynamics), optionally recurrent.

    ``forward(x [T, B, n_in]) -> spikes [T, B, n_out]``. Owns ``linear``
    (``nn.Linear(n_in, n_out)``) and, if ``recurrent``, ``recurrent``
    (``nn.Linear(n_out, n_out, bias=False)``, autapses included). ``detach_reset``
    defaults to Norse's choice: differentiated reset for the feed-forward cell, detached
    for the recurrent cell. Equations: :mod:`spikebench.engine.lif`.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        recurrent: bool = False,
        bias: bool = True,
        tau_syn: float = 5e-3,
        tau_mem: float = 1e-2,
        v_th: float = 1.0,
        v_reset: float = 0.0,
        v_leak: float = 0.0,
        dt: float = 1e-3,
        surrogate: str = "superspike",
        alpha: float = 100.0,
        engine: str = "fused",
        detach_reset: bool | None = None,
    ) -> None:
        check_surrogate(surrogate, alpha)
        super().__init__(n_in, n_out, recurrent=recurrent, bias=bias, engine=engine)
        self.p = LIFParams(
            tau_syn=float(tau_syn), tau_mem=float(tau_mem), v_th=float(v_th),
            v_reset=float(v_reset), v_leak=float(v_leak), dt=float(dt),
            surrogate=surrogate, alpha=float(alpha),
            detach_reset=bool(recurrent) if detach_reset is None else bool(detach_reset),
        )

    def extra_repr(self) -> str:
        p = self.p
        return (
            f"tau_syn={p.tau_syn}, tau_mem={p.tau_mem}, v_th={p.v_th}, dt={p.dt}, "
            f"surrogate={p.surrogate!r}, alpha={p.alpha}, engine={self.engine.value!r}"
        )

    def initial_state(self, batch: int, *, dtype=torch.float32, device=None) -> LIFState:
        return lif_initial_state(batch, self.n_out, self.p, dtype=dtype, device=device)

    def _run(self, x: torch.Tensor, state: LIFState, engine: str) -> tuple[torch.Tensor, LIFState]:
        if engine == "norse":
            return self._norse(x, state)
        if fused.applies(x, engine):
            return fused.lif_layer(x, state, self.p, self.linear, self.n_out, self.recurrent)
        current = project(x, self.linear, engine)  # [T, B, n_out], all steps at once
        z, _, new_state = lif_scan(current, state, self.p, self._recurrent_weight(), engine=engine)
        return z, new_state

    def _norse(self, x: torch.Tensor, state: LIFState) -> tuple[torch.Tensor, LIFState]:
        from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters
        from norse.torch.functional.lif import LIFState as NorseLIFState
        from norse.torch.module.lif import LIFCell, LIFRecurrentCell

        _warn_norse_surrogate(self.p.surrogate)
        p = self.p
        np_ = LIFParameters(
            **_norse_decays(p, x), v_th=_scalar(p.v_th, x), v_reset=_scalar(p.v_reset, x),
            method="super", alpha=_scalar(p.alpha, x),
        )
        if self.recurrent is None:
            cell = LIFCell(np_, dt=p.dt)
            z, s = _norse_loop(cell, x, LIFFeedForwardState(v=state.v, i=state.i), self.linear)
            return z, LIFState(s.v, s.i, z[-1])
        w_in = self.linear.weight
        if self.linear.bias is not None:
            # LIFRecurrentCell has no bias: append a constant-1 input carrying it.
            w_in = torch.cat([w_in, self.linear.bias.unsqueeze(1)], dim=1)
            x = torch.cat([x, x.new_ones(*x.shape[:-1], 1)], dim=-1)
        cell = LIFRecurrentCell(
            w_in.shape[1], self.n_out, np_, input_weights=w_in,
            recurrent_weights=self.recurrent.weight, autapses=True, dt=p.dt,
        )
        z, s = _norse_loop(cell, x, NorseLIFState(z=state.z, v=state.v, i=state.i))
        return z, LIFState(s.v, s.i, s.z)


class LI(_Layer):
    """Leaky-integrator readout (Norse ``LICell`` dynamics) with its own ``linear``.

    ``forward(x [T, B, n_in]) -> membrane [T, B, n_out]``. Equations:
    :mod:`spikebench.engine.li`.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        bias: bool = True,
        tau_syn: float = 5e-3,  # s, synaptic current decay
        tau_mem: float = 1e-2,  # s, membrane decay
        v_leak: float = 0.0,
        dt: float = 1e-3,  # s, the Euler step one time bin stands for
        engine: str = "fused",  # spikebench.engine.engines.Engine
    ) -> None:
        super().__init__(n_in, n_out, recurrent=False, bias=bias, engine=engine)
        self.p = LIParams(tau_syn=float(tau_syn), tau_mem=float(tau_mem), v_leak=float(v_leak), dt=float(dt))

    def extra_repr(self) -> str:
        p = self.p
        return f"tau_syn={p.tau_syn}, tau_mem={p.tau_mem}, dt={p.dt}, engine={self.engine.value!r}"

    def initial_state(self, batch: int, *, dtype=torch.float32, device=None) -> LIState:
        return li_initial_state(batch, self.n_out, self.p, dtype=dtype, device=device)

    def _run(self, x: torch.Tensor, state: LIState, engine: str) -> tuple[torch.Tensor, LIState]:
        if engine == "norse":
            return self._norse(x, state)
        if fused.applies(x, engine):
            return fused.li_layer(x, state, self.p, self.linear, self.n_out)
        return li_scan(project(x, self.linear, engine), state, self.p, engine=engine)

    def _norse(self, x: torch.Tensor, state: LIState) -> tuple[torch.Tensor, LIState]:
        from norse.torch.functional.leaky_integrator import LIParameters
        from norse.torch.functional.leaky_integrator import LIState as NorseLIState
        from norse.torch.module.leaky_integrator import LICell

        p = self.p
        cell = LICell(LIParameters(**_norse_decays(p, x)), dt=p.dt)
        v, s = _norse_loop(cell, x, NorseLIState(v=state.v, i=state.i), self.linear)
        return v, LIState(s.v, s.i)


class AdLIF(_Layer):
    """Adaptive LIF layer (Bittar & Garner 2022), optionally recurrent.

    ``forward(x [T, B, n_in]) -> spikes [T, B, n_out]``. Owns ``linear`` and, if
    ``recurrent``, ``recurrent`` (as :class:`LIF`), plus per-neuron learnable
    ``decay_mem``, ``decay_adapt``, ``a``, ``b`` (``[n_out]``), initialised uniformly in
    the given ranges and clamped to them in every forward pass (time constants in
    seconds, converted with ``dt``). The coupling ``a`` defaults to [0, 1] (SE-adLIF,
    Baronig et al. 2024) rather than SpArch's [-1, 1]: below ``-(1 - decay_adapt)`` the
    subthreshold dynamics are unstable (derivation in docs/experiments.md). Norse has
    no such model, so engine ``"norse"`` is refused. Equations:
    :mod:`spikebench.engine.adlif`.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        recurrent: bool = False,
        bias: bool = True,
        tau_mem: tuple[float, float] = (5e-3, 25e-3),  # s, range of the initial values
        tau_adapt: tuple[float, float] = (30e-3, 350e-3),  # s, likewise
        a_range: tuple[float, float] = (0.0, 1.0),  # sub-threshold coupling, clamped range
        b_range: tuple[float, float] = (0.0, 2.0),  # spike-triggered adaptation, clamped range
        v_th: float = 1.0,
        dt: float = 1e-3,
        surrogate: str = "superspike",
        alpha: float = 100.0,
        engine: str = "fused",
    ) -> None:
        check_surrogate(surrogate, alpha)
        for name, (lo, hi) in {"tau_mem": tau_mem, "tau_adapt": tau_adapt, "a_range": a_range,
                               "b_range": b_range}.items():
            if not lo <= hi:
                raise ConfigError(f"AdLIF {name} must be (low, high) with low <= high, got {(lo, hi)}")
        if min(tau_mem) <= 0 or min(tau_adapt) <= 0 or dt <= 0:
            raise ConfigError("AdLIF time constants and dt must be > 0 seconds")
        super().__init__(n_in, n_out, recurrent=recurrent, bias=bias, engine=engine,
                         allowed=tuple(e for e in Engine if e is not Engine.NORSE))
        self.dt = float(dt)
        self.p = AdLIFParams(v_th=float(v_th), surrogate=surrogate, alpha=float(alpha))
        self.limits = {
            "decay_mem": tuple(float(torch.tensor(-dt / t).exp()) for t in tau_mem),
            "decay_adapt": tuple(float(torch.tensor(-dt / t).exp()) for t in tau_adapt),
            "a": (float(a_range[0]), float(a_range[1])),
            "b": (float(b_range[0]), float(b_range[1])),
        }
        for name, (lo, hi) in self.limits.items():
            self.register_parameter(name, nn.Parameter(torch.empty(n_out).uniform_(lo, hi)))

    def extra_repr(self) -> str:
        return f"dt={self.dt}, v_th={self.p.v_th}, surrogate={self.p.surrogate!r}, engine={self.engine.value!r}"

    def initial_state(self, batch: int, *, dtype=torch.float32, device=None) -> AdLIFState:
        return adlif_initial_state(batch, self.n_out, dtype=dtype, device=device)

    def _run(self, x: torch.Tensor, state: AdLIFState, engine: str) -> tuple[torch.Tensor, AdLIFState]:
        clamped = [getattr(self, name).clamp(lo, hi) for name, (lo, hi) in self.limits.items()]
        if fused.applies(x, engine):
            done = fused.adlif_layer(x, state, clamped, self.p, self.linear, self.n_out, self.recurrent)
            if done is not None:
                return done
        current = project(x, self.linear, engine)
        return adlif_scan(current, state, *clamped, self.p, self._recurrent_weight(), engine=engine)
