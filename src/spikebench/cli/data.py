"""`spikebench data fetch shd|ssc` (download, verify, unpack) and `spikebench data inspect
FILE.h5` (check the schema, summarise, draw a spike raster)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to ``sub``."""
    f = sub.add_parser(
        "fetch", help="download, verify and unpack SHD or SSC",
        description="Download the official SHD or SSC files into ROOT/<name>/ with a "
                    "progress bar, resuming an interrupted download, verifying MD5 "
                    "checksums and unpacking atomically; a verified copy is never "
                    "downloaded again.",
    )  # fmt: skip
    f.add_argument("name", choices=("shd", "ssc"), help="data set")
    f.add_argument("--root", metavar="DIR",
                   help="data root (default: $SPIKEBENCH_DATA, else ~/.cache/spikebench)")
    f.add_argument("--base-url", metavar="URL", help="mirror holding the archives "
                   "(default: https://zenkelab.org/datasets/)")  # fmt: skip
    f.set_defaults(func=cmd_fetch)

    i = sub.add_parser(
        "inspect", help="check an SHD-schema file and summarise it",
        description="Check the SHD/SSC schema of FILE.h5 and print samples, classes with "
                    "names, speakers, spikes per sample and durations; --plot draws a "
                    "spike raster of a few samples with their labels.",
    )  # fmt: skip
    i.add_argument("file", metavar="FILE.h5")
    i.add_argument("--plot", metavar="RASTER.png", help="write a spike raster (.png/.pdf/.svg)")
    i.add_argument("--samples", type=int, default=4, metavar="N",
                   help="samples listed, and drawn in the raster one per class (default: 4)")
    i.set_defaults(func=cmd_inspect)


def cmd_fetch(args: argparse.Namespace) -> int:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from spikebench.data.download import BASE_URL, fetch
    from spikebench.data.paths import data_root
    from spikebench.fileio import check_output_dir

    root = data_root(args.root)
    check_output_dir(root / args.name, f"--root {root}" if args.root else f"data root {root}")

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(),
        disable=args.quiet or not sys.stderr.isatty(),
    ) as bar:  # fmt: skip

        def progress(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        paths = fetch(args.name, args.root, base_url=args.base_url or BASE_URL, progress=progress)
    for path in paths:
        print(path)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from spikebench.data.inspect import plot_raster, summarize
    from spikebench.data.shd import read_shd

    if args.samples < 1:
        from spikebench.errors import ConfigError

        raise ConfigError(f"--samples {args.samples}: must be at least 1")
    if args.plot:
        from spikebench.fileio import check_output_file

        check_output_file(args.plot, f"--plot {args.plot}")
    data = read_shd(args.file)
    s = summarize(args.file, data)
    mean, lo, hi = s.spikes_per_sample
    dmean, dlo, dhi = s.duration_s
    lines = [
        f"{s.path}: SHD schema OK",
        *(f"  {name:28s} {dtype:14s} {shape}" for name, dtype, shape in s.schema),
        f"samples: {s.n_samples}   events: {s.n_events}   channels used: {s.n_channels_used}",
        f"spikes per sample: mean {mean:.0f}, min {lo}, max {hi}",
        f"duration (last spike): mean {dmean:.3f} s, min {dlo:.3f} s, max {dhi:.3f} s;"
        f" {100 * s.share_after_1s:.2f}% of events at t >= 1.0 s",
        f"classes: {len(data.keys)} keys, {len(s.classes)} present",
        *(f"  {label:3d} {key:16s} {count}" for label, key, count in s.classes),
        f"speakers: {len(s.speakers)}: "
        + ", ".join(f"{spk} ({count})" for spk, count in s.speakers),
        f"speaker meta: {', '.join(s.meta_fields) if s.meta_fields else 'none'}",
        f"first {min(args.samples, s.n_samples)} samples:",
    ]
    for i in range(min(args.samples, s.n_samples)):
        times, _ = data.sample(i)
        label = int(data.labels[i])
        span = f"{times.min():.3f}-{times.max():.3f} s" if len(times) else "no spikes"
        lines.append(
            f"  #{i}: label {label} ({data.keys[label]}), speaker {int(data.speakers[i])}, "
            f"{len(times)} spikes, {span}"
        )
    print("\n".join(lines))
    if args.plot:
        out = plot_raster(data, args.plot, n=args.samples, title=str(s.path.name))
        print(f"raster: {out}")
    return 0
