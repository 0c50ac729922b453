"""Provenance of a run: the software, the machine and the git revision."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cpu`` / ``cuda`` as given."""
    from spikebench.errors import ConfigError

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here (use auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device {device}: expected auto, cpu or cuda")
    return torch.device(device)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> str | None:
    """The source tree's commit (``+dirty`` when it has uncommitted changes), or None."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def collect_environment(device: torch.device) -> dict[str, Any]:
    """Versions, platform, CPU, device and thread count, JSON-ready."""
    try:
        import norse

        norse_version = getattr(norse, "__version__", None)
        if norse_version is None:
            from importlib.metadata import version

            norse_version = version("norse")
    except ImportError:
        norse_version = None
    dev = str(device)
    if device.type == "cuda":
        dev = f"cuda ({torch.cuda.get_device_name(device)})"
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "norse": norse_version,
        "platform": platform.platform(),
        "cpu": f"{_cpu_name()} ({os.cpu_count()} logical cores)",
        "device": dev,
        "threads": torch.get_num_threads(),
    }
