"""The report as a list of format-neutral blocks, and the lecture that fills it.

:func:`build_document` turns a run (:class:`~spikebench.report.rundir.RunResults`) and
its rendered figures into headings, paragraphs, tables, figures and code blocks; the
Markdown and HTML writers lay out the same blocks, so both reports say the same thing.
Paragraph text may use two inline marks, ```code``` and ``**bold**``; writers translate
them. Sections whose data a run lacks (efficiency, streaming, seeds, search) are left
out, never shown empty.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import numpy as np

from spikebench.report import tables
from spikebench.report.rundir import ModelGroup, RunResults, group_models
from spikebench.report.tables import Table, fmt_pct, fmt_seconds


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""
    summary: str | None = None  # shown folded under this summary in HTML


@dataclass(frozen=True)
class FigureBlock:
    filename: str  # relative to the run directory, e.g. "figures/learning_curves.png"
    caption: str
    alt: str
    png: bytes


@dataclass(frozen=True)
class Contents:
    """A table of contents: the numbered section titles, linked to their headings."""

    titles: tuple[str, ...]


Block = Heading | Paragraph | Bullets | Code | FigureBlock | Table | Contents


# What each model family is, for a student meeting it for the first time (the models
# themselves: spikebench.models.snn / ann / cnn).
FAMILY_TEXT = {
    "snn": (
        "**Spiking neural network (SNN).** Input frames → a linear layer → leaky "
        "integrate-and-fire (LIF) neurons → a leaky-integrator (LI) readout. A LIF neuron "
        "carries two state variables from one time step to the next: a synaptic current "
        "that decays with time constant τ_syn (Norse's default 5 ms) and a membrane "
        "potential that integrates the current and leaks with τ_mem (10 ms). When the "
        "membrane crosses its threshold the neuron emits a spike (a 1) and resets; "
        "otherwise it outputs 0. The readout neurons integrate the spikes without firing, "
        "and the class score is the maximum over time of their membrane potential (as in "
        "Norse's SHD tutorial), unless a row's settings name another `readout` rule. A "
        "spike is a step function with no useful gradient, so training replaces its "
        "derivative by a smooth *surrogate* (SuperSpike) in the backward pass only."
    ),
    "ann": (
        "**Feedforward artificial neural network (ANN).** The whole binned sample, T time "
        "steps × C channels, is flattened into one vector, followed by dense layers with "
        "ReLU activations. It sees the whole utterance at once but has no notion that "
        "neighbouring inputs are neighbouring moments: time is just more input "
        "dimensions, and its first layer grows with T × C."
    ),
    "cnn": (
        "**Convolutional neural network (CNN).** A 1-D convolution over time: the input "
        "channels are the convolution's channels, and each filter (128 in the study) "
        "slides a window of a few time bins along the utterance, detecting one short "
        "spectro-temporal pattern wherever it occurs. Batch normalisation rescales each "
        "filter's output to a stable range, dropout randomly silences units during "
        "training to reduce overfitting, and the maximum over time of each filter feeds "
        "a linear classifier."
    ),
    "stdp": (
        "**Spiking network trained by STDP.** The hidden spiking layer learns without "
        "labels, by spike-timing-dependent plasticity: a synapse grows when its input "
        "spike comes shortly before the neuron's own spike and shrinks when it comes "
        "after, so neurons specialise on input patterns that recur. Only a readout on the "
        "hidden spikes is trained with the labels."
    ),
    "hybrid": (
        "**Hybrid SNN–CNN.** A convolutional front end over time and frequency extracts "
        "local patterns, and spiking layers integrate them over time, combining the "
        "CNN's pattern detectors with the SNN's event-driven memory."
    ),
}
OTHER_FAMILY_TEXT = (
    "**{family}.** A model family added by a later experiment; its definition is in its "
    "registered module (spikebench.models) and its settings are in the configuration below."
)

ENGINE_TEXT = (
    "The **Engine** column says which implementation computed each spiking row: "
    "`norse` is Norse's own `LIFCell` stepped in a Python loop over time (what the "
    "original study ran); `fused` is spikebench's fastest implementation on the machine "
    "(compiled time loops on CPU) and `torch` its pure-PyTorch scan. All three compute "
    "the same equations with the same parameters (the engine's tests check them against "
    "Norse), so the engine changes the speed, not the model; non-spiking rows have none."
)


def _pct_mean(g: ModelGroup) -> float | None:
    return tables.mean_or_none(g.values("test_acc"))


def _most_confused(run: RunResults, g: ModelGroup) -> str | None:
    mats = [r.confusion for r in g.runs if r.confusion is not None]
    if not mats or len({m.shape for m in mats}) != 1:
        return None
    cm = np.sum(mats, axis=0)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    if off.max() <= 0:
        return None
    a, b = np.unravel_index(int(np.argmax(off)), off.shape)
    keys = run.record.dataset.keys
    name = (lambda j: keys[j]) if len(keys) == cm.shape[0] else (lambda j: f"class {j}")
    share = off[a, b] / max(cm[a].sum(), 1)
    return (
        f"The most frequent confusion of {g.first.label} is true `{name(a)}` predicted as "
        f"`{name(b)}` ({int(off[a, b])} test samples, {100 * share:.0f}% of `{name(a)}`)."
    )


def is_shd(run: RunResults) -> bool:
    """Whether the run's data set is the Spiking Heidelberg Digits (``--dataset shd``)."""
    return (run.record.dataset.name or "").lower() == "shd"


def _findings(run: RunResults, groups: list[ModelGroup]) -> list[str]:
    out: list[str] = []
    if not is_shd(run):
        out.append(
            f"**This run used the {run.record.dataset.name or 'given'} data set, not SHD:** the "
            "original study's figures and the published ones in the table above are SHD figures, so they "
            "calibrate what each architecture can do, they do not validate this run's numbers."
        )
    best = tables.best_group(run, groups)
    if best is not None:
        out.append(
            f"The most accurate model in this run is **{best.first.label}** with "
            f"{fmt_pct(_pct_mean(best))} test accuracy"
            + (f" (mean over {best.n_seeds} seeds)" if best.n_seeds > 1 else "")
            + "."
        )
    refs = [g for g in groups if g.first.reference.accuracy is not None]
    if refs:
        ref_best = max(refs, key=lambda g: g.first.reference.accuracy)
        out.append(
            f"In the original study the most accurate was {ref_best.first.label} "
            f"(~{fmt_pct(ref_best.first.reference.accuracy, 0)})."
        )
        for g in refs:
            acc = _pct_mean(g)
            if acc is not None:
                diff = 100 * (acc - g.first.reference.accuracy)
                out.append(
                    f"{g.first.label}: {fmt_pct(acc)} here against ~{fmt_pct(g.first.reference.accuracy, 0)} "
                    f"reported ({diff:+.1f} points)."
                )
    timed = [(g, tables.mean_or_none(g.inference_values("seconds_per_batch"))) for g in groups]
    timed = [(g, t) for g, t in timed if t]
    if len(timed) >= 2:
        fast, slow = min(timed, key=lambda gt: gt[1]), max(timed, key=lambda gt: gt[1])
        out.append(
            f"Fastest forward pass per batch: {fast[0].first.label} ({fmt_seconds(fast[1])}); "
            f"slowest: {slow[0].first.label} ({fmt_seconds(slow[1])}, {slow[1] / fast[1]:.1f}× as long)."
        )
    return out


def _data_section(run: RunResults, figs: dict[str, FigureBlock]) -> list[Block]:
    d = run.record.dataset
    steps = ""
    if d.bin.dt and d.bin.t_max:
        steps = (
            f" Here the events are counted in bins of {1e3 * d.bin.dt:g} ms over the first "
            f"{d.bin.t_max:g} s, giving T = {round(d.bin.t_max / d.bin.dt)} time steps"
            + (f"; neighbouring channels are summed in groups of {d.bin.pool}" if d.bin.pool and d.bin.pool > 1 else "")
            + "."
        )
    blocks: list[Block] = [
        Heading(2, "The data"),
        Paragraph(
            "Each sample is one spoken word turned into spikes by a model of the inner ear: "
            "the sound is split into frequency channels (700 in SHD; channel 0 is the "
            "highest frequency) and each channel emits a spike whenever its hair cells "
            "respond. A sample is therefore a list of (time, channel) events, not a "
            "waveform. To feed the networks, the events are counted in time bins, giving "
            "a tensor laid out time-major as `[T, B, C]` (time steps, batch, channels)."
            + steps
        ),
        tables.dataset_table(run),
        Paragraph(
            "**Validation uses held-out speakers.** A slice of the training file, made of "
            "whole speakers that the models never train on, is kept aside to watch "
            "training and to choose settings; the test file is a separate recording set. "
            "Holding out whole speakers asks the harder, honest question: does the model "
            "recognise a word from a voice it has never heard?"
        )
        if not d.valid_file
        else Paragraph(
            "**Validation uses the data set's own validation file**, recorded apart from "
            "the training and test files; it is used to watch training and to choose "
            "settings, never the test file."
        ),
    ]
    if "rasters" in figs:
        blocks.append(figs["rasters"])
    return blocks


def _settings(g: ModelGroup) -> str:
    m = g.first
    parts = [f"`{k}={v}`" for k, v in m.hparams.items()]
    if m.schedule and m.schedule != "constant":
        parts.append(f"`schedule={m.schedule}`")
    return f"{m.label} ({', '.join(parts)})" if parts else m.label


def _models_section(run: RunResults, groups: list[ModelGroup]) -> list[Block]:
    families = list(dict.fromkeys(g.first.family for g in groups))
    items = []
    for fam in families:
        labels = "; ".join(_settings(g) for g in groups if g.first.family == fam)
        text = FAMILY_TEXT.get(fam, OTHER_FAMILY_TEXT.format(family=fam.upper()))
        items.append(f"{text} Rows: {labels}.")
    blocks: list[Block] = [Heading(2, "The models"), Bullets(tuple(items))]
    if any(g.first.family == "snn" or g.first.engine for g in groups):
        blocks.append(Paragraph(ENGINE_TEXT))
    d = run.record.dataset
    default_steps = [
        g for g in groups
        if g.first.family == "snn" and not {"dt", "tau_mem", "tau_syn"} & set(g.first.hparams)
    ]
    if default_steps and d.bin.dt and abs(d.bin.dt - 1e-3) > 1e-9:
        factor = d.bin.dt / 1e-3
        blocks.append(
            Paragraph(
                "**Time steps and time constants.** Like the original study, the spiking "
                "rows use Norse's default integration step of 1 ms while each step here is "
                f"one {1e3 * d.bin.dt:g} ms bin, so measured in real time every time constant "
                f"is {factor:g}× longer than its nominal value (τ_mem = 10 ms acts as "
                f"{10 * factor:g} ms of sound)."
            )
        )
    return blocks


_SCHEDULE_TEXT = {"constant": "a constant learning rate", "cosine": "a cosine-decaying learning rate",
                  "onecycle": "a one-cycle learning-rate schedule"}


def _optimiser_sentence(run: RunResults) -> str:
    """What optimises the rows of this run, said once if they agree, per row if not."""
    def recipe(m) -> str:
        opt = f"AdamW (weight decay {m.weight_decay:g})" if m.weight_decay > 0 else "Adam"
        return f"{opt} with {_SCHEDULE_TEXT.get(m.schedule, f'the {m.schedule} schedule')}"

    groups = group_models(run.models)
    recipes = {g.first.label: recipe(g.first) for g in groups}
    goal = "to minimise the cross-entropy between their class scores and the true word."
    if len(set(recipes.values())) == 1:
        return f"All models are trained with {next(iter(recipes.values()))} {goal}"
    per_row = "; ".join(f"{label}: {r}" for label, r in recipes.items())
    return f"The models are trained {goal} Optimiser per row: {per_row}."


def _training_section(run: RunResults, figs: dict[str, FigureBlock]) -> list[Block]:
    blocks: list[Block] = [
        Heading(2, "Training"),
        Paragraph(
            _optimiser_sentence(run) + " After each epoch (one pass over the training "
            "samples) the run records the mean training loss, the accuracy on the training "
            "samples and the accuracy on the held-out validation speakers."
        ),
    ]
    if "learning_curves" in figs:
        blocks += [
            figs["learning_curves"],
            Paragraph(
                "How to read the curves: a falling loss means the model fits the training "
                "data better; validation accuracy that stops rising while training accuracy "
                "keeps climbing means the model has begun to memorise the training speakers "
                "(overfitting). A star marks the epoch whose weights were evaluated on test."
            ),
        ]
    protocol = [
        Heading(3, "Protocol"),
        Paragraph(
            "The test file is the final exam: it is evaluated once, after training, and no "
            "choice (epoch, learning rate, model) may depend on it, otherwise its accuracy "
            "is an optimistic estimate. Choices are made on the validation speakers."
        ),
    ]
    if run.record.protocol:
        protocol.append(Paragraph(f"**As recorded by this run:** {run.record.protocol}"))
    if any(g.n_seeds > 1 for g in group_models(run.models)):
        protocol.append(
            Paragraph(
                "Models run with several seeds (different initial weights and data order) "
                "are shown as mean ± sample standard deviation over the seeds, so that a "
                "difference between two models can be judged against the spread that chance "
                "alone produces."
            )
        )
    return blocks + protocol


def _loss_derivation(groups: list[ModelGroup]) -> list[Block]:
    """The study's loss column decoded (marked as inference), when rows carry its figures."""
    from spikebench.report.study import loss_inference

    with_loss = [g for g in groups if g.first.reference.first_epoch_loss is not None]
    rows = [(g.first.label, g.first.reference.first_epoch_loss, g.first.reference.last_epoch_loss)
            for g in with_loss]
    if not rows:
        return []
    sizes = "; ".join(f"{g.first.label}: {g.first.batch_size}" for g in with_loss)
    return [Paragraph(
        loss_inference(rows) + f" **Batch sizes of this run**: {sizes}. The seed experiment's "
        "configuration takes the study's batch sizes from this reading where the sum identifies one "
        "(phase 1), and assume one batch size per phase where it does not (the ANN and CNN "
        "of phase 2); the first-epoch loss columns of Table 1 are then split into the same "
        "kind of batches, so they compare like with like.")]


def _results_section(run: RunResults, groups: list[ModelGroup], figs: dict[str, FigureBlock]) -> list[Block]:
    env_dev = run.record.environment.get("device")
    where = f" on this run's device ({env_dev})" if env_dev else ""
    blocks: list[Block] = [
        Heading(2, "Results"),
        tables.model_details_table(run),
        Paragraph(
            "Accuracy is the fraction of test samples whose highest class score is the true "
            "word. 'Parameters' counts trainable weights and biases. The original study's "
            "figures are the ones it reported (rounded, hence the ~); they come from other "
            "hardware and software versions, so a difference of a few points is within "
            "what a different random seed alone can cause."
        ),
        *_loss_derivation(groups),
        tables.published_table(run),
        Paragraph(
            "Published figures come from other recipes (recurrence, more layers, longer "
            "training, augmentation) and from SHD itself; a row's gap to its published "
            "figure says how far this set-up is from what its architecture can reach, not "
            "that the code is wrong. A figure marked \"not verified\" could not be checked "
            "against the paper when this table was written."
        ),
        tables.speed_table(run),
        Paragraph(
            f"Inference time is the mean wall-clock time of one forward pass{where} over a "
            "batch of the stated size, with warm-up batches excluded; latency per sample is "
            "the same with a batch of one, the figure that matters when a device answers "
            "one utterance at a time. The original study's times were measured on its own "
            "machine and batch size: compare how models rank against each other, not the "
            "absolute seconds."
        ),
    ]
    findings = _findings(run, groups)
    if findings:
        blocks += [Heading(3, "What this run found"), Bullets(tuple(findings))]
    if "accuracy_vs_time" in figs:
        blocks.append(figs["accuracy_vs_time"])
    if "confusion" in figs:
        best = tables.best_group(run, groups)
        confused = _most_confused(run, best) if best else None
        blocks += [
            figs["confusion"],
            Paragraph(
                "A confusion matrix counts, for each true word (row), which word the model "
                "predicted (column); rows are normalised to percentages, so a perfect model "
                "is a dark diagonal. Off-diagonal cells show which words sound alike to the "
                "model." + (f" {confused}" if confused else "")
            ),
        ]
    return blocks


def _efficiency_section(run: RunResults) -> list[Block]:
    table = tables.efficiency_table(run)
    if table is None:
        return []
    blocks: list[Block] = [
        Heading(2, "Efficiency and energy"),
        Paragraph(
            "Energy is the claim made for spiking networks: a neuron that does not spike "
            "triggers no work downstream, and a spike (a 1) only *adds* a weight "
            "(an accumulate, AC) instead of multiplying it (a multiply-accumulate, MAC). "
            "The counts below, following NeuroBench's definitions, measure how much of "
            "that potential each trained model actually has: activation sparsity is the "
            "fraction of zero outputs of the spiking layers, effective synaptic operations "
            "count only the weights that non-zero inputs touch, and dense operations are "
            "what the same layers cost with every input non-zero (M = million, "
            "G = billion operations). The energy figures "
            "multiply those counts by per-operation energies measured on real chips; they "
            "are estimates for that hardware, not measurements of this computer."
        ),
        table,
    ]
    energies = [(g, e) for g in group_models(run.models) if (e := tables.energy_per_sample(g))]
    if len(energies) >= 2:
        low, high = min(energies, key=lambda ge: ge[1]), max(energies, key=lambda ge: ge[1])
        blocks.append(
            Paragraph(
                f"On the 45 nm CMOS estimate, {low[0].first.label} needs the least energy per "
                f"test sample ({tables.fmt_energy(low[1])}) and {high[0].first.label} the most "
                f"({tables.fmt_energy(high[1])}, {high[1] / low[1]:.3g}× as much). Where the Loihi "
                "column has a figure, it prices the same work as spikes delivered on a "
                "neuromorphic chip; it is empty for models that do not pass spike counts."
            )
        )
    consts = tables.energy_constants_table(run)
    if consts is not None:
        blocks.append(consts)
    return blocks


def _streaming_section(run: RunResults, figs: dict[str, FigureBlock]) -> list[Block]:
    if "streaming" not in figs:
        return []
    table = tables.streaming_table(run)
    return [
        Heading(2, "Streaming inference"),
        Paragraph(
            "A spiking network keeps its state from one time step to the next, so it can "
            "classify online: it reads one time bin, updates its neurons, and can answer at "
            "any moment with constant memory. The curve shows the test accuracy when the "
            "decision is taken after hearing only the first part of each utterance, and the "
            "legend the mean computing time per time bin; while that latency stays below "
            "the bin width, the network keeps up with the sound in real time."
        ),
        figs["streaming"],
        *([table] if table is not None else []),
    ]


_PRUNER_TEXT = {
    "median": "a median pruner stops a trial whose accuracy falls below the median of "
    "earlier trials at the same epoch. ",
    "hyperband": "a Hyperband pruner stops the weaker trials at growing epoch budgets, so "
    "most of the time goes to the promising ones. ",
}


def _search_section(run: RunResults, figs: dict[str, FigureBlock]) -> list[Block]:
    s = run.record.search
    if not s:
        return []
    counts = tables.search_counts(run)
    summary = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
    study = f" (study `{s['study']}`)" if s.get("study") else ""
    blocks: list[Block] = [
        Heading(2, "Hyperparameter search"),
        Paragraph(
            f"The settings were searched with Optuna{study}: a TPE sampler proposes a "
            "configuration from the results of earlier trials, each trial trains a model and "
            "reports its validation accuracy after every epoch, and "
            + _PRUNER_TEXT.get(str(s.get("pruner")), "a pruner may stop trials that fall behind. ")
            + "The objective is "
            + (str(s["objective"]) if s.get("objective") else "validation accuracy")
            + "; the test file is never read during the search, only once by the retrained "
            "best configuration (the models above)."
            + (f" Trials: {summary}." if summary else "")
            + (f" Model searched: `{s['model']}`." if s.get("model") else "")
        ),
    ]
    if "search" in figs:
        blocks.append(figs["search"])
    best = tables.search_table(run)
    if best is not None:
        blocks.append(best)
    cfg = s.get("best_config")
    if isinstance(cfg, str) and cfg.strip():
        if "\n" in cfg:
            blocks.append(Code(cfg.strip("\n"), "toml", summary="Best configuration as a config file"))
        else:
            blocks.append(Paragraph(f"Best configuration written to `{cfg}`."))
    return blocks


def _caveats(run: RunResults, groups: list[ModelGroup]) -> list[Block]:
    items = [
        "Test accuracy comes from one evaluation of the test file per model; a different "
        "seed moves it by about a point or more on data sets of this size.",
        "Times depend on the machine (see Environment), the thread count and the batch size; "
        "they are comparable between rows of this report only.",
        "Validation speakers are held out of training; the test file holds other "
        "recordings, so validation and test accuracy measure different things."
        if not run.record.dataset.valid_file
        else "Validation comes from the data set's own validation file; the test file holds "
        "other recordings, so validation and test accuracy measure different things.",
    ]
    engines = {g.first.engine for g in groups if g.first.engine}
    if engines and engines != {"norse"}:
        items.append(
            "Spiking rows did not all run on Norse's reference loop (see the Engine column): "
            "the engine computes Norse's equations, so it changes their speed (that of "
            "spikebench's engine), not what they learn."
        )
    if not is_shd(run):
        items.insert(
            0,
            f"The data set is {run.record.dataset.name or 'not SHD'}, not SHD: the original "
            "study's and the published figures were measured on SHD, so no row here is "
            "comparable with them number for number.",
        )
    if any(g.n_seeds == 1 for g in groups):
        items.append("Rows without ± come from a single seed: their spread is unknown.")
    overrides = _overrides(run.record.command)
    if overrides and any(g.first.reference.accuracy is not None for g in groups):
        items.insert(
            0,
            f"This run changed the experiment's settings on the command line ({overrides}); the "
            "original study's figures belong to its own settings, so the comparison is "
            "indicative only.",
        )
    return [Heading(2, "Caveats"), Bullets(tuple(items))]


def _overrides(command: str | None) -> str:
    """The setting-changing options of a ``spikebench run`` command line, as code spans."""
    if not command:
        return ""
    try:
        argv = shlex.split(command)
    except ValueError:
        return ""
    found = []
    for i, arg in enumerate(argv):
        for opt in ("--epochs", "--set", "--seed"):
            if arg == opt and i + 1 < len(argv):
                found.append(f"`{opt} {argv[i + 1]}`")
            elif arg.startswith(opt + "="):
                found.append(f"`{arg}`")
    return ", ".join(found)


def _reproduce(run: RunResults) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Reproduce this run")]
    if run.record.command:
        blocks += [Paragraph("The exact command that produced this run:"), Code(run.record.command, "sh")]
    blocks.append(
        Paragraph(f"Rebuild this report from the run directory alone: `spikebench report {run.path}`.")
    )
    blocks.append(tables.environment_table(run))
    if run.config_text:
        blocks.append(Code(run.config_text.rstrip("\n"), "toml", summary="Resolved experiment (config.toml)"))
    return blocks


def _ablation_section(run: RunResults, abl: RunResults | None, figs: dict[str, FigureBlock]) -> list[Block]:
    """"What limits the study's SNN": the seed ablation, this run's or a linked one."""
    from spikebench.report import ablation as ab

    if abl is None:
        return []
    linked = abl.path.resolve() != run.path.resolve()
    blocks: list[Block] = [
        Heading(2, "What limits the study's SNN"),
        Paragraph(
            "The study's own reflection was the value of surrogate gradients and of training "
            "dynamics in SNNs. This section tests it: starting from the phase-1 SNN (one "
            "hidden layer of 128 LIF neurons, Adam, the study's learning rate and epochs), "
            "each row changes one thing: the surrogate gradient's width and shape, a "
            "normalisation of the input current, the integration step and time constants, the "
            "rule that turns the readout membrane into class scores, the initialisation, the "
            "number of updates. Rows are judged on validation speakers only; the test file "
            "is evaluated once per seed after training and never used to choose. A diagnosis "
            "to test, not to take on faith: with PyTorch's default initialisation and no input "
            "normalisation many hidden neurons never reach threshold at initialisation, so "
            "they pass no signal and, under a surrogate gradient, learn slowly; the right-hand "
            "panel shows whether each change wakes them up."
        ),
    ]
    if linked:
        blocks.append(Paragraph(
            f"From the `{ab.EXPERIMENT}` run in `{abl.path}` (its own report: "
            f"`{abl.path / 'report.html'}`; command: `{abl.record.command}`), on the "
            f"{abl.record.dataset.name} data set."))
    if "ablation" in figs:
        blocks.append(figs["ablation"])
    blocks.append(ab.ablation_table(abl))
    best = ab.best_settings(abl)
    if best is not None:
        if best["chosen"]:
            chosen = "; ".join(f"{f.lower()}: {st} ({100 * m:.1f}% validation)"
                               for f, st, m in best["chosen"])
            text = (f"Against the baseline's {100 * best['baseline_val']:.1f}% validation "
                    "accuracy, the best change of each factor that beat it by more than one "
                    f"seed standard deviation: {chosen}. ")
        else:
            text = "No single change beat the baseline on validation by more than the seed spread. "
        text += (
            f"Their combination is written to `{ab.BEST_FILE}` in the ablation's run "
            "directory as a row for the seed experiment, \"SNN, the study's architecture "
            "with the ablation's best settings\"; whether the one-at-a-time gains add up is "
            "for that row to show. The phase-1 and phase-2 rows keep the study's settings."
        )
        blocks.append(Paragraph(text))
    return blocks


def build_document(run: RunResults, figs: dict[str, FigureBlock],
                   ablation: RunResults | None = None) -> list[Block]:
    """The whole report as blocks; ``figs`` maps figure ids to rendered figures;
    ``ablation`` is the seed ablation run whose section the report shows (may be ``run``)."""
    groups = group_models(run.models)
    experiment = run.record.experiment or "experiment"
    dataset = run.record.dataset.name or "data"
    accs = [tables.mean_or_none(g.values("test_acc")) for g in groups]
    summary = "; ".join(
        f"{g.first.label}: **{fmt_pct(a)}**" if a is not None else g.first.label
        for g, a in zip(groups, accs, strict=True)
    )
    created = f" Run created {run.record.created}." if run.record.created else ""
    blocks: list[Block] = [
        Heading(1, f"spikebench report: {experiment} on {dataset}"),
        Paragraph(
            f"Test accuracy of {'the model' if len(groups) == 1 else f'the {len(groups)} models'} "
            f"of this run: {summary}.{created}"
        ),
        Heading(2, "The question"),
        Paragraph(
            "Can a spiking neural network, which computes with binary events in time the way "
            "neurons do, recognise spoken words as well and as fast as conventional "
            "networks? A course study answered it on the Spiking Heidelberg Digits with "
            "PyTorch and Norse: a spiking network reached about 82%, a feedforward network "
            "about 74% and a convolutional network about 88%, and the spiking network took "
            "almost three times as long per batch as the convolutional one (0.9 s against "
            "0.32 s). This report repeats that comparison from one command and "
            "shows this run's figures beside the original ones, with everything needed to "
            "judge them."
        ),
    ]
    blocks += _data_section(run, figs)
    blocks += _models_section(run, groups)
    blocks += _training_section(run, figs)
    blocks += _results_section(run, groups, figs)
    blocks += _ablation_section(run, ablation, figs)
    blocks += _efficiency_section(run)
    blocks += _streaming_section(run, figs)
    blocks += _search_section(run, figs)
    blocks += _caveats(run, groups)
    blocks += _reproduce(run)
    return _numbered(blocks)


def _numbered(blocks: list[Block]) -> list[Block]:
    """Number the sections (level-2 headings) in order: 1. The question, 2. The data, ..."""
    out: list[Block] = []
    n = 0
    for b in blocks:
        if isinstance(b, Heading) and b.level == 2:
            n += 1
            b = Heading(2, f"{n}. {b.text}")
        out.append(b)
    titles = tuple(b.text for b in out if isinstance(b, Heading) and b.level == 2)
    first = next(i for i, b in enumerate(out) if isinstance(b, Heading) and b.level == 2)
    return out[:first] + [Contents(titles)] + out[first:]

