"""Spiking-activity diagnostics: silent neurons and firing rate of a model's spiking layers.

A hidden neuron that never crosses threshold passes no signal forward and, under a
surrogate gradient, receives little gradient either; the fraction of such neurons at
initialisation is a first check of whether a spiking network can learn at all.
:func:`spike_diagnostics` runs ``model`` (eval mode, no gradients) over ``batches``
(``x [T, B, C]`` time-major, labels ignored) and counts, over every spiking layer the
model returns in ``ModelOutput.spikes`` (each ``[T, B, N]``):

- ``silent_fraction``: neurons (over all layers) with no spike on any step of any sample;
- ``firing_rate``: spikes per neuron per time step, averaged over neurons, steps, samples.

Both are ``None`` for a model without spiking layers.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def spike_diagnostics(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
                      max_batches: int | None = None,
                      device: torch.device | str | None = None) -> dict[str, float | None]:
    """``{"silent_fraction", "firing_rate"}`` of ``model``'s spiking layers over ``batches``."""
    was_training = model.training
    model.eval()
    counts: list[torch.Tensor] | None = None
    total = steps = 0.0
    try:
        for i, (x, _) in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            if device is not None:
                x = x.to(device)
            spikes = model(x).spikes
            if not spikes:
                return {"silent_fraction": None, "firing_rate": None}
            per_neuron = [z.sum((0, 1)).double().cpu() for z in spikes]  # [N] per layer
            counts = per_neuron if counts is None else [a + b for a, b in zip(counts, per_neuron)]
            total += float(sum(z.sum() for z in per_neuron))
            steps += float(spikes[0].shape[0] * spikes[0].shape[1])
    finally:
        model.train(was_training)
    if counts is None:
        return {"silent_fraction": None, "firing_rate": None}
    every = torch.cat(counts)
    return {"silent_fraction": float((every == 0).double().mean()),
            "firing_rate": total / (steps * every.numel())}
