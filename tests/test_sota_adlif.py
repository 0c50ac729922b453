"""The adaptive LIF network trains: gradients on the scale of a LIF network's, a loss that
falls on the tiny fixture, and the unstable adaptation range refused (the bug that kept
adLIF from learning: ``a`` down to -1 makes the subthreshold dynamics explode)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikebench.data.binning import BinSpec
from spikebench.data.cache import load_binned
from spikebench.errors import ConfigError
from spikebench.models import create_model


@pytest.fixture(scope="module")
def tiny_split(tiny_shd, tmp_path_factory):
    return load_binned(tiny_shd["train"], BinSpec(dt=0.01, t_max=1.0, pool=5),
                       cache_dir=tmp_path_factory.mktemp("cache"))


def _grad_norm(name: str, x: torch.Tensor, y: torch.Tensor, **hparams) -> float:
    torch.manual_seed(0)
    net = create_model(name, n_in=x.shape[2], n_classes=20, n_steps=x.shape[0], hidden=64,
                       dropout=0.0, readout="mean", alpha=5.0, **hparams)
    torch.nn.functional.cross_entropy(net(x).logits, y).backward()
    return math.sqrt(sum(float(p.grad.square().sum()) for p in net.parameters()
                         if p.grad is not None))


@pytest.mark.parametrize("recurrent", [False, True])
def test_adlif_gradients_are_on_the_scale_of_lif(tiny_split, recurrent):
    x, y = tiny_split.frames(np.arange(64)), tiny_split.labels[:64]
    lif = _grad_norm("rsnn", x, y, recurrent=recurrent, n_layers=1, engine="torch")
    adlif = _grad_norm("adlif", x, y, recurrent=recurrent, n_layers=1, engine="torch")
    assert math.isfinite(adlif) and lif / 10 < adlif < lif * 10, (adlif, lif)


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on the busy 2-core machine
    yield
    torch.set_num_threads(n)


def test_adlif_loss_falls_on_the_tiny_set(tiny_split, one_thread):
    torch.manual_seed(0)
    net = create_model("adlif", n_in=tiny_split.n_channels, n_classes=20,
                       n_steps=tiny_split.n_steps, hidden=64, n_layers=1, dropout=0.0,
                       readout="mean", alpha=5.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        total = 0.0
        for x, y in tiny_split.batches(50, shuffle=True, generator=gen):
            loss = torch.nn.functional.cross_entropy(net(x).logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
        losses.append(total / len(tiny_split))
    assert losses[-1] < 0.5 * losses[0], losses
    with torch.no_grad():
        x, y = tiny_split.frames(np.arange(len(tiny_split))), tiny_split.labels
        acc = float((net.eval()(x).logits.argmax(1) == y).float().mean())
    assert acc > 0.5  # chance: 0.05


def test_adaptation_range_that_makes_the_neuron_unstable_is_refused():
    with pytest.raises(ConfigError, match="a_range"):
        create_model("adlif", n_in=8, n_classes=3, n_steps=10, a_range=(-1.0, 1.0))
    create_model("adlif", n_in=8, n_classes=3, n_steps=10, a_range=(-1e-4, 1.0))  # stable
