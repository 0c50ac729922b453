"""Time one training epoch of the full-size SHD recipe on an SHD-sized synthetic file (CPU).

SHD itself cannot be downloaded here, so this writes ``make_synthetic`` data of SHD's
training size (8,156 samples, 700 channels, 20 classes, 1 s) to a temporary SHD-schema
file, bins it as ``configs/sota.toml``'s full-size recipe does (10 ms bins, 1 s, 700 ->
140 channels) and times one epoch of the library's ``train_one_epoch`` (AdamW, the
recipe's augmentations, batch ``--batch-size``) for each model, the study's CNN on the
same input being the competitor measured in the same run (ratio printed). The time
depends on the dense ``[T, B, C]`` tensors, not on the event count, except for the
sparse input projection of the first layer. ``--batches N`` times only the first N
batches and scales to the epoch (the mean over the timed batches; set 0 for the whole
epoch).

    .venv/bin/python benchmarks/sota_epoch_bench.py --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from spikebench.data.binning import BinSpec
from spikebench.data.cache import load_binned
from spikebench.data.shd import write_shd
from spikebench.data.synthetic import make_synthetic
from spikebench.models import create_model
from spikebench.training.augment import Augment, augment_batches
from spikebench.training.loop import train_one_epoch

# The full-size models of configs/sota.toml's header (hidden width, hparams).
MODELS = {
    "adlif": ("adlif", 360, dict(n_layers=2, recurrent=True, dropout=0.15, readout="mean",
                                  alpha=5.0, tau_adapt=(0.06, 0.3))),
    "delays": ("delays", 256, dict(n_layers=2, max_delay=0.25, bin_dt=0.01, dropout=0.4,
                                    readout="mean", alpha=5.0)),
    "cnn": ("cnn", 128, {}),
}
AUGMENT = Augment(time_shift=5, channel_shift=4, cutmix=1.0)


def time_epoch(name: str, data, *, batch_size: int, max_batches: int) -> tuple[float, int]:
    """Seconds for one epoch of ``name`` over ``data`` (scaled from ``max_batches``)."""
    model_name, hidden, hp = MODELS[name]
    torch.manual_seed(0)
    model = create_model(model_name, n_in=data.n_channels, n_classes=20, n_steps=data.n_steps,
                         hidden=hidden, **hp)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    n_batches = -(-len(data) // batch_size)
    timed = n_batches if max_batches <= 0 else min(max_batches, n_batches)
    batches = augment_batches(data.batches(batch_size, shuffle=True,
                                           generator=torch.Generator().manual_seed(0)),
                              AUGMENT, n_classes=20)
    warm = next(batches)  # first batch: compilation and allocation, not timed
    train_one_epoch(model, [warm], opt)
    chunk = [next(batches) for _ in range(min(timed, n_batches - 1))]
    t0 = time.perf_counter()
    train_one_epoch(model, chunk, opt)
    seconds = time.perf_counter() - t0
    return seconds / len(chunk) * n_batches, len(chunk)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8156)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--batches", type=int, default=6, help="batches timed (0: whole epoch)")
    ap.add_argument("--models", default="adlif,delays,cnn")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models.split(",")
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shd_sized_train.h5"
        write_shd(path, make_synthetic(args.samples, n_classes=20, n_speakers=12,
                                       duration=(0.6, 1.0)))
        data = load_binned(path, BinSpec(dt=0.01, t_max=1.0, pool=5), cache_dir=Path(tmp))
        print(f"{len(data)} samples, T={data.n_steps}, C={data.n_channels}, batch "
              f"{args.batch_size}, {args.threads} threads, {torch.__version__}")
        times = {}
        for name in names:
            seconds, n = time_epoch(name, data, batch_size=args.batch_size,
                                    max_batches=args.batches)
            times[name] = seconds
            print(f"{name:7s} {MODELS[name][1]:4d} wide: {seconds:7.1f} s per epoch "
                  f"(from {n} timed batches)", flush=True)
    if "cnn" in times:
        for name, seconds in times.items():
            if name != "cnn":
                print(f"ratio {name} / cnn: {seconds / times['cnn']:.1f}x")


if __name__ == "__main__":
    main()
