r"""Adaptive LIF (AdLIF) neurons: a fused scan over time.

Layout: time-major, the input current ``I`` is ``[T, B, N]``; states ``[B, N]``;
per-neuron parameters ``[N]``. The model is the adaptive LIF of Bittar & Garner (2022,
"A surrogate gradient spiking baseline for speech command recognition", the SpArch
``AdLIF``), a membrane ``u`` plus an adaptation current ``w`` driven by the membrane
and by the neuron's own spikes, with a subtractive reset::

    w_t = beta w_{t-1} + a u_{t-1} + b z_{t-1}
    u_t = alpha (u_{t-1} - v_th z_{t-1}) + (1 - alpha) (I_t (+ R z_{t-1}) - w_t)
    z_t = H(u_t - v_th)

``alpha = exp(-dt / tau_mem)`` and ``beta = exp(-dt / tau_adapt)`` (dt, tau in seconds)
and ``a``, ``b`` are learnable per neuron. The backward pass walks time in reverse with
the adjoints of ``u``, ``w`` and ``z``::

    gz_t = dL/dz_t - alpha v_th gu_{t+1} + b gw_{t+1} (+ gI_{t+1} R)
    gu_t = gz_t g(u_t - v_th) + alpha gu_{t+1} + a gw_{t+1}
    gw_t = -(1 - alpha) gu_t + beta gw_{t+1} ;  dL/dI_t = (1 - alpha) gu_t

and accumulates the parameter gradients ``dL/dalpha = sum gu_t ((u_{t-1} - v_th z_{t-1})
- (I_t - w_t))``, ``dL/dbeta = sum gw_t w_{t-1}``, ``dL/da = sum gw_t u_{t-1}``,
``dL/db = sum gw_t z_{t-1}``. Implementations: ``"torch"`` (PyTorch tensor ops, any
device), ``"numba"`` (compiled CPU loop) and ``"triton"`` (one CUDA kernel); for recurrent
layers these two compute the product ``R z_{t-1}`` and its adjoint as one ``torch.mm`` per step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from spikebench.engine.lif import compiled_kernels, scan_inputs
from spikebench.engine.surrogate import check_surrogate, surrogate_derivative


class AdLIFParams(NamedTuple):
    """Fixed AdLIF constants: threshold and surrogate (the decays and a, b are tensors)."""

    v_th: float = 1.0
    surrogate: str = "superspike"
    alpha: float = 100.0


class AdLIFState(NamedTuple):
    """AdLIF state after a step, each ``[B, N]``: membrane ``u``, adaptation ``w``, spikes ``z``."""

    u: torch.Tensor
    w: torch.Tensor
    z: torch.Tensor


def adlif_initial_state(batch: int, n: int, *, dtype: torch.dtype, device=None) -> AdLIFState:
    """Rest: all zeros."""
    zeros = torch.zeros(batch, n, dtype=dtype, device=device)
    return AdLIFState(zeros, zeros.clone(), zeros.clone())


def _forward(current, u, w, z, decay_mem, decay_adapt, a, b, rec, p: AdLIFParams):
    U = torch.empty_like(current)
    W = torch.empty_like(current)
    Z = torch.empty_like(current)
    rec_t = rec.t() if rec is not None else None
    for t in range(current.shape[0]):
        drive = current[t] if rec_t is None else torch.addmm(current[t], z, rec_t)
        w = decay_adapt * w + a * u + b * z
        u = decay_mem * (u - p.v_th * z) + (1.0 - decay_mem) * (drive - w)
        z = (u > p.v_th).to(u.dtype)
        U[t], W[t], Z[t] = u, w, z
    return U, W, Z


class _AdLIFScan(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx, current, u0, w0, z0, decay_mem, decay_adapt, a, b, rec, p, engine
    ):
        saved_input = current
        if engine != "torch":
            kernels = compiled_kernels(engine)
            params = (decay_mem, decay_adapt, a, b)
            if rec is None:
                U, W, Z = kernels.adlif_forward(current, u0, w0, z0, *params, p)
            else:  # keep the drive I_t + R z_{t-1} for the parameter gradients
                U, W, Z, saved_input = kernels.adlif_rec_forward(current, u0, w0, z0, *params, rec, p)
        else:
            U, W, Z = _forward(current, u0, w0, z0, decay_mem, decay_adapt, a, b, rec, p)
        ctx.engine = engine
        ctx.p = p
        ctx.has_rec = rec is not None
        ctx.save_for_backward(
            saved_input, u0, w0, z0, decay_mem, decay_adapt, a, b,
            rec if rec is not None else current.new_empty(0), U, W, Z,
        )
        return Z, U, W

    @staticmethod
    def backward(ctx, gz_out, gu_out, gw_out):  # type: ignore[override]
        current, u0, w0, z0, decay_mem, decay_adapt, a, b, rec, U, W, Z = ctx.saved_tensors
        rec = rec if ctx.has_rec else None
        p = ctx.p
        gz_out, gu_out, gw_out = (g.contiguous() if g is not None else None for g in (gz_out, gu_out, gw_out))
        if ctx.engine != "torch":
            kernels = compiled_kernels(ctx.engine)
            params = (decay_mem, decay_adapt, a, b)
            if rec is None:
                g_current, gu0, gw0, gz0, g_params = kernels.adlif_backward(
                    current, U, W, Z, u0, w0, z0, gz_out, gu_out, gw_out, *params, p
                )
                return (g_current, gu0, gw0, gz0, *g_params, None, None, None)
            g_current, gu0, gw0, gz0, g_params = kernels.adlif_rec_backward(
                current, U, W, Z, u0, w0, z0, gz_out, gu_out, gw_out, *params, rec, p
            )  # here ``current`` holds the saved drive
            g_rec = None
            if ctx.needs_input_grad[8]:
                n = U.shape[-1]
                z_prev = torch.cat([z0.unsqueeze(0), Z[:-1]])
                g_rec = g_current.reshape(-1, n).t() @ z_prev.reshape(-1, n)
            return (g_current, gu0, gw0, gz0, *g_params, g_rec, None, None)
        T = current.shape[0]
        U_prev = torch.cat([u0.unsqueeze(0), U[:-1]])  # [T, B, N]
        W_prev = torch.cat([w0.unsqueeze(0), W[:-1]])
        Z_prev = torch.cat([z0.unsqueeze(0), Z[:-1]])
        g_current = torch.empty_like(current)
        GU = torch.empty_like(current)
        GW = torch.empty_like(current)
        gu_next = torch.zeros_like(u0)
        gw_next = torch.zeros_like(u0)
        gI_next = torch.zeros_like(u0)
        for t in range(T - 1, -1, -1):
            gz = -decay_mem * p.v_th * gu_next + b * gw_next
            if gz_out is not None:
                gz = gz + gz_out[t]
            if rec is not None:
                gz = gz + gI_next @ rec
            gu = gz * surrogate_derivative(U[t] - p.v_th, p.surrogate, p.alpha)
            gu = gu + decay_mem * gu_next + a * gw_next
            if gu_out is not None:
                gu = gu + gu_out[t]
            gw = -(1.0 - decay_mem) * gu + decay_adapt * gw_next
            if gw_out is not None:
                gw = gw + gw_out[t]
            gI = (1.0 - decay_mem) * gu
            g_current[t] = gI
            GU[t], GW[t] = gu, gw
            gu_next, gw_next, gI_next = gu, gw, gI
        gu0 = decay_mem * gu_next + a * gw_next
        gw0 = decay_adapt * gw_next
        gz0 = -decay_mem * p.v_th * gu_next + b * gw_next
        if rec is not None:
            gz0 = gz0 + gI_next @ rec
        drive = current
        if rec is not None:
            drive = current + Z_prev @ rec.t()
        g_decay_mem = (GU * ((U_prev - p.v_th * Z_prev) - (drive - W))).sum((0, 1))
        g_decay_adapt = (GW * W_prev).sum((0, 1))
        g_a = (GW * U_prev).sum((0, 1))
        g_b = (GW * Z_prev).sum((0, 1))
        g_rec = None
        if rec is not None and ctx.needs_input_grad[8]:
            n = current.shape[-1]
            g_rec = g_current.reshape(-1, n).t() @ Z_prev.reshape(-1, n)
        return g_current, gu0, gw0, gz0, g_decay_mem, g_decay_adapt, g_a, g_b, g_rec, None, None


def adlif_scan(
    current: torch.Tensor,
    state: AdLIFState,
    decay_mem: torch.Tensor,
    decay_adapt: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    p: AdLIFParams,
    recurrent_weight: torch.Tensor | None = None,
    *,
    engine: str = "torch",
) -> tuple[torch.Tensor, AdLIFState]:
    """Run AdLIF over ``current [T, B, N]`` with per-neuron ``decay_mem`` (alpha),
    ``decay_adapt`` (beta), ``a``, ``b`` (each ``[N]``). Returns ``(spikes [T, B, N], final state)``.
    """
    check_surrogate(p.surrogate, p.alpha)
    current, (u0, w0, z0), engine = scan_inputs(current, state, engine, p.surrogate)
    if current.shape[0] == 0:
        return current, AdLIFState(u0, w0, z0)
    Z, U, W = _AdLIFScan.apply(
        current, u0, w0, z0, decay_mem, decay_adapt, a, b, recurrent_weight, p, engine
    )
    return Z, AdLIFState(U[-1], W[-1], Z[-1])
