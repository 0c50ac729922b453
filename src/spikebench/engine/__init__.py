"""spikebench.engine: spiking layers that run whole time-major sequences ``[T, B, N]``.

Public API in :mod:`spikebench.engine.layers` (``LIF``, ``LI``, ``AdLIF``); the equations
and their hand-written backward passes live in the functional kernels ``lif``, ``li`` and
``adlif``; surrogate gradients in ``surrogate``; compiled CPU loops in ``_native``.
"""
