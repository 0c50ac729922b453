"""Read a run directory into typed, validated records for the report.

The report is built from the run directory's files alone: ``results.json`` (required),
``config.toml`` (shown verbatim when present) and ``samples.npz`` (spike rasters when
present). Every field the report uses is checked here once, so a malformed file ends in
one :class:`~spikebench.errors.DataError` naming the file, the model and the field,
and the rest of the package works on plain typed values.

Units: accuracies are fractions in [0, 1]; times are seconds; learning rates are plain
numbers. Sections that later issues add are optional and read here when present:

- ``models[i].efficiency`` (issue 7): a JSON object, shown as it is (numeric leaves).
- ``models[i].streaming`` (issue 7, written by
  :func:`spikebench.training.streaming.evaluate_streaming`): ``fraction`` / ``accuracy``
  (accuracy when each utterance is decided after that fraction of it), optionally
  ``time_s`` / ``accuracy_vs_time`` (decided that many seconds into the recording),
  ``seconds_per_bin`` (median per-bin latency of one stream), ``seconds_per_bin_p95``,
  ``real_time_factor`` and ``state_bytes_per_stream``.
- ``models[i].selected_on`` (issue 6): ``"val"``, ``"final"`` or ``"test"``; a model
  whose epoch was selected on the test split is marked in every table.
- ``search`` (issue 8, top level): ``{"study", "direction", "trials": [{"number",
  "state", "value", "params"}], "best": {"number", "value", "params"}, "importance":
  {param: weight}, "best_config": str}``.

Entries that differ only in ``seed`` (and ``name``, which must be unique per run) are one
model run over several seeds (issue 6): :func:`group_models` gathers entries with the
same ``group`` field when there is one, otherwise with the same label, family, phase,
hidden size, learning rate and schedule, epochs, batch size, engine and ``hparams``.
"""

from __future__ import annotations

import json
import math
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikebench.errors import DataError


@dataclass(frozen=True)
class Inference:
    batch_size: int | None = None
    seconds_per_batch: float | None = None
    latency_seconds_per_sample: float | None = None
    n_batches_timed: int | None = None
    warmup_batches: int | None = None


@dataclass(frozen=True)
class Streaming:
    """Accuracy against the fraction of the utterance heard before deciding."""

    fraction: tuple[float, ...]
    accuracy: tuple[float, ...]
    time_s: tuple[float, ...] = ()
    accuracy_vs_time: tuple[float, ...] = ()
    seconds_per_bin: float | None = None
    seconds_per_bin_p95: float | None = None
    real_time_factor: float | None = None
    state_bytes_per_stream: int | None = None


@dataclass(frozen=True)
class ModelResult:
    name: str
    label: str
    family: str
    phase: str | None
    engine: str | None
    hidden: int | None
    lr: float | None
    schedule: str | None
    hparams: dict[str, Any]
    epochs: int | None
    batch_size: int | None
    seed: int | None
    group: str | None
    params: int | None
    train_loss: tuple[float, ...]
    train_acc: tuple[float, ...]
    val_acc: tuple[float, ...]
    epoch_seconds: tuple[float, ...]
    selected_epoch: int | None
    selected_on: str | None
    test_acc: float | None
    confusion: np.ndarray | None
    inference: Inference
    wall_seconds: float | None
    ref_accuracy: float | None
    ref_seconds_per_batch: float | None
    efficiency: dict[str, Any] | None
    streaming: Streaming | None


@dataclass(frozen=True)
class DatasetInfo:
    name: str | None = None
    train_file: str | None = None
    test_file: str | None = None
    valid_file: str | None = None  # an official validation file (SSC) instead of held-out speakers
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    n_classes: int | None = None
    keys: tuple[str, ...] = ()
    val_speakers: tuple[Any, ...] = ()
    dt: float | None = None
    t_max: float | None = None
    pool: int | None = None
    binary: bool | None = None


@dataclass(frozen=True)
class Samples:
    """Events of a few test inputs: sample ``i`` owns ``offsets[i]:offsets[i+1]``."""

    times: np.ndarray
    units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    keys: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class RunResults:
    path: Path
    version: str | None
    experiment: str | None
    command: str | None
    created: str | None
    git_revision: str | None
    environment: dict[str, Any]
    protocol: str | None
    dataset: DatasetInfo
    models: tuple[ModelResult, ...]
    search: dict[str, Any] | None
    config_text: str | None = None
    samples: Samples | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ModelGroup:
    """All entries of one model name (one per seed)."""

    name: str
    runs: tuple[ModelResult, ...]

    @property
    def first(self) -> ModelResult:
        return self.runs[0]

    @property
    def n_seeds(self) -> int:
        return len(self.runs)

    def values(self, attr: str) -> list[float]:
        """The non-missing values of a scalar attribute across seeds."""
        return [v for r in self.runs if (v := getattr(r, attr)) is not None]

    def inference_values(self, attr: str) -> list[float]:
        return [v for r in self.runs if (v := getattr(r.inference, attr)) is not None]


def _group_key(m: ModelResult) -> Any:
    if m.group is not None:
        return ("group", m.group)
    return (m.label, m.family, m.phase, m.hidden, m.lr, m.schedule, m.epochs, m.batch_size,
            m.engine, json.dumps(m.hparams, sort_keys=True, default=str))


def group_models(models: tuple[ModelResult, ...]) -> list[ModelGroup]:
    """Gather the seeds of each model (see the module doc), in order of first appearance."""
    order: dict[Any, list[ModelResult]] = {}
    for m in models:
        order.setdefault(_group_key(m), []).append(m)
    return [ModelGroup(runs[0].name, tuple(runs)) for runs in order.values()]


class _Fields:
    """Typed access to one JSON object, with errors naming file, item and field."""

    def __init__(self, obj: Any, where: str):
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        self.obj = obj
        self.where = where

    def _bad(self, key: str, expected: str) -> DataError:
        return DataError(f"{self.where}: field {key!r} should be {expected}, got {self.obj[key]!r}")

    def str(self, key: str) -> str | None:
        v = self.obj.get(key)
        if v is None:
            return None
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            return str(v)
        raise self._bad(key, "a string")

    def num(self, key: str, *, fraction: bool = False, positive: bool = False) -> float | None:
        v = self.obj.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self._bad(key, "a finite number")
        if fraction and not 0.0 <= v <= 1.0:
            raise self._bad(key, "a fraction in [0, 1]")
        if positive and v < 0:
            raise self._bad(key, "a number >= 0")
        return float(v)

    def int(self, key: str) -> int | None:
        v = self.obj.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
            raise self._bad(key, "an integer")
        return int(v)

    def series(self, key: str, *, fraction: bool = False) -> tuple[float, ...]:
        v = self.obj.get(key)
        if v is None:
            return ()
        if not isinstance(v, list):
            raise self._bad(key, "a list of numbers")
        out = []
        for x in v:
            # NaN is kept: a diverged epoch is a fact the curves should show.
            if x is None:
                x = math.nan
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise self._bad(key, "a list of numbers")
            if fraction and math.isfinite(x) and not 0.0 <= x <= 1.0:
                raise self._bad(key, "a list of fractions in [0, 1]")
            out.append(float(x))
        return tuple(out)

    def sub(self, key: str) -> _Fields | None:
        v = self.obj.get(key)
        if v is None:
            return None
        return _Fields(v, f"{self.where}: {key}")


def _model(obj: Any, where: str) -> ModelResult:
    f = _Fields(obj, where)
    name = f.str("name")
    if not name:
        raise DataError(f"{where}: missing field 'name'")
    f.where = f"{where} ({name})"
    hist = f.sub("history") or _Fields({}, f.where)
    inf = f.sub("inference") or _Fields({}, f.where)
    ref = f.sub("reference") or _Fields({}, f.where)

    confusion = None
    if obj.get("test_confusion") is not None:
        try:
            confusion = np.asarray(obj["test_confusion"], dtype=np.float64)
        except (TypeError, ValueError):
            confusion = None
        if confusion is None or confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
            raise DataError(f"{f.where}: field 'test_confusion' should be a square matrix of counts")
        if not np.all(np.isfinite(confusion)) or np.any(confusion < 0):
            raise DataError(f"{f.where}: field 'test_confusion' has negative or non-finite counts")

    efficiency = obj.get("efficiency")
    if efficiency is not None and not isinstance(efficiency, dict):
        raise DataError(f"{f.where}: field 'efficiency' should be a JSON object")

    selected_on = f.str("selected_on")
    if selected_on is not None and selected_on not in ("val", "final", "test"):
        raise DataError(f"{f.where}: field 'selected_on' should be 'val', 'final' or 'test', got {selected_on!r}")

    return ModelResult(
        name=name,
        label=f.str("label") or name,
        family=(f.str("family") or "other").lower(),
        phase=f.str("phase"),
        engine=f.str("engine"),
        hidden=f.int("hidden"),
        lr=f.num("lr", positive=True),
        schedule=f.str("schedule"),
        hparams=_hparams(obj.get("hparams"), f.where),
        epochs=f.int("epochs"),
        batch_size=f.int("batch_size"),
        seed=f.int("seed"),
        group=f.str("group"),
        params=f.int("params"),
        train_loss=hist.series("train_loss"),
        train_acc=hist.series("train_acc", fraction=True),
        val_acc=hist.series("val_acc", fraction=True),
        epoch_seconds=hist.series("epoch_seconds"),
        selected_epoch=f.int("selected_epoch"),
        selected_on=selected_on,
        test_acc=f.num("test_acc", fraction=True),
        confusion=confusion,
        inference=Inference(
            batch_size=inf.int("batch_size"),
            seconds_per_batch=inf.num("seconds_per_batch", positive=True),
            latency_seconds_per_sample=inf.num("latency_seconds_per_sample", positive=True),
            n_batches_timed=inf.int("n_batches_timed"),
            warmup_batches=inf.int("warmup_batches"),
        ),
        wall_seconds=f.num("wall_seconds", positive=True),
        ref_accuracy=ref.num("accuracy", fraction=True),
        ref_seconds_per_batch=ref.num("seconds_per_batch", positive=True),
        efficiency=efficiency,
        streaming=_streaming(f.sub("streaming")),
    )


def _hparams(v: Any, where: str) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise DataError(f"{where}: field 'hparams' should be a JSON object")
    return v


def _streaming(f: _Fields | None) -> Streaming | None:
    if f is None:
        return None
    x, y = f.series("fraction"), f.series("accuracy", fraction=True)
    if len(x) != len(y) or not x:
        raise DataError(f"{f.where}: 'fraction' and 'accuracy' must be non-empty lists of one length")
    t, yt = f.series("time_s"), f.series("accuracy_vs_time", fraction=True)
    if len(t) != len(yt):
        raise DataError(f"{f.where}: 'time_s' and 'accuracy_vs_time' must have one length")
    return Streaming(
        fraction=x, accuracy=y, time_s=t, accuracy_vs_time=yt,
        seconds_per_bin=f.num("seconds_per_bin", positive=True),
        seconds_per_bin_p95=f.num("seconds_per_bin_p95", positive=True),
        real_time_factor=f.num("real_time_factor", positive=True),
        state_bytes_per_stream=f.int("state_bytes_per_stream"),
    )


def _dataset(f: _Fields | None) -> DatasetInfo:
    if f is None:
        return DatasetInfo()
    keys = f.obj.get("keys") or ()
    if not isinstance(keys, (list, tuple)):
        raise DataError(f"{f.where}: field 'keys' should be a list of class names")
    speakers = f.obj.get("val_speakers") or ()
    if not isinstance(speakers, (list, tuple)):
        raise DataError(f"{f.where}: field 'val_speakers' should be a list")
    b = f.sub("bin") or _Fields({}, f.where)
    binary = b.obj.get("binary")
    return DatasetInfo(
        name=f.str("name"),
        train_file=f.str("train_file"),
        test_file=f.str("test_file"),
        valid_file=f.str("valid_file"),
        n_train=f.int("n_train"),
        n_val=f.int("n_val"),
        n_test=f.int("n_test"),
        n_classes=f.int("n_classes"),
        keys=tuple(str(k) for k in keys),
        val_speakers=tuple(speakers),
        dt=b.num("dt", positive=True),
        t_max=b.num("t_max", positive=True),
        pool=b.int("pool"),
        binary=None if binary is None else bool(binary),
    )


def _samples(path: Path) -> Samples | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("times", "units", "offsets", "labels")}
            keys = tuple(str(k) for k in z["keys"]) if "keys" in z.files else ()
    except KeyError as err:
        raise DataError(f"{path}: missing array {err.args[0]!r} (needs times, units, offsets, labels)") from None
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None
    off = arrays["offsets"].astype(np.int64)
    n = len(arrays["labels"])
    if (
        off.ndim != 1
        or len(off) != n + 1
        or (n and (off[0] != 0 or np.any(np.diff(off) < 0)))
        or off[-1] != len(arrays["times"])
        or len(arrays["times"]) != len(arrays["units"])
    ):
        raise DataError(f"{path}: offsets do not match times/units/labels (need n_samples + 1 non-decreasing offsets)")
    return Samples(
        times=arrays["times"].astype(np.float32),
        units=arrays["units"].astype(np.int64),
        offsets=off,
        labels=arrays["labels"].astype(np.int64),
        keys=keys,
    )


def _command(v: Any, rpath: Path) -> str | None:
    if v is None:
        return None
    if isinstance(v, list) and all(isinstance(a, str) for a in v):
        return shlex.join(v)
    if isinstance(v, str):
        return v
    raise DataError(f"{rpath}: field 'command' should be a string or a list of arguments")


def load_run(run_dir: str | Path) -> RunResults:
    """Read and validate ``run_dir``'s results.json, config.toml and samples.npz."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: not a directory (expected a run directory with results.json)")
    rpath = run_dir / "results.json"
    if not rpath.is_file():
        raise DataError(f"{rpath}: not found (is {run_dir} a spikebench run directory?)")
    try:
        raw = json.loads(rpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{rpath}: not valid JSON (line {err.lineno}: {err.msg})") from None
    except UnicodeDecodeError:
        raise DataError(f"{rpath}: not UTF-8 text") from None
    top = _Fields(raw, str(rpath))
    models_raw = raw.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise DataError(f"{rpath}: field 'models' should be a non-empty list of model entries")
    models = tuple(_model(m, f"{rpath}: models[{i}]") for i, m in enumerate(models_raw))

    env = raw.get("environment") or {}
    if not isinstance(env, dict):
        raise DataError(f"{rpath}: field 'environment' should be a JSON object")
    search = raw.get("search")
    if search is not None and not isinstance(search, dict):
        raise DataError(f"{rpath}: field 'search' should be a JSON object")

    config_text = None
    cpath = run_dir / "config.toml"
    if cpath.is_file():
        config_text = cpath.read_text(encoding="utf-8", errors="replace")
        try:
            tomllib.loads(config_text)
        except tomllib.TOMLDecodeError as err:
            raise DataError(f"{cpath}: not valid TOML ({err})") from None

    return RunResults(
        path=run_dir,
        version=top.str("spikebench_version"),
        experiment=top.str("experiment"),
        command=_command(raw.get("command"), rpath),
        created=top.str("created"),
        git_revision=top.str("git_revision"),
        environment=env,
        protocol=top.str("protocol"),
        dataset=_dataset(top.sub("dataset")),
        models=models,
        search=search,
        config_text=config_text,
        samples=_samples(run_dir / "samples.npz"),
        raw=raw,
    )
