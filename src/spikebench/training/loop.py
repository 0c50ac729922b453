"""Training as a library: one epoch of training, one evaluation for validation and test.

Batches are ``(x float32 [T, B, C], y int64 [B])`` (time-major), as yielded by
``BinnedSplit.batches``; models return :class:`~spikebench.models.base.ModelOutput`.
Accuracy counts correct predictions over the whole split (not a mean of per-batch
means). The learning-rate schedules are pure functions of the epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from spikebench.errors import TrainingError
from spikebench.training.schedules import onecycle_lr

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class EpochStats:
    """Training loss and accuracy of one epoch, in two bookkeeping forms.

    ``loss``: mean cross-entropy per sample, ``sum_b n_b L_b / sum_b n_b`` (``L_b`` the
    mean loss of batch ``b``, ``n_b`` its size). ``loss_batch_sum``: ``sum_b L_b`` over the
    epoch's ``n_batches`` batches, the form a loop that adds up ``loss.item()`` reports
    (the original study's "first epoch loss"); ``loss_batch_sum / n_batches`` is the mean
    per batch, which differs from ``loss`` when the last batch is smaller.
    """

    loss: float
    accuracy: float
    n_samples: int
    loss_batch_sum: float = math.nan
    n_batches: int = 0

    @property
    def loss_per_batch(self) -> float:
        """Mean of the per-batch mean losses (``nan`` without batches)."""
        return self.loss_batch_sum / self.n_batches if self.n_batches else math.nan


@dataclass(frozen=True)
class EvalResult:
    """Accuracy over a whole split and its confusion matrix (rows: true, cols: predicted)."""

    accuracy: float
    n_correct: int
    n_samples: int
    loss: float
    confusion: np.ndarray


def constant_lr(epoch: int, *, base_lr: float, epochs: int) -> float:
    """The same learning rate every epoch (the original study: plain Adam)."""
    return base_lr


def cosine_lr(epoch: int, *, base_lr: float, epochs: int, min_lr: float = 0.0) -> float:
    """Cosine decay from ``base_lr`` at epoch 0 towards ``min_lr`` at epoch ``epochs``."""
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


LR_SCHEDULES: dict[str, Callable[..., float]] = {"constant": constant_lr, "cosine": cosine_lr,
                                                  "onecycle": onecycle_lr}


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _to(x: torch.Tensor, y: torch.Tensor, device: torch.device | str | None):
    if device is None:
        return x, y
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def train_one_epoch(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device | str | None = None,
    on_batch: Callable[[], None] | None = None,
) -> EpochStats:
    """One pass over ``batches`` with cross-entropy loss; raises TrainingError on NaN loss.

    Labels are int64 ``[B]`` or, after mixup/cutmix (:mod:`spikebench.training.augment`),
    class probabilities float ``[B, K]`` (soft targets; accuracy then counts the argmax).
    """
    model.train()
    total_loss = torch.zeros((), dtype=torch.float64)
    batch_sum = torch.zeros((), dtype=torch.float64)
    n_batches = 0
    correct = 0
    seen = 0
    for step, (x, y) in enumerate(batches):
        x, y = _to(x, y, device)
        logits = model(x).logits
        loss = nn.functional.cross_entropy(logits, y)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"training loss became {loss.item()} at batch {step} of this epoch; "
                "lower the learning rate (--set models.NAME.lr=...) or check the input data"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = y.shape[0]
        total_loss += loss.detach().double().cpu() * n
        batch_sum += loss.detach().double().cpu()
        n_batches += 1
        hard = y if y.ndim == 1 else y.argmax(1)
        correct += int((logits.detach().argmax(1) == hard).sum())
        seen += n
        if on_batch is not None:
            on_batch()
    if seen == 0:
        raise TrainingError("the training split yielded no batches")
    return EpochStats(float(total_loss) / seen, correct / seen, seen, float(batch_sum), n_batches)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Batches,
    n_classes: int,
    *,
    device: torch.device | str | None = None,
) -> EvalResult:
    """Accuracy, mean loss and confusion matrix of ``model`` over all of ``batches``."""
    model.eval()
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.int64)
    total_loss = 0.0
    for x, y in batches:
        x, y = _to(x, y, device)
        logits = model(x).logits
        total_loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
        pred = logits.argmax(1)
        confusion += torch.bincount(
            (y * n_classes + pred).cpu(), minlength=n_classes * n_classes
        ).reshape(n_classes, n_classes)
    n = int(confusion.sum())
    correct = int(confusion.diagonal().sum())
    return EvalResult(correct / n if n else float("nan"), correct, n,
                      total_loss / n if n else float("nan"), confusion.numpy())
