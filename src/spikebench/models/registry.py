"""A registry of models by name (timm style), with each model's metadata.

``@register_model("name", family=..., streamable=..., nir_exportable=...)`` on a builder
``f(*, n_in, n_classes, n_steps, **hparams)`` adds it. One builder may serve several names
(the spiking stack does): ``options`` lists the keyword arguments a name exposes (default:
all) and ``defaults`` overrides the builder's defaults for it. :func:`create_model` builds
a model by name and checks the options, so an unknown name or option is a
:class:`~spikebench.errors.ConfigError` that lists the valid ones instead of being
silently ignored. :func:`model_info` gives the metadata the runner, the report and the
exporter need, so none of them probes a model for attributes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from spikebench.errors import ConfigError
from spikebench.models.base import Model

_REQUIRED = ("n_in", "n_classes", "n_steps")
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, ModelInfo] = {}
_DEFAULTS: dict[str, dict[str, Any]] = {}  # every builder argument, with this name's default
_OPTIONS: dict[str, tuple[str, ...]] = {}  # the arguments a config may set for this name
FAMILIES = ("snn", "ann", "cnn", "hybrid", "stdp")


@dataclass(frozen=True)
class ModelInfo:
    """What the rest of the package may know about a model without building it.

    ``family``: how reports group and describe it (one of :data:`FAMILIES`);
    ``streamable``: a chain of spiking layers ending in a leaky-integrator readout, so
    :mod:`spikebench.training.streaming` can run it one bin at a time;
    ``nir_exportable``: :mod:`spikebench.export.nir` can write it (plain LIF stacks).
    """

    name: str
    family: str
    streamable: bool = False
    nir_exportable: bool = False


def register_model(name: str, *, family: str, streamable: bool = False,
                   nir_exportable: bool = False, options: tuple[str, ...] | None = None,
                   defaults: dict[str, Any] | None = None,
                   ) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``builder`` under ``name`` (names are unique) with its metadata."""
    if family not in FAMILIES:
        raise ValueError(f"model {name!r}: family must be one of {', '.join(FAMILIES)}")

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        params = inspect.signature(builder).parameters
        missing = [p for p in _REQUIRED if p not in params]
        if missing:
            raise TypeError(f"model builder {name!r} must accept {', '.join(missing)}")
        merged = {k: p.default for k, p in params.items() if k not in _REQUIRED}
        stray = sorted({*(options or ()), *(defaults or {})} - set(merged))
        if stray:
            raise TypeError(f"model {name!r}: builder has no argument {', '.join(stray)}")
        merged.update(defaults or {})
        _REGISTRY[name] = builder
        _INFO[name] = ModelInfo(name, family, streamable, nir_exportable)
        _DEFAULTS[name] = merged
        _OPTIONS[name] = tuple(options) if options is not None else tuple(merged)
        return builder

    return decorate


def _load_families() -> None:
    # Importing the family modules runs their @register_model decorators.
    from spikebench.models import ann, cnn, spiking, stdp  # noqa: F401


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_families()
    return sorted(_REGISTRY)


def _known(name: str) -> None:
    _load_families()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")


def model_info(name: str) -> ModelInfo:
    """The metadata model ``name`` was registered with."""
    _known(name)
    return _INFO[name]


def model_hparams(name: str) -> dict[str, Any]:
    """The hyper-parameters model ``name`` accepts, with their defaults."""
    _known(name)
    return {k: _DEFAULTS[name][k] for k in _OPTIONS[name]}


def create_model(name: str, *, n_in: int, n_classes: int, n_steps: int, **hparams: Any) -> nn.Module:
    """Build registered model ``name`` for inputs ``[n_steps, B, n_in]`` and ``n_classes``."""
    valid = model_hparams(name)
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise ConfigError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(sorted(valid)) or '(none)'}"
        )
    try:
        model = _REGISTRY[name](n_in=n_in, n_classes=n_classes, n_steps=n_steps,
                                **{**_DEFAULTS[name], **hparams})
    except (ValueError, TypeError) as err:
        raise ConfigError(f"model {name!r}: {err}") from err
    if not isinstance(model, Model):
        raise TypeError(f"model builder {name!r} must return a spikebench.models.base.Model")
    return model
