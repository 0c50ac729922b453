"""Validation-only probe of the study's SNN settings on the digits set (no test split read).

Trains ``snn`` (hidden 128, Adam lr 1e-3, batch 128, 5 epochs by default: the study's
phase-1 settings) on the digits training file minus held-out speakers (the runner's
split: ``val_fraction=0.2``, seed 0, 10 ms bins, 1 s) and prints validation accuracy per
epoch, hidden firing (fraction of neuron-steps) and silent-neuron fraction. Options map to
``snn`` hparams, so a finding here is a ``--set models.snn_p1.hparams.K=V`` away.

    .venv/bin/python benchmarks/snn_probe.py --readout mean --surrogate norse-superspike
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from spikebench.data.binning import BinSpec
from spikebench.data.cache import load_binned
from spikebench.data.paths import data_root
from spikebench.data.splits import speaker_holdout
from spikebench.models import create_model
from spikebench.training.loop import evaluate, train_one_epoch
from spikebench.training.seeding import make_generator, seed_everything


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hparams", default="{}", help="JSON dict of snn hparams")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = data_root() / "digits"
    full = load_binned(root / "digits_train.h5", BinSpec(dt=0.01, t_max=1.0))
    tr_idx, va_idx = speaker_holdout(full.speakers, val_fraction=0.2, seed=0)
    train, val = full.subset(tr_idx), full.subset(va_idx)
    n_classes = int(full.labels.max()) + 1
    seed_everything(args.seed)
    hp = json.loads(args.hparams)
    model = create_model("snn", n_in=full.n_channels, n_classes=n_classes, n_steps=full.n_steps,
                         hidden=args.hidden, **hp)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = make_generator(args.seed)
    vals = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        st = train_one_epoch(model, train.batches(args.batch_size, shuffle=True, generator=gen), opt)
        va = evaluate(model, val.batches(256), n_classes)
        with torch.no_grad():
            x, _ = next(iter(val.batches(256)))
            z = model(x).spikes[0]
            rate, silent = float(z.mean()), float((z.sum((0, 1)) == 0).float().mean())
        vals.append(va.accuracy)
        print(f"epoch {epoch + 1}: loss {st.loss:.3f} train {st.accuracy:.3f} val {va.accuracy:.3f} "
              f"firing {rate:.4f} silent {silent:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(json.dumps({"hparams": hp, "val_acc": vals, "best_val": max(vals),
                      "n_train": len(train), "n_val": len(val)}))


if __name__ == "__main__":
    main()
