"""Published test accuracies on SHD, in one place, with where each figure was read.

The report sets every row beside what the literature reports for that architecture on the
Spiking Heidelberg Digits, so that a reader can calibrate (a one-layer feed-forward LIF
network is not a 90% model on SHD). Each :class:`Published` entry names the paper, the
network, the figure (a fraction; ``spread`` the ± the paper gives, if any) and ``source``:
where spikebench's authors read it. Figures were read from the papers' own result
listings or from the SHD authors' leaderboard (zenkelab.org), never quoted from memory;
an entry whose figure could not be checked has ``accuracy = None`` and says so in
``note`` (the report prints "not verified" rather than a number).

:func:`published_for` maps a trained row (registry ``model`` and its ``hparams``) to the
entries for its architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ZENKE_LEADERBOARD = "SHD leaderboard of the data set's authors, zenkelab.org/resources/spiking-heidelberg-datasets-shd"
CRAMER = ("Cramer, Stradmann, Schemmel & Zenke, \"The Heidelberg Spiking Data Sets for the "
          "Systematic Evaluation of Spiking Neural Networks\", IEEE TNNLS 33(7):2744-2757, 2022 "
          "(doi:10.1109/TNNLS.2020.3044364; arXiv:1910.07407)")


@dataclass(frozen=True)
class Published:
    """One published SHD test accuracy (``accuracy`` None: not verified, see ``note``)."""

    key: str
    network: str
    accuracy: float | None
    short: str  # "Cramer et al. 2022", for table cells
    citation: str
    source: str
    spread: float | None = None
    note: str = ""


PUBLISHED: tuple[Published, ...] = (
    Published(
        "cramer_ff_snn", "Feed-forward LIF SNN, one hidden layer (surrogate gradients)", None,
        "Cramer et al. 2022",
        CRAMER, "the paper's results table could not be read when this table was written",
        note="a public reproduction cites about 48% for this network; not verified from the paper",
    ),
    Published(
        "cramer_rsnn", "Recurrent LIF SNN with data augmentation and noise injection", 0.832,
        "Cramer et al. 2022",
        CRAMER, ZENKE_LEADERBOARD, spread=0.013,
    ),
    Published(
        "cramer_lstm", "LSTM on binned spikes (non-spiking)", None,
        "Cramer et al. 2022",
        CRAMER, "the paper's results table could not be read when this table was written",
        note="a secondary web page cites about 90%; not verified from the paper",
    ),
    Published(
        "cramer_cnn", "CNN on binned spikes (non-spiking)", 0.924,
        "Cramer et al. 2022",
        CRAMER, "the paper's results as listed on paperswithcode.com (SHD, CNN, percentage correct)",
    ),
    Published(
        "rossbroich_fluct", "Recurrent convolutional SNN, fluctuation-driven initialisation", 0.835,
        "Rossbroich et al. 2022",
        "Rossbroich et al. 2022, fluctuation-driven initialisation for spiking neural network "
        "training (doi:10.1088/2634-4386/ac97bb)",
        ZENKE_LEADERBOARD, spread=0.015,
    ),
    Published(
        "bittar_radlif", "Recurrent SNN with adaptation (adaptive LIF)", 0.946,
        "Bittar & Garner 2022",
        "Bittar & Garner, \"A surrogate gradient spiking baseline for speech command "
        "recognition\", Frontiers in Neuroscience 16:865897, 2022",
        ZENKE_LEADERBOARD,
    ),
    Published(
        "hammouamri_dcls", "Feed-forward SNN with learned delays (DCLS)", 0.951,
        "Hammouamri et al. 2024",
        "Hammouamri, Khalfaoui-Hassani & Masquelier, \"Learning Delays in Spiking Neural "
        "Networks using Dilated Convolutions with Learnable Spacings\", ICLR 2024 (arXiv:2306.17670)",
        ZENKE_LEADERBOARD, spread=0.003,
    ),
    Published(
        "baronig_seadlif", "Recurrent adaptive LIF, symplectic-Euler discretisation (SE-adLIF)", 0.958,
        "Baronig et al. 2024",
        "Baronig, Ferrand, Sabathiel & Legenstein, \"Advancing spatio-temporal processing "
        "through adaptation in spiking neural networks\", Nature Communications 16, 2025 "
        "(arXiv:2408.07517, 2024)",
        ZENKE_LEADERBOARD, spread=0.006,
    ),
)

BY_KEY: dict[str, Published] = {p.key: p for p in PUBLISHED}

# Registry model -> the published entries for that architecture (most comparable first).
_FOR_MODEL: dict[str, tuple[str, ...]] = {
    "snn": ("cramer_ff_snn",),
    "rsnn": ("cramer_rsnn",),
    "ann": ("cramer_lstm",),
    "cnn": ("cramer_cnn",),
    "adlif": ("bittar_radlif", "baronig_seadlif"),
    "delays": ("hammouamri_dcls",),
}


def published_for(model: str | None, hparams: Mapping[str, Any] | None = None) -> tuple[Published, ...]:
    """The published entries for a row of registry ``model`` with ``hparams`` (may be empty).

    A recurrent ``snn`` counts as the recurrent SNN; the ANN row is set beside the
    paper's non-spiking sequence baseline (there is no plain feed-forward ANN figure).
    """
    hp = dict(hparams or {})
    if model == "snn" and hp.get("recurrent"):
        model = "rsnn"
    if model == "snn" and hp.get("init") == "fluctuation":
        return tuple(BY_KEY[k] for k in ("cramer_ff_snn", "rossbroich_fluct"))
    return tuple(BY_KEY[k] for k in _FOR_MODEL.get(model or "", ()))


def fmt_published(p: Published) -> str:
    """``92.4%`` / ``83.2 ± 1.3%`` / ``not verified``."""
    if p.accuracy is None:
        return "not verified"
    if p.spread is not None:
        return f"{100 * p.accuracy:.1f} ± {100 * p.spread:.1f}%"
    return f"{100 * p.accuracy:.1f}%"


def reference_numbers(entries: tuple[Published, ...]) -> dict[str, int]:
    """Footnote numbers ``[1]``, ``[2]`` ... in order of first use, one per citation."""
    numbers: dict[str, int] = {}
    for p in entries:
        numbers.setdefault(p.citation, len(numbers) + 1)
    return numbers
