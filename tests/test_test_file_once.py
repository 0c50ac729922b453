"""The test file sizes nothing: classes come from the training file, rasters from training inputs."""

from __future__ import annotations

import numpy as np
import pytest

from spikebench.data.shd import read_shd, write_shd
from spikebench.data.synthetic import make_synthetic
from spikebench.errors import DataError
from spikebench.experiments.config import DataSpec
from spikebench.experiments.datasets import DatasetFiles, prepare_data, sample_events


def _files(tmp_path, test_classes):
    common = dict(n_speakers=4, structure_seed=0, mean_events=200.0)
    train, test = tmp_path / "x_train.h5", tmp_path / "x_test.h5"
    write_shd(train, make_synthetic(80, seed=1, n_classes=5, **common))
    write_shd(test, make_synthetic(40, seed=2, n_classes=test_classes, **common))
    return DatasetFiles("x", train, test)


def test_classes_come_from_the_training_file(tmp_path):
    data = prepare_data(_files(tmp_path, 3), DataSpec(), seed=0)
    assert data.n_classes == 5  # the test file only holds classes 0..2


def test_a_test_label_unknown_to_the_training_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="x_test.h5: label .* is not a class of"):
        prepare_data(_files(tmp_path, 8), DataSpec(), seed=0)


def test_raster_samples_are_read_from_the_given_file(tmp_path):
    files = _files(tmp_path, 3)
    ev = sample_events(files.train, 4)
    train = read_shd(files.train)
    assert len(ev["labels"]) == 4 and set(ev["labels"]) <= set(np.asarray(train.labels).tolist())
    t0, _ = train.sample(int(np.flatnonzero(np.asarray(train.labels) == ev["labels"][0])[0]))
    np.testing.assert_allclose(ev["times"][: ev["offsets"][1]], np.asarray(t0, np.float32))
