"""Download the official SHD/SSC archives: resume, verify MD5, unpack, rename atomically.

Each archive is downloaded to ``<name>.part`` beside its final place; an interrupted
download resumes with an HTTP ``Range`` request (a server that ignores it makes the
download start over). The complete archive must match its published MD5, else the
partial file is deleted and the command fails. The archive is then unpacked (``.zip`` or
``.gz``) to a temporary file that is renamed over the final ``.h5`` name, and removed.
A present ``.h5`` whose MD5 matches (SHD publishes the unpacked checksums; for SSC the
checksum recorded at unpacking in ``<file>.md5``) is never downloaded again.

Library code reports progress through a callback ``progress(label, done_bytes,
total_bytes_or_None)``; the CLI draws it as a rich progress bar. urllib is enough here
(one GET per file with a Range header); no extra dependency.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import shutil
import socket
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from spikebench.data.cache import file_md5
from spikebench.data.paths import data_root
from spikebench.errors import ConfigError, DataError
from spikebench.fileio import atomic_path, new_dirs_removed_on_error, write_text_atomic

log = logging.getLogger(__name__)

BASE_URL = "https://zenkelab.org/datasets/"
CHUNK = 1 << 20
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class Remote:
    """One published file: ``archive`` (under the base URL) with its MD5, unpacking to
    ``target``, whose MD5 is ``target_md5`` when published."""

    archive: str
    md5: str
    target: str
    target_md5: str | None = None


DATASETS: dict[str, tuple[Remote, ...]] = {
    "shd": (
        Remote("shd_train.h5.zip", "f3252aeb598ac776c1b526422d90eecb",
               "shd_train.h5", "8e9877c85f29a28dd353ea6a54402667"),
        Remote("shd_test.h5.zip", "1503a5064faa34311c398fb0a1ed0a6f",
               "shd_test.h5", "207ad1295a0ab611e22d1734989c254e"),
    ),
    "ssc": (
        Remote("ssc_train.h5.zip", "d102be95e7144fcc0553d1f45ba94170", "ssc_train.h5"),
        Remote("ssc_valid.h5.zip", "b4eee3516a4a90dd0c71a6ac23a8ae43", "ssc_valid.h5"),
        Remote("ssc_test.h5.zip", "a35ff1e9cffdd02a20eb850c17c37748", "ssc_test.h5"),
    ),
}  # fmt: skip
"""Published archives (zenkelab.org); the SHD ``.h5.gz`` variants are train
d47c9825dee33347913e8ce0f2be08b0 and test 3062a80ec0c5719404d5b02e166543b1."""

_NETWORK_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    socket.timeout,
    TimeoutError,
)


def fetch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    base_url: str = BASE_URL,
    remotes: Sequence[Remote] | None = None,
    progress: Progress | None = None,
    retries: int = 3,
    timeout: float = 30.0,
) -> list[Path]:
    """Make sure the files of data set ``name`` are under ``data_root(root)/name``.

    Returns the ``.h5`` paths. Raises DataError on a network failure (after ``retries``
    resumed attempts), a checksum mismatch or a damaged archive; ConfigError for an
    unknown ``name``.
    """
    if remotes is None:
        if name not in DATASETS:
            raise ConfigError(f"unknown data set '{name}': choose one of {', '.join(DATASETS)}")
        remotes = DATASETS[name]
    folder = data_root(root) / name
    with new_dirs_removed_on_error(folder):
        folder.mkdir(parents=True, exist_ok=True)
        return [
            fetch_one(r, folder, base_url=base_url, progress=progress, retries=retries,
                      timeout=timeout)
            for r in remotes
        ]  # fmt: skip


def _verified(target: Path, remote: Remote) -> bool:
    if not target.is_file():
        return False
    expected = remote.target_md5
    sidecar = target.with_name(target.name + ".md5")
    if expected is None and sidecar.is_file():
        expected = sidecar.read_text(encoding="utf-8").strip()
    if expected is None:
        log.info("%s: present; no published checksum to verify it against", target)
        return True
    return file_md5(target) == expected


def fetch_one(
    remote: Remote,
    folder: Path,
    *,
    base_url: str = BASE_URL,
    progress: Progress | None = None,
    retries: int = 3,
    timeout: float = 30.0,
) -> Path:
    """Download, verify and unpack one remote into ``folder``; skip a verified copy."""
    target = folder / remote.target
    if _verified(target, remote):
        log.info("%s: verified copy present, not downloading", target)
        return target
    archive = folder / remote.archive
    url = base_url.rstrip("/") + "/" + remote.archive
    if not (archive.is_file() and file_md5(archive) == remote.md5):
        _download(url, archive, remote.md5, folder, remote, progress, retries, timeout)
    digest = _unpack(archive, target, remote)
    if remote.target_md5 is not None and digest != remote.target_md5:
        target.unlink(missing_ok=True)
        raise DataError(
            f"{target}: unpacked file has MD5 {digest}, expected {remote.target_md5}; "
            "it was deleted, run the command again"
        )
    if remote.target_md5 is None:
        write_text_atomic(target.with_name(target.name + ".md5"), digest + "\n")
    archive.unlink(missing_ok=True)
    log.info("%s: ready", target)
    return target


def _download(
    url: str,
    archive: Path,
    md5: str,
    folder: Path,
    remote: Remote,
    progress: Progress | None,
    retries: int,
    timeout: float,
) -> None:
    part = archive.with_name(archive.name + ".part")
    attempt = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _get(url, part, progress, timeout)
            break
        except urllib.error.HTTPError as err:
            raise DataError(
                f"cannot download {url} (HTTP {err.code} {err.reason}); put "
                f"{remote.target} in {folder} by hand and run again"
            ) from err
        except _NETWORK_ERRORS + (OSError,) as err:
            have = part.stat().st_size if part.exists() else 0
            if attempt >= retries or have <= before:  # retry only a cut that made progress
                if not have:
                    part.unlink(missing_ok=True)
                reason = getattr(err, "reason", None) or err or type(err).__name__
                kept = f", {have} bytes kept in {part.name} to resume" if have else ""
                raise DataError(
                    f"cannot download {url} ({reason}){kept}; run again when online, "
                    f"or put {remote.target} in {folder} by hand"
                ) from err
            attempt += 1
            log.warning("download of %s interrupted at %d bytes (%s); resuming", url, have, err)
    digest = file_md5(part)
    if digest != md5:
        part.unlink(missing_ok=True)
        raise DataError(
            f"{archive}: checksum mismatch (MD5 {digest}, expected {md5}); the download "
            "was deleted, run the command again"
        )
    os.replace(part, archive)


def _get(url: str, part: Path, progress: Progress | None, timeout: float) -> None:
    """GET ``url`` into ``part``, continuing from its current size with a Range request."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "spikebench"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part is complete
            return
        raise
    with response:
        if have and response.status == 206:
            mode = "ab"
        else:
            have, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done = have
        label = part.name.removesuffix(".part")
        if progress:
            progress(label, done, total)
        with open(part, mode) as out:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(label, done, total)
        if total is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)


def _unpack(archive: Path, target: Path, remote: Remote) -> str:
    """Unpack ``archive`` (.zip or .gz) to ``target`` atomically; return the target's MD5."""
    try:
        with atomic_path(target) as tmp:
            if archive.name.endswith(".zip"):
                with zipfile.ZipFile(archive) as z:
                    members = [m for m in z.namelist() if not m.endswith("/")]
                    wanted = [m for m in members if Path(m).name == remote.target] or members
                    if len(wanted) != 1:
                        raise DataError(
                            f"{archive}: expected one file {remote.target}, found {members}"
                        )
                    with z.open(wanted[0]) as src, open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
            elif archive.name.endswith(".gz"):
                with gzip.open(archive, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
            else:
                shutil.copyfile(archive, tmp)
            digest = file_md5(tmp)
    except (zipfile.BadZipFile, gzip.BadGzipFile, EOFError, OSError) as err:
        raise DataError(f"{archive}: cannot unpack ({err})") from err
    return digest
