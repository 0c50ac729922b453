"""Experiments as typed, frozen configs loaded from TOML files.

A named experiment is a TOML file shipped inside the package (``spikebench/configs/<name>.toml``,
in the source tree ``src/spikebench/configs/``) and read through :mod:`importlib.resources`,
so names work from an installed wheel as from a checkout; any other ``.toml`` path is read
as is. The file is validated into :class:`ExperimentConfig` before anything runs: an
unknown key, a value of the wrong type or an out-of-range value is a
:class:`~spikebench.errors.ConfigError` naming the key. ``--set key=value``
overrides use dotted keys into the same structure, with models addressed by name::

    seed=3                      data.dt=0.005             inference.batch_size=64
    models.snn_p1.epochs=2      models.*.epochs=1         models.cnn.hparams.dropout=0.1
    select=snn_p1,cnn           (run only these models, in file order)

Values are parsed as TOML (``2``, ``1e-3``, ``true``, ``"x"``, ``[1, 2]``); anything that
is not valid TOML is taken as a string. Times are in seconds.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import tomli_w

from spikebench.errors import ConfigError
from spikebench.record import Reference

CONFIG_PACKAGE = "spikebench"
CONFIG_SUBDIR = "configs"


def _config_dir() -> Traversable:
    return importlib.resources.files(CONFIG_PACKAGE) / CONFIG_SUBDIR


def list_experiments() -> list[str]:
    """Names of the experiments shipped with the package (``seed``, ``sota``, ...), sorted."""
    return sorted(entry.name[:-len(".toml")] for entry in _config_dir().iterdir()
                  if entry.name.endswith(".toml") and entry.is_file())


@dataclass(frozen=True)
class ModelSpec:
    """One model of an experiment: what to build and how to train it.

    ``model`` is a registry name (``spikebench.models.list_models()``), ``hidden`` the
    width of its hidden layer (filters for the CNN), ``engine`` the spiking
    layers' implementation (:class:`spikebench.engine.engines.Engine`: ``fused``, ``torch``,
    ``norse``, ``numba``, ``triton``; ``None`` for models without one), ``hparams``
    further options of the model builder, ``seed`` (default: the experiment's seed)
    fixes initialisation, dropout and data order.

    Recipe options (all off by default): ``weight_decay`` (decoupled, AdamW, when > 0),
    ``augment`` (training-batch augmentations, :mod:`spikebench.training.augment`),
    ``selection`` (``"last"``: the model after the last epoch; ``"best_val"``: the epoch
    with the highest validation accuracy, earliest on ties; the test split is evaluated
    once, after training, with the selected weights), ``n_seeds`` (train and test with
    seeds ``seed .. seed + n_seeds - 1``; results.json then gives mean and std).
    ``provenance``: where the settings came from when another run chose them (shown in
    the report).
    """

    name: str
    model: str
    label: str = ""
    phase: int = 1
    hidden: int = 128
    lr: float = 1e-3
    epochs: int = 1
    batch_size: int = 128
    engine: str | None = None
    schedule: str = "constant"
    seed: int | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    reference: Reference | None = None
    weight_decay: float = 0.0
    augment: dict[str, Any] = field(default_factory=dict)
    selection: str = "last"
    n_seeds: int = 1
    provenance: str = ""


@dataclass(frozen=True)
class DataSpec:
    """How events become tensors and how validation is held out.

    ``dt`` bin width (s), ``t_max`` window (s), ``pool`` channels summed per input,
    ``binary`` clip counts to 0/1; validation holds out ``n_val_speakers`` whole speakers
    of the training file (0: a ``val_fraction`` of the speakers) unless the data set
    ships its own validation file.
    """

    dt: float = 0.01
    t_max: float = 1.0
    pool: int = 1
    binary: bool = False
    val_fraction: float = 0.2
    n_val_speakers: int = 0


@dataclass(frozen=True)
class InferenceSpec:
    """Inference timing: fixed ``batch_size``, ``warmup_batches`` excluded,
    ``max_batches`` timed (0: the whole test split), ``latency_samples`` single samples."""

    batch_size: int = 128
    warmup_batches: int = 2
    max_batches: int = 0
    latency_samples: int = 16


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment: data handling, timing protocol and the models to compare.

    ``search`` is the optional ``[search]`` table of ``spikebench tune`` (validated by
    :mod:`spikebench.tuning.space`); ``spikebench run`` ignores it.
    """

    name: str
    models: tuple[ModelSpec, ...]
    description: str = ""
    dataset: str = "digits"
    seed: int = 0
    protocol: str = ""
    n_samples: int = 4
    select: tuple[str, ...] = ()
    data: DataSpec = DataSpec()
    inference: InferenceSpec = InferenceSpec()
    search: dict[str, Any] = field(default_factory=dict)

    def selected_models(self) -> tuple[ModelSpec, ...]:
        if not self.select:
            return self.models
        return tuple(m for m in self.models if m.name in self.select)

    def model_seed(self, spec: ModelSpec) -> int:
        return self.seed if spec.seed is None else spec.seed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(_drop_none(self.to_dict()))


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_drop_none(v) for v in obj]
    return obj


# --- validation -------------------------------------------------------------------------

_POSITIVE = {"epochs", "batch_size", "hidden", "pool", "n_samples", "n_seeds"}
SELECTIONS = ("last", "best_val")


def _check_type(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, where)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return _build(tp, value, where)
    if origin is tuple:
        (item,) = typing.get_args(tp)[:1]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if tp not in _SCALARS:
        raise TypeError(f"unsupported config type {tp!r}")  # a bug here, not the user's
    what, accepts = _SCALARS[tp]
    if not accepts(value):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return float(value) if tp is float else value


#: TOML scalar types: what the error says is expected, and the test (bool is no number).
_SCALARS: dict[type, tuple[str, Any]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    prefix = f"{where}." if where else ""
    if unknown:
        raise ConfigError(
            f"unknown key {', '.join(prefix + k for k in unknown)}; "
            f"valid keys{' in ' + where if where else ''}: {', '.join(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name in raw:
            value = _check_type(raw[name], hints[name], prefix + name)
            if name in _POSITIVE and isinstance(value, int) and value < 1:
                raise ConfigError(f"{prefix}{name} must be >= 1, got {value}")
            kwargs[name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {prefix}{name}")
    return cls(**kwargs)


def _validate_semantics(cfg: ExperimentConfig, source: str) -> None:
    from spikebench.engine.engines import CHOICES as ENGINES
    from spikebench.models.registry import list_models, model_hparams
    from spikebench.training.augment import parse_augment
    from spikebench.training.loop import LR_SCHEDULES

    if not cfg.models:
        raise ConfigError(f"{source}: the experiment lists no [[models]]")
    names = [m.name for m in cfg.models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: model names must be unique; repeated: {', '.join(dupes)}")
    for n in cfg.select:
        if n not in names:
            raise ConfigError(f"{source}: select names unknown model {n!r}; models: {', '.join(names)}")
    d = cfg.data
    if d.dt <= 0 or d.t_max <= 0 or d.dt > d.t_max:
        raise ConfigError(f"{source}: need 0 < data.dt <= data.t_max, got dt={d.dt}, t_max={d.t_max}")
    if not 0.0 < d.val_fraction < 1.0:
        raise ConfigError(f"{source}: data.val_fraction must be in (0, 1), got {d.val_fraction}")
    inf = cfg.inference
    if inf.batch_size < 1 or inf.warmup_batches < 0 or inf.max_batches < 0 or inf.latency_samples < 1:
        raise ConfigError(f"{source}: inference needs batch_size >= 1, warmup_batches >= 0, "
                          "max_batches >= 0, latency_samples >= 1")
    for m in cfg.models:
        where = f"{source}: models.{m.name}"
        if m.model not in list_models():
            raise ConfigError(f"{where}.model: unknown model {m.model!r}; registered: {', '.join(list_models())}")
        valid = model_hparams(m.model)
        bad = sorted(set(m.hparams) - set(valid))
        if bad:
            listed = sorted(set(valid) - {"hidden", "engine"})  # set on the model itself
            raise ConfigError(f"{where}.hparams: unknown option {', '.join(bad)}; "
                              f"valid: {', '.join(listed) or '(none)'}")
        if "hidden" in m.hparams or "engine" in m.hparams:
            raise ConfigError(f"{where}.hparams: set hidden and engine on the model, not in hparams")
        if m.engine is not None and m.engine not in ENGINES:  # a model may take fewer
            raise ConfigError(f"{where}.engine: unknown engine {m.engine!r}; valid: {', '.join(ENGINES)}")
        if m.engine is not None and "engine" not in valid:
            raise ConfigError(f"{where}.engine: model {m.model!r} has no engine option; remove it")
        if m.lr <= 0:
            raise ConfigError(f"{where}.lr must be > 0, got {m.lr}")
        if m.schedule not in LR_SCHEDULES:
            raise ConfigError(f"{where}.schedule: unknown {m.schedule!r}; valid: {', '.join(LR_SCHEDULES)}")
        if m.weight_decay < 0:
            raise ConfigError(f"{where}.weight_decay must be >= 0, got {m.weight_decay}")
        if m.selection not in SELECTIONS:
            raise ConfigError(f"{where}.selection: unknown {m.selection!r}; valid: {', '.join(SELECTIONS)}")
        parse_augment(m.augment, f"{where}.augment")


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML if it parses (numbers, booleans, quoted strings, lists), else the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of the raw config dict with each ``key=value`` applied."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        value = parse_value(text.strip())
        parts = key.split(".")
        if parts[0] == "models":
            if len(parts) < 3:
                raise ConfigError(f"--set {key}: use models.NAME.KEY (NAME a model or *)")
            models = raw.get("models", [])
            targets = models if parts[1] == "*" else [m for m in models if m.get("name") == parts[1]]
            if not targets:
                names = ", ".join(str(m.get("name")) for m in models)
                raise ConfigError(f"--set {key}: no model named {parts[1]!r}; models: {names}")
            for target in targets:
                _set_path(target, parts[2:], value, key)
        else:
            _set_path(raw, parts, value, key)
    return raw


def _set_path(node: dict[str, Any], parts: list[str], value: Any, key: str) -> None:
    for p in parts[:-1]:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {p!r} is not a table")
        node = child
    node[parts[-1]] = value


def config_from_dict(raw: dict[str, Any], source: str = "experiment") -> ExperimentConfig:
    """Validate a raw dict (as read from TOML) into an :class:`ExperimentConfig`."""
    raw = dict(raw)
    raw["models"] = raw.get("models", [])
    if not isinstance(raw["models"], list):
        raise ConfigError(f"{source}: models must be an array of tables ([[models]])")
    try:
        models = [
            _check_type(m, ModelSpec, f"models.{m.get('name', i) if isinstance(m, dict) else i}")
            for i, m in enumerate(raw["models"])
        ]
        cfg = _build(ExperimentConfig, {**raw, "models": ()}, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    cfg = dataclasses.replace(cfg, models=tuple(models))
    _validate_semantics(cfg, source)
    return cfg


def resolve_experiment_path(experiment: str) -> Path | Traversable:
    """``seed`` -> the package's ``configs/seed.toml``; a path to a ``.toml`` file is used as is."""
    path = Path(experiment)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: experiment file not found")
        return path
    resource = _config_dir() / f"{experiment}.toml"
    if "/" in experiment or "\\" in experiment or not resource.is_file():
        raise ConfigError(f"unknown experiment {experiment!r}; known: "
                          f"{', '.join(list_experiments()) or '(none)'} (or give a path to a .toml file)")
    return resource


def read_toml(path: Path | Traversable) -> dict[str, Any]:
    """A TOML file as a dict; a file that is unreadable, not UTF-8 or not TOML is a
    one-line :class:`ConfigError` naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); "
                          "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None


def load_experiment(experiment: str, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read an experiment by name or path, apply ``--set`` overrides, validate.

    A problem the file has alone names the file; one that only the overrides bring names
    the ``--set`` option(s) without which the experiment is valid.
    """
    path = resolve_experiment_path(experiment)
    raw = read_toml(path)
    base = config_from_dict(raw, str(path))
    if not overrides:
        return base
    changed = apply_overrides(raw, overrides)  # a malformed --set names itself
    try:
        return config_from_dict(changed, "--set")
    except ConfigError as err:
        culprits = [item for i, item in enumerate(overrides)
                    if _valid(raw, [*overrides[:i], *overrides[i + 1:]])]
        blamed = culprits or list(overrides)
        message = str(err).removeprefix("--set: ")
        raise ConfigError(f"{', '.join('--set ' + c for c in blamed)}: {message}") from None


def _valid(raw: dict[str, Any], overrides: list[str]) -> bool:
    try:
        config_from_dict(apply_overrides(raw, overrides))
    except ConfigError:
        return False
    return True


def resolve_experiment(experiment: str, overrides: list[str] | tuple[str, ...] = (), *,
                       dataset: str | None = None, seed: int | None = None,
                       epochs: int | None = None, engine: str | None = None) -> ExperimentConfig:
    """:func:`load_experiment` plus the command line's shortcuts: ``dataset`` (a name or a
    folder, made absolute), ``seed``, ``epochs`` for every model, ``engine`` for every
    model that has one."""
    cfg = load_experiment(experiment, overrides)
    changes: dict[str, Any] = {}
    if dataset is not None:
        known = dataset in ("digits", "shd", "ssc")
        changes["dataset"] = dataset if known else str(Path(dataset).resolve())
    if seed is not None:
        changes["seed"] = seed
    models = cfg.models
    if epochs is not None:
        if epochs < 1:
            raise ConfigError(f"--epochs {epochs}: must be >= 1")
        models = tuple(dataclasses.replace(m, epochs=epochs) for m in models)
    if engine is not None:
        models = tuple(dataclasses.replace(m, engine=engine) if m.engine is not None else m
                       for m in models)
    return dataclasses.replace(cfg, models=models, **changes)
