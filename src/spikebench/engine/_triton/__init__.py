"""Triton kernels for the engine's scans on CUDA; see ``kernels``.

:func:`triton_available` imports Triton once per process; without it (or on a machine
where it fails to import) the engine runs the PyTorch loops on CUDA. :func:`supports`
says whether a tensor can go through the kernels: a CUDA tensor, or any CPU tensor when
``TRITON_INTERPRET=1`` (Triton's interpreter, which runs the same kernel source with
NumPy; the tests use it so that CI checks the kernels without a GPU).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

_available: bool | None = None


def interpreting() -> bool:
    """Whether Triton's interpreter mode is asked for (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_available() -> bool:
    global _available
    if _available is None:
        try:
            import triton  # noqa: F401
            import triton.language  # noqa: F401

            _available = True
        except Exception as err:  # any import failure means: use the torch loop
            log.info("triton unavailable (%s); CUDA layers use the PyTorch loop", err)
            _available = False
    return _available


def supports(tensor) -> bool:
    """Whether the kernels can take ``tensor``: float32/float64 on CUDA, or on CPU under
    the interpreter."""
    import torch

    if tensor.dtype not in (torch.float32, torch.float64) or not triton_available():
        return False
    return tensor.device.type == "cuda" or (tensor.device.type == "cpu" and interpreting())
