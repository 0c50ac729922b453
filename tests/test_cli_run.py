"""`spikebench run` end to end on the tiny SHD-schema fixture, `spikebench report`, CLI errors."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from spikebench.cli import main

CONTRACT_MODEL_KEYS = {
    "name", "label", "family", "phase", "engine", "hidden", "lr", "epochs", "batch_size", "seed",
    "params", "history", "selected_epoch", "test_acc", "test_confusion", "inference",
    "wall_seconds", "reference", "efficiency",
}


@pytest.fixture(scope="module")
def finished_run(tiny_shd, tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    out = base / "run"
    argv = ["run", "--dataset", str(tiny_shd["train"].parent), "--out", str(out),
            "--root", str(base / "data"),
            "--epochs", "1", "--device", "auto", "--set", "inference.max_batches=1",
            "--set", "inference.latency_samples=2",
            "--set", "select=snn_p1,snn_p1_best,snn_p2,ann_p2,cnn_p2"]  # the opt-in row too
    assert main(argv) == 0
    return out


def test_run_writes_the_run_directory_contract(finished_run):
    out = finished_run
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "seed"
    assert results["command"].startswith("spikebench run --dataset ")
    assert set(results["environment"]) >= {"python", "torch", "norse", "platform", "cpu",
                                           "device", "threads"}
    ds = results["dataset"]
    assert ds["name"] == "tiny" and ds["n_classes"] == 20 and len(ds["keys"]) == 20
    assert ds["n_train"] + ds["n_val"] == 300 and ds["n_test"] == 100 and ds["val_speakers"]
    assert ds["bin"] == {"dt": 0.01, "t_max": 1.0, "pool": 1, "binary": False}
    models = results["models"]
    assert [(m["name"], m["family"], m["phase"], m["hidden"]) for m in models] == [
        ("snn_p1", "snn", 1, 128), ("snn_p1_best", "snn", 1, 128), ("snn_p2", "snn", 2, 256),
        ("ann_p2", "ann", 2, 256), ("cnn_p2", "cnn", 2, 128)]
    best = models[1]
    assert "seed_ablation" in best["provenance"] and best["hparams"]["norm"] is True
    for m in models:  # the study's loss form, per epoch, and silent neurons of spiking rows
        assert m["history"]["n_batches"] == [-(-ds["n_train"] // m["batch_size"])]
        assert m["history"]["train_loss_batch_sum"][0] > 0
        assert (m["diagnostics"] is not None) == (m["family"] == "snn")
    for m in models:
        assert CONTRACT_MODEL_KEYS <= set(m), m["name"]
        assert m["epochs"] == 1 and m["selected_epoch"] == 1
        assert all(len(m["history"][k]) == 1 for k in
                   ("train_loss", "train_acc", "val_acc", "epoch_seconds"))
        assert 0.0 <= m["test_acc"] <= 1.0 and m["params"] > 0
        conf = np.asarray(m["test_confusion"])
        assert conf.shape == (20, 20) and conf.sum() == 100
        assert conf.trace() / 100 == pytest.approx(m["test_acc"])
        inf = m["inference"]
        assert inf["batch_size"] == 100 and inf["n_batches_timed"] == 1
        assert inf["seconds_per_batch"] > 0 and inf["latency_seconds_per_sample"] > 0
        assert m["engine"] == ("fused" if m["family"] == "snn" else None)
        eff = m["efficiency"]
        assert eff["n_samples"] == 100 and eff["params"] == m["params"]
        assert {"synops", "energy", "activation_sparsity"} <= set(eff)
        stream = m["streaming"]
        if m["family"] == "snn":
            assert stream["n_samples"] == 100 and stream["readout"] == m["hparams"]["readout"]
            assert len(stream["accuracy_vs_time"]) == stream["n_steps"] == 100
            assert stream["final_accuracy"] == pytest.approx(m["test_acc"], abs=0.011)
            assert eff["spikes_per_sample"] > 0 or eff["firing_rate_hz"] == 0
        else:
            assert stream is None
        assert (out / "checkpoints" / f"{m['name']}.pt").is_file()
    assert models[0]["reference"] == {"accuracy": 0.82, "seconds_per_batch": 0.9,
                                      "first_epoch_loss": 763.9, "last_epoch_loss": 757.7}
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert cfg["name"] == "seed" and all(m["epochs"] == 1 for m in cfg["models"])
    samples = np.load(out / "samples.npz")
    assert set(samples.files) >= {"times", "units", "offsets", "labels", "keys"}
    assert len(samples["offsets"]) == len(samples["labels"]) + 1 == 5
    assert len(set(samples["labels"].tolist())) == 4  # distinct classes first
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    report = (out / "report.md").read_text()
    assert "fficiency" in report and "treaming" in report


def test_report_rebuilds_from_the_run_directory(finished_run):
    (finished_run / "report.html").unlink()
    assert main(["report", str(finished_run)]) == 0
    assert (finished_run / "report.html").stat().st_size > 1000


def test_resume_of_a_finished_run_keeps_its_results(finished_run):
    before = json.loads((finished_run / "results.json").read_text())["models"]
    assert main(["run", "--out", str(finished_run), "--resume", "--no-report",
                 "--root", str(finished_run.parent / "data")]) == 0
    after = json.loads((finished_run / "results.json").read_text())["models"]
    assert after == before


@pytest.mark.parametrize("argv, message", [
    (["run", "--dataset", "/nonexistent/dir"], "--dataset /nonexistent/dir: not digits, shd, ssc"),
    (["run", "--resume"], "--resume needs --out"),
    (["run", "--set", "models.snn_p1.epoch=2"], "unknown key models.snn_p1.epoch"),
    (["run", "--epochs", "0"], "--epochs 0: must be >= 1"),
    (["run", "--experiment", "nope"], "unknown experiment 'nope'"),
    (["report", "/nonexistent/run"], "no results.json"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("spikebench: error:")]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, err


def test_missing_shd_says_how_to_fetch_it(tmp_path, capsys):
    assert main(["run", "--dataset", "shd", "--root", str(tmp_path), "--out",
                 str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "spikebench data fetch shd" in err and not (tmp_path / "r").exists()


def test_folder_without_a_pair_is_a_data_error(tmp_path, capsys):
    (tmp_path / "x_train.h5").write_bytes(b"")
    assert main(["run", "--dataset", str(tmp_path)]) == 1
    assert "no <name>_train.h5 with a matching <name>_test.h5" in capsys.readouterr().err
