"""The search space of ``spikebench tune``, declared in the experiment's ``[search]`` table.

::

    [search]
    model = "snn"              # the model whose settings are searched (only it is trained)
    pruner = "median"          # median | hyperband (``--pruner`` overrides)
    startup_trials = 4         # random trials before TPE models the results; the median
                               # pruner also waits for this many finished trials
    [search.space]
    "models.snn.lr"             = { type = "float", low = 1e-4, high = 1e-2, log = true }
    "models.snn.hidden"         = { type = "int", low = 64, high = 512, step = 64 }
    "models.snn.hparams.tau_mem" = { type = "float", low = 5e-3, high = 5e-2, log = true }
    "data.dt"                   = { type = "categorical", choices = [0.005, 0.01, 0.02] }

Each key is a ``--set`` key of the experiment (:func:`spikebench.experiments.config.apply_overrides`),
so a trial is the experiment with one ``--set`` per searched parameter, and the best trial
is a plain experiment file. Every key is checked when the search is loaded, by applying
the lowest value (first choice) of every parameter and validating the result; a key the
experiment does not have is a :class:`~spikebench.errors.ConfigError` naming it. Times
are in seconds, as everywhere in the experiment file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import tomli_w

from spikebench.errors import ConfigError
from spikebench.experiments.config import ExperimentConfig, apply_overrides, config_from_dict

PRUNERS = ("median", "hyperband")
_TYPES = ("float", "int", "categorical")
_PARAM_KEYS = {"type", "low", "high", "log", "step", "choices"}


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter: ``key`` (a ``--set`` key) and its distribution."""

    key: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def first(self) -> Any:
        return self.choices[0] if self.type == "categorical" else self.low

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter from an Optuna ``trial`` (its name is the key)."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log, step=self.step or 1)
        return trial.suggest_categorical(self.key, list(self.choices))


@dataclass(frozen=True)
class SearchSpec:
    """A validated ``[search]`` table."""

    model: str
    params: tuple[ParamSpec, ...]
    pruner: str = "median"
    startup_trials: int = 4

    def overrides(self, values: dict[str, Any]) -> list[str]:
        """``--set`` items for one trial's parameter values."""
        return [f"{k}={_toml_value(v)}" for k, v in values.items()]


def _toml_value(value: Any) -> str:
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def _number(value: Any, where: str, integer: bool) -> float | int:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value):
        raise ConfigError(f"{where}: expected {'an integer' if integer else 'a number'}, got {value!r}")
    return value


def _param(key: str, raw: Any, where: str) -> ParamSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table such as {{ type = \"float\", low = 1e-4, "
                          f"high = 1e-2, log = true }}, got {raw!r}")
    unknown = sorted(set(raw) - _PARAM_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(_PARAM_KEYS))}")
    kind = raw.get("type")
    if kind not in _TYPES:
        raise ConfigError(f"{where}.type: expected one of {', '.join(_TYPES)}, got {kind!r}")
    if kind == "categorical":
        extra = sorted(set(raw) & {"low", "high", "log", "step"})
        if extra:
            raise ConfigError(f"{where}: a categorical parameter takes only choices, not "
                              f"{', '.join(extra)}")
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices: expected a non-empty list, got {choices!r}")
        if len({repr(c) for c in choices}) != len(choices):
            raise ConfigError(f"{where}.choices: repeated choice in {choices!r}")
        return ParamSpec(key, kind, choices=tuple(choices))
    if "choices" in raw:
        raise ConfigError(f"{where}: choices belong to a categorical parameter, not {kind}")
    integer = kind == "int"
    for k in ("low", "high"):
        if k not in raw:
            raise ConfigError(f"{where}: missing key {k}")
    low = _number(raw["low"], f"{where}.low", integer)
    high = _number(raw["high"], f"{where}.high", integer)
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log: expected true or false, got {log!r}")
    step = raw.get("step")
    if step is not None:
        step = _number(step, f"{where}.step", integer)
        if step <= 0:
            raise ConfigError(f"{where}.step must be > 0, got {step}")
        if log and (not integer or step != 1):
            raise ConfigError(f"{where}: step and log = true cannot be combined")
    if not low < high:
        raise ConfigError(f"{where}: need low < high, got low={low}, high={high}")
    if log and low <= 0:
        raise ConfigError(f"{where}: log = true needs low > 0, got {low}")
    return ParamSpec(key, kind, low=low, high=high, log=log, step=step)


def parse_search(cfg: ExperimentConfig, source: str = "experiment") -> SearchSpec:
    """Validate ``cfg.search`` (the ``[search]`` table) against ``cfg``."""
    raw = dict(cfg.search)
    where = f"{source}: search"
    if not raw:
        raise ConfigError(f"{source}: the experiment has no [search] table; add one with "
                          "model = \"NAME\" and a [search.space]"
                          " (see spikebench/configs/tune_snn.toml)")
    unknown = sorted(set(raw) - {"model", "pruner", "startup_trials", "space"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {', '.join(unknown)}; valid: model, pruner, "
                          "startup_trials, space")
    names = [m.name for m in cfg.models]
    model = raw.get("model")
    if model not in names:
        raise ConfigError(f"{where}.model: expected one of the experiment's models "
                          f"({', '.join(names)}), got {model!r}")
    pruner = raw.get("pruner", "median")
    if pruner not in PRUNERS:
        raise ConfigError(f"{where}.pruner: expected one of {', '.join(PRUNERS)}, got {pruner!r}")
    startup = raw.get("startup_trials", 4)
    if isinstance(startup, bool) or not isinstance(startup, int) or startup < 0:
        raise ConfigError(f"{where}.startup_trials: expected an integer >= 0, got {startup!r}")
    space = raw.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{where}.space: expected a table of parameters, e.g. "
                          f"\"models.{model}.lr\" = {{ type = \"float\", low = 1e-4, high = 1e-2, "
                          "log = true }")
    params = tuple(_param(k, v, f"{where}.space.\"{k}\"") for k, v in space.items())
    for p in params:
        if p.key.split(".")[0] in ("search", "select", "name", "models") and not (
                p.key.startswith(f"models.{model}.") and len(p.key.split(".")) >= 3):
            raise ConfigError(f"{where}.space: {p.key!r} cannot be searched; use data.* or "
                              f"models.{model}.* keys (or other experiment settings)")
    spec = SearchSpec(model, params, pruner, startup)
    trial_config(cfg, spec, {p.key: p.first() for p in params}, source=f"{where}.space")
    return spec


def trial_config(cfg: ExperimentConfig, spec: SearchSpec, values: dict[str, Any], *,
                 source: str = "trial") -> ExperimentConfig:
    """The experiment for one trial: ``values`` applied, only the searched model selected,
    no ``[search]`` table (so it is also the ready-to-run best configuration)."""
    raw = cfg.to_dict()
    raw["models"] = list(raw["models"])
    raw["search"] = {}
    raw["select"] = [spec.model]
    return config_from_dict(apply_overrides(raw, spec.overrides(values)), source)
