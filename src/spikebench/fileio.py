"""Atomic file writes.

A result is written to a temporary file in the destination folder and renamed over the
final name only when complete (``os.replace`` is atomic on POSIX within one file system),
so an interrupted run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# --- output locations, checked before any work -------------------------------------------


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _probe_folder(folder: Path, what: str) -> None:
    """Raise unless a file can be created in ``folder`` (created and removed at once)."""
    from spikebench.errors import ConfigError

    try:
        fd, tmp = tempfile.mkstemp(prefix=".spikebench-probe.", suffix=".part", dir=folder)
    except OSError as err:
        raise ConfigError(f"{what}: cannot write into {folder} ({_reason(err)})") from None
    os.close(fd)
    os.unlink(tmp)


def check_output_file(path: str | os.PathLike[str], what: str, *, overwrite: bool = True) -> Path:
    """Check, before any work, that ``path`` can be written as a file; return it.

    ``what`` names the option in messages (``"--nir model.nir"``). The path must not be a
    folder (nor exist, unless ``overwrite``); its nearest existing ancestor must be a folder
    this process can create a file in, which is tried with a temporary file that is removed
    again. Nothing is left behind; missing parent folders are created only by the write.
    """
    from spikebench.errors import ConfigError

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what}: {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise ConfigError(f"{what}: {path} already exists")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{what}: {path} is not a regular file")
    _check_ancestors(path.parent, what)
    return path


def check_output_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Check, before any work, that ``path`` is or can become a writable folder; return it.

    An existing ``path`` must be a folder a file can be created in; a missing one needs its
    nearest existing ancestor to be such a folder. Nothing is created.
    """
    from spikebench.errors import ConfigError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what}: {path} exists and is not a folder")
    _check_ancestors(path, what)
    return path


def _check_ancestors(folder: Path, what: str) -> None:
    from spikebench.errors import ConfigError

    base = _nearest_existing(folder if str(folder) else Path("."))
    if not base.is_dir():
        raise ConfigError(f"{what}: {base} is not a folder, so {folder} cannot be made")
    _probe_folder(base, what)


def remove_stale_parts(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries :func:`atomic_path` leaves when a process is killed
    (``.NAME.<random>.part`` files directly in ``folder``); return what was removed.

    Only for folders that a single process owns (a run directory being resumed), so no
    temporary of a live writer is removed.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for stale in folder.glob(".*.part"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


@contextlib.contextmanager
def new_dirs_removed_on_error(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield ``path``; if the block fails, remove the folders on the way to it (``path``
    included) that did not exist before and are still empty, so a failed command leaves
    no empty folder behind. Folders that received files (a resumable download) stay."""
    path = Path(path)
    new = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        new.append(probe)
        probe = probe.parent
    try:
        yield path
    except BaseException:
        for folder in new:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (or gone): keep it and its parents
        raise
