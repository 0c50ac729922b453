"""`spikebench run` under torchrun: two CPU processes (gloo, DistributedDataParallel) train
the same model as one process, and the metrics are gathered over both processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spikebench.cli import main
from spikebench.training import distributed


def _argv(dataset, out, root):
    return ["run", "--dataset", str(dataset), "--out", str(out), "--root", str(root),
            "--epochs", "2", "--device", "cpu", "--no-report",
            "--set", "select=snn_p1", "--set", "models.snn_p1.hidden=48",
            "--set", "models.snn_p1.batch_size=64", "--set", "data.dt=0.02",
            "--set", "inference.max_batches=1", "--set", "inference.latency_samples=2"]


def test_ddp_two_processes_match_one(tiny_shd, tmp_path):
    dataset, root = tiny_shd["train"].parent, tmp_path / "root"
    assert main(_argv(dataset, tmp_path / "single", root)) == 0

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "spikebench", *_argv(dataset, tmp_path / "ddp", root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    one = json.loads((tmp_path / "single" / "results.json").read_text())
    two = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert two["command"].startswith("torchrun (world size 2) spikebench run")
    assert one["dataset"]["n_train"] == two["dataset"]["n_train"]
    (a,), (b,) = one["models"], two["models"]
    # metrics are gathered over both processes: every test sample counted once
    assert np.asarray(b["test_confusion"]).sum() == one["dataset"]["n_test"] == 100
    n_val = one["dataset"]["n_val"]
    assert b["history"]["train_loss"] == pytest.approx(a["history"]["train_loss"], rel=1e-3)
    assert b["history"]["train_acc"] == pytest.approx(a["history"]["train_acc"], abs=2 / 300)
    assert b["history"]["val_acc"] == pytest.approx(a["history"]["val_acc"], abs=2 / n_val)
    assert b["test_acc"] == pytest.approx(a["test_acc"], abs=0.02)
    wa = torch.load(tmp_path / "single" / "checkpoints" / "snn_p1.pt", weights_only=False)["model"]
    wb = torch.load(tmp_path / "ddp" / "checkpoints" / "snn_p1.pt", weights_only=False)["model"]
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-4, rtol=1e-3), k
    # and training did move the weights (the comparison is not between two untrained models)
    assert a["history"]["train_loss"][1] < a["history"]["train_loss"][0]


def test_shard_and_gather_are_identity_without_process_group():
    batches = [(torch.zeros(3, 5, 2), torch.arange(5))]
    assert list(distributed.shard(iter(batches), train=True))[0][1].tolist() == [0, 1, 2, 3, 4]
    assert distributed.init_from_env() is None and distributed.info() is None


def _shard_worker(rank: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    from spikebench.training.loop import EpochStats, EvalResult

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        x = torch.arange(7 * 3, dtype=torch.float32).reshape(1, 7, 3)  # [T=1, B=7, C=3]
        y = torch.arange(7)
        tiny = (torch.zeros(1, 1, 3), torch.tensor([0]))
        train = [t.tolist() for _, t in distributed.shard([(x, y), tiny], train=True)]
        evals = [t.tolist() for _, t in distributed.shard([(x, y), tiny])]
        confusion = np.zeros((2, 2), np.int64)
        confusion[0, 0], confusion[1, 0] = (3, 1) if rank == 0 else (2, 0)
        ev = distributed.gather_eval(EvalResult(0.0, 0, int(confusion.sum()), 0.5, confusion))
        ep = distributed.gather_epoch(EpochStats(loss=1.0 + rank, accuracy=0.5, n_samples=4))
        (Path(out_dir) / f"{rank}.json").write_text(json.dumps({
            "train": train, "eval": evals, "confusion": ev.confusion.tolist(),
            "acc": ev.accuracy, "n": ev.n_samples, "loss": ep.loss, "tacc": ep.accuracy,
            "tn": ep.n_samples}))
    finally:
        dist.destroy_process_group()


def test_shard_splits_batches_and_gather_sums_counts(tmp_path):
    torch.multiprocessing.spawn(_shard_worker, args=(str(tmp_path / "init"), str(tmp_path)),
                                nprocs=2)
    r0, r1 = (json.loads((tmp_path / f"{r}.json").read_text()) for r in (0, 1))
    # contiguous near-equal slices; a training batch smaller than the group is skipped
    assert r0["train"] == [[0, 1, 2, 3]] and r1["train"] == [[4, 5, 6]]
    assert r0["eval"] == [[0, 1, 2, 3], [0]] and r1["eval"] == [[4, 5, 6]]
    for r in (r0, r1):
        assert r["confusion"] == [[5, 0], [1, 0]] and r["n"] == 6 and r["acc"] == 5 / 6
        assert r["loss"] == 1.5 and r["tacc"] == 0.5 and r["tn"] == 8
