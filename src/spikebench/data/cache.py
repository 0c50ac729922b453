"""On-disk cache of binned splits, so a second run starts training at once.

An entry is a folder ``<cache_dir>/<file stem>-<key>/`` of ``.npy`` arrays (the sparse
events of :class:`~spikebench.data.binning.BinnedSplit`) plus ``meta.json``. The key
hashes the cache format version, every :class:`~spikebench.data.binning.BinSpec` field,
the channel count and the MD5 of the source file's bytes, so any change to the data or
the binning makes a new entry. An entry is written to a temporary folder and renamed
into place (atomic); a damaged entry is rebuilt. The arrays are memory-mapped on loading,
so a cached start costs milliseconds and pages are read when batches touch them.

Hashing the source (SHD train, ~100 MB, ~0.2 s; SSC train ~1 GB) is memoised in
``checksums.json`` by the file's (path, size, mtime_ns, inode), which every rewrite of
the file changes (``write_shd`` renames a new file into place).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from spikebench.data.binning import BinnedSplit, BinSpec, bin_events
from spikebench.data.paths import cache_root
from spikebench.data.shd import N_CHANNELS, read_shd
from spikebench.errors import DataError
from spikebench.fileio import write_json_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARRAYS = ("steps", "chans", "offsets", "labels", "speakers")
MEMO = "checksums.json"


def file_md5(path: str | os.PathLike[str]) -> str:
    """MD5 hex digest of a file's bytes (the checksum the SHD distribution publishes)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from err


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def source_md5(path: Path, cache_dir: Path) -> str:
    """MD5 of ``path``, memoised by its stat in ``cache_dir/checksums.json``."""
    memo_path = cache_dir / MEMO
    key = _stat_key(path)
    memo: dict[str, str] = {}
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
        if key in memo:
            return memo[key]
    except (OSError, ValueError):
        memo = {}
    digest = file_md5(path)
    memo = {k: v for k, v in memo.items() if Path(k.split("|")[0]).exists()}
    memo[key] = digest
    try:
        write_json_atomic(memo_path, memo)
    except OSError as err:
        log.warning("cannot record the checksum in %s (%s)", memo_path, err)
    return digest


def cache_key(md5: str, spec: BinSpec, n_channels: int) -> str:
    blob = json.dumps(
        {"format": FORMAT_VERSION, "md5": md5, "spec": spec.as_dict(), "n_channels": n_channels},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_binned(
    h5_path: str | os.PathLike[str],
    spec: BinSpec,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    n_channels: int = N_CHANNELS,
) -> BinnedSplit:
    """The binned split of ``h5_path`` under ``spec``, from the cache or built and cached.

    Args:
        h5_path: an SHD-schema file (validated by ``read_shd`` when binned).
        spec: the binning grid.
        cache_dir: cache folder; default ``data_root()/binned``.
        n_channels: channel count of the file (700 for SHD/SSC).
    """
    source = Path(h5_path)
    if not source.is_file():
        read_shd(source)  # raises the one-line DataError (missing, a folder, ...)
    folder = Path(cache_dir) if cache_dir is not None else cache_root()
    md5 = source_md5(source, folder)
    entry = folder / f"{source.stem}-{cache_key(md5, spec, n_channels)}"
    if entry.is_dir():
        split = _load_entry(entry, spec)
        if split is not None:
            log.debug("binned %s from cache %s", source, entry)
            return split
        log.warning("cache entry %s is damaged; rebuilding it", entry)
    split = bin_events(read_shd(source, n_channels=n_channels), spec)
    try:
        _save_entry(entry, split, source, md5)
    except OSError as err:
        log.warning("cannot write the binning cache %s (%s); continuing without it", entry, err)
    return split


def _load_entry(entry: Path, spec: BinSpec) -> BinnedSplit | None:
    try:
        meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
        arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        if meta.get("format") != FORMAT_VERSION or meta.get("spec") != spec.as_dict():
            return None
        n = len(arrays["labels"])
        offsets = arrays["offsets"]
        if (
            len(arrays["speakers"]) != n
            or len(offsets) != n + 1
            or len(arrays["steps"]) != len(arrays["chans"])
            or (n and int(offsets[-1]) != len(arrays["steps"]))
        ):
            return None
        return BinnedSplit(
            arrays["steps"],
            arrays["chans"],
            np.array(offsets),
            np.array(arrays["labels"]),
            np.array(arrays["speakers"]),
            meta["keys"],
            spec,
            meta["n_channels"],
            n_dropped=meta["n_dropped"],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_entry(entry: Path, split: BinnedSplit, source: Path, md5: str) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".part", dir=entry.parent))
    try:
        for name, values in split.arrays().items():
            np.save(tmp / f"{name}.npy", values)
        meta = {
            "format": FORMAT_VERSION,
            "source": str(source.resolve()),
            "md5": md5,
            "spec": split.spec.as_dict(),
            "keys": list(split.keys),
            "n_channels": split.n_channels,
            "n_dropped": split.n_dropped,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if entry.exists():  # a damaged entry, or another process finished first
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not entry.is_dir():
            raise
