"""The one engine knob: which implementation runs the spiking layers.

A model's ``engine`` (a config's ``engine = "fused"``, ``spikebench run --engine``) is an
:class:`Engine`, passed unchanged to its layers and scans; :func:`resolve` turns it, once
per call, into the kernels that run on the tensor's device:

=========  ===========================================  ==================================
engine     CPU                                          CUDA
=========  ===========================================  ==================================
fused      numba loops (when numba imports), else torch Triton kernels (when Triton
                                                        imports), else torch
torch      PyTorch scans with hand-written backward     the same
norse      Norse's cells, step by step (the reference)  the same
numba      numba loops                                  torch
triton     torch (Triton's interpreter when enabled)    Triton kernels
=========  ===========================================  ==================================

Compiled kernels fall back to torch for a tensor they cannot take and for a surrogate
they do not build in. To add a backend: a member here, its rule in :func:`resolve`, its kernel module in
:func:`spikebench.engine.lif.compiled_kernels` (and in :data:`COMPILED_ENGINES` if it is one).
"""

from __future__ import annotations

from enum import Enum

import torch

from spikebench.engine import _native, _triton
from spikebench.engine.surrogate import COMPILED
from spikebench.errors import ConfigError


class Engine(str, Enum):
    FUSED = "fused"
    TORCH = "torch"
    NORSE = "norse"
    NUMBA = "numba"
    TRITON = "triton"

    def __str__(self) -> str:
        return self.value


#: Engines whose kernels are compiled loops with the SuperSpike surrogates built in.
COMPILED_ENGINES = (Engine.NUMBA, Engine.TRITON)
#: What a user may choose (every member).
CHOICES = tuple(e.value for e in Engine)


def parse_engine(value: str | Engine, allowed: tuple[Engine, ...] = tuple(Engine)) -> Engine:
    """``value`` as an :class:`Engine`; a ConfigError naming the valid ones otherwise."""
    try:
        engine = Engine(value)
    except ValueError:
        engine = None
    if engine not in allowed:
        raise ConfigError(f"engine {value!r} is not available here; choose one of "
                          f"{', '.join(e.value for e in allowed)}")
    return engine


def resolve(engine: str | Engine, x: torch.Tensor, surrogate: str | None = None) -> Engine:
    """The engine whose kernels run a call on ``x``: ``fused`` becomes the fastest for
    ``x``'s device; compiled kernels fall back to ``torch`` where they cannot take ``x``
    (device, dtype) or the layer's ``surrogate`` (they build in the SuperSpike forms)."""
    engine = Engine(engine)
    if engine is Engine.FUSED:
        if x.device.type == "cpu" and _native.numba_available():
            engine = Engine.NUMBA
        elif x.device.type == "cuda" and _triton.triton_available():
            engine = Engine.TRITON
        else:
            return Engine.TORCH
    if engine is Engine.NUMBA and not _native.supports(x):
        return Engine.TORCH
    if engine is Engine.TRITON and not _triton.supports(x):
        return Engine.TORCH
    if engine in COMPILED_ENGINES and surrogate is not None and surrogate not in COMPILED:
        return Engine.TORCH
    return engine
