"""The original study's "first epoch loss" column, decoded (an inference, stated as one).

The study's Table 1 reports a first-epoch loss per row (763.9 for the 128-neuron SNN,
1524.1 for the 256-neuron SNN, 1602.2 for the ANN, 510.6 for the CNN). A training loop
that adds ``loss.item()`` over an epoch reports ``sum_b L_b``, the sum over the epoch's
``ceil(N / B)`` batches of each batch's mean cross-entropy ``L_b``; a model that still
outputs near-uniform class scores has ``L_b = ln K`` (K = 20 classes on SHD). Dividing a
reported sum by the batch count of each candidate batch size ``B`` on SHD's
``N = 8,156`` training samples gives the mean loss per batch that the sum implies;
:func:`candidates` tabulates it and :func:`loss_inference` says what it suggests.

Checked here, not taken on trust: ``255 ln 20 = 763.91``, and ``ceil(8156 / 32) = 255``,
so the phase-1 SNN's 763.9 is exactly chance-level loss over 255 batches of 32 (every
other candidate batch size implies a mean far from ``ln 20``). The other rows are not
identified by their sums alone; the report says which readings fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SHD_N_TRAIN = 8156  # training samples of SHD (Cramer et al. 2022)
SHD_N_CLASSES = 20
CANDIDATE_BATCHES = (16, 32, 64, 128)


@dataclass(frozen=True)
class Reading:
    """One candidate batch size for a reported epoch-loss sum."""

    batch_size: int
    n_batches: int
    mean_per_batch: float  # reported sum / n_batches


def n_batches(n_samples: int, batch_size: int) -> int:
    """Batches in one epoch, the last one partial: ``ceil(n / B)``."""
    return -(-n_samples // batch_size)


def candidates(loss_sum: float, n_samples: int = SHD_N_TRAIN,
               batch_sizes: tuple[int, ...] = CANDIDATE_BATCHES) -> tuple[Reading, ...]:
    """The mean loss per batch that ``loss_sum`` implies at each candidate batch size."""
    return tuple(Reading(b, n_batches(n_samples, b), loss_sum / n_batches(n_samples, b))
                 for b in batch_sizes)


def chance_reading(loss_sum: float, n_classes: int = SHD_N_CLASSES, n_samples: int = SHD_N_TRAIN,
                   tol: float = 5e-3) -> Reading | None:
    """The candidate whose implied mean is ``ln K`` within ``tol`` (relative), if exactly one is."""
    hits = [r for r in candidates(loss_sum, n_samples)
            if abs(r.mean_per_batch - math.log(n_classes)) <= tol * math.log(n_classes)]
    return hits[0] if len(hits) == 1 else None


def loss_inference(rows: list[tuple[str, float, float | None]]) -> str:
    """A paragraph for the report: what the study's loss sums suggest (marked as inference).

    ``rows``: (row label, the study's first-epoch loss, its last-epoch loss or None) for
    the rows that report one.
    """
    ln_k = math.log(SHD_N_CLASSES)
    parts = []
    for label, loss, last in rows:
        hit = chance_reading(loss)
        if hit is not None:
            m = hit.mean_per_batch
            how = (f"ln {SHD_N_CLASSES} to four digits" if round(m, 4) == round(ln_k, 4)
                   else f"{100 * (m - ln_k) / ln_k:+.2f}% from ln {SHD_N_CLASSES}")
            text = (
                f"{label}: {loss:g} / {hit.n_batches} = {m:.4f}, {how}, and {hit.n_batches} = "
                f"ceil({SHD_N_TRAIN:,} / {hit.batch_size}): this row most likely trained at "
                f"batch {hit.batch_size} and sat at chance-level loss through its first epoch."
            )
            if last is not None:
                text += (f" Its last reported epoch loss, {last:g} = {hit.n_batches} × "
                         f"{last / hit.n_batches:.4f}, had barely moved while its accuracy was "
                         "reported high: a readout whose class scores stay close together.")
            parts.append(text)
        else:
            readings = ", ".join(f"batch {r.batch_size}: {r.mean_per_batch:.3g}"
                                 for r in candidates(loss))
            parts.append(f"{label}: {loss:g} is not chance loss at any candidate batch size "
                         f"(mean per batch implied — {readings}); its batch size is not "
                         "identified by the sum alone.")
    return (
        "**The study's first-epoch loss, decoded (an inference, not a reported fact).** "
        "The study's loss column is a sum over the epoch's batches of each batch's mean "
        "cross-entropy (what adding up `loss.item()` gives), so it depends on the batch "
        f"size, which the study did not report. On SHD ({SHD_N_TRAIN:,} training samples, "
        f"{SHD_N_CLASSES} classes) a model that has not yet learned scores ln {SHD_N_CLASSES} "
        f"= {ln_k:.4f} per batch. " + " ".join(parts)
    )
