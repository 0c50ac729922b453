"""STDP: the pair-based weight update against hand-computed values, weight normalisation,
plasticity only in training, frozen after its epochs; `spikebench run --experiment stdp`."""

from __future__ import annotations

import json
import math

import pytest
import torch

from spikebench.cli import main
from spikebench.models import create_model
from spikebench.models.stdp import exp_trace, stdp_update

RULE = dict(a_plus=0.01, a_minus=0.012, tau_plus=0.02, tau_minus=0.03, dt=0.005)


def test_exp_trace():
    s = torch.tensor([1.0, 0.0, 2.0, 0.0])
    torch.testing.assert_close(exp_trace(s, 0.5), torch.tensor([1.0, 0.5, 2.25, 1.125]))


def test_pair_based_update_matches_hand_computation():
    T = 6
    pre = torch.zeros(T, 2, 3)   # [T, B, N_pre]
    post = torch.zeros(T, 2, 2)  # [T, B, N_post]
    pre[1, 0, 0] = 1   # input 0 at step 1 ...
    post[3, 0, 0] = 1  # ... neuron 0 at step 3: pre 2 steps before post -> potentiation
    pre[5, 0, 1] = 1   # input 1 at step 5, 2 steps after neuron 0's spike -> depression
    pre[3, 0, 2] = 1   # input 2 at the same step as the post spike -> potentiation, lag 0
    post[4, 1, 1] = 1  # sample 1: neuron 1 fires with no input at all -> no change
    dw = stdp_update(pre, post, **RULE)
    expected = torch.zeros(2, 3)
    expected[0, 0] = 0.01 * math.exp(-2 * 0.005 / 0.02)
    expected[0, 1] = -0.012 * math.exp(-2 * 0.005 / 0.03)
    expected[0, 2] = 0.01
    torch.testing.assert_close(dw, expected / 2)  # mean over the batch of 2


def test_all_to_all_pairs_add_up():
    pre = torch.zeros(4, 1, 1)
    post = torch.zeros(4, 1, 1)
    pre[0, 0, 0] = pre[2, 0, 0] = 1
    post[1, 0, 0] = post[3, 0, 0] = 1
    dw = float(stdp_update(pre, post, **RULE))
    e_p = lambda k: 0.01 * math.exp(-k * 0.005 / 0.02)  # noqa: E731
    e_m = lambda k: 0.012 * math.exp(-k * 0.005 / 0.03)  # noqa: E731
    # pre-post pairs (0,1), (0,3), (2,3); post-pre pair (1,2)
    assert dw == pytest.approx(e_p(1) + e_p(3) + e_p(1) - e_m(1))


def _net(**kw):
    torch.manual_seed(0)
    return create_model("stdp", n_in=20, n_classes=3, n_steps=30, hidden=8, dt=1e-2, **kw)


def test_weights_are_normalised_bounded_and_inhibition_is_lateral():
    net = _net()
    w = net.layer.linear.weight
    torch.testing.assert_close(w.sum(1), torch.full((8,), 2.0))  # w_sum = 0.1 * n_in
    assert float(w.min()) >= 0 and float(w.max()) <= 1.0
    r = net.layer.recurrent.weight
    assert torch.all(r.diagonal() == 0) and torch.all(r[~torch.eye(8, dtype=bool)] == -1.0)
    assert not any(p.requires_grad for p in net.layer.parameters())


def test_plasticity_in_training_only_and_frozen_after_its_epochs():
    net = _net(stdp_epochs=1)
    x = (torch.rand(30, 4, 20) < 0.3).float() * 2
    w0 = net.layer.linear.weight.clone()
    net.eval()(x)
    assert torch.equal(net.layer.linear.weight, w0)
    net.train()
    net.on_epoch_start(0, 3)
    out = net(x)
    assert out.spikes[0].sum() > 0 and not torch.equal(net.layer.linear.weight, w0)
    torch.testing.assert_close(net.layer.linear.weight.sum(1), torch.full((8,), 2.0))
    out.logits.sum().backward()  # only the readout learns by gradient
    assert net.out.linear.weight.grad is not None and net.layer.linear.weight.grad is None
    net.on_epoch_start(1, 3)
    w1 = net.layer.linear.weight.clone()
    net(x)
    assert torch.equal(net.layer.linear.weight, w1)


def test_stdp_experiment_runs_from_the_cli(tiny_shd, tmp_path):
    out = tmp_path / "run"
    argv = ["run", "--experiment", "stdp", "--dataset", str(tiny_shd["train"].parent),
            "--out", str(out), "--root", str(tmp_path / "data"), "--epochs", "1",
            "--set", "models.*.hidden=16", "--set", "inference.max_batches=1",
            "--set", "inference.latency_samples=1", "--no-report"]
    assert main(argv) == 0
    models = json.loads((out / "results.json").read_text())["models"]
    assert [(m["name"], m["family"]) for m in models] == [("stdp", "stdp"), ("snn_sg", "snn")]
    assert all(0.0 <= m["test_acc"] <= 1.0 for m in models)
