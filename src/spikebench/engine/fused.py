"""A spiking layer as one kernel on CPU: input projection and neuron scan fused.

``LIF`` and ``LI`` layers (:mod:`spikebench.engine.layers`) call :func:`lif_layer` /
:func:`li_layer` when their backend resolves to the compiled loops (:func:`applies`).
Layout: input ``x [T, B, C]``, outputs ``[T, B, H]``, state ``[B, H]``; time constants
in seconds (see :mod:`spikebench.engine.lif`).

* **Inference** (no gradient asked for: ``torch.no_grad`` / ``inference_mode``, or
  nothing requires grad): one call of
  :func:`~spikebench.engine._native.fused_kernels.lif_layer_fwd` per layer, which finds
  each step's active inputs, adds their weight rows and updates the neurons while their
  state is in cache, one batch element per thread; it writes the outputs and the final
  state, nothing else. A recurrent layer's ``z_{t-1} R^T`` is event-driven too.
* **Training**: the same kernel also keeps the pre-reset membrane and each row's active
  inputs (bitmasks); the backward pass is the scan's adjoint recurrence, one batch
  element per thread, then the weight gradient summed over the active inputs only.
* **AdLIF**: inference only (:func:`adlif_layer`); training keeps the unfused scan of
  :mod:`spikebench.engine.adlif`, which the kernel equals exactly (tested).
* **Dense input or another projection**: when more than ``SPARSE_MAX_DENSITY`` of the
  input is non-zero (estimated on every 16th row), or the projection is not a plain
  ``nn.Linear`` (batch norm after the product, say), the projection runs as a module
  (BLAS; autograd differentiates it) and the kernel scans its output.

The forward sums are those of the unfused sparse path (bias, then the active rows in
index order), so results equal it in float64 and agree with the dense product to
rounding. ``benchmarks/engine_bench.py --projection`` measures the density crossover
that sets ``SPARSE_MAX_DENSITY``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spikebench.engine.li import LIParams, LIState
from spikebench.engine.li import scan_backward as li_scan_backward
from spikebench.engine.lif import LIFParams, LIFState, reset_membrane, state_tensors
from spikebench.engine.lif import scan_backward as lif_scan_backward

SPARSE_MAX_DENSITY = 0.10


def applies(x: torch.Tensor, engine: str) -> bool:
    """Whether the fused kernels can run a layer call on ``x``."""
    return (
        engine == "numba"
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.dim() == 3
        and x.shape[0] > 0
        and x.shape[1] > 0
    )


def _sparse_input(x: torch.Tensor, projection: nn.Module) -> bool:
    """Whether the kernel gathers the projection's weight rows itself: a plain ``nn.Linear``
    (a subclass or another module may do more than ``x W^T + b``) in ``x``'s dtype, and
    input that is mostly zero."""
    return (type(projection) is nn.Linear and projection.weight.dtype == x.dtype
            and _mostly_zero(x))


def _mostly_zero(x: torch.Tensor) -> bool:
    """At most ``SPARSE_MAX_DENSITY`` of ``x``'s entries non-zero, estimated on every 16th row."""
    from spikebench.engine._native.numba_kernels import _count_sampled

    X = x.detach().reshape(-1, x.shape[-1]).numpy()
    seen_nnz, seen = _count_sampled(X.view(np.uint32 if X.dtype == np.float32 else np.uint64), 16)
    return seen_nnz <= SPARSE_MAX_DENSITY * seen


def _needs_grad(*tensors: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _consts(like: torch.Tensor, *values: float):
    kind = np.float32 if like.dtype == torch.float32 else np.float64
    return tuple(kind(v) for v in values)


def _weights(inputs: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None):
    """``(WT [C, H], bias [H])`` as arrays for a sparse input; placeholders for a current."""
    dtype = _np(inputs).dtype
    if weight is None:
        return np.zeros((1, 1), dtype), np.zeros(1, dtype)
    wt = weight.detach().t().contiguous().numpy()
    return wt, (bias.detach().numpy() if bias is not None else np.zeros(wt.shape[1], dtype))


def _placeholder(like: torch.Tensor) -> np.ndarray:
    return np.zeros((1, 1, 1), _np(like).dtype)


def _run_lif(inputs, weight, bias, rec, v0, i0, z0, p: LIFParams, n_out: int, store: bool):
    """One kernel call. ``inputs``: the layer's input ``x`` (sparse; ``weight`` given) or
    its current (``weight`` None). Returns spikes, ``U`` (None unless ``store``), the final
    ``v``, ``i``, ``z`` and the active-input masks (stored if sparse and ``store``)."""
    from spikebench.engine._native import fused_kernels

    T, B, C = inputs.shape
    sparse = weight is not None
    wt, b = _weights(inputs, weight, bias)
    rt = rec.detach().t().contiguous().numpy() if rec is not None else np.zeros((1, 1), wt.dtype)
    v, i, z = (s.detach().clone() for s in (v0, i0, z0))
    Z = torch.empty(T, B, n_out, dtype=inputs.dtype)
    U = torch.empty(T, B, n_out, dtype=inputs.dtype) if store else None
    masks = np.empty((T, B, (C + 63) // 64) if store and sparse else (1, 1, 1), np.uint64)
    fused_kernels.lif_layer_fwd(
        _np(inputs), sparse, wt, b, rt, rec is not None, _np(v), _np(i), _np(z),
        *_consts(inputs, p.a_mem, p.a_syn, p.v_leak, p.v_th, p.v_reset),
        _np(Z), _np(U) if store else _placeholder(inputs), masks, store,
    )
    return Z, U, v, i, z, masks


class _FusedLIF(torch.autograd.Function):
    """LIF layer for training: returns spikes, the pre-reset membrane and the final current.

    ``inputs`` is the sparse input ``x`` with ``weight``/``bias``, or the current
    (``weight`` None; its product's gradient is autograd's).
    """

    @staticmethod
    def forward(ctx, inputs, weight, bias, rec, v0, i0, z0, p, n_out):  # type: ignore[override]
        Z, U, _, i_last, _, masks = _run_lif(inputs, weight, bias, rec, v0, i0, z0, p, n_out, store=True)
        ctx.p = p
        ctx.masks = masks
        ctx.has = (weight is not None, bias is not None, rec is not None)
        ctx.save_for_backward(inputs, weight, U, Z, z0, rec)
        return Z, U, i_last

    @staticmethod
    def backward(ctx, gz_out, gu_out, gi_last):  # type: ignore[override]
        inputs, weight, U, Z, z0, rec = ctx.saved_tensors
        sparse, has_bias, _ = ctx.has
        need = ctx.needs_input_grad
        g_rec = gz0 = None
        if rec is not None:
            G, gv0, gi0, gz0, g_rec = lif_scan_backward(U, Z, z0, rec, gz_out, gu_out, gi_last, ctx.p,
                                                        "numba", need[3])
        else:
            G, gv0, gi0 = _lif_backward(ctx.p, U, gz_out, gu_out, gi_last)
        if not sparse:
            return G, None, None, g_rec, gv0, gi0, gz0, None, None
        g_x, g_w, g_b = _projection_grads(need, inputs, weight, has_bias, G, ctx.masks)
        return g_x, g_w, g_b, g_rec, gv0, gi0, gz0, None, None


def _lif_backward(p: LIFParams, U, gz_out, gu_out, gi_last):
    """Feed-forward LIF backward, one batch element per thread: ``(dL/dI, gv0, gi0)``."""
    from spikebench.engine._native import fused_kernels

    T, B, H = U.shape
    gz = _np(gz_out.contiguous()) if gz_out is not None else _placeholder(U)
    gu = _np(gu_out.contiguous()) if gu_out is not None else _placeholder(U)
    gi = gi_last.detach().contiguous() if gi_last is not None else torch.zeros(B, H, dtype=U.dtype)
    width = p.alpha if p.surrogate == "superspike" else 1.0  # norse-superspike ignores alpha
    G = torch.empty_like(U)
    gv0, gi0 = torch.empty(B, H, dtype=U.dtype), torch.empty(B, H, dtype=U.dtype)
    fused_kernels.lif_layer_bwd(
        _np(U), gz, gz_out is not None, gu, gu_out is not None, _np(gi),
        *_consts(U, p.a_mem, 1.0 - p.a_mem, 1.0 - p.a_syn, p.v_th, p.v_reset, width, 1.0),
        p.detach_reset, _np(G), _np(gv0), _np(gi0))
    return G, gv0, gi0


def _projection_grads(need, x, weight, has_bias, G, masks):
    """Gradients of ``x``, the weight (summed over the stored active inputs) and the bias
    from ``G = dL/dI``."""
    from spikebench.engine._native import fused_kernels

    g_x = g_w = g_b = None
    if need[0]:
        g_x = G @ weight
    if need[1]:
        parts = np.zeros((fused_kernels._GRAD_CHUNKS, x.shape[2], G.shape[2]), _np(x).dtype)
        fused_kernels.weight_grad(_np(x), _np(G.contiguous()), masks, parts)
        g_w = torch.from_numpy(parts).sum(0).t()
    if has_bias and need[2]:
        g_b = G.sum((0, 1))
    return g_x, g_w, g_b


def lif_layer(x: torch.Tensor, state: LIFState, p: LIFParams, projection: nn.Module, n_out: int,
              recurrent: nn.Linear | None) -> tuple[torch.Tensor, LIFState]:
    """``lif_scan(projection(x), state, p, recurrent.weight)`` as one kernel: ``(spikes, state)``.

    The kernel gathers the weight rows itself when :func:`_sparse_input`; otherwise
    ``projection(x)`` (any module: BLAS, batch norm, ...) is its input current.
    """
    rec = recurrent.weight if recurrent is not None else None
    x = x.contiguous()
    v0, i0, z0 = state_tensors(state, x.dtype, x.shape[1], n_out)
    sparse = _sparse_input(x, projection)
    weight, bias = (projection.weight, projection.bias) if sparse else (None, None)
    if not _needs_grad(x, *projection.parameters(), rec, v0, i0, z0):
        with torch.no_grad():
            inputs = x if sparse else projection(x)
            Z, _, v, i, z, _ = _run_lif(inputs, weight, bias, rec, v0, i0, z0, p, n_out, store=False)
        return Z, LIFState(v, i, z)
    inputs = x if sparse else projection(x).contiguous()
    Z, U, i_last = _FusedLIF.apply(inputs, weight, bias, rec, v0, i0, z0, p, n_out)
    return Z, LIFState(reset_membrane(Z[-1], U[-1], p), i_last, Z[-1])


def _run_li(inputs, weight, bias, v0, i0, p: LIParams, n_out: int, store: bool):
    """One kernel call (``inputs`` as :func:`_run_lif`): the membrane, final ``v``, ``i``, masks."""
    from spikebench.engine._native import fused_kernels

    T, B, C = inputs.shape
    sparse = weight is not None
    wt, b = _weights(inputs, weight, bias)
    v, i = (s.detach().clone() for s in (v0, i0))
    V = torch.empty(T, B, n_out, dtype=inputs.dtype)
    masks = np.empty((T, B, (C + 63) // 64) if store and sparse else (1, 1, 1), np.uint64)
    fused_kernels.li_layer_fwd(_np(inputs), sparse, wt, b, _np(v), _np(i),
                               *_consts(inputs, p.a_mem, p.a_syn, p.v_leak), _np(V), masks, store)
    return V, v, i, masks


class _FusedLI(torch.autograd.Function):
    """LI layer for training (``inputs`` as :class:`_FusedLIF`): the membrane and the final current."""

    @staticmethod
    def forward(ctx, inputs, weight, bias, v0, i0, p, n_out):  # type: ignore[override]
        V, _, i_last, masks = _run_li(inputs, weight, bias, v0, i0, p, n_out, store=True)
        ctx.p = p
        ctx.masks = masks
        ctx.has_bias = bias is not None
        ctx.shape = V.shape
        ctx.save_for_backward(inputs, weight)
        return V, i_last

    @staticmethod
    def backward(ctx, gv_out, gi_last):  # type: ignore[override]
        inputs, weight = ctx.saved_tensors
        G, gv0, gi0 = li_scan_backward(gv_out, gi_last, ctx.shape, ctx.p, "numba")
        if weight is None:
            return G, None, None, gv0, gi0, None, None
        g_x, g_w, g_b = _projection_grads(ctx.needs_input_grad, inputs, weight, ctx.has_bias, G, ctx.masks)
        return g_x, g_w, g_b, gv0, gi0, None, None


def li_layer(x: torch.Tensor, state: LIState, p: LIParams, projection: nn.Module,
             n_out: int) -> tuple[torch.Tensor, LIState]:
    """``li_scan(projection(x), state, p)`` as one kernel (as :func:`lif_layer`): ``(membrane, state)``."""
    x = x.contiguous()
    v0, i0 = state_tensors(state, x.dtype, x.shape[1], n_out)
    sparse = _sparse_input(x, projection)
    weight, bias = (projection.weight, projection.bias) if sparse else (None, None)
    if not _needs_grad(x, *projection.parameters(), v0, i0):
        with torch.no_grad():
            inputs = x if sparse else projection(x)
            V, v, i, _ = _run_li(inputs, weight, bias, v0, i0, p, n_out, store=False)
        return V, LIState(v, i)
    inputs = x if sparse else projection(x).contiguous()
    V, i_last = _FusedLI.apply(inputs, weight, bias, v0, i0, p, n_out)
    return V, LIState(V[-1], i_last)


def adlif_layer(x: torch.Tensor, state, params: list[torch.Tensor], p, projection: nn.Module,
                n_out: int, recurrent: nn.Linear | None):
    """Inference of an AdLIF layer as one kernel (``params``: the clamped ``decay_mem``,
    ``decay_adapt``, ``a``, ``b``, each ``[n_out]``): ``(spikes, AdLIFState)``, or None
    when a gradient is asked for (training keeps the unfused scan,
    :func:`spikebench.engine.adlif.adlif_scan`)."""
    from spikebench.engine._native import fused_kernels
    from spikebench.engine.adlif import AdLIFState

    rec = recurrent.weight if recurrent is not None else None
    x = x.contiguous()
    u0, w0, z0 = state_tensors(state, x.dtype, x.shape[1], n_out)
    if _needs_grad(x, *projection.parameters(), rec, u0, w0, z0, *params):
        return None
    sparse = _sparse_input(x, projection)
    with torch.no_grad():
        inputs = x if sparse else projection(x).contiguous()
        weight, bias = (projection.weight, projection.bias) if sparse else (None, None)
        wt, b = _weights(inputs, weight, bias)
        rt = rec.detach().t().contiguous().numpy() if rec is not None else np.zeros((1, 1), wt.dtype)
        u, w, z = (s.detach().clone() for s in (u0, w0, z0))
        Z = torch.empty(*x.shape[:2], n_out, dtype=inputs.dtype)
        per_neuron = [_np(q.detach().to(inputs.dtype).contiguous()) for q in params]
        fused_kernels.adlif_layer_fwd(_np(inputs), sparse, wt, b, rt, rec is not None, _np(u), _np(w),
                                      _np(z), *per_neuron, *_consts(inputs, p.v_th, 1.0), _np(Z))
    return Z, AdLIFState(u, w, z)
