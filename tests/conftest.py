"""Shared fixtures: tiny SHD-schema files generated on the spot (no download)."""

from __future__ import annotations

from pathlib import Path

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
