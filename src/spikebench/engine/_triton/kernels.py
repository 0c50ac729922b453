"""Triton kernels for the LIF, LI and AdLIF scans and their hand-written backward (CUDA).

Same equations and adjoint recurrences as :mod:`spikebench.engine.lif`,
:mod:`spikebench.engine.li` and :mod:`spikebench.engine.adlif`, with the same functions
and return values as :mod:`spikebench.engine._native.numba_kernels`, so the autograd
functions call either. Tensors are viewed as ``[T, M]`` with ``M = B * N`` independent
neurons; each program owns ``BLOCK`` neurons, keeps their state in registers and walks
the time steps itself, so a feed-forward scan is one kernel launch instead of a Python
loop of about ten small PyTorch operations per step (each a launch on CUDA). A recurrent
layer needs ``R z_{t-1}`` from every neuron before step ``t``: there each step is one
cuBLAS product plus one launch of the same kernel with ``T = 1``, as the numba loops do.
Constants are read from a tensor of the data's dtype, so float64 runs in float64
throughout (a Python float argument would be rounded to float32).

Why hand-written: ``torch.compile`` traces the Python loop over time and unrolls it into
a graph of ``T`` steps (recompiled for each new sequence length); a scan written once as a
kernel avoids that. The two have not been timed against each other (no GPU here).
On CPU tensors the kernels run through Triton's interpreter (``TRITON_INTERPRET=1``,
NumPy), which is how the tests check them without a GPU; it is slow and only for that.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from spikebench.engine._triton import interpreting


def _lif_fwd(cur, rec_in, v_s, i_s, Z, U, consts, T, M, HAS_REC: tl.constexpr,
             BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    a_mem = tl.load(consts + 0)
    a_syn = tl.load(consts + 1)
    v_leak = tl.load(consts + 2)
    v_th = tl.load(consts + 3)
    v_reset = tl.load(consts + 4)
    v = tl.load(v_s + offs, mask=mask, other=0.0)
    i = tl.load(i_s + offs, mask=mask, other=0.0)
    for t in range(T):
        j = i + tl.load(cur + t * M + offs, mask=mask, other=0.0)
        if HAS_REC:
            j = j + tl.load(rec_in + offs, mask=mask, other=0.0)
        u = v + a_mem * ((v_leak - v) + j)
        i = j - a_syn * j
        spiked = u > v_th
        tl.store(U + t * M + offs, u, mask=mask)
        tl.store(Z + t * M + offs, tl.where(spiked, 1.0, 0.0).to(u.dtype), mask=mask)
        v = tl.where(spiked, v_reset, u)
    tl.store(v_s + offs, v, mask=mask)
    tl.store(i_s + offs, i, mask=mask)


def _lif_bwd(U, GZ, GU, GZR, gv_s, gi_s, G, consts, T, M, HAS_GZ: tl.constexpr,
             HAS_GU: tl.constexpr, HAS_GZR: tl.constexpr, DETACH_RESET: tl.constexpr,
             BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    a_mem = tl.load(consts + 0)
    keep_mem = tl.load(consts + 1)
    keep_syn = tl.load(consts + 2)
    v_th = tl.load(consts + 3)
    v_reset = tl.load(consts + 4)
    width = tl.load(consts + 5)
    gv = tl.load(gv_s + offs, mask=mask, other=0.0)
    gi = tl.load(gi_s + offs, mask=mask, other=0.0)
    for k in range(T):
        t = T - 1 - k
        u = tl.load(U + t * M + offs, mask=mask, other=0.0)
        gz = tl.full([BLOCK], 0.0, u.dtype)
        if HAS_GZ:
            gz = gz + tl.load(GZ + t * M + offs, mask=mask, other=0.0)
        if HAS_GZR:
            gz = gz + tl.load(GZR + offs, mask=mask, other=0.0)
        if not DETACH_RESET:
            gz = gz + gv * (v_reset - u)
        d = width * tl.abs(u - v_th) + 1.0
        gu = tl.where(u > v_th, 0.0, gv) + gz * (1.0 / (d * d))
        if HAS_GU:
            gu = gu + tl.load(GU + t * M + offs, mask=mask, other=0.0)
        gj = a_mem * gu + keep_syn * gi
        tl.store(G + t * M + offs, gj, mask=mask)
        gv = keep_mem * gu
        gi = gj
    tl.store(gv_s + offs, gv, mask=mask)
    tl.store(gi_s + offs, gi, mask=mask)


def _li_fwd(cur, v_s, i_s, V, consts, T, M, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    a_mem = tl.load(consts + 0)
    a_syn = tl.load(consts + 1)
    v_leak = tl.load(consts + 2)
    v = tl.load(v_s + offs, mask=mask, other=0.0)
    i = tl.load(i_s + offs, mask=mask, other=0.0)
    for t in range(T):
        j = i + tl.load(cur + t * M + offs, mask=mask, other=0.0)
        v = v + a_mem * ((v_leak - v) + j)
        i = j - a_syn * j
        tl.store(V + t * M + offs, v, mask=mask)
    tl.store(v_s + offs, v, mask=mask)
    tl.store(i_s + offs, i, mask=mask)


def _li_bwd(GV, gv_s, gi_s, G, consts, T, M, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    a_mem = tl.load(consts + 0)
    keep_mem = tl.load(consts + 1)
    keep_syn = tl.load(consts + 2)
    gv = tl.load(gv_s + offs, mask=mask, other=0.0)
    gi = tl.load(gi_s + offs, mask=mask, other=0.0)
    for k in range(T):
        t = T - 1 - k
        gv = gv + tl.load(GV + t * M + offs, mask=mask, other=0.0)
        gj = a_mem * gv + keep_syn * gi
        tl.store(G + t * M + offs, gj, mask=mask)
        gv = keep_mem * gv
        gi = gj
    tl.store(gv_s + offs, gv, mask=mask)
    tl.store(gi_s + offs, gi, mask=mask)


def _adlif_fwd(cur, rec_in, u_s, w_s, z_s, dm_p, da_p, a_p, b_p, U, W, Z, D, consts, T, M, N,
               HAS_REC: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    n = offs % N
    v_th = tl.load(consts + 0)
    dm = tl.load(dm_p + n, mask=mask, other=0.0)
    da = tl.load(da_p + n, mask=mask, other=0.0)
    a = tl.load(a_p + n, mask=mask, other=0.0)
    b = tl.load(b_p + n, mask=mask, other=0.0)
    u = tl.load(u_s + offs, mask=mask, other=0.0)
    w = tl.load(w_s + offs, mask=mask, other=0.0)
    z = tl.load(z_s + offs, mask=mask, other=0.0)
    for t in range(T):
        drive = tl.load(cur + t * M + offs, mask=mask, other=0.0)
        if HAS_REC:
            drive = drive + tl.load(rec_in + offs, mask=mask, other=0.0)
            tl.store(D + t * M + offs, drive, mask=mask)
        w = da * w + a * u + b * z
        u = dm * (u - v_th * z) + (1.0 - dm) * (drive - w)
        z = tl.where(u > v_th, 1.0, 0.0).to(u.dtype)
        tl.store(U + t * M + offs, u, mask=mask)
        tl.store(W + t * M + offs, w, mask=mask)
        tl.store(Z + t * M + offs, z, mask=mask)
    tl.store(u_s + offs, u, mask=mask)
    tl.store(w_s + offs, w, mask=mask)
    tl.store(z_s + offs, z, mask=mask)


def _adlif_bwd(cur, U, W, Z, u0, w0, z0, GZ, GU, GW, GZR, dm_p, da_p, a_p, b_p, G,
               gu_s, gw_s, gz_s, g_dm, g_da, g_a, g_b, consts, T, M, N,
               HAS_GZ: tl.constexpr, HAS_GU: tl.constexpr, HAS_GW: tl.constexpr,
               HAS_GZR: tl.constexpr, FINAL: tl.constexpr, BLOCK: tl.constexpr):
    """``cur`` holds the drive; ``u0, w0, z0`` the state before step 0 of this call. With
    ``FINAL`` the state adjoints are turned into those of the initial state at the end."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    n = offs % N
    v_th = tl.load(consts + 0)
    width = tl.load(consts + 1)
    dm = tl.load(dm_p + n, mask=mask, other=0.0)
    da = tl.load(da_p + n, mask=mask, other=0.0)
    a = tl.load(a_p + n, mask=mask, other=0.0)
    b = tl.load(b_p + n, mask=mask, other=0.0)
    gu_next = tl.load(gu_s + offs, mask=mask, other=0.0)
    gw_next = tl.load(gw_s + offs, mask=mask, other=0.0)
    acc_dm = tl.load(g_dm + offs, mask=mask, other=0.0)
    acc_da = tl.load(g_da + offs, mask=mask, other=0.0)
    acc_a = tl.load(g_a + offs, mask=mask, other=0.0)
    acc_b = tl.load(g_b + offs, mask=mask, other=0.0)
    for k in range(T):
        t = T - 1 - k
        u = tl.load(U + t * M + offs, mask=mask, other=0.0)
        w = tl.load(W + t * M + offs, mask=mask, other=0.0)
        gz = -dm * v_th * gu_next + b * gw_next
        if HAS_GZ:
            gz = gz + tl.load(GZ + t * M + offs, mask=mask, other=0.0)
        if HAS_GZR:
            gz = gz + tl.load(GZR + offs, mask=mask, other=0.0)
        d = width * tl.abs(u - v_th) + 1.0
        gu = gz * (1.0 / (d * d))
        gu = gu + dm * gu_next + a * gw_next
        if HAS_GU:
            gu = gu + tl.load(GU + t * M + offs, mask=mask, other=0.0)
        gw = -(1.0 - dm) * gu + da * gw_next
        if HAS_GW:
            gw = gw + tl.load(GW + t * M + offs, mask=mask, other=0.0)
        tl.store(G + t * M + offs, (1.0 - dm) * gu, mask=mask)
        first = t == 0
        prev_mask = mask & (t > 0)
        u_prev = tl.where(first, tl.load(u0 + offs, mask=mask, other=0.0),
                          tl.load(U + (t - 1) * M + offs, mask=prev_mask, other=0.0))
        w_prev = tl.where(first, tl.load(w0 + offs, mask=mask, other=0.0),
                          tl.load(W + (t - 1) * M + offs, mask=prev_mask, other=0.0))
        z_prev = tl.where(first, tl.load(z0 + offs, mask=mask, other=0.0),
                          tl.load(Z + (t - 1) * M + offs, mask=prev_mask, other=0.0))
        drive = tl.load(cur + t * M + offs, mask=mask, other=0.0)
        acc_dm += gu * ((u_prev - v_th * z_prev) - (drive - w))
        acc_da += gw * w_prev
        acc_a += gw * u_prev
        acc_b += gw * z_prev
        gu_next = gu
        gw_next = gw
    tl.store(g_dm + offs, acc_dm, mask=mask)
    tl.store(g_da + offs, acc_da, mask=mask)
    tl.store(g_a + offs, acc_a, mask=mask)
    tl.store(g_b + offs, acc_b, mask=mask)
    if FINAL:
        tl.store(gz_s + offs, -dm * v_th * gu_next + b * gw_next, mask=mask)
        tl.store(gu_s + offs, dm * gu_next + a * gw_next, mask=mask)
        tl.store(gw_s + offs, da * gw_next, mask=mask)
    else:
        tl.store(gu_s + offs, gu_next, mask=mask)
        tl.store(gw_s + offs, gw_next, mask=mask)


@functools.cache
def _compiled(fn):
    # JITFunction rather than triton.jit: the latter returns the interpreter whenever
    # TRITON_INTERPRET=1 is set, and CUDA tensors must always get the compiled kernel.
    from triton.runtime.jit import JITFunction

    return JITFunction(fn)


@functools.cache
def _interpreted(fn):
    from triton.runtime.interpreter import InterpretedFunction

    return InterpretedFunction(fn)


def _launch(fn, like: torch.Tensor, M: int, *args, **meta) -> None:
    """Run kernel ``fn`` over ``M`` neurons on ``like``'s device (the interpreter on CPU)."""
    if like.device.type == "cuda":
        kernel, block = _compiled(fn), 128
    elif interpreting():
        kernel, block = _interpreted(fn), 4096  # few, wide programs: the interpreter is slow
    else:
        raise RuntimeError("the Triton kernels need CUDA tensors (or TRITON_INTERPRET=1 on CPU)")
    kernel[(triton.cdiv(max(M, 1), block),)](*args, BLOCK=block, **meta)


def _consts(like: torch.Tensor, *values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _state(s: torch.Tensor) -> torch.Tensor:
    return s.detach().clone().contiguous()


def _width(p) -> float:
    return p.alpha if p.surrogate == "superspike" else 1.0


def lif_forward(current, v0, i0, p, rec_in=None):
    """Feed-forward LIF scan (``rec_in``, with ``T = 1``: one recurrent step). Returns
    ``Z, U`` ``[T, B, N]`` and the final current ``i``."""
    T = current.shape[0]
    M = current[0].numel()
    Z, U = torch.empty_like(current), torch.empty_like(current)
    v, i = _state(v0), _state(i0)
    consts = _consts(current, p.a_mem, p.a_syn, p.v_leak, p.v_th, p.v_reset)
    _launch(_lif_fwd, current, M, current, rec_in if rec_in is not None else current, v, i, Z, U,
            consts, T, M, HAS_REC=rec_in is not None)
    return Z, U, i


def lif_backward(U, gz_out, gu_out, gi, p):
    """Returns ``dL/dI [T, B, N]`` and the adjoints of the initial ``v`` and ``i``."""
    G = torch.empty_like(U)
    gv, gi = torch.zeros_like(U[0]), _state(gi)
    _lif_bwd_call(U, gz_out, gu_out, None, gv, gi, G, p)
    return G, gv, gi


def _lif_bwd_call(U, gz_out, gu_out, gzr, gv, gi, G, p):
    M = U[0].numel()
    consts = _consts(U, p.a_mem, 1.0 - p.a_mem, 1.0 - p.a_syn, p.v_th, p.v_reset, _width(p))
    _launch(_lif_bwd, U, M, U, gz_out if gz_out is not None else U,
            gu_out if gu_out is not None else U, gzr if gzr is not None else U, gv, gi, G,
            consts, U.shape[0], M, HAS_GZ=gz_out is not None, HAS_GU=gu_out is not None,
            HAS_GZR=gzr is not None, DETACH_RESET=bool(p.detach_reset))


def lif_rec_forward(current, v0, i0, z0, rec, p):
    """Recurrent LIF: per step ``z_{t-1} R^T`` by one matrix product, then the kernel."""
    T = current.shape[0]
    Z, U = torch.empty_like(current), torch.empty_like(current)
    v, i = _state(v0), _state(i0)
    consts = _consts(current, p.a_mem, p.a_syn, p.v_leak, p.v_th, p.v_reset)
    rec_t = rec.detach().t()
    rec_in = torch.empty_like(current[0])
    M = rec_in.numel()
    z_prev = z0.detach()
    for t in range(T):
        torch.mm(z_prev, rec_t, out=rec_in)
        _launch(_lif_fwd, current, M, current[t], rec_in, v, i, Z[t], U[t], consts, 1, M,
                HAS_REC=True)
        z_prev = Z[t]
    return Z, U, i


def lif_rec_backward(U, gz_out, gu_out, gi, rec, p):
    """Returns ``dL/dI``, the adjoints of the initial ``v``, ``i`` and ``z``."""
    T = U.shape[0]
    G = torch.empty_like(U)
    gv, gi = torch.zeros_like(U[0]), _state(gi)
    gzr = torch.zeros_like(U[0])
    rec = rec.detach()
    for t in range(T - 1, -1, -1):
        _lif_bwd_call(U[t:t + 1], gz_out[t:t + 1] if gz_out is not None else None,
                      gu_out[t:t + 1] if gu_out is not None else None, gzr, gv, gi, G[t:t + 1], p)
        torch.mm(G[t], rec, out=gzr)
    return G, gv, gi, gzr


def li_forward(current, v0, i0, p):
    """LI scan: membrane ``V [T, B, N]`` and the final current."""
    M = current[0].numel()
    V = torch.empty_like(current)
    v, i = _state(v0), _state(i0)
    _launch(_li_fwd, current, M, current, v, i, V, _consts(current, p.a_mem, p.a_syn, p.v_leak),
            current.shape[0], M)
    return V, i


def li_backward(gv_out, gi, p):
    """Returns ``dL/dI`` and the adjoints of the initial ``v`` and ``i``."""
    gv_out = gv_out.contiguous()
    M = gv_out[0].numel()
    G = torch.empty_like(gv_out)
    gv, gi = torch.zeros_like(gv_out[0]), _state(gi)
    _launch(_li_bwd, gv_out, M, gv_out, gv, gi, G,
            _consts(gv_out, p.a_mem, 1.0 - p.a_mem, 1.0 - p.a_syn), gv_out.shape[0], M)
    return G, gv, gi


def _params(like, *params):
    return [q.detach().to(like.dtype).contiguous() for q in params]


def adlif_forward(current, u0, w0, z0, dm, da, a, b, p):
    """Feed-forward AdLIF scan: ``U, W, Z`` ``[T, B, N]``."""
    T, _, N = current.shape
    M = current[0].numel()
    U, W, Z = (torch.empty_like(current) for _ in range(3))
    u, w, z = _state(u0), _state(w0), _state(z0)
    _launch(_adlif_fwd, current, M, current, current, u, w, z, *_params(current, dm, da, a, b),
            U, W, Z, current, _consts(current, p.v_th), T, M, N, HAS_REC=False)
    return U, W, Z


def adlif_backward(current, U, W, Z, u0, w0, z0, gz_out, gu_out, gw_out, dm, da, a, b, p):
    """Returns ``dL/dI``, the initial-state adjoints (u, w, z) and the per-neuron
    parameter gradients (decay_mem, decay_adapt, a, b), each ``[N]``."""
    T, B, N = current.shape
    M = B * N
    G = torch.empty_like(current)
    states = [torch.zeros_like(current[0]) for _ in range(3)]
    grads = [torch.zeros_like(current[0]) for _ in range(4)]
    outs = [g.contiguous() if g is not None else None for g in (gz_out, gu_out, gw_out)]
    _launch(_adlif_bwd, current, M, current, U, W, Z, *(_state(s) for s in (u0, w0, z0)),
            *(g if g is not None else U for g in outs), U, *_params(current, dm, da, a, b), G,
            states[0], states[1], states[2], *grads, _consts(current, p.v_th, _width(p)), T, M, N,
            HAS_GZ=outs[0] is not None, HAS_GU=outs[1] is not None, HAS_GW=outs[2] is not None,
            HAS_GZR=False, FINAL=True)
    gu0, gw0, gz0 = states
    return G, gu0, gw0, gz0, [g.sum(0) for g in grads]


def adlif_rec_forward(current, u0, w0, z0, dm, da, a, b, rec, p):
    """Recurrent AdLIF forward; also returns the drive ``I_t + R z_{t-1}`` for the backward."""
    T, _, N = current.shape
    U, W, Z, D = (torch.empty_like(current) for _ in range(4))
    u, w, z = _state(u0), _state(w0), _state(z0)
    params = _params(current, dm, da, a, b)
    consts = _consts(current, p.v_th)
    rec_t = rec.detach().t()
    rec_in = torch.empty_like(current[0])
    M = rec_in.numel()
    z_prev = z0.detach()
    for t in range(T):
        torch.mm(z_prev, rec_t, out=rec_in)
        _launch(_adlif_fwd, current, M, current[t], rec_in, u, w, z, *params, U[t], W[t], Z[t],
                D[t], consts, 1, M, N, HAS_REC=True)
        z_prev = Z[t]
    return U, W, Z, D


def adlif_rec_backward(D, U, W, Z, u0, w0, z0, gz_out, gu_out, gw_out, dm, da, a, b, rec, p):
    """Recurrent AdLIF backward from the saved drive ``D``; returns as :func:`adlif_backward`."""
    T, B, N = U.shape
    M = B * N
    G = torch.empty_like(U)
    gu_s, gw_s, gzr = (torch.zeros_like(U[0]) for _ in range(3))
    grads = [torch.zeros_like(U[0]) for _ in range(4)]
    params = _params(U, dm, da, a, b)
    consts = _consts(U, p.v_th, _width(p))
    outs = [g.contiguous() if g is not None else None for g in (gz_out, gu_out, gw_out)]
    firsts = [_state(s) for s in (u0, w0, z0)]
    rec = rec.detach()
    for t in range(T - 1, -1, -1):
        prev = firsts if t == 0 else (U[t - 1], W[t - 1], Z[t - 1])
        _launch(_adlif_bwd, U, M, D[t], U[t], W[t], Z[t], *prev,
                *(g[t] if g is not None else U for g in outs), gzr, *params, G[t],
                gu_s, gw_s, gu_s, *grads, consts, 1, M, N,
                HAS_GZ=outs[0] is not None, HAS_GU=outs[1] is not None,
                HAS_GW=outs[2] is not None, HAS_GZR=True, FINAL=False)
        torch.mm(G[t], rec, out=gzr)
    dm_, da_, a_, b_ = params
    gu0 = dm_ * gu_s + a_ * gw_s
    gw0 = da_ * gw_s
    gz0 = -dm_ * p.v_th * gu_s + b_ * gw_s + gzr
    return G, gu0, gw0, gz0, [g.sum(0) for g in grads]
