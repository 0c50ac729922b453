"""The seed ablation ("What limits the study's SNN"): its table, figure and best settings.

The ``seed_ablation`` experiment (``spikebench/configs/seed_ablation.toml``) trains the
study's phase-1 SNN and variants that change one setting each, labelled
``"Factor: setting"``; the row whose factor is ``Baseline`` is the unchanged SNN. Rows are
judged on validation accuracy after the last epoch (mean over seeds); test accuracy is
shown beside it, never used to choose.

:func:`best_settings` picks, per factor, the setting with the highest mean validation
accuracy and keeps it when it beats the baseline's by more than one seed standard
deviation (the larger of the two rows'), so that a gain within the seed spread is not
adopted; the kept changes are combined (on a clash over one option, the
higher-validation change wins). :func:`best_settings_toml`
writes them as a ``[[models]]`` row with its provenance, for the seed experiment's row
"SNN, the study's architecture with the ablation's best settings". Combining
one-at-a-time winners assumes the effects add up; the seed row then measures the
combination on its own.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from spikebench.report.rundir import ModelGroup, RunResults, group_models
from spikebench.report.tables import DASH, Table, acc_cell

EXPERIMENT = "seed_ablation"
BASELINE = "Baseline"
BEST_FILE = "ablation_best.toml"
SEED_ROW = "snn_p1"  # the seed experiment's row the ablation starts from


@dataclass(frozen=True)
class Variant:
    """One ablation row (all seeds of one setting)."""

    factor: str
    setting: str
    group: ModelGroup
    val: tuple[float, ...]
    test: tuple[float, ...]
    silent_init: tuple[float, ...]
    silent_final: tuple[float, ...]

    @property
    def val_mean(self) -> float:
        return statistics.fmean(self.val) if self.val else float("nan")


def split_label(label: str) -> tuple[str, str]:
    """``"Surrogate: arctan"`` -> ``("Surrogate", "arctan")``; no colon: the whole label twice."""
    factor, sep, setting = label.partition(":")
    return (factor.strip(), setting.strip()) if sep else (label.strip(), label.strip())


def _diag(run_record: Any, key: str) -> float | None:
    diag = getattr(run_record, "diagnostics", None) or {}
    v = diag.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def variants(run: RunResults) -> list[Variant]:
    """The run's rows in file order, each with its seeds' figures."""
    out = []
    for g in group_models(run.models):
        factor, setting = split_label(g.first.label)
        out.append(Variant(
            factor, setting, g,
            val=tuple(v for r in g.runs if (v := r.val_acc_selected) is not None),
            test=tuple(r.test_acc for r in g.runs),
            silent_init=tuple(v for r in g.runs if (v := _diag(r, "silent_fraction_init")) is not None),
            silent_final=tuple(v for r in g.runs if (v := _diag(r, "silent_fraction_final")) is not None),
        ))
    return out


def is_ablation(run: RunResults) -> bool:
    return run.record.experiment == EXPERIMENT and any(
        v.factor == BASELINE for v in variants(run))


def _mean_cell(values: tuple[float, ...]) -> str:
    return DASH if not values else f"{100 * statistics.fmean(values):.0f}%"


def ablation_table(run: RunResults) -> Table:
    """One row per variant: factor, setting, validation and test accuracy, silent neurons."""
    vs = variants(run)
    base = next((v for v in vs if v.factor == BASELINE), None)
    rows = []
    for v in vs:
        delta = DASH
        if base is not None and v is not base and v.val and base.val:
            delta = f"{100 * (v.val_mean - base.val_mean):+.1f}"
        rows.append((v.factor, v.setting, acc_cell(v.val), delta, acc_cell(v.test),
                     _mean_cell(v.silent_init), _mean_cell(v.silent_final)))
    return Table(
        title="What limits the study's SNN: one change at a time",
        columns=("Factor", "Setting", "Validation accuracy", "Δ val vs baseline (points)",
                 "Test accuracy", "Silent neurons at init", "Silent neurons after training"),
        rows=tuple(rows),
        align=("l", "l", "r", "r", "r", "r", "r"),
        notes=(
            "Validation: whole speakers held out of the training file, after the last epoch; "
            "rows are judged on it. Test: evaluated once per seed after training, for "
            "reference only. Silent neurons: hidden neurons that never spike on the "
            "validation split (mean over seeds).",
        ),
    )


def best_settings(run: RunResults) -> dict[str, Any] | None:
    """The combined validation winners (see the module doc), or None without a baseline.

    Returns ``{"hparams", "batch_size", "chosen": [(factor, setting, val mean)],
    "baseline_val"}``; ``chosen`` is empty when no change beat the baseline clearly.
    """
    vs = variants(run)
    base = next((v for v in vs if v.factor == BASELINE), None)
    if base is None or not base.val:
        return None
    base_hp = dict(base.group.first.hparams)
    best_of: dict[str, Variant] = {}
    for v in vs:
        if v.factor == BASELINE or not v.val:
            continue
        if v.factor not in best_of or v.val_mean > best_of[v.factor].val_mean:
            best_of[v.factor] = v
    winners = sorted((v for v in best_of.values() if v.val_mean - base.val_mean > _margin(v, base)),
                     key=lambda v: v.val_mean)  # ascending: the higher-validation change wins a clash
    hparams, batch_size = dict(base_hp), base.group.first.batch_size
    for v in winners:
        m = v.group.first
        hparams.update({k: val for k, val in m.hparams.items() if base_hp.get(k) != val})
        if m.batch_size != base.group.first.batch_size:
            batch_size = m.batch_size
    return {"hparams": hparams, "batch_size": batch_size,
            "chosen": [(v.factor, v.setting, v.val_mean) for v in reversed(winners)],
            "baseline_val": base.val_mean}


def _margin(v: Variant, base: Variant) -> float:
    """The gain a change must exceed to count: one seed standard deviation (the larger of
    the two rows'); 0 with a single seed."""
    spreads = [statistics.stdev(x) for x in (v.val, base.val) if len(x) > 1]
    return max(spreads, default=0.0)


def _toml_value(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")


def best_settings_toml(run: RunResults) -> str | None:
    """The seed experiment's "best settings" row, with the run it came from as provenance."""
    best = best_settings(run)
    if best is None:
        return None
    from spikebench.experiments.config import load_experiment

    study = next(m for m in load_experiment("seed").models if m.name == SEED_ROW)
    rec = run.record
    chosen = "; ".join(f"{f}: {s} (val {100 * m:.1f}%)" for f, s, m in best["chosen"]) or \
        "no change beat the baseline by more than the seed spread"
    epochs = sorted({m.epochs for m in rec.models})
    provenance = (f"{EXPERIMENT} run {run.path} (git {rec.git_revision or 'unknown'}, data set "
                  f"{rec.dataset.name}, {'/'.join(map(str, epochs))} epochs per row, judged on "
                  f"validation): baseline val {100 * best['baseline_val']:.1f}%; {chosen}")
    hp = ", ".join(f"{k} = {_toml_value(v)}" for k, v in best["hparams"].items())
    return "\n".join([
        "[[models]]",
        f"# The seed experiment's {SEED_ROW} with the ablation's best settings (chosen on validation).",
        f'name = "{SEED_ROW}_best"',
        'label = "SNN, the study\'s architecture with the ablation\'s best settings"',
        f'model = "{study.model}"',
        f"phase = {study.phase}",
        f"hidden = {study.hidden}",
        f"lr = {study.lr!r}",
        f"epochs = {study.epochs}",
        f"batch_size = {best['batch_size']}",
        f'engine = "{study.engine}"',
        f"hparams = {{ {hp} }}",
        f"provenance = {json.dumps(provenance)}",
        "",
    ])


def plot_ablation(run: RunResults) -> Figure | None:
    """Bars: validation and test accuracy (mean ± std over seeds) and silent neurons, per row."""
    vs = variants(run)
    if not vs:
        return None
    n = len(vs)
    fig = Figure(figsize=(11, 0.42 * n + 1.8), layout="constrained")
    ax_acc, ax_sil = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1.3]})
    y = np.arange(n)
    h = 0.38

    def stats(vals: tuple[float, ...]) -> tuple[float, float]:
        if not vals:
            return float("nan"), 0.0
        return 100 * statistics.fmean(vals), (100 * statistics.stdev(vals) if len(vals) > 1 else 0.0)

    val = np.array([stats(v.val) for v in vs])
    test = np.array([stats(v.test) for v in vs])
    ax_acc.barh(y - h / 2, val[:, 0], h, xerr=val[:, 1], color="#1f77b4", label="validation", capsize=2)
    ax_acc.barh(y + h / 2, test[:, 0], h, xerr=test[:, 1], color="#ff7f0e", label="test", capsize=2)
    base = next((v for v in vs if v.factor == BASELINE), None)
    if base is not None and base.val:
        ax_acc.axvline(100 * base.val_mean, color="#1f77b4", linestyle=":", linewidth=1,
                       label="baseline (validation)")
    ax_acc.set_yticks(y, [f"{v.factor}: {v.setting}" if v.factor != v.setting else v.factor
                          for v in vs], fontsize=8)
    ax_acc.invert_yaxis()
    ax_acc.set_xlabel("accuracy (%), mean ± std over seeds")
    ax_acc.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=3, borderaxespad=0)
    ax_acc.grid(axis="x", alpha=0.3)
    init = np.array([stats(v.silent_init)[0] for v in vs])
    final = np.array([stats(v.silent_final)[0] for v in vs])
    ax_sil.barh(y - h / 2, init, h, color="#7f7f7f", label="at initialisation")
    ax_sil.barh(y + h / 2, final, h, color="#2ca02c", label="after training")
    for yi, a, b in zip(y, init, final, strict=True):  # the figures, so 0% is visible too
        for off, v in ((-h / 2, a), (h / 2, b)):
            if np.isfinite(v):
                ax_sil.text(min(v, 80) + 2, yi + off, f"{v:.0f}%", va="center", fontsize=7)
    ax_sil.set_xlim(0, 100)
    ax_sil.set_xlabel("silent hidden neurons (%)")
    ax_sil.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=2, borderaxespad=0)
    ax_sil.grid(axis="x", alpha=0.3)
    return fig


def find_ablation(run_dir: str | Path) -> Path | None:
    """The newest ``seed_ablation`` run directory beside ``run_dir`` (same parent), if any."""
    from spikebench.errors import DataError
    from spikebench.record import load_run

    run_dir = Path(run_dir)
    # the parent as given (paths in the report stay as the user wrote them), unless it is empty
    parent = run_dir.parent if run_dir.name not in ("", ".", "..") else run_dir.resolve().parent
    found: list[tuple[str, Path]] = []
    for d in parent.iterdir():
        if d.resolve() == run_dir.resolve() or not (d / "results.json").is_file():
            continue
        try:
            rec = load_run(d)
        except DataError:
            continue
        if rec.experiment == EXPERIMENT and rec.models:
            found.append((rec.created, d))
    return max(found)[1] if found else None
