"""numba-compiled time loops for the feed-forward LIF and LI scans (CPU).

Same equations and adjoint recurrences as :mod:`spikebench.engine.lif` and
:mod:`spikebench.engine.li`, in the same order of floating-point operations (no
``fastmath``, constants in the array's dtype), so float64 results equal the PyTorch
loop's. Arrays are viewed as ``[T, M]`` with ``M = B * N`` independent neurons; the loop
runs over blocks of ``_BLOCK`` neurons so that the block's state stays in L1 cache and
the inner loop over neurons vectorises.

Why hand-written (measured on this shared 2-core machine, load ~4, phase-1 layer: T=100,
B=128, N=128, float32, forward / backward of the scan alone): PyTorch loop (8 tensor
operations per step forward, ~12 backward) 21.6 / 20.7 ms; this loop on one thread
6.9 / 9.7 ms. numba compiles in a few seconds on first use and is then loaded from its
on-disk cache (``cache=True``) in ~1 s; building even a one-line C++ extension with
``torch.utils.cpp_extension.load_inline`` took 92 s here (under load). These loops are
serial over the ``B * N`` neurons; the LIF and LI layers of the engine mostly run the
fused kernels of :mod:`~spikebench.engine._native.fused_kernels` instead (projection and
scan in one pass, parallel over the batch). What remains here serves the layers those
do not take (a projection other than a plain ``nn.Linear``, such as one followed by
batch norm), the recurrent LIF and the LI backward passes, AdLIF, and the per-step
cells the fused kernels share.

The LIF, LI and AdLIF-forward equations are written once, per neuron and step
(``_li_cell``, ``_lif_cell``, ...), and called by the block and the recurrent per-step
kernels at unchanged speed; the two AdLIF backward kernels keep their bodies written out
because through a shared per-neuron function they ran 5-10 % slower (interleaved A/B,
T=100, B=128, N=128, float32).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from numba import njit

_BLOCK = 512


@njit(cache=True, nogil=True)
def _li_cell(v, j, a_mem, a_syn, v_leak):  # pragma: no cover
    """Returns the new membrane and the decayed current."""
    return v + a_mem * ((v_leak - v) + j), j - a_syn * j


@njit(cache=True, nogil=True)
def _lif_cell(v, j, a_mem, a_syn, v_leak, v_th, v_reset):  # pragma: no cover
    """Returns the pre-reset membrane u, the decayed current, the spike and the membrane after reset."""
    u, i = _li_cell(v, j, a_mem, a_syn, v_leak)
    spiked = u > v_th
    return u, i, 1.0 if spiked else 0.0, v_reset if spiked else u


@njit(cache=True, nogil=True)
def _li_cell_bwd(gv, gi, a_mem, keep_mem, keep_syn):  # pragma: no cover
    """Returns dL/dI_t (which is also the previous step's current adjoint) and the previous gv."""
    return a_mem * gv + keep_syn * gi, keep_mem * gv


@njit(cache=True, nogil=True)
def _lif_cell_bwd(u, gv, gz, gu_in, has_gu, gi, a_mem, keep_mem, keep_syn, v_th, v_reset, width,
                  one, detach_reset):  # pragma: no cover
    """Surrogate-gradient step back (``gu_in`` added if ``has_gu``): as ``_li_cell_bwd``."""
    if not detach_reset:
        gz = gz + gv * (v_reset - u)
    d = width * abs(u - v_th) + one
    gu = ((one - one) if u > v_th else gv) + gz * (one / (d * d))
    if has_gu:
        gu = gu + gu_in
    return _li_cell_bwd(gu, gi, a_mem, keep_mem, keep_syn)


@njit(cache=True, nogil=True)
def _lif_fwd(cur, v_state, i_state, a_mem, a_syn, v_leak, v_th, v_reset, Z, U):  # pragma: no cover
    T, M = cur.shape
    for lo in range(0, M, _BLOCK):
        for t in range(T):
            for m in range(lo, min(lo + _BLOCK, M)):
                U[t, m], i_state[m], Z[t, m], v_state[m] = _lif_cell(
                    v_state[m], i_state[m] + cur[t, m], a_mem, a_syn, v_leak, v_th, v_reset)


@njit(cache=True, nogil=True)
def _lif_bwd(U, GZ, GU, has_gz, has_gu, gv_state, gi_state, a_mem, keep_mem, keep_syn, v_th,
             v_reset, width, one, detach_reset, G):  # pragma: no cover
    T, M = U.shape
    for lo in range(0, M, _BLOCK):
        for t in range(T - 1, -1, -1):
            for m in range(lo, min(lo + _BLOCK, M)):
                gj, gv_state[m] = _lif_cell_bwd(
                    U[t, m], gv_state[m], GZ[t, m] if has_gz else 0.0,
                    GU[t, m] if has_gu else one - one, has_gu, gi_state[m], a_mem, keep_mem,
                    keep_syn, v_th, v_reset, width, one, detach_reset)
                G[t, m] = gj
                gi_state[m] = gj


@njit(cache=True, nogil=True)
def _li_fwd(cur, v_state, i_state, a_mem, a_syn, v_leak, V):  # pragma: no cover
    T, M = cur.shape
    for lo in range(0, M, _BLOCK):
        for t in range(T):
            for m in range(lo, min(lo + _BLOCK, M)):
                v, i_state[m] = _li_cell(v_state[m], i_state[m] + cur[t, m], a_mem, a_syn, v_leak)
                V[t, m] = v
                v_state[m] = v


@njit(cache=True, nogil=True)
def _li_bwd(GV, gv_state, gi_state, a_mem, keep_mem, keep_syn, G):  # pragma: no cover
    T, M = GV.shape
    for lo in range(0, M, _BLOCK):
        for t in range(T - 1, -1, -1):
            for m in range(lo, min(lo + _BLOCK, M)):
                gj, gv_state[m] = _li_cell_bwd(gv_state[m] + GV[t, m], gi_state[m], a_mem, keep_mem,
                                               keep_syn)
                G[t, m] = gj
                gi_state[m] = gj


def _np2(t: torch.Tensor) -> np.ndarray:
    """``[T, B, N]`` tensor -> ``[T, B*N]`` array sharing memory."""
    return t.detach().reshape(t.shape[0], -1).numpy()


def _np1(t: torch.Tensor) -> np.ndarray:
    return t.detach().reshape(-1).numpy()


def _scalars(like: torch.Tensor, *values: float):
    """Constants in the array's dtype, so float32 kernels compute in float32 as PyTorch does."""
    kind = np.float32 if like.dtype == torch.float32 else np.float64
    return tuple(kind(v) for v in values)


def lif_forward(current, v0, i0, p):
    """Numba counterpart of ``lif._torch_forward`` (feed-forward only)."""
    Z = torch.empty_like(current)
    U = torch.empty_like(current)
    v = v0.detach().clone()
    i = i0.detach().clone()
    _lif_fwd(_np2(current), _np1(v), _np1(i),
             *_scalars(current, p.a_mem, p.a_syn, p.v_leak, p.v_th, p.v_reset),
             _np2(Z), _np2(U))
    return Z, U, i


def lif_backward(U, gz_out, gu_out, gi, p):
    """Numba counterpart of ``lif._torch_backward`` (feed-forward only)."""
    width = p.alpha if p.surrogate == "superspike" else 1.0  # norse-superspike ignores alpha
    G = torch.empty_like(U)
    gv = torch.zeros_like(U[0])
    gi = gi.detach().clone().contiguous()
    dummy = np.zeros((1, 1), dtype=_np2(U).dtype)
    _lif_bwd(_np2(U), _np2(gz_out) if gz_out is not None else dummy,
             _np2(gu_out) if gu_out is not None else dummy, gz_out is not None, gu_out is not None,
             _np1(gv), _np1(gi),
             *_scalars(U, p.a_mem, 1.0 - p.a_mem, 1.0 - p.a_syn, p.v_th, p.v_reset, width, 1.0),
             p.detach_reset, _np2(G))
    return G, gv, gi


def li_forward(current, v0, i0, p):
    V = torch.empty_like(current)
    v = v0.detach().clone()
    i = i0.detach().clone()
    _li_fwd(_np2(current), _np1(v), _np1(i), *_scalars(current, p.a_mem, p.a_syn, p.v_leak), _np2(V))
    return V, i


def li_backward(gv_out, gi, p):
    G = torch.empty_like(gv_out)
    gv = torch.zeros_like(gv_out[0])
    gi = gi.detach().clone().contiguous()
    _li_bwd(_np2(gv_out), _np1(gv), _np1(gi), *_scalars(gv_out, p.a_mem, 1.0 - p.a_mem, 1.0 - p.a_syn),
            _np2(G))
    return G, gv, gi


def warm_up() -> None:
    """Compile (or load from cache) the float32 kernels and check one step is right."""
    from spikebench.engine.lif import LIFParams

    p = LIFParams(v_th=0.05)
    cur = torch.ones(2, 1, 3)
    Z, U, _ = lif_forward(cur, torch.zeros(1, 3), torch.zeros(1, 3), p)
    if not (float(U[0, 0, 0]) == np.float32(p.a_mem) and float(Z[1, 0, 0]) == 1.0):
        raise RuntimeError("numba LIF kernel self-check failed")
    lif_backward(U, torch.ones_like(U), None, torch.zeros(1, 3), p)
    V, _ = li_forward(cur, torch.zeros(1, 3), torch.zeros(1, 3), p)
    li_backward(V, torch.zeros(1, 3), p)


# ---- sparse input projection: out = x W^T + b with x mostly zeros (binary spike frames) ----

@njit(cache=True, nogil=True)
def _nonzeros_pairs(Xw, indptr, indices, max_nnz):  # pragma: no cover
    """CSR column indices of float32 rows read as uint64 words (two columns per word).

    Returns nnz, or -1 as soon as it exceeds ``max_nnz`` (then the dense product is used).
    """
    R, Q = Xw.shape
    k = 0
    for r in range(R):
        indptr[r] = k
        if k > max_nnz:
            return -1
        for q in range(Q):
            w = Xw[r, q]
            if w != 0:
                indices[k] = 2 * q
                k += (w & 0xFFFFFFFF) != 0
                indices[k] = 2 * q + 1
                k += (w >> 32) != 0
    indptr[R] = k
    return k


@njit(cache=True, nogil=True)
def _nonzeros_words(Xw, indptr, indices, max_nnz):  # pragma: no cover
    """CSR column indices, one column per word (float64 read as uint64, or float32 as uint32)."""
    R, C = Xw.shape
    k = 0
    for r in range(R):
        indptr[r] = k
        if k > max_nnz:
            return -1
        for c in range(C):
            indices[k] = c
            k += Xw[r, c] != 0
    indptr[R] = k
    return k


@njit(cache=True, nogil=True)
def _count_sampled(Xw, step):  # pragma: no cover
    """Non-zero entries in every ``step``-th row (one column per word) and the entries seen."""
    R, C = Xw.shape
    k = 0
    n = 0
    for r in range(0, R, step):
        n += C
        for c in range(C):
            k += Xw[r, c] != 0
    return k, n


@njit(cache=True, nogil=True)
def _gather_rows(X, indptr, indices, WT, bias, out):  # pragma: no cover
    R = X.shape[0]
    H = WT.shape[1]
    for r in range(R):
        acc = out[r]
        for h in range(H):
            acc[h] = bias[h]
        for q in range(indptr[r], indptr[r + 1]):
            c = indices[q]
            xv = X[r, c]
            w = WT[c]
            for h in range(H):
                acc[h] += xv * w[h]


@njit(cache=True, nogil=True)
def _scatter_grad(X, indptr, indices, G, gWT):  # pragma: no cover
    R = X.shape[0]
    H = G.shape[1]
    for r in range(R):
        g = G[r]
        for q in range(indptr[r], indptr[r + 1]):
            c = indices[q]
            xv = X[r, c]
            acc = gWT[c]
            for h in range(H):
                acc[h] += xv * g[h]


def nonzero_rows(x2d: torch.Tensor, max_density: float):
    """CSR structure ``(indptr, indices)`` of a contiguous ``[R, C]`` float tensor, or None
    if more than ``max_density`` of its entries are non-zero."""
    X = x2d.detach().numpy()
    R, C = X.shape
    words = X.view(np.uint32 if X.dtype == np.float32 else np.uint64)
    seen_nnz, seen = _count_sampled(words, 16)  # a cheap estimate first: 1/16 of the rows
    if seen_nnz > max_density * seen:
        return None
    max_nnz = int(max_density * R * C)
    indptr = np.empty(R + 1, dtype=np.int64)
    indices = np.empty(R * C + 2, dtype=np.int32)  # pages are touched only up to nnz
    if X.dtype == np.float32 and C % 2 == 0:
        nnz = _nonzeros_pairs(X.view(np.uint64), indptr, indices, max_nnz)
    else:
        nnz = _nonzeros_words(words, indptr, indices, max_nnz)
    if nnz < 0:
        return None
    return indptr, indices[:nnz].copy()


def sparse_linear_forward(x2d, csr, weight, bias):
    """``x2d [R, C] @ weight.T + bias`` touching only the non-zero inputs."""
    indptr, indices = csr
    out = torch.empty(x2d.shape[0], weight.shape[0], dtype=x2d.dtype)
    wt = weight.detach().t().contiguous().numpy()
    b = bias.detach().numpy() if bias is not None else np.zeros(weight.shape[0], dtype=wt.dtype)
    _gather_rows(x2d.detach().numpy(), indptr, indices, wt, b, out.numpy())
    return out


def sparse_linear_weight_grad(x2d, csr, grad_out):
    """``grad_out.T @ x2d`` (the weight gradient ``[H, C]``) over the non-zero inputs."""
    indptr, indices = csr
    g_wt = np.zeros((x2d.shape[1], grad_out.shape[1]), dtype=x2d.detach().numpy().dtype)
    _scatter_grad(x2d.detach().numpy(), indptr, indices, grad_out.detach().contiguous().numpy(), g_wt)
    return torch.from_numpy(g_wt).t()


# ---- recurrent LIF: the recurrent product per step by PyTorch (BLAS), the rest here ----

@contextlib.contextmanager
def _one_thread():
    """Run the per-step products on one thread. A [128, 256] x [256, 256] product is too
    small to split: with two threads every step waits at an OpenMP barrier, and when the
    machine is busy the other thread is often descheduled. Measured (recurrent 700-256
    layer, T=100, B=128, load ~8.5): forward + backward 2520 / 672 ms with 2 threads,
    212 / 297 ms with this."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


@njit(cache=True, nogil=True)
def _lif_rec_step_fwd(cur_t, rec_in, v_state, i_state, a_mem, a_syn, v_leak, v_th, v_reset,
                      z_t, u_t):  # pragma: no cover
    for m in range(cur_t.shape[0]):
        u_t[m], i_state[m], z_t[m], v_state[m] = _lif_cell(
            v_state[m], (i_state[m] + cur_t[m]) + rec_in[m], a_mem, a_syn, v_leak, v_th, v_reset)


@njit(cache=True, nogil=True)
def _lif_rec_step_bwd(u_t, gz_t, gu_t, has_gz, has_gu, gzr, gv_state, gi_state, a_mem,
                      keep_mem, keep_syn, v_th, v_reset, width, one, detach_reset,
                      g_t):  # pragma: no cover
    for m in range(u_t.shape[0]):
        gj, gv_state[m] = _lif_cell_bwd(
            u_t[m], gv_state[m], gz_t[m] + gzr[m] if has_gz else gzr[m],
            gu_t[m] if has_gu else one - one, has_gu, gi_state[m], a_mem, keep_mem, keep_syn,
            v_th, v_reset, width, one, detach_reset)
        g_t[m] = gj
        gi_state[m] = gj


@_one_thread()
def lif_rec_forward(current, v0, i0, z0, rec, p):
    """Recurrent counterpart of ``lif._torch_forward``: ``z_{t-1} R^T`` by ``torch.mm``."""
    T, B, N = current.shape
    Z = torch.empty_like(current)
    U = torch.empty_like(current)
    v = v0.detach().clone()
    i = i0.detach().clone()
    rec_t = rec.detach().t()
    rec_in = torch.empty(B, N, dtype=current.dtype)
    consts = _scalars(current, p.a_mem, p.a_syn, p.v_leak, p.v_th, p.v_reset)
    cur_np, z_np, u_np = _np2(current), _np2(Z), _np2(U)
    v_np, i_np, rec_np = _np1(v), _np1(i), _np1(rec_in)
    z_prev = z0.detach()
    for t in range(T):
        torch.mm(z_prev, rec_t, out=rec_in)
        _lif_rec_step_fwd(cur_np[t], rec_np, v_np, i_np, *consts, z_np[t], u_np[t])
        z_prev = Z[t]
    return Z, U, i


@_one_thread()
def lif_rec_backward(U, gz_out, gu_out, gi, rec, p):
    """Recurrent counterpart of ``lif._torch_backward``: ``gj_t R`` by ``torch.mm``."""
    T, B, N = U.shape
    G = torch.empty_like(U)
    gv = torch.zeros(B, N, dtype=U.dtype)
    gi = gi.detach().clone().contiguous()
    gzr = torch.zeros(B, N, dtype=U.dtype)
    rec = rec.detach()
    width = p.alpha if p.surrogate == "superspike" else 1.0
    consts = _scalars(U, p.a_mem, 1.0 - p.a_mem, 1.0 - p.a_syn, p.v_th, p.v_reset, width, 1.0)
    dummy = np.zeros(1, dtype=_np2(U).dtype)
    u_np, g_np = _np2(U), _np2(G)
    gz_np = _np2(gz_out) if gz_out is not None else None
    gu_np = _np2(gu_out) if gu_out is not None else None
    gv_np, gi_np, gzr_np = _np1(gv), _np1(gi), _np1(gzr)
    for t in range(T - 1, -1, -1):
        _lif_rec_step_bwd(u_np[t], gz_np[t] if gz_np is not None else dummy,
                          gu_np[t] if gu_np is not None else dummy, gz_np is not None,
                          gu_np is not None, gzr_np, gv_np, gi_np, *consts, p.detach_reset, g_np[t])
        torch.mm(G[t], rec, out=gzr)
    return G, gv, gi, gzr


# ---- adaptive LIF (feed-forward); parameters expanded to one value per (batch, neuron) ----

@njit(cache=True, nogil=True)
def _adlif_cell(u, w, z, drive, dm, da, a, b, v_th, one):  # pragma: no cover
    """One neuron, one step: returns the new u, w, z."""
    w = da * w + a * u + b * z
    u = dm * (u - v_th * z) + (one - dm) * (drive - w)
    return u, w, (one if u > v_th else one - one)


@njit(cache=True, nogil=True)
def _adlif_fwd(cur, u_state, w_state, z_state, dm, da, a, b, v_th, one, U, W, Z):  # pragma: no cover
    T, M = cur.shape
    for lo in range(0, M, _BLOCK):
        for t in range(T):
            for m in range(lo, min(lo + _BLOCK, M)):
                u, w, z = _adlif_cell(u_state[m], w_state[m], z_state[m], cur[t, m], dm[m], da[m],
                                      a[m], b[m], v_th, one)
                U[t, m], W[t, m], Z[t, m] = u, w, z
                u_state[m], w_state[m], z_state[m] = u, w, z


@njit(cache=True, nogil=True)
def _adlif_bwd(cur, U, W, Z, u0, w0, z0, GZ, GU, GW, has_gz, has_gu, has_gw, dm, da, a, b,
               v_th, width, one,
               G, gu_state, gw_state, gz_state, g_dm, g_da, g_a, g_b):  # pragma: no cover
    T, M = cur.shape
    n_blocks = (M + _BLOCK - 1) // _BLOCK
    for blk in range(n_blocks):
        lo = blk * _BLOCK
        hi = min(lo + _BLOCK, M)
        for t in range(T - 1, -1, -1):
            for m in range(lo, hi):
                gu_next = gu_state[m]
                gw_next = gw_state[m]
                gz = -dm[m] * v_th * gu_next + b[m] * gw_next
                if has_gz:
                    gz = gz + GZ[t, m]
                d = width * abs(U[t, m] - v_th) + one
                gu = gz * (one / (d * d))
                gu = gu + dm[m] * gu_next + a[m] * gw_next
                if has_gu:
                    gu = gu + GU[t, m]
                gw = -(one - dm[m]) * gu + da[m] * gw_next
                if has_gw:
                    gw = gw + GW[t, m]
                G[t, m] = (one - dm[m]) * gu
                if t > 0:
                    u_prev = U[t - 1, m]
                    w_prev = W[t - 1, m]
                    z_prev = Z[t - 1, m]
                else:
                    u_prev = u0[m]
                    w_prev = w0[m]
                    z_prev = z0[m]
                g_dm[m] += gu * ((u_prev - v_th * z_prev) - (cur[t, m] - W[t, m]))
                g_da[m] += gw * w_prev
                g_a[m] += gw * u_prev
                g_b[m] += gw * z_prev
                gu_state[m] = gu
                gw_state[m] = gw
        for m in range(lo, hi):
            gu_next = gu_state[m]
            gw_next = gw_state[m]
            gz_state[m] = -dm[m] * v_th * gu_next + b[m] * gw_next
            gu_state[m] = dm[m] * gu_next + a[m] * gw_next
            gw_state[m] = da[m] * gw_next


def _per_neuron(param, like):
    return param.detach().to(like.dtype).expand_as(like[0]).contiguous()


def adlif_forward(current, u0, w0, z0, dm, da, a, b, p):
    U, W, Z = (torch.empty_like(current) for _ in range(3))
    u, w, z = (s.detach().clone() for s in (u0, w0, z0))
    params = [_per_neuron(q, current) for q in (dm, da, a, b)]
    _adlif_fwd(_np2(current), _np1(u), _np1(w), _np1(z), *(_np1(q) for q in params),
               *_scalars(current, p.v_th, 1.0), _np2(U), _np2(W), _np2(Z))
    return U, W, Z


def adlif_backward(current, U, W, Z, u0, w0, z0, gz_out, gu_out, gw_out, dm, da, a, b, p):
    """Returns dL/dI, the initial-state adjoints (u, w, z) and the per-neuron parameter
    gradients (decay_mem, decay_adapt, a, b), each ``[N]``."""
    G = torch.empty_like(current)
    states = [torch.zeros_like(current[0]) for _ in range(3)]
    grads = [torch.zeros_like(current[0]) for _ in range(4)]
    params = [_per_neuron(q, current) for q in (dm, da, a, b)]
    width = p.alpha if p.surrogate == "superspike" else 1.0
    dummy = np.zeros((1, 1), dtype=_np2(U).dtype)
    _adlif_bwd(_np2(current), _np2(U), _np2(W), _np2(Z), _np1(u0), _np1(w0), _np1(z0),
               *(_np2(g) if g is not None else dummy for g in (gz_out, gu_out, gw_out)),
               gz_out is not None, gu_out is not None, gw_out is not None,
               *(_np1(q) for q in params), *_scalars(current, p.v_th, width, 1.0),
               _np2(G), *(_np1(s) for s in states), *(_np1(g) for g in grads))
    gu0, gw0, gz0 = states
    return G, gu0, gw0, gz0, [g.sum(0) for g in grads]


# ---- recurrent AdLIF: the recurrent product per step by torch.mm, the rest here ----

@njit(cache=True, nogil=True)
def _adlif_rec_step_fwd(cur_t, rec_in, u_state, w_state, z_state, dm, da, a, b, v_th, one,
                        u_t, w_t, z_t, d_t):  # pragma: no cover
    for m in range(cur_t.shape[0]):
        drive = cur_t[m] + rec_in[m]
        u, w, z = _adlif_cell(u_state[m], w_state[m], z_state[m], drive, dm[m], da[m], a[m], b[m],
                              v_th, one)
        u_t[m], w_t[m], z_t[m], d_t[m] = u, w, z, drive
        u_state[m], w_state[m], z_state[m] = u, w, z


@njit(cache=True, nogil=True)
def _adlif_rec_step_bwd(d_t, u_t, w_t, u_prev, w_prev, z_prev, gz_t, gu_t, gw_t, has_gz, has_gu,
                        has_gw, gzr, dm, da, a, b, v_th, width, one, g_t, gu_state, gw_state,
                        g_dm, g_da, g_a, g_b):  # pragma: no cover
    for m in range(u_t.shape[0]):
        gu_next = gu_state[m]
        gw_next = gw_state[m]
        gz = -dm[m] * v_th * gu_next + b[m] * gw_next
        if has_gz:
            gz = gz + gz_t[m]
        gz = gz + gzr[m]
        d = width * abs(u_t[m] - v_th) + one
        gu = gz * (one / (d * d))
        gu = gu + dm[m] * gu_next + a[m] * gw_next
        if has_gu:
            gu = gu + gu_t[m]
        gw = -(one - dm[m]) * gu + da[m] * gw_next
        if has_gw:
            gw = gw + gw_t[m]
        g_t[m] = (one - dm[m]) * gu
        g_dm[m] += gu * ((u_prev[m] - v_th * z_prev[m]) - (d_t[m] - w_t[m]))
        g_da[m] += gw * w_prev[m]
        g_a[m] += gw * u_prev[m]
        g_b[m] += gw * z_prev[m]
        gu_state[m] = gu
        gw_state[m] = gw


@_one_thread()
def adlif_rec_forward(current, u0, w0, z0, dm, da, a, b, rec, p):
    """Recurrent AdLIF forward; also returns the drive ``I_t + R z_{t-1}`` for the backward."""
    T, B, N = current.shape
    U, W, Z, D = (torch.empty_like(current) for _ in range(4))
    u, w, z = (s.detach().clone() for s in (u0, w0, z0))
    params = [_np1(_per_neuron(q, current)) for q in (dm, da, a, b)]
    consts = _scalars(current, p.v_th, 1.0)
    rec_t = rec.detach().t()
    rec_in = torch.empty(B, N, dtype=current.dtype)
    cur_np, u_np, w_np, z_np, d_np = (_np2(q) for q in (current, U, W, Z, D))
    states = [_np1(q) for q in (u, w, z)]
    rec_np = _np1(rec_in)
    z_prev = z0.detach()
    for t in range(T):
        torch.mm(z_prev, rec_t, out=rec_in)
        _adlif_rec_step_fwd(cur_np[t], rec_np, *states, *params, *consts,
                            u_np[t], w_np[t], z_np[t], d_np[t])
        z_prev = Z[t]
    return U, W, Z, D


@_one_thread()
def adlif_rec_backward(D, U, W, Z, u0, w0, z0, gz_out, gu_out, gw_out, dm, da, a, b, rec, p):
    T, B, N = U.shape
    G = torch.empty_like(U)
    gu_s, gw_s = torch.zeros(B, N, dtype=U.dtype), torch.zeros(B, N, dtype=U.dtype)
    gzr = torch.zeros(B, N, dtype=U.dtype)
    grads = [torch.zeros(B, N, dtype=U.dtype) for _ in range(4)]
    params = [_np1(_per_neuron(q, U)) for q in (dm, da, a, b)]
    width = p.alpha if p.surrogate == "superspike" else 1.0
    consts = _scalars(U, p.v_th, width, 1.0)
    dummy = np.zeros(1, dtype=_np2(U).dtype)
    d_np, u_np, w_np, z_np, g_np = (_np2(q) for q in (D, U, W, Z, G))
    outs = [_np2(g) if g is not None else None for g in (gz_out, gu_out, gw_out)]
    flags = [g is not None for g in outs]
    firsts = [_np1(q.detach().contiguous()) for q in (u0, w0, z0)]
    rec = rec.detach()
    gzr_np, gu_np, gw_np = _np1(gzr), _np1(gu_s), _np1(gw_s)
    grads_np = [_np1(g) for g in grads]
    for t in range(T - 1, -1, -1):
        prev = firsts if t == 0 else (u_np[t - 1], w_np[t - 1], z_np[t - 1])
        _adlif_rec_step_bwd(d_np[t], u_np[t], w_np[t], *prev,
                            *(o[t] if o is not None else dummy for o in outs), *flags,
                            gzr_np, *params, *consts, g_np[t], gu_np, gw_np, *grads_np)
        torch.mm(G[t], rec, out=gzr)
    dm_, da_, a_, b_ = (_per_neuron(q, U) for q in (dm, da, a, b))
    gu0 = dm_ * gu_s + a_ * gw_s
    gw0 = da_ * gw_s
    gz0 = -dm_ * p.v_th * gu_s + b_ * gw_s + gzr
    return G, gu0, gw0, gz0, [g.sum(0) for g in grads]
