"""The report's figures, drawn with matplotlib's object API and saved as PNG.

Each ``plot_*`` function takes validated run records (:mod:`spikebench.report.rundir`)
and returns a :class:`matplotlib.figure.Figure`, or ``None`` when the run holds no data
for that figure. :func:`save_png` writes a figure atomically and returns its bytes (the
HTML report inlines them). Figures are built with ``Figure()`` directly, not ``pyplot``,
so no global backend or state is touched (the Agg canvas renders them).

Axes and units: epochs count from 1; accuracy in percent; inference time in seconds per
batch (log axis); spike times in seconds from the sample's start; channels as in the SHD
files (0 = highest frequency); streaming decisions as a fraction of the utterance.
Models keep one colour across all figures (their order in results.json).
"""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from spikebench.fileio import write_bytes_atomic
from spikebench.report.rundir import RunResults, Samples, group_models

DPI = 110
_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)


def color(i: int) -> str:
    return _COLORS[i % len(_COLORS)]


def save_png(fig: Figure, path: str | Path) -> bytes:
    """Render ``fig`` to PNG, write it atomically to ``path`` and return the bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    data = buf.getvalue()
    write_bytes_atomic(path, data)
    return data


def _stack(series: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epochs, mean and std over seeds, on the epochs every seed reached."""
    n = min(len(s) for s in series)
    arr = np.array([s[:n] for s in series], dtype=np.float64)
    std = arr.std(axis=0, ddof=1) if len(arr) > 1 else np.zeros(n)
    return np.arange(1, n + 1), arr.mean(axis=0), std


def _band(ax, series, *, color, label, linestyle="-", scale=1.0, marker="o", gid=None) -> bool:
    series = [s for s in series if s]
    if not series:
        return False
    x, mean, std = _stack(series)
    ax.plot(x, scale * mean, linestyle=linestyle, marker=marker, markersize=3.5, color=color, label=label,
            gid=gid)
    if len(series) > 1:
        ax.fill_between(x, scale * (mean - std), scale * (mean + std), color=color, alpha=0.15, linewidth=0)
    return True


def plot_learning_curves(run: RunResults) -> Figure | None:
    """Training loss (left) and train/validation accuracy (right) per epoch, every model.

    One colour per model; solid lines are validation accuracy, dashed training accuracy;
    the legend sits below both panels so it never hides a curve.
    """
    groups = group_models(run.models)
    if not any(r.history.train_loss or r.history.train_acc or r.history.val_acc for r in run.models):
        return None
    fig = Figure(figsize=(12, 4.6 + 0.25 * math.ceil(len(groups) / 3)), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, g in enumerate(groups):
        c = color(i)
        _band(ax_loss, [r.history.train_loss for r in g.runs], color=c, label=g.first.label, gid=f"{g.name}:loss")
        _band(ax_acc, [r.history.val_acc for r in g.runs], color=c, label="_val", scale=100, gid=f"{g.name}:val")
        _band(ax_acc, [r.history.train_acc for r in g.runs], color=c, label="_train", linestyle="--",
              scale=100, marker="", gid=f"{g.name}:train")
        sel = {r.selected_epoch for r in g.runs}
        if len(sel) == 1 and (e := sel.pop()) is not None and g.first.history.val_acc and 1 <= e <= len(g.first.history.val_acc):
            ax_acc.plot([e], [100 * g.first.history.val_acc[e - 1]], marker="*", markersize=12, color=c,
                        markeredgecolor="black", linestyle="none", label="_selected")
    ax_loss.set(title="Training loss (cross-entropy)", xlabel="epoch", ylabel="mean loss per sample")
    ax_acc.set(title="Accuracy: validation (solid), training (dashed)", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.legend(*ax_loss.get_legend_handles_labels(), loc="outside lower center",
               ncol=min(3, len(groups)), fontsize=9, frameon=False)
    return fig


def _seconds_formatter(v: float, _pos: int) -> str:
    return f"{v:g}"


def plot_accuracy_vs_time(run: RunResults) -> Figure | None:
    """Test accuracy against inference seconds per batch, with the original study's points.

    An arrow runs from each original figure (open square) to this run's (filled circle);
    points are named in the legend beside the axes (no labels on the points, which
    overlap when models sit close together).
    """
    groups = group_models(run.models)
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.subplots()
    drawn = False
    for i, g in enumerate(groups):
        acc, spb = g.values("test_acc"), g.inference_values("seconds_per_batch")
        c, m = color(i), g.first
        if acc and spb:
            x, y = statistics.fmean(spb), 100 * statistics.fmean(acc)
            xerr = statistics.stdev(spb) if len(spb) > 1 else None
            yerr = 100 * statistics.stdev(acc) if len(acc) > 1 else None
            ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", color=c, markersize=9, capsize=3,
                        label=f"{m.label} (this run)", zorder=3)
            drawn = True
            if m.reference.accuracy is not None and m.reference.seconds_per_batch is not None:
                rx, ry = m.reference.seconds_per_batch, 100 * m.reference.accuracy
                ax.plot([rx], [ry], marker="s", markersize=9, markerfacecolor="none", color=c,
                        linestyle="none", label=f"{m.label} (original study)", zorder=3)
                ax.annotate("", xy=(x, y), xytext=(rx, ry), annotation_clip=False,
                            arrowprops=dict(arrowstyle="-|>", color=c, lw=1.2, alpha=0.8,
                                            mutation_scale=14, shrinkA=7, shrinkB=7))
    if not drawn:
        return None
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_seconds_formatter))
    lo, hi = ax.get_xlim()
    if hi / lo < 30:  # a decade or so: label some minor ticks too (2, 3, 5 x 10^k), not all
        ax.xaxis.set_minor_formatter(FuncFormatter(_minor_seconds_formatter))
        ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set(xlabel="inference time per batch (s, log scale)", ylabel="test accuracy (%)",
           title="Accuracy vs inference time (up and left is better)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return fig


def _minor_seconds_formatter(v: float, _pos: int) -> str:
    lead = round(v / 10 ** math.floor(math.log10(v)), 6) if v > 0 else 0
    return f"{v:g}" if lead in (2, 3, 5) else ""


def _short(name: str, width: int = 12) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def plot_confusion_matrices(run: RunResults) -> Figure | None:
    """Row-normalised test confusion matrix per model (seeds summed): rows true, columns predicted."""
    groups = [g for g in group_models(run.models) if any(r.confusion is not None for r in g.runs)]
    if not groups:
        return None
    ncols = min(2, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    # Constrained layout keeps each panel's tick and axis labels clear of its neighbour's;
    # 9 pt class names stay ~11 px tall when the HTML report scales the figure to its width.
    fig = Figure(figsize=(6.4 * ncols, 6.0 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    keys = run.record.dataset.keys
    im = None
    for ax, g in zip(axes, groups, strict=False):
        mats = [r.confusion for r in g.runs if r.confusion is not None]
        cm = sum(mats[1:], mats[0].copy()) if len({m.shape for m in mats}) == 1 else mats[0]
        k = cm.shape[0]
        rowsum = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rowsum, out=np.zeros_like(cm), where=rowsum > 0)
        im = ax.imshow(100 * norm, cmap="Blues", vmin=0, vmax=100, interpolation="nearest")
        names = [_short(n, 9) for n in keys] if len(keys) == k else [str(j) for j in range(k)]
        size = 9 if k <= 24 else 7
        ax.set_xticks(range(k), names, rotation=90, fontsize=size)
        ax.set_yticks(range(k), names, fontsize=size)
        acc = np.trace(cm) / cm.sum() if cm.sum() else float("nan")
        ax.set_title(f"{g.first.label}: {100 * acc:.1f}% correct", fontsize=10)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        if k <= 12:
            for (a, b), v in np.ndenumerate(norm):
                if cm[a, b]:
                    ax.text(b, a, f"{100 * v:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if v > 0.6 else "black")
    for ax in axes[len(groups):]:
        ax.set_axis_off()
    if im is not None:
        fig.colorbar(im, ax=list(axes[: len(groups)]), shrink=0.6, label="% of the true class")
    return fig


def plot_spike_rasters(samples: Samples | None, keys: Sequence[str] = (), max_samples: int = 6) -> Figure | None:
    """One raster per input: spike time against input channel, titled with the class."""
    if samples is None or len(samples) == 0:
        return None
    n = min(len(samples), max_samples)
    names = samples.keys or tuple(keys)
    ncols = 2 if n in (2, 4) else min(3, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows))
    top = max(700, int(samples.units.max(initial=0)) + 1)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes[:n]):
        a, b = samples.offsets[i], samples.offsets[i + 1]
        t, u = samples.times[a:b], samples.units[a:b]
        ax.scatter(t, u, s=0.6, c="black", marker=".", linewidths=0, rasterized=True)
        lab = int(samples.labels[i])
        name = names[lab] if 0 <= lab < len(names) else f"class {lab}"
        ax.set_title(f"{name} (label {lab}, {b - a:,} spikes)", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("channel")
        ax.set_ylim(top - 0.5, -0.5)
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def plot_streaming(run: RunResults) -> Figure | None:
    """Accuracy against decision time: as a fraction of each utterance (left) and in
    seconds into the recording (right, when recorded)."""
    groups = [(i, g) for i, g in enumerate(group_models(run.models)) if g.first.streaming]
    if not groups:
        return None
    with_time = any(g.first.streaming.time_s for _, g in groups)
    fig = Figure(figsize=(12 if with_time else 7.5, 4.6))
    axes = np.atleast_1d(fig.subplots(1, 2 if with_time else 1))
    for i, g in groups:
        s = g.first.streaming
        label = g.first.label
        if s.seconds_per_bin is not None:
            label += f" ({1e3 * s.seconds_per_bin:.3g} ms per bin)"
        axes[0].plot(np.asarray(s.fraction), 100 * np.asarray(s.accuracy), marker="o", markersize=3,
                     color=color(i), label=label)
        if with_time and s.time_s:
            axes[1].plot(np.asarray(s.time_s), 100 * np.asarray(s.accuracy_vs_time), color=color(i),
                         label=g.first.label)
    axes[0].set(xlabel="fraction of the utterance heard before deciding", ylabel="test accuracy (%)",
                title="Decision after a fraction of each utterance", xlim=(0, 1.02))
    axes[0].legend(fontsize=8, loc="lower right")
    if with_time:
        axes[1].set(xlabel="time into the recording when deciding (s)", ylabel="test accuracy (%)",
                    title="Decision at a fixed time")
        axes[1].legend(fontsize=8, loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_search_history(run: RunResults) -> Figure | None:
    """Optimisation history (value per trial, best so far) and parameter importances."""
    s = run.record.search or {}
    trials = [t for t in (s.get("trials") or []) if isinstance(t, dict)]
    importance = s.get("importance") if isinstance(s.get("importance"), dict) else {}
    if not trials and not importance:
        return None
    minimise = str(s.get("direction", "maximize")).lower().startswith("min")
    fig = Figure(figsize=(12 if importance else 7, 4.4))
    axes = fig.subplots(1, 2 if importance else 1)
    axes = np.atleast_1d(axes)
    ax = axes[0]
    points = []
    for j, t in enumerate(trials):
        v = t.get("value")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            points.append((t.get("number", j), float(v), str(t.get("state", "COMPLETE")).upper()))
    scale = 100.0 if points and all(0 <= v <= 1 for _, v, _ in points) else 1.0
    xs, ys, best, running = [], [], [], None
    for num, v, state in points:
        if state == "COMPLETE":
            xs.append(num)
            ys.append(v)
            running = v if running is None else (min(running, v) if minimise else max(running, v))
            best.append((num, running))
        elif state == "PRUNED":
            ax.plot([num], [scale * v], marker="x", color="grey", linestyle="none")
    if ys:
        ax.plot(xs, scale * np.asarray(ys), "o", color=color(0), label="completed trial")
        bx, by = zip(*best)
        ax.step(bx, scale * np.asarray(by), where="post", color=color(1), label="best so far")
    ax.plot([], [], "x", color="grey", label="pruned (last reported value)")
    ax.set(title="Optimisation history", xlabel="trial",
           ylabel="validation accuracy (%)" if scale == 100.0 else "objective")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if importance:
        items = sorted(((str(k), float(v)) for k, v in importance.items()), key=lambda kv: kv[1])
        ax2 = axes[1]
        ax2.barh([k for k, _ in items], [v for _, v in items], color=color(2))
        ax2.set(title="Hyperparameter importance", xlabel="importance (sums to 1)")
        ax2.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


__all__ = [
    "save_png", "plot_learning_curves", "plot_accuracy_vs_time", "plot_confusion_matrices",
    "plot_spike_rasters", "plot_streaming", "plot_search_history",
]
