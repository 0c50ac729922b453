"""The report's tables, as plain rows of formatted strings.

Each function takes a :class:`~spikebench.report.rundir.RunResults` and returns a
:class:`Table` (or ``None`` when the run holds no data for it); the Markdown and HTML
writers only lay the cells out. Units in the cells: accuracy in percent, times in
seconds or milliseconds (stated in each cell), learning rate as written in the config.
A model run over several seeds shows mean ± sample standard deviation (n - 1) and n.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from spikebench.report.rundir import ModelGroup, RunResults, group_models
from spikebench.report.study import SHD_N_TRAIN, n_batches

DASH = "–"


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: tuple[str, ...]  # "l" or "r" per column
    notes: tuple[str, ...] = ()


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return DASH if x is None else f"{100 * x:.{digits}f}%"


def fmt_seconds(x: float | None) -> str:
    if x is None:
        return DASH
    if x >= 1.0:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{1e3 * x:.3g} ms"
    return f"{1e6 * x:.3g} µs"


def fmt_int(x: float | None) -> str:
    return DASH if x is None else f"{int(round(x)):,}"


def fmt_lr(x: float | None) -> str:
    return DASH if x is None else f"{x:g}"


def fmt_number(x: Any) -> str:
    """A metric of unknown meaning: integers with separators, others to 4 significant digits."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1):
        return f"{int(x):,}"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _spread(values: Sequence[float], fmt, scale: float = 1.0, unit: str = "") -> str:
    """Format one value, or mean ± std (n) for several."""
    if not values:
        return DASH
    if len(values) == 1:
        return fmt(values[0])
    mean = statistics.fmean(values)
    std = statistics.stdev(values)
    return f"{scale * mean:.1f} ± {scale * std:.1f}{unit} (n={len(values)})"


def acc_cell(values: Sequence[float]) -> str:
    return _spread(values, fmt_pct, 100.0, "%")


def seconds_cell(values: Sequence[float]) -> str:
    if len(values) <= 1:
        return fmt_seconds(values[0] if values else None)
    mean, std = statistics.fmean(values), statistics.stdev(values)
    scale, unit = (1.0, "s") if mean >= 1.0 else (1e3, "ms") if mean >= 1e-3 else (1e6, "µs")
    # Three significant digits on the mean, the same decimals on the spread.
    decimals = max(0, 2 - math.floor(math.log10(scale * mean))) if mean > 0 else 2
    return f"{scale * mean:.{decimals}f} ± {scale * std:.{decimals}f} {unit} (n={len(values)})"


def _same(values: Iterable[Any]) -> Any:
    """The common value, or None when entries disagree or none is set."""
    vals = {v for v in values if v is not None}
    return vals.pop() if len(vals) == 1 else None


def model_label(g: ModelGroup) -> str:
    return g.first.label


def _multi_seed_note(groups: list[ModelGroup]) -> tuple[str, ...]:
    if any(g.n_seeds > 1 for g in groups):
        return ("Rows with n > 1: mean ± sample standard deviation over n seeds.",)
    return ()


def model_details_table(run: RunResults) -> Table:
    """Table 1: each model's set-up and accuracy, beside the original study's figure."""
    groups = group_models(run.models)
    rows = []
    for g in groups:
        m = g.first
        rows.append(
            (
                _same(str(r.phase) for r in g.runs) or DASH,
                model_label(g),
                _same(r.engine for r in g.runs) or DASH,
                fmt_int(_same(r.hidden for r in g.runs)),
                fmt_lr(_same(r.lr for r in g.runs)),
                fmt_int(_same(r.epochs for r in g.runs)),
                fmt_int(_same(r.batch_size for r in g.runs)),
                fmt_int(_same(r.params for r in g.runs)),
                acc_cell(g.values("test_acc")),
                ("~" + fmt_pct(m.reference.accuracy, 0)) if m.reference.accuracy is not None else DASH,
                first_epoch_loss_cell(g),
                study_loss_cell(g),
            )
        )
    ref_note: tuple[str, ...] = ()
    if any(g.first.reference.accuracy is not None for g in groups):
        ref_note = (
            "Original study: accuracy as it reported it; its phase-2 settings were tuned by hand "
            "and judged on test accuracy, so its figures were not obtained under this report's "
            "protocol.",
        )
    loss_note = (
        "First-epoch loss: the sum over the first epoch's batches of each batch's mean "
        "cross-entropy (the original study's form), with (batches × mean loss per batch). "
        f"The study's sum is on SHD ({SHD_N_TRAIN:,} training samples), split here into the "
        "batches of this row's batch size; the study did not report its batch size (see "
        "the derivation below). ln 20 = 3.00 is the loss of a model that has not learned.",
    )
    provenance = tuple(f"{g.first.label}: settings from {g.first.provenance}."
                       for g in groups if g.first.provenance)
    return Table(
        title="Table 1. Model performance details",
        columns=(
            "Phase", "Model", "Engine", "Hidden / filters", "LR", "Epochs", "Batch size",
            "Parameters", "Test accuracy (this run)", "Accuracy (original study)",
            "First-epoch loss (this run)", "First-epoch loss (study)",
        ),
        rows=tuple(rows),
        align=("l", "l", "l", "r", "r", "r", "r", "r", "r", "r", "r", "r"),
        notes=_multi_seed_note(groups) + ref_note + loss_note + provenance,
    )


def first_epoch_loss_cell(g: ModelGroup) -> str:
    """``sum = batches × mean`` of the first epoch (mean ± std of the sum over seeds)."""
    sums = [r.history.train_loss_batch_sum[0] for r in g.runs if r.history.train_loss_batch_sum]
    counts = {r.history.n_batches[0] for r in g.runs if r.history.n_batches}
    if not sums or len(counts) != 1:
        return DASH
    n = counts.pop()
    mean = statistics.fmean(sums)
    if len(sums) == 1:
        return f"{mean:.1f} ({n} × {mean / n:.2f})"
    return f"{mean:.1f} ± {statistics.stdev(sums):.1f} ({n} × {mean / n:.2f})"


def study_loss_cell(g: ModelGroup) -> str:
    """The study's first-epoch loss as ``sum = batches × mean`` at this row's batch size on SHD."""
    loss, bs = g.first.reference.first_epoch_loss, _same(r.batch_size for r in g.runs)
    if loss is None:
        return DASH
    if not bs:
        return f"{loss:g}"
    n = n_batches(SHD_N_TRAIN, bs)
    return f"{loss:g} ({n} × {loss / n:.2f})"


def published_table(run: RunResults) -> Table:
    """Each row beside the test accuracy published on SHD for its architecture, with references."""
    from spikebench.report.literature import fmt_published, published_for, reference_numbers

    groups = group_models(run.models)
    per_group = [(g, published_for(g.first.model, g.first.hparams)) for g in groups]
    numbers = reference_numbers(tuple(p for _, ps in per_group for p in ps))
    name = run.record.dataset.name or "this data set"
    rows = []
    for g, entries in per_group:
        here = acc_cell(g.values("test_acc"))
        if not entries:
            rows.append((model_label(g), here, DASH, "no published SHD figure for this architecture", DASH))
        for p in entries:
            rows.append((model_label(g), here, fmt_published(p), p.network,
                         f"[{numbers[p.citation]}] {p.short}"))
    refs = tuple(f"[{k}] {c}." for c, k in numbers.items())
    sources = tuple(dict.fromkeys(
        f"{p.short}, {p.network}: " + (f"read from {p.source}." if p.accuracy is not None
                                       else f"not verified ({p.source}); {p.note}.")
        for _, ps in per_group for p in ps))
    return Table(
        title="Where each row stands: published test accuracy on SHD",
        columns=("Model", f"Test accuracy (this run, {name})", "Published on SHD",
                 "Published network", "Reference"),
        rows=tuple(rows),
        align=("l", "r", "r", "l", "l"),
        notes=refs + sources,
    )


def speed_table(run: RunResults) -> Table:
    """Table 2: accuracy and inference time per batch and per sample."""
    groups = group_models(run.models)
    rows = []
    for g in groups:
        m = g.first
        bs = _same(r.inference.batch_size for r in g.runs)
        rows.append(
            (
                model_label(g),
                acc_cell(g.values("test_acc")),
                fmt_int(bs),
                seconds_cell(g.inference_values("seconds_per_batch")),
                seconds_cell(g.inference_values("latency_seconds_per_sample")),
                fmt_seconds(m.reference.seconds_per_batch),
                seconds_cell(g.values("wall_seconds")),
            )
        )
    return Table(
        title="Table 2. Accuracy and inference time",
        columns=(
            "Model", "Test accuracy", "Inference batch size", "Time per batch",
            "Latency per sample (batch 1)", "Time per batch (original study)", "Training wall time",
        ),
        rows=tuple(rows),
        align=("l", "r", "r", "r", "r", "r", "r"),
        notes=_multi_seed_note(groups),
    )


def fmt_energy(j: float | None) -> str:
    if j is None:
        return DASH
    for scale, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")):
        if abs(j) >= scale:
            return f"{j / scale:.3g} {unit}"
    return f"{j / 1e-12:.3g} pJ"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return DASH
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def fmt_count(x: float | None) -> str:
    """An operation count per sample: separators below a million, then M (10^6) / G (10^9)."""
    if x is None:
        return DASH
    if abs(x) < 1e6:
        return f"{x:,.0f}"
    if abs(x) < 1e9:
        return f"{x / 1e6:.3g} M"
    return f"{x / 1e9:,.3g} G"


def _get(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# The efficiency rows: key path in a model's ``efficiency`` object (written by
# spikebench.training.efficiency.measure_efficiency), row label, cell format.
EFFICIENCY_ROWS: tuple[tuple[str, str, Any], ...] = (
    ("params", "Parameters", fmt_int),
    ("footprint_bytes", "Memory footprint (parameters + buffers)", fmt_bytes),
    ("connection_sparsity", "Connection sparsity (zero weights)", fmt_pct),
    ("activation_sparsity", "Activation sparsity (zero outputs)", fmt_pct),
    ("spikes_per_sample", "Spikes per sample", fmt_count),
    ("firing_rate_hz", "Mean firing rate (Hz)", lambda x: DASH if x is None else f"{x:.3g}"),
    ("synops.effective_ac", "Effective accumulates (AC) per sample", fmt_count),
    ("synops.effective_mac", "Effective multiply-accumulates (MAC) per sample", fmt_count),
    ("synops.dense", "Dense operations per sample (all inputs non-zero)", fmt_count),
    ("synops.synaptic_events", "Synaptic events per sample", fmt_count),
    ("neuron_updates.total", "Neuron state updates per sample", fmt_count),
    ("energy.cmos45nm.total_j", "Energy per sample, 45 nm CMOS (estimate)", fmt_energy),
    ("energy.loihi.total_j", "Energy per sample, Loihi (estimate)", fmt_energy),
)


def _mean_leaf(runs: list[dict[str, Any]], path: str) -> float | None:
    vals = [v for r in runs if isinstance(v := _get(r, path), (int, float)) and not isinstance(v, bool)]
    return statistics.fmean(vals) if vals else None


def efficiency_table(run: RunResults) -> Table | None:
    """Efficiency metrics, one column per model; None when no model has them.

    Rows follow :data:`EFFICIENCY_ROWS` (averaged over seeds); a row no model has is left
    out, and a number a model lacks (e.g. the Loihi estimate of a non-spiking model) is
    a dash.
    """
    groups = [g for g in group_models(run.models) if any(r.efficiency for r in g.runs)]
    if not groups:
        return None
    per_group = [[r.efficiency for r in g.runs if r.efficiency] for g in groups]
    rows = []
    for path, label, fmt in EFFICIENCY_ROWS:
        values = [_mean_leaf(effs, path) for effs in per_group]
        if any(v is not None for v in values):
            rows.append((label, *(fmt(v) for v in values)))
    return Table(
        title="Table 3. Efficiency on the test split",
        columns=("Metric", *(model_label(g) for g in groups)),
        rows=tuple(rows),
        align=("l", *("r" for _ in groups)),
        notes=(
            "Counts follow NeuroBench's definitions, per test sample; energies are estimates "
            "from the operation counts and the per-operation constants below, not measurements.",
        ),
    )


def energy_per_sample(g: ModelGroup, platform: str = "cmos45nm") -> float | None:
    return _mean_leaf([r.efficiency for r in g.runs if r.efficiency], f"energy.{platform}.total_j")


def streaming_table(run: RunResults) -> Table | None:
    """Per-bin latency of online (streaming) inference, one row per spiking model."""
    groups = [g for g in group_models(run.models) if g.first.streaming]
    if not groups:
        return None
    dt = run.record.dataset.bin.dt
    rows = []
    for g in groups:
        s = g.first.streaming
        rtf = s.real_time_factor
        if rtf is None and s.seconds_per_bin is not None and dt:
            rtf = s.seconds_per_bin / dt
        rows.append((
            model_label(g),
            fmt_pct(s.accuracy[-1]),
            fmt_seconds(s.seconds_per_bin),
            fmt_seconds(s.seconds_per_bin_p95),
            DASH if rtf is None else f"{rtf:.3g}",
            fmt_bytes(s.state_bytes_per_stream),
        ))
    return Table(
        title="Streaming inference, one stream (batch size 1)",
        columns=("Model", "Accuracy at the end", "Latency per bin (median)", "Latency per bin (95th pct.)",
                 "Real-time factor", "State kept per stream"),
        rows=tuple(rows),
        align=("l", "r", "r", "r", "r", "r"),
        notes=(
            "Accuracy at the end: each utterance decided when it ends (after its last "
            "spike), streamed one bin at a time; Table 2 decides after the whole fixed "
            "window (all time bins, silence after the word included), so the two can differ.",
            "Real-time factor = latency per bin / bin width: below 1 the network keeps up "
            "with the sound as it arrives.",
        ) + (("Seed runs: the first seed's figures.",) if any(g.n_seeds > 1 for g in groups) else ()),
    )


_CONSTANT_NAMES = {
    "cmos45nm_mac": "45 nm CMOS: fp32 multiply-accumulate (MAC)",
    "cmos45nm_ac": "45 nm CMOS: fp32 accumulate (AC)",
    "cmos45nm_neuron_update": "45 nm CMOS: one neuron state update",
    "loihi_synaptic_op": "Loihi: synaptic operation (one spike over one synapse)",
    "loihi_neuron_update_active": "Loihi: neuron update, spiking",
    "loihi_neuron_update_inactive": "Loihi: neuron update, silent",
}


def energy_constants_table(run: RunResults) -> Table | None:
    """The per-operation energies the efficiency estimates used, with their sources."""
    for m in run.models:
        consts = (m.efficiency or {}).get("constants")
        if not isinstance(consts, dict) or not consts:
            continue
        rows = []
        for name, v in consts.items():
            label = _CONSTANT_NAMES.get(name, name.replace("_", " "))
            if isinstance(v, dict):
                value, unit = v.get("value"), v.get("unit", "")
                rows.append((label, f"{fmt_number(value)} {unit}".strip(), str(v.get("source", ""))))
            else:
                rows.append((label, fmt_number(v), ""))
        return Table(
            title="Per-operation energies used for the estimates",
            columns=("Operation", "Cost", "Source"),
            rows=tuple(rows),
            align=("l", "r", "l"),
        )
    return None


def dataset_table(run: RunResults) -> Table:
    d = run.record.dataset
    bin_desc = DASH
    if d.bin.dt is not None:
        n_steps = round(d.bin.t_max / d.bin.dt) if d.bin.t_max else None
        bin_desc = (
            f"{1e3 * d.bin.dt:g} ms bins over [0, {d.bin.t_max:g}) s"
            + (f" = {n_steps} steps" if n_steps else "")
            + (f", channels pooled by {d.bin.pool}" if d.bin.pool and d.bin.pool > 1 else "")
            + (", binary" if d.bin.binary else ", spike counts" if d.bin.binary is not None else "")
        )
    speakers = ", ".join(str(s) for s in d.val_speakers) if d.val_speakers else DASH
    rows = (
        ("Data set", d.name or DASH),
        ("Training file", d.train_file or DASH),
        ("Test file", d.test_file or DASH),
        *((("Validation file", d.valid_file),) if d.valid_file else ()),
        ("Training / validation / test samples", f"{fmt_int(d.n_train)} / {fmt_int(d.n_val)} / {fmt_int(d.n_test)}"),
        ("Classes", fmt_int(d.n_classes if d.n_classes is not None else (len(d.keys) or None))),
        *((("Validation speakers (held out of training)", speakers),) if not d.valid_file else ()),
        ("Binning", bin_desc),
    )
    return Table("Data", ("Item", "Value"), rows, ("l", "l"))


def environment_table(run: RunResults) -> Table:
    rows: list[tuple[str, str]] = [
        ("spikebench", run.record.spikebench_version or DASH),
        ("git revision", run.record.git_revision or DASH),
        ("created", run.record.created or DASH),
        ("experiment", run.record.experiment or DASH),
    ]
    for k, v in run.record.environment.items():
        rows.append((str(k), fmt_number(v) if not isinstance(v, (dict, list)) else str(v)))
    return Table("Environment", ("Item", "Value"), tuple(rows), ("l", "l"))


def _trials(search: dict[str, Any]) -> list[dict[str, Any]]:
    trials = search.get("trials") or []
    return [t for t in trials if isinstance(t, dict)]


def search_table(run: RunResults) -> Table | None:
    """The best configuration of a hyperparameter search."""
    s = run.record.search
    if not s:
        return None
    best = s.get("best") if isinstance(s.get("best"), dict) else None
    if best is None:
        done = [t for t in _trials(s) if isinstance(t.get("value"), (int, float))]
        if not done:
            return None
        pick = min if str(s.get("direction", "maximize")).lower().startswith("min") else max
        best = pick(done, key=lambda t: t["value"])
    params = best.get("params") or {}
    rows = [(str(k), fmt_number(v)) for k, v in params.items()]
    value = best.get("value")
    value_cell = fmt_pct(value) if isinstance(value, (int, float)) and 0 <= value <= 1 else fmt_number(value)
    rows.insert(0, ("Best validation accuracy", value_cell))
    if best.get("number") is not None:
        rows.insert(1, ("Trial", str(best["number"])))
    return Table("Best configuration found by the search", ("Parameter", "Value"), tuple(rows), ("l", "r"))


def search_counts(run: RunResults) -> dict[str, int]:
    """Number of trials per state (COMPLETE, PRUNED, FAIL, ...)."""
    counts: dict[str, int] = {}
    for t in _trials(run.record.search or {}):
        state = str(t.get("state", "COMPLETE")).upper()
        counts[state] = counts.get(state, 0) + 1
    return counts


def best_group(run: RunResults, models: list[ModelGroup] | None = None) -> ModelGroup | None:
    """The model with the highest mean test accuracy (None when no accuracy is known)."""
    groups = [g for g in (models or group_models(run.models)) if g.values("test_acc")]
    return max(groups, key=lambda g: statistics.fmean(g.values("test_acc")), default=None)


def mean_or_none(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


__all__ = [
    "Table", "model_details_table", "speed_table", "efficiency_table", "energy_constants_table",
    "streaming_table",
    "dataset_table", "environment_table", "search_table", "search_counts", "best_group",
]
