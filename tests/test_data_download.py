"""fetch against a local HTTP server on 127.0.0.1: success, skip, checksum mismatch,
a connection cut mid-file then resumed with a Range request, and the offline error."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spikebench.data.download import Remote, fetch
from spikebench.errors import DataError


class _Server(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]
    cut_after: int | None  # bytes sent before the first full (non-Range) response is cut
    requests: list[tuple[str, str | None]]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        rng = self.headers.get("Range")
        self.server.requests.append((name, rng))
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = self.server.cut_after
        if cut is not None and not rng:
            self.server.cut_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.files, srv.cut_after, srv.requests = {}, None, []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _zip(name: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(name, payload)
    return buffer.getvalue()


PAYLOAD = bytes(range(256)) * 4096  # 1 MiB stand-in for an .h5 file


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/"


def test_fetch_unpacks_verifies_and_skips_next_time(server: _Server, tmp_path: Path) -> None:
    archive = _zip("x_train.h5", PAYLOAD)
    server.files["x_train.h5.zip"] = archive
    server.files["x_test.h5.gz"] = gzip.compress(PAYLOAD[::-1])
    remotes = [
        Remote("x_train.h5.zip", _md5(archive), "x_train.h5", _md5(PAYLOAD)),
        Remote("x_test.h5.gz", _md5(server.files["x_test.h5.gz"]), "x_test.h5"),
    ]
    seen = []
    paths = fetch("x", tmp_path, base_url=_url(server), remotes=remotes,
                  progress=lambda *event: seen.append(event))  # fmt: skip
    assert [p.name for p in paths] == ["x_train.h5", "x_test.h5"]
    assert paths[0].read_bytes() == PAYLOAD and paths[1].read_bytes() == PAYLOAD[::-1]
    names = sorted(p.name for p in (tmp_path / "x").iterdir())
    assert names == ["x_test.h5", "x_test.h5.md5", "x_train.h5"]
    assert seen[-1][1] == seen[-1][2]  # progress reached the total
    n = len(server.requests)
    fetch("x", tmp_path, base_url=_url(server), remotes=remotes)
    assert len(server.requests) == n  # verified copies: nothing downloaded


def test_checksum_mismatch_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    server.files["y.h5.zip"] = _zip("y.h5", PAYLOAD)
    remote = Remote("y.h5.zip", "0" * 32, "y.h5")
    with pytest.raises(DataError) as info:
        fetch("y", tmp_path, base_url=_url(server), remotes=[remote])
    msg = str(info.value)
    assert "checksum mismatch" in msg and "y.h5.zip" in msg and "\n" not in msg
    assert not (tmp_path / "y").exists()  # nothing left, not even the folder it made


def test_cut_connection_resumes_with_range(server: _Server, tmp_path: Path) -> None:
    archive = _zip("z.h5", PAYLOAD)
    server.files["z.h5.zip"] = archive
    remote = Remote("z.h5.zip", _md5(archive), "z.h5", _md5(PAYLOAD))
    cut = len(archive) // 3

    # no retries: the cut fails the command, keeps the partial download, no final file
    server.cut_after = cut
    with pytest.raises(DataError, match="bytes kept in z.h5.zip.part to resume"):
        fetch("z", tmp_path, base_url=_url(server), remotes=[remote], retries=0)
    folder = tmp_path / "z"
    assert (folder / "z.h5.zip.part").stat().st_size == cut
    assert not (folder / "z.h5").exists()

    # the next run asks only for the rest
    fetch("z", tmp_path, base_url=_url(server), remotes=[remote])
    assert server.requests[-1] == ("z.h5.zip", f"bytes={cut}-")
    assert (folder / "z.h5").read_bytes() == PAYLOAD
    assert sorted(p.name for p in folder.iterdir()) == ["z.h5"]

    # within one run, a cut is resumed automatically
    server.cut_after = cut
    fetch("w", tmp_path, base_url=_url(server), remotes=[remote])
    assert (tmp_path / "w" / "z.h5").read_bytes() == PAYLOAD
    assert server.requests[-2:] == [("z.h5.zip", None), ("z.h5.zip", f"bytes={cut}-")]


def test_offline_error_says_where_to_put_files(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = Remote("shd_train.h5.zip", "0" * 32, "shd_train.h5", "1" * 32)
    with pytest.raises(DataError) as info:
        fetch("shd", tmp_path, base_url=f"http://127.0.0.1:{port}/", remotes=[remote], retries=1)
    msg = str(info.value)
    assert "\n" not in msg and "cannot download" in msg
    assert f"put shd_train.h5 in {tmp_path / 'shd'} by hand" in msg
    assert not (tmp_path / "shd").exists()  # nothing left, not even the folder it made


def test_http_error_is_reported(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="HTTP 404"):
        fetch("v", tmp_path, base_url=_url(server), remotes=[Remote("v.zip", "0" * 32, "v.h5")])
