"""The ``spikebench`` command line: parse, build a config, call the library, report.

Each sub-module registers its own sub-commands (``register(subparsers)``) and keeps
heavy imports (torch, h5py) inside the command functions, so ``spikebench --help``
answers at once. Errors the user can cause are :class:`~spikebench.errors.SpikebenchError`
and end as one line on stderr with exit status 1 (2 for a bad command line); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from spikebench import __version__
from spikebench.errors import SpikebenchError


def build_parser() -> argparse.ArgumentParser:
    from spikebench.cli import audio, data, export, run, tune

    parser = argparse.ArgumentParser(
        prog="spikebench",
        description="Train, time and compare spiking neural networks on spiking audio.",
    )
    parser.add_argument("--version", action="version", version=f"spikebench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data_parser = sub.add_parser("data", help="fetch, inspect, convert and make data sets")
    data_sub = data_parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    data.register(data_sub)
    audio.register(data_sub)

    run.register(sub)
    export.register(sub)
    tune.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except SpikebenchError as err:
        if args.debug:
            raise
        print(f"spikebench: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spikebench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`spikebench data inspect f.h5 | head`):
        # stop quietly, and keep Python from complaining again while flushing stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
