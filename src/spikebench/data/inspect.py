"""Summaries and spike rasters of SHD-schema files (``spikebench data inspect``).

:func:`summarize` validates a file with :func:`~spikebench.data.shd.read_shd` and
returns plain numbers (times in seconds); :func:`plot_raster` draws a few samples as
time (s) x channel rasters with their class names (matplotlib, Agg backend, written
atomically). Neither prints; the CLI formats the summary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebench.data.shd import SpikeData, list_datasets, read_shd
from spikebench.errors import ConfigError
from spikebench.fileio import atomic_path


@dataclass(frozen=True)
class Summary:
    """What ``data inspect`` reports about one file."""

    path: Path
    schema: tuple[tuple[str, str, str], ...]  # (dataset, dtype, shape)
    n_samples: int
    n_events: int
    n_channels_used: int  # highest unit + 1
    classes: tuple[tuple[int, str, int], ...]  # (label, key, n_samples)
    speakers: tuple[tuple[int, int], ...]  # (speaker, n_samples)
    spikes_per_sample: tuple[float, int, int]  # mean, min, max
    duration_s: tuple[float, float, float]  # last spike time: mean, min, max
    share_after_1s: float  # share of events at t >= 1.0 s
    meta_fields: tuple[str, ...]


def summarize(path: str | os.PathLike[str], data: SpikeData | None = None) -> Summary:
    """Validate ``path`` and summarise it (pass ``data`` if already read)."""
    path = Path(path)
    data = read_shd(path) if data is None else data
    counts = data.counts()
    n = len(data)
    labels, per_label = np.unique(data.labels, return_counts=True)
    speakers, per_speaker = np.unique(data.speakers, return_counts=True)
    last = np.zeros(n, dtype=np.float32)
    nonempty = counts > 0
    if data.n_events:
        last[nonempty] = np.maximum.reduceat(data.times, data.offsets[:-1][nonempty])
    return Summary(
        path=path,
        schema=list_datasets(path),
        n_samples=n,
        n_events=data.n_events,
        n_channels_used=int(data.units.max()) + 1 if data.n_events else 0,
        classes=tuple(
            (int(k), data.keys[int(k)], int(c)) for k, c in zip(labels, per_label, strict=True)
        ),
        speakers=tuple((int(s), int(c)) for s, c in zip(speakers, per_speaker, strict=True)),
        spikes_per_sample=(
            (float(counts.mean()), int(counts.min()), int(counts.max())) if n else (0.0, 0, 0)
        ),
        duration_s=(float(last.mean()), float(last.min()), float(last.max())) if n else (0, 0, 0),
        share_after_1s=float((data.times >= 1.0).mean()) if data.n_events else 0.0,
        meta_fields=tuple(sorted(data.meta)),
    )


def plot_raster(
    data: SpikeData,
    out: str | os.PathLike[str],
    *,
    indices: list[int] | None = None,
    n: int = 4,
    title: str = "",
) -> Path:
    """Draw samples ``indices`` (default: the first sample of the first ``n`` classes) as
    spike rasters, time (s) x channel, titled with their labels; write ``out`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("png", "pdf", "svg", "jpg", "jpeg"):
        raise ConfigError(
            f"--plot {out}: unsupported image type '{out.suffix}' (use .png, .pdf, .svg)"
        )
    if indices is None:
        _, first = np.unique(data.labels, return_index=True)
        indices = sorted(int(i) for i in first)[:n]
    if not indices:
        raise ConfigError(f"--plot {out}: the file has no samples to draw")
    fig, axes = plt.subplots(1, len(indices), figsize=(3.2 * len(indices), 3.2), squeeze=False,
                             sharey=True)  # fmt: skip
    for ax, i in zip(axes[0], indices, strict=True):
        times, units = data.sample(i)
        ax.scatter(times, units, s=0.5, c="k", marker=".", linewidths=0, rasterized=True)
        label = int(data.labels[i])
        ax.set_title(f"#{i}: {label} {data.keys[label]}", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylim(-1, data.n_channels)
    axes[0][0].set_ylabel("channel")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=fmt, dpi=120)
    finally:
        plt.close(fig)
    return out
