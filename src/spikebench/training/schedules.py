"""Learning-rate schedules beyond constant and cosine, as pure functions of the epoch.

Each schedule is ``f(epoch, *, base_lr, epochs) -> lr`` like those in
:mod:`spikebench.training.loop` (which registers them in ``LR_SCHEDULES``); the runner
sets the rate at the start of every epoch (``epoch`` is 0-based).

``onecycle``: the one-cycle policy (Smith & Topin 2019, "Super-convergence"; the shape of
``torch.optim.lr_scheduler.OneCycleLR`` with cosine annealing, sampled once per epoch):
a cosine warm-up from ``base_lr / div`` to ``base_lr`` over the first ``pct_start`` of
training, then a cosine decay to ``base_lr / final_div`` at the end. The continuous curve
is sampled at the middle of each epoch (``epoch + 0.5``), the mean rate of the epoch to
first order, so a one-epoch run trains near ``base_lr`` instead of at the warm-up start. Used by the
delay-learning SHD recipe (Hammouamri et al. 2023, one-cycle on the weights).
"""

from __future__ import annotations

import math


def _cos(start: float, end: float, frac: float) -> float:
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * min(max(frac, 0.0), 1.0)))


def onecycle_lr(epoch: float, *, base_lr: float, epochs: int, pct_start: float = 0.3,
                div: float = 25.0, final_div: float = 1e4) -> float:
    """One-cycle learning rate during (0-based) ``epoch`` of ``epochs`` (module docstring)."""
    t = epoch + 0.5
    warm = max(pct_start * epochs, 1e-12)
    if t < warm:
        return _cos(base_lr / div, base_lr, t / warm)
    return _cos(base_lr, base_lr / final_div, (t - warm) / max(epochs - warm, 1e-12))
