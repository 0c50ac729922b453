"""Surrogate gradients for the spike threshold.

The forward pass of every spiking kernel is the Heaviside step ``z = H(x)`` with
``H(x) = 1 if x > 0 else 0`` and ``x = v - v_th`` (membrane minus threshold, in the
model's voltage units). Its derivative is zero almost everywhere, so training replaces
it in the backward pass by a smooth pseudo-derivative ``dz/dx ~ g(x)``:

``"superspike"``
    spikebench's SuperSpike (Zenke & Ganguli 2018, as in SpyTorch):
    ``g(x) = 1 / (alpha |x| + 1)^2``. ``alpha`` sets the width (larger = narrower);
    ``alpha = 100`` is the SpyTorch/Norse default value.
``"norse-superspike"``
    exactly what norse 1.1.0's ``SuperSpike`` computes: ``g(x) = 1 / (|x| + 1)^2``.
    Norse stores ``alpha`` but its backward ignores it, so this surrogate ignores it too;
    it is the one to use when comparing against, or reproducing, a Norse model.
``"arctan"``
    snnTorch's ``atan`` surrogate (Fang et al. 2021):
    ``g(x) = (alpha / 2) / (1 + (pi alpha x / 2)^2)``; snnTorch's default ``alpha = 2``
    gives ``g(0) = 1``, like the SuperSpike forms. Half width at half maximum:
    ``2 / (pi alpha)`` = 0.32 for ``alpha = 2``; SuperSpike's is ``0.41 / alpha`` (0.41 for
    ``"norse-superspike"``, 0.0041 for ``alpha = 100``).

The compiled kernels (numba on CPU, Triton on CUDA) implement the two SuperSpike forms only (a fast sigmoid is the
SuperSpike curve: snnTorch's ``fast_sigmoid(slope=k)`` is ``"superspike"`` with
``alpha = k``); a layer with another surrogate runs the PyTorch scan
(:data:`COMPILED`).

Kernels call :func:`surrogate_derivative` in their hand-written backward passes;
:func:`spike` is the same thing as an autograd function for step-by-step code.
"""

from __future__ import annotations

import torch

from spikebench.errors import ConfigError

SURROGATES: tuple[str, ...] = ("superspike", "norse-superspike", "arctan")
COMPILED: tuple[str, ...] = ("superspike", "norse-superspike")  # the numba and Triton kernels' forms


def check_surrogate(name: str, alpha: float) -> None:
    """Raise ConfigError for an unknown surrogate name or a non-positive width."""
    if name not in SURROGATES:
        raise ConfigError(f"surrogate {name!r} is unknown; choose one of {', '.join(SURROGATES)}")
    if not alpha > 0:
        raise ConfigError(f"surrogate alpha must be > 0, got {alpha!r}")


def surrogate_derivative(x: torch.Tensor, name: str, alpha: float) -> torch.Tensor:
    """Pseudo-derivative ``g(x)`` of the Heaviside step at ``x = v - v_th``."""
    if name == "superspike":
        return (alpha * x.abs() + 1.0).pow(-2)
    if name == "norse-superspike":
        return (x.abs() + 1.0).pow(-2)
    if name == "arctan":
        return (0.5 * alpha) / (1.0 + (0.5 * torch.pi * alpha * x).pow(2))
    raise ConfigError(f"surrogate {name!r} is unknown; choose one of {', '.join(SURROGATES)}")


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.name = name
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * surrogate_derivative(x, ctx.name, ctx.alpha), None, None


def spike(x: torch.Tensor, name: str = "superspike", alpha: float = 100.0) -> torch.Tensor:
    """Heaviside ``H(x)`` forward, surrogate ``name`` backward."""
    return _Spike.apply(x, name, alpha)
