"""Efficiency counts against slow obvious references, and the energy formula."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikebench.errors import ConfigError
from spikebench.models.base import ModelOutput
from spikebench.models.registry import create_model
from spikebench.training.efficiency import ENERGY_TABLE, estimate_energy, measure_efficiency


class TwoLinear(nn.Module):
    """Per-time-step linear -> ReLU -> linear, summed over time."""

    def __init__(self, c: int, h: int, k: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(c, h)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(h, k)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return ModelOutput(self.fc2(self.act(self.fc1(x))).sum(0))


def _reference_ops(x: torch.Tensor, w: torch.Tensor) -> tuple[float, float, float]:
    """Binarised matmul (NeuroBench's definition), dense pairs, and spike deliveries."""
    xb = (x != 0).float()
    wb = (w != 0).float()
    effective = float(F.linear(xb, wb).sum())
    dense = float(F.linear(torch.ones_like(x), torch.ones_like(w)).sum())
    events = float(F.linear(x.abs(), wb).sum())
    return effective, dense, events


@pytest.mark.parametrize("binary", [True, False])
def test_linear_counts_equal_binarised_matmul(binary: bool) -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(15, 7, 11, generator=g) < 0.3).float()
    if not binary:
        x = x * torch.randint(1, 5, x.shape, generator=g)
    model = TwoLinear(11, 9, 3)
    with torch.no_grad():
        model.fc1.weight[torch.rand(9, 11, generator=g) < 0.4] = 0.0
    res = measure_efficiency(model, [x[:, :4], (x[:, 4:], torch.zeros(3))])
    assert res["n_samples"] == 7
    n = x.shape[1]
    eff1, dense1, _ = _reference_ops(x, model.fc1.weight)
    h = model.act(model.fc1(x)).detach()
    eff2, dense2, _ = _reference_ops(h, model.fc2.weight)
    layer1 = res["layers"][0]
    assert layer1["name"] == "fc1"
    assert layer1["dense"] == pytest.approx(dense1 / n)
    assert layer1["synaptic_events"] is None  # spike deliveries: spiking models only
    if binary:
        assert layer1["effective_ac"] == pytest.approx(eff1 / n)
        assert layer1["effective_mac"] == 0
    else:
        assert layer1["effective_mac"] == pytest.approx(eff1 / n)
        assert layer1["effective_ac"] == 0
    # hidden ReLU activations are graded: multiply-accumulates
    assert res["synops"]["effective_mac"] == pytest.approx((eff2 + (0 if binary else eff1)) / n)
    assert res["synops"]["dense"] == pytest.approx((dense1 + dense2) / n)
    assert res["synops"]["synaptic_events"] is None  # graded hidden values are not spikes
    assert res["activation_sparsity"] == pytest.approx(float((h == 0).float().mean()))
    assert res["connection_sparsity"] == pytest.approx(
        float((model.fc1.weight == 0).sum()) / (9 * 11 + 3 * 9)
    )
    assert res["energy"]["loihi"] is None  # no spiking neurons, no neuromorphic estimate
    assert res["neuron_updates"] is None and res["spikes_per_sample"] is None
    json.dumps(res)


def test_snn_neuron_updates_and_firing_rate() -> None:
    torch.manual_seed(1)
    x = (torch.rand(25, 6, 16) < 0.2).float()
    model = create_model("snn", n_in=16, n_classes=4, n_steps=25, hidden=12, n_layers=2,
                         recurrent=True, tau_mem=2e-3, v_th=0.2)
    model.train()
    res = measure_efficiency(model, [x], bin_dt=0.004)
    assert model.training, "measure_efficiency must restore the training mode"
    assert not any(m._forward_hooks for m in model.modules()), "hooks must be removed"
    model.eval()
    with torch.no_grad():
        spikes = model(x).spikes
    total_spikes = sum(float(s.sum()) for s in spikes)
    assert total_spikes > 0
    t, n = x.shape[:2]
    assert res["neuron_updates"]["total"] == t * (12 + 12 + 4)
    assert res["neuron_updates"]["active"] == pytest.approx(total_spikes / n)
    assert res["spikes_per_sample"] == pytest.approx(total_spikes / n)
    assert res["firing_rate_hz"] == pytest.approx(total_spikes / (n * t * 24 * 0.004))
    # binary input and spiking hidden layers: accumulates only, and Loihi has an estimate
    assert res["synops"]["effective_mac"] == 0
    assert res["synops"]["effective_ac"] == pytest.approx(res["synops"]["synaptic_events"])
    assert res["energy"]["loihi"]["total_j"] > 0
    assert res["constants"]["loihi_synaptic_op"]["value"] == pytest.approx(23.6)
    assert res["constants"]["cmos45nm_mac"]["unit"] == "pJ"
    json.dumps(res)


def test_snn_spike_deliveries_of_count_input() -> None:
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(20, 5, 16, generator=g) < 0.2).float() * torch.randint(1, 4, (20, 5, 16), generator=g)
    torch.manual_seed(2)
    model = create_model("snn", n_in=16, n_classes=4, n_steps=20, hidden=10, v_th=0.2).eval()
    with torch.no_grad():
        model.hidden[0].linear.weight[:, :4] = 0.0
        spikes = model(x).spikes[0]
    res = measure_efficiency(model, [x])
    eff0, _, events0 = _reference_ops(x, model.hidden[0].linear.weight)
    eff1, _, events1 = _reference_ops(spikes, model.out.linear.weight)
    first, readout = res["layers"]
    assert first["effective_mac"] == pytest.approx(eff0 / 5)  # counts of 2-3: MACs
    assert first["synaptic_events"] == pytest.approx(events0 / 5)
    assert readout["effective_ac"] == pytest.approx(eff1 / 5)
    assert res["synops"]["synaptic_events"] == pytest.approx((events0 + events1) / 5)
    assert events0 > eff0  # a count of 3 is three deliveries but one MAC


def test_energy_is_a_pure_function_of_counts_with_cited_constants() -> None:
    counts = {
        "effective_mac": 1000.0, "effective_ac": 5000.0, "synaptic_events": 6000.0,
        "neuron_updates": 400.0, "active_neuron_updates": 40.0, "spiking": True,
    }
    e = estimate_energy(counts)
    assert e == estimate_energy(dict(counts))
    cmos, loihi = ENERGY_TABLE["cmos45nm"], ENERGY_TABLE["loihi"]
    assert cmos["mac_j"] == pytest.approx(4.6e-12) and cmos["ac_j"] == pytest.approx(0.9e-12)
    assert loihi["synop_j"] == pytest.approx(23.6e-12)
    assert "Horowitz" in e["cmos45nm"]["source"] and "Davies" in e["loihi"]["source"]
    assert e["cmos45nm"]["synaptic_j"] == pytest.approx(1000 * 4.6e-12 + 5000 * 0.9e-12)
    assert e["loihi"]["total_j"] == pytest.approx(6000 * 23.6e-12 + 40 * 81e-12 + 360 * 52e-12)
    doubled = estimate_energy({**counts, "effective_ac": 10000.0})
    assert doubled["cmos45nm"]["synaptic_j"] - e["cmos45nm"]["synaptic_j"] == pytest.approx(5000 * 0.9e-12)
    assert estimate_energy({**counts, "spiking": False})["loihi"] is None
    assert estimate_energy({**counts, "synaptic_events": None})["loihi"] is None


def test_unknown_weighted_layer_is_an_error_not_a_silent_zero() -> None:
    class WithGRU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(4, 3)

        def forward(self, x: torch.Tensor) -> ModelOutput:
            return ModelOutput(self.gru(x)[0][-1])

    model = WithGRU()
    with pytest.raises(ConfigError, match="gru"):
        measure_efficiency(model, [torch.ones(3, 2, 4)])
    assert not model.gru._forward_hooks


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        measure_efficiency(TwoLinear(3, 2, 2), [])
