"""`spikebench data convert AUDIO_DIR OUT.h5` (a labelled audio folder -> SHD schema) and
`spikebench data make-digits` (the embedded spoken-digits set) and `spikebench data realism`
(leave one speech engine out of it)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to ``sub``."""
    c = sub.add_parser(
        "convert", help="convert a folder of labelled audio files to SHD-format spikes",
        description="Convert every audio file (wav, flac, ogg, ...) under AUDIO_DIR with the "
                    "Lauscher cochlea chain (the one that made SHD) and write OUT.h5 in the "
                    "SHD schema. Labels (and speakers) are read from each file's path "
                    "relative to AUDIO_DIR by a regular expression: its first capture group, "
                    "or the group named 'label' ('speaker'). Files that cannot be read, are "
                    "empty or carry no label are skipped and listed at the end.",
    )  # fmt: skip
    c.add_argument("audio_dir", metavar="AUDIO_DIR")
    c.add_argument("output", metavar="OUT.h5")
    c.add_argument("--label-pattern", required=True, metavar="REGEX",
                   help=r"label from the relative path, e.g. '^(\d+)_' or '(?P<label>\w+)/'")
    c.add_argument("--speaker-pattern", metavar="REGEX",
                   help=r"speaker from the relative path, e.g. '_(\w+)_\d+\.wav$' (default: one speaker)")
    c.add_argument("--keys", metavar="NAME,NAME,...",
                   help="class names in label order; labels must be one of them or an index")
    c.add_argument("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    c.add_argument("--seed", type=int, default=0, help="seed of the stochastic fibres (default: 0)")
    c.set_defaults(func=cmd_convert)

    m = sub.add_parser(
        "make-digits", help="synthesise the spoken-digits set (SHD's 20 classes) offline",
        description="Speak zero..nine and null..neun with every speech engine present (Flite "
                    "and Festival voices of real people, eSpeak NG; German by eSpeak NG), make "
                    "new speakers from them (vocal-tract length, pitch, rate), record them in "
                    "simulated rooms, noise, microphones and channels, convert with the cochlea "
                    "chain and write digits_train.h5 / digits_test.h5 (test speakers held out). "
                    "Returns at once when the folder already holds the set for these options.",
    )  # fmt: skip
    m.add_argument("--out", metavar="DIR", help="folder (default: DATA_ROOT/digits)")
    m.add_argument("--root", metavar="DIR",
                   help="data root (default: $SPIKEBENCH_DATA, else ~/.cache/spikebench)")
    m.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    m.add_argument("--size", choices=("default", "shd"), default="default",
                   help="default: 2000 / 500 utterances; shd: SHD's 8156 / 2264")
    m.add_argument("--n-train", type=int, metavar="N", help="training utterances (overrides --size)")
    m.add_argument("--n-test", type=int, metavar="N", help="test utterances (overrides --size)")
    m.add_argument("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    m.set_defaults(func=cmd_make_digits)

    r = sub.add_parser(
        "realism", help="leave one speech engine out of the digits set: train on the others, test on it",
        description="Train the seed study's CNN and phase-1 SNN on the English utterances of "
                    "every speech engine but one and test them on the held-out engine's; print "
                    "a table with the ordinary held-out-speaker test ('none') as reference. The "
                    "digits set is made first if missing.",
    )  # fmt: skip
    r.add_argument("--digits", metavar="DIR", help="digits set folder (default: DATA_ROOT/digits)")
    r.add_argument("--root", metavar="DIR",
                   help="data root (default: $SPIKEBENCH_DATA, else ~/.cache/spikebench)")
    r.add_argument("--out", metavar="DIR", help="output folder (default: runs/realism-<time>)")
    r.add_argument("--hold-out", metavar="ENGINE,...", help="engines to hold out (default: every one)")
    r.add_argument("--epochs", type=int, metavar="N", help="train every model for N epochs (default: seed's)")
    r.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    r.add_argument("--no-reference", action="store_true",
                   help="skip the 'none' row (the ordinary held-out-speaker test)")
    r.set_defaults(func=cmd_realism)


@contextmanager
def _bar(label: str, quiet: bool) -> Iterator[Any]:
    """A rich progress bar as a ``progress(done, total)`` callable."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        disable=quiet or not sys.stderr.isatty(), transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def _positive(value: int | None, option: str) -> None:
    if value is not None and value < 1:
        from spikebench.errors import ConfigError

        raise ConfigError(f"{option} {value}: must be at least 1")


def cmd_convert(args: argparse.Namespace) -> int:
    from spikebench.audio.convert import convert_folder
    from spikebench.fileio import check_output_file

    _positive(args.workers, "--workers")
    check_output_file(args.output, f"OUT.h5 {args.output}")
    keys = args.keys.split(",") if args.keys is not None else None
    with _bar("converting", args.quiet) as progress:
        s = convert_folder(
            args.audio_dir, args.output, label_pattern=args.label_pattern,
            speaker_pattern=args.speaker_pattern, keys=keys, workers=args.workers,
            seed=args.seed, progress=progress,
        )  # fmt: skip
    lines = [
        f"{s.output}: {s.n_converted} of {s.n_files} files converted in {s.seconds:.1f} s, "
        f"{s.n_events} spikes, {len(s.keys)} classes, {s.n_speakers} speaker(s)",
        "classes: " + ", ".join(f"{i}={k}" for i, k in enumerate(s.keys)),
    ]
    if s.skipped:
        lines.append(f"skipped {len(s.skipped)} file(s):")
        lines += [f"  {path}: {why}" for path, why in s.skipped]
    print("\n".join(lines))
    return 0


def cmd_make_digits(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spikebench.audio.digits import make_digits
    from spikebench.data.paths import data_root
    from spikebench.fileio import check_output_dir

    _positive(args.workers, "--workers")
    from spikebench.audio.digits import SIZES

    out = Path(args.out) if args.out else data_root(args.root) / "digits"
    n_train, n_test = SIZES[args.size]
    check_output_dir(out, f"--out {out}" if args.out else f"data root {out.parent}")
    with _bar("speaking and converting", args.quiet) as progress:
        train, test = make_digits(
            out, seed=args.seed, n_train=n_train if args.n_train is None else args.n_train,
            n_test=n_test if args.n_test is None else args.n_test,
            workers=args.workers, progress=progress,
        )  # fmt: skip
    print(train)
    print(test)
    return 0


def cmd_realism(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from spikebench.audio.digits import make_digits
    from spikebench.data.paths import data_root
    from spikebench.experiments.realism import MODELS, run_realism

    _positive(args.epochs, "--epochs")
    digits = Path(args.digits) if args.digits else data_root(args.root) / "digits"
    if not args.digits:
        with _bar("speaking and converting", args.quiet) as progress:
            make_digits(digits, progress=progress)
    out = Path(args.out) if args.out else Path("runs") / time.strftime("realism-%Y%m%d-%H%M%S")
    held = tuple(e for e in args.hold_out.split(",") if e) if args.hold_out else None
    rows = run_realism(digits, out, held_out=held, epochs=args.epochs, seed=args.seed, root=args.root,
                       reference=not args.no_reference)
    print(f"leave one engine out, English classes ({digits}; runs in {out})")
    print(f"{'held out':10s} {'train':>6s} {'test':>6s} " + " ".join(f"{m:>8s}" for m in MODELS))
    for row in rows:
        cells = " ".join(f"{100 * row.accuracy[m]:7.1f}%" if m in row.accuracy else f"{'-':>8s}" for m in MODELS)
        print(f"{row.held_out:10s} {row.n_train:6d} {row.n_test:6d} {cells}")
    return 0
