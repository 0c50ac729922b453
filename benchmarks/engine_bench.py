"""Engine benchmark: spikebench's fused engine vs Norse's and snnTorch's step loops.

One process, the same input for every competitor: spike frames ``x [T, B, 700]``
(time-major, T = 100 steps, B = 128): by default random binary frames with 5 % of the
bins holding a spike; ``--input digits`` takes the first batch of the embedded digits
set instead (spike counts in 10 ms bins, about 12 % of the bins non-zero: above
spikebench's sparse threshold, so its first layer runs the BLAS product and the fused
scan). Two networks:

* ``ff``  the phase-1 SNN of the study, 700 -> 128 LIF -> 20 leaky-integrator readout;
* ``rec`` a recurrent SNN, 700 -> 256 recurrent LIF -> 256 recurrent LIF -> 20 readout.

Class scores are the maximum over time of the readout membrane. Every competitor gets the
same random first-layer weights (normal, std 0.15: about 3 % of the first hidden layer
spikes per step, as in a network at work rather than a silent one at initialisation). Timed: a training step
(forward, cross-entropy, backward, Adam step) and an inference pass (forward under
``torch.inference_mode``). Competitors: spikebench ``LIF``/``LI`` (engine ``fused``, and
``torch`` for the pure-PyTorch fused path), Norse ``LIFCell``/``LIFRecurrentCell`` +
``LICell`` stepped in a Python loop with the linear layer inside the loop (as the study
ran it), snnTorch ``Leaky``/``RLeaky`` stepped the same way. The rounds interleave the
competitors so that load from other processes on the shared machine hits everyone alike;
the best time of each competitor (its cost when least disturbed) gives the ratios, the
median is printed beside it in brackets.

FLOPs are those of the dense equivalent (matrix products only; 2 per multiply-add):
inference = forward products; training = forward + weight gradients + input gradients
of every layer but the first (whose input needs none). The fraction of the machine's
matmul throughput compares the engine's achieved FLOP/s with a float32 GEMM of the first
layer's shape ``[T*B, 700] x [700, H]`` timed in this process.

``--device cuda`` runs every competitor on the GPU (spikebench's ``auto`` is then its Triton
kernels, ``torch`` its PyTorch loop on CUDA); times are taken after ``torch.cuda.synchronize``.

Run: ``.venv/bin/python benchmarks/engine_bench.py [--rounds 5] [--net ff,rec] [--device cuda]``;
``--projection`` instead times the first layer with its input taken as dense (BLAS) or
sparse (the fused gather kernel) by input density (the crossover sets
``SPARSE_MAX_DENSITY`` in ``engine/fused.py``).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch
from torch import nn

T, B, C, K = 100, 128, 700, 20
DEVICE = torch.device("cpu")


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


class SpikebenchNet(nn.Module):
    def __init__(self, sizes, recurrent, engine):
        super().__init__()
        from spikebench.engine.layers import LI, LIF

        self.hidden = nn.ModuleList(
            LIF(a, b, recurrent=recurrent, engine=engine) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.out = LI(sizes[-1], K, engine=engine)

    def forward(self, x):
        for layer in self.hidden:
            x = layer(x)
        return self.out(x).amax(0)


class NorseNet(nn.Module):
    def __init__(self, sizes, recurrent):
        super().__init__()
        import norse.torch as norse

        self.recurrent = recurrent
        if recurrent:
            self.cells = nn.ModuleList(
                norse.LIFRecurrentCell(a, b, autapses=True) for a, b in zip(sizes[:-1], sizes[1:])
            )
        else:
            self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.cells = nn.ModuleList(norse.LIFCell() for _ in sizes[1:])
        self.fc_out = nn.Linear(sizes[-1], K)
        self.li = norse.LICell()

    def forward(self, x):
        states = [None] * len(self.cells)
        s_out = None
        outs = []
        for t in range(x.shape[0]):
            z = x[t]
            for k, cell in enumerate(self.cells):
                if not self.recurrent:
                    z = self.fcs[k](z)
                z, states[k] = cell(z, states[k])
            v, s_out = self.li(self.fc_out(z), s_out)
            outs.append(v)
        return torch.stack(outs).amax(0)


class SnnTorchNet(nn.Module):
    def __init__(self, sizes, recurrent):
        super().__init__()
        import snntorch as snn

        beta = math.exp(-1e-3 / 1e-2)
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        if recurrent:
            self.cells = nn.ModuleList(snn.RLeaky(beta=beta, linear_features=b) for b in sizes[1:])
        else:
            self.cells = nn.ModuleList(snn.Leaky(beta=beta) for _ in sizes[1:])
        self.recurrent = recurrent
        self.fc_out = nn.Linear(sizes[-1], K)
        self.readout = snn.Leaky(beta=beta, reset_mechanism="none")

    def forward(self, x):
        if self.recurrent:
            states = [cell.init_rleaky() for cell in self.cells]
        else:
            states = [cell.init_leaky() for cell in self.cells]
        mem_out = self.readout.init_leaky()
        outs = []
        for t in range(x.shape[0]):
            z = x[t]
            for k, cell in enumerate(self.cells):
                cur = self.fcs[k](z)
                if self.recurrent:
                    spk, mem = cell(cur, *states[k])
                    states[k] = (spk, mem)
                else:
                    spk, mem = cell(cur, states[k])
                    states[k] = mem
                z = spk
            _, mem_out = self.readout(self.fc_out(z), mem_out)
            outs.append(mem_out)
        return torch.stack(outs).amax(0)


INPUT_WEIGHT_STD = 0.15  # ~3 % of the first hidden layer's neurons spike per step


def first_layer_weight(model):
    if isinstance(model, SpikebenchNet):
        return model.hidden[0].linear.weight
    if isinstance(model, NorseNet) and model.recurrent:
        return model.cells[0].input_weights
    return model.fcs[0].weight


def build(builder):
    """The competitor's network with the same random first-layer weights as the others."""
    torch.manual_seed(0)
    model = builder()
    with torch.no_grad():
        w = first_layer_weight(model)
        w.copy_(torch.randn(w.shape, generator=torch.Generator().manual_seed(1)) * INPUT_WEIGHT_STD)
    return model.to(DEVICE)


def dense_flops(sizes, recurrent):
    """(inference, training) FLOPs of the dense matrix products for one batch."""
    layers = [(a, b) for a, b in zip(sizes[:-1], sizes[1:])] + [(sizes[-1], K)]
    if recurrent:
        layers += [(b, b) for b in sizes[1:]]
    fwd = sum(2 * T * B * a * b for a, b in layers)
    first = 2 * T * B * sizes[0] * sizes[1]
    return fwd, 3 * fwd - first


def gemm_flops_per_s(n_in, n_out, reps=10):
    a = torch.randn(T * B, n_in, device=DEVICE)
    w = torch.randn(n_in, n_out, device=DEVICE)
    for _ in range(3):
        a @ w
    times = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        a @ w
        sync()
        times.append(time.perf_counter() - t0)
    return 2 * T * B * n_in * n_out / statistics.median(times)


def make_runner(model, x, y, mode):
    if mode == "infer":
        def run():
            with torch.inference_mode():
                model(x)
            sync()
        return run
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run():
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
    return run


def benchmark_input(kind):
    """``(x [T, B, C], y [B])``: random 5 % binary frames, or the first batch of the
    embedded digits training set (10 ms bins, spike counts; made by ``spikebench run`` or
    ``spikebench data make-digits``)."""
    g = torch.Generator().manual_seed(0)
    if kind == "random":
        return (torch.rand(T, B, C, generator=g) < 0.05).float(), torch.randint(0, K, (B,), generator=g)
    from spikebench.data.binning import BinSpec
    from spikebench.data.cache import load_binned
    from spikebench.data.paths import data_root

    path = data_root() / "digits" / "digits_train.h5"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `spikebench data make-digits` first")
    x, y = next(load_binned(path, BinSpec(dt=0.01, t_max=T * 0.01)).batches(B))
    return x, y


def bench(net, rounds, steps_per_round, kind="random"):
    sizes = [C, 128] if net == "ff" else [C, 256, 256]
    recurrent = net == "rec"
    x, y = benchmark_input(kind)
    x, y = x.to(DEVICE), y.to(DEVICE)
    builders = {
        "spikebench": lambda: SpikebenchNet(sizes, recurrent, "fused"),
        "spikebench-torch": lambda: SpikebenchNet(sizes, recurrent, "torch"),
        "norse": lambda: NorseNet(sizes, recurrent),
        "snntorch": lambda: SnnTorchNet(sizes, recurrent),
    }
    results = {}
    for mode in ("train", "infer"):
        runners = {}
        for name, builder in builders.items():
            runners[name] = make_runner(build(builder), x, y, mode)
            runners[name]()  # warm-up (numba cache load, allocator)
        times = {name: [] for name in runners}
        for _ in range(rounds):
            for name, run in runners.items():
                for _ in range(steps_per_round):
                    sync()
                    t0 = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - t0)
        results[mode] = {name: min(ts) for name, ts in times.items()}
        results[mode + "_median"] = {name: statistics.median(ts) for name, ts in times.items()}
    return sizes, recurrent, results


def projection_crossover(reps=5):
    """The first LIF layer (700 -> 128) with its input taken as sparse (fused gather kernel)
    or dense (BLAS product, then the fused scan), by input density: training (forward +
    backward) and inference. The crossover sets ``SPARSE_MAX_DENSITY`` in
    ``spikebench/engine/fused.py``."""
    from spikebench.engine import fused

    def best_ms(fn):
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times) * 1e3

    g = torch.Generator().manual_seed(0)
    layer = build(lambda: SpikebenchNet([C, 128], False, "fused")).hidden[0]
    default = fused.SPARSE_MAX_DENSITY
    print(f"\n== LIF layer {C} -> 128, T={T}, B={B}: sparse (fused gather) vs dense (BLAS + fused scan), "
          f"best of {reps}, ms")
    print(f"{'density':>8s}{'train dense':>13s}{'sparse':>9s}{'ratio':>8s}{'infer dense':>13s}{'sparse':>9s}"
          f"{'ratio':>8s}")
    try:
        for density in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3):
            x = (torch.rand(T, B, C, generator=g) < density).float()
            probe = torch.randn(T, B, 128, generator=g)

            def train():
                layer.zero_grad(set_to_none=True)
                (layer(x) * probe).sum().backward()

            def infer():
                with torch.inference_mode():
                    layer(x)
            row = []
            for fn in (train, infer):
                fused.SPARSE_MAX_DENSITY = 0.0
                dense = best_ms(fn)
                fused.SPARSE_MAX_DENSITY = 1.0
                sparse = best_ms(fn)
                row.append(f"{dense:13.1f}{sparse:9.1f}{dense / sparse:7.1f}x")
            print(f"{density:8.2f}" + "".join(row))
    finally:
        fused.SPARSE_MAX_DENSITY = default


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per competitor per round")
    parser.add_argument("--net", default="ff,rec", help="comma list of ff, rec")
    parser.add_argument("--input", choices=("random", "digits"), default="random",
                        help="random 5%% binary frames, or a real batch of the digits set")
    parser.add_argument("--projection", action="store_true",
                        help="only compare dense and sparse input projections by input density")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    global DEVICE
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible to torch")
    DEVICE = torch.device(args.device)
    if args.projection and DEVICE.type != "cpu":
        parser.error("--projection compares the CPU kernels; drop --device cuda")
    if args.projection:
        projection_crossover()
        return
    x, _ = benchmark_input(args.input)
    print(f"input: {args.input}, {float((x != 0).float().mean()):.1%} of the bins non-zero")
    where = (torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda"
             else f"CPU, {torch.get_num_threads()} threads")
    print(f"torch {torch.__version__}, {where}; T={T} B={B} input={C} "
          f"classes={K}; best of {args.rounds * args.steps} steps (median in brackets); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for net in args.net.split(","):
        sizes, recurrent, results = bench(net, args.rounds, args.steps, args.input)
        infer_flops, train_flops = dense_flops(sizes, recurrent)
        peak = gemm_flops_per_s(sizes[0], sizes[1])
        title = "-".join(map(str, sizes + [K])) + (" recurrent" if recurrent else "")
        title += f", load average {os.getloadavg()[0]:.1f}"
        print(f"\n== {title}  (dense FLOPs: inference {infer_flops / 1e9:.2f} G, "
              f"training {train_flops / 1e9:.2f} G; measured GEMM {peak / 1e9:.0f} GFLOP/s)")
        print(f"{'':18s}{'train step':>20s}{'vs norse':>10s}{'vs snntorch':>13s}"
              f"{'inference':>20s}{'vs norse':>10s}{'vs snntorch':>13s}")
        for name in results["train"]:
            tr, inf = results["train"][name], results["infer"][name]
            tr_med, inf_med = results["train_median"][name], results["infer_median"][name]
            print(f"{name:18s}{tr * 1e3:8.1f}ms ({tr_med * 1e3:6.0f}){results['train']['norse'] / tr:9.1f}x"
                  f"{results['train']['snntorch'] / tr:12.1f}x"
                  f"{inf * 1e3:8.1f}ms ({inf_med * 1e3:6.0f}){results['infer']['norse'] / inf:9.1f}x"
                  f"{results['infer']['snntorch'] / inf:12.1f}x")
        tr, inf = results["train"]["spikebench"], results["infer"]["spikebench"]
        print(f"spikebench reaches {train_flops / tr / 1e9:.0f} GFLOP/s training "
              f"({train_flops / tr / peak:.0%} of the GEMM), {infer_flops / inf / 1e9:.0f} GFLOP/s "
              f"inference ({infer_flops / inf / peak:.0%})")


if __name__ == "__main__":
    main()
