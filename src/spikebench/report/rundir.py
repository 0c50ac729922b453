"""A run directory as the report reads it: the run record, the config text, the samples.

The report is built from the run directory's files alone: ``results.json`` (required,
read by :func:`spikebench.record.load_run`, its only reader), ``config.toml`` (shown
verbatim when present) and ``samples.npz`` (spike rasters when present,
:func:`spikebench.record.load_samples`). A malformed
file ends in one :class:`~spikebench.errors.DataError` naming the file and the field.
The entries of one experiment model trained over several seeds share ``group``;
:func:`group_models` gathers them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from spikebench.errors import DataError
from spikebench.record import ModelRecord, RunRecord, Samples, load_run, load_samples


@dataclass(frozen=True)
class RunResults:
    """A run directory: its record, ``config.toml`` text and test-input samples."""

    path: Path
    record: RunRecord
    config_text: str | None = None
    samples: Samples | None = None

    @property
    def models(self) -> tuple[ModelRecord, ...]:
        return self.record.models


@dataclass(frozen=True)
class ModelGroup:
    """All entries of one model name (one per seed)."""

    name: str
    runs: tuple[ModelRecord, ...]

    @property
    def first(self) -> ModelRecord:
        return self.runs[0]

    @property
    def n_seeds(self) -> int:
        return len(self.runs)

    def values(self, attr: str) -> list[float]:
        """The non-missing values of a scalar attribute across seeds."""
        return [v for r in self.runs if (v := getattr(r, attr)) is not None]

    def inference_values(self, attr: str) -> list[float]:
        return [v for r in self.runs if (v := getattr(r.inference, attr)) is not None]


def group_models(models: tuple[ModelRecord, ...]) -> list[ModelGroup]:
    """Gather the seeds of each model (same ``group``), in order of first appearance."""
    order: dict[str, list[ModelRecord]] = {}
    for m in models:
        order.setdefault(m.group, []).append(m)
    return [ModelGroup(runs[0].name, tuple(runs)) for runs in order.values()]


def read_run(run_dir: str | Path) -> RunResults:
    """Read ``run_dir``'s results.json (at least one model), config.toml and samples.npz."""
    run_dir = Path(run_dir)
    record = load_run(run_dir)
    if not record.models:
        raise DataError(f"{run_dir / 'results.json'}: field 'models' should be a non-empty "
                        "list of model entries (has the run finished a model?)")
    config_text = None
    cpath = run_dir / "config.toml"
    if cpath.is_file():
        config_text = cpath.read_text(encoding="utf-8", errors="replace")
        try:
            tomllib.loads(config_text)
        except tomllib.TOMLDecodeError as err:
            raise DataError(f"{cpath}: not valid TOML ({err})") from None
    return RunResults(path=run_dir, record=record, config_text=config_text,
                      samples=load_samples(run_dir))
