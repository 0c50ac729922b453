"""Scale-out of `spikebench tune`: two worker processes share one PostgreSQL-backed study
(no lost or duplicated trial); a worker killed mid-trial leaves the study usable and a
restarted search continues it.

The PostgreSQL server is Debian's ``postgresql`` package (``make sysdeps``), started here
in a temporary data directory on 127.0.0.1 and a free port. PostgreSQL refuses to run as
root, so under root (CI) ``initdb``/``pg_ctl`` run as the ``postgres`` user via ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from test_tune import write_search_config

from spikebench.tuning.study import count_trials, open_storage


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """``postgresql://postgres@127.0.0.1:PORT/spikebench`` of a throw-away server."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (make sysdeps installs Debian's postgresql)")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="spikebench-pg-"))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.skip("running as root and there is no postgres user to run the server")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "--no-sync", "-E", "UTF8")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-t", "60",
        "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "spikebench")
        yield f"postgresql://postgres@127.0.0.1:{port}/spikebench"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _tune(cfg: Path, out: Path, root: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "spikebench", "tune", "--experiment", str(cfg),
           "--out", str(out), "--root", str(root), "--device", "cpu", *extra]
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def _finished_by(log: str) -> list[int]:
    return [int(n) for n in re.findall(r"trial (\d+) (?:complete|pruned|fail)", log)]


def test_two_workers_share_one_postgres_study(postgres_url, tiny_shd, tmp_path):
    cfg = write_search_config(tmp_path / "t.toml", tiny_shd["train"].parent, epochs=2)
    common = ("--trials", "6", "--storage", postgres_url, "--study", "shared", "--no-final")
    workers = [_tune(cfg, tmp_path / f"w{i}", tmp_path / "root", *common) for i in range(2)]
    logs = [w.communicate(timeout=400)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs

    study = optuna.load_study(study_name="shared", storage=open_storage(postgres_url))
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    # no lost trial: numbered 0..n-1, all finished; the budget is met, overshoot at most one
    assert numbers == list(range(len(trials))) and 6 <= len(trials) <= 7
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
               for t in trials)
    # no duplicated trial: each ran in exactly one worker, and both workers took part
    ran = [_finished_by(log) for log in logs]
    assert all(ran), logs
    assert sorted(ran[0] + ran[1]) == numbers
    by_attr = {t.user_attrs["worker"] for t in trials}
    assert len(by_attr) == 2
    assert {w.pid for w in workers} == {int(a.rpartition(":")[2]) for a in by_attr}


def test_killed_worker_leaves_study_usable_and_search_resumes(tiny_shd, tmp_path):
    cfg = write_search_config(tmp_path / "t.toml", tiny_shd["train"].parent, epochs=6)
    out = tmp_path / "search"
    args = ("--trials", "2", "--heartbeat", "1", "--no-final", "--set", "data.dt=0.01")
    worker = _tune(cfg, out, tmp_path / "root", *args)
    url = f"sqlite:///{out / 'study.db'}"
    victim = None
    deadline = time.monotonic() + 300
    try:
        while victim is None and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
            if not (out / "study.db").is_file():
                continue
            try:
                study = optuna.load_study(study_name="tune_tiny", storage=url)
            except (KeyError, sqlalchemy.exc.OperationalError):
                # the worker is still creating the study's tables (both sides run the DDL)
                continue
            running = [t for t in study.get_trials(deepcopy=False)
                       if t.state == optuna.trial.TrialState.RUNNING
                       and 1 <= len(t.intermediate_values) < 5]
            if running:
                victim = running[0]
                os.kill(worker.pid, signal.SIGKILL)
    finally:
        if worker.poll() is None and victim is None:
            worker.kill()
        worker.communicate(timeout=60)
    assert victim is not None, "the worker never reached the middle of a trial"
    assert worker.returncode == -signal.SIGKILL

    study = optuna.load_study(study_name="tune_tiny", storage=url)
    left = {t.number: t for t in study.get_trials()}
    assert left[victim.number].state == optuna.trial.TrialState.RUNNING
    time.sleep(2.5)  # past the grace period (2 heartbeats) of the dead worker's trial

    resumed = _tune(cfg, out, tmp_path / "root", *args)
    log = resumed.communicate(timeout=400)[0]
    assert resumed.returncode == 0, log

    trials = optuna.load_study(study_name="tune_tiny", storage=url).get_trials()
    S = optuna.trial.TrialState
    by_number = {t.number: t for t in trials}
    assert by_number[victim.number].state == S.FAIL
    retries = [t for t in trials if optuna.storages.RetryHeartbeatStaleTrialCallback
               .retried_trial_number(t) == victim.number]
    assert len(retries) == 1 and retries[0].params == victim.params
    assert retries[0].state in (S.COMPLETE, S.PRUNED)
    # trials finished before the kill are kept as they were; the budget is met exactly
    for n, t in left.items():
        if t.state.is_finished():
            assert by_number[n].state == t.state and by_number[n].value == t.value
    finished = [t for t in trials if t.state in (S.COMPLETE, S.PRUNED)]
    assert len(finished) == 2 and count_trials(trials) == (2, 0, 0)
    assert victim.number not in _finished_by(log) and retries[0].number in _finished_by(log)
