"""An interrupted run resumed with --resume ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch

from spikebench.errors import ConfigError
from spikebench.experiments.config import load_experiment
from spikebench.experiments.runner import run_experiment
from spikebench.progress import Progress


class _Interrupt(Progress):
    def __init__(self, model: str, epoch: int) -> None:
        self.at = (model, epoch)

    def epoch_end(self, spec, epoch, record):
        if (spec.name, epoch) == self.at:
            raise KeyboardInterrupt


def _config(tiny_shd):
    # CNN (dropout + shuffling) and an SNN, 2 epochs each: every RNG stream matters
    return load_experiment("seed", [
        f"dataset={tiny_shd['train'].parent}", "select=snn_p2,cnn_p2", "models.*.epochs=2",
        "models.*.batch_size=64", "models.*.hidden=32", "data.pool=5",
        "inference.latency_samples=2", "inference.max_batches=1",
    ])


def _comparable(results_path):
    models = json.loads(results_path.read_text())["models"]
    for m in models:
        for key in ("wall_seconds", "inference"):
            m.pop(key)
        m["history"].pop("epoch_seconds")
        if m.get("streaming"):
            for key in ("seconds_per_bin", "seconds_per_bin_p95", "real_time_factor"):
                m["streaming"].pop(key)
    return models


def test_resume_after_interruptions_is_bit_identical(tiny_shd, tmp_path):
    cfg = _config(tiny_shd)
    whole = run_experiment(cfg, tmp_path / "whole", device="cpu", root=tmp_path)

    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):  # inside the first model
        run_experiment(cfg, cut, device="cpu", root=tmp_path, command="first",
                       progress=_Interrupt("snn_p2", 1))
    assert torch.load(cut / "checkpoints" / "snn_p2.pt", weights_only=False)["epoch"] == 1
    with pytest.raises(KeyboardInterrupt):  # resumed, then cut again inside the second
        run_experiment(cfg, cut, device="cpu", root=tmp_path, resume=True, command="second",
                       progress=_Interrupt("cnn_p2", 1))
    assert [m["name"] for m in json.loads((cut / "results.json").read_text())["models"]] == ["snn_p2"]
    resumed = run_experiment(cfg, cut, device="cpu", root=tmp_path, resume=True, command="third")

    meta = json.loads(resumed.read_text())
    assert meta["command"] == "first" and meta["resumed"] == ["second", "third"]
    a, b = _comparable(whole), _comparable(resumed)
    assert [m["name"] for m in b] == ["snn_p2", "cnn_p2"]
    assert a == b
    for name in ("snn_p2", "cnn_p2"):
        wa = torch.load(tmp_path / "whole" / "checkpoints" / f"{name}.pt", weights_only=False)
        wb = torch.load(cut / "checkpoints" / f"{name}.pt", weights_only=False)
        assert wa["model"].keys() == wb["model"].keys()
        for k in wa["model"]:
            assert torch.equal(wa["model"][k], wb["model"][k]), (name, k)


def test_resume_refuses_a_different_experiment(tiny_shd, tmp_path):
    cfg = _config(tiny_shd)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, run, device="cpu", root=tmp_path, progress=_Interrupt("snn_p2", 1))
    other = load_experiment("seed", [f"dataset={tiny_shd['train'].parent}", "select=snn_p2"])
    with pytest.raises(ConfigError, match="differs from the requested experiment"):
        run_experiment(other, run, device="cpu", root=tmp_path, resume=True)
    with pytest.raises(ConfigError, match="already holds a run"):
        run_experiment(cfg, run, device="cpu", root=tmp_path)
