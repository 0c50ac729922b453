"""Run an experiment end to end: data -> each model trained, tested, timed -> run directory.

The run directory (``RUN_DIR``) holds ``config.toml`` (the resolved experiment),
``results.json`` (rewritten atomically after every model), ``samples.npz`` (events of a
few test inputs), ``checkpoints/<model>.pt`` (written atomically after every epoch) and,
built afterwards by :mod:`spikebench.report`, the report.

Per model: seed everything with the model's seed, build it from the registry, train with
Adam (AdamW with ``weight_decay``) for its epochs on (optionally augmented) training
batches, recording validation accuracy per epoch; select the weights (``selection``:
after the last epoch, or at the best validation epoch); only then evaluate the test split,
once, with the selected weights, and time inference; then measure its efficiency
(:func:`~spikebench.training.efficiency.measure_efficiency`, every model) and streaming
accuracy/latency (:func:`~spikebench.training.streaming.evaluate_streaming`, spiking chains
only, else ``null``) on the test split, at most ``inference.max_batches`` batches each. The epoch loop never touches the
test split, so it cannot steer selection. A model with ``n_seeds > 1`` is trained and
tested once per seed, seeds ``seed .. seed + n_seeds - 1``: one results.json entry per
seed, named ``NAME`` for the first and ``NAME.seedS`` for the others (checkpoints
likewise), all with ``group = NAME`` (the report gives their mean and std). Every entry
records ``selection``, ``selected_on`` (``"val"`` or ``"final"``), ``selected_epoch`` and
the validation accuracy there, ``val_acc_selected``. Models with an
``on_epoch_start(epoch, epochs)`` method (delay widths, STDP phases) are told each epoch
before it starts. ``resume=True`` continues an interrupted run:
finished models are kept, the interrupted one restarts after its last checkpointed epoch
with model, optimiser and every RNG state (including the data-order generator) restored,
so its results equal those of an uninterrupted run. Progress goes to a
:class:`RunProgress` (the CLI draws bars); this module never prints.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikebench import __version__
from spikebench.errors import ConfigError
from spikebench.experiments.config import ExperimentConfig, ModelSpec, config_from_dict
from spikebench.experiments.datasets import PreparedData, prepare_data, resolve_dataset, sample_events
from spikebench.experiments.environment import collect_environment, git_revision, resolve_device
from spikebench.fileio import atomic_path, write_json_atomic, write_text_atomic
from spikebench.models import create_model
from spikebench.training import distributed
from spikebench.training.augment import augment_batches, parse_augment
from spikebench.training.checkpoint import load_checkpoint, save_checkpoint
from spikebench.training.efficiency import measure_efficiency
from spikebench.training.loop import LR_SCHEDULES, evaluate, set_lr, train_one_epoch
from spikebench.training.metrics import count_params, time_inference
from spikebench.training.seeding import get_rng_state, make_generator, seed_everything, set_rng_state
from spikebench.training.streaming import evaluate_streaming

log = logging.getLogger(__name__)


class RunProgress:
    """Hooks the runner calls as it goes; the default does nothing."""

    def stage(self, text: str) -> None: ...

    def model_start(self, spec: ModelSpec, index: int, total: int, *, batches_per_epoch: int,
                    start_epoch: int) -> None: ...

    def batch(self) -> None: ...

    def epoch_end(self, spec: ModelSpec, epoch: int, record: dict[str, float]) -> None: ...

    def model_end(self, spec: ModelSpec, entry: dict[str, Any]) -> None: ...


def model_build_args(spec: ModelSpec, data: PreparedData) -> dict[str, Any]:
    """Keyword arguments of ``create_model`` for ``spec`` on ``data`` (kept in checkpoints)."""
    hparams = {"hidden": spec.hidden, **spec.hparams}
    if spec.engine is not None:
        hparams["engine"] = spec.engine
    return {"name": spec.model, "n_in": data.n_channels, "n_classes": data.n_classes,
            "n_steps": data.n_steps, **hparams}


def _build_model(build: dict[str, Any], device: torch.device) -> torch.nn.Module:
    build = dict(build)
    return create_model(build.pop("name"), **build).to(device)


def train_model(
    spec: ModelSpec,
    cfg: ExperimentConfig,
    data: PreparedData,
    *,
    device: torch.device,
    checkpoint: Path,
    resume: bool = False,
    progress: RunProgress | None = None,
    index: int = 0,
    total: int = 1,
    group: str | None = None,
) -> dict[str, Any]:
    """Train, test and time one model; return its ``results.json`` entry.

    ``group``: the experiment's model name when ``spec`` is one seed of it (:func:`seed_runs`).
    """
    progress = progress or RunProgress()
    seed = cfg.model_seed(spec)
    seed_everything(seed)
    build = model_build_args(spec, data)
    model = _build_model(build, device)
    if spec.weight_decay > 0:
        optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr)
    augment = parse_augment(spec.augment, f"models.{spec.name}.augment")
    best: dict[str, Any] | None = None
    generator = make_generator(seed)
    schedule = LR_SCHEDULES[spec.schedule]
    spec_dict = dataclasses.asdict(spec)
    history: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "val_acc": [],
                                       "epoch_seconds": []}
    start_epoch, wall = 0, 0.0
    if resume and checkpoint.is_file():
        state = load_checkpoint(checkpoint)
        if state["config"] != spec_dict or state.get("seed") != seed or state.get("build") != build:
            raise ConfigError(f"{checkpoint}: was written for a different set-up of model "
                              f"{spec.name!r}; resume with the run's own config.toml")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, start_epoch, wall = state["history"], state["epoch"], state.get("wall_seconds", 0.0)
        best = state.get("best")
        set_rng_state(state["rng"], generator)
        log.info("%s: resuming after epoch %d of %d", spec.name, start_epoch, spec.epochs)
    progress.model_start(spec, index, total,
                         batches_per_epoch=-(-len(data.train) // spec.batch_size),
                         start_epoch=start_epoch)
    net = distributed.wrap(model)  # DistributedDataParallel under torchrun
    for epoch in range(start_epoch, spec.epochs):
        t0 = time.perf_counter()
        if hasattr(model, "on_epoch_start"):
            model.on_epoch_start(epoch, spec.epochs)
        set_lr(optimizer, schedule(epoch, base_lr=spec.lr, epochs=spec.epochs))
        stats = distributed.gather_epoch(train_one_epoch(
            net,
            distributed.shard(augment_batches(data.train.batches(
                spec.batch_size, shuffle=True, generator=generator, device=device), augment,
                n_classes=data.n_classes),
                train=True),
            optimizer, device=device, on_batch=progress.batch,
        ))
        seconds = time.perf_counter() - t0
        val = distributed.gather_eval(evaluate(
            model, distributed.shard(data.val.batches(spec.batch_size, device=device)),
            data.n_classes, device=device))
        history["train_loss"].append(stats.loss)
        history["train_acc"].append(stats.accuracy)
        history["val_acc"].append(val.accuracy)
        history["epoch_seconds"].append(seconds)
        wall += time.perf_counter() - t0
        if spec.selection == "best_val" and (best is None or val.accuracy > best["val_acc"]):
            best = {"epoch": epoch + 1, "val_acc": val.accuracy,
                    "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        save_checkpoint(checkpoint, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "rng": get_rng_state(generator), "config": spec_dict, "seed": seed, "build": build,
            "epoch": epoch + 1, "history": history, "wall_seconds": wall,
            "spikebench_version": __version__, "best": best,
        })
        progress.epoch_end(spec, epoch + 1, {k: v[-1] for k, v in history.items()})

    selected_epoch = spec.epochs
    if best is not None:
        selected_epoch = best["epoch"]
        model.load_state_dict(best["model"])
        state = load_checkpoint(checkpoint)
        state.update(model=best["model"], selected_epoch=selected_epoch)
        save_checkpoint(checkpoint, state)  # checkpoints/<name>.pt holds the selected weights
    if data.test is None:  # a search trial (spikebench tune): validation only, test unread
        return {"name": spec.name, "history": history, "selected_epoch": selected_epoch,
                "val_acc_selected": history["val_acc"][selected_epoch - 1]}
    t0 = time.perf_counter()
    test = distributed.gather_eval(evaluate(
        model, distributed.shard(data.test.batches(spec.batch_size, device=device)),
        data.n_classes, device=device))
    inf = cfg.inference
    timing = time_inference(model, data.test, batch_size=inf.batch_size,
                            warmup_batches=inf.warmup_batches,
                            max_batches=inf.max_batches or None,
                            latency_samples=inf.latency_samples, device=device)
    wall += time.perf_counter() - t0
    cap = inf.max_batches or None  # the inference cap bounds these passes too
    efficiency = measure_efficiency(model, data.test.batches(inf.batch_size, device=device),
                                    bin_dt=cfg.data.dt, max_batches=cap)
    try:
        streaming = evaluate_streaming(model, data.test.batches(inf.batch_size, device=device),
                                       bin_dt=cfg.data.dt, max_batches=cap)
    except ConfigError:  # not a chain of spiking layers (ANN, CNN, hybrid)
        streaming = None
    entry = {
        "name": spec.name,
        "group": group or spec.name,
        "label": spec.label or group or spec.name,
        "family": spec.family,
        "model": spec.model,
        "phase": spec.phase,
        "engine": spec.engine,
        "hidden": spec.hidden,
        "hparams": dict(spec.hparams),
        "lr": spec.lr,
        "schedule": spec.schedule,
        "epochs": spec.epochs,
        "batch_size": spec.batch_size,
        "seed": seed,
        "params": count_params(model),
        "history": history,
        "weight_decay": spec.weight_decay,
        "augment": dict(spec.augment),
        "selection": spec.selection,
        "selected_on": "val" if spec.selection == "best_val" else "final",
        "n_seeds": spec.n_seeds,
        "selected_epoch": selected_epoch,
        "val_acc_selected": history["val_acc"][selected_epoch - 1] if history["val_acc"] else None,
        "test_acc": test.accuracy,
        "test_confusion": test.confusion.tolist(),
        "inference": timing.to_dict(),
        "wall_seconds": wall,
        "reference": dataclasses.asdict(spec.reference) if spec.reference else None,
        "efficiency": efficiency,
        "streaming": streaming,
    }
    progress.model_end(spec, entry)
    return entry


def seed_runs(spec: ModelSpec, cfg: ExperimentConfig) -> list[ModelSpec]:
    """One spec per seed of ``spec`` (``n_seeds``), named as in the module docstring."""
    base = cfg.model_seed(spec)
    return [dataclasses.replace(spec, seed=base + k,
                                name=spec.name if k == 0 else f"{spec.name}.seed{base + k}")
            for k in range(spec.n_seeds)]


def _write_samples(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The resolved experiment a run directory was made with."""
    path = Path(run_dir) / "config.toml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.toml)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    return config_from_dict(raw, str(path))


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    root: str | Path | None = None,
    device: str = "auto",
    resume: bool = False,
    command: str = "",
    progress: RunProgress | None = None,
    data_progress: Any = None,
) -> Path:
    """Run ``cfg`` on ``cfg.dataset`` into ``out_dir``; return the path of ``results.json``."""
    progress = progress or RunProgress()
    out = Path(out_dir)
    results_path = out / "results.json"
    if resume:
        stored = load_run_config(out)
        if stored.to_dict() != cfg.to_dict():
            raise ConfigError(f"{out}/config.toml differs from the requested experiment; "
                              "resume without --experiment/--set/--epochs to use the stored one")
    elif (out / "config.toml").exists() or results_path.exists():
        raise ConfigError(f"{out}: already holds a run; use --resume to continue it or choose "
                          "another --out")
    dev = resolve_device(device)

    progress.stage(f"preparing data set {cfg.dataset}")
    files = resolve_dataset(cfg.dataset, root, progress=data_progress)
    from spikebench.data.paths import cache_root

    data = prepare_data(files, cfg.data, seed=cfg.seed, cache_dir=cache_root(root))
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        write_text_atomic(out / "config.toml", cfg.to_toml())
    if not (out / "samples.npz").exists():
        _write_samples(out / "samples.npz", sample_events(files.train, cfg.n_samples))

    previous: dict[str, Any] = {}
    if resume and results_path.exists():
        previous = json.loads(results_path.read_text(encoding="utf-8"))
    done = {m["name"]: m for m in previous.get("models", [])}
    results: dict[str, Any] = {
        "spikebench_version": __version__,
        "experiment": cfg.name,
        "command": previous.get("command", command),
        "created": previous.get(
            "created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")),
        "git_revision": git_revision(),
        "environment": collect_environment(dev),
        "protocol": cfg.protocol,
        "dataset": {
            "name": files.name,
            "train_file": str(files.train),
            "test_file": str(files.test),
            "valid_file": str(files.valid) if files.valid else None,
            "n_train": len(data.train),
            "n_val": len(data.val),
            "n_test": len(data.test),
            "n_classes": data.n_classes,
            "keys": list(data.keys),
            "val_speakers": list(data.val_speakers),
            "bin": {"dt": cfg.data.dt, "t_max": cfg.data.t_max, "pool": cfg.data.pool,
                    "binary": cfg.data.binary},
        },
        "models": [],
    }
    if resume:
        results["resumed"] = [*previous.get("resumed", []), command]
    write_json_atomic(results_path, results)  # provenance first; models are added as they finish
    specs = [(run, spec.name) for spec in cfg.selected_models() for run in seed_runs(spec, cfg)]
    for i, (spec, group) in enumerate(specs):
        if spec.name in done:
            entry = done[spec.name]
        else:
            entry = train_model(spec, cfg, data, device=dev,
                                checkpoint=out / "checkpoints" / f"{spec.name}.pt",
                                resume=resume, progress=progress, index=i, total=len(specs),
                                group=group)
        results["models"].append(entry)
        write_json_atomic(results_path, results)
    return results_path
