r"""Leaky integrator (LI) readout: a fused scan over time.

Layout: time-major, the input current ``I`` is ``[T, B, N]``; state tensors ``[B, N]``.
Time constants and ``dt`` in seconds. The equations are Norse's ``li_feed_forward_step``
(the LIF of :mod:`spikebench.engine.lif` without threshold), with
``a_mem = dt / tau_mem``, ``a_syn = dt / tau_syn``::

    j_t = i_{t-1} + I_t
    v_t = v_{t-1} + a_mem ((v_leak - v_{t-1}) + j_t)
    i_t = j_t - a_syn j_t

The backward pass is the adjoint recurrence walked in reverse::

    gv_t += dL/dv_t ;  gj_t = a_mem gv_t + (1 - a_syn) gi_t  -> dL/dI_t
    gv_{t-1} = (1 - a_mem) gv_t ;  gi_{t-1} = gj_t

Implementations ``"torch"`` (any device), ``"numba"`` (compiled CPU loop) and
``"triton"`` (one CUDA kernel).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from spikebench.engine.lif import LIFParams, compiled_kernels, lif_initial_state, scan_inputs


class LIParams(NamedTuple):
    """LI constants in seconds; defaults equal Norse's ``LIParameters``; ``a_mem``, ``a_syn`` as LIF's."""

    tau_syn: float = 5e-3
    tau_mem: float = 1e-2
    v_leak: float = 0.0
    dt: float = 1e-3

    a_mem = LIFParams.a_mem
    a_syn = LIFParams.a_syn


class LIState(NamedTuple):
    """LI state after a time step, each ``[B, N]``: membrane ``v`` and current ``i``."""

    v: torch.Tensor
    i: torch.Tensor


def li_initial_state(
    batch: int, n: int, p: LIParams, *, dtype: torch.dtype, device: torch.device | str | None = None
) -> LIState:
    """Resting state ``v = v_leak``, ``i = 0`` (as Norse's ``LICell``): LIF's without ``z``."""
    v, i, _ = lif_initial_state(batch, n, p, dtype=dtype, device=device)
    return LIState(v, i)


def _torch_forward(current, v, i, p: LIParams):
    a_mem, a_syn = p.a_mem, p.a_syn
    V = torch.empty_like(current)
    for t in range(current.shape[0]):
        j = i + current[t]
        v = v + a_mem * ((p.v_leak - v) + j)
        i = j - a_syn * j
        V[t] = v
    return V, i


def _torch_backward(gv_out, gi, p: LIParams):
    a_mem, a_syn = p.a_mem, p.a_syn
    g_current = torch.empty_like(gv_out)
    gv = torch.zeros_like(gi)
    for t in range(gv_out.shape[0] - 1, -1, -1):
        gv = gv + gv_out[t]
        gj = a_mem * gv + (1.0 - a_syn) * gi
        g_current[t] = gj
        gv = (1.0 - a_mem) * gv
        gi = gj
    return g_current, gv, gi


class _LIScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, v0, i0, p, engine):  # type: ignore[override]
        if engine != "torch":
            V, i_last = compiled_kernels(engine).li_forward(current, v0, i0, p)
        else:
            V, i_last = _torch_forward(current, v0, i0, p)
        ctx.p = p
        ctx.engine = engine
        ctx.shape = current.shape
        return V, i_last

    @staticmethod
    def backward(ctx, gv_out, gi_last):  # type: ignore[override]
        g_current, gv0, gi0 = scan_backward(gv_out, gi_last, ctx.shape, ctx.p, ctx.engine)
        return g_current, gv0, gi0, None, None


def scan_backward(gv_out, gi_last, shape, p: LIParams, engine: str):
    """The LI scan's backward pass: ``dL/dI [T, B, N]`` and the adjoints of the initial ``v``, ``i``."""
    if gv_out is None:
        gv_out = gi_last.new_zeros(shape)
    gi = gi_last if gi_last is not None else torch.zeros_like(gv_out[0])
    if engine != "torch":
        return compiled_kernels(engine).li_backward(gv_out.contiguous(), gi.contiguous(), p)
    return _torch_backward(gv_out, gi, p)


def li_scan(
    current: torch.Tensor, state: LIState, p: LIParams, *, engine: str = "torch"
) -> tuple[torch.Tensor, LIState]:
    """Run the LI equations over ``current [T, B, N]``; returns ``(membrane [T, B, N], final state)``."""
    current, (v0, i0), engine = scan_inputs(current, state, engine)
    if current.shape[0] == 0:
        return current, LIState(v0, i0)
    V, i_last = _LIScan.apply(current, v0, i0, p, engine)
    return V, LIState(V[-1], i_last)
