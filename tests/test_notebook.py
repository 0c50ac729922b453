"""The lecture notebook runs top to bottom (nbclient, a fresh kernel, its own small slice)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "lecture.ipynb"


@pytest.mark.timeout(300)
def test_lecture_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for name in ("SNN", "ANN", "CNN"):
        assert f"{name}: test acc" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5
    nbformat.write(nb, tmp_path / "executed.ipynb")
