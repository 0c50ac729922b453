"""Hybrid SNN-CNN: conv front end over frequency x time is causal in time and feeds LIF
layers; `spikebench run --experiment hybrid` end to end on the tiny fixture."""

from __future__ import annotations

import json

import torch

from spikebench.cli import main
from spikebench.models import create_model


def test_front_end_shapes_and_causality():
    torch.manual_seed(0)
    net = create_model("hybrid", n_in=40, n_classes=5, n_steps=20, hidden=12, filters=4,
                       conv_layers=2, kernel_size=3).eval()
    x = (torch.rand(20, 3, 40) < 0.3).float()
    feats = net.features(x)
    assert feats.shape == (20, 3, 4 * 10) and net.n_features == 40
    y = x.clone()
    y[12:] = (torch.rand(8, 3, 40) < 0.3).float()  # change only the future from step 12
    torch.testing.assert_close(net.features(y)[:12], feats[:12])
    out_x, out_y = net(x), net(y)
    assert out_x.spikes[0].shape == (20, 3, 12)
    torch.testing.assert_close(out_y.spikes[0][:12], out_x.spikes[0][:12])


def test_hybrid_experiment_runs_from_the_cli(tiny_shd, tmp_path):
    out = tmp_path / "run"
    argv = ["run", "--experiment", "hybrid", "--dataset", str(tiny_shd["train"].parent),
            "--out", str(out), "--root", str(tmp_path / "data"), "--epochs", "1",
            "--set", "models.*.hidden=16", "--set", "models.*.n_seeds=1", "--set", "inference.max_batches=1",
            "--set", "inference.latency_samples=1", "--no-report"]
    assert main(argv) == 0
    models = json.loads((out / "results.json").read_text())["models"]
    assert [(m["name"], m["family"]) for m in models] == [
        ("hybrid", "hybrid"), ("cnn", "cnn"), ("snn", "snn")]
    assert all(0.0 <= m["test_acc"] <= 1.0 and m["selected_on"] == "val" for m in models)
