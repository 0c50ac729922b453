"""The ``spikebench`` command line: parse, build a config, call the library, report.

Each sub-module registers its own sub-commands (``register(subparsers)``) and keeps
heavy imports (torch, h5py) inside the command functions, so ``spikebench --help``
answers at once. Every failure is one line on stderr, ``spikebench: error: ...``:
errors the user can cause are :class:`~spikebench.errors.SpikebenchError` (exit status
1), a bad command line exits with 2, and an ``OSError`` that reaches this boundary (a
disk that filled up, a folder made read-only during the run) is reported with its path
and reason (exit 1); ``--debug`` shows the traceback instead. Warnings of the library
(``logging``) appear as ``spikebench: warning: ...``; ``-q`` leaves only those and errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from spikebench import __version__
from spikebench.errors import SpikebenchError


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``spikebench: error: run: ...``) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]
        where = f"{command}: " if command else ""
        hint = f" (see `{self.prog} --help`)"
        self.exit(2, f"spikebench: error: {where}{message}{hint}\n")


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--debug`` and ``-q`` on the top parser and on every sub-command, so either place works."""
    default = False if top else argparse.SUPPRESS  # a sub-command's absent flag keeps the top's
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="only warnings and errors")


def build_parser() -> argparse.ArgumentParser:
    from spikebench.cli import audio, data, export, run, tune

    parser = _Parser(
        prog="spikebench",
        description="Train, time and compare spiking neural networks on spiking audio.",
    )
    parser.add_argument("--version", action="version", version=f"spikebench {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data_parser = sub.add_parser("data", help="fetch, inspect, convert and make data sets")
    _common(data_parser, top=False)
    data_sub = data_parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    data.register(data_sub)
    audio.register(data_sub)

    run.register(sub)
    export.register(sub)
    tune.register(sub)
    for action in (sub, data_sub):
        for name, child in action.choices.items():
            if name != "data":
                _common(child, top=False)
    return parser


class _Formatter(logging.Formatter):
    """Plain messages; warnings and errors say so (``spikebench: warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"spikebench: {record.levelname.lower()}: {text}"
        return text


def _setup_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_spikebench", False)]:
        root.removeHandler(old)  # main() called again in one process (tests)
    handler._spikebench = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)


def _os_error(err: OSError) -> str:
    """``PATH: reason`` of an OSError (one line)."""
    text = str(err).strip()
    reason = err.strerror or (text.splitlines()[0] if text else type(err).__name__)
    paths = [p for p in (err.filename, err.filename2) if p is not None]
    where = " -> ".join(os.fsdecode(p) for p in paths)
    return f"{where}: {reason}" if where else reason


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    _setup_logging(args.quiet)
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
    except OSError as err:
        if args.debug:
            raise
        print(f"spikebench: error: {_os_error(err)}", file=sys.stderr)
        return 1
