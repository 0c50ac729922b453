"""Cross-check spikebench's efficiency counts against the ``neurobench`` package.

NeuroBench's metric managers catch every exception a metric raises, print one line and
record 0.0 (workload) or None (static) instead: :func:`run_neurobench` captures that
output and fails loudly, and a test below shows it does catch such a silent failure.
"""

from __future__ import annotations

import contextlib
import copy
import io

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from spikebench.models.base import ModelOutput
from spikebench.models.registry import create_model
from spikebench.training.efficiency import measure_efficiency

neurobench = pytest.importorskip("neurobench")
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations  # noqa: E402
from neurobench.models import TorchModel  # noqa: E402


class NeuroBenchFailure(AssertionError):
    """NeuroBench swallowed an exception and recorded a placeholder result."""


class BatchFirst(nn.Module):
    """NeuroBench feeds ``[B, T, C]`` and counts samples on dim 0; spikebench is time-major."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x.transpose(0, 1))
        return out.logits if isinstance(out, ModelOutput) else out


def run_neurobench(net: nn.Module, frames: torch.Tensor, batch_size: int) -> dict:
    """NeuroBench's static and workload metrics of ``net`` on ``frames [T, N, C]``."""
    data = TensorDataset(frames.transpose(0, 1).contiguous(), torch.zeros(frames.shape[1]))
    loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    bench = Benchmark(
        TorchModel(net), loader, [], [],
        [[ParameterCount, Footprint, ConnectionSparsity], [SynapticOperations, ActivationSparsity]],
    )
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        results = bench.run(quiet=False)
    failures = [line for line in captured.getvalue().splitlines() if line.startswith("Error running")]
    if failures:
        raise NeuroBenchFailure("; ".join(failures))
    missing = [name for name, value in results.items() if value is None]
    if missing:
        raise NeuroBenchFailure(f"no result for {', '.join(missing)}")
    return results


def _frames(seed: int, t: int = 12, n: int = 10, c: int = 24, binary: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(t, n, c, generator=g) < 0.15).float()
    if not binary:
        x = x * torch.randint(1, 4, x.shape, generator=g)  # spike counts per bin
    return x


def _prune(model: nn.Module, fraction: float, seed: int) -> None:
    """Zero a random fraction of every weight so connection sparsity is not trivially 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                module.weight.mul_(torch.rand(module.weight.shape, generator=g) >= fraction)


def _compare(ours: dict, nb: dict) -> None:
    assert nb["SynapticOperations"]["Dense"] > 0  # a silent zero would make equality vacuous
    assert ours["params"] == nb["ParameterCount"]
    assert ours["footprint_bytes"] == nb["Footprint"]
    assert ours["connection_sparsity"] == pytest.approx(nb["ConnectionSparsity"], abs=1e-4)
    assert ours["synops"]["effective_mac"] == pytest.approx(nb["SynapticOperations"]["Effective_MACs"])
    assert ours["synops"]["effective_ac"] == pytest.approx(nb["SynapticOperations"]["Effective_ACs"])
    assert ours["synops"]["dense"] == pytest.approx(nb["SynapticOperations"]["Dense"])
    assert ours["activation_sparsity"] == pytest.approx(nb["ActivationSparsity"])


@pytest.mark.parametrize(
    ("name", "hparams", "binary"),
    [
        ("ann", {"hidden": 32}, True),
        ("ann", {"hidden": 32, "n_layers": 2}, False),
        ("cnn", {"hidden": 16, "n_layers": 2}, False),
        ("cnn", {"hidden": 8, "n_layers": 1}, True),
    ],
)
def test_counts_match_neurobench_on_ann_and_cnn(name: str, hparams: dict, binary: bool) -> None:
    torch.manual_seed(0)
    x = _frames(1, binary=binary)
    model = create_model(name, n_in=x.shape[2], n_classes=5, n_steps=x.shape[0], **hparams)
    _prune(model, 0.3, seed=2)
    model.eval()
    ours = measure_efficiency(model, [x[:, :6], x[:, 6:]])
    nb = run_neurobench(BatchFirst(model), x, batch_size=6)
    _compare(ours, nb)
    if binary:  # binary frames make the first layer accumulate-only, in both tools
        assert ours["synops"]["effective_ac"] > 0


class ReplaySNN(nn.Module):
    """The connections of a spiking model, fed the spikes that model produced.

    NeuroBench only hooks ``nn.Linear`` modules called on tensors it can see, so the
    equivalent model applies the SNN's own ``linear`` / ``recurrent`` modules to its input
    and to the recorded hidden spikes (the recurrent one to ``z[t-1]``). The spikes come
    from a copy kept outside the module tree, whose own ``linear`` calls NeuroBench must
    not see.
    """

    def __init__(self, snn: nn.Module) -> None:
        super().__init__()
        self.snn = snn
        self._runner = (copy.deepcopy(snn),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x.transpose(0, 1)  # [T, B, C]
        out = self._runner[0](frames)
        inputs = [frames, *out.spikes]
        for layer, inp, z in zip(self.snn.hidden, inputs[:-1], out.spikes):
            layer.linear(inp)
            if layer.recurrent is not None:
                layer.recurrent(z[:-1])
        self.snn.out.linear(inputs[-1])
        return out.logits


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("binary", [True, False])
def test_snn_synops_match_neurobench_on_replayed_spikes(recurrent: bool, binary: bool) -> None:
    torch.manual_seed(0)
    x = _frames(3, binary=binary)
    model = create_model(
        "snn", n_in=x.shape[2], n_classes=5, n_steps=x.shape[0], hidden=20, n_layers=2,
        recurrent=recurrent, tau_mem=2e-3, v_th=0.2,
    )
    _prune(model, 0.25, seed=4)
    model.eval()
    ours = measure_efficiency(model, [x[:, :5], x[:, 5:]])
    with torch.no_grad():
        spikes = model(x).spikes
    assert all(0 < float(s.mean()) < 1 for s in spikes), "the check needs spiking hidden layers"

    nb = run_neurobench(ReplaySNN(model), x, batch_size=5)
    nb_ops = nb["SynapticOperations"]
    assert nb_ops["Effective_ACs"] > 0
    assert ours["synops"]["effective_ac"] == pytest.approx(nb_ops["Effective_ACs"])
    assert ours["synops"]["effective_mac"] == pytest.approx(nb_ops["Effective_MACs"])
    assert ours["params"] == nb["ParameterCount"]
    assert ours["connection_sparsity"] == pytest.approx(nb["ConnectionSparsity"], abs=1e-4)
    # NeuroBench's dense count for the recurrent connection covers T - 1 replayed steps;
    # ours counts the recurrent product at every one of the T steps of a clocked run.
    n_hidden = 20
    rec_extra = 2 * n_hidden * n_hidden if recurrent else 0
    assert ours["synops"]["dense"] == pytest.approx(nb_ops["Dense"] + rec_extra)
    # spike-valued input to every hidden connection: accumulates only past layer 1
    assert (ours["synops"]["effective_mac"] > 0) == (not binary)
    assert ours["activation_sparsity"] == pytest.approx(
        1 - sum(float(s.sum()) for s in spikes) / sum(s.numel() for s in spikes)
    )


def test_silent_neurobench_failure_is_caught() -> None:
    """NeuroBench's MAC counter raises on ``nn.GRU`` and records 0.0; we must notice."""

    class WithGRU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(24, 8)
            self.head = nn.Linear(8, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, _ = self.gru(x.transpose(0, 1))
            return self.head(h[-1])

    x = _frames(5)
    with pytest.raises(NeuroBenchFailure, match="SynapticOperations"):
        run_neurobench(WithGRU(), x, batch_size=5)
