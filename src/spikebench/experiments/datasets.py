"""Which files an experiment trains on, and the binned train / validation / test splits.

``--dataset`` names: ``digits`` (the embedded spoken-digits set, made on first use under
``data_root()/digits``), ``shd`` / ``ssc`` (the official files, fetched beforehand with
``spikebench data fetch``), or a folder holding ``<name>_train.h5`` and
``<name>_test.h5`` (and optionally ``<name>_valid.h5``) in the SHD schema.

Validation is the data set's own validation file when it has one (SSC); otherwise whole
speakers held out of the training file (``spikebench.data.splits.speaker_holdout``), so
no speaker of the validation split is seen in training. The number of classes comes from
the training file; the test file is only read here (binned; its channel count and labels
checked against the training file) and evaluated once, at the end of training. Binned
splits are ``[T, B, C]`` time-major.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spikebench.errors import ConfigError, DataError
from spikebench.experiments.config import DataSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetFiles:
    """The HDF5 files (SHD schema) of one data set."""

    name: str
    train: Path
    test: Path
    valid: Path | None = None


@dataclass(frozen=True)
class PreparedData:
    """Binned splits ready for training (``BinnedSplit`` objects) and what describes them."""

    files: DatasetFiles
    train: Any
    val: Any
    test: Any
    n_classes: int
    keys: tuple[str, ...]
    val_speakers: tuple[int, ...]

    @property
    def n_steps(self) -> int:
        return self.train.n_steps

    @property
    def n_channels(self) -> int:
        return self.train.n_channels


def _folder_dataset(folder: Path) -> DatasetFiles:
    if not folder.is_dir():
        raise ConfigError(f"--dataset {folder}: not digits, shd, ssc or an existing folder")
    names = sorted(p.name[: -len("_train.h5")] for p in folder.glob("*_train.h5"))
    complete = [n for n in names if (folder / f"{n}_test.h5").is_file()]
    if not complete:
        raise DataError(f"{folder}: no <name>_train.h5 with a matching <name>_test.h5")
    if len(complete) > 1:
        raise DataError(f"{folder}: several data sets ({', '.join(complete)}); "
                        "put each pair in its own folder")
    name = complete[0]
    valid = folder / f"{name}_valid.h5"
    return DatasetFiles(name, folder / f"{name}_train.h5", folder / f"{name}_test.h5",
                        valid if valid.is_file() else None)


def _fetched_dataset(name: str, root: Path) -> DatasetFiles:
    for folder in (root / name, root):
        train, test = folder / f"{name}_train.h5", folder / f"{name}_test.h5"
        if train.is_file() and test.is_file():
            valid = folder / f"{name}_valid.h5"
            return DatasetFiles(name, train, test, valid if valid.is_file() else None)
    raise DataError(f"{name.upper()} is not under {root / name}: run "
                    f"`spikebench data fetch {name} --root {root}` first")


def resolve_dataset(dataset: str, root: str | Path | None = None, *,
                    progress: Any = None) -> DatasetFiles:
    """The files for ``dataset`` (``digits`` is made here when missing)."""
    from spikebench.data.paths import data_root

    if dataset == "digits":
        from spikebench.audio.digits import make_digits

        train, test = make_digits(data_root(root) / "digits", progress=progress)
        return DatasetFiles("digits", Path(train), Path(test))
    if dataset in ("shd", "ssc"):
        return _fetched_dataset(dataset, data_root(root))
    return _folder_dataset(Path(dataset))


def prepare_data(files: DatasetFiles, spec: DataSpec, *, seed: int = 0,
                 cache_dir: str | Path | None = None, include_test: bool = True) -> PreparedData:
    """Bin the files by ``spec`` (cached) and hold out validation speakers.

    ``include_test=False`` (a hyper-parameter search) never opens the test file and leaves
    ``test`` as ``None``.
    """
    from spikebench.data.binning import BinSpec
    from spikebench.data.splits import speaker_holdout

    bins = BinSpec(dt=spec.dt, t_max=spec.t_max, pool=spec.pool, binary=spec.binary)
    roles = [("training", files.train), ("test", files.test if include_test else None),
             ("validation", files.valid)]
    for role, path in roles:  # every file, before any is binned (and cached)
        if path is not None:
            _check_not_empty(path, role)
    full = _load(files.train, bins, cache_dir)
    test = _load(files.test, bins, cache_dir) if include_test else None
    if files.valid is not None:
        train, val = full, _load(files.valid, bins, cache_dir)
    else:
        train_idx, val_idx = speaker_holdout(
            full.speakers, n_val_speakers=spec.n_val_speakers or None,
            val_fraction=spec.val_fraction, seed=seed,
        )
        if len(train_idx) == 0 or len(val_idx) == 0:
            raise DataError(f"{files.train}: cannot hold out whole speakers for validation "
                            f"({len(np.unique(full.speakers))} speaker(s) in the file)")
        train, val = full.subset(train_idx), full.subset(val_idx)
    # The classes come from the training file (and its validation file); the test file's
    # labels are only checked against them, never used to size the models.
    labels = np.concatenate([np.asarray(s.labels) for s in (train, val)])
    keys = tuple(full.keys)
    n_classes = max(len(keys), int(labels.max()) + 1)
    if test is not None and test.n_channels != train.n_channels:
        raise DataError(f"{files.test}: {test.n_channels} channels, but {files.train} has "
                        f"{train.n_channels}")
    test_labels = np.asarray(test.labels) if test is not None else np.zeros(0, np.int64)
    if len(test_labels) and int(test_labels.max()) >= n_classes:
        raise DataError(f"{files.test}: label {int(test_labels.max())} is not a class of "
                        f"{files.train} ({n_classes} classes)")
    return PreparedData(files, train, val, test, n_classes, keys,
                        tuple(int(s) for s in np.unique(val.speakers)))


def _check_not_empty(path: Path, role: str) -> None:
    """A split file with no samples is refused before anything is trained on it."""
    from spikebench.data.shd import count_samples

    if count_samples(path) == 0:
        raise DataError(f"{path}: the {role} file holds no samples")


def _load(path: Path, bins: Any, cache_dir: str | Path | None) -> Any:
    """The binned split of ``path``; warns once when events beyond ``t_max`` are dropped."""
    from spikebench.data.cache import load_binned

    split = load_binned(path, bins, cache_dir)
    if split.n_dropped:
        total = split.n_events + split.n_dropped
        log.warning("%s: %d of %d events (%.2f%%) lie at or after data.t_max = %g s and are "
                    "dropped; raise data.t_max (--set data.t_max=...) to keep them",
                    path, split.n_dropped, total, 100 * split.n_dropped / total, bins.t_max)
    return split


def sample_events(path: Path, n: int) -> dict[str, np.ndarray]:
    """Events of ``n`` samples of the file at ``path`` (distinct classes first) for spike rasters.

    Returns ``times`` (float32 s), ``units``, ``offsets`` [n + 1], ``labels``, ``keys``.
    """
    from spikebench.data.shd import read_shd

    data = read_shd(path)
    _, first = np.unique(data.labels, return_index=True)
    firsts = set(first.tolist())
    order = sorted(firsts) + [i for i in range(len(data)) if i not in firsts]
    chosen = order[: min(n, len(data))]
    times, units = zip(*(data.sample(i) for i in chosen)) if chosen else ((), ())
    lengths = [len(t) for t in times]
    return {
        "times": np.concatenate(times).astype(np.float32) if chosen else np.zeros(0, np.float32),
        "units": np.concatenate(units).astype(np.uint16) if chosen else np.zeros(0, np.uint16),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "labels": np.asarray(data.labels)[chosen].astype(np.int64),
        "keys": np.asarray(data.keys, dtype=str),
    }
