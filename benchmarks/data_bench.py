"""Load + bin a whole SHD-scale split: spikebench vs tonic, measured in the same run.

Builds an SHD-scale file (8156 samples, ~3000 events each by default, durations up to
1.2 s) with ``make_synthetic`` + ``write_shd`` in a temporary folder, then times:

* spikebench cold: ``read_shd`` (bulk) + ``bin_events`` (10 ms bins, t_max 1.0 s, 700
  channels), and the same plus densifying every sample into ``[T, B, C]`` float32 batches
  of 256 (what a training epoch consumes; tonic's output is dense too);
* tonic cold: a fresh ``tonic.datasets.SHD`` over the same file (its download is never
  triggered: the file sits where tonic looks, next to an empty stand-in archive) with
  ``ToFrame(time_window=10 ms, start_time=0, end_time=1 s)``, every sample once;
* spikebench cached start: ``load_binned`` after a first call filled the cache, in this
  process and in a fresh process (imports excluded);
* batch building for training, at 700 and 140 (pool=5) channels: shuffled float32
  ``[T, B, C]`` batches, a whole epoch, by the previous path (``frames`` per batch from
  the sparse events, fresh memory each batch: ``dense_budget = 0``) against
  ``batches()`` from the materialised dense split (its one-off build timed apart), plus
  the sparse path through ``batches()`` (recycled batch memory). Outputs are compared
  bit for bit. Tonic's per-batch figure is its cold pass above divided into batches
  (per-sample frames only, no DataLoader collation, which would only add to it).

Both sides run single-threaded (``torch.set_num_threads(1)``) on a file in the page
cache. Prints the times and the ratios; checks that both give the same frames on a few
samples. Run: ``.venv/bin/python benchmarks/data_bench.py`` (about two minutes).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _epoch_ms(batches) -> tuple[float, float]:
    """(median ms per batch, total s) over an iterator of (x, y), each x touched once."""
    times = []
    start = time.perf_counter()
    for x, _ in batches:
        times.append(time.perf_counter() - start)
        float(x[-1, -1, -1])
        start = time.perf_counter()
    return statistics.median(times) * 1e3, sum(times)


def _batch_building(split, batch_size: int) -> dict[str, float]:
    """Per-batch cost of a shuffled epoch, previous (sparse, fresh) path vs dense, each on
    a fresh not yet materialised copy of ``split``."""
    import torch

    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))
    chunks = [order[s : s + batch_size] for s in range(0, len(split), batch_size)]
    sparse = split.subset(range(len(split)))
    sparse.dense_budget = 0
    sparse_ms, sparse_s = _epoch_ms((sparse.frames(idx), None) for idx in chunks)
    recycled_ms, _ = _epoch_ms(sparse.batches(batch_size, shuffle=True))
    dense = split.subset(range(len(split)))
    _, build_s = _timed(dense.materialise)
    dense_ms, dense_s = _epoch_ms(dense.batches(batch_size, shuffle=True))
    dense_ms2, dense_s2 = _epoch_ms(dense.batches(batch_size, shuffle=True))
    same = all(torch.equal(dense.frames(idx), sparse.frames(idx)) for idx in chunks[:3])
    return {"sparse_ms": sparse_ms, "sparse_s": sparse_s, "recycled_ms": recycled_ms,
            "build_s": build_s, "dense_ms": min(dense_ms, dense_ms2),
            "dense_s": min(dense_s, dense_s2), "same": same, "dtype": str(dense.dense_dtype),
            "mb": dense._dense.nbytes / 1e6}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8156)
    parser.add_argument("--mean-events", type=float, default=3000.0)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    import tonic

    from spikebench.data.binning import BinSpec, bin_events
    from spikebench.data.cache import load_binned
    from spikebench.data.shd import read_shd, write_shd
    from spikebench.data.synthetic import make_synthetic

    torch.set_num_threads(1)
    spec = BinSpec(dt=0.01, t_max=1.0, pool=1, binary=False)
    with tempfile.TemporaryDirectory(prefix="spikebench-bench-") as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "SHD"
        folder.mkdir()
        path = folder / "shd_train.h5"
        data, t_make = _timed(lambda: make_synthetic(
            args.samples, mean_events=args.mean_events, duration=(0.4, 1.2), seed=0))  # fmt: skip
        write_shd(path, data)
        (folder / "shd_train.h5.zip").write_bytes(b"")  # tonic checks only that it exists
        size_mb = path.stat().st_size / 1e6
        per_sample = data.n_events / args.samples
        print(f"file: {args.samples} samples, {data.n_events} events ({per_sample:.0f}/sample), "
              f"{size_mb:.0f} MB, made in {t_make:.1f} s")  # fmt: skip
        del data

        # spikebench, cold: bulk read + vectorised binning (+ densify every batch)
        split, t_ours = _timed(lambda: bin_events(read_shd(path), spec))

        def densify_all() -> float:
            total = 0.0
            for x, _ in split.batches(args.batch_size):
                total += float(x.sum())
            return total

        ours_sum, t_dense = _timed(densify_all)
        print(f"spikebench cold load+bin          {t_ours:7.2f} s")
        print(f"spikebench cold load+bin+densify  {t_ours + t_dense:7.2f} s  "
              f"(densify {t_dense:.2f} s, materialising the dense split included; "
              f"{split.n_dropped} events >= 1.0 s dropped)")

        # tonic, cold: per-sample HDF5 reopen + ToFrame, every sample once
        to_frame = tonic.transforms.ToFrame(
            sensor_size=(700, 1, 1), time_window=10_000.0, start_time=0.0, end_time=1_000_000.0
        )
        check = list(range(0, args.samples, max(1, args.samples // 20)))
        kept: dict[int, np.ndarray] = {}

        def tonic_all() -> float:
            ds = tonic.datasets.SHD(str(tmp), train=True, transform=to_frame)
            total = 0.0
            for i in range(len(ds)):
                frames, _ = ds[i]
                total += float(frames[: spec.n_steps].sum())
                if i in check:
                    kept[i] = frames
            return total

        tonic_sum, t_tonic = _timed(tonic_all)
        print(f"tonic SHD + ToFrame cold          {t_tonic:7.2f} s")

        same = 0
        for i in check:
            ref = kept[i][: spec.n_steps, 0, :]
            mine = split.frames([i])[:, 0, :].numpy()
            n = min(len(ref), len(mine))
            same += int(np.array_equal(ref[:n], mine[:n]))
        print(f"check: frames identical on {same}/{len(check)} samples; "
              f"total counts {ours_sum:.0f} (spikebench) vs {tonic_sum:.0f} (tonic)")

        # cached start
        cache = tmp / "cache"
        _, t_fill = _timed(lambda: load_binned(path, spec, cache))
        _, t_cached = _timed(lambda: load_binned(path, spec, cache))
        code = (
            "import time; from spikebench.data.binning import BinSpec; "
            "from spikebench.data.cache import load_binned; t = time.perf_counter(); "
            f"s = load_binned({str(path)!r}, BinSpec(), {str(cache)!r}); "
            "print(time.perf_counter() - t)"
        )
        fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)  # fmt: skip
        t_fresh = float(fresh.stdout.strip().splitlines()[-1])
        print(f"load_binned first call (bins + writes cache) {t_fill:6.2f} s")
        print(f"load_binned cached, same process             {t_cached:6.3f} s")
        print(f"load_binned cached, fresh process            {t_fresh:6.3f} s")

        tonic_batch_ms = t_tonic / -(-args.samples // args.batch_size) * 1e3
        building = {700: _batch_building(split, args.batch_size)}
        del split
        building[140] = _batch_building(bin_events(read_shd(path), BinSpec(pool=5)),
                                        args.batch_size)  # fmt: skip
        for channels, b in building.items():
            print(f"batches of {args.batch_size} x {channels} channels: previous path "
                  f"{b['sparse_ms']:6.1f} ms/batch, sparse via batches() "
                  f"{b['recycled_ms']:6.1f} ms, dense {b['dense_ms']:6.1f} ms "
                  f"(built once in {b['build_s']:.2f} s, {b['dtype']} {b['mb']:.0f} MB); "
                  f"epoch {b['sparse_s']:.2f} s -> {b['dense_s']:.2f} s; bit-identical: "
                  f"{b['same']}")  # fmt: skip
        print(f"tonic ToFrame per batch of {args.batch_size} (from its cold pass): "
              f"{tonic_batch_ms:6.1f} ms")  # fmt: skip

        print(f"RATIO tonic / spikebench, cold load+bin:         {t_tonic / t_ours:6.1f}x")
        dense_ratio = t_tonic / (t_ours + t_dense)
        print(f"RATIO tonic / spikebench, cold load+bin+densify: {dense_ratio:6.1f}x")
        for channels, b in building.items():
            print(f"RATIO previous / dense batch building, {channels:3d} channels: "
                  f"{b['sparse_ms'] / b['dense_ms']:6.1f}x per batch, first epoch with the "
                  f"build {b['sparse_s'] / (b['dense_s'] + b['build_s']):4.1f}x")  # fmt: skip
        print(f"cached start {t_fresh:.3f} s (goal < 1 s): {'OK' if t_fresh < 1 else 'MISSED'}; "
              f"cold ratio goal >= 20x: {'OK' if t_tonic / t_ours >= 20 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
