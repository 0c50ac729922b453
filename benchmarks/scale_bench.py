"""SHD at full size: one training epoch, test inference and peak memory of every model.

SHD itself cannot be downloaded here, so this writes an SHD-sized synthetic pair of
files in the SHD schema (``make_synthetic``: 8,156 training and 2,264 test samples, 700
channels, 20 classes, 12 speakers in training and 2 others in test, 0.4-1.2 s
utterances, about 3,000 spikes per sample as in ``benchmarks/data_bench.py``; the
realised mean is printed). For every model of the ``seed`` and ``sota_shd`` experiments
(or ``--models``), a fresh Python process does what ``spikebench run`` does for one
epoch: bins the files by the experiment's ``[data]`` (cached once beforehand, so the
binning is not in the figures), holds out validation speakers, builds the model from
its config, trains one epoch with the model's optimiser, batch size and augmentation,
then times inference over the whole test split (``evaluate``, batches of the
experiment's ``inference.batch_size``) and writes the checkpoint that the runner would
write (model + optimiser, and the selected weights where the model selects on validation),
and finally what the runner does after testing (inference timing, efficiency counts,
streaming evaluation, within the experiment's ``inference`` caps). The process reports its peak
resident memory (``ru_maxrss``: everything, data splits, Python and torch included)
and, on CUDA, the peak allocated GPU memory. The goal is every model within 8 GiB on CPU.

    .venv/bin/python benchmarks/scale_bench.py                     # CPU, every model
    .venv/bin/python benchmarks/scale_bench.py --device cuda       # on a GPU machine
    .venv/bin/python benchmarks/scale_bench.py --models snn_p1,adlif --batches 4

``--batches N`` trains one untimed batch, then N timed batches, and scales the time to
the epoch (0: the whole epoch, first-batch compilation included). The spiking engine is the experiment's (the fused CPU kernels on CPU).
The competitor of each spiking model is the study's CNN measured in the same run (ratio
of epoch times printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIB = 2**30
LIMIT_GIB = 8.0
EXPERIMENTS = ("seed", "sota_shd")


def _write_files(folder: Path, mean_events: float) -> float:
    from spikebench.data.shd import write_shd
    from spikebench.data.synthetic import make_synthetic

    common = dict(n_classes=20, structure_seed=0, mean_events=mean_events, duration=(0.4, 1.2))
    train = make_synthetic(8156, n_speakers=12, seed=1, **common)
    test = make_synthetic(2264, n_speakers=2, first_speaker=12, seed=2, **common)
    write_shd(folder / "shd_train.h5", train)
    write_shd(folder / "shd_test.h5", test)
    return (train.offsets[-1] + test.offsets[-1]) / (len(train.labels) + len(test.labels))


def _all_models() -> list[tuple[str, str]]:
    from spikebench.experiments.config import load_experiment

    return [(exp, m.name) for exp in EXPERIMENTS for m in load_experiment(exp).models
            if not m.name.startswith("rsnn")]


def _child(args: argparse.Namespace) -> None:
    """One model in this process: prints one JSON line of measurements."""
    import torch

    from spikebench.errors import ConfigError
    from spikebench.experiments.config import load_experiment
    from spikebench.experiments.datasets import DatasetFiles, prepare_data
    from spikebench.models import create_model, model_info
    from spikebench.training.augment import augment_batches, parse_augment
    from spikebench.training.checkpoint import save_checkpoint
    from spikebench.training.efficiency import measure_efficiency
    from spikebench.training.loop import evaluate, train_one_epoch
    from spikebench.training.metrics import time_inference
    from spikebench.training.streaming import evaluate_streaming

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    folder = Path(args.folder)
    cfg = load_experiment(args.experiment)
    spec = {m.name: m for m in cfg.models}[args.model]
    files = DatasetFiles("shd", folder / "shd_train.h5", folder / "shd_test.h5")
    data = prepare_data(files, cfg.data, seed=cfg.seed, cache_dir=folder / "cache")
    hparams = {"hidden": spec.hidden, **spec.hparams}
    if spec.engine is not None:
        hparams["engine"] = spec.engine
    torch.manual_seed(0)
    model = create_model(spec.model, n_in=data.n_channels, n_classes=data.n_classes,
                         n_steps=data.n_steps, **hparams).to(device)
    opt_cls = torch.optim.AdamW if spec.weight_decay > 0 else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=spec.lr, **(
        {"weight_decay": spec.weight_decay} if spec.weight_decay > 0 else {}))
    augment = parse_augment(spec.augment)
    n_batches = -(-len(data.train) // spec.batch_size)
    timed = n_batches if args.batches <= 0 else min(args.batches, n_batches)
    batches = augment_batches(data.train.batches(spec.batch_size, shuffle=True, device=device,
                                                 generator=torch.Generator().manual_seed(0)),
                              augment, n_classes=data.n_classes)
    if timed < n_batches:  # a sampled epoch: one untimed batch first (compilation, allocation)
        train_one_epoch(model, [next(batches)], opt, device=device)
        timed = min(timed, n_batches - 1)
    chunk = (next(batches) for _ in range(timed))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    stats = train_one_epoch(model, chunk, opt, device=device)
    sync()
    epoch_s = (time.perf_counter() - t0) * n_batches / timed
    state = {"model": model.state_dict(), "optimizer": opt.state_dict()}
    if spec.selection == "best_val":  # the runner keeps the best epoch's weights too
        state["best"] = {"model": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        ckpt = Path(tmp) / "model.pt"
        save_checkpoint(ckpt, state)
        ckpt_bytes = ckpt.stat().st_size
    del state
    t0 = time.perf_counter()
    test = evaluate(model, data.test.batches(cfg.inference.batch_size, device=device),
                    data.n_classes, device=device)
    sync()
    infer_s = time.perf_counter() - t0
    # What the runner does next, so that the peak covers a whole model of a real run.
    t0 = time.perf_counter()
    inf, cap = cfg.inference, cfg.inference.max_batches or None
    time_inference(model, data.test, batch_size=inf.batch_size, warmup_batches=inf.warmup_batches,
                   max_batches=cap, latency_samples=inf.latency_samples, device=device)
    measure_efficiency(model, data.test.batches(inf.batch_size, device=device),
                       bin_dt=cfg.data.dt, max_batches=cap)
    try:
        evaluate_streaming(model, data.test.batches(inf.batch_size, device=device),
                           bin_dt=cfg.data.dt, max_batches=cap)
    except ConfigError:  # not a chain of spiking layers
        pass
    after_s = time.perf_counter() - t0
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({
        "experiment": args.experiment, "model": args.model,
        "family": model_info(spec.model).family,
        "params": sum(p.numel() for p in model.parameters()), "batch_size": spec.batch_size,
        "channels": data.n_channels, "epoch_s": epoch_s, "timed_batches": timed,
        "n_batches": n_batches, "infer_s": infer_s, "after_s": after_s, "n_test": len(data.test),
        "peak_rss": peak_rss, "checkpoint_bytes": ckpt_bytes,
        "cuda_peak": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
        "train_loss": stats.loss, "test_acc": test.accuracy,
    }), flush=True)


def _run_one(exp: str, model: str, folder: Path, args: argparse.Namespace) -> dict | str:
    cmd = [sys.executable, __file__, "--child", "--folder", str(folder), "--experiment", exp,
           "--model", model, "--device", args.device, "--threads", str(args.threads),
           "--batches", str(args.batches)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"failed (exit {proc.returncode}): {tail}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt_bytes(n: float | None) -> str:
    return "-" if n is None else f"{n / GIB:.2f} GiB" if n >= GIB / 4 else f"{n / 2**20:.0f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated model names (default: every model of "
                                     "seed and sota_shd)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=0, help="training batches timed (0: all)")
    ap.add_argument("--mean-events", type=float, default=3000.0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--experiment", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return 0
    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device visible to torch")
    todo = _all_models()
    if args.models:
        wanted = args.models.split(",")
        unknown = sorted(set(wanted) - {m for _, m in todo})
        if unknown:
            ap.error(f"unknown model(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(m for _, m in todo)}")
        todo = [(e, m) for e, m in todo if m in wanted]
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        folder = Path(tmp)
        per_sample = _write_files(folder, args.mean_events)
        from spikebench.data.binning import BinSpec
        from spikebench.data.cache import load_binned
        from spikebench.experiments.config import load_experiment

        for exp in EXPERIMENTS:  # fill the binning cache once per [data] spec
            d = load_experiment(exp).data
            for name in ("shd_train.h5", "shd_test.h5"):
                load_binned(folder / name, BinSpec(dt=d.dt, t_max=d.t_max, pool=d.pool,
                                                   binary=d.binary), folder / "cache")
        print(f"SHD-sized synthetic files: 8,156 train / 2,264 test samples, 700 channels, "
              f"{per_sample:.0f} spikes per sample on average; device {args.device}, "
              f"{args.threads} threads, torch {torch.__version__}, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        for exp, model in todo:
            row = _run_one(exp, model, folder, args)
            rows.append((exp, model, row))
            if isinstance(row, str):
                print(f"{exp}/{model}: {row}", flush=True)
            else:
                print(f"{exp}/{model}: epoch {row['epoch_s']:.1f} s, test inference "
                      f"{row['infer_s']:.1f} s, peak RSS {_fmt_bytes(row['peak_rss'])}",
                      flush=True)
    print()
    gpu = args.device == "cuda"
    head = ("| experiment | model | params | batch | channels | train epoch | test inference "
            "(2,264) | timing, efficiency, streaming | peak RSS | checkpoint |"
            + (" peak GPU |" if gpu else ""))
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    ok = True
    for exp, model, row in rows:
        if isinstance(row, str):
            print(f"| {exp} | {model} | {row} |")
            ok = False
            continue
        within = row["peak_rss"] <= LIMIT_GIB * GIB
        ok &= within
        est = "" if row["timed_batches"] == row["n_batches"] else (
            f" (from {row['timed_batches']} of {row['n_batches']} batches)")
        print(f"| {exp} | {model} | {row['params'] / 1e6:.2f} M | {row['batch_size']} | "
              f"{row['channels']} | {row['epoch_s']:.1f} s{est} | {row['infer_s']:.1f} s | "
              f"{row['after_s']:.1f} s | "
              f"{_fmt_bytes(row['peak_rss'])}{'' if within else ' (over 8 GiB)'} | "
              f"{_fmt_bytes(row['checkpoint_bytes'])} |"
              + (f" {_fmt_bytes(row['cuda_peak'])} |" if gpu else ""))
    cnn = {exp: row for exp, model, row in rows
           if not isinstance(row, str) and model in ("cnn_p2", "cnn_study")}
    for exp, model, row in rows:
        if isinstance(row, str) or row["family"] != "snn" or exp not in cnn:
            continue
        ref = cnn[exp]
        print(f"RATIO {exp}/{model} epoch / CNN epoch: {row['epoch_s'] / ref['epoch_s']:.2f}x; "
              f"inference / CNN inference: {row['infer_s'] / ref['infer_s']:.2f}x")
    print(f"every model within {LIMIT_GIB:g} GiB peak RSS: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
