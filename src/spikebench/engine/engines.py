"""The one engine knob: which implementation runs the spiking layers.

A model's ``engine`` (a config's ``engine = "fused"``, ``spikebench run --engine``) is an
:class:`Engine`; :func:`resolve` turns it, once per layer call, into the kernels that
run on the tensor's device:

=========  ===========================================  ==================================
engine     CPU                                          CUDA
=========  ===========================================  ==================================
fused      numba loops (when numba imports), else torch Triton kernels (when Triton
                                                        imports), else torch
torch      PyTorch scans with hand-written backward     the same
norse      Norse's cells, step by step (the reference)  the same
numba      numba loops (torch where they cannot run)    torch
triton     torch                                        Triton kernels
=========  ===========================================  ==================================

To add a backend: a member here, its rule in :func:`resolve`, its kernel module in
:func:`spikebench.engine.lif.compiled_kernels` (and in :data:`COMPILED` if it is one).
"""

from __future__ import annotations

from enum import Enum

import torch

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
COMPILED = (Engine.NUMBA, Engine.TRITON)
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


def resolve(engine: Engine, device: torch.device) -> Engine:
    """The engine whose kernels run on ``device`` (see the table in the module docstring)."""
    if engine is Engine.FUSED:
        if device.type == "cpu":
            from spikebench.engine import _native

            if _native.numba_available():
                return Engine.NUMBA
        if device.type == "cuda":
            from spikebench.engine import _triton

            if _triton.triton_available():
                return Engine.TRITON
        return Engine.TORCH
    if engine is Engine.NUMBA and device.type != "cpu":
        return Engine.TORCH
    if engine is Engine.TRITON and device.type != "cuda":
        return Engine.TORCH
    return engine
