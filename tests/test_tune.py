"""`spikebench tune`: search-space validation, a small search with pruning on tiny_shd that
never reads the test file, the final run of the best trial, the CLI end to end."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import optuna
import pytest

from spikebench.cli import main
from spikebench.errors import ConfigError, DataError
from spikebench.experiments.config import load_experiment
from spikebench.tuning import finish_search, parse_search, run_search, trial_config
from spikebench.tuning.study import SearchError, count_trials

TINY_SEARCH = """\
name = "tune_tiny"
dataset = "{dataset}"
seed = 0

[data]
dt = 0.05

[inference]
batch_size = 100
warmup_batches = 0
max_batches = 1
latency_samples = 2

[[models]]
name = "snn"
model = "snn"
hidden = 32
lr = 0.005
epochs = {epochs}
batch_size = 64
engine = "fused"

[search]
model = "snn"
startup_trials = 1

[search.space]
"models.snn.lr" = {{ type = "float", low = 1e-5, high = 5e-2, log = true }}
"models.snn.hidden" = {{ type = "int", low = 16, high = 64, step = 16 }}
"""


def write_search_config(path: Path, dataset: Path, *, epochs: int = 3, extra: str = "") -> Path:
    path.write_text(TINY_SEARCH.format(dataset=dataset, epochs=epochs) + extra)
    return path


@pytest.fixture()
def tiny_cfg(tiny_shd, tmp_path):
    return write_search_config(tmp_path / "tune_tiny.toml", tiny_shd["train"].parent)


def test_shipped_search_config_is_valid():
    cfg = load_experiment("tune_snn")
    spec = parse_search(cfg)
    assert spec.model == "snn" and {p.key for p in spec.params} >= {"models.snn.lr", "data.dt"}
    lowest = trial_config(cfg, spec, {p.key: p.first() for p in spec.params})
    assert lowest.select == ("snn",) and lowest.search == {}
    assert lowest.models[0].lr == pytest.approx(3e-4) and lowest.data.dt == 0.005


@pytest.mark.parametrize("space, message", [
    ('"models.snn.lr" = { type = "float", low = 1e-2, high = 1e-3 }', "need low < high"),
    ('"models.snn.lr" = { type = "float", low = 0.0, high = 1e-3, log = true }', "log = true needs low > 0"),
    ('"models.snn.lr" = { type = "gaussian", low = 0.0, high = 1.0 }', "type: expected one of"),
    ('"models.snn.lr" = { type = "float", low = 1e-4, high = 1e-2, spread = 2 }', "unknown key spread"),
    ('"models.snn.hidden" = { type = "int", low = 16.5, high = 64 }', "expected an integer"),
    ('"data.dt" = { type = "categorical", choices = [] }', "non-empty list"),
    ('"models.snn.hparams.tau_gizmo" = { type = "float", low = 1e-3, high = 1e-2 }', "tau_gizmo"),
    ('"models.other.lr" = { type = "float", low = 1e-3, high = 1e-2 }', "'models.other.lr' cannot be searched"),
    ('"data.dtt" = { type = "float", low = 1e-3, high = 1e-2 }', "unknown key data.dtt"),
])
def test_bad_search_space_is_a_config_error_naming_it(tmp_path, space, message):
    text = TINY_SEARCH.format(dataset=tmp_path, epochs=1).split("[search.space]")[0]
    path = tmp_path / "bad.toml"
    path.write_text(text + "[search.space]\n" + space + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_search(load_experiment(str(path)))


def test_experiment_without_search_table_is_refused():
    with pytest.raises(ConfigError, match=r"no \[search\] table"):
        parse_search(load_experiment("seed"))


def test_search_with_pruning_never_reads_the_test_file(tiny_shd, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tiny_shd["train"], data / "tiny_train.h5")
    (data / "tiny_test.h5").write_bytes(b"not an HDF5 file: reading it during the search fails")
    cfg = load_experiment(str(write_search_config(tmp_path / "t.toml", data)))
    out = tmp_path / "search"
    study = run_search(cfg, out, trials=6, root=tmp_path / "root", device="cpu")

    trials = study.get_trials()
    S = optuna.trial.TrialState
    assert len(trials) == 6 and [t.number for t in trials] == list(range(6))
    states = [t.state for t in trials]
    assert set(states) <= {S.COMPLETE, S.PRUNED} and S.PRUNED in states
    for t in trials:
        epochs = sorted(t.intermediate_values)
        assert epochs == list(range(1, len(epochs) + 1))
        assert t.user_attrs["history"]["val_acc"] == [t.intermediate_values[e] for e in epochs]
        if t.state == S.COMPLETE:
            assert len(epochs) == 3 and t.value == t.intermediate_values[3]
        else:
            assert len(epochs) < 3
    assert (out / "study.db").is_file()
    assert count_trials(trials) == (6, 0, 0)
    # the test file is read by the final run only
    with pytest.raises(DataError):
        finish_search(study, cfg, out, root=tmp_path / "root", device="cpu")


def test_tune_cli_end_to_end_retrains_best_trial_once(tiny_shd, tmp_path):
    cfg_path = write_search_config(tmp_path / "t.toml", tiny_shd["train"].parent, epochs=2)
    out = tmp_path / "tune"
    argv = ["tune", "--experiment", str(cfg_path), "--trials", "3", "--out", str(out),
            "--root", str(tmp_path / "root"), "--device", "cpu", "--no-report"]
    assert main(argv) == 0

    results = json.loads((out / "results.json").read_text())
    search = results["search"]
    assert search["study"] == "tune_tiny" and search["direction"] == "maximize"
    assert [t["number"] for t in search["trials"]] == [0, 1, 2]
    done = [t for t in search["trials"] if t["state"] == "COMPLETE"]
    best = max(done, key=lambda t: t["value"])
    assert search["best"]["number"] == best["number"] and search["best"]["params"] == best["params"]
    assert set(search["importance"]) <= set(search["space"])
    (model,) = results["models"]
    assert model["name"] == "snn" and model["hidden"] == best["params"]["models.snn.hidden"]
    assert model["lr"] == pytest.approx(best["params"]["models.snn.lr"])
    # same seed, same data order: the final run repeats the best trial's validation curve
    assert model["history"]["val_acc"] == pytest.approx(best["val_acc_per_epoch"])
    assert 0.0 <= model["test_acc"] <= 1.0

    best_cfg = load_experiment(str(out / "best.toml"))
    stored = tomllib.loads((out / "config.toml").read_text())
    assert best_cfg.to_dict() == load_experiment(str(out / "config.toml")).to_dict()
    assert stored["select"] == ["snn"] and best_cfg.search == {}
    rows = (out / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("number,state,value") and len(rows) == 4

    # a second call with the same --out joins the finished study: no new trial, same final run
    assert main(argv) == 0
    again = json.loads((out / "results.json").read_text())
    assert len(again["search"]["trials"]) == 3
    assert again["models"][0]["test_acc"] == model["test_acc"]


def test_joining_a_study_of_another_experiment_is_refused(tiny_shd, tmp_path):
    cfg = load_experiment(str(write_search_config(tmp_path / "t.toml", tiny_shd["train"].parent,
                                                  epochs=1)))
    out = tmp_path / "search"
    run_search(cfg, out, trials=1, root=tmp_path / "root", device="cpu")
    other = load_experiment(str(write_search_config(tmp_path / "u.toml", tiny_shd["train"].parent,
                                                    epochs=2)))
    with pytest.raises(SearchError, match="another experiment"):
        run_search(other, out, trials=2, root=tmp_path / "root", device="cpu")
    with pytest.raises(SearchError, match="prunes with median"):
        run_search(cfg, out, trials=2, root=tmp_path / "root", device="cpu", pruner="hyperband")


def test_bad_storage_is_one_line_error(tiny_shd, tmp_path, capsys):
    cfg_path = write_search_config(tmp_path / "t.toml", tiny_shd["train"].parent, epochs=1)
    argv = ["tune", "--experiment", str(cfg_path), "--trials", "1", "--out", str(tmp_path / "o"),
            "--storage", "postgresql://user:s3cret@127.0.0.1:1/nodb"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikebench: error: --storage postgresql://user:***@127.0.0.1:1/nodb")
    assert "s3cret" not in err and "\n" not in err


def test_hyperband_search_runs(tiny_shd, tmp_path):
    cfg = load_experiment(str(write_search_config(tmp_path / "t.toml", tiny_shd["train"].parent,
                                                  epochs=2)))
    study = run_search(cfg, tmp_path / "hb", trials=2, root=tmp_path / "root", device="cpu",
                       pruner="hyperband")
    assert isinstance(study.pruner, optuna.pruners.HyperbandPruner)
    assert len(study.trials) == 2 and all(t.state.is_finished() for t in study.trials)


def test_study_refuses_other_data(tiny_shd, tmp_path):
    cfg = load_experiment(str(write_search_config(tmp_path / "t.toml", tiny_shd["train"].parent,
                                                  epochs=1)))
    out = tmp_path / "search"
    run_search(cfg, out, trials=1, root=tmp_path / "root", device="cpu")
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(tiny_shd["test"], other / "tiny_train.h5")  # same schema, other samples
    shutil.copy(tiny_shd["test"], other / "tiny_test.h5")
    moved = load_experiment(str(write_search_config(tmp_path / "u.toml", other, epochs=1)))
    with pytest.raises(SearchError, match="searched on other data"):
        run_search(moved, out, trials=2, root=tmp_path / "root", device="cpu")
    same = tmp_path / "same"  # the same files elsewhere (another machine's path) may join
    shutil.copytree(tiny_shd["train"].parent, same)
    cfg_same = load_experiment(str(write_search_config(tmp_path / "v.toml", same, epochs=1)))
    assert len(run_search(cfg_same, out, trials=2, root=tmp_path / "root", device="cpu").trials) == 2
