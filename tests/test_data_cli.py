"""`spikebench data inspect|fetch` through spikebench.cli.main: output, raster, and the
clean one-line error (exit 1, no traceback) for every bad input of issue 2."""

from __future__ import annotations

import socket
from pathlib import Path

import h5py
import pytest

from spikebench.cli import main
from spikebench.errors import DataError

GOOD = dict(times=[[0.1, 0.2], [0.3]], units=[[1, 2], [3]], labels=[0, 1], keys=["a", "b"])


def test_inspect_prints_summary_and_draws_raster(tiny_shd, tmp_path: Path, capsys) -> None:
    raster = tmp_path / "plots" / "raster.png"
    assert main(["data", "inspect", str(tiny_shd["train"]), "--plot", str(raster)]) == 0
    out = capsys.readouterr().out
    assert "SHD schema OK" in out and "samples: 300" in out
    assert "zero" in out and "neun" in out and "speakers: 6" in out
    assert "spikes per sample: mean" in out and "duration (last spike)" in out
    assert "  #0: label " in out and "  #3: label " in out and "  #4: label " not in out
    assert raster.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(raster.parent.glob("*.part"))


def _bad_files(tmp: Path, raw_shd) -> dict[str, tuple[Path, str]]:
    good = raw_shd(tmp / "good.h5", **GOOD)
    text = tmp / "text.h5"
    text.write_text("not an hdf5 file\n")
    trunc = tmp / "trunc.h5"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    nogroup = tmp / "nogroup.h5"
    with h5py.File(nogroup, "w") as f:
        f.create_dataset("labels", data=[0])
    return {
        "missing": (tmp / "missing.h5", "file not found"),
        "not hdf5": (text, "not an HDF5 file"),
        "truncated": (trunc, "truncated"),
        "missing group": (nogroup, "missing 'spikes/times'"),
        "unit": (raw_shd(tmp / "u.h5", **{**GOOD, "units": [[1, 2], [700]]}),
                 "sample 1: unit 700 >= channel count 700"),
        "negative": (raw_shd(tmp / "n.h5", **{**GOOD, "times": [[0.1, -0.2], [0.3]]}),
                     "sample 0: spike time -0.199951 s is negative"),
        "nan": (raw_shd(tmp / "nan.h5", **{**GOOD, "times": [[0.1, 0.2], [float("nan")]]}),
                "sample 1: spike time nan s is not a number"),
        "lengths": (raw_shd(tmp / "l.h5", **{**GOOD, "units": [[1], [3]]}),
                    "sample 0: 2 spike times but 1 units"),
        "label": (raw_shd(tmp / "lab.h5", **{**GOOD, "labels": [0, 5]}),
                  "sample 1: label 5 outside the 2 keys"),
    }  # fmt: skip


def test_every_bad_input_is_one_clean_line(tmp_path: Path, raw_shd, capsys) -> None:
    cases = _bad_files(tmp_path, raw_shd)
    for case, (path, needle) in cases.items():
        code = main(["data", "inspect", str(path)])
        err = capsys.readouterr().err
        assert code == 1, case
        lines = err.strip().splitlines()
        assert len(lines) == 1, (case, err)
        assert lines[0].startswith("spikebench: error: ") and "Traceback" not in err
        assert str(path) in lines[0] and needle in lines[0], (case, lines[0])


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        main(["--debug", "data", "inspect", str(tmp_path / "missing.h5")])


def test_fetch_offline_is_one_line(tmp_path: Path, capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["data", "fetch", "shd", "--root", str(tmp_path), "--base-url",
                 f"http://127.0.0.1:{port}/"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "cannot download" in err[0] and f"{tmp_path / 'shd'} by hand" in err[0]
    assert not (tmp_path / "shd").exists()  # the folder it made is removed again


@pytest.mark.parametrize("argv", [["data", "fetch", "--help"], ["data", "inspect", "--help"]])
def test_help(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0 and "usage:" in capsys.readouterr().out
