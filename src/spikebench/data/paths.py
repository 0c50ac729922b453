"""Where data lives: the data root, from ``--root``, then ``$SPIKEBENCH_DATA``, then a
per-user cache folder (``$XDG_CACHE_HOME/spikebench``, by default ``~/.cache/spikebench``).

Under the root: ``shd/`` and ``ssc/`` (fetched files), ``digits/`` (the embedded set) and
``binned/`` (the binning cache).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SPIKEBENCH_DATA"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root folder (not created here)."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR, "")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "spikebench"


def cache_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the binned-split cache (:mod:`spikebench.data.cache`)."""
    return data_root(root) / "binned"
