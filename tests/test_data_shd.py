"""read_shd / write_shd: exact round trip, the SHD schema, and one-line errors on bad files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from spikebench.data.shd import SpikeData, read_shd, write_shd
from spikebench.data.synthetic import make_synthetic
from spikebench.errors import DataError


def _small(n: int = 12, seed: int = 3) -> SpikeData:
    return make_synthetic(n, n_classes=4, n_speakers=3, mean_events=50.0, seed=seed)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    data = _small()
    path = tmp_path / "x.h5"
    write_shd(path, data)
    back = read_shd(path)
    for name in ("times", "units", "offsets", "labels", "speakers"):
        a, b = getattr(data, name), getattr(back, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert back.keys == data.keys
    assert back.meta.keys() == data.meta.keys()
    for name in data.meta:
        np.testing.assert_array_equal(back.meta[name], data.meta[name])
    assert not list(tmp_path.glob("*.part"))


def test_written_file_has_the_shd_schema(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    write_shd(path, _small())
    with h5py.File(path, "r") as f:
        assert h5py.check_vlen_dtype(f["spikes/times"].dtype) == np.float16
        assert h5py.check_vlen_dtype(f["spikes/units"].dtype) == np.uint16
        assert f["labels"].dtype == np.uint16
        assert f["extra/speaker"].dtype == np.uint16
        assert [k.decode() for k in f["extra/keys"][()]] == ["zero", "one", "two", "three"]
        assert set(f["extra/meta_info"]) == {"gender", "age", "body_height"}


def test_float16_times_widen_before_arithmetic(tmp_path: Path) -> None:
    data = _small()
    path = tmp_path / "x.h5"
    write_shd(path, data)
    back = read_shd(path)
    assert back.times.dtype == np.float32
    assert np.isfinite(back.times * 1e6).all()  # float16 * 1e6 would overflow to inf


def test_loads_with_tonic(tmp_path: Path) -> None:
    tonic = pytest.importorskip("tonic")
    folder = tmp_path / "SHD"
    folder.mkdir()
    data = _small()
    write_shd(folder / "shd_train.h5", data)
    (folder / "shd_train.h5.zip").write_bytes(b"")  # tonic only checks that the archive exists
    ds = tonic.datasets.SHD(str(tmp_path), train=True)
    assert len(ds) == len(data)
    for i in (0, len(data) - 1):
        events, target = ds[i]
        times, units = data.sample(i)
        assert target == data.labels[i]
        np.testing.assert_array_equal(events["x"], units)
        np.testing.assert_allclose(events["t"], np.asarray(times, np.float64) * 1e6, rtol=0, atol=1)
    assert [k.decode() if isinstance(k, bytes) else k for k in ds.classes] == list(data.keys)


def test_synthetic_is_deterministic_and_learnable(tiny_shd: dict[str, Path]) -> None:
    a = make_synthetic(30, seed=5, mean_events=100.0)
    b = make_synthetic(30, seed=5, mean_events=100.0)
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.units, b.units)

    def features(d: SpikeData) -> np.ndarray:
        sample = np.repeat(np.arange(len(d)), d.counts())
        t = np.minimum((d.times / 0.2).astype(int), 5)
        c = d.units.astype(int) // 50
        flat = sample * 6 * 14 + t * 14 + c
        x = np.bincount(flat, minlength=len(d) * 84).reshape(len(d), 84).astype(float)
        return x / np.maximum(x.sum(1, keepdims=True), 1)

    train, test = read_shd(tiny_shd["train"]), read_shd(tiny_shd["test"])
    assert len(train) == 300 and len(test) == 100 and len(train.keys) == 20
    assert len(np.unique(train.speakers)) > 3
    xtr, xte = features(train), features(test)
    centroids = np.stack([xtr[train.labels == k].mean(0) for k in range(20)])
    pred = np.argmin(((xte[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (pred == test.labels).mean() > 0.5  # chance is 0.05


GOOD = dict(times=[[0.1, 0.2], [0.3]], units=[[1, 2], [3]], labels=[0, 1], keys=["a", "b"])


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (dict(units=[[1, 2], [700]]), "sample 1: unit 700 >= channel count 700"),
        (dict(times=[[0.1, -0.2], [0.3]]), "sample 0: spike time"),
        (dict(times=[[0.1, 0.2], [float("nan")]]), "sample 1: spike time nan"),
        (dict(units=[[1], [3]]), "sample 0: 2 spike times but 1 units"),
        (dict(labels=[0, 2]), "sample 1: label 2 outside the 2 keys"),
    ],
)
def test_bad_content_names_file_sample_and_problem(
    tmp_path: Path, raw_shd, change: dict, needle: str
) -> None:
    path = tmp_path / "bad.h5"
    raw_shd(path, **{**GOOD, **change})
    with pytest.raises(DataError) as info:
        read_shd(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and needle in msg


def test_bad_files(tmp_path: Path, raw_shd) -> None:
    good = tmp_path / "good.h5"
    raw_shd(good, **GOOD)
    assert len(read_shd(good)) == 2

    cases = {}
    cases["file not found"] = tmp_path / "missing.h5"
    text = tmp_path / "text.h5"
    text.write_text("hello, not hdf5\n")
    cases["not an HDF5 file"] = text
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["truncated"] = trunc
    nogroup = tmp_path / "nogroup.h5"
    with h5py.File(nogroup, "w") as f:
        f.create_dataset("labels", data=[0])
    cases["missing 'spikes/times'"] = nogroup
    for needle, path in cases.items():
        with pytest.raises(DataError) as info:
            read_shd(path)
        msg = str(info.value)
        assert "\n" not in msg and str(path) in msg and needle in msg, msg


def test_write_refuses_invalid_data_and_leaves_nothing(tmp_path: Path) -> None:
    data = _small()
    bad = SpikeData(
        times=data.times, units=data.units, offsets=data.offsets,
        labels=np.full_like(data.labels, 99), speakers=data.speakers, keys=data.keys,
    )  # fmt: skip
    path = tmp_path / "x.h5"
    with pytest.raises(DataError, match="label 99"):
        write_shd(path, bad)
    assert list(tmp_path.iterdir()) == []


def test_subset_keeps_events(tmp_path: Path) -> None:
    data = _small()
    sub = data.subset(np.array([5, 1]))
    np.testing.assert_array_equal(sub.sample(0)[0], data.sample(5)[0])
    np.testing.assert_array_equal(sub.sample(1)[1], data.sample(1)[1])
    assert list(sub.labels) == [data.labels[5], data.labels[1]]


def test_ssc_layout_without_meta_round_trips(tmp_path: Path) -> None:
    data = make_synthetic(15, n_classes=35, n_speakers=4, mean_events=30.0, seed=4)
    ssc = SpikeData(
        times=data.times, units=data.units, offsets=data.offsets, labels=data.labels,
        speakers=data.speakers, keys=data.keys,
    )  # fmt: skip
    path = tmp_path / "ssc_valid.h5"
    write_shd(path, ssc)
    back = read_shd(path)
    assert back.meta == {} and back.keys == tuple(f"class-{i}" for i in range(35))
    with h5py.File(path, "r") as f:
        assert "meta_info" not in f["extra"]
    np.testing.assert_array_equal(back.times, ssc.times)


def test_reads_fixed_size_rows_like_tonic_fixtures(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    times = rng.random((5, 100)).astype(np.float16)
    units = (rng.random((5, 100)) * 700).astype(np.uint16)
    path = tmp_path / "fixed.h5"
    with h5py.File(path, "w") as f:
        f["spikes/times"], f["spikes/units"] = times, units
        f["labels"], f["extra/keys"] = [1] * 5, ["zero", "one"]
        f["extra/speaker"] = np.zeros(5, np.uint16)
    data = read_shd(path)
    assert len(data) == 5 and data.keys == ("zero", "one")
    np.testing.assert_array_equal(data.sample(3)[0], times[3].astype(np.float32))
    np.testing.assert_array_equal(data.sample(4)[1], units[4])
