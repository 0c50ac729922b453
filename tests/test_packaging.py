"""The built wheel ships every named experiment, and an install of it finds them by name.

The wheel is built offline (``pip wheel --no-build-isolation``) from a copy of the source
tree, so setuptools' ``build/`` folder never lands in the shared checkout. It is installed
with ``pip install --no-deps --target`` into a temporary folder; a subprocess with that
folder first on ``sys.path`` and its working directory outside the checkout then loads
each experiment, and the installed ``spikebench`` script reports an unknown one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE_CONFIGS = REPO / "src" / "spikebench" / "configs"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, work / name)
    out = work / "dist"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(out), str(work)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = out.glob("spikebench-*.whl")
    return path


def test_wheel_holds_every_experiment(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"spikebench/configs/{p.name}" for p in SOURCE_CONFIGS.glob("*.toml")}
    assert len(expected) >= 5
    assert expected <= names, sorted(expected - names)


PROBE = r"""
import contextlib, io, json, sys
import spikebench
from spikebench.cli import main
from spikebench.errors import ConfigError
from spikebench.experiments.config import list_experiments, load_experiment, resolve_experiment_path
names = list_experiments()
loaded = {n: [m.name for m in load_experiment(n).models] for n in names}
try:
    load_experiment("no_such_experiment")
    unknown = None
except ConfigError as err:
    unknown = str(err)
stderr = io.StringIO()
with contextlib.redirect_stderr(stderr):
    rc = main(["run", "--experiment", "nope", "--out", "run"])
print(json.dumps({"package": spikebench.__file__, "names": names, "loaded": loaded,
                  "seed_path": str(resolve_experiment_path("seed")), "unknown": unknown,
                  "cli": [rc, stderr.getvalue()]}))
"""


def test_installed_wheel_finds_experiments_through_the_package(wheel, tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(probe["package"]).is_relative_to(site), probe["package"]
    assert Path(probe["seed_path"]) == site / "spikebench" / "configs" / "seed.toml"
    assert probe["names"] == sorted(p.stem for p in SOURCE_CONFIGS.glob("*.toml"))
    assert all(probe["loaded"][n] for n in probe["names"]), probe["loaded"]
    assert probe["unknown"].startswith("unknown experiment 'no_such_experiment'; known: ")
    for name in probe["names"]:
        assert name in probe["unknown"]
    rc, stderr = probe["cli"]
    known = ", ".join(probe["names"])
    assert rc == 1 and f"unknown experiment 'nope'; known: {known} (" in stderr, stderr
    assert not (tmp_path / "run").exists()

    script = subprocess.run([str(site / "bin" / "spikebench"), "run", "--experiment", "nope"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert script.returncode == 1, script.stderr
    assert script.stderr == stderr
