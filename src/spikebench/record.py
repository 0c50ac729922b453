"""The run record: ``RUN_DIR/results.json`` as frozen, versioned dataclasses.

:func:`save_run` is the only writer of results.json and :func:`load_run` the only reader
(and :func:`save_samples` / :func:`load_samples` those of ``samples.npz``);
everything else (the runner, the search, the report, the CLI) passes :class:`RunRecord`
values. Reading checks every field against the annotations of these classes (types; a
field whose name holds ``acc`` is a fraction in [0, 1], one holding ``seconds`` and
``real_time_factor`` are >= 0; a square confusion matrix of counts; unknown or missing
fields), so a malformed file is one :class:`~spikebench.errors.DataError` naming the
file, the model and the field. Units: accuracies are fractions, times seconds.

Versioning: the file carries ``schema_version``. A file of another version is refused
with one line; a file without one was written before this module and has the layout of
version 1. To add a field, give it a default (older files then read as before); to
rename, remove or change the meaning of a field, bump :data:`SCHEMA_VERSION`.
``efficiency`` and ``search`` stay plain JSON objects: their writers
(:mod:`spikebench.training.efficiency`, :mod:`spikebench.tuning.study`) document them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikebench.errors import DataError
from spikebench.fileio import atomic_path, write_json_atomic

SCHEMA_VERSION = 1
FILENAME = "results.json"
SAMPLES = "samples.npz"
SELECTED_ON = ("val", "final")  # "val": best validation epoch; "final": after the last epoch



def _check_for(name: str) -> str | None:
    """The range a field's numbers must lie in, by its name (see the module docstring)."""
    if "acc" in name:
        return "fraction"
    if "seconds" in name or name == "real_time_factor":
        return "nonneg"
    return None


@dataclass(frozen=True)
class Reference:
    """Figures a published study reported for this model (fraction; seconds per batch)."""

    accuracy: float | None = None
    seconds_per_batch: float | None = None
    # The study's "first epoch loss" (and its last epoch's): a sum over the epoch's batches
    # of each batch's mean loss, on SHD at a batch size it did not report.
    first_epoch_loss: float | None = None
    last_epoch_loss: float | None = None


@dataclass(frozen=True)
class History:
    """One value per trained epoch: mean training loss (per sample) and accuracy,
    validation accuracy (held-out speakers), the epoch's training time in seconds, and
    the loss in the original study's form: ``train_loss_batch_sum``, the sum over the
    epoch's ``n_batches`` batches of each batch's mean loss."""

    train_loss: tuple[float, ...] = ()
    train_acc: tuple[float, ...] = ()
    val_acc: tuple[float, ...] = ()
    epoch_seconds: tuple[float, ...] = ()
    train_loss_batch_sum: tuple[float, ...] = ()
    n_batches: tuple[int, ...] = ()

    def append(self, **values: float) -> History:
        """A new history with one more epoch (every series given)."""
        return dataclasses.replace(self, **{
            k: (*getattr(self, k), v if isinstance(v, int) and not isinstance(v, bool) else float(v))
            for k, v in values.items()})

    def last(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name)[-1] for f in dataclasses.fields(self)
                if getattr(self, f.name)}


@dataclass(frozen=True)
class Inference:
    """Forward-pass timing on the test split (:func:`spikebench.training.metrics.time_inference`)."""

    batch_size: int
    seconds_per_batch: float
    latency_seconds_per_sample: float
    n_batches_timed: int
    warmup_batches: int


@dataclass(frozen=True)
class Streaming:
    """Streaming accuracy (:func:`spikebench.training.streaming.evaluate_streaming`):
    ``accuracy[i]`` when each utterance is decided after ``fraction[i]`` of it,
    ``accuracy_vs_time[k]`` when decided ``time_s[k]`` seconds in; per-bin latency."""

    bin_dt: float  # seconds per time bin
    n_samples: int  # test samples streamed
    n_steps: int  # time bins per sample
    readout: str  # the running class-score rule
    fraction: tuple[float, ...]  # decision points, fractions of each utterance
    accuracy: tuple[float, ...]  # accuracy at each of those points
    time_s: tuple[float, ...]  # decision times, seconds into the recording
    accuracy_vs_time: tuple[float, ...]  # accuracy at each of those times
    final_accuracy: float  # after the last bin (equals the offline test accuracy)
    seconds_per_bin: float  # median wall-clock latency of one bin of one stream
    seconds_per_bin_p95: float  # its 95th percentile
    real_time_factor: float  # seconds_per_bin / bin_dt
    n_bins_timed: int  # bins behind the latency figures
    state_bytes_per_stream: int  # memory a stream keeps between bins


@dataclass(frozen=True)
class ModelRecord:
    """One trained model (one seed): its set-up, training history, selection and test."""

    name: str
    group: str  # the experiment's model name; the seeds of one model share it
    label: str
    family: str
    model: str
    phase: int
    engine: str | None
    hidden: int
    hparams: dict[str, Any]
    lr: float
    schedule: str
    epochs: int
    batch_size: int
    seed: int
    params: int
    history: History
    weight_decay: float
    augment: dict[str, Any]
    selection: str
    selected_on: str  # one of SELECTED_ON
    n_seeds: int
    selected_epoch: int
    val_acc_selected: float | None
    test_acc: float
    test_confusion: tuple[tuple[int, ...], ...]  # [true class, predicted class] counts
    inference: Inference
    wall_seconds: float
    reference: Reference = field(default_factory=Reference)
    efficiency: dict[str, Any] | None = None
    streaming: Streaming | None = None
    # Spiking models: silent-neuron fraction and firing rate on the validation split at
    # initialisation and with the selected weights (spikebench.training.diagnostics).
    diagnostics: dict[str, Any] | None = None
    provenance: str = ""  # where the row's settings came from, when another run chose them

    @property
    def confusion(self) -> np.ndarray:
        return np.asarray(self.test_confusion, dtype=np.float64)


@dataclass(frozen=True)
class Binning:
    """How events became frames: ``dt`` bin width (s), ``t_max`` window (s), ``pool``
    channels summed per input, ``binary`` counts clipped to 0/1."""

    dt: float
    t_max: float
    pool: int
    binary: bool


@dataclass(frozen=True)
class DatasetRecord:
    """The data a run used: files, split sizes, class names, held-out speakers, binning."""

    name: str  # digits, shd, ssc or the folder's file prefix
    train_file: str
    test_file: str
    valid_file: str | None  # an official validation file (SSC) instead of held-out speakers
    n_train: int  # samples after the validation speakers were taken out
    n_val: int
    n_test: int
    n_classes: int
    keys: tuple[str, ...]  # class names, by label
    val_speakers: tuple[int, ...]  # speakers held out of the training file for validation
    bin: Binning


@dataclass(frozen=True)
class RunRecord:
    """A whole run: provenance, data set and one :class:`ModelRecord` per trained model."""

    spikebench_version: str
    experiment: str
    command: str
    created: str  # ISO 8601, UTC
    git_revision: str | None
    environment: dict[str, Any]
    protocol: str
    dataset: DatasetRecord
    models: tuple[ModelRecord, ...] = ()
    resumed: tuple[str, ...] = ()  # the commands that continued the run
    search: dict[str, Any] | None = None  # written by spikebench.tuning.study
    schema_version: int = SCHEMA_VERSION

    def model(self, name: str) -> ModelRecord:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)


def results_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / FILENAME


def save_run(run_dir: str | Path, record: RunRecord) -> Path:
    """Write ``record`` to ``run_dir/results.json`` atomically; return the path."""
    path = results_path(run_dir)
    write_json_atomic(path, dataclasses.asdict(record))
    return path


def load_run(run_dir: str | Path) -> RunRecord:
    """Read and validate ``run_dir/results.json``."""
    path = results_path(run_dir)
    if not Path(run_dir).is_dir():
        raise DataError(f"{run_dir}: not a directory (expected a run directory with {FILENAME})")
    if not path.is_file():
        raise DataError(f"{path}: not found (is {run_dir} a spikebench run directory?)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    version = raw.get("schema_version", 1)
    if version != SCHEMA_VERSION:
        raise DataError(f"{path}: schema_version {version!r} is not one this spikebench "
                        f"reads ({SCHEMA_VERSION}); open it with the version that wrote it")
    models = raw.get("models")
    if not isinstance(models, list):
        raise DataError(f"{path}: field 'models' should be a list of model entries")
    decoded = tuple(_decode_model(m, f"{path}: models[{i}]") for i, m in enumerate(models))
    record = _build(RunRecord, {**raw, "schema_version": version, "models": []}, str(path), "")
    return dataclasses.replace(record, models=decoded)


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


def save_samples(run_dir: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write the events of a few test inputs (``times``, ``units``, ``offsets``, ``labels``,
    ``keys``) to ``run_dir/samples.npz`` atomically; return the path."""
    path = Path(run_dir) / SAMPLES
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def load_samples(run_dir: str | Path) -> Samples | None:
    """Read ``run_dir/samples.npz`` (``None`` when there is none)."""
    path = Path(run_dir) / SAMPLES
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


# --- reading ------------------------------------------------------------------------------

def _decode_model(raw: Any, where: str) -> ModelRecord:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        where = f"{where} ({raw['name']})"
    if isinstance(raw, dict) and raw.get("reference", 0) is None:  # files before version 1
        raw = {k: v for k, v in raw.items() if k != "reference"}
    record = _build(ModelRecord, raw, where, "")
    k = len(record.test_confusion)
    if k == 0 or any(len(row) != k for row in record.test_confusion) or \
            any(c < 0 for row in record.test_confusion for c in row):
        raise DataError(f"{where}: field 'test_confusion' should be a square matrix of counts")
    if record.selected_on not in SELECTED_ON:
        raise DataError(f"{where}: field 'selected_on' should be one of "
                        f"{', '.join(SELECTED_ON)}, got {record.selected_on!r}")
    return record


def _build(cls: type, raw: Any, where: str, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise DataError(f"{where}: field '{prefix.rstrip('.') or 'record'}' should be a JSON "
                        f"object, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise DataError(f"{where}: unknown field {', '.join(repr(prefix + k) for k in unknown)}")
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DataError(f"{where}: missing field {key!r}")
            continue
        kwargs[name] = _value(hints[name], raw[name], where, key, _check_for(name))
    return cls(**kwargs)


def _bad(where: str, key: str, expected: str, value: Any) -> DataError:
    return DataError(f"{where}: field {key!r} should be {expected}, got {value!r}")


def _value(tp: Any, v: Any, where: str, key: str, check: str | None) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if v is None:
            if len(args) < len(typing.get_args(tp)):
                return None
            raise _bad(where, key, "set", v)
        return _value(args[0], v, where, key, check)
    if tp is Any:
        return v
    if dataclasses.is_dataclass(tp):
        return _build(tp, v, where, key + ".")
    if origin is tuple:
        item = typing.get_args(tp)[0]
        if not isinstance(v, list):
            raise _bad(where, key, "a list", v)
        return tuple(_value(item, x, where, key, check) for x in v)
    if origin is dict:
        if not isinstance(v, dict):
            raise _bad(where, key, "a JSON object", v)
        return dict(v)
    if tp is bool:
        if not isinstance(v, bool):
            raise _bad(where, key, "true or false", v)
        return v
    if tp is str:
        if not isinstance(v, str):
            raise _bad(where, key, "a string", v)
        return v
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
            raise _bad(where, key, "an integer", v)
        return int(v)
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _bad(where, key, "a finite number", v)
        if check == "fraction" and not 0.0 <= v <= 1.0:
            raise _bad(where, key, "a fraction in [0, 1]", v)
        if check == "nonneg" and v < 0:
            raise _bad(where, key, "a number >= 0", v)
        return float(v)
    raise TypeError(f"record: unsupported field type {tp!r}")  # a bug here, not in the file
