"""load_binned cache (keyed by spec and source checksum, atomic, self-healing) and data_root."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikebench.data import cache as cache_mod
from spikebench.data.binning import BinSpec, bin_events
from spikebench.data.cache import load_binned
from spikebench.data.paths import data_root
from spikebench.data.shd import read_shd, write_shd
from spikebench.data.synthetic import make_synthetic
from spikebench.errors import DataError


def test_cache_hit_equals_fresh_binning(
    tiny_shd: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    spec = BinSpec(pool=5)
    first = load_binned(tiny_shd["train"], spec, tmp_path)
    entries = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(entries) == 1 and not list(tmp_path.glob("*.part"))

    def no_binning(*args, **kwargs):
        raise AssertionError("binned again despite a cache entry")

    monkeypatch.setattr(cache_mod, "bin_events", no_binning)
    second = load_binned(tiny_shd["train"], spec, tmp_path)
    fresh = bin_events(read_shd(tiny_shd["train"]), spec)
    idx = np.arange(len(fresh))
    for split in (first, second):
        assert split.keys == fresh.keys and split.n_channels == 140
        assert torch.equal(split.labels, fresh.labels)
        np.testing.assert_array_equal(split.speakers, fresh.speakers)
        assert torch.equal(split.frames(idx), fresh.frames(idx))


def test_cache_key_follows_every_parameter_and_the_content(tmp_path: Path) -> None:
    src = tmp_path / "a_train.h5"
    write_shd(src, make_synthetic(20, n_classes=4, mean_events=40.0, seed=0))
    cache = tmp_path / "cache"
    specs = [BinSpec(), BinSpec(dt=0.02), BinSpec(t_max=0.5), BinSpec(pool=5), BinSpec(binary=True)]
    for spec in specs:
        load_binned(src, spec, cache)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == len(specs)
    before = load_binned(src, BinSpec(), cache).labels.clone()
    # new content under the same name: a new entry, new labels
    write_shd(src, make_synthetic(20, n_classes=4, mean_events=40.0, seed=1))
    after = load_binned(src, BinSpec(), cache)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == len(specs) + 1
    np.testing.assert_array_equal(after.labels.numpy(), read_shd(src).labels)
    assert not torch.equal(before, after.labels)


def test_damaged_entry_is_rebuilt(tiny_shd: dict[str, Path], tmp_path: Path) -> None:
    spec = BinSpec()
    good = load_binned(tiny_shd["test"], spec, tmp_path)
    entry = next(p for p in tmp_path.iterdir() if p.is_dir())
    (entry / "steps.npy").write_bytes(b"garbage")
    again = load_binned(tiny_shd["test"], spec, tmp_path)
    idx = np.arange(len(good))
    assert torch.equal(again.frames(idx), good.frames(idx))


def test_missing_source_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_binned(tmp_path / "nope.h5", BinSpec(), tmp_path)


def test_data_root_order(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SPIKEBENCH_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "cli") == tmp_path / "cli"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("SPIKEBENCH_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert data_root() == Path.home() / ".cache" / "spikebench"
