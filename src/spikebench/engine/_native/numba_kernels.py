"""numba-compiled time loops for the feed-forward LIF and LI scans (CPU).

Same equations and adjoint recurrences as :mod:`spikebench.engine.lif` and
:mod:`spikebench.engine.li`, in the same order of floating-point operations (no
``fastmath``, so float64 results equal the PyTorch loop's). Arrays are viewed as
``[T, M]`` with ``M = B * N`` neurons; the neurons are independent, so the loop runs
over blocks of ``_BLOCK`` neurons (state kept in L1 cache, inner loop vectorised) and the
blocks are spread over threads with ``prange``.

Why hand-written (measured on the 2-core machine, phase-1 layer 700-128, T=100,
B=128, float32): the PyTorch loop launches ~8 tensor operations per step forward and
~12 backward, ~6 ms + ~9 ms per training step; this loop takes ~0.5 ms + ~0.8 ms. numba
compiles in ~2 s on first use and is then loaded from its on-disk cache (``cache=True``),
where a C++ extension (``torch.utils.cpp_extension``) took ~60 s to build.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import njit, prange

_BLOCK = 512


@njit(parallel=True, cache=True, nogil=True)
def _lif_fwd(cur, v_state, i_state, a_mem, a_syn, v_leak, v_th, v_reset, Z, V, U):  # pragma: no cover
    T, M = cur.shape
    n_blocks = (M + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        lo = blk * _BLOCK
        hi = min(lo + _BLOCK, M)
        for t in range(T):
            for m in range(lo, hi):
                v = v_state[m]
                j = i_state[m] + cur[t, m]
                u = v + a_mem * ((v_leak - v) + j)
                i_state[m] = j - a_syn * j
                spiked = u > v_th
                U[t, m] = u
                Z[t, m] = 1.0 if spiked else 0.0
                v_new = v_reset if spiked else u
                V[t, m] = v_new
                v_state[m] = v_new


@njit(parallel=True, cache=True, nogil=True)
def _lif_bwd(U, GZ, GV, has_gz, has_gv, gv_state, gi_state, a_mem, keep_mem, keep_syn, v_th,
             v_reset, width, one, detach_reset, G):  # pragma: no cover
    T, M = U.shape
    n_blocks = (M + _BLOCK - 1) // _BLOCK
    zero = one - one
    for blk in prange(n_blocks):
        lo = blk * _BLOCK
        hi = min(lo + _BLOCK, M)
        for t in range(T - 1, -1, -1):
            for m in range(lo, hi):
                u = U[t, m]
                gv = gv_state[m]
                if has_gv:
                    gv = gv + GV[t, m]
                gz = GZ[t, m] if has_gz else 0.0
                if not detach_reset:
                    gz = gz + gv * (v_reset - u)
                d = width * abs(u - v_th) + one
                gu = (zero if u > v_th else gv) + gz * (one / (d * d))
                gj = a_mem * gu + keep_syn * gi_state[m]
                G[t, m] = gj
                gv_state[m] = keep_mem * gu
                gi_state[m] = gj


@njit(parallel=True, cache=True, nogil=True)
def _li_fwd(cur, v_state, i_state, a_mem, a_syn, v_leak, V):  # pragma: no cover
    T, M = cur.shape
    n_blocks = (M + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        lo = blk * _BLOCK
        hi = min(lo + _BLOCK, M)
        for t in range(T):
            for m in range(lo, hi):
                v = v_state[m]
                j = i_state[m] + cur[t, m]
                v = v + a_mem * ((v_leak - v) + j)
                i_state[m] = j - a_syn * j
                V[t, m] = v
                v_state[m] = v


@njit(parallel=True, cache=True, nogil=True)
def _li_bwd(GV, gv_state, gi_state, a_mem, keep_mem, keep_syn, G):  # pragma: no cover
    T, M = GV.shape
    n_blocks = (M + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        lo = blk * _BLOCK
        hi = min(lo + _BLOCK, M)
        for t in range(T - 1, -1, -1):
            for m in range(lo, hi):
                gv = gv_state[m] + GV[t, m]
                gj = a_mem * gv + keep_syn * gi_state[m]
                G[t, m] = gj
                gv_state[m] = keep_mem * gv
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


def _sync_threads() -> None:
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def lif_forward(current, v0, i0, p):
    """Numba counterpart of ``lif._torch_forward`` (feed-forward only)."""
    _sync_threads()
    Z = torch.empty_like(current)
    V = torch.empty_like(current)
    U = torch.empty_like(current)
    v = v0.detach().clone()
    i = i0.detach().clone()
    _lif_fwd(_np2(current), _np1(v), _np1(i),
             *_scalars(current, p.a_mem, p.a_syn, p.v_leak, p.v_th, p.v_reset),
             _np2(Z), _np2(V), _np2(U))
    return Z, V, U, i


def lif_backward(U, gz_out, gv_out, gi, p):
    """Numba counterpart of ``lif._torch_backward`` (feed-forward only)."""
    _sync_threads()
    width = p.alpha if p.surrogate == "superspike" else 1.0  # norse-superspike ignores alpha
    G = torch.empty_like(U)
    gv = torch.zeros_like(U[0])
    gi = gi.detach().clone().contiguous()
    dummy = np.zeros((1, 1), dtype=_np2(U).dtype)
    _lif_bwd(_np2(U), _np2(gz_out) if gz_out is not None else dummy,
             _np2(gv_out) if gv_out is not None else dummy, gz_out is not None, gv_out is not None,
             _np1(gv), _np1(gi),
             *_scalars(U, p.a_mem, 1.0 - p.a_mem, 1.0 - p.a_syn, p.v_th, p.v_reset, width, 1.0),
             p.detach_reset, _np2(G))
    return G, gv, gi


def li_forward(current, v0, i0, p):
    _sync_threads()
    V = torch.empty_like(current)
    v = v0.detach().clone()
    i = i0.detach().clone()
    _li_fwd(_np2(current), _np1(v), _np1(i), *_scalars(current, p.a_mem, p.a_syn, p.v_leak), _np2(V))
    return V, i


def li_backward(gv_out, gi, p):
    _sync_threads()
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
    Z, V, U, _ = lif_forward(cur, torch.zeros(1, 3), torch.zeros(1, 3), p)
    if not (float(U[0, 0, 0]) == np.float32(p.a_mem) and float(Z[1, 0, 0]) == 1.0):
        raise RuntimeError("numba LIF kernel self-check failed")
    lif_backward(U, torch.ones_like(U), None, torch.zeros(1, 3), p)
    V, _ = li_forward(cur, torch.zeros(1, 3), torch.zeros(1, 3), p)
    li_backward(V, torch.zeros(1, 3), p)
