"""Hyper-parameter search with Optuna: the objective, the shared study, the final retrain.

A trial is the experiment with the searched parameters applied (:mod:`.space`), the
searched model trained alone by the experiment runner
(:func:`~spikebench.experiments.runner.fit` and ``select``, the recipe of ``spikebench run``).
After every epoch the validation accuracy (whole speakers held out of the training file)
is reported to Optuna, whose pruner (median or hyperband) may stop the trial; the trial's
value is the validation accuracy of the epoch the model's ``selection`` rule keeps (the
last by default), i.e. of the model the final run tests.
The test file is never opened during the search
(:func:`~spikebench.experiments.datasets.prepare_data` with ``include_test=False``).

Scale-out is Optuna's: every worker (a ``spikebench tune`` process, on any machine) opens
the same study in the same storage and asks it for trials; the storage hands each trial
to one worker. Storage is an SQLAlchemy URL: by default ``sqlite:///RUN_DIR/study.db``
(embedded, for the workers of one machine), or a ``postgresql://`` server for several
machines. Workers send a heartbeat every ``heartbeat`` seconds while a trial runs; a trial
whose worker died (no heartbeat for twice that) is marked FAIL by the next worker that
looks, and its parameters are queued again (:class:`optuna.storages.RetryHeartbeatStaleTrialCallback`),
so a killed worker leaves the study usable and a restarted search continues it.

``trials`` is the study's budget, shared by its workers: a worker starts another trial
while fewer than ``trials`` are finished or running (a FAIL from a killed worker does not
count; its retry does). Two workers that look at the same instant may both start the
last trial, so a study can end one trial over budget per extra worker.

A study records the MD5 of its training data; a worker (or the final run) given other
data, or data that changed during the search, is refused.

At the end (:func:`finish_search`) the best trial's configuration is written as
``RUN_DIR/best.toml`` (a plain experiment file) and run once with
:func:`~spikebench.experiments.runner.run_experiment` into ``RUN_DIR``, the only time
the test file is read; the study's trials, best configuration and parameter importances
go into ``results.json["search"]`` (read by :mod:`spikebench.report`) and a table of
trials into ``RUN_DIR/trials.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import re
import socket
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
import torch

from spikebench.errors import ConfigError, SpikebenchError, TrainingError
from spikebench.experiments.config import ExperimentConfig
from spikebench.experiments.datasets import DatasetFiles, PreparedData, prepare_data, resolve_dataset
from spikebench.experiments.environment import resolve_device
from spikebench.experiments.runner import fit, run_experiment, select
from spikebench.progress import Progress
from spikebench.fileio import new_dirs_removed_on_error, write_text_atomic
from spikebench.record import load_run, save_run
from spikebench.tuning.space import SearchSpec, parse_search, trial_config

log = logging.getLogger(__name__)

DIRECTION = "maximize"
OBJECTIVE = "validation accuracy (held-out speakers) of the selected epoch"


@contextmanager
def _stable() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning for the heartbeat/retry API (stable since v2.9)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


class SearchError(SpikebenchError):
    """A search that cannot go on (storage unreachable, study of another experiment, ...)."""


def default_storage(out: Path) -> str:
    return f"sqlite:///{Path(out).resolve() / 'study.db'}"


def redact(url: str) -> str:
    """``url`` without its password (for logs, errors and results.json)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):  # not a URL SQLAlchemy parses
        return re.sub(r":[^:@/]*@", ":***@", url)  # still hide what looks like a password


def open_storage(url: str, *, heartbeat: int = 60) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage for ``url`` with heartbeats and retry of killed trials."""
    if heartbeat < 1:
        raise ConfigError(f"--heartbeat {heartbeat}: must be >= 1 second")
    scheme = url.partition("://")[0] if "://" in url else ""
    if not scheme:
        raise ConfigError(f"--storage {url!r}: expected a URL such as sqlite:///study.db or "
                          "postgresql://user@host/db")
    engine_kwargs: dict[str, Any] = {}
    if scheme.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}
        folder = Path(url.partition(":///")[2]).parent
        if url.partition(":///")[2] and not folder.is_dir():
            raise ConfigError(f"--storage {url}: folder {folder} does not exist")
    else:
        engine_kwargs["pool_pre_ping"] = True
    given = url
    if scheme == "postgresql":
        url = "postgresql+psycopg2" + url[len(scheme):]  # SQLAlchemy 2.1 would pick psycopg 3
    try:
        for attempt in range(5):
            try:
                with _stable():
                    return optuna.storages.RDBStorage(
                        url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                        grace_period=2 * heartbeat,
                        heartbeat_stale_trial_callback=(
                            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)),
                    )
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                # workers starting together race to create the tables; the loser retries
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")
    except ImportError as err:
        raise SearchError(f"--storage {redact(given)}: driver missing ({err}); for PostgreSQL "
                          "install psycopg2-binary") from None
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many kinds; all mean the same
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SearchError(f"--storage {redact(given)}: cannot open the study storage ({first})") from None


def _fingerprint(cfg: ExperimentConfig) -> str:
    """What workers of one study must agree on: the experiment minus the data set's location."""
    raw = cfg.to_dict()
    raw.pop("dataset")
    return json.dumps(raw, sort_keys=True, default=str)


def data_id(files: DatasetFiles, cache_dir: Path) -> str:
    """MD5 of the training (and validation) file: what a study's trials were trained on."""
    from spikebench.data.cache import source_md5

    return "+".join(source_md5(Path(f), cache_dir) for f in (files.train, files.valid) if f)


def _check_data(study: optuna.Study, files: DatasetFiles, cache_dir: Path) -> str:
    """Record the study's data on first use; refuse other data afterwards."""
    mine = data_id(files, cache_dir)
    stored = study.user_attrs.get("data_md5")
    if stored is None:
        study.set_user_attr("data_md5", mine)
    elif stored != mine:
        raise SearchError(f"study {study.study_name!r} was searched on other data: {files.train} "
                          f"(MD5 {mine}) is not the training data of its trials (MD5 {stored}); "
                          "use the same files or another --study")
    return mine


def _pruner(kind: str, spec: SearchSpec, epochs: int) -> optuna.pruners.BasePruner:
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials, n_warmup_steps=0)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1),
                                              reduction_factor=3)
    raise ConfigError(f"--pruner {kind!r}: expected median or hyperband")


class _TrialProgress(Progress):
    """Reports each epoch's validation accuracy to the trial and prunes it when told to."""

    def __init__(self, trial: optuna.Trial, progress: Progress) -> None:
        self.trial, self.progress = trial, progress
        self.history: dict[str, list[float]] = {"train_loss": [], "val_acc": []}

    def epoch_end(self, spec: Any, epoch: int, record: dict[str, float]) -> None:
        val_acc = record["val_acc"]
        self.history["train_loss"].append(record["train_loss"])
        self.history["val_acc"].append(val_acc)
        self.trial.set_user_attr("history", self.history)
        self.trial.report(val_acc, epoch)
        self.progress.trial_epoch(self.trial.number, epoch, spec.epochs, val_acc)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"validation accuracy {val_acc:.3f} after epoch {epoch}")


@dataclass
class _Objective:
    """Train one trial's model (train split only) with the experiment runner's recipe."""

    cfg: ExperimentConfig
    spec: SearchSpec
    files: DatasetFiles
    device: torch.device
    cache_dir: Path
    progress: Progress
    data_md5: str

    def __post_init__(self) -> None:
        self._data: dict[Any, PreparedData] = {}
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def data(self, cfg: ExperimentConfig) -> PreparedData:
        key = (cfg.data, cfg.seed)
        if key not in self._data:
            if data_id(self.files, self.cache_dir) != self.data_md5:
                raise SearchError(f"{self.files.train} changed during the search; its trials "
                                  "would mix two data sets")
            self._data[key] = prepare_data(self.files, cfg.data, seed=cfg.seed,
                                           cache_dir=self.cache_dir, include_test=False)
        return self._data[key]

    def __call__(self, trial: optuna.Trial) -> float:
        values = {p.key: p.suggest(trial) for p in self.spec.params}
        trial.set_user_attr("worker", self.worker)
        self.progress.trial_start(trial.number, values)
        cfg = trial_config(self.cfg, self.spec, values, source=f"trial {trial.number}")
        (mspec,) = cfg.selected_models()
        with tempfile.TemporaryDirectory(prefix="spikebench-trial-") as tmp:
            checkpoint = Path(tmp) / "trial.pt"
            result = fit(mspec, cfg, self.data(cfg), device=self.device, checkpoint=checkpoint,
                         progress=_TrialProgress(trial, self.progress))
            chosen = select(result, mspec, checkpoint)
        trial.set_user_attr("selected_epoch", chosen.epoch)
        return chosen.val_acc


def _retried(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    with _stable():
        nums = [optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) for t in trials]
    return {n for n in nums if n is not None}


def count_trials(trials: list[optuna.trial.FrozenTrial]) -> tuple[int, int, int]:
    """``(counted, running, waiting)``: trials counted against the budget (finished or
    running, a FAIL whose parameters were queued again excluded), running, queued."""
    S = optuna.trial.TrialState
    retried = _retried(trials)
    counted = sum(1 for t in trials
                  if t.state in (S.COMPLETE, S.PRUNED, S.RUNNING)
                  or (t.state == S.FAIL and t.number not in retried))
    running = sum(1 for t in trials if t.state == S.RUNNING)
    waiting = sum(1 for t in trials if t.state == S.WAITING)
    return counted, running, waiting


def load_study(cfg: ExperimentConfig, *, storage: str, study_name: str, spec: SearchSpec,
               pruner: str, heartbeat: int, seeded: bool) -> optuna.Study:
    """Create the study, or join it when it exists (for the same experiment).

    ``seeded``: the sampler is seeded with the experiment seed (plus the number of trials
    already in the study), so a search by one worker repeats; workers sharing a storage
    pass False and draw independent seeds, so they do not propose the same start points.
    """
    rdb = open_storage(storage, heartbeat=heartbeat)
    epochs = cfg.models[[m.name for m in cfg.models].index(spec.model)].epochs
    sampler = optuna.samplers.TPESampler(n_startup_trials=spec.startup_trials,
                                         seed=cfg.seed if seeded else None, constant_liar=True)
    try:
        study = optuna.create_study(storage=rdb, study_name=study_name, direction=DIRECTION,
                                    sampler=sampler, pruner=_pruner(pruner, spec, epochs),
                                    load_if_exists=True)
    except ValueError as err:
        raise SearchError(f"study {study_name!r} in {redact(storage)}: {err}") from None
    mine = _fingerprint(cfg)
    stored = study.user_attrs.get("experiment")
    if stored is None:
        study.set_user_attr("experiment", mine)
        study.set_user_attr("experiment_toml", cfg.to_toml())
        study.set_user_attr("pruner", pruner)
    elif stored != mine:
        raise SearchError(f"study {study_name!r} in {redact(storage)} was made for another "
                          "experiment or search space (different config, --set or --epochs); "
                          "use the same options or another --study")
    elif study.user_attrs.get("pruner") != pruner:
        raise SearchError(f"study {study_name!r} prunes with {study.user_attrs.get('pruner')}; "
                          f"--pruner {pruner} would mix rules; use the same --pruner")
    n_before = len(study.get_trials(deepcopy=False))
    if seeded and n_before:  # a resumed search draws new start points, not the first ones again
        study.sampler = optuna.samplers.TPESampler(n_startup_trials=spec.startup_trials,
                                                   seed=cfg.seed + n_before, constant_liar=True)
    return study


def run_search(
    cfg: ExperimentConfig,
    out: str | Path,
    *,
    trials: int,
    storage: str | None = None,
    study_name: str | None = None,
    pruner: str | None = None,
    root: str | Path | None = None,
    device: str = "auto",
    heartbeat: int = 60,
    wait_for_others: bool = True,
    progress: Progress | None = None,
) -> optuna.Study:
    """Work on the study until it holds ``trials`` finished trials; return it.

    With ``wait_for_others`` the call also waits for other workers' running trials (and
    runs the retries of killed ones), so the study is complete when it returns.
    """
    progress = progress or Progress()
    if trials < 0:
        raise ConfigError(f"--trials {trials}: must be >= 0")
    spec = parse_search(cfg)
    out = Path(out)
    url = storage or default_storage(out)
    if trials == 0:
        _check_study_exists(url, study_name or cfg.name, heartbeat)
    from spikebench.data.paths import cache_root

    files = resolve_dataset(cfg.dataset, root, progress=progress.data)  # before any folder
    with new_dirs_removed_on_error(out):
        out.mkdir(parents=True, exist_ok=True)
        study = load_study(cfg, storage=url, study_name=study_name or cfg.name, spec=spec,
                           pruner=pruner or spec.pruner, heartbeat=heartbeat,
                           seeded=storage is None)
    progress.stage(f"study {study.study_name!r} in {redact(url)}; data set {cfg.dataset}")
    md5 = _check_data(study, files, cache_root(root))
    objective = _Objective(cfg, spec, files, resolve_device(device), cache_root(root), progress,
                           md5)
    poll = min(5.0, heartbeat / 2)
    while True:
        with _stable():
            optuna.storages.fail_stale_trials(study)
        counted, running, waiting = count_trials(study.get_trials(deepcopy=False))
        if counted < trials or waiting:
            with _stable():
                study.optimize(objective, n_trials=1, catch=(TrainingError,),
                               gc_after_trial=False,
                               callbacks=[lambda _study, trial: progress.trial_end(trial)])
            continue
        if not (wait_for_others and running):
            return study
        progress.waiting(running)
        time.sleep(poll)


def _check_study_exists(url: str, name: str, heartbeat: int) -> None:
    """``--trials 0`` only finishes a study that exists; refuse before creating anything."""
    none_yet = (f"--trials 0: study {name!r} in {redact(url)} does not exist, so it has no "
                "finished trial yet; run with --trials N (N >= 1) first")
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///"):])
        if not db.is_file():
            raise SearchError(none_yet)
    if name not in optuna.study.get_all_study_names(storage=open_storage(url, heartbeat=heartbeat)):
        raise SearchError(none_yet)


def _value(v: Any) -> Any:
    return v if not (isinstance(v, float) and not math.isfinite(v)) else None


def search_summary(study: optuna.Study, spec: SearchSpec, *, storage: str,
                   best_toml: str) -> dict[str, Any]:
    """The run record's ``search`` object: ``study``, ``direction``, ``objective``, ``model``,
    ``pruner``, ``space``, ``trials`` (one object per trial), ``best``, ``importance``
    (parameter -> weight) and ``best_config`` (TOML text)."""
    rows = []
    trials = study.get_trials(deepcopy=False)
    with _stable():
        retry_of = {t.number: optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t)
                    for t in trials}
    for t in trials:
        value = t.value
        if value is None and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        rows.append({
            "number": t.number, "state": t.state.name, "value": _value(value),
            "params": dict(t.params), "epochs": len(t.intermediate_values),
            "val_acc_per_epoch": [_value(t.intermediate_values[k]) for k in sorted(t.intermediate_values)],
            "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start else None,
            "worker": t.user_attrs.get("worker"),
            "retry_of": retry_of[t.number],
        })
    best = study.best_trial
    try:
        importance = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    except (RuntimeError, ValueError) as err:
        log.info("no parameter importances: %s", err)
        importance = {}
    return {
        "study": study.study_name,
        "storage": redact(storage),
        "direction": DIRECTION,
        "objective": OBJECTIVE,
        "model": spec.model,
        "pruner": study.user_attrs.get("pruner"),
        "space": {p.key: {"type": p.type, "low": p.low, "high": p.high, "log": p.log,
                          "step": p.step, "choices": list(p.choices) or None}
                  for p in spec.params},
        "trials": rows,
        "best": {"number": best.number, "value": best.value, "params": dict(best.params)},
        "importance": {k: float(v) for k, v in importance.items()},
        "best_config": best_toml,
    }


def _trials_csv(summary: dict[str, Any]) -> str:
    keys = list(summary["space"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["number", "state", "value", "epochs", "seconds", "worker", "retry_of", *keys])
    for t in summary["trials"]:
        writer.writerow([t["number"], t["state"], t["value"], t["epochs"], t["seconds"],
                         t["worker"], t["retry_of"], *(t["params"].get(k) for k in keys)])
    return buf.getvalue()


def finish_search(
    study: optuna.Study,
    cfg: ExperimentConfig,
    out: str | Path,
    *,
    storage: str | None = None,
    root: str | Path | None = None,
    device: str = "auto",
    command: str = "",
    progress: Progress | None = None,
) -> Path:
    """Write ``best.toml``, retrain and test the best trial into ``out`` (a run directory),
    add the search to its ``results.json``; return that path."""
    spec = parse_search(cfg)
    out = Path(out)
    S = optuna.trial.TrialState
    if not study.get_trials(deepcopy=False, states=(S.COMPLETE,)):
        raise SearchError(f"study {study.study_name!r} has no completed trial yet; run more "
                          "trials (--trials) before the final run")
    from spikebench.data.paths import cache_root

    _check_data(study, resolve_dataset(cfg.dataset, root), cache_root(root))
    best = study.best_trial
    best_cfg = trial_config(cfg, spec, best.params, source=f"best trial {best.number}")
    header = (f"# Best configuration of study {study.study_name!r} (trial {best.number}, "
              f"{OBJECTIVE} {best.value:.4f}).\n# Run it: spikebench run --experiment best.toml\n")
    best_toml = best_cfg.to_toml()
    write_text_atomic(out / "best.toml", header + best_toml)
    resume = (out / "config.toml").exists()
    if resume:
        from spikebench.experiments.runner import load_run_config

        if load_run_config(out).to_dict() != best_cfg.to_dict():
            raise SearchError(f"{out} already holds the final run of another configuration "
                              "(the best trial changed); use another --out, or --no-final")
    results_path = run_experiment(best_cfg, out, root=root, device=device, resume=resume,
                                  command=command, progress=progress)
    summary = search_summary(study, spec, storage=storage or default_storage(out),
                             best_toml=header + best_toml)
    save_run(out, dataclasses.replace(load_run(out), search=summary))
    write_text_atomic(out / "trials.csv", _trials_csv(summary))
    return results_path
