"""bin_events / BinnedSplit against a slow obvious reference, and speaker hold-out splits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikebench.data.binning import DENSE_BUDGET, BinSpec, _Recycler, bin_events
from spikebench.data.shd import SpikeData
from spikebench.data.splits import speaker_holdout
from spikebench.errors import ConfigError, DataError


def _random_events(n: int, seed: int, n_channels: int = 700) -> SpikeData:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 400, n)
    counts[rng.integers(n)] = 0  # an empty sample
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(offsets[-1])
    times = rng.uniform(0.0, 1.5, total).astype(np.float16).astype(np.float32)
    times[: total // 10] = np.round(times[: total // 10], 2)  # many on bin edges
    return SpikeData(
        times=times,
        units=rng.integers(0, n_channels, total).astype(np.uint16),
        offsets=offsets,
        labels=rng.integers(0, 3, n).astype(np.int64),
        speakers=rng.integers(0, 4, n).astype(np.int64),
        keys=("a", "b", "c"),
        n_channels=n_channels,
    )


def _reference(data: SpikeData, spec: BinSpec) -> np.ndarray:
    """One spike at a time: [N, T, C] counts."""
    c_out = math.ceil(data.n_channels / spec.pool)
    out = np.zeros((len(data), spec.n_steps, c_out))
    for i in range(len(data)):
        times, units = data.sample(i)
        for t, u in zip(times.tolist(), units.tolist(), strict=True):
            k = math.floor(t / spec.dt)
            if k < spec.n_steps:
                out[i, k, u // spec.pool] += 1
    return np.minimum(out, 1) if spec.binary else out


@pytest.mark.parametrize(
    "spec",
    [
        BinSpec(),
        BinSpec(dt=0.004, t_max=1.4, pool=5),
        BinSpec(dt=0.02, t_max=0.5, pool=3, binary=True),
        BinSpec(dt=0.001, t_max=0.2, binary=True),
    ],
)
def test_binning_matches_reference(spec: BinSpec) -> None:
    data = _random_events(25, seed=int(spec.dt * 1e4) + spec.pool)
    split = bin_events(data, spec)
    ref = _reference(data, spec)
    frames = split.frames(np.arange(len(data)))
    assert frames.dtype == torch.float32
    assert frames.shape == (spec.n_steps, len(data), ref.shape[2])
    np.testing.assert_array_equal(frames.permute(1, 0, 2).numpy(), ref)
    assert split.n_events + split.n_dropped == data.n_events
    if not spec.binary:
        assert split.n_events == ref.sum()
    # frames for an arbitrary order (with repeats) equal the matching reference slices
    order = np.array([7, 3, 3, 0, 24])
    np.testing.assert_array_equal(split.frames(order).permute(1, 0, 2).numpy(), ref[order])


def test_grid_edges() -> None:
    times = np.array([0.0, 0.5, 0.999, 1.0, 1.2], np.float32)
    data = SpikeData(
        times=times, units=np.array([0, 1, 2, 3, 4], np.uint16), offsets=np.array([0, 5]),
        labels=np.array([0]), speakers=np.array([0]), keys=("a",),
    )  # fmt: skip
    split = bin_events(data, BinSpec(dt=0.01, t_max=1.0))
    x = split.frames([0])[:, 0, :]
    assert x[0, 0] == 1 and x[50, 1] == 1 and x[99, 2] == 1  # 0.5 s is in bin 50, not 49
    assert x.sum() == 3 and split.n_dropped == 2  # t >= t_max dropped
    assert bin_events(data, BinSpec(pool=5)).n_channels == 140


def test_batches_subset_and_shuffle() -> None:
    data = _random_events(23, seed=1)
    split = bin_events(data, BinSpec(pool=5))
    batches = list(split.batches(10))
    assert [x.shape[1] for x, _ in batches] == [10, 10, 3]
    assert len(list(split.batches(10, drop_last=True))) == 2
    x_all = torch.cat([x for x, _ in batches], dim=1)
    torch.testing.assert_close(x_all, split.frames(np.arange(23)))
    assert torch.equal(torch.cat([y for _, y in batches]), split.labels)

    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = [y for _, y in split.batches(8, shuffle=True, generator=g1)]
    b = [y for _, y in split.batches(8, shuffle=True, generator=g2)]
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert sorted(torch.cat(a).tolist()) == sorted(split.labels.tolist())

    sub = split.subset([4, 2])
    assert len(sub) == 2 and list(sub.speakers) == [split.speakers[4], split.speakers[2]]
    torch.testing.assert_close(sub.frames([0, 1]), split.frames([4, 2]))


def test_bad_spec() -> None:
    for kwargs in (dict(dt=0), dict(dt=0.03, t_max=1.0), dict(pool=0), dict(pool=2.5)):
        with pytest.raises(ConfigError):
            BinSpec(**kwargs)


def test_speaker_holdout() -> None:
    rng = np.random.default_rng(0)
    speakers = rng.integers(0, 10, 500)
    tr, va = speaker_holdout(speakers, seed=1)
    assert tr.dtype == va.dtype == np.int64
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 500
    assert not set(speakers[tr]) & set(speakers[va])  # whole speakers only
    assert len(va) >= 0.2 * 500 and len(set(speakers[tr])) >= 1
    tr2, va2 = speaker_holdout(speakers, seed=1)
    assert np.array_equal(va, va2)
    other = [tuple(speaker_holdout(speakers, seed=s)[1]) for s in range(5)]
    assert len(set(other)) > 1
    _, va3 = speaker_holdout(speakers, n_val_speakers=3)
    assert len(set(speakers[va3])) == 3
    with pytest.raises(DataError):
        speaker_holdout(np.zeros(10))
    with pytest.raises(ConfigError):
        speaker_holdout(speakers, n_val_speakers=10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("budget", [0, DENSE_BUDGET])
def test_frames_on_cuda_equal_cpu(budget: int) -> None:
    split = bin_events(_random_events(9, seed=2), BinSpec(pool=5))
    split.dense_budget = budget
    x, y = next(split.batches(9, device="cuda"))
    assert x.device.type == "cuda" and y.device.type == "cuda" and x.is_contiguous()
    assert split.materialise() == (budget > 0)
    assert torch.equal(x.cpu(), split.frames(np.arange(9)))

def _dense_and_sparse(data: SpikeData, spec: BinSpec):
    dense, sparse = bin_events(data, spec), bin_events(data, spec)
    sparse.dense_budget = 0
    assert dense.materialise() and not sparse.materialise()
    return dense, sparse


@pytest.mark.parametrize(
    "spec",
    [BinSpec(), BinSpec(pool=5), BinSpec(dt=0.02, t_max=0.5, pool=3, binary=True)],
)
def test_dense_path_equals_sparse_path(spec: BinSpec) -> None:
    data = _random_events(40, seed=5, n_channels=700)
    dense, sparse = _dense_and_sparse(data, spec)
    assert dense.dense_dtype == np.uint8 and sparse.dense_dtype is None
    order = np.array([39, 0, 0, 17, -1, 5])
    assert torch.equal(dense.frames(order), sparse.frames(order))
    assert torch.equal(dense.frames([]), sparse.frames([]))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for (xd, yd), (xs, ys) in zip(
        dense.batches(16, shuffle=True, generator=g1),
        sparse.batches(16, shuffle=True, generator=g2),
        strict=True,
    ):
        assert xd.dtype == torch.float32 and xd.is_contiguous()
        assert torch.equal(xd, xs) and torch.equal(yd, ys)
    np.testing.assert_array_equal(
        dense.frames(np.arange(40)).permute(1, 0, 2).numpy(), _reference(data, spec)
    )
    sub = dense.subset([3, 1, 3])
    assert sub.dense_dtype is None  # a subset materialises on its own first batches()
    assert torch.equal(next(sub.batches(3))[0], dense.frames([3, 1, 3]))


def _one_cell(n_events: int) -> SpikeData:
    """Sample 1 puts ``n_events`` events into one (step, channel) cell."""
    times = np.concatenate([[0.5], np.full(n_events, 0.25), [0.75]]).astype(np.float32)
    units = np.concatenate([[1], np.full(n_events, 3), [2]]).astype(np.uint16)
    return SpikeData(
        times=times, units=units, offsets=np.array([0, 1, n_events + 1, n_events + 2]),
        labels=np.array([0, 1, 0]), speakers=np.array([0, 1, 2]), keys=("a", "b"),
        n_channels=10,
    )  # fmt: skip


@pytest.mark.parametrize("n_events, dtype", [(255, np.uint8), (256, np.int16), (40000, np.int32)])
def test_dense_counts_are_never_clipped(n_events: int, dtype: type) -> None:
    data = _one_cell(n_events)
    dense, sparse = _dense_and_sparse(data, BinSpec())
    assert dense.dense_dtype == dtype
    x = dense.frames([1, 0, 2])
    assert x[25, 0, 3] == n_events and x.sum() == n_events + 2
    assert torch.equal(x, sparse.frames([1, 0, 2]))
    binary, _ = _dense_and_sparse(data, BinSpec(binary=True))
    assert binary.dense_dtype == np.uint8 and binary.frames([1])[25, 0, 3] == 1


def test_dense_budget() -> None:
    data = _one_cell(300)  # needs int16: 2 bytes x 3 samples x 100 steps x 10 channels
    split = bin_events(data, BinSpec())
    split.dense_budget = 3 * 100 * 10  # room for uint8 only
    assert not split.materialise() and split.dense_dtype is None
    assert next(split.batches(3))[0][25, 1, 3] == 300
    assert split.subset([1]).dense_budget == split.dense_budget
    roomy = bin_events(data, BinSpec())
    roomy.dense_budget = 2 * 3 * 100 * 10
    assert roomy.materialise() and roomy.dense_dtype == np.int16


@pytest.mark.parametrize("budget", [0, DENSE_BUDGET])
def test_batch_memory_is_reused_only_when_free(budget: int) -> None:
    split = bin_events(_random_events(40, seed=6), BinSpec(pool=5))
    split.dense_budget = budget
    expected = [split.frames(np.arange(s, min(s + 8, 40))) for s in range(0, 40, 8)]
    kept = list(split.batches(8))  # every batch still referenced: none may be overwritten
    assert all(torch.equal(x, e) for (x, _), e in zip(kept, expected, strict=True))
    assert len({x.data_ptr() for x, _ in kept}) == len(kept)
    pointers, views = [], []
    for k, (x, _) in enumerate(split.batches(8)):
        assert torch.equal(x, expected[k])  # a reused buffer holds no stale counts
        pointers.append(x.data_ptr())
        if k == 1:
            views.append(x[:, :1])  # a view keeps batch 1's memory in use
    assert pointers[1] not in pointers[2:]
    assert torch.equal(views[0], expected[1][:, :1])


def test_recycler_reuses_memory_nobody_holds() -> None:
    recycler = _Recycler(n_keep=2)
    first = recycler.take((3, 4), False)
    memory = first.base
    first.fill(5.0)
    tensor = torch.from_numpy(first)
    del first
    assert recycler.take((3, 4), False).base is not memory  # the tensor still reads it
    del tensor
    again = recycler.take((3, 4), True)
    assert again.base is memory and not again.any()  # reused, and zeroed on request
    assert recycler.take((2, 4), False).base is not memory  # other sizes get new memory
