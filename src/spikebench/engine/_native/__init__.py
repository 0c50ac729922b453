"""Compiled CPU loops for the engine's kernels (numba); see ``numba_kernels``.

:func:`numba_available` compiles (or loads from numba's on-disk cache) the kernels once
per process; if numba is missing or compilation fails, it logs one warning and the
engine falls back to the pure-PyTorch loops.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_available: bool | None = None


def numba_available() -> bool:
    global _available
    if _available is None:
        try:
            from spikebench.engine._native import fused_kernels, numba_kernels  # noqa: F401

            numba_kernels.warm_up()
            _available = True
        except Exception as err:  # any import/compile failure means: use the torch loop
            log.warning("numba kernels unavailable (%s); using the pure-PyTorch engine", err)
            _available = False
    return _available


def supports(tensor) -> bool:
    """Whether the compiled loops can take ``tensor``: CPU, float32 or float64."""
    import torch

    return tensor.device.type == "cpu" and tensor.dtype in (torch.float32, torch.float64)
