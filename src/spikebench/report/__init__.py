"""The run report: a mini-lecture built from a run directory's files alone.

:func:`build_report` reads ``RUN_DIR/results.json`` (required), ``config.toml`` and
``samples.npz`` (optional), draws the figures into ``RUN_DIR/figures/*.png`` and writes
``RUN_DIR/report.md`` (referencing those PNGs) and a self-contained
``RUN_DIR/report.html`` (PNGs inlined, no network). Every file is written atomically.

Layout: :mod:`.rundir` reads and validates the files, :mod:`.tables` and :mod:`.plots`
turn them into tables and figures, :mod:`.document` assembles the lecture as neutral
blocks, and :mod:`.markdown` / :mod:`.html` lay those blocks out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spikebench.fileio import write_text_atomic

__all__ = ["build_report"]


def _figure_specs(run) -> list[tuple[str, str, str, str, Callable]]:
    from spikebench.report import plots

    d = run.record.dataset
    bin_note = f" Inputs binned at {1e3 * d.bin.dt:g} ms." if d.bin.dt else ""
    return [
        (
            "rasters", "spike_rasters.png",
            "Spike rasters of training inputs (the test file is kept for the final evaluation): each dot is one spike, at its time (s) on its input "
            "channel (0 = highest frequency); the title gives the spoken word.",
            "Spike rasters of a few training inputs",
            lambda: plots.plot_spike_rasters(run.samples, d.keys),
        ),
        (
            "learning_curves", "learning_curves.png",
            "Learning curves: mean training loss (left) and training (dashed) / validation "
            "(solid) accuracy (right) per epoch; shaded bands are ± one standard deviation "
            "over seeds where there are several; ★ marks the evaluated epoch.",
            "Learning curves of every model",
            lambda: plots.plot_learning_curves(run),
        ),
        (
            "accuracy_vs_time", "accuracy_vs_time.png",
            "Test accuracy against inference time per batch (log scale). Filled circles: this "
            "run; open squares: the original study's reported figures (other hardware), "
            "arrows from each original figure to this run's." + bin_note,
            "Accuracy against inference time per batch",
            lambda: plots.plot_accuracy_vs_time(run),
        ),
        (
            "confusion", "confusion_matrices.png",
            "Test confusion matrices, rows normalised to 100% (rows: true word, columns: "
            "predicted word).",
            "Confusion matrices of every model on the test split",
            lambda: plots.plot_confusion_matrices(run),
        ),
        (
            "streaming", "streaming_accuracy.png",
            "Streaming inference: test accuracy when the decision is taken after the given "
            "fraction of each utterance; the legend gives the mean latency per time bin.",
            "Streaming accuracy against decision time",
            lambda: plots.plot_streaming(run),
        ),
        (
            "search", "search_history.png",
            "Hyperparameter search: validation accuracy of each trial and the best so far "
            "(left); importance of each searched parameter (right).",
            "Optimisation history and parameter importance",
            lambda: plots.plot_search_history(run),
        ),
    ]


def build_report(run_dir: str | Path, ablation: str | Path | None = None) -> tuple[Path, Path]:
    """Build ``report.md`` and ``report.html`` in ``run_dir``; return their paths.

    The section "What limits the study's SNN" comes from a ``seed_ablation`` run: ``run_dir``
    itself (which then also gets ``ablation_best.toml``, :func:`.ablation.best_settings_toml`),
    else ``ablation``, else the newest one beside ``run_dir`` (:func:`.ablation.find_ablation`).
    Raises :class:`~spikebench.errors.DataError` naming the file and field when the run
    directory's files are missing or malformed.
    """
    from spikebench.report import ablation as abl
    from spikebench.report.document import FigureBlock, build_document
    from spikebench.report.html import render_html
    from spikebench.report.markdown import render_markdown
    from spikebench.report.plots import save_png
    from spikebench.report.rundir import read_run

    run_dir = Path(run_dir)
    run = read_run(run_dir)
    figs: dict[str, FigureBlock] = {}
    for key, filename, caption, alt, draw in _figure_specs(run):
        fig = draw()
        if fig is None:
            continue
        rel = f"figures/{filename}"
        figs[key] = FigureBlock(rel, caption, alt, save_png(fig, run_dir / rel))
    abl_run = None
    if abl.is_ablation(run):
        abl_run = run
        toml = abl.best_settings_toml(run)
        if toml is not None:
            write_text_atomic(run_dir / abl.BEST_FILE, toml)
    else:
        found = Path(ablation) if ablation is not None else abl.find_ablation(run_dir)
        if found is not None:
            abl_run = read_run(found)
            if not abl.is_ablation(abl_run):
                abl_run = None
    if abl_run is not None:
        fig = abl.plot_ablation(abl_run)
        if fig is not None:
            rel = "figures/ablation.png"
            figs["ablation"] = FigureBlock(
                rel, "The ablation of the study's SNN: left, validation (blue) and test (orange) "
                "accuracy, mean ± std over seeds, the dotted line the baseline's validation "
                "accuracy; right, hidden neurons that never spike on the validation split, at "
                "initialisation and after training.",
                "Bar chart of the seed ablation", save_png(fig, run_dir / rel))
    blocks = build_document(run, figs, ablation=abl_run)
    md_text, html_text = render_markdown(blocks), render_html(blocks)
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    write_text_atomic(md_path, md_text)
    write_text_atomic(html_path, html_text)
    return md_path, html_path
