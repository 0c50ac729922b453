"""Input projection ``x [T, B, C] -> x W^T + b  [T, B, H]`` with a sparse path for spikes.

Spike frames are mostly zeros, so on CPU the product can skip them: build the CSR
structure of the non-zero inputs once (numba, one pass over ``x``), gather-sum the
weight rows of the active inputs in the forward pass, and scatter-add the output
gradient into the weight gradient in the backward pass; the cost follows the number of
spikes instead of ``T * B * C`` (the input's own gradient, for a hidden layer, stays a
dense product ``grad W``). Sums are taken in another order than the dense product's, so
results agree to rounding.

Used only where it wins: CPU, the numba kernels available, at most
``SPARSE_MAX_DENSITY`` non-zero entries (estimated first on 1/16 of the rows; the
dense product runs otherwise), and only for a plain ``nn.Linear``: a model that swaps
in its own projection module (batch norm after the product, say) gets ``linear(x)``.
LIF and LI layers with a plain ``nn.Linear`` do not come here: they run the fused
projection-and-scan kernels of :mod:`spikebench.engine.fused`; this path serves AdLIF.
Measured (load ~11 on the 2-core machine, projection forward + weight gradient): the
sparse path won 3.3x at 1 % density, 2.3x at 5 %, 1.2x at 10 % and lost from 15 % on,
so the threshold is 10 %.
"""

from __future__ import annotations

import torch
from torch import nn

SPARSE_MAX_DENSITY = 0.10


class _SparseInputLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2d, weight, bias, indptr, indices):  # type: ignore[override]
        from spikebench.engine._native import numba_kernels

        csr = (indptr.numpy(), indices.numpy())
        ctx.save_for_backward(x2d, indptr, indices, weight)
        ctx.has_bias = bias is not None
        return numba_kernels.sparse_linear_forward(x2d, csr, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        from spikebench.engine._native import numba_kernels

        x2d, indptr, indices, weight = ctx.saved_tensors
        g_x = g_weight = g_bias = None
        if ctx.needs_input_grad[0]:
            g_x = grad_out @ weight
        if ctx.needs_input_grad[1]:
            g_weight = numba_kernels.sparse_linear_weight_grad(
                x2d, (indptr.numpy(), indices.numpy()), grad_out
            )
        if ctx.has_bias and ctx.needs_input_grad[2]:
            g_bias = grad_out.sum(0)
        return g_x, g_weight, g_bias, None, None


def project(x: torch.Tensor, linear: nn.Linear, engine: str) -> torch.Tensor:
    """``linear(x)`` for ``x [T, B, C]``; the sparse gather when ``engine == "numba"`` and it wins."""
    if (
        engine == "numba"
        and type(linear) is nn.Linear  # a subclass or replacement may do more than x W^T + b
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and linear.weight.dtype == x.dtype
        and x.numel() > 0
    ):
        from spikebench.engine._native import numba_kernels

        x2d = x.reshape(-1, x.shape[-1]).contiguous()
        csr = numba_kernels.nonzero_rows(x2d, SPARSE_MAX_DENSITY)
        if csr is not None:
            indptr, indices = (torch.from_numpy(a) for a in csr)
            out = _SparseInputLinear.apply(x2d, linear.weight, linear.bias, indptr, indices)
            return out.reshape(*x.shape[:-1], out.shape[-1])
    return linear(x)
