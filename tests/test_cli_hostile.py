"""Hostile input, table-driven: every command over a matrix of bad inputs.

Each error case asserts: non-zero exit, stderr is exactly one line starting with
``spikebench: error:`` (and naming the problem), no traceback, and no new file or folder
anywhere under the case's workspace (its files, its data root, its working directory).
The binning cache (``data/binned``) is the one exception: an entry is the binned form of
a file that was read and validated in full, keyed by its content, and is reused by the
next run, so it is not a leftover of the failure.

Groups (the seven kinds of failure the matrix is organised by):
``outputs`` (output paths), ``late`` (input that passed validation but broke later),
``text`` (unreadable text files), ``tune``, ``leftovers`` (interruption and resume),
``silent`` (data changed without a word: warnings, tested apart from the errors below)
and ``messages``. Most cases run in-process through ``spikebench.cli.main``; those with
``exe=True`` run the installed ``spikebench`` entry point in a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile

from spikebench.cli import main
from spikebench.data.shd import write_shd
from spikebench.data.synthetic import make_synthetic

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0
UNWRITABLE = Path("/sys/spikebench-hostile")  # cannot be written, not even by root
UNDER_PROC = Path("/proc/spikebench-hostile")
EXE = Path(sys.executable).with_name("spikebench")
TRACEBACK = re.compile(r"Traceback|^\s+File \"", re.M)


# --- the workspace of one case --------------------------------------------------------


@dataclass
class Ws:
    """A case's workspace: ``path`` (also the working directory), its data root
    ``path/data``, the tiny data set and the finished run shared by all cases."""

    path: Path
    tiny: Path  # folder with tiny_train.h5 / tiny_test.h5 (outside the workspace)
    run: Path  # a finished run (outside the workspace; copy it before changing it)
    search_toml: Path

    @property
    def data(self) -> Path:
        return self.path / "data"

    def dataset(self, name: str, *, train: object = None, test: object = None) -> Path:
        """A folder ``name`` with ``tiny_train.h5``/``tiny_test.h5``: copies of the tiny
        set, or ``train``/``test`` as given (a SpikeData, bytes, or a writer function)."""
        folder = self.path / name
        folder.mkdir()
        for split, spec in (("train", train), ("test", test)):
            target = folder / f"tiny_{split}.h5"
            if spec is None:
                shutil.copy(self.tiny / f"tiny_{split}.h5", target)
            elif isinstance(spec, bytes):
                target.write_bytes(spec)
            elif callable(spec):
                spec(target)
            else:
                write_shd(target, spec)
        return folder

    def run_copy(self, name: str = "run") -> Path:
        target = self.path / name
        shutil.copytree(self.run, target)
        return target

    def text(self, name: str, content: str | bytes) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path


@dataclass
class Case:
    id: str
    group: str
    argv: Callable[[Ws], list[str]]
    expect: str  # a piece of the one error line
    exe: bool = False  # through the installed entry point, in a subprocess
    needs: list[str] = field(default_factory=list)


def _files(root: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts[:2] == ("data", "binned"):
            continue
        found.update(str(rel / n) for n in dirnames + filenames)
    return found


def _tiny(n: int, seed: int = 1, **kw) -> object:
    return make_synthetic(n, n_classes=20, n_speakers=6, structure_seed=0, mean_events=80.0,
                          seed=seed, **kw)


def _empty_split(path: Path) -> None:
    """An SHD-schema file with the datasets but no sample."""
    with h5py.File(path, "w") as f:
        for name, dtype in (("times", np.float16), ("units", np.uint16)):
            f.create_dataset(f"spikes/{name}", shape=(0,), dtype=h5py.vlen_dtype(dtype))
        f.create_dataset("labels", data=np.zeros(0, np.uint16))
        f.create_dataset("extra/speaker", data=np.zeros(0, np.uint16))
        f.create_dataset("extra/keys", data=[f"k{i}" for i in range(20)])


def _label_out_of_keys(path: Path) -> None:
    with h5py.File(path, "w") as f:
        for name, dtype, row in (("times", np.float16, [0.1]), ("units", np.uint16, [3])):
            ragged = np.empty(1, dtype=object)
            ragged[0] = np.asarray(row, dtype)
            f.create_dataset(f"spikes/{name}", data=ragged, dtype=h5py.vlen_dtype(dtype))
        f.create_dataset("labels", data=np.asarray([40], np.uint16))
        f.create_dataset("extra/speaker", data=np.zeros(1, np.uint16))
        f.create_dataset("extra/keys", data=["a", "b"])


def _one_speaker(path: Path) -> None:
    data = _tiny(40)
    write_shd(path, type(data)(data.times, data.units, data.offsets, data.labels,
                               np.zeros_like(data.speakers), data.keys))


def _audio(ws: Ws) -> Path:
    folder = ws.path / "audio"
    folder.mkdir()
    t = np.arange(1600) / 16000
    soundfile.write(folder / "3_alice_0.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    return folder


def _garbage_audio(ws: Ws) -> Path:
    folder = ws.path / "garbage"
    folder.mkdir()
    (folder / "1_x_0.wav").write_bytes(b"RIFF\x00\x00 not audio at all")
    (folder / "2_x_0.wav").write_bytes(b"")
    return folder


def _resume_run(ws: Ws, *, results: str | bytes | None = None, config: bytes | None = None,
                drop_models: bool = False, checkpoint: bytes | None = None,
                config_edit: tuple[str, str] | None = None) -> Path:
    run = ws.run_copy()
    if drop_models:
        res = json.loads((run / "results.json").read_text())
        res["models"] = []
        (run / "results.json").write_text(json.dumps(res))
    if results is not None:
        ws.text("run/results.json", results)
    if config is not None:
        (run / "config.toml").write_bytes(config)
    if config_edit is not None:
        text = (run / "config.toml").read_text()
        assert config_edit[0] in text
        (run / "config.toml").write_text(text.replace(*config_edit, 1))
    if checkpoint is not None:
        (run / "checkpoints" / "snn_p1.pt").write_bytes(checkpoint)
    return run


def _unwritable_dir(ws: Ws, name: str) -> Path:
    """A folder this process cannot create files in: mode 0555, or immutable for root."""
    folder = ws.path / name
    folder.mkdir()
    if ROOT_USER:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("root without chattr +i: no unwritable folder to test with")
    else:
        folder.chmod(0o555)
    return folder


def _writable_again(root: Path) -> None:
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            if ROOT_USER:
                subprocess.run(["chattr", "-i", str(p)], capture_output=True)
            else:
                p.chmod(0o755)


def _study(ws: Ws, *, experiment: str = "another", pruner: str = "median") -> Path:
    import optuna

    out = ws.path / "tune"
    out.mkdir()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{out / 'study.db'}", study_name="tune_tiny",
                                direction="maximize")
    study.set_user_attr("experiment", experiment)
    study.set_user_attr("pruner", pruner)
    return out


def _bad_toml(ws: Ws, body: str) -> str:
    return str(ws.text("bad.toml", body))


RUN = ["run", "--epochs", "1", "--no-report", "--set", "select=snn_p1"]


def _run(ws: Ws, *extra: str) -> list[str]:
    return [*RUN, "--dataset", str(ws.tiny), "--out", str(ws.path / "out"), *extra]


CASES: list[Case] = [
    # --- 1. output paths, checked before any work ---
    Case("run --out is an existing file", "outputs",
         lambda ws: _run(ws)[:-2] + ["--out", str(ws.text("taken", "x"))], "is not a folder"),
    Case("run --out in an unwritable folder", "outputs",
         lambda ws: _run(ws)[:-2] + ["--out", str(UNWRITABLE / "run")], "cannot write into",
         exe=True),
    Case("run --out under /proc", "outputs",
         lambda ws: _run(ws)[:-2] + ["--out", str(UNDER_PROC / "run")], "cannot write into"),
    Case("run --out below a file", "outputs",
         lambda ws: _run(ws)[:-2] + ["--out", str(ws.text("f", "x") / "run")], "is not a folder"),
    Case("run --out in a read-only folder", "outputs",
         lambda ws: _run(ws)[:-2] + ["--out", str(_unwritable_dir(ws, "ro") / "run")],
         "cannot write into"),
    Case("run default runs/ is a file", "outputs",
         lambda ws: (ws.text("runs", "x"), [*RUN, "--dataset", str(ws.tiny)])[1],
         "is not a folder"),
    Case("export --nir into an unwritable folder", "outputs",
         lambda ws: ["export", str(ws.run), "--nir", str(UNWRITABLE / "m.nir")],
         "cannot write into"),
    Case("export --nir onto an existing folder", "outputs",
         lambda ws: ["export", str(ws.run), "--nir", str(ws.path)], "is a folder"),
    Case("export --nir under /proc", "outputs",
         lambda ws: ["export", str(ws.run), "--nir", str(UNDER_PROC / "m.nir")],
         "cannot write into", exe=True),
    Case("export --nir in a read-only folder", "outputs",
         lambda ws: ["export", str(ws.run), "--nir", str(_unwritable_dir(ws, "ro") / "m.nir")],
         "cannot write into"),
    Case("convert onto a folder", "outputs",
         lambda ws: ["data", "convert", str(_audio(ws)), str(ws.path),
                     "--label-pattern", r"^(\d)_", "--workers", "1"], "is a folder"),
    Case("convert into an unwritable folder", "outputs",
         lambda ws: ["data", "convert", str(_audio(ws)), str(UNWRITABLE / "o.h5"),
                     "--label-pattern", r"^(\d)_", "--workers", "1"], "cannot write into"),
    Case("convert below a file", "outputs",
         lambda ws: ["data", "convert", str(_audio(ws)), str(ws.text("f", "x") / "o.h5"),
                     "--label-pattern", r"^(\d)_", "--workers", "1"], "is not a folder"),
    Case("convert into a read-only folder", "outputs",
         lambda ws: ["data", "convert", str(_audio(ws)), str(_unwritable_dir(ws, "ro") / "o.h5"),
                     "--label-pattern", r"^(\d)_", "--workers", "1"], "cannot write into"),
    Case("report on an unwritable run folder", "outputs",
         lambda ws: ["report", _report_readonly(ws)], "cannot write into"),
    Case("report where report.md is a folder", "outputs",
         lambda ws: ["report", str(_report_md_folder(ws))], "is a folder"),
    Case("tune --out is a file", "outputs",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "1",
                     "--out", str(ws.text("taken", "x"))], "is not a folder"),
    Case("make-digits --out is a file", "outputs",
         lambda ws: ["data", "make-digits", "--out", str(ws.text("taken", "x"))],
         "is not a folder"),
    Case("make-digits into an unwritable data root", "outputs",
         lambda ws: ["data", "make-digits", "--root", str(UNWRITABLE)], "cannot write into"),
    Case("fetch into an unwritable data root", "outputs",
         lambda ws: ["data", "fetch", "shd", "--root", str(UNWRITABLE)], "cannot write into"),
    Case("inspect --plot onto a folder", "outputs",
         lambda ws: ["data", "inspect", str(ws.tiny / "tiny_test.h5"), "--plot", str(ws.path)],
         "is a folder"),
    Case("inspect --plot into an unwritable folder", "outputs",
         lambda ws: ["data", "inspect", str(ws.tiny / "tiny_test.h5"), "--plot",
                     str(UNWRITABLE / "r.png")], "cannot write into"),

    # --- 2. input that passes validation but breaks later: refused before any folder ---
    Case("test file with 0 samples", "late",
         lambda ws: _run(ws, "--dataset", str(ws.dataset("d", test=_empty_split))),
         "test file holds no samples", exe=True),
    Case("training file with 0 samples", "late",
         lambda ws: _run(ws, "--dataset", str(ws.dataset("d", train=_empty_split))),
         "training file holds no samples"),
    Case("bogus models.X.engine via --set", "late",
         lambda ws: _run(ws, "--set", "models.snn_p1.engine=bogus"), "unknown engine 'bogus'"),
    Case("engine the model lacks (adLIF on norse)", "late",
         lambda ws: _run(ws, "--set", "models.snn_p1.model=adlif",
                         "--set", "models.snn_p1.engine=norse",
                         "--set", "models.snn_p1.hparams={}"), "engine 'norse'"),
    Case("bad hparams value reaches the builder", "late",
         lambda ws: _run(ws, "--set", "models.snn_p1.hparams.readout=\"median\""), "readout"),
    Case("one speaker: no validation speakers", "late",
         lambda ws: _run(ws, "--dataset", str(ws.dataset("d", train=_one_speaker))),
         "at least 2 speakers"),
    Case("test label outside the keys", "late",
         lambda ws: _run(ws, "--dataset", str(ws.dataset("d", test=_label_out_of_keys))),
         "outside the 2 keys"),
    Case("training file not HDF5", "late",
         lambda ws: _run(ws, "--dataset", str(ws.dataset("d", train=b"plain text\n"))),
         "not an HDF5 file"),
    Case("truncated test file", "late",
         lambda ws: _run(ws, "--dataset", str(ws.dataset(
             "d", test=(ws.tiny / "tiny_test.h5").read_bytes()[:5000]))), "HDF5"),
    Case("t_max not a whole number of dt", "late",
         lambda ws: _run(ws, "--set", "data.dt=0.003"), "whole number"),
    Case("--dataset folder without a pair", "late",
         lambda ws: _run(ws, "--dataset", str(ws.text("lonely/x_train.h5", "x").parent)),
         "no <name>_train.h5 with a matching"),
    Case("--dataset ssc not fetched", "late",
         lambda ws: _run(ws, "--dataset", "ssc"), "spikebench data fetch ssc"),
    Case("--dataset missing folder", "late",
         lambda ws: _run(ws, "--dataset", str(ws.path / "nowhere")), "existing folder"),
    Case("--epochs 0", "late", lambda ws: _run(ws, "--epochs", "0"), "--epochs 0"),
    Case("inference.batch_size=0", "late",
         lambda ws: _run(ws, "--set", "inference.batch_size=0"), "inference.batch_size must be >= 1"),

    # --- 3. unreadable text ---
    Case("experiment TOML not UTF-8", "text",
         lambda ws: _run(ws, "--experiment", str(ws.text("latin.toml", "name = 'caf\xe9'".encode(
             "latin-1")))), "not UTF-8", exe=True),
    Case("experiment TOML syntax error", "text",
         lambda ws: _run(ws, "--experiment", _bad_toml(ws, "name = [unclosed\n")),
         "not valid TOML"),
    Case("experiment path is a folder", "text",
         lambda ws: _run(ws, "--experiment", str((ws.path / "x.toml").mkdir() or ws.path / "x.toml")),
         "experiment file not found"),
    Case("experiment with an unknown key", "text",
         lambda ws: _run(ws, "--experiment", _bad_toml(ws, "name = 'x'\nsped = 1\n")),
         "unknown key sped"),
    Case("truncated results.json under --resume", "text",
         lambda ws: ["run", "--resume", "--out", str(_resume_run(ws, results='{"models": [{"na'))],
         "results.json: not valid JSON"),
    Case("results.json not UTF-8 under --resume", "text",
         lambda ws: ["run", "--resume", "--out", str(_resume_run(ws, results=b"\xff\xfe{"))],
         "results.json: not UTF-8"),
    Case("results.json is a list under --resume", "text",
         lambda ws: ["run", "--resume", "--out", str(_resume_run(ws, results="[1, 2]"))],
         "expected a JSON object"),
    Case("config.toml not UTF-8 under --resume", "text",
         lambda ws: ["run", "--resume", "--out", str(_resume_run(ws, config=b"name = '\xe9'"))],
         "not UTF-8"),
    Case("config.toml not TOML under --resume", "text",
         lambda ws: ["run", "--resume", "--out", str(_resume_run(ws, config=b"name = "))],
         "not valid TOML"),
    Case("export with a truncated results.json", "text",
         lambda ws: ["export", str(_resume_run(ws, results='{"mo')), "--nir",
                     str(ws.path / "m.nir")], "not valid JSON"),
    Case("report with a truncated results.json", "text",
         lambda ws: ["report", str(_resume_run(ws, results='{"mo'))], "not valid JSON"),

    # --- 4. tuning ---
    Case("tune --trials 0 on a new study", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "0",
                     "--out", str(ws.path / "tune")], "no finished trial yet", exe=True),
    Case("tune --trials 0, new sqlite storage", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "0",
                     "--storage", f"sqlite:///{ws.path / 's.db'}", "--out", str(ws.path / "t")],
         "no finished trial yet"),
    Case("tune --trials 0 on an empty study", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "0",
                     "--out", str(_study(ws, experiment=_fingerprint(ws)))],
         "no finished trial yet"),
    Case("tune --trials -1", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "-1",
                     "--out", str(ws.path / "t")], "--trials -1"),
    Case("tune --heartbeat 0", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "1",
                     "--heartbeat", "0", "--out", str(ws.path / "t")], "--heartbeat 0"),
    Case("tune --storage not a URL", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "1",
                     "--storage", "study.db", "--out", str(ws.path / "t")], "expected a URL"),
    Case("tune --storage in a missing folder", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "1", "--storage",
                     f"sqlite:///{ws.path / 'no' / 's.db'}", "--out", str(ws.path / "t")],
         "does not exist"),
    Case("tune an experiment without [search]", "tune",
         lambda ws: ["tune", "--experiment", "seed", "--trials", "1", "--out", str(ws.path / "t")],
         "[search]"),
    Case("tune a study of another experiment", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "1",
                     "--out", str(_study(ws))], "made for another experiment"),
    Case("tune with another pruner", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "1",
                     "--pruner", "hyperband", "--out", str(_study(ws, experiment=_fingerprint(ws)))],
         "would mix rules"),
    Case("tune on data without a test pair", "tune",
         lambda ws: ["tune", "--experiment", str(ws.search_toml), "--trials", "1",
                     "--dataset", str(ws.path / "nowhere"), "--out", str(ws.path / "t")],
         "existing folder"),

    # --- 5. leftovers: interruption and resume ---
    Case("run into a folder holding a run", "leftovers",
         lambda ws: _run(ws)[:-2] + ["--out", str(ws.run_copy())], "already holds a run"),
    Case("--resume without --out", "leftovers",
         lambda ws: ["run", "--resume"], "--resume needs --out"),
    Case("--resume with --set", "leftovers",
         lambda ws: ["run", "--resume", "--out", str(ws.run_copy()), "--set", "seed=1"],
         "drop --set"),
    Case("--resume a folder that is no run", "leftovers",
         lambda ws: ["run", "--resume", "--out", str(ws.path)], "not a run directory"),
    Case("--resume a missing folder", "leftovers",
         lambda ws: ["run", "--resume", "--out", str(ws.path / "gone")], "not a run directory"),
    Case("--resume with a foreign checkpoint", "leftovers",
         lambda ws: ["run", "--resume", "--out", str(_resume_run(ws, drop_models=True,
                                                               checkpoint=b"PK\x03\x04junk"))],
         "not a readable spikebench checkpoint"),
    Case("--resume after config.toml was edited", "leftovers",
         lambda ws: ["run", "--resume", "--out", str(_resume_run(
             ws, drop_models=True, config_edit=("lr = 0.001", "lr = 0.002")))],
         "different set-up of model"),

    # --- 7. messages ---
    Case("export without the checkpoint", "messages",
         lambda ws: ["export", str(_without_checkpoint(ws)), "--nir", str(ws.path / "m.nir")],
         "has no checkpoint", exe=True),
    Case("export a folder that is no run", "messages",
         lambda ws: ["export", str(ws.path), "--nir", str(ws.path / "m.nir")],
         "a spikebench run directory?"),
    Case("export --model unknown", "messages",
         lambda ws: ["export", str(ws.run), "--model", "nope", "--nir", str(ws.path / "m.nir")],
         "no model 'nope'"),
    Case("--set value names --set, not the file", "messages",
         lambda ws: _run(ws, "--set", "models.snn_p1.lr=-1"), "--set models.snn_p1.lr=-1: "),
    Case("--set type error names --set", "messages",
         lambda ws: _run(ws, "--set", "models.snn_p1.epochs=\"two\""), "--set models.snn_p1.epochs"),
    Case("--set without =", "messages", lambda ws: _run(ws, "--set", "seed"), "expected key=value"),
    Case("--set unknown key", "messages", lambda ws: _run(ws, "--set", "speed=2"),
         "unknown key speed"),
    Case("--set unknown model", "messages",
         lambda ws: _run(ws, "--set", "models.nope.epochs=1"), "no model named 'nope'"),
    Case("--set select unknown", "messages", lambda ws: _run(ws, "--set", "select=nope"),
         "select names unknown model"),
    Case("-q after the sub-command", "messages",
         lambda ws: [*_run(ws, "--set", "seed=x"), "-q"], "expected an integer"),
    Case("bad integer option is one line", "messages",
         lambda ws: ["run", "--epochs", "two"], "invalid int value", exe=True),
    Case("unknown option is one line", "messages",
         lambda ws: ["run", "--epoch", "1", "--wat"], "unrecognized arguments"),
    Case("unknown command is one line", "messages", lambda ws: ["train"], "invalid choice"),
    Case("missing command is one line", "messages", lambda ws: [], "required"),
    Case("unknown experiment", "messages", lambda ws: _run(ws, "--experiment", "nope"),
         "unknown experiment 'nope'"),
    Case("missing experiment file", "messages",
         lambda ws: _run(ws, "--experiment", str(ws.path / "nope.toml")), "experiment file not found"),

    # --- audio conversion and the spoken-digits set ---
    Case("convert a missing folder", "outputs",
         lambda ws: ["data", "convert", str(ws.path / "none"), str(ws.path / "o.h5"),
                     "--label-pattern", "(x)"], "not a folder"),
    Case("convert a folder without audio", "late",
         lambda ws: ["data", "convert", str(ws.text("txt/a.txt", "x").parent),
                     str(ws.path / "o.h5"), "--label-pattern", "(x)"], "no audio files"),
    Case("convert: invalid regex", "messages",
         lambda ws: ["data", "convert", str(_audio(ws)), str(ws.path / "o.h5"),
                     "--label-pattern", "(unclosed"], "not a valid regular expression"),
    Case("convert: regex without a group", "messages",
         lambda ws: ["data", "convert", str(_audio(ws)), str(ws.path / "o.h5"),
                     "--label-pattern", r"\d"], "needs a capture group"),
    Case("convert --workers 0", "messages",
         lambda ws: ["data", "convert", str(_audio(ws)), str(ws.path / "o.h5"),
                     "--label-pattern", r"^(\d)", "--workers", "0"], "--workers 0"),
    Case("convert --keys repeated", "messages",
         lambda ws: ["data", "convert", str(_audio(ws)), str(ws.path / "o.h5"),
                     "--label-pattern", r"^(\d)", "--keys", "a,a"], "distinct"),
    Case("convert: no file readable", "late",
         lambda ws: ["data", "convert", str(_garbage_audio(ws)), str(ws.path / "o.h5"),
                     "--label-pattern", r"^(\d)", "--workers", "1"], "no file could be converted"),
    Case("convert: no label matches", "late",
         lambda ws: ["data", "convert", str(_audio(ws)), str(ws.path / "o.h5"),
                     "--label-pattern", r"^([a-z]+)_", "--workers", "1"], "no file could be converted"),
    Case("make-digits --n-train 0", "messages",
         lambda ws: ["data", "make-digits", "--out", str(ws.path / "dg"), "--n-train", "0"],
         "n_train"),
    Case("make-digits --workers 0", "messages",
         lambda ws: ["data", "make-digits", "--out", str(ws.path / "dg"), "--workers", "0"],
         "--workers 0"),

    Case("export with nothing to do", "messages",
         lambda ws: ["export", str(ws.run)], "nothing to do"),
    Case("export --target unknown", "messages",
         lambda ws: ["export", str(ws.run), "--nir", str(ws.path / "m.nir"), "--target", "lava"],
         "invalid choice: 'lava'"),
    Case("export --loihi-check without the run's data", "late",
         lambda ws: ["export", str(_without_data(ws)), "--loihi-check"], "gone.h5"),
    Case("run: digits under an unwritable --root", "outputs",
         lambda ws: [*RUN, "--root", str(UNWRITABLE), "--out", str(ws.path / "out")],
         str(UNWRITABLE)),

    # --- downloads (no network needed: local URLs) ---
    Case("fetch from a missing mirror", "late",
         lambda ws: ["data", "fetch", "shd", "--base-url", (ws.path / "mirror").as_uri()],
         "cannot download"),
    Case("fetch from a refused port", "late",
         lambda ws: ["data", "fetch", "shd", "--base-url", f"http://127.0.0.1:{_free_port()}/"],
         "cannot download"),
    Case("fetch an archive with a wrong checksum", "late",
         lambda ws: ["data", "fetch", "ssc", "--base-url",
                     ws.text("mirror/ssc_train.h5.zip", "not the archive").parent.as_uri()],
         "checksum mismatch"),
    Case("fetch an unknown data set", "messages", lambda ws: ["data", "fetch", "tidigits"],
         "invalid choice"),

    # --- inspecting files ---
    Case("inspect a missing file", "late",
         lambda ws: ["data", "inspect", str(ws.path / "none.h5")], "file not found"),
    Case("inspect a text file", "late",
         lambda ws: ["data", "inspect", str(ws.text("t.h5", "hello"))], "not an HDF5 file"),
    Case("inspect a folder", "late",
         lambda ws: ["data", "inspect", str(ws.path)], "is a directory"),
    Case("inspect --samples 0", "messages",
         lambda ws: ["data", "inspect", str(ws.tiny / "tiny_test.h5"), "--samples", "0"],
         "--samples 0"),
]


def _report_readonly(ws: Ws) -> str:
    run = ws.run_copy("ro")
    _unwritable_dir_existing(run)
    return str(run)


def _unwritable_dir_existing(folder: Path) -> None:
    if ROOT_USER:
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("root without chattr +i: no unwritable folder to test with")
    else:
        folder.chmod(0o555)


def _report_md_folder(ws: Ws) -> Path:
    run = ws.run_copy()
    (run / "report.md").mkdir()
    return run


def _without_checkpoint(ws: Ws) -> Path:
    run = ws.run_copy()
    (run / "checkpoints" / "snn_p1.pt").unlink()
    return run


def _without_data(ws: Ws) -> Path:
    run = ws.run_copy()
    res = json.loads((run / "results.json").read_text())
    res["dataset"]["test_file"] = str(ws.path / "gone.h5")
    (run / "results.json").write_text(json.dumps(res))
    return run


def _fingerprint(ws: Ws) -> str:
    from spikebench.experiments.config import load_experiment
    from spikebench.tuning.study import _fingerprint as fp

    return fp(load_experiment(str(ws.search_toml)))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- fixtures ------------------------------------------------------------------------

SEARCH = """\
name = "tune_tiny"
dataset = "{dataset}"

[data]
dt = 0.05

[[models]]
name = "snn"
model = "snn"
hidden = 16
epochs = 1
batch_size = 64
engine = "fused"

[search]
model = "snn"

[search.space]
"models.snn.lr" = {{ type = "float", low = 1e-4, high = 1e-2, log = true }}
"""


@pytest.fixture(scope="module")
def shared(tiny_shd, tmp_path_factory) -> dict[str, Path]:
    """The tiny data set, one finished run of ``snn_p1`` on it, a search experiment."""
    base = tmp_path_factory.mktemp("hostile-shared")
    run = base / "run"
    argv = [*RUN, "--dataset", str(tiny_shd["train"].parent), "--out", str(run), "--root",
            str(base / "data"), "--set", "inference.max_batches=1",
            "--set", "inference.latency_samples=2", "--set", "models.snn_p1.hidden=16",
            "--set", "data.dt=0.05"]
    log = io.StringIO()
    with contextlib.redirect_stderr(log):  # not -q: the progress lines, checked below
        assert main(argv) == 0
    search = base / "tune_tiny.toml"
    search.write_text(SEARCH.format(dataset=tiny_shd["train"].parent))
    return {"tiny": tiny_shd["train"].parent, "run": run, "search": search, "log": log.getvalue()}


@pytest.fixture()
def ws(shared, tmp_path, monkeypatch) -> Ws:
    path = tmp_path / "ws"
    (path / "data" / "binned").mkdir(parents=True)
    monkeypatch.chdir(path)
    monkeypatch.setenv("SPIKEBENCH_DATA", str(path / "data"))
    yield Ws(path, shared["tiny"], shared["run"], shared["search"])
    _writable_again(path)


def test_progress_lines_show_no_source_locations(shared) -> None:
    lines = shared["log"].strip().splitlines()
    assert any("epoch 1/1" in line for line in lines), lines
    assert not [line for line in lines if re.search(r"\b\w+\.py:\d+", line)], lines


def _call(argv: list[str], exe: bool, capsys) -> tuple[int, str]:
    """Exit status and stderr of ``spikebench ARGV``; in-process calls add ``-q`` at the end
    (so the one line is all of stderr, and ``-q`` after the sub-command is exercised)."""
    if exe:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.run([str(EXE), *argv], capture_output=True, text=True, env=env,
                              timeout=300)
        return proc.returncode, proc.stderr
    try:
        code = main([*argv, "-q"] if argv else argv)
    except SystemExit as stop:  # argparse
        code = stop.code if isinstance(stop.code, int) else 1
    return code, capsys.readouterr().err


def test_the_matrix_covers_every_group(capsys):
    groups = {c.group for c in CASES}
    assert groups >= {"outputs", "late", "text", "tune", "leftovers", "messages"}
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(c.exe for c in CASES) >= 5
    total = len(CASES) + len(WARNING_CASES) + len(RESUME_CASES) + 2  # + log format, OSError
    line = (f"hostile matrix: {total} cases ({len(CASES)} errors, "
            f"{sum(c.exe for c in CASES)} of them through the entry point; "
            f"{len(WARNING_CASES)} warnings; {len(RESUME_CASES)} resumes; log format; OSError)")
    with capsys.disabled():  # shown whatever the capture mode
        print("\n" + line)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_leaves_nothing(case: Case, ws: Ws, capsys) -> None:
    argv = case.argv(ws)
    capsys.readouterr()
    before = _files(ws.path)
    code, err = _call(argv, case.exe, capsys)
    lines = err.strip().splitlines()
    assert code != 0, err
    assert not TRACEBACK.search(err), err
    errors = [line for line in lines if line.startswith("spikebench: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert case.exe or len(lines) == 1, err  # -q: nothing but the error
    assert case.expect in errors[0], errors[0]
    _writable_again(ws.path)
    assert _files(ws.path) - before == set(), "left behind"


# --- 6. silent data changes: a warning (once per file, with count and share), not an error ---


def _unsorted(path: Path, n_bad: int = 5) -> None:
    """The tiny set with the spikes of ``n_bad`` samples in reverse time order."""
    data = _tiny(60)
    times = data.times.copy()
    for i in range(n_bad):
        a, b = data.offsets[i], data.offsets[i + 1]
        times[a:b] = times[a:b][::-1]
    write_shd(path, type(data)(times, data.units, data.offsets, data.labels, data.speakers,
                               data.keys))


def _late(path: Path, seconds: float = 60.0) -> None:
    """The tiny set with its first sample stretched to ``seconds`` (a 60 s recording)."""
    data = _tiny(60, seed=3)
    times = data.times.copy()
    a, b = data.offsets[0], data.offsets[1]
    times[a:b] = np.linspace(0.0, seconds, b - a, endpoint=False).astype(np.float16)
    write_shd(path, type(data)(times, data.units, data.offsets, data.labels, data.speakers,
                               data.keys))


WARN_RUN = [*RUN, "--set", "models.snn_p1.hidden=16", "--set", "inference.max_batches=1",
            "--set", "inference.latency_samples=2", "--set", "data.dt=0.05", "-q"]

# (id, argv builder, expected warnings: one (file name, pieces) per file)
WARNING_CASES = [
    ("inspect: unsorted spike times", lambda ws: ["data", "inspect", str(
        ws.dataset("d", train=_unsorted) / "tiny_train.h5")],
     [("tiny_train.h5", ["not sorted by time", "in 5 of 60 samples", "%"])]),
    ("run: unsorted training file", lambda ws: [*WARN_RUN, "--dataset", str(
        ws.dataset("d", train=_unsorted)), "--out", str(ws.path / "out")],
     [("tiny_train.h5", ["not sorted by time", "%"])]),
    ("run: unsorted test file, read twice, warned once", lambda ws: [*WARN_RUN, "--dataset", str(
        ws.dataset("d", test=_unsorted)), "--out", str(ws.path / "out")],
     [("tiny_test.h5", ["not sorted by time", "%"])]),
    ("run: a 60 s sample cut at t_max", lambda ws: [*WARN_RUN, "--dataset", str(
        ws.dataset("d", train=_late, test=_late)), "--out", str(ws.path / "out")],
     [("tiny_train.h5", ["at or after data.t_max = 1 s", "%"]),
      ("tiny_test.h5", ["at or after data.t_max = 1 s", "%"])]),
]


@pytest.mark.parametrize("make_argv, expected", [c[1:] for c in WARNING_CASES],
                         ids=[c[0] for c in WARNING_CASES])
def test_silent_data_change_is_warned_once_per_file(make_argv, expected, ws: Ws, capsys) -> None:
    argv = make_argv(ws)
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert not TRACEBACK.search(err), err
    assert all(line.startswith("spikebench: warning: ") for line in lines), err
    assert len(lines) == len(expected), err  # once per file, not once per read
    for (name, pieces), line in zip(expected, lines):
        assert name in line and all(p in line for p in pieces), line
        count, total = map(int, re.search(r"(\d+) of (\d+) ", line).groups())
        assert 0 < count < total, line


def test_the_cut_is_warned_again_when_the_split_comes_from_the_cache(ws: Ws, capsys) -> None:
    folder = ws.dataset("d", train=_late)
    for out in ("a", "b"):  # the second run reads the binned split from the cache
        assert main([*WARN_RUN, "--dataset", str(folder), "--out", str(ws.path / out)]) == 0
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "tiny_train.h5" in lines[0] and "t_max" in lines[0], lines


# --- 5. leftovers: temporaries of a killed write are removed when the run resumes ---


def _parts(run: Path) -> list[Path]:
    return sorted(run.rglob("*.part"))


def test_resume_removes_stale_temporaries(ws: Ws, capsys) -> None:
    run = ws.run_copy()
    planted = [run / ".results.json.k3j2l1.part", run / "checkpoints" / ".snn_p1.pt.x8a7d.part",
               run / ".samples.npz.q1w2e3.part"]
    for p in planted:
        p.write_bytes(b"half a file")
    results = json.loads((run / "results.json").read_text())
    assert main(["run", "--resume", "--out", str(run), "--no-report", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert _parts(run) == []
    again = json.loads((run / "results.json").read_text())
    assert [m["test_acc"] for m in again["models"]] == [m["test_acc"] for m in results["models"]]


def test_sigkill_mid_run_then_resume_through_the_entry_point(ws: Ws) -> None:
    """A real SIGKILL while the run trains (checkpoints written every epoch), then --resume:
    it finishes every epoch and leaves no temporary behind (that the resumed results equal
    an uninterrupted run's is tests/test_training_resume.py's)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = ws.path / "killed"
    argv = [str(EXE), "run", "--epochs", "4", "--no-report", "--set", "select=snn_p1",
            "--set", "models.snn_p1.hidden=16", "--set", "inference.max_batches=1",
            "--set", "inference.latency_samples=2", "--set", "data.dt=0.05",
            "--dataset", str(ws.tiny), "-q"]
    proc = subprocess.Popen([*argv, "--out", str(out)], env=env, stderr=subprocess.PIPE)
    ckpt = out / "checkpoints" / "snn_p1.pt"
    deadline = time.monotonic() + 240
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert ckpt.exists(), "the run ended before its first checkpoint"
    (out / "checkpoints" / ".snn_p1.pt.killed.part").write_bytes(b"cut")  # as a kill mid-write
    resumed = subprocess.run([str(EXE), "run", "--resume", "--out", str(out), "--no-report",
                              "-q"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert not TRACEBACK.search(resumed.stderr), resumed.stderr
    assert _parts(out) == []
    model = json.loads((out / "results.json").read_text())["models"][0]
    assert model["name"] == "snn_p1" and len(model["history"]["val_acc"]) == 4


RESUME_CASES = [test_resume_removes_stale_temporaries,
                test_sigkill_mid_run_then_resume_through_the_entry_point]


def test_an_os_error_during_the_work_is_one_line_with_path_and_reason(ws: Ws, capsys,
                                                                      monkeypatch) -> None:
    """The disk fills up while the report is written (after every up-front check passed):
    the CLI boundary turns the OSError into one line naming the file and the reason. The
    figures finished before it stay (each whole: written atomically); no temporary stays."""
    import errno

    import spikebench.report as report

    run = ws.run_copy()

    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(report, "write_text_atomic", full)
    assert main(["report", str(run), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"spikebench: error: {run / 'report.md'}: No space left on device"
    assert not (run / "report.md").exists() and _parts(run) == []
