"""Shared fixtures: tiny SHD-schema files generated on the spot (no download)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from spikebench.data.shd import write_shd
from spikebench.data.synthetic import make_synthetic


@pytest.fixture(scope="session")
def tiny_shd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``tiny_train.h5`` (300 samples) and ``tiny_test.h5`` (100) in one folder.

    20 classes, 6 speakers, SHD schema, the same learnable task in both files (same
    structure seed, different sample seeds). The folder works as ``--dataset DIR``.
    """
    folder = tmp_path_factory.mktemp("tiny_shd")
    train = folder / "tiny_train.h5"
    test = folder / "tiny_test.h5"
    common = dict(n_classes=20, n_speakers=6, structure_seed=0, mean_events=800.0)
    write_shd(train, make_synthetic(300, seed=1, **common))
    write_shd(test, make_synthetic(100, seed=2, **common))
    return {"train": train, "test": test}


def write_raw_shd(
    path: Path,
    times: list[list[float]],
    units: list[list[int]],
    labels: list[int],
    keys: list[str],
) -> Path:
    """Write an SHD-schema file as given, without validation (for bad-input tests)."""
    with h5py.File(path, "w") as f:
        for name, rows, dtype in (("times", times, np.float16), ("units", units, np.uint16)):
            ragged = np.empty(len(rows), dtype=object)
            for i, row in enumerate(rows):
                ragged[i] = np.asarray(row, dtype)
            f.create_dataset(f"spikes/{name}", data=ragged, dtype=h5py.vlen_dtype(dtype))
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        f.create_dataset("extra/speaker", data=np.zeros(len(labels), np.uint16))
        f.create_dataset("extra/keys", data=keys)
    return path


@pytest.fixture()
def raw_shd() -> Callable[..., Path]:
    """``raw_shd(path, times, units, labels, keys)`` writes a possibly malformed file."""
    return write_raw_shd
