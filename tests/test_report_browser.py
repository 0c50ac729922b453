"""report.html opened in a real browser (headless Debian chromium), offline: the page is not blank.

Chromium comes from the Makefile's ``sysdeps`` target (run by ``make test`` and CI); the
test is skipped, saying so, only where no chromium binary exists.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.image import imread
from test_report_data import make_results, make_run_dir

from spikebench.report import build_report

CHROMIUM = next((p for n in ("chromium", "chromium-browser") if (p := shutil.which(n))), None)
# matplotlib's first colour (#1f77b4): present only where the inlined figures were drawn.
FIGURE_BLUE = np.array([31, 119, 180])


def screenshot_stats(img: np.ndarray) -> dict[str, float]:
    """Non-white fraction, distinct colours and pixels of the figures' blue in an RGB image."""
    rgb = (img[..., :3] * 255 if img.dtype.kind == "f" else img[..., :3]).astype(np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return {
        "non_white": float((rgb.min(axis=2) < 235).mean()),
        "colours": float(len(np.unique(packed))),
        "figure_blue": float((np.abs(rgb - FIGURE_BLUE).max(axis=2) <= 12).sum()),
    }


def looks_rendered(stats: dict[str, float]) -> bool:
    return stats["non_white"] > 0.03 and stats["colours"] > 200 and stats["figure_blue"] > 200


def test_blank_page_is_detected():
    white = np.ones((600, 800, 3), dtype=np.float32)
    assert not looks_rendered(screenshot_stats(white))
    white[100:120, 50:700] = 0.0  # a line of "text" only
    assert not looks_rendered(screenshot_stats(white))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make sysdeps installs it)")
def test_report_renders_in_headless_chromium(tmp_path):
    results = make_results(seeds=(0, 1), efficiency=True, streaming=True)
    run = make_run_dir(tmp_path / "run", results)
    _, html = build_report(run)
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,6000",
        html.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert shot.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    img = imread(shot)
    assert img.shape[:2] == (6000, 1280)
    stats = screenshot_stats(img)
    assert looks_rendered(stats), stats
