"""Efficiency-metric benchmark: spikebench's ``measure_efficiency`` vs the ``neurobench`` package.

Same models, same weights, same input in one process: the study's feedforward ANN
(flattened ``[T, C]`` frame -> 256 ReLU -> 20) and CNN (two 1-D convolutions over time,
128 filters, batch norm, ReLU) on SHD-shaped spike-count frames ``x [T=100, B, C=700]``
(5 % of the bins hold 1-3 spikes). Both tools compute effective synaptic operations
(MAC/AC), dense operations and activation sparsity; the script first checks that the
counts agree, then times each tool (median of interleaved rounds, so load from other
processes on the shared machine hits both alike) and prints NeuroBench's time over
spikebench's. NeuroBench builds a binarised copy of every layer on every call and runs a
binarised matmul; spikebench counts ``sum_i nnz(x_i) * fan_out_i`` for linear layers.

Run: ``.venv/bin/python benchmarks/efficiency_bench.py [--rounds 3] [--batch 64] [--batches 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

T, C, K = 100, 700, 20


class BatchFirst(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.transpose(0, 1)).logits


def neurobench_counts(model: nn.Module, x: torch.Tensor, batch: int) -> dict:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    loader = DataLoader(TensorDataset(x.transpose(0, 1).contiguous(), torch.zeros(x.shape[1])),
                        batch_size=batch)
    bench = Benchmark(TorchModel(BatchFirst(model)), loader, [], [],
                      [[], [SynapticOperations, ActivationSparsity]])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        res = bench.run(quiet=False)
    if "Error running" in out.getvalue():
        raise RuntimeError(f"NeuroBench failed silently: {out.getvalue()}")
    bench.workload_metric_manager.close_hooks(bench.model)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=2)
    args = ap.parse_args()

    from spikebench.models.registry import create_model
    from spikebench.training.efficiency import measure_efficiency

    g = torch.Generator().manual_seed(0)
    n = args.batch * args.batches
    x = (torch.rand(T, n, C, generator=g) < 0.05).float()
    x *= torch.randint(1, 4, x.shape, generator=g)
    batches = [x[:, i : i + args.batch] for i in range(0, n, args.batch)]
    print(f"input {args.batches} batches of [T={T}, B={args.batch}, C={C}] spike counts; "
          f"torch threads {torch.get_num_threads()}")
    for name, hp in (("ann", {"hidden": 256}), ("cnn", {"hidden": 128, "n_layers": 2})):
        torch.manual_seed(0)
        model = create_model(name, n_in=C, n_classes=K, n_steps=T, **hp).eval()
        ours = measure_efficiency(model, batches)
        nb = neurobench_counts(model, x, args.batch)
        syn = nb["SynapticOperations"]
        assert abs(ours["synops"]["effective_mac"] - syn["Effective_MACs"]) <= 1e-6 * syn["Effective_MACs"]
        assert abs(ours["synops"]["dense"] - syn["Dense"]) <= 1e-6 * syn["Dense"]
        t_ours, t_nb = [], []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            measure_efficiency(model, batches)
            t_ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            neurobench_counts(model, x, args.batch)
            t_nb.append(time.perf_counter() - t0)
        a, b = statistics.median(t_ours), statistics.median(t_nb)
        print(f"{name}: counts agree (MAC/sample {ours['synops']['effective_mac']:.4g}, dense "
              f"{ours['synops']['dense']:.4g}); spikebench {a:.3f} s, neurobench {b:.3f} s "
              f"for {n} samples -> neurobench / spikebench = {b / a:.1f}x")


if __name__ == "__main__":
    main()
