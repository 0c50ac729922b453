"""Events -> tensors: bin the spikes of a whole split onto a time x channel grid.

The grid (:class:`BinSpec`): ``n_steps = t_max / dt`` time bins, bin ``k`` covering
``[k*dt, (k+1)*dt)`` seconds, over ``[0, t_max)``. An event at time ``t`` (s) goes to bin
``floor(t / dt)`` evaluated in float64 (so ``t = k*dt`` written in decimal lands in bin
``k``; Python's ``t // dt`` would put 0.5 s with dt = 0.01 s in bin 49). Events with
``t >= t_max`` are dropped, explicitly, and counted in :attr:`BinnedSplit.n_dropped`.
Default ``t_max`` is 1.0 s: it holds the whole utterance of nearly every SHD sample (the
files run up to ~1.4 s, mostly trailing silence) and gives T = 100 steps at 10 ms.
Channel pooling sums groups of ``pool`` adjacent channels (700 -> 140 with pool=5; a last
incomplete group, if any, sums fewer). Values are spike counts, or 1/0 when ``binary``.

Layout: :meth:`BinnedSplit.frames` and :meth:`BinnedSplit.batches` return time-major
float32 ``[T, B, C]`` tensors (T steps of ``dt`` seconds, B samples, C pooled channels),
the layout the engine's LIF layers scan over.

Memory: a split is held sparse, one (step, channel) uint16 pair per kept event (4 bytes
per event; SHD train at ~3k events/sample is ~100 MB). Batches come from one of two paths,
with bit-identical float32 output:

* dense (the fast path): on the first :meth:`BinnedSplit.batches` call, a split whose
  dense counts fit ``dense_budget`` bytes (default :data:`DENSE_BUDGET`, 2 GiB) is
  materialised once as an integer array ``[N, T, C]``; a batch is then B row copies
  converted to float32 ``[T, B, C]``. The integer type is the narrowest that holds every
  cell exactly: uint8 (counts up to 255, and always for ``binary``), else int16, else
  int32; nothing is clipped. uint8 SHD at 700 channels is 571 MB for train (8156
  samples) and 158 MB for test; SSC train (5.3 GB) stays sparse unless pooled.
* sparse: per batch, one scatter-add of the batch's events into zeroed float32 frames.

Why dense: per-batch scatter-adds cost 2.6-6x as long per batch (``benchmarks/
data_bench.py``; figures in docs/experiments.md), and the one-off build pays for itself
within a few epochs. :meth:`BinnedSplit.batches` reuses the memory of batches nobody holds
any more (:class:`_Recycler`). Binning is vectorised over every event of the split.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from spikebench.data.shd import SpikeData, _ranges
from spikebench.errors import ConfigError

log = logging.getLogger(__name__)

MAX_STEPS = np.iinfo(np.uint16).max
CHUNK = 1 << 18
DENSE_BUDGET = 2 * 1024**3
DENSE_TYPES = (np.uint8, np.int16, np.int32)
SMALL = int(np.iinfo(np.uint8).max)


@dataclass(frozen=True)
class BinSpec:
    """The binning grid: bin width ``dt`` (s), cut-off ``t_max`` (s), channel ``pool``
    size, and ``binary`` (clamp counts to 1)."""

    dt: float = 0.01
    t_max: float = 1.0
    pool: int = 1
    binary: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.dt, numbers.Real) and self.dt > 0 and math.isfinite(self.dt)):
            raise ConfigError(f"bin dt={self.dt!r}: must be a positive number of seconds")
        if not (isinstance(self.t_max, numbers.Real) and self.t_max > 0):
            raise ConfigError(f"bin t_max={self.t_max!r}: must be a positive number of seconds")
        ratio = self.t_max / self.dt
        if abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
            raise ConfigError(
                f"bin t_max={self.t_max} s is not a whole number of dt={self.dt} s steps"
            )
        if not 1 <= round(ratio) <= MAX_STEPS:
            raise ConfigError(f"bin t_max/dt = {round(ratio)} steps: must be 1..{MAX_STEPS}")
        pool_ok = isinstance(self.pool, numbers.Integral) and not isinstance(self.pool, bool)
        if not pool_ok or self.pool < 1:
            raise ConfigError(f"bin pool={self.pool!r}: must be a positive integer")
        if not isinstance(self.binary, bool | np.bool_):
            raise ConfigError(f"bin binary={self.binary!r}: must be true or false")

    @property
    def n_steps(self) -> int:
        return round(self.t_max / self.dt)

    def pooled_channels(self, n_channels: int) -> int:
        return -(-n_channels // self.pool)

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def _cell_max(rows: np.ndarray, chans: np.ndarray, n_channels: int) -> int:
    """The most events in one (row, channel) cell when that exceeds ``SMALL`` (255), else
    a number <= ``SMALL``. Cells are counted only in rows holding more than ``SMALL``
    events: a per-row ``bincount`` settles every other chunk (``rows`` int64)."""
    if not rows.size:
        return 0
    per_row = np.bincount(rows)
    if per_row.max() <= SMALL:
        return int(per_row.max())
    hot = per_row[rows] > SMALL
    _, per_cell = np.unique(rows[hot] * n_channels + chans[hot], return_counts=True)
    return int(per_cell.max())


Allocator = Callable[[tuple[int, ...], bool], np.ndarray]


def _fresh(shape: tuple[int, ...], zero: bool) -> np.ndarray:
    """New float32 memory; zeros from calloc, whose fresh pages the kernel zeroes on first
    touch (torch.zeros' explicit memset over freshly faulted pages measured 5-10x slower
    for a [100, 256, 700] batch)."""
    return np.zeros(shape, dtype=np.float32) if zero else np.empty(shape, dtype=np.float32)


class _Recycler:
    """Float32 batch buffers reused once nothing refers to the array handed out.

    Each buffer is handed out as a fresh numpy view, watched by a weak reference; the
    tensor made from it (``torch.from_numpy``), every view of that tensor and autograd's
    saved copy all keep the view alive, so a buffer is only reused when no tensor can
    read it. Why: a [100, 256, 700] float32 batch (72 MB) is above glibc's largest mmap
    threshold (32 MB), so each fresh one is mapped anew and page-faulted while written,
    which doubled the batch time here (measured: 40-46 ms fresh vs 22 ms reused).
    """

    def __init__(self, n_keep: int = 3) -> None:
        self._n_keep = n_keep
        self._slots: list[tuple[np.ndarray, weakref.ref[np.ndarray]]] = []

    def take(self, shape: tuple[int, ...], zero: bool) -> np.ndarray:
        size = math.prod(shape)
        for k, (memory, handed) in enumerate(self._slots):
            if handed() is None and memory.size == size:
                view = memory.reshape(shape)
                if zero:
                    view.fill(0.0)
                self._slots[k] = (memory, weakref.ref(view))
                return view
        memory = _fresh((size,), zero)
        view = memory.reshape(shape)
        if len(self._slots) < self._n_keep:
            self._slots.append((memory, weakref.ref(view)))
        return view


class BinnedSplit:
    """A binned split: sparse events on the grid, labels, speakers, class names.

    Attributes:
        labels: torch int64 [N].
        speakers: numpy int64 [N].
        keys: class names in label order.
        n_steps: T, time steps of ``spec.dt`` seconds.
        n_channels: C, channels after pooling.
        spec: the :class:`BinSpec`.
        n_dropped: events at or after ``spec.t_max`` that were dropped.
        dense_budget: bytes the dense ``[N, T, C]`` array may take (module docstring);
            0 keeps the split sparse. Read once, by :meth:`materialise`.
    """

    def __init__(
        self,
        steps: np.ndarray,
        chans: np.ndarray,
        offsets: np.ndarray,
        labels: np.ndarray | torch.Tensor,
        speakers: np.ndarray,
        keys: Sequence[str],
        spec: BinSpec,
        n_channels: int,
        n_dropped: int = 0,
    ) -> None:
        self._steps = np.ascontiguousarray(steps, dtype=np.uint16)
        self._chans = np.ascontiguousarray(chans, dtype=np.uint16)
        self._offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        self.speakers = np.asarray(speakers, dtype=np.int64)
        self.keys = tuple(keys)
        self.spec = spec
        self.n_steps = spec.n_steps
        self.n_channels = int(n_channels)
        self.n_dropped = int(n_dropped)
        self.dense_budget = DENSE_BUDGET
        self._dense: np.ndarray | None = None
        self._dense_refused = False

    def __len__(self) -> int:
        return len(self.speakers)

    def __repr__(self) -> str:
        return (
            f"BinnedSplit(n={len(self)}, T={self.n_steps}, C={self.n_channels}, "
            f"events={len(self._steps)}, dropped={self.n_dropped}, spec={self.spec})"
        )

    @property
    def dense_dtype(self) -> np.dtype | None:
        """The integer type of the materialised ``[N, T, C]`` counts; None while sparse."""
        return None if self._dense is None else self._dense.dtype

    @property
    def n_events(self) -> int:
        return len(self._steps)

    def counts(self) -> np.ndarray:
        """Kept events per sample, int64 [N]."""
        return np.diff(self._offsets)

    def _gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(event positions, per-sample lengths) of samples ``indices``, in order."""
        lengths = self._offsets[indices + 1] - self._offsets[indices]
        return _ranges(self._offsets[indices], lengths), lengths

    def _indices(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(indices, torch.Tensor):
            indices = indices.cpu().numpy()
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"sample index out of range for a split of {n} samples")
        return np.where(idx < 0, idx + n, idx)

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> BinnedSplit:
        """A new split holding samples ``indices`` (in that order), with the same
        ``dense_budget``, not yet materialised."""
        idx = self._indices(indices)
        pos, lengths = self._gather(idx)
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        split = BinnedSplit(
            self._steps[pos],
            self._chans[pos],
            offsets,
            self.labels[torch.from_numpy(idx)],
            self.speakers[idx],
            self.keys,
            self.spec,
            self.n_channels,
            n_dropped=0,
        )
        split.dense_budget = self.dense_budget
        return split

    def materialise(self) -> bool:
        """Build the dense ``[N, T, C]`` counts once, if they fit ``dense_budget`` bytes.

        Returns whether the dense path is in use. :meth:`batches` calls this first; after
        it, :meth:`frames` reads the dense array too. The decision is taken once.
        """
        if self._dense is None and not self._dense_refused:
            start = time.perf_counter()
            self._dense = self._build_dense()
            self._dense_refused = self._dense is None
            if self._dense is not None:
                log.debug("materialised %d samples as %s %s (%.0f MB) in %.2f s", len(self),
                          self._dense.dtype, list(self._dense.shape), self._dense.nbytes / 1e6,
                          time.perf_counter() - start)  # fmt: skip
        return self._dense is not None

    def _build_dense(self) -> np.ndarray | None:
        """The dense counts in the narrowest of :data:`DENSE_TYPES` that holds every cell,
        or None when that exceeds the budget."""
        cells = len(self) * self.n_steps * self.n_channels
        for dtype in DENSE_TYPES[:1] if self.spec.binary else DENSE_TYPES:
            nbytes = cells * np.dtype(dtype).itemsize
            if nbytes > self.dense_budget:
                log.debug("dense split of %d bytes exceeds the budget of %d bytes; "
                          "densifying per batch", nbytes, self.dense_budget)  # fmt: skip
                return None
            dense = self._scatter_all(dtype)
            if dense is not None:
                return dense
        return None

    def _scatter_all(self, dtype: type[np.integer]) -> np.ndarray | None:
        """Counts ``[N, T, C]`` of every event (1/0 when binary), scattered a chunk of
        samples (about ``CHUNK`` events) at a time; None if a cell would exceed
        ``dtype``'s maximum."""
        n, t, c = len(self), self.n_steps, self.n_channels
        limit = np.iinfo(dtype).max
        dense = np.zeros((n, t, c), dtype=dtype)
        target = torch.from_numpy(dense.reshape(-1))
        offsets, counts = self._offsets, self.counts()
        lo = 0
        while lo < n:
            hi = int(np.searchsorted(offsets, offsets[lo] + CHUNK, side="right")) - 1
            hi = min(max(hi, lo + 1), n)
            a, b = offsets[lo], offsets[hi]
            rows = np.repeat(np.arange(0, (hi - lo) * t, t, dtype=np.int64), counts[lo:hi])
            rows += self._steps[a:b]
            chans = self._chans[a:b]
            if not self.spec.binary and _cell_max(rows, chans, c) > limit:
                return None
            rows *= c
            rows += chans
            block = target[lo * t * c : hi * t * c]
            if self.spec.binary:
                block[torch.from_numpy(rows)] = 1
            else:
                one = torch.ones(1, dtype=target.dtype).expand(len(rows))
                block.index_add_(0, torch.from_numpy(rows), one)
            lo = hi
        return dense

    def frames(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Dense float32 ``[T, B, C]`` frames of samples ``indices`` (B = len(indices))."""
        return self._frames(self._indices(indices), device, _fresh)

    def _frames(
        self, idx: np.ndarray, device: torch.device | str | None, alloc: Allocator
    ) -> torch.Tensor:
        t, b, c = self.n_steps, len(idx), self.n_channels
        on_cpu = device is None or torch.device(device).type == "cpu"
        if self._dense is not None:
            if on_cpu:
                out = alloc((t, b, c), False)
                for j, i in enumerate(idx.tolist()):
                    np.copyto(out[:, j], self._dense[i])
                return torch.from_numpy(out)
            x = torch.from_numpy(np.take(self._dense, idx, axis=0)).to(device)
            return x.permute(1, 0, 2).to(torch.float32, memory_format=torch.contiguous_format)
        pos, lengths = self._gather(idx)
        column = np.repeat(np.arange(b, dtype=np.int64), lengths)
        flat = (self._steps[pos].astype(np.int64) * b + column) * c + self._chans[pos]
        flat_t = torch.from_numpy(flat).to(device)
        if on_cpu:
            out_t = torch.from_numpy(alloc((t, b, c), True)).view(-1)
        else:
            out_t = torch.zeros(t * b * c, dtype=torch.float32, device=device)
        if flat.size:
            ones = torch.ones(1, dtype=torch.float32, device=out_t.device).expand(flat.size)
            out_t.index_put_((flat_t,), ones, accumulate=True)
        if self.spec.binary:
            out_t.clamp_(max=1.0)
        return out_t.view(t, b, c)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        device: torch.device | str | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x float32 [T, B, C], y int64 [B])``, in order or shuffled by ``generator``.

        Materialises the split first (:meth:`materialise`). On CPU, the memory of a batch
        whose tensors (and views) are all gone is reused for a later batch of the same
        pass (:class:`_Recycler`); a batch that is still referenced is never touched.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size}: must be >= 1")
        self.materialise()
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        recycler = _Recycler()
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            x = self._frames(idx.numpy(), device, recycler.take)
            yield x, self.labels[idx].to(device)

    def arrays(self) -> dict[str, np.ndarray]:
        """The split's arrays, for the on-disk cache (:mod:`spikebench.data.cache`)."""
        return {
            "steps": self._steps,
            "chans": self._chans,
            "offsets": self._offsets,
            "labels": self.labels.numpy(),
            "speakers": self.speakers,
        }


def bin_events(data: SpikeData, spec: BinSpec) -> BinnedSplit:
    """Bin every event of ``data`` onto ``spec``'s grid (module docstring), vectorised.

    Works through the events in chunks of ``CHUNK`` with reused float64 buffers: each
    numpy operation is still vectorised over ~256k events, and no temporary of the split's
    size is allocated (on this machine a fresh 200 MB array costs ~0.3 s in page faults,
    more than the arithmetic).
    """
    n = data.n_events
    limit = spec.n_steps
    steps = np.empty(n, dtype=np.uint16)
    chans = np.empty(n, dtype=np.uint16)
    buf = np.empty(min(n, CHUNK), dtype=np.float64)
    pool = np.uint16(spec.pool)
    dropped: list[np.ndarray] = []
    write = 0
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        x = buf[: hi - lo]
        x[:] = data.times[lo:hi]
        np.divide(x, spec.dt, out=x)
        np.floor(x, out=x)
        late = x >= limit
        units = data.units[lo:hi]
        if late.any():
            dropped.append(np.flatnonzero(late) + lo)
            keep = ~late
            x = x[keep]
            units = units[keep]
        m = len(x)
        steps[write : write + m] = x
        np.floor_divide(units, pool, out=chans[write : write + m])
        write += m
    drop_pos = np.concatenate(dropped) if dropped else np.zeros(0, dtype=np.int64)
    offsets = data.offsets - np.searchsorted(drop_pos, data.offsets)
    return BinnedSplit(
        steps[:write],
        chans[:write],
        offsets,
        data.labels,
        data.speakers,
        data.keys,
        spec,
        spec.pooled_channels(data.n_channels),
        n_dropped=len(drop_pos),
    )
