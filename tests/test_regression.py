"""A fixed-seed run must give the same numbers as the recorded one (timings aside).

One small experiment over every model family (the SNN on all three engines, ANN, CNN,
recurrent LIF, adaptive LIF, learned delays, hybrid, STDP; with best-validation
selection, augmentation, weight decay, a one-cycle schedule and two seeds somewhere) runs
on the tiny SHD-schema fixture. Its losses, accuracies, selected epochs, confusion
matrices, parameter counts, efficiency counts and streaming accuracies are compared with
``regression_golden.json``, recorded from an earlier build. A refactor that changes any of
them changed the science. To record new golden values on purpose (a deliberate change of
a model or of the training loop, said in the commit message), run this file with
``SPIKEBENCH_WRITE_GOLDEN=1``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from spikebench.experiments.config import config_from_dict
from spikebench.experiments.runner import run_experiment
from spikebench.record import ModelRecord, load_run

GOLDEN = Path(__file__).with_name("regression_golden.json")

_SMALL = {"hidden": 16, "epochs": 2, "batch_size": 32, "lr": 0.005}
EXPERIMENT: dict[str, Any] = {
    "name": "regression",
    "dataset": "tiny",
    "seed": 7,
    "n_samples": 2,
    "data": {"dt": 0.01, "t_max": 0.5, "pool": 10},
    "inference": {"batch_size": 50, "warmup_batches": 0, "max_batches": 1,
                  "latency_samples": 2},
    "models": [
        {"name": "snn_fused", "model": "snn", "engine": "fused",
         "selection": "best_val", "hparams": {"readout": "mean", "surrogate": "norse-superspike"},
         **_SMALL},
        {"name": "snn_torch", "model": "snn", "engine": "torch", **_SMALL},
        {"name": "snn_norse", "model": "snn", "engine": "norse",
         "hparams": {"readout": "mean", "surrogate": "norse-superspike"}, **_SMALL},
        {"name": "ann", "model": "ann", "n_seeds": 2, **_SMALL},
        {"name": "cnn", "model": "cnn", **{**_SMALL, "hidden": 8},
         "selection": "best_val", "augment": {"time_shift": 2, "channel_shift": 1}},
        {"name": "rsnn", "model": "rsnn", "engine": "fused",
         "schedule": "onecycle", "weight_decay": 1e-4, "selection": "best_val",
         "hparams": {"recurrent": True, "n_layers": 2, "alpha": 5.0, "readout": "mean"},
         **_SMALL},
        {"name": "adlif", "model": "adlif", "engine": "fused",
         "augment": {"time_shift": 2, "cutmix": 1.0, "mixup": 0.2},
         "hparams": {"n_layers": 1, "alpha": 5.0, "readout": "mean"}, **_SMALL},
        {"name": "delays", "model": "delays", "engine": "fused",
         "hparams": {"n_layers": 1, "max_delay": 0.05, "alpha": 5.0}, **_SMALL},
        {"name": "hybrid", "model": "hybrid", "engine": "fused",
         "hparams": {"filters": 4}, **_SMALL},
        {"name": "stdp", "model": "stdp", "engine": "fused",
         "hparams": {"stdp_epochs": 1}, **_SMALL},
    ],
}

#: Efficiency keys that are counts or ratios of the data and weights (no clock).
EFFICIENCY_KEYS = ("params", "activation_sparsity", "connection_sparsity",
                   "spikes_per_sample", "synaptic_events")


def _digest(model: ModelRecord) -> dict[str, Any]:
    eff = model.efficiency or {}
    return {
        "train_loss": list(model.history.train_loss),
        "train_acc": list(model.history.train_acc),
        "val_acc": list(model.history.val_acc),
        "selected_epoch": model.selected_epoch,
        "test_acc": model.test_acc,
        "test_confusion": [list(row) for row in model.test_confusion],
        "params": model.params,
        "efficiency": {k: eff.get(k) for k in EFFICIENCY_KEYS},
        "synops": dict(eff.get("synops") or {}),
        "streaming": None if model.streaming is None else list(model.streaming.accuracy_vs_time),
    }


def _close(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), where
        for k in expected:
            _close(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _close(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert isinstance(actual, (int, float)), where
        # losses are float sums: allow the last digits to move with summation order
        assert math.isclose(actual, expected, rel_tol=1e-5, abs_tol=1e-7), \
            f"{where}: {actual} != {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.fixture(scope="module")
def regression_run(tiny_shd, tmp_path_factory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("regression") / "run"
    cfg = config_from_dict(dict(EXPERIMENT, dataset=str(tiny_shd["train"].parent)))
    run_experiment(cfg, out, root=out.parent / "data", device="cpu")
    return {m.name: _digest(m) for m in load_run(out).models}


def test_fixed_seed_run_matches_the_recorded_numbers(regression_run):
    if os.environ.get("SPIKEBENCH_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(regression_run, indent=1, sort_keys=True) + "\n")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(regression_run) == sorted(golden)
    for name, expected in golden.items():
        _close(regression_run[name], expected, name)


def test_the_run_learns_something(regression_run):
    """Guards the golden file itself: a broken build recorded as golden would show here."""
    accs = [m["test_acc"] for m in regression_run.values()]
    assert max(accs) > 0.2  # 20 classes: chance is 0.05
    assert all(m["train_loss"][-1] < m["train_loss"][0] for n, m in regression_run.items()
               if n != "stdp")
