"""The study SNN's ablation options: surrogates, input norm, readouts, fluctuation-driven init."""

from __future__ import annotations

import math

import pytest
import torch

from spikebench.engine.layers import LIF
from spikebench.engine.surrogate import surrogate_derivative
from spikebench.models import create_model
from spikebench.models.spiking import psp_kernel_energy


def _snn(**hp):
    torch.manual_seed(0)
    return create_model("snn", n_in=50, n_classes=5, n_steps=30, hidden=16, **hp)


def _input(seed=0, rate=0.1):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((30, 8, 50), rate), generator=g)


def test_arctan_surrogate_is_snntorch_atan_and_runs_on_every_backend():
    x = torch.tensor([0.0, 0.5, -1.0])
    expected = 1.0 / (1.0 + (math.pi * x) ** 2)  # alpha = 2: (alpha/2) / (1 + (pi alpha x / 2)^2)
    torch.testing.assert_close(surrogate_derivative(x, "arctan", 2.0), expected)
    torch.manual_seed(0)
    layer = LIF(50, 16, surrogate="arctan", alpha=2.0)
    layer.linear.weight.data *= 20
    grads = []
    for engine in ("fused", "torch"):
        layer.engine = engine
        layer.linear.weight.grad = None
        layer(_input()).sum().backward()
        grads.append(layer.linear.weight.grad.clone())
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1])


def test_softmax_mean_readout_gives_log_probabilities():
    out = _snn(readout="softmax_mean")(_input())
    torch.testing.assert_close(out.logits.exp().sum(1), torch.ones(8))


def test_input_norm_makes_silent_neurons_fire():
    x = _input(rate=0.02)
    plain = _snn()(x).spikes[0].detach()
    normed = _snn(norm=True).train()(x).spikes[0].detach()
    assert float(plain.sum()) == 0.0  # PyTorch's default init: too weak to reach threshold
    assert float((normed.sum((0, 1)) == 0).float().mean()) < 0.5


def test_fluctuation_init_sets_the_weight_spread_from_the_input():
    x = _input(rate=0.05)
    model = _snn(init="fluctuation", init_xi=2.0).train()
    assert not bool(model.init_done)
    model(x)
    assert bool(model.init_done)
    m2 = float(x.double().pow(2).sum(-1).mean())
    sigma = (1.0 / 2.0) / math.sqrt(m2 * psp_kernel_energy(5e-3, 1e-2, 1e-3))
    w = model.hidden[0].linear.weight
    assert float(w.std()) == pytest.approx(sigma, rel=0.05)
    assert float(model.hidden[0].linear.bias.abs().max()) == 0.0
    before = w.detach().clone()
    model(x)  # drawn once: a later batch leaves the weights alone
    torch.testing.assert_close(model.hidden[0].linear.weight, before)
    state = model.state_dict()
    assert bool(state["init_done"])  # a resumed run does not redraw


def test_psp_kernel_energy_of_a_pure_leak():
    # a_syn = 1 (the current lasts one step) and a_mem = a:
    # v_k = a (1 - a)^k for k >= 0, so sum v_k^2 = a^2 / (1 - (1 - a)^2).
    a = 0.5
    assert psp_kernel_energy(1e-3, 2e-3, 1e-3) == pytest.approx(a * a / (1 - (1 - a) ** 2), rel=1e-9)
