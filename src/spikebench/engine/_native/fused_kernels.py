"""numba kernels that run a layer's input projection and its neuron scan in one pass (CPU).

Layouts: input ``X [T, B, C]`` (time-major), transposed weights ``WT [C, H]`` (row ``c``
is the weight of input ``c`` to every neuron), state ``[B, H]``, outputs ``[T, B, H]``.

A spiking layer's input is mostly zeros. For every batch element ``b`` (one thread each,
``prange``) the kernel walks time; at each step it finds the active inputs of the row
``X[t, b]`` (a bitmask of ``row != 0`` built 64 inputs at a time, which vectorises, then
one ``trailing_zeros`` per set bit), adds their weight rows to the neurons' input
current (``bias`` first, then the active rows in index order: the same sums, in the same
order, as :func:`~spikebench.engine._native.numba_kernels.sparse_linear_forward`), and
updates the neurons at once while their state is still in L1 cache. A recurrent layer
adds the weight rows of the neurons that spiked at the previous step the same way
(``z_{t-1} R^T``, event-driven). Nothing of size ``[T, B, H]`` is written but the spikes
(and, for training, the pre-reset membrane ``U`` and the active-input bitmasks that the
weight gradient needs): the projection's ``[T, B, H]`` current is never materialised.
A dense input (``sparse=False``) skips the search and adds a precomputed current
``CUR [T, B, H]`` (the product by BLAS) instead.

Why (2-core machine, quiet, 700 -> 128, T=100, B=128, 5 % input density, inference):
the unfused path (CSR build of the non-zero inputs 9.5 ms, gather 8.2 ms, serial scan
5.5 ms) took 25.8 ms for the layer; this kernel takes about 7.3 ms. Tried and slower
here: a register-tiled gather (numba keeps the tile in memory), a gcc-compiled C
gather, branch-free index extraction through a byte table, and the weight gradient
fused into the backward scan (16.9 vs 13.6 ms with the separate :func:`weight_grad`).
``trailing_zeros`` is numba's internal intrinsic (numba is pinned in pyproject.toml).

The neuron equations are the per-step cells of
:mod:`~spikebench.engine._native.numba_kernels`, so the results are those of the
unfused engine; no ``fastmath``. Every batch element is computed by one thread in a
fixed order, so the result does not depend on the number of threads. The weight
gradient is summed in ``_GRAD_CHUNKS`` fixed slices of the batch for the same reason.
"""

from __future__ import annotations

import numpy as np
from numba import int64, njit, prange, uint64
from numba.cpython.unsafe.numbers import trailing_zeros

from spikebench.engine._native.numba_kernels import _adlif_cell, _li_cell, _lif_cell, _lif_cell_bwd

_GRAD_CHUNKS = 8


@njit(cache=True, nogil=True, inline="always")
def _row_mask(row, mask):  # pragma: no cover
    """Bit ``c % 64`` of ``mask[c // 64]`` set where ``row[c] != 0`` (``mask``: ``ceil(C / 64)`` words)."""
    C = row.shape[0]
    for w in range(mask.shape[0]):
        lo = 64 * w
        bits = uint64(0)
        if lo + 64 <= C:
            for k in range(64):
                bits |= uint64(row[lo + k] != 0) << uint64(k)
        else:
            for k in range(C - lo):
                bits |= uint64(row[lo + k] != 0) << uint64(k)
        mask[w] = bits


@njit(cache=True, nogil=True, inline="always")
def _mask_indices(mask, idx):  # pragma: no cover
    """Writes the positions of the set bits of ``mask`` (ascending) to ``idx``; returns their count."""
    n = 0
    for w in range(mask.shape[0]):
        bits = mask[w]
        while bits != 0:
            idx[n] = 64 * w + int64(trailing_zeros(bits))
            n += 1
            bits &= bits - uint64(1)
    return n


@njit(cache=True, nogil=True, inline="always")
def _add_rows(acc, row, idx, n, WT):  # pragma: no cover
    """``acc += sum_q row[idx[q]] * WT[idx[q]]`` over the first ``n`` indices, in order."""
    H = acc.shape[0]
    for q in range(n):
        c = idx[q]
        xv = row[c]
        w = WT[c]
        for h in range(H):
            acc[h] += xv * w[h]


@njit(cache=True, nogil=True, inline="always")
def _input_current(cur, X, t, b, sparse, WT, bias, mask, idx):  # pragma: no cover
    """The input current of step ``t`` into ``cur`` (sparse: from the active inputs, whose
    bitmask is left in ``mask``)."""
    H = cur.shape[0]
    if sparse:
        for h in range(H):
            cur[h] = bias[h]
        _row_mask(X[t, b], mask)
        n = _mask_indices(mask, idx)
        _add_rows(cur, X[t, b], idx, n, WT)
    else:
        for h in range(H):
            cur[h] = X[t, b, h]


@njit(cache=True, nogil=True, inline="always")
def _spike_input(rec, z, zmask, zidx, RT):  # pragma: no cover
    """``rec = z RT``, event-driven: the rows of ``RT`` of the neurons with ``z != 0``, in order."""
    rec[:] = 0
    _row_mask(z, zmask)
    _add_rows(rec, z, zidx, _mask_indices(zmask, zidx), RT)


@njit(cache=True, nogil=True, parallel=True)
def lif_layer_fwd(X, sparse, WT, bias, RT, recurrent, v_state, i_state, z_state,
                  a_mem, a_syn, v_leak, v_th, v_reset, Z, U, masks, store):  # pragma: no cover
    """LIF layer over ``X``; spikes into ``Z``, the final state into ``*_state`` (in place).

    ``sparse``: ``X`` is the layer's input ``[T, B, C]`` and the current is
    ``bias + X W^T``; otherwise ``X`` is the current ``[T, B, H]``. ``recurrent``: add
    ``z_{t-1} RT`` (``RT [H, H]``). ``store``: write the pre-reset membrane to ``U`` and,
    if sparse, the active-input bitmasks to ``masks [T, B, ceil(C / 64)]``. ``T >= 1``.
    """
    T, B, C = X.shape
    H = Z.shape[2]
    for b in prange(B):
        own_mask = np.empty((C + 63) // 64, np.uint64)
        zmask = np.empty((H + 63) // 64, np.uint64)
        idx = np.empty(C, np.int64)
        zidx = np.empty(H, np.int64)
        j = np.empty(H, X.dtype)
        rec = np.zeros(H, X.dtype)
        v = v_state[b]
        i = i_state[b]
        z_prev = z_state[b].copy()
        for t in range(T):
            _input_current(j, X, t, b, sparse, WT, bias, masks[t, b] if store and sparse else own_mask, idx)
            if recurrent:
                _spike_input(rec, z_prev, zmask, zidx, RT)
                for h in range(H):
                    j[h] = (i[h] + j[h]) + rec[h]
            else:
                for h in range(H):
                    j[h] = i[h] + j[h]
            z = Z[t, b]
            if store:
                u_t = U[t, b]
                for h in range(H):
                    u_t[h], i[h], z[h], v[h] = _lif_cell(v[h], j[h], a_mem, a_syn, v_leak, v_th, v_reset)
            else:
                for h in range(H):
                    _, i[h], z[h], v[h] = _lif_cell(v[h], j[h], a_mem, a_syn, v_leak, v_th, v_reset)
            z_prev = z
        z_state[b] = Z[T - 1, b]


@njit(cache=True, nogil=True, parallel=True)
def li_layer_fwd(X, sparse, WT, bias, v_state, i_state, a_mem, a_syn, v_leak, V, masks,
                 store):  # pragma: no cover
    """Leaky-integrator layer over ``X`` (as :func:`lif_layer_fwd`); membrane into ``V``."""
    T, B, C = X.shape
    H = V.shape[2]
    for b in prange(B):
        own_mask = np.empty((C + 63) // 64, np.uint64)
        idx = np.empty(C, np.int64)
        cur = np.empty(H, X.dtype)
        v = v_state[b]
        i = i_state[b]
        for t in range(T):
            _input_current(cur, X, t, b, sparse, WT, bias, masks[t, b] if store and sparse else own_mask,
                           idx)
            out = V[t, b]
            for h in range(H):
                v[h], i[h] = _li_cell(v[h], i[h] + cur[h], a_mem, a_syn, v_leak)
                out[h] = v[h]


@njit(cache=True, nogil=True, parallel=True)
def weight_grad(X, G, masks, parts):  # pragma: no cover
    """``parts[k] = X[:, slice k]^T G[:, slice k]`` over the active inputs (``X [T, B, C]``,
    ``G [T, B, H]``, ``masks`` as stored by the forward kernel, ``parts [K, C, H]`` zeroed
    by the caller: the batch cut in ``K`` fixed slices, one thread each)."""
    T, B, C = X.shape
    K = parts.shape[0]
    H = G.shape[2]
    for k in prange(K):
        idx = np.empty(C, np.int64)
        acc = parts[k]
        for b in range(k * B // K, (k + 1) * B // K):
            for t in range(T):
                row = X[t, b]
                g = G[t, b]
                n = _mask_indices(masks[t, b], idx)
                for q in range(n):
                    c = idx[q]
                    xv = row[c]
                    a = acc[c]
                    for h in range(H):
                        a[h] += xv * g[h]


@njit(cache=True, nogil=True, parallel=True)
def lif_layer_bwd(U, GZ, has_gz, GU, has_gu, gi_last, a_mem, keep_mem, keep_syn, v_th, v_reset,
                  width, one, detach_reset, G, gv0, gi0):  # pragma: no cover
    """Backward pass of a feed-forward :func:`lif_layer_fwd`: the scan's adjoint recurrence
    (as ``numba_kernels._lif_bwd``) into ``G = dL/dI [T, B, H]`` and the initial-state
    adjoints ``gv0``, ``gi0`` ``[B, H]``, one batch element per thread."""
    T, B, H = U.shape
    zero = one - one
    for b in prange(B):
        gv = np.zeros(H, U.dtype)
        gi = gi_last[b].copy()
        for t in range(T - 1, -1, -1):
            u = U[t, b]
            g = G[t, b]
            for h in range(H):
                gj, gv[h] = _lif_cell_bwd(
                    u[h], gv[h], GZ[t, b, h] if has_gz else zero, GU[t, b, h] if has_gu else zero,
                    has_gu, gi[h], a_mem, keep_mem, keep_syn, v_th, v_reset, width, one, detach_reset)
                g[h] = gj
                gi[h] = gj
        gv0[b] = gv
        gi0[b] = gi


@njit(cache=True, nogil=True, parallel=True)
def adlif_layer_fwd(X, sparse, WT, bias, RT, recurrent, u_state, w_state, z_state,
                    decay_mem, decay_adapt, a, b, v_th, one, Z):  # pragma: no cover
    """Adaptive LIF layer over ``X`` for inference (as :func:`lif_layer_fwd`; the cell is
    ``numba_kernels._adlif_cell``, per-neuron parameters ``[H]``); spikes into ``Z``,
    the final state into ``*_state`` (in place). ``T >= 1``."""
    T, B, C = X.shape
    H = Z.shape[2]
    for k in prange(B):
        mask = np.empty((C + 63) // 64, np.uint64)
        zmask = np.empty((H + 63) // 64, np.uint64)
        idx = np.empty(C, np.int64)
        zidx = np.empty(H, np.int64)
        drive = np.empty(H, X.dtype)
        rec = np.zeros(H, X.dtype)
        u = u_state[k]
        w = w_state[k]
        z_prev = z_state[k].copy()
        for t in range(T):
            _input_current(drive, X, t, k, sparse, WT, bias, mask, idx)
            if recurrent:
                _spike_input(rec, z_prev, zmask, zidx, RT)
                for h in range(H):
                    drive[h] = drive[h] + rec[h]
            z = Z[t, k]
            for h in range(H):
                u[h], w[h], z[h] = _adlif_cell(u[h], w[h], z_prev[h], drive[h], decay_mem[h],
                                               decay_adapt[h], a[h], b[h], v_th, one)
            z_prev = z
        z_state[k] = Z[T - 1, k]
