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
  process and in a fresh process (imports excluded).

Both sides run single-threaded (``torch.set_num_threads(1)``) on a file in the page
cache. Prints the times and the ratios; checks that both give the same frames on a few
samples. Run: ``.venv/bin/python benchmarks/data_bench.py`` (about a minute).
"""

from __future__ import annotations

import argparse
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
              f"(densify {t_dense:.2f} s, {split.n_dropped} events >= 1.0 s dropped)")

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

        print(f"RATIO tonic / spikebench, cold load+bin:         {t_tonic / t_ours:6.1f}x")
        dense_ratio = t_tonic / (t_ours + t_dense)
        print(f"RATIO tonic / spikebench, cold load+bin+densify: {dense_ratio:6.1f}x")
        print(f"cached start {t_fresh:.3f} s (goal < 1 s): {'OK' if t_fresh < 1 else 'MISSED'}; "
              f"cold ratio goal >= 20x: {'OK' if t_tonic / t_ours >= 20 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
