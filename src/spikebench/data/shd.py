"""The SHD/SSC HDF5 schema: read a whole split in bulk, write the same schema.

Schema of the official files (Cramer et al. 2020), which :func:`write_shd` reproduces::

    spikes/times            vlen float16, one array per sample, seconds from the sample's start
    spikes/units            vlen uint16, one array per sample, channel 0..699
    labels                  uint16 [n_samples], index into extra/keys
    extra/speaker           uint16 [n_samples]
    extra/keys              strings [n_classes], class names in label order
    extra/meta_info/gender, age, body_height   per speaker (SHD only; absent in SSC)

Events are held flat (values + offsets, see :class:`SpikeData`): a split is read with one
bulk read per dataset, never sample by sample. Times are widened from float16 to float32
on reading, before any arithmetic (float16 overflows above 65504, e.g. when scaled to
microseconds). Every malformed input raises :class:`~spikebench.errors.DataError` with one
line naming the file, the sample and the problem.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from spikebench.errors import DataError
from spikebench.fileio import atomic_path

log = logging.getLogger(__name__)

N_CHANNELS = 700
REQUIRED = ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker")
META_FIELDS = ("gender", "age", "body_height")


@dataclass(frozen=True, eq=False)
class SpikeData:
    """All spike events of one split, stored flat (ragged arrays as values + offsets).

    Sample ``i`` owns events ``offsets[i]:offsets[i+1]`` of ``times`` and ``units``.

    Attributes:
        times: float32 [n_events], seconds from the sample's start (the file stores
            float16; it is widened to float32 on reading, before any arithmetic).
        units: uint16 [n_events], channel index 0..n_channels-1 (SHD: 0 = highest
            frequency, 699 = lowest).
        offsets: int64 [n_samples + 1], offsets[0] == 0, non-decreasing.
        labels: int64 [n_samples], class index into ``keys``.
        speakers: int64 [n_samples], speaker id per sample.
        keys: class names in label order (read from ``extra/keys``).
        n_channels: number of input channels (700 for SHD/SSC).
        meta: per-speaker arrays from ``extra/meta_info`` (gender, age, body_height);
            empty for SSC.
    """

    times: np.ndarray
    units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    keys: tuple[str, ...]
    n_channels: int = 700
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Times (s, float32) and units of sample ``i``."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.times[a:b], self.units[a:b]

    @property
    def n_events(self) -> int:
        return int(self.offsets[-1])

    def counts(self) -> np.ndarray:
        """Number of events per sample, int64 [n_samples]."""
        return np.diff(self.offsets)

    def subset(self, indices: np.ndarray) -> SpikeData:
        """A new SpikeData holding samples ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64)
        lengths = self.offsets[idx + 1] - self.offsets[idx]
        pos = _ranges(self.offsets[idx], lengths)
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return SpikeData(
            times=self.times[pos],
            units=self.units[pos],
            offsets=offsets,
            labels=self.labels[idx],
            speakers=self.speakers[idx],
            keys=self.keys,
            n_channels=self.n_channels,
            meta=dict(self.meta),
        )


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), vectorised (int64)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(starts - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift


def _sample_of(offsets: np.ndarray, event: int) -> int:
    return int(np.searchsorted(offsets, event, side="right") - 1)


def validate(data: SpikeData, source: str | os.PathLike[str] = "<memory>") -> None:
    """Check every invariant of ``data``; raise DataError naming ``source`` and the sample."""
    n = len(data.labels)
    where = str(source)
    if data.offsets.shape != (n + 1,) or data.offsets[0] != 0:
        raise DataError(f"{where}: offsets must have n_samples + 1 = {n + 1} entries starting at 0")
    if np.any(np.diff(data.offsets) < 0):
        i = int(np.flatnonzero(np.diff(data.offsets) < 0)[0])
        raise DataError(f"{where}: sample {i}: offsets decrease")
    if len(data.times) != data.offsets[-1] or len(data.units) != data.offsets[-1]:
        raise DataError(
            f"{where}: {len(data.times)} times and {len(data.units)} units for "
            f"{int(data.offsets[-1])} events"
        )
    if len(data.speakers) != n:
        raise DataError(f"{where}: {len(data.speakers)} speakers for {n} samples")
    # Reductions first (no temporaries); locate the offending sample only on failure.
    if data.times.size and not (data.times.min() >= 0 and np.isfinite(data.times.max())):
        bad_t = ~np.isfinite(data.times) | (data.times < 0)
        e = int(np.flatnonzero(bad_t)[0])
        i = _sample_of(data.offsets, e)
        t = float(data.times[e])
        problem = "is negative"
        if not np.isfinite(t):
            problem = "is not a number" if np.isnan(t) else "is infinite"
        raise DataError(f"{where}: sample {i}: spike time {t:.6g} s {problem}")
    if data.units.size and data.units.min() < 0:
        e = int(np.flatnonzero(data.units < 0)[0])
        i = _sample_of(data.offsets, e)
        raise DataError(f"{where}: sample {i}: negative unit {int(data.units[e])}")
    if data.units.size and data.units.max() >= data.n_channels:
        e = int(np.flatnonzero(data.units >= data.n_channels)[0])
        i = _sample_of(data.offsets, e)
        raise DataError(
            f"{where}: sample {i}: unit {int(data.units[e])} >= channel count {data.n_channels}"
        )
    bad_l = (data.labels < 0) | (data.labels >= len(data.keys))
    if bad_l.any():
        i = int(np.flatnonzero(bad_l)[0])
        raise DataError(
            f"{where}: sample {i}: label {int(data.labels[i])} outside the "
            f"{len(data.keys)} keys (0..{len(data.keys) - 1})"
        )


def _decode(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _read_ragged(
    f: h5py.File, name: str, path: Path, dtype: np.dtype | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Bulk-read a per-sample dataset: (all values flat, int64 lengths per sample).

    Accepts the official one-vlen-array-per-sample layout, and a 2-D fixed-size array
    (one row per sample) as some test fixtures write. ``dtype`` casts while concatenating.
    """
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise DataError(f"{path}: '{name}' is a group, expected a dataset")
    base = h5py.check_vlen_dtype(ds.dtype)
    if base is not None and ds.ndim == 1:
        rows = ds[()]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        if lengths.sum() == 0:
            return np.zeros(0, dtype or base), lengths
        return np.concatenate(rows, dtype=dtype, casting="same_kind"), lengths
    if base is None and ds.ndim == 2:
        table = ds[()]
        lengths = np.full(table.shape[0], table.shape[1], dtype=np.int64)
        return table.reshape(-1).astype(dtype or table.dtype, copy=False), lengths
    raise DataError(
        f"{path}: '{name}' must hold one variable-length array per sample "
        f"(found dtype {ds.dtype}, shape {ds.shape})"
    )


def read_shd(path: str | os.PathLike[str], *, n_channels: int = N_CHANNELS) -> SpikeData:
    """Read and validate a whole SHD/SSC split.

    Args:
        path: an ``.h5`` file in the SHD schema (module docstring).
        n_channels: channel count every unit must be below (700 for SHD/SSC).

    Raises:
        DataError: missing file, not HDF5, truncated, missing group or dataset, unit >=
            ``n_channels``, negative or NaN time, times/units of different lengths in one
            sample, label outside ``extra/keys``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an HDF5 file")
    if not h5py.is_hdf5(path):
        raise DataError(f"{path}: not an HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        reason = "truncated" if "truncated" in str(err) else "damaged"
        raise DataError(f"{path}: {reason} HDF5 file (cannot open: {_first_line(err)})") from err
    try:
        with f:
            return _read_open(f, path, n_channels)
    except DataError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as err:
        raise DataError(f"{path}: unreadable or truncated HDF5 data ({_first_line(err)})") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _read_open(f: h5py.File, path: Path, n_channels: int) -> SpikeData:
    for name in REQUIRED:
        if name not in f:
            raise DataError(f"{path}: missing '{name}' (not an SHD/SSC file?)")
    times, t_len = _read_ragged(f, "spikes/times", path, np.dtype(np.float32))
    units_raw, u_len = _read_ragged(f, "spikes/units", path)
    n = len(t_len)
    if len(u_len) != n:
        raise DataError(f"{path}: spikes/times has {n} samples but spikes/units has {len(u_len)}")
    mismatch = np.flatnonzero(t_len != u_len)
    if mismatch.size:
        i = int(mismatch[0])
        raise DataError(
            f"{path}: sample {i}: {int(t_len[i])} spike times but {int(u_len[i])} units"
        )
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(t_len, out=offsets[1:])
    if units_raw.size and np.issubdtype(units_raw.dtype, np.signedinteger) and units_raw.min() < 0:
        e = int(np.flatnonzero(units_raw < 0)[0])
        i = _sample_of(offsets, e)
        raise DataError(f"{path}: sample {i}: negative unit {int(units_raw[e])}")
    if units_raw.size and not np.issubdtype(units_raw.dtype, np.integer):
        raise DataError(f"{path}: spikes/units must be integers (found {units_raw.dtype})")
    if units_raw.size and units_raw.max() >= n_channels:
        e = int(np.flatnonzero(units_raw >= n_channels)[0])
        raise DataError(
            f"{path}: sample {_sample_of(offsets, e)}: unit {int(units_raw[e])} >= "
            f"channel count {n_channels}"
        )
    units = units_raw.astype(np.uint16, copy=False)

    labels = np.asarray(f["labels"][()]).astype(np.int64).reshape(-1)
    speakers = np.asarray(f["extra/speaker"][()]).astype(np.int64).reshape(-1)
    if len(labels) != n:
        raise DataError(f"{path}: {len(labels)} labels for {n} samples")
    if len(speakers) != n:
        raise DataError(f"{path}: {len(speakers)} entries in extra/speaker for {n} samples")
    keys = tuple(_decode(k) for k in np.asarray(f["extra/keys"][()]).reshape(-1))
    meta: dict[str, np.ndarray] = {}
    if "extra/meta_info" in f:
        group = f["extra/meta_info"]
        for name in group:
            values = np.asarray(group[name][()])
            if values.dtype.kind in "OS":
                values = np.array([_decode(v) for v in values.reshape(-1)], dtype=str)
            meta[name] = values
    data = SpikeData(
        times=times,
        units=units,
        offsets=offsets,
        labels=labels,
        speakers=speakers,
        keys=keys,
        n_channels=n_channels,
        meta=meta,
    )
    validate(data, path)
    _warn_unsorted(data, path)
    log.debug("read %s: %d samples, %d events", path, n, data.n_events)
    return data


_WARNED: set[tuple[str, int, int]] = set()


def _warn_unsorted(data: SpikeData, path: Path) -> None:
    """Warn (once per file version) when spike times within a sample are not sorted.

    Binning does not depend on the order, but the schema (and tools that stream events)
    expect each sample's spikes in time order, so a file that breaks it is worth a word.
    """
    if data.n_events < 2:
        return
    back = np.diff(data.times) < 0
    starts = data.offsets[1:-1]
    back[starts[(starts > 0) & (starts < data.n_events)] - 1] = False  # across samples: fine
    count = int(back.sum())
    if not count:
        return
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key in _WARNED:
        return
    _WARNED.add(key)
    samples = len(np.unique(np.searchsorted(data.offsets, np.flatnonzero(back) + 1, side="right")))
    log.warning("%s: %d of %d spike times (%.2f%%) come before the one ahead of them, in %d "
                "of %d samples: the spikes are not sorted by time", path, count, data.n_events,
                100 * count / data.n_events, samples, len(data))


def count_samples(path: str | os.PathLike[str]) -> int | None:
    """The number of samples by the ``labels`` dataset, without reading the spikes;
    ``None`` when the file cannot be opened or has no such dataset (:func:`read_shd` then
    names the problem)."""
    try:
        with h5py.File(path, "r") as f:
            labels = f.get("labels")
            return labels.shape[0] if isinstance(labels, h5py.Dataset) and labels.shape else None
    except OSError:
        return None


def list_datasets(path: str | os.PathLike[str]) -> tuple[tuple[str, str, str], ...]:
    """Every dataset of the file as ``(name, dtype, shape)`` (``vlen <type>`` for ragged ones)."""
    rows: list[tuple[str, str, str]] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            base = h5py.check_vlen_dtype(obj.dtype)
            dtype = str(obj.dtype) if base is None else f"vlen {getattr(base, '__name__', base)}"
            rows.append((name, dtype, str(obj.shape)))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return tuple(rows)


def write_shd(path: str | os.PathLike[str], data: SpikeData) -> None:
    """Write ``data`` to ``path`` in the exact SHD schema, atomically.

    Times are stored as float16 like the official files, so a time that is not exactly a
    float16 value is rounded (make_synthetic and the converters round before writing, so
    write -> read round-trips exactly). Raises DataError (naming ``path``) if ``data``
    breaks an invariant, or if a time does not fit float16.
    """
    path = Path(path)
    validate(data, path)
    times16 = data.times.astype(np.float16)
    if data.times.size and not np.isfinite(times16).all():
        e = int(np.flatnonzero(~np.isfinite(times16))[0])
        raise DataError(
            f"{path}: sample {_sample_of(data.offsets, e)}: time {data.times[e]} s "
            f"overflows float16"
        )
    if data.labels.size and data.labels.max() > np.iinfo(np.uint16).max:
        raise DataError(f"{path}: labels above 65535 do not fit the uint16 schema")
    if data.speakers.size and (data.speakers.min() < 0 or data.speakers.max() > 65535):
        raise DataError(f"{path}: speaker ids must be within 0..65535 (uint16 schema)")
    n = len(data)
    bounds = data.offsets
    t_rows = np.empty(n, dtype=object)
    u_rows = np.empty(n, dtype=object)
    units16 = data.units.astype(np.uint16, copy=False)
    for i in range(n):
        t_rows[i] = times16[bounds[i] : bounds[i + 1]]
        u_rows[i] = units16[bounds[i] : bounds[i + 1]]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            spikes = f.create_group("spikes")
            spikes.create_dataset("times", data=t_rows, dtype=h5py.vlen_dtype(np.float16))
            spikes.create_dataset("units", data=u_rows, dtype=h5py.vlen_dtype(np.uint16))
            f.create_dataset("labels", data=data.labels.astype(np.uint16))
            extra = f.create_group("extra")
            extra.create_dataset("speaker", data=data.speakers.astype(np.uint16))
            extra.create_dataset(
                "keys", data=np.array(data.keys, dtype=object), dtype=h5py.string_dtype("utf-8")
            )
            if data.meta:
                group = extra.create_group("meta_info")
                for name, values in data.meta.items():
                    arr = np.asarray(values)
                    if arr.dtype.kind in "UO":
                        group.create_dataset(
                            name, data=arr.astype(object), dtype=h5py.string_dtype("utf-8")
                        )
                    else:
                        group.create_dataset(name, data=arr)
