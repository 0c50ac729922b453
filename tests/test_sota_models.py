"""Building blocks of the state-of-the-art recipe: learned delays, readout rules,
augmentations and the one-cycle schedule, each against a hand-computed expectation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikebench.errors import ConfigError
from spikebench.models import create_model
from spikebench.models.delays import DelayedLinear
from spikebench.models.spiking import class_scores
from spikebench.training.augment import Augment, _shift, augment_frames, parse_augment
from spikebench.training.schedules import onecycle_lr


def test_delayed_linear_with_narrow_gaussian_is_a_pure_delay():
    torch.manual_seed(0)
    layer = DelayedLinear(2, 1, taps=5, sigma=0.05, norm=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.5]]))
        layer.bias.zero_()
        layer.delay.copy_(torch.tensor([[2.0, 0.0]]))
    x = torch.rand(10, 3, 2)
    y = layer.eval()(x)
    expected = 0.5 * x[:, :, 1].clone()
    expected[2:] += x[:-2, :, 0]  # input 0 arrives two steps late; nothing before t = 0
    torch.testing.assert_close(y[..., 0], expected)


def test_delays_receive_gradients_and_stay_in_range():
    torch.manual_seed(0)
    layer = DelayedLinear(4, 3, taps=6, sigma=2.0, norm=False)
    x = torch.rand(12, 2, 4)
    layer(x).square().sum().backward()
    assert layer.delay.grad is not None and layer.delay.grad.abs().sum() > 0
    with torch.no_grad():
        layer.delay.add_(100.0)
    layer.train()(x)
    assert float(layer.delay.detach().max()) == 5.0


def test_delay_width_shrinks_from_start_to_end_over_the_epochs():
    net = create_model("delays", n_in=8, n_classes=3, n_steps=10, hidden=4, max_delay=0.1,
                       bin_dt=0.01)
    taps = net.hidden[0].linear.taps
    assert taps == 11 and net.sigma[0] == pytest.approx(5.5)
    widths = [net.sigma_at(e, 5) for e in range(5)]
    assert widths[0] == pytest.approx(5.5) and widths[-1] == pytest.approx(0.5)
    assert all(a > b for a, b in zip(widths, widths[1:]))
    net.on_epoch_start(4, 5)
    assert all(float(layer.linear.sigma) == pytest.approx(0.5) for layer in net.hidden)


def test_softmax_mean_readout_is_a_log_probability():
    v = torch.randn(7, 3, 5)
    logp = class_scores(v, "softmax_mean")
    torch.testing.assert_close(logp.exp().sum(1), torch.ones(3))
    torch.testing.assert_close(logp.exp(), torch.softmax(v, -1).mean(0))


@pytest.mark.parametrize("name", ["rsnn", "adlif", "delays", "hybrid", "stdp"])
def test_bad_options_are_config_errors(name):
    with pytest.raises(ConfigError):
        create_model(name, n_in=8, n_classes=3, n_steps=10, engine="nope")


def test_shifts_move_each_sample_by_its_own_amount():
    x = torch.rand(6, 2, 5)
    t = _shift(x, torch.tensor([2, -1]), 0)
    torch.testing.assert_close(t[2:, 0], x[:-2, 0])
    assert t[:2, 0].abs().sum() == 0
    torch.testing.assert_close(t[:-1, 1], x[1:, 1])
    assert t[-1, 1].abs().sum() == 0
    c = _shift(x, torch.tensor([0, 3]), 2)
    torch.testing.assert_close(c[:, 0], x[:, 0])
    torch.testing.assert_close(c[:, 1, 3:], x[:, 1, :2])
    assert c[:, 1, :3].abs().sum() == 0


def test_event_drop_thins_counts_and_noise_adds_events():
    torch.manual_seed(0)
    x = torch.full((50, 20, 40), 3.0)
    dropped = augment_frames(x, Augment(event_drop=0.25))
    assert dropped.max() <= 3 and torch.equal(dropped, dropped.round())
    assert float(dropped.mean()) == pytest.approx(3 * 0.75, rel=0.02)
    noisy = augment_frames(torch.zeros(50, 20, 40), Augment(noise=0.1))
    assert float(noisy.mean()) == pytest.approx(0.1, rel=0.05)
    assert augment_frames(x, Augment()) is x


def test_augment_table_is_validated():
    assert parse_augment({"time_shift": 3, "event_drop": 0.1}) == Augment(time_shift=3, event_drop=0.1)
    for bad in ({"time_sift": 1}, {"time_shift": 1.5}, {"event_drop": 1.0}, {"noise": -1},
                {"channel_shift": True}):
        with pytest.raises(ConfigError):
            parse_augment(bad)


def test_onecycle_warms_up_then_anneals():
    lrs = [onecycle_lr(e, base_lr=1e-2, epochs=10) for e in range(10)]
    peak = int(np.argmax(lrs))
    assert peak in (2, 3) and lrs[peak] > 0.9e-2  # the warm-up is 30 % of 10 epochs
    assert lrs[0] < 0.3e-2 and lrs[0] > 1e-2 / 25  # sampled mid-epoch, above the start
    assert all(a < b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))
    assert all(a > b for a, b in zip(lrs[peak:], lrs[peak + 1:]))
    assert lrs[-1] < 0.05e-2
    assert onecycle_lr(-0.5, base_lr=1e-2, epochs=10) == pytest.approx(1e-2 / 25)
    assert onecycle_lr(9.5, base_lr=1e-2, epochs=10) == pytest.approx(1e-2 / 1e4)
    assert onecycle_lr(0, base_lr=1.0, epochs=1) > 0.5  # one epoch: near the base rate
