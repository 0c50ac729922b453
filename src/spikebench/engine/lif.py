r"""Current-based leaky integrate-and-fire (LIF) neurons: a fused scan over time.

Layout: time-major, the input current ``I`` is ``[T, B, N]`` (time steps, batch,
neurons); the state tensors are ``[B, N]``. Time constants and ``dt`` are in seconds;
voltages and currents are in the model's arbitrary units (threshold 1 by default).

Equations (Euler step of Norse's ``lif_feed_forward_step`` / ``lif_step``, in the same
order of operations), with ``a_mem = dt / tau_mem`` and ``a_syn = dt / tau_syn``::

    j_t = i_{t-1} + I_t (+ R z_{t-1} when recurrent)        synaptic current jump
    u_t = v_{t-1} + a_mem ((v_leak - v_{t-1}) + j_t)        membrane before the spike
    i_t = j_t - a_syn j_t                                   current decay
    z_t = H(u_t - v_th)                                     spike (surrogate backward)
    v_t = (1 - z_t) u_t + z_t v_reset                       reset

The reset's dependence on ``z_t`` is differentiated (Norse's feed-forward ``LIFCell``)
or detached (Norse's ``LIFRecurrentCell``), selected by ``detach_reset``.

:func:`lif_scan` runs the whole sequence as one autograd node with a hand-written
backward pass (BPTT with the surrogate gradient), walking time in reverse with the
adjoint variables of ``v`` and ``i``::

    gz_t = dL/dz_t + gzr_t (+ gv_t (v_reset - u_t) unless detach_reset)
    gu_t = gv_t (1 - z_t) + gz_t g(u_t - v_th) + dL/du_t
    gj_t = a_mem gu_t + (1 - a_syn) gi_t      -> dL/dI_t
    gv_{t-1} = (1 - a_mem) gu_t ;  gi_{t-1} = gj_t ;  gzr_{t-1} = gj_t R

and ``dL/dR = sum_t gj_t^T z_{t-1}`` as one matrix product at the end. The kernel
stores only spikes ``z`` and the pre-reset membrane ``u``; the trace after reset, when
asked for, is :func:`reset_membrane` of the two (its gradient enters as ``dL/du_t``,
``dL/dz_t``). Two
implementations of the time loop share this scheme: ``"torch"`` (PyTorch tensor ops, any
device; the reference fused path) and ``"numba"`` (compiled CPU loop, see
:mod:`spikebench.engine._native`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from spikebench.engine.engines import Engine, resolve
from spikebench.engine.surrogate import check_surrogate, surrogate_derivative


class LIFParams(NamedTuple):
    """LIF constants (seconds, model voltage units); defaults equal Norse's ``LIFParameters``."""

    tau_syn: float = 5e-3
    tau_mem: float = 1e-2
    v_th: float = 1.0
    v_reset: float = 0.0
    v_leak: float = 0.0
    dt: float = 1e-3
    surrogate: str = "superspike"
    alpha: float = 100.0
    detach_reset: bool = False

    @property
    def a_mem(self) -> float:
        # dt * (1 / tau) rather than dt / tau: the same rounding as Norse's dt * tau_mem_inv.
        return self.dt * (1.0 / self.tau_mem)

    @property
    def a_syn(self) -> float:
        return self.dt * (1.0 / self.tau_syn)


class LIFState(NamedTuple):
    """LIF state after a time step, each ``[B, N]``: membrane ``v``, current ``i``, spikes ``z``."""

    v: torch.Tensor
    i: torch.Tensor
    z: torch.Tensor


def lif_initial_state(
    batch: int, n: int, p: LIFParams, *, dtype: torch.dtype, device: torch.device | str | None = None
) -> LIFState:
    """Resting state: ``v = v_leak``, no current, no spikes (as Norse's initial state)."""
    return LIFState(
        v=torch.full((batch, n), float(p.v_leak), dtype=dtype, device=device),
        i=torch.zeros(batch, n, dtype=dtype, device=device),
        z=torch.zeros(batch, n, dtype=dtype, device=device),
    )


def _torch_forward(
    current: torch.Tensor, v: torch.Tensor, i: torch.Tensor, z: torch.Tensor,
    rec: torch.Tensor | None, p: LIFParams,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns spikes Z and pre-reset membrane U (both [T, B, N]) and the final current i."""
    a_mem, a_syn = p.a_mem, p.a_syn
    Z = torch.empty_like(current)
    U = torch.empty_like(current)
    rec_t = rec.t() if rec is not None else None
    reset = torch.full_like(v, p.v_reset)
    for t in range(current.shape[0]):
        j = i + current[t]
        if rec_t is not None:
            j = torch.addmm(j, z, rec_t)
        u = v + a_mem * ((p.v_leak - v) + j)
        i = j - a_syn * j
        spiked = u > p.v_th
        z = spiked.to(u.dtype)
        v = torch.where(spiked, reset, u)
        U[t] = u
        Z[t] = z
    return Z, U, i


def _torch_backward(
    U: torch.Tensor, gz_out: torch.Tensor | None, gu_out: torch.Tensor | None,
    gi: torch.Tensor, rec: torch.Tensor | None, p: LIFParams,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Returns dL/dI [T, B, N] and the adjoints of the initial v, i and (recurrent) z.

    Everything that does not depend on the adjoints carried in time is computed for all
    steps at once: with ``s_t = g(u_t - v_th)``, ``gu_t = gv_t A_t + (gz_t s_t + dL/du_t)``
    where ``A_t = (1 - z_t) + (v_reset - u_t) s_t`` (no second term if ``detach_reset``),
    so the loop is a few operations per step (kernel launches matter on CUDA).
    """
    a_mem, keep_mem, keep_syn = p.a_mem, 1.0 - p.a_mem, 1.0 - p.a_syn
    sg = surrogate_derivative(U - p.v_th, p.surrogate, p.alpha)  # [T, B, N]
    A = (U <= p.v_th).to(U.dtype)
    if not p.detach_reset:
        A = A + (p.v_reset - U) * sg
    C = gz_out * sg if gz_out is not None else torch.zeros_like(U)
    if gu_out is not None:
        C = C + gu_out
    g_current = torch.empty_like(U)
    gv = torch.zeros_like(gi)
    gzr = torch.zeros_like(gi) if rec is not None else None
    for t in range(U.shape[0] - 1, -1, -1):
        gu = torch.addcmul(C[t], gv, A[t])
        if gzr is not None:
            gu = torch.addcmul(gu, gzr, sg[t])
        gj = torch.add(gi * keep_syn, gu, alpha=a_mem, out=g_current[t])
        gv = gu * keep_mem
        gi = gj
        if rec is not None:
            gzr = gj @ rec
    return g_current, gv, gi.clone(), gzr  # gi is a view of g_current[0]


def compiled_kernels(engine: Engine):
    """The kernel module of a compiled implementation: numba's (CPU) or Triton's (CUDA)."""
    if engine == "numba":
        from spikebench.engine._native import numba_kernels

        return numba_kernels
    from spikebench.engine._triton import kernels

    return kernels


def state_tensors(state: tuple[torch.Tensor, ...], dtype: torch.dtype, batch: int,
                  n: int) -> tuple[torch.Tensor, ...]:
    """A state's tensors as contiguous ``[batch, n]`` in ``dtype`` (a broadcastable state expanded)."""
    return tuple(s.to(dtype).expand(batch, n).contiguous() for s in state)


def scan_inputs(
    current: torch.Tensor, state: tuple[torch.Tensor, ...], engine: str | Engine,
    surrogate: str | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], Engine]:
    """The checks every scan (LIF, LI, AdLIF) makes first.

    Returns ``current [T, B, N]`` made contiguous, the state tensors as ``[B, N]`` in its
    dtype, and the implementation to run (``"torch"`` where numba or Triton cannot take the
    tensor).
    """
    engine = Engine(engine)
    if engine is Engine.NORSE:
        raise ValueError("a scan runs spikebench's kernels; Norse's cells run in the layers")
    if current.dim() != 3:
        raise ValueError(f"current must be [T, B, N], got shape {tuple(current.shape)}")
    current = current.contiguous()
    state = state_tensors(state, current.dtype, *current.shape[1:])
    return current, state, resolve(engine, current, surrogate)


class _LIFScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, v0, i0, z0, rec, p, engine):  # type: ignore[override]
        if engine != "torch":
            kernels = compiled_kernels(engine)
            if rec is None:
                Z, U, i_last = kernels.lif_forward(current, v0, i0, p)
            else:
                Z, U, i_last = kernels.lif_rec_forward(current, v0, i0, z0, rec, p)
        else:
            Z, U, i_last = _torch_forward(current, v0, i0, z0, rec, p)
        ctx.p = p
        ctx.engine = engine
        ctx.has_rec = rec is not None
        ctx.save_for_backward(U, z0, rec if rec is not None else U.new_empty(0), Z)
        return Z, U, i_last

    @staticmethod
    def backward(ctx, gz_out, gu_out, gi_last):  # type: ignore[override]
        U, z0, rec, Z = ctx.saved_tensors
        g_current, gv0, gi0, gz0, g_rec = scan_backward(
            U, Z, z0, rec if ctx.has_rec else None, gz_out, gu_out, gi_last, ctx.p, ctx.engine,
            ctx.needs_input_grad[4])
        return g_current, gv0, gi0, gz0, g_rec, None, None


def scan_backward(
    U: torch.Tensor, Z: torch.Tensor, z0: torch.Tensor, rec: torch.Tensor | None,
    gz_out: torch.Tensor | None, gu_out: torch.Tensor | None, gi_last: torch.Tensor | None,
    p: LIFParams, engine: str, need_g_rec: bool,
):
    """The scan's backward pass from its saved ``U``, ``Z`` and initial spikes ``z0``.

    Returns ``dL/dI [T, B, N]``, the adjoints of the initial ``v``, ``i``, ``z`` (``z``:
    None unless recurrent) and ``dL/dR`` (None unless ``need_g_rec``).
    """
    gi = gi_last if gi_last is not None else torch.zeros_like(U[0])
    if gz_out is not None and not gz_out.is_contiguous():
        gz_out = gz_out.contiguous()
    if gu_out is not None and not gu_out.is_contiguous():
        gu_out = gu_out.contiguous()
    if engine != "torch":
        kernels = compiled_kernels(engine)
        if rec is None:
            g_current, gv0, gi0 = kernels.lif_backward(U, gz_out, gu_out, gi, p)
            gz0 = None
        else:
            g_current, gv0, gi0, gz0 = kernels.lif_rec_backward(U, gz_out, gu_out, gi, rec, p)
    else:
        g_current, gv0, gi0, gz0 = _torch_backward(U, gz_out, gu_out, gi, rec, p)
    g_rec = None
    if rec is not None and need_g_rec:
        z_prev = torch.cat([z0.unsqueeze(0), Z[:-1]])  # [T, B, N]
        n = U.shape[-1]
        g_rec = g_current.reshape(-1, n).t() @ z_prev.reshape(-1, n)
    return g_current, gv0, gi0, gz0, g_rec


def reset_membrane(z: torch.Tensor, u: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Membrane after reset ``v = (1 - z) u + z v_reset`` from spikes and pre-reset ``u``.

    The value is exact (``v_reset`` where ``z = 1``, ``u`` elsewhere); the gradient is
    that of the formula (``dv/dz = v_reset - u``), or zero through ``z`` if ``detach_reset``.
    """
    v = torch.where(z > 0, torch.full_like(u, p.v_reset), u)
    if p.detach_reset or not z.requires_grad:
        return v
    return v + (z - z.detach()) * (p.v_reset - u)


def lif_scan(
    current: torch.Tensor,
    state: LIFState,
    p: LIFParams,
    recurrent_weight: torch.Tensor | None = None,
    *,
    engine: str | Engine = "torch",
    membrane: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None, LIFState]:
    """Run the LIF equations over ``current [T, B, N]`` from ``state``.

    ``recurrent_weight`` is ``[N, N]`` (``nn.Linear`` convention: ``R z`` adds
    ``z @ R.T``). Returns ``(spikes [T, B, N], membrane, final state)`` where
    ``membrane`` is the trace after reset ``[T, B, N]`` if ``membrane=True``, else None
    (not computed). Gradients flow to ``current``, the initial state and
    ``recurrent_weight``.
    """
    check_surrogate(p.surrogate, p.alpha)
    current, (v0, i0, z0), engine = scan_inputs(current, state, engine, p.surrogate)
    if current.shape[0] == 0:
        return current, (current if membrane else None), LIFState(v0, i0, z0)
    Z, U, i_last = _LIFScan.apply(current, v0, i0, z0, recurrent_weight, p, engine)
    V = reset_membrane(Z, U, p) if membrane else None
    v_last = V[-1] if V is not None else reset_membrane(Z[-1], U[-1], p)
    return Z, V, LIFState(v_last, i_last, Z[-1])
