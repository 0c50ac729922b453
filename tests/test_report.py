"""The report: built from a run directory alone, every section from the data, nothing half-written."""

from __future__ import annotations

import base64
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from test_report_data import make_results, make_run_dir

from spikebench.errors import DataError, SpikebenchError
from spikebench.report import build_report, plots
from spikebench.report.document import build_document
from spikebench.report.html import render_html
from spikebench.report.markdown import render_markdown
from spikebench.report.rundir import group_models, read_run as load_run

CORE_FIGURES = ("spike_rasters.png", "learning_curves.png", "accuracy_vs_time.png", "confusion_matrices.png")
OPTIONAL_FIGURES = ("streaming_accuracy.png", "search_history.png")


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory):
    run = make_run_dir(tmp_path_factory.mktemp("seed") / "run")
    md, html = build_report(run)
    return run, md.read_text(), html.read_text()


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    results = make_results(seeds=(0, 1, 2), efficiency=True, streaming=True, search=True, rng_seed=3)
    run = make_run_dir(tmp_path_factory.mktemp("full") / "run", results)
    md, html = build_report(run)
    return run, results, md.read_text(), html.read_text()


def _non_blank(png: Path) -> None:
    img = (imread(png)[..., :3] * 255).astype(np.uint32)
    assert img.shape[0] > 200 and img.shape[1] > 200
    assert (img.min(axis=2) < 230).mean() > 0.01, f"{png.name} is almost all white"
    packed = (img[..., 0] << 16) | (img[..., 1] << 8) | img[..., 2]
    assert len(np.unique(packed)) > 20, f"{png.name} has almost no colours"


def _render(tmp_path, results) -> tuple[str, str]:
    """Markdown and HTML of a run without drawing figures (the text-only checks)."""
    blocks = build_document(load_run(make_run_dir(tmp_path / "run", results)), {})
    return render_markdown(blocks), render_html(blocks)


def _table_row(md: str, label: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and label in cells:
            return cells
    raise AssertionError(f"no table row for {label!r}")


def test_seed_report_files(seed_report):
    run, md, _ = seed_report
    for name in CORE_FIGURES:
        assert f"](figures/{name})" in md
        _non_blank(run / "figures" / name)
    for name in OPTIONAL_FIGURES:
        assert not (run / "figures" / name).exists()
        assert name not in md
    assert not list(run.rglob("*.part"))


def test_tables_carry_this_run_and_the_original(seed_report):
    run, md, _ = seed_report
    results = json.loads((run / "results.json").read_text())
    for m in results["models"]:
        row = _table_row(md.split("Table 2.")[0], m["label"])
        assert f"{100 * m['test_acc']:.1f}%" in row
        assert f"~{100 * m['reference']['accuracy']:.0f}%" in row
        assert f"{m['params']:,}" in row and f"{m['lr']:g}" in row and str(m["epochs"]) in row
        speed = _table_row(md.split("Table 2.")[1], m["label"])
        assert str(m["inference"]["batch_size"]) in speed
        assert f"{1e3 * m['inference']['seconds_per_batch']:.3g} ms" in speed
    assert results["command"] in md
    assert results["environment"]["torch"] in md and results["git_revision"] in md
    assert 'name = "snn128"' in md  # config.toml shown verbatim


def test_learning_curves_plot_the_history(tmp_path):
    results = make_results()
    fig = plots.plot_learning_curves(load_run(make_run_dir(tmp_path, results)))
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid()}
    for m in results["models"]:
        loss = lines[f"{m['name']}:loss"]
        np.testing.assert_allclose(loss.get_ydata(), m["history"]["train_loss"])
        np.testing.assert_array_equal(loss.get_xdata(), np.arange(1, m["epochs"] + 1))
        for key in ("val", "train"):
            np.testing.assert_allclose(lines[f"{m['name']}:{key}"].get_ydata(),
                                       100 * np.array(m["history"][f"{key}_acc"]))


def test_html_is_self_contained(seed_report):
    run, _, html = seed_report
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html)
    links = re.findall(r'href="#([^"]+)"', html)
    assert len(links) >= 7 and all(f'id="{a}"' in html for a in links)
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) == len(CORE_FIGURES)
    on_disk = {(run / "figures" / n).read_bytes() for n in CORE_FIGURES}
    assert {base64.b64decode(u) for u in uris} == on_disk


def test_optional_sections_from_data(full_report):
    run, results, md, html = full_report
    for name in CORE_FIGURES + OPTIONAL_FIGURES:
        _non_blank(run / "figures" / name)
        assert f"figures/{name}" in md
    for n, heading in enumerate(("Efficiency and energy", "Streaming inference", "Hyperparameter search"), 6):
        assert f"## {n}. {heading}" in md and heading in html
    assert "Horowitz, ISSCC 2014" in md and "Loihi: synaptic operation" in md
    eff_row = _table_row(md, "Energy per sample, Loihi (estimate)")
    assert eff_row.count("–") == sum(1 for lab in dict.fromkeys(m["label"] for m in results["models"])
                                     if not lab.startswith("SNN"))  # no Loihi figure for ANN/CNN
    first_snn = results["models"][0]
    stream = _table_row(md.split("**Streaming inference, one stream")[1], first_snn["label"])
    assert f"{100 * first_snn['streaming']['accuracy'][-1]:.1f}%" in stream
    assert f"{1e6 * first_snn['streaming']['seconds_per_bin']:.3g} µs" in stream  # 200 µs
    # mean ± sample std over the three seeds, from the data
    for label in {m["label"] for m in results["models"]}:
        accs = [m["test_acc"] for m in results["models"] if m["label"] == label]
        cell = f"{100 * statistics.fmean(accs):.1f} ± {100 * statistics.stdev(accs):.1f}% (n=3)"
        assert cell in _table_row(md.split("Table 2.")[0], label)
    completed = [t for t in results["search"]["trials"] if t["state"] == "COMPLETE"]
    pruned = len(results["search"]["trials"]) - len(completed)
    assert f"{len(completed)} complete, {pruned} pruned" in md
    assert "median pruner" in md and "Model searched: `snn`" in md


def test_seed_report_leaves_out_absent_sections(seed_report):
    _, md, _ = seed_report
    for heading in ("Efficiency", "Streaming", "Hyperparameter search"):
        assert heading not in md
    assert "(n=" not in md


def test_report_without_samples_or_config(tmp_path):
    run = make_run_dir(tmp_path / "run", config=False, samples=False)
    md, _ = build_report(run)
    text = md.read_text()
    assert "spike_rasters.png" not in text and "config.toml" not in text
    assert "Table 1." in text


def test_text_is_escaped(tmp_path):
    results = make_results()
    results["models"][1]["label"] = "SNN <b>|x"
    md, html = _render(tmp_path, results)
    assert "SNN <b>\\|x" in md
    assert "SNN &lt;b&gt;|x" in html and "SNN <b>" not in html


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["models"][2].__setitem__("test_acc", 74.0), r"models\[2\] \(ann256\): field 'test_acc'"),
        (lambda r: r.__setitem__("models", []), "field 'models'"),
        (lambda r: r["models"][0].__setitem__("test_confusion", [[1, 2]]), "test_confusion"),
        (lambda r: r["models"][3]["history"].__setitem__("val_acc", "high"), r"cnn128.*val_acc"),
        (lambda r: r["models"][0].__setitem__("selected_on", "test"), "selected_on"),
        (lambda r: r["models"][1].pop("history"), r"snn256\): missing field 'history'"),
        (lambda r: r["models"][1].__setitem__("extra", 1), r"unknown field 'extra'"),
        (lambda r: r.__setitem__("schema_version", 99), r"schema_version 99 is not one"),
    ],
)
def test_malformed_results_name_the_field(tmp_path, mutate, message):
    results = make_results()
    mutate(results)
    run = make_run_dir(tmp_path / "run", results)
    with pytest.raises(DataError, match=message):
        build_report(run)
    assert not (run / "report.md").exists() and not (run / "report.html").exists()


def test_missing_or_broken_files(tmp_path):
    with pytest.raises(SpikebenchError, match="results.json: not found"):
        build_report(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(DataError, match=r"results.json: not valid JSON \(line 1"):
        build_report(tmp_path)
    run = make_run_dir(tmp_path / "run")
    np.savez(run / "samples.npz", times=np.zeros(3), units=np.zeros(3), offsets=np.array([0, 5]), labels=np.array([1]))
    with pytest.raises(DataError, match="samples.npz: offsets"):
        build_report(run)


def test_rebuild_is_deterministic_and_a_failed_one_keeps_the_report(tmp_path, monkeypatch):
    results = make_results()
    results["models"] = results["models"][:1]
    run = make_run_dir(tmp_path / "run", results, samples=False)
    md, html = build_report(run)
    before = md.read_bytes(), html.read_bytes()
    assert tuple(p.read_bytes() for p in build_report(run)) == before

    def boom(blocks):
        raise RuntimeError("render failed")

    (run / "results.json").write_text((run / "results.json").read_text().replace('"experiment": "seed"', '"experiment": "changed"'))
    monkeypatch.setattr("spikebench.report.html.render_html", boom)
    with pytest.raises(RuntimeError):
        build_report(run)
    assert (md.read_bytes(), html.read_bytes()) == before
    assert not list(run.rglob("*.part"))



def test_seeds_are_grouped_and_different_set_ups_are_not(tmp_path):
    results = make_results(seeds=(0, 1, 2))
    run = load_run(make_run_dir(tmp_path / "a", results, samples=False))
    groups = group_models(run.models)
    assert [g.n_seeds for g in groups] == [3, 3, 3, 3]
    assert [sorted(r.seed for r in g.runs) for g in groups] == [[0, 1, 2]] * 4
    results["models"][1]["group"] = "other"  # seed 1 of the first model: another model now
    groups = group_models(load_run(make_run_dir(tmp_path / "b", results, samples=False)).models)
    assert [g.n_seeds for g in groups] == [2, 1, 3, 3, 3]
    for m in results["models"]:
        m["group"] = "all"
    assert [g.n_seeds for g in group_models(load_run(make_run_dir(tmp_path / "c", results)).models)] == [12]


def test_a_run_without_a_finished_model_is_refused(tmp_path):
    results = make_results()
    results["models"] = []
    with pytest.raises(DataError, match="field 'models' should be a non-empty list"):
        build_report(make_run_dir(tmp_path / "run", results))


def test_command_line_overrides_are_flagged(tmp_path):
    results = make_results()
    assert "changed the experiment's settings" not in _render(tmp_path / "a", results)[0]
    results["command"] = "spikebench run --epochs 2 --set models.snn_p1.lr=0.01"
    md, _ = _render(tmp_path / "b", results)
    assert "(`--epochs 2`, `--set models.snn_p1.lr=0.01`)" in md
