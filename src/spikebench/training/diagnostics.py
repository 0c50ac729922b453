"""Spiking-activity diagnostics: silent neurons and firing rate of a model's spiking layers.

A hidden neuron that never crosses threshold passes no signal forward and, under a
surrogate gradient, receives little gradient either; the fraction of such neurons at
initialisation is a first check of whether a spiking network can learn at all.
:func:`spike_diagnostics` runs ``model`` (eval mode, no gradients) over ``batches``
(``x [T, B, C]`` time-major, labels ignored) and counts, over every spiking layer the
model returns in ``ModelOutput.spikes`` (each ``[T, B, N]``):

- ``silent_fraction``: neurons (over all layers) with no spike on any step of any sample;
- ``firing_rate``: spikes per neuron per time step, averaged over neurons, steps, samples.

Both are ``None`` for a model without spiking layers. ``train_mode=True`` runs the
model as training sees it (batch norm on batch statistics, which matters at
initialisation, where the running statistics are still the identity) and then restores
every buffer and the random-number state, so measuring never changes what training does.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def spike_diagnostics(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
                      max_batches: int | None = None, train_mode: bool = False,
                      device: torch.device | str | None = None) -> dict[str, float | None]:
    """``{"silent_fraction", "firing_rate"}`` of ``model``'s spiking layers over ``batches``."""
    was_training = model.training
    saved = None
    if train_mode:
        saved = ({k: v.detach().clone() for k, v in model.state_dict().items()},
                 torch.get_rng_state(),
                 torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    model.train(train_mode)
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
        if saved is not None:
            model.load_state_dict(saved[0])
            torch.set_rng_state(saved[1])
            if saved[2] is not None:
                torch.cuda.set_rng_state_all(saved[2])
    if counts is None:
        return {"silent_fraction": None, "firing_rate": None}
    every = torch.cat(counts)
    return {"silent_fraction": float((every == 0).double().mean()),
            "firing_rate": total / (steps * every.numel())}
