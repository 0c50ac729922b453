"""The full-size named recipes (sota_shd, sota_ssc) and `spikebench run` on the fetched SHD."""

from __future__ import annotations

import json
import shutil

import pytest

from spikebench.cli import main
from spikebench.experiments.config import list_experiments, load_experiment
from spikebench.models import create_model


@pytest.mark.parametrize("name, dataset, sizes", [
    ("sota_shd", "shd", {"adlif": 360, "radlif": 1024, "delays": 256}),
    ("sota_ssc", "ssc", {"adlif": 720, "radlif": 1024, "delays": 512}),
])
def test_full_size_recipes_load_with_the_published_sizes(name, dataset, sizes):
    assert name in list_experiments()
    cfg = load_experiment(name)
    assert cfg.name == name and cfg.dataset == dataset
    assert (cfg.data.dt, cfg.data.t_max, cfg.data.pool) == (0.01, 1.0, 5)
    models = {m.name: m for m in cfg.selected_models()}
    assert set(models) == {"adlif", "radlif", "delays", "cnn_study", "cnn_long"}
    for model, hidden in sizes.items():
        spec = models[model]
        assert spec.hidden == hidden and spec.hparams["n_layers"] == 2
        assert spec.selection == "best_val" and spec.n_seeds == 3
    assert models["adlif"].hparams["recurrent"] and models["radlif"].hparams["recurrent"]
    n_classes = 20 if dataset == "shd" else 35
    for spec in models.values():  # every model builds at its full size
        hp = {"hidden": spec.hidden, **spec.hparams}
        if spec.engine is not None:
            hp["engine"] = spec.engine
        net = create_model(spec.model, n_in=140, n_classes=n_classes, n_steps=100, **hp)
        assert sum(p.numel() for p in net.parameters()) > 0


def test_radlif_has_bittar_and_garners_parameter_count_on_700_channels():
    spec = {m.name: m for m in load_experiment("sota_shd").models}["radlif"]
    net = create_model("adlif", n_in=700, n_classes=20, n_steps=100, hidden=spec.hidden,
                       **spec.hparams)
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(3.9e6, rel=0.03)


def test_sota_shd_without_shd_says_how_to_fetch_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--experiment", "sota_shd", "--root", str(tmp_path / "empty"),
                 "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("spikebench: error: SHD is not under ")
    assert "spikebench data fetch shd" in err
    assert not out.exists()


def test_run_dataset_shd_without_experiment_runs_the_study(tiny_shd, tmp_path):
    root = tmp_path / "data"
    (root / "shd").mkdir(parents=True)
    shutil.copy(tiny_shd["train"], root / "shd" / "shd_train.h5")
    shutil.copy(tiny_shd["test"], root / "shd" / "shd_test.h5")
    out = tmp_path / "run"
    assert main(["run", "--dataset", "shd", "--root", str(root), "--out", str(out),
                 "--epochs", "1", "--set", "select=cnn_p2", "--set", "inference.max_batches=1",
                 "--set", "inference.latency_samples=2", "--no-report"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "seed" and results["dataset"]["name"] == "shd"
    assert [m["name"] for m in results["models"]] == ["cnn_p2"]
