"""`spikebench` sub-commands: audio (being built)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to ``sub``."""
