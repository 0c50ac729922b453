"""Run an experiment end to end: data -> each model fitted, selected, assessed -> run directory.

The run directory holds ``config.toml`` (the resolved experiment), ``results.json`` (the
run record, :mod:`spikebench.record`, rewritten atomically after every model),
``samples.npz`` (events of a few training inputs, for the rasters),
``checkpoints/<model>.pt`` (after every epoch; the selected weights at the end) and,
built afterwards, the report.

Per model three steps, each returning a typed value: :func:`fit` (seed, build from the
registry, measure silent neurons at initialisation, Adam or AdamW, train on the training
split with validation after each epoch), :func:`select` (the last epoch, or the best validation epoch) and :func:`assess` (the
test split once, with the selected weights: accuracy, confusion, inference time,
efficiency, streaming for streamable models). The epoch loop never touches the test
split, so it cannot steer selection. A model with ``n_seeds > 1`` runs once per seed,
named ``NAME``, ``NAME.seedS``, ... with ``group = NAME``. ``resume=True`` continues an
interrupted run bit-identically (model, optimiser and every RNG state are checkpointed).
Progress goes to a :class:`Progress`; this module never prints.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from spikebench import __version__
from spikebench.errors import ConfigError, DataError
from spikebench.experiments.config import ExperimentConfig, ModelSpec, load_experiment
from spikebench.experiments.datasets import PreparedData, prepare_data, resolve_dataset, sample_events
from spikebench.experiments.environment import collect_environment, git_revision, resolve_device
from spikebench.fileio import remove_stale_parts, write_text_atomic
from spikebench.models import create_model, model_info
from spikebench.training import distributed
from spikebench.training.augment import augment_batches, parse_augment
from spikebench.training.checkpoint import load_checkpoint, save_checkpoint
from spikebench.training.diagnostics import spike_diagnostics
from spikebench.training.efficiency import measure_efficiency
from spikebench.progress import Progress
from spikebench.record import (SAMPLES, Binning, DatasetRecord, History, Inference,
                               ModelRecord, Reference, RunRecord, Streaming, load_run,
                               results_path, save_run, save_samples)
from spikebench.training.loop import LR_SCHEDULES, EvalResult, evaluate, set_lr, train_one_epoch
from spikebench.training.metrics import count_params, time_inference
from spikebench.training.seeding import get_rng_state, make_generator, seed_everything, set_rng_state
from spikebench.training.streaming import evaluate_streaming

log = logging.getLogger(__name__)


def model_build_args(spec: ModelSpec, data: PreparedData) -> dict[str, Any]:
    """Keyword arguments of ``create_model`` for ``spec`` on ``data`` (kept in checkpoints)."""
    hparams = {"hidden": spec.hidden, **spec.hparams}
    if spec.engine is not None:
        hparams["engine"] = spec.engine
    return {"name": spec.model, "n_in": data.n_channels, "n_classes": data.n_classes,
            "n_steps": data.n_steps, **hparams}


def check_models(cfg: ExperimentConfig, data: PreparedData) -> None:
    """Build every selected model once (on the CPU, then dropped), so that an option
    its builder refuses (an engine a model lacks, a bad hparams value) stops the run before
    its folder is made rather than after the models before it have trained."""
    for spec in cfg.selected_models():
        try:
            _build_model(model_build_args(spec, data), torch.device("cpu"))
        except (ValueError, TypeError, ConfigError) as err:
            raise ConfigError(f"models.{spec.name}: {err}") from None


def _build_model(build: dict[str, Any], device: torch.device) -> torch.nn.Module:
    build = dict(build)
    return create_model(build.pop("name"), **build).to(device)


@dataclass
class Fit:
    """What :func:`fit` leaves: the model with its last epoch's weights, the history,
    the best validation epoch so far (``best_val`` selection only) and the seconds spent."""

    model: torch.nn.Module
    history: History
    best: dict[str, Any] | None
    wall_seconds: float
    at_init: dict[str, float | None]  # spike diagnostics on the validation split before training


@dataclass(frozen=True)
class Selection:
    """The epoch whose weights are kept: ``on`` is ``"val"`` (best validation accuracy,
    earliest on ties) or ``"final"`` (after the last epoch)."""

    epoch: int
    on: str
    val_acc: float | None


@dataclass(frozen=True)
class Assessment:
    """The selected model on the test split: accuracy, confusion, timing, efficiency,
    streaming (``None`` for models that are not chains of spiking layers)."""

    test_acc: float
    test_confusion: tuple[tuple[int, ...], ...]
    inference: Inference
    efficiency: dict[str, Any]
    streaming: Streaming | None
    seconds: float  # test pass and timing, as part of the model's wall time


def _optimizer(spec: ModelSpec, model: torch.nn.Module) -> torch.optim.Optimizer:
    if spec.weight_decay > 0:
        return torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=spec.lr)


def fit(
    spec: ModelSpec,
    cfg: ExperimentConfig,
    data: PreparedData,
    *,
    device: torch.device,
    checkpoint: Path,  # written after every epoch
    resume: bool = False,  # continue from checkpoint when it exists
    progress: Progress | None = None,
    index: int = 0,  # this model's place among the run's ``total`` (for progress)
    total: int = 1,
) -> Fit:
    """Seed, build and train ``spec`` for its epochs on the training split, validating
    after every epoch and checkpointing atomically; resume from ``checkpoint`` if asked."""
    progress = progress or Progress()
    seed = cfg.model_seed(spec)
    seed_everything(seed)
    build = model_build_args(spec, data)
    model = _build_model(build, device)
    at_init = probe_init(model, data, spec.batch_size, device)
    optimizer = _optimizer(spec, model)
    augment = parse_augment(spec.augment, f"models.{spec.name}.augment")
    best: dict[str, Any] | None = None
    generator = make_generator(seed)
    schedule = LR_SCHEDULES[spec.schedule]
    spec_dict = dataclasses.asdict(spec)
    history = History()
    start_epoch, wall = 0, 0.0
    if resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint)
        if state["config"] != spec_dict or state.get("seed") != seed or state.get("build") != build:
            raise ConfigError(f"{checkpoint}: was written for a different set-up of model "
                              f"{spec.name!r}; resume with the run's own config.toml")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = History(**{k: tuple(v) for k, v in state["history"].items()})
        start_epoch, wall = state["epoch"], state.get("wall_seconds", 0.0)
        best = state.get("best")
        set_rng_state(state["rng"], generator)
        log.info("%s: resuming after epoch %d of %d", spec.name, start_epoch, spec.epochs)
    progress.model_start(spec, index, total,
                         batches_per_epoch=-(-len(data.train) // spec.batch_size),
                         start_epoch=start_epoch)
    net = distributed.wrap(model)  # DistributedDataParallel under torchrun
    for epoch in range(start_epoch, spec.epochs):
        t0 = time.perf_counter()
        model.on_epoch_start(epoch, spec.epochs)
        set_lr(optimizer, schedule(epoch, base_lr=spec.lr, epochs=spec.epochs))
        batches = augment_batches(data.train.batches(spec.batch_size, shuffle=True,
                                                     generator=generator, device=device),
                                  augment, n_classes=data.n_classes)
        stats = distributed.gather_epoch(train_one_epoch(
            net, distributed.shard(batches, train=True), optimizer, device=device,
            on_batch=progress.batch))
        seconds = time.perf_counter() - t0
        val = _evaluate(model, data.val, data.n_classes, spec.batch_size, device)
        history = history.append(train_loss=stats.loss, train_acc=stats.accuracy,
                                 val_acc=val.accuracy, epoch_seconds=seconds,
                                 train_loss_batch_sum=stats.loss_batch_sum,
                                 n_batches=stats.n_batches)
        wall += time.perf_counter() - t0
        if spec.selection == "best_val" and (best is None or val.accuracy > best["val_acc"]):
            best = {"epoch": epoch + 1, "val_acc": val.accuracy,
                    "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        save_checkpoint(checkpoint, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": get_rng_state(generator), "config": spec_dict, "seed": seed, "build": build,
            "epoch": epoch + 1, "history": _plain(history), "wall_seconds": wall,
            "spikebench_version": __version__, "best": best,
        })
        progress.epoch_end(spec, epoch + 1, history.last())
    return Fit(model, history, best, wall, at_init)


def probe_init(model: torch.nn.Module, data: PreparedData, batch_size: int,
               device: torch.device) -> dict[str, float | None]:
    """Complete a data-dependent initialisation, then measure silent neurons at init.

    A model with ``data_init(x)`` (the SNN's fluctuation-driven init) gets the first
    training batch in file order (no shuffle, so the data-order generator is untouched);
    :func:`~spikebench.training.diagnostics.spike_diagnostics` then runs on the
    validation split in training mode (batch norm on batch statistics), restoring every
    buffer and RNG state, so the probe does not change training.
    """
    if hasattr(model, "data_init"):
        x, _ = next(iter(data.train.batches(batch_size, device=device)))
        model.data_init(x)
    return spike_diagnostics(model, data.val.batches(batch_size, device=device), train_mode=True,
                             device=device)


def _plain(history: History) -> dict[str, list[float]]:
    return {k: list(v) for k, v in dataclasses.asdict(history).items()}


def _evaluate(model: torch.nn.Module, split: Any, n_classes: int, batch_size: int,
              device: torch.device) -> EvalResult:
    return distributed.gather_eval(evaluate(
        model, distributed.shard(split.batches(batch_size, device=device)), n_classes,
        device=device))


def select(result: Fit, spec: ModelSpec, checkpoint: Path) -> Selection:
    """Load the weights ``spec.selection`` keeps into ``result.model``; the checkpoint
    then holds them too (``checkpoints/<name>.pt`` is the selected model)."""
    epoch = spec.epochs
    if result.best is not None:
        epoch = result.best["epoch"]
        result.model.load_state_dict(result.best["model"])
        state = load_checkpoint(checkpoint)
        state.update(model=result.best["model"], selected_epoch=epoch)
        save_checkpoint(checkpoint, state)
    val = result.history.val_acc
    return Selection(epoch=epoch, on="val" if spec.selection == "best_val" else "final",
                     val_acc=val[epoch - 1] if val else None)


def assess(model: torch.nn.Module, cfg: ExperimentConfig, data: PreparedData, *,
           batch_size: int, device: torch.device, streaming: bool) -> Assessment:
    """Evaluate the test split once, time inference, measure efficiency and, for a
    streamable model, streaming accuracy (at most ``inference.max_batches`` batches each)."""
    t0 = time.perf_counter()
    test = _evaluate(model, data.test, data.n_classes, batch_size, device)
    inf = cfg.inference
    timing = time_inference(model, data.test, batch_size=inf.batch_size,
                            warmup_batches=inf.warmup_batches,
                            max_batches=inf.max_batches or None,
                            latency_samples=inf.latency_samples, device=device)
    seconds = time.perf_counter() - t0
    cap = inf.max_batches or None  # the inference cap bounds these passes too
    efficiency = measure_efficiency(model, data.test.batches(inf.batch_size, device=device),
                                    bin_dt=cfg.data.dt, max_batches=cap)
    stream = None
    if streaming:
        stream = evaluate_streaming(model, data.test.batches(inf.batch_size, device=device),
                                    bin_dt=cfg.data.dt, max_batches=cap)
    return Assessment(
        test_acc=test.accuracy,
        test_confusion=tuple(tuple(int(c) for c in row) for row in test.confusion.tolist()),
        inference=Inference(**timing.to_dict()), efficiency=efficiency,
        streaming=None if stream is None else Streaming(**{
            k: tuple(v) if isinstance(v, list) else v for k, v in stream.items()}),
        seconds=seconds)


def train_model(spec: ModelSpec, cfg: ExperimentConfig, data: PreparedData, *,
                group: str | None = None, **how: Any) -> ModelRecord:
    """Fit, select and assess one model; return its record.

    ``how``: :func:`fit`'s keyword arguments (``device`` and ``checkpoint`` required);
    ``group``: the experiment's model name when ``spec`` is one seed of it (:func:`seed_runs`).
    """
    how["progress"] = how.get("progress") or Progress()
    result = fit(spec, cfg, data, **how)
    chosen = select(result, spec, how["checkpoint"])
    final = spike_diagnostics(result.model, data.val.batches(spec.batch_size, device=how["device"]),
                              device=how["device"])
    test = assess(result.model, cfg, data, batch_size=spec.batch_size, device=how["device"],
                  streaming=model_info(spec.model).streamable)
    record = ModelRecord(
        name=spec.name, group=group or spec.name, label=spec.label or group or spec.name,
        family=model_info(spec.model).family, model=spec.model, phase=spec.phase, engine=spec.engine,
        hidden=spec.hidden, hparams=dict(spec.hparams), lr=spec.lr, schedule=spec.schedule,
        epochs=spec.epochs, batch_size=spec.batch_size, seed=cfg.model_seed(spec),
        params=count_params(result.model), history=result.history,
        weight_decay=spec.weight_decay, augment=dict(spec.augment), selection=spec.selection,
        selected_on=chosen.on, n_seeds=spec.n_seeds, selected_epoch=chosen.epoch,
        val_acc_selected=chosen.val_acc, test_acc=test.test_acc,
        test_confusion=test.test_confusion, inference=test.inference,
        wall_seconds=result.wall_seconds + test.seconds, reference=spec.reference or Reference(),
        efficiency=test.efficiency, streaming=test.streaming,
        diagnostics=None if final["silent_fraction"] is None else {
            **{f"{k}_init": v for k, v in result.at_init.items()},
            **{f"{k}_final": v for k, v in final.items()}},
        provenance=spec.provenance,
    )
    how["progress"].model_end(spec, record)
    return record


@dataclass(frozen=True)
class Trained:
    """A trained model of a run, in eval mode on the CPU, with its record and the run's."""

    model: torch.nn.Module
    record: ModelRecord
    run: RunRecord


def load_trained(run_dir: str | Path, name: str) -> Trained:
    """Rebuild model ``name`` of ``run_dir`` from its checkpoint (the selected weights)."""
    run = load_run(run_dir)
    try:
        record = run.model(name)
    except KeyError:
        names = ", ".join(m.name for m in run.models) or "(none)"
        raise ConfigError(f"{run_dir}: no model {name!r}; models in this run: {names}") from None
    path = Path(run_dir) / "checkpoints" / f"{name}.pt"
    if not path.is_file():
        raise DataError(f"{path}: missing; model {name!r} of {run_dir} has no checkpoint")
    state = load_checkpoint(path)
    if "name" not in (state.get("build") or {}):
        raise DataError(f"{path}: lacks the model's build arguments ('build')")
    model = _build_model(state["build"], torch.device("cpu"))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise DataError(f"{path}: weights do not fit the model ({err})") from err
    return Trained(model.eval(), record, run)


def seed_runs(spec: ModelSpec, cfg: ExperimentConfig) -> list[ModelSpec]:
    """One spec per seed of ``spec`` (``n_seeds``), named as in the module docstring."""
    base = cfg.model_seed(spec)
    return [dataclasses.replace(spec, seed=base + k,
                                name=spec.name if k == 0 else f"{spec.name}.seed{base + k}")
            for k in range(spec.n_seeds)]


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The resolved experiment a run directory was made with."""
    path = Path(run_dir) / "config.toml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.toml)")
    return load_experiment(str(path))


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    root: str | Path | None = None,
    device: str = "auto",
    resume: bool = False,
    command: str = "",
    progress: Progress | None = None,
) -> Path:
    """Run ``cfg`` on ``cfg.dataset`` into ``out_dir``; return the path of ``results.json``."""
    progress = progress or Progress()
    out = Path(out_dir)
    if resume:
        stored = load_run_config(out)
        if stored.to_dict() != cfg.to_dict():
            raise ConfigError(f"{out}/config.toml differs from the requested experiment; "
                              "resume without --experiment/--set/--epochs to use the stored one")
    elif (out / "config.toml").exists() or results_path(out).exists():
        raise ConfigError(f"{out}: already holds a run; use --resume to continue it or choose "
                          "another --out")
    previous = load_run(out) if resume and results_path(out).exists() else None  # before work
    dev = resolve_device(device)

    progress.stage(f"preparing data set {cfg.dataset}")
    files = resolve_dataset(cfg.dataset, root, progress=progress.data)
    from spikebench.data.paths import cache_root

    data = prepare_data(files, cfg.data, seed=cfg.seed, cache_dir=cache_root(root))
    check_models(cfg, data)
    out.mkdir(parents=True, exist_ok=True)
    if resume:  # temporaries of writes a kill interrupted
        for folder in (out, out / "checkpoints"):
            for stale in remove_stale_parts(folder):
                log.info("removed %s, left by an interrupted write", stale)
    if not resume:
        write_text_atomic(out / "config.toml", cfg.to_toml())
    if not (out / SAMPLES).exists():
        save_samples(out, sample_events(files.train, cfg.n_samples))

    done = {m.name: m for m in previous.models} if previous else {}
    record = RunRecord(
        spikebench_version=__version__,
        experiment=cfg.name,
        command=previous.command if previous else command,
        created=previous.created if previous else
        _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        git_revision=git_revision(),
        environment=collect_environment(dev),
        protocol=cfg.protocol,
        dataset=DatasetRecord(
            name=files.name, train_file=str(files.train), test_file=str(files.test),
            valid_file=str(files.valid) if files.valid else None,
            n_train=len(data.train), n_val=len(data.val), n_test=len(data.test),
            n_classes=data.n_classes, keys=tuple(data.keys),
            val_speakers=tuple(int(s) for s in data.val_speakers),
            bin=Binning(dt=cfg.data.dt, t_max=cfg.data.t_max, pool=cfg.data.pool,
                        binary=cfg.data.binary)),
        resumed=(*previous.resumed, command) if previous else (),
    )
    path = save_run(out, record)  # provenance first; models are added as they finish
    specs = [(run, spec.name) for spec in cfg.selected_models() for run in seed_runs(spec, cfg)]
    for i, (spec, group) in enumerate(specs):
        if spec.name in done:
            entry = done[spec.name]
        else:
            entry = train_model(spec, cfg, data, device=dev,
                                checkpoint=out / "checkpoints" / f"{spec.name}.pt",
                                resume=resume, progress=progress, index=i, total=len(specs),
                                group=group)
        record = dataclasses.replace(record, models=(*record.models, entry))
        save_run(out, record)
    return path
