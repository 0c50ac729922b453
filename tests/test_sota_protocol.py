"""The honest protocol, enforced by the runner: epoch chosen on validation, the test split
read only after training with the selected weights, several seeds; and `spikebench run
--experiment sota` end to end on the tiny fixture."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import spikebench.experiments.runner as runner
from spikebench.cli import main
from spikebench.experiments.config import load_experiment
from spikebench.models import create_model
from spikebench.training.checkpoint import load_checkpoint
from spikebench.training.loop import evaluate


class _Spy:
    """A binned split that logs every read of its samples as (split name, model seed)."""

    def __init__(self, split, name, log):
        self._split, self._name, self._log = split, name, log

    def __getattr__(self, attr):
        return getattr(self._split, attr)

    def __len__(self):
        return len(self._split)

    def batches(self, *args, **kwargs):
        self._log.append((self._name, torch.initial_seed()))
        return self._split.batches(*args, **kwargs)

    def frames(self, *args, **kwargs):
        self._log.append((self._name, torch.initial_seed()))
        return self._split.frames(*args, **kwargs)


def test_selection_on_validation_then_test_once_per_seed(tiny_shd, tmp_path, monkeypatch):
    log: list[tuple[str, int]] = []
    prepare = runner.prepare_data

    def spying_prepare(*args, **kwargs):
        data = prepare(*args, **kwargs)
        return dataclasses.replace(data, train=_Spy(data.train, "train", log),
                                   val=_Spy(data.val, "val", log), test=_Spy(data.test, "test", log))

    monkeypatch.setattr(runner, "prepare_data", spying_prepare)
    cfg = load_experiment("sota", [
        f"dataset={tiny_shd['train'].parent}", "select=adlif", "models.adlif.model=rsnn",
        "models.adlif.hidden=16", "models.adlif.epochs=3", "models.adlif.n_seeds=2",
        "models.adlif.lr=0.02", "models.adlif.batch_size=64",
        "models.adlif.hparams={n_layers = 1, dropout = 0.0}",
        "inference.max_batches=1", "inference.latency_samples=1",
    ])
    results = json.loads(runner.run_experiment(cfg, tmp_path / "run", device="cpu",
                                               root=tmp_path).read_text())
    entries = results["models"]
    assert [m["name"] for m in entries] == ["adlif", "adlif.seed1"]
    assert [m["seed"] for m in entries] == [0, 1] and {m["group"] for m in entries} == {"adlif"}
    for m in entries:
        val = m["history"]["val_acc"]
        assert m["selection"] == "best_val" and m["selected_on"] == "val"
        assert m["selected_epoch"] == int(np.argmax(val)) + 1
        assert m["val_acc_selected"] == max(val)
        # the checkpoint holds the selected weights, and they give the reported test accuracy
        state = load_checkpoint(tmp_path / "run" / "checkpoints" / f"{m['name']}.pt")
        assert state["selected_epoch"] == m["selected_epoch"]
        build = dict(state["build"])
        model = create_model(build.pop("name"), **build)
        model.load_state_dict(state["model"])
        data = prepare(runner.resolve_dataset(cfg.dataset), cfg.data, seed=cfg.seed)
        test = evaluate(model, data.test.batches(64), data.n_classes)
        assert test.accuracy == pytest.approx(m["test_acc"])
    # per seed: training and validation reads first, then test reads only (evaluate + timing)
    for seed in (0, 1):
        reads = [name for name, s in log if s == seed]
        first_test = reads.index("test")
        # 3 epochs' validation + the silent-neuron probes at init and after selection
        assert reads.count("val") == 3 + 2 and "test" not in reads[:first_test]
        assert set(reads[first_test:]) == {"test"}


def test_sota_experiment_runs_from_the_cli(tiny_shd, tmp_path):
    out = tmp_path / "run"
    argv = ["run", "--experiment", "sota", "--dataset", str(tiny_shd["train"].parent),
            "--out", str(out), "--root", str(tmp_path / "data"), "--epochs", "1",
            "--set", "models.*.hidden=16", "--set", "models.*.n_seeds=1",
            "--set", "models.delays.hparams.max_delay=0.03",
            "--set", "inference.max_batches=1", "--set", "inference.latency_samples=1"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "sota"
    assert [m["name"] for m in results["models"]] == ["lif", "delays", "adlif", "cnn_study",
                                                      "cnn_long"]
    by_name = {m["name"]: m for m in results["models"]}
    # the CNN trained like the best SNN: same epochs, schedule and augmentation (mixup/cutmix)
    for key in ("epochs", "schedule", "augment", "batch_size", "weight_decay"):
        assert by_name["cnn_long"][key] == by_name["adlif"][key]
    assert by_name["adlif"]["augment"]["cutmix"] > 0 and by_name["adlif"]["augment"]["mixup"] > 0
    for m in results["models"]:
        assert m["selected_on"] == "val" and 0.0 <= m["test_acc"] <= 1.0
        assert m["weight_decay"] >= 0 and m["schedule"] in ("onecycle", "constant")
    assert (out / "report.md").is_file()
