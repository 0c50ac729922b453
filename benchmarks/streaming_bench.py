"""Streaming benchmark: per-bin latency of online SNN inference, spikebench engine vs Norse.

The study's phase-1 SNN (700 -> 128 LIF -> 20 leaky-integrator readout, max-over-time
score) classifies one stream (batch size 1) one 10 ms bin at a time through
:class:`spikebench.training.streaming.StreamingClassifier`, whose layers call
``step_sequence`` with a one-bin chunk. Competitors, same weights and input: the
spikebench engine (engine ``fused``) and the Norse reference (engine ``norse``: Norse's
``LIFCell``/``LICell`` per step). Input: SHD-shaped spike counts ``[T=100, 1, 700]``,
5 % of the bins non-zero. Reported: median seconds per bin (interleaved rounds, so load
from other processes on the shared machine hits both alike), the real-time factor
(seconds per bin / 10 ms; below 1 is faster than real time) and Norse's time over
spikebench's.

Run: ``.venv/bin/python benchmarks/streaming_bench.py [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

T, C, K, H, BIN_DT = 100, 700, 20, 128, 0.01


def per_bin_seconds(clf, x: torch.Tensor) -> list[float]:
    clf.reset()
    out = []
    for t in range(x.shape[0]):
        t0 = time.perf_counter()
        clf.step(x[t])
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    from spikebench.models.registry import create_model
    from spikebench.training.streaming import StreamingClassifier

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(T, 1, C, generator=g) < 0.05).float() * torch.randint(1, 4, (T, 1, C), generator=g)
    torch.manual_seed(0)
    ours = create_model("snn", n_in=C, n_classes=K, n_steps=T, hidden=H, engine="fused").eval()
    norse = create_model("snn", n_in=C, n_classes=K, n_steps=T, hidden=H, engine="norse").eval()
    norse.load_state_dict(ours.state_dict())
    clfs = {"spikebench": StreamingClassifier(ours), "norse": StreamingClassifier(norse)}
    with torch.no_grad():
        scores = {}
        for name, clf in clfs.items():  # warm-up (numba compilation, allocations) + agreement
            per_bin_seconds(clf, x)
            scores[name] = clf.score.clone()
        assert torch.allclose(scores["spikebench"], scores["norse"], atol=1e-4), "engines disagree"
        times: dict[str, list[float]] = {n: [] for n in clfs}
        for _ in range(args.rounds):
            for name, clf in clfs.items():
                times[name] += per_bin_seconds(clf, x)
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"phase-1 SNN {C}->{H}->{K}, one stream, {T} bins of {BIN_DT * 1e3:g} ms, "
          f"torch threads {torch.get_num_threads()}")
    for name, s in med.items():
        print(f"{name:>10}: {s * 1e6:8.1f} us per bin (p95 {statistics.quantiles(times[name], n=20)[-1] * 1e6:.1f} us), "
              f"real-time factor {s / BIN_DT:.4f}")
    print(f"norse / spikebench per-bin latency = {med['norse'] / med['spikebench']:.2f}x")


if __name__ == "__main__":
    main()
