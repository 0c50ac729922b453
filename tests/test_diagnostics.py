"""Silent-neuron fraction and firing rate, checked on a model with known spikes."""

from __future__ import annotations

import pytest
import torch

from spikebench.models import ModelOutput, create_model
from spikebench.training.diagnostics import spike_diagnostics


class _Known(torch.nn.Module):
    """Two spiking layers: layer 1 (3 neurons) fires neuron 0 on step 0 of every sample;
    layer 2 (1 neuron) fires on every step. Silent: 2 of 4 neurons."""

    def forward(self, x):
        t, b, _ = x.shape
        z1 = torch.zeros(t, b, 3)
        z1[0, :, 0] = 1
        return ModelOutput(x[-1, :, :2], (z1, torch.ones(t, b, 1)))


def test_spike_diagnostics_counts_silent_neurons_and_rate():
    batches = [(torch.zeros(5, 2, 4), torch.zeros(2)), (torch.zeros(5, 3, 4), torch.zeros(3))]
    d = spike_diagnostics(_Known(), batches)
    assert d["silent_fraction"] == 0.5
    # spikes: layer 1: 5 samples x 1; layer 2: 5 samples x 5 steps = 25; 30 over 25 steps x 4 neurons
    assert d["firing_rate"] == pytest.approx(30 / (25 * 4))
    assert spike_diagnostics(_Known(), batches, max_batches=1)["silent_fraction"] == 0.5


def test_spike_diagnostics_of_a_model_without_spikes_is_none():
    ann = create_model("ann", n_in=4, n_classes=3, n_steps=5)
    d = spike_diagnostics(ann, [(torch.zeros(5, 2, 4), torch.zeros(2))])
    assert d == {"silent_fraction": None, "firing_rate": None}
    assert ann.training  # the mode is restored


def test_train_mode_probe_sees_batch_statistics_and_changes_nothing():
    torch.manual_seed(0)
    model = create_model("snn", n_in=50, n_classes=5, n_steps=30, hidden=16, norm=True)
    x = torch.poisson(torch.full((30, 8, 50), 0.02))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    eval_mode = spike_diagnostics(model, [(x, torch.zeros(8))])
    train_mode = spike_diagnostics(model, [(x, torch.zeros(8))], train_mode=True)
    assert eval_mode["silent_fraction"] == 1.0  # running statistics still the identity
    assert train_mode["silent_fraction"] < 0.5
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert torch.equal(torch.get_rng_state(), rng)
