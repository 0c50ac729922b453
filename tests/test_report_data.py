"""A run-directory builder for the report tests, following the run record's schema.

``make_results`` returns a results.json object shaped as :mod:`spikebench.record` reads it
(seed experiment: phase-1 SNN, phase-2 SNN, ANN, CNN), with values drawn from a seeded
generator; options add the optional sections (several seeds, efficiency, streaming,
search). ``make_run_dir`` writes it with a config.toml and a samples.npz. The tests in
this module check the builder itself against the record module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

KEYS = tuple(f"{lang}-{w}" for lang in ("english", "german") for w in
             ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"))

SEED_MODELS = (
    # name, label, family, phase, engine, hidden, lr, epochs, ref acc, ref s/batch
    ("snn128", "SNN 128 (phase 1)", "snn", 1, "fused", 128, 1e-3, 10, 0.82, 0.9),
    ("snn256", "SNN 256 (phase 2)", "snn", 2, "fused", 256, 5e-3, 3, 0.78, 0.85),
    ("ann256", "ANN 256", "ann", 2, None, 256, 1e-3, 3, 0.74, None),
    ("cnn128", "CNN 128 filters", "cnn", 2, None, 128, 1e-3, 5, 0.88, 0.32),
)

CONFIG_TOML = """\
name = "seed"

[data]
dt = 0.01
t_max = 1.0

[[models]]
name = "snn128"
hidden = 128
lr = 0.001
epochs = 10
"""

TOP_KEYS = {"spikebench_version", "experiment", "command", "created", "git_revision",
            "environment", "protocol", "dataset", "models"}
MODEL_KEYS = {"name", "label", "family", "phase", "engine", "hidden", "lr", "epochs",
              "batch_size", "seed", "params", "history", "selected_epoch", "test_acc",
              "test_confusion", "inference", "wall_seconds", "reference", "efficiency"}


def _confusion(rng: np.random.Generator, acc: float, n_classes: int, per_class: int) -> list[list[int]]:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    for k in range(n_classes):
        for _ in range(per_class):
            if rng.random() < acc:
                cm[k, k] += 1
            else:
                # mostly the same digit in the other language: a structured confusion
                other = (k + 10) % n_classes if rng.random() < 0.6 else int(rng.integers(n_classes))
                cm[k, other] += 1
    return cm.tolist()


SOURCE_CMOS = "M. Horowitz, ISSCC 2014: 45 nm, fp32 add 0.9 pJ, fp32 multiply 3.7 pJ (MAC = 4.6 pJ)"
SOURCE_LOIHI = "M. Davies et al., IEEE Micro 38(1), 2018, Table 1"


def _efficiency(rng, entry, hidden, spiking):
    """An ``efficiency`` object shaped as spikebench.training.efficiency writes it."""
    ac = float(rng.uniform(1e5, 1e6)) if spiking else 0.0
    mac = 7e4 * hidden
    updates = 100.0 * hidden
    active = 0.05 * updates if spiking else 0.0
    events = ac if spiking else None
    cmos = mac * 4.6e-12 + ac * 0.9e-12 + updates * 2 * 4.6e-12
    return {
        "n_samples": 100, "n_steps": 100, "params": entry["params"], "footprint_bytes": 4 * entry["params"],
        "connection_sparsity": 0.0, "activation_sparsity": 0.95 if spiking else 0.5,
        "synops": {"effective_mac": mac, "effective_ac": ac, "effective_total": mac + ac,
                   "dense": 1.8e7, "synaptic_events": events},
        "neuron_updates": {"total": updates, "active": active, "inactive": updates - active},
        "spikes_per_sample": active if spiking else None,
        "firing_rate_hz": 5.0 if spiking else None,
        "layers": [{"name": "hidden", "kind": "LIF" if spiking else "Linear", "dense": 1.8e7}],
        "energy": {
            "cmos45nm": {"synaptic_j": cmos, "neuron_j": 0.0, "total_j": cmos, "source": SOURCE_CMOS},
            "loihi": ({"synaptic_j": 1e-6, "neuron_j": 1e-7, "total_j": 1.1e-6, "source": SOURCE_LOIHI}
                      if spiking else None),
        },
        "constants": {
            "cmos45nm_mac": {"value": 4.6, "unit": "pJ", "source": SOURCE_CMOS},
            "cmos45nm_ac": {"value": 0.9, "unit": "pJ", "source": SOURCE_CMOS},
            "loihi_synaptic_op": {"value": 23.6, "unit": "pJ", "source": SOURCE_LOIHI},
        },
    }


def _model_entry(rng, spec, seed, n_classes, *, efficiency, streaming, n_seeds=1):
    name, label, family, phase, engine, hidden, lr, epochs, ref_acc, ref_spb = spec
    final = float(np.clip(ref_acc + rng.normal(0, 0.03), 0.05, 0.99))
    e = np.arange(1, epochs + 1)
    val = np.clip(final * (1 - np.exp(-1.5 * e)) + rng.normal(0, 0.01, epochs), 0, 1)
    train = np.clip(val + 0.05 + rng.normal(0, 0.01, epochs), 0, 1)
    loss = 3.0 * np.exp(-0.6 * e) + 0.2 + rng.normal(0, 0.02, epochs)
    spb = {"snn": 0.04, "ann": 0.002, "cnn": 0.01}[family] * (1 + 0.1 * rng.random())
    entry = {
        "name": name if seed == 0 else f"{name}_s{seed}", "group": name, "label": label,
        "family": family, "model": family, "phase": phase,
        "engine": engine, "hidden": hidden, "hparams": {}, "lr": lr, "schedule": "constant", "epochs": epochs, "batch_size": 64, "seed": seed,
        "params": int(700 * hidden + hidden * n_classes + hidden + n_classes),
        "history": {
            "train_loss": loss.tolist(), "train_acc": train.tolist(), "val_acc": val.tolist(),
            "epoch_seconds": (5 + rng.random(epochs)).tolist(),
        },
        "weight_decay": 0.0, "augment": {}, "selection": "last", "selected_on": "final",
        "n_seeds": n_seeds, "selected_epoch": epochs, "val_acc_selected": float(val[-1]),
        "test_acc": final,
        "test_confusion": _confusion(rng, final, n_classes, 5),
        "inference": {"batch_size": 64, "seconds_per_batch": spb,
                      "latency_seconds_per_sample": spb / 20, "n_batches_timed": 10, "warmup_batches": 2},
        "wall_seconds": float(6 * epochs + rng.random()),
        "reference": {"accuracy": ref_acc, "seconds_per_batch": ref_spb},
        "efficiency": None,
        "streaming": None,
    }
    if efficiency:
        entry["efficiency"] = _efficiency(rng, entry, hidden, family == "snn")
    if streaming and family == "snn":
        frac = np.linspace(0.1, 1.0, 10)
        t = np.arange(1, 101) * 0.01
        entry["streaming"] = {
            "bin_dt": 0.01, "n_samples": 5 * n_classes, "n_steps": 100, "readout": "max",
            "fraction": frac.tolist(),
            "accuracy": (final * frac ** 0.5).tolist(), "time_s": t.tolist(),
            "accuracy_vs_time": (final * np.minimum(1, t / 0.8)).tolist(), "final_accuracy": final,
            "seconds_per_bin": 2e-4, "seconds_per_bin_p95": 3e-4, "real_time_factor": 0.02,
            "n_bins_timed": 390, "state_bytes_per_stream": 8 * hidden + 4 * n_classes,
        }
    return entry


def make_results(*, seeds=(0,), efficiency=False, streaming=False, search=False,
                 n_classes=20, rng_seed=0) -> dict:
    rng = np.random.default_rng(rng_seed)
    models = [
        _model_entry(rng, spec, s, n_classes, efficiency=efficiency, streaming=streaming,
                     n_seeds=len(seeds))
        for spec in SEED_MODELS for s in seeds
    ]
    results = {
        "schema_version": 1,
        "spikebench_version": "0.1.0",
        "experiment": "seed",
        "command": "spikebench run --dataset digits --out runs/test",
        "created": "2026-11-28T12:00:00+00:00",
        "git_revision": "0123456789abcdef0123456789abcdef01234567",
        "environment": {"python": "3.11.2", "torch": "2.13.0", "norse": "1.1.0",
                        "platform": "Linux-x86_64", "cpu": "test CPU", "device": "cpu", "threads": 2},
        "protocol": "Validation on held-out speakers; the test file is evaluated once with the final model.",
        "dataset": {
            "name": "digits", "train_file": "digits_train.h5", "test_file": "digits_test.h5",
            "valid_file": None,
            "n_train": 800, "n_val": 200, "n_test": 5 * n_classes, "n_classes": n_classes,
            "keys": list(KEYS[:n_classes]), "val_speakers": [4, 5],
            "bin": {"dt": 0.01, "t_max": 1.0, "pool": 1, "binary": False},
        },
        "models": models,
    }
    if search:
        trials = []
        for i in range(12):
            state = "PRUNED" if i % 4 == 3 else "COMPLETE"
            trials.append({"number": i, "state": state, "value": float(0.5 + 0.03 * i * rng.random()),
                           "params": {"hidden": int(rng.choice([128, 256])), "lr": float(10 ** rng.uniform(-4, -2))}})
        best = max((t for t in trials if t["state"] == "COMPLETE"), key=lambda t: t["value"])
        results["search"] = {"study": "seed-search", "direction": "maximize", "pruner": "median",
                             "objective": "validation accuracy (held-out speakers) of the selected epoch",
                             "model": "snn", "trials": trials,
                             "best": best, "importance": {"lr": 0.7, "hidden": 0.3},
                             "best_config": 'name = "best"\n[[models]]\nhidden = 256\n'}
    return results


def make_samples(n=4, n_classes=20, n_channels=700, rng_seed=0) -> dict:
    rng = np.random.default_rng(rng_seed)
    times, units, offsets, labels = [], [], [0], []
    for i in range(n):
        label = i % n_classes
        k = int(rng.integers(300, 900))
        centre = 50 + 30 * label
        t = np.sort(rng.uniform(0, 0.9, k)).astype(np.float32)
        u = np.clip(centre + 150 * np.sin(6 * t + label) + rng.normal(0, 40, k), 0, n_channels - 1)
        times.append(t)
        units.append(u.astype(np.uint16))
        offsets.append(offsets[-1] + k)
        labels.append(label)
    return {"times": np.concatenate(times), "units": np.concatenate(units),
            "offsets": np.asarray(offsets, dtype=np.int64), "labels": np.asarray(labels, dtype=np.int64),
            "keys": np.asarray(KEYS[:n_classes])}


def make_run_dir(path: Path, results: dict | None = None, *, config=True, samples=True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(results or make_results(), indent=2))
    if config:
        (path / "config.toml").write_text(CONFIG_TOML)
    if samples:
        np.savez(path / "samples.npz", **make_samples())
    return path


def test_builder_follows_contract():
    r = make_results(seeds=(0, 1))
    assert TOP_KEYS <= r.keys()
    assert set(r["dataset"]) >= {"name", "train_file", "test_file", "n_train", "n_val", "n_test",
                                 "n_classes", "keys", "val_speakers", "bin"}
    for m in r["models"]:
        assert MODEL_KEYS <= m.keys()
        k = len(m["test_confusion"])
        assert k == r["dataset"]["n_classes"] and all(len(row) == k for row in m["test_confusion"])
        assert len(m["history"]["train_loss"]) == m["epochs"]
    assert len(r["models"]) == 2 * len(SEED_MODELS)


def test_builder_output_reads_as_a_run_record(tmp_path):
    from spikebench.record import load_run

    full = make_results(seeds=(0, 1), efficiency=True, streaming=True, search=True)
    run = load_run(make_run_dir(tmp_path, full))
    assert len(run.models) == 2 * len(SEED_MODELS) and run.search["study"] == "seed-search"


def test_samples_offsets_consistent():
    s = make_samples(n=3)
    assert s["offsets"][0] == 0 and s["offsets"][-1] == len(s["times"]) == len(s["units"])
    assert np.all(np.diff(s["offsets"]) > 0)
