"""Experiment files: the seed study's exact settings, --set overrides, errors that name the key."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from spikebench.errors import ConfigError
from spikebench.experiments.config import (
    apply_overrides,
    config_from_dict,
    load_experiment,
    parse_value,
)
from spikebench.models import model_info


def test_seed_is_the_original_study():
    full = load_experiment("seed")
    # one row is not the study's: the phase-1 SNN with the ablation's settings, with provenance
    extra = [m for m in full.models if m.provenance]
    assert [m.name for m in extra] == ["snn_p1_best"] and extra[0].reference is None
    assert "seed_ablation" in extra[0].provenance and "judged on validation" in extra[0].provenance
    cfg = dataclasses.replace(full, models=tuple(m for m in full.models if not m.provenance))
    rows = [(m.phase, model_info(m.model).family, m.hidden, m.lr, m.epochs) for m in cfg.models]
    assert rows == [
        (1, "snn", 128, 1e-3, 10),
        (2, "snn", 256, 5e-3, 3),
        (2, "ann", 256, 1e-3, 3),
        (2, "cnn", 128, 1e-3, 5),
    ]
    assert [m.reference.accuracy for m in cfg.models] == [0.82, 0.78, 0.74, 0.88]
    assert [m.reference.seconds_per_batch for m in cfg.models] == [0.9, 0.85, None, 0.32]
    assert cfg.dataset == "digits"
    assert {m.engine for m in cfg.models if m.model == "snn"} == {"fused"}
    assert all(m.engine is None for m in cfg.models if m.model != "snn")


def test_overrides_dotted_keys_and_wildcards():
    cfg = load_experiment("seed", ["models.*.epochs=2", "models.cnn_p2.lr=3e-4",
                                   "models.cnn_p2.hparams.dropout=0.1", "data.dt=0.005",
                                   "select=snn_p1,cnn_p2", "seed=7", "dataset=/x/y"])
    assert {m.epochs for m in cfg.models} == {2}
    assert [m.name for m in cfg.selected_models()] == ["snn_p1", "cnn_p2"]
    cnn = cfg.selected_models()[1]
    assert cnn.lr == 3e-4 and cnn.hparams == {"dropout": 0.1}
    assert cfg.data.dt == 0.005 and cfg.seed == 7 and cfg.dataset == "/x/y"


def test_resolved_config_round_trips_through_toml():
    cfg = load_experiment("seed", ["models.snn_p1.hparams.readout=\"mean\"", "select=snn_p1"])
    again = config_from_dict(tomllib.loads(cfg.to_toml()))
    assert again == cfg


def test_parse_value():
    assert parse_value("2") == 2 and parse_value("1e-3") == 1e-3
    assert parse_value("true") is True and parse_value('"a b"') == "a b"
    assert parse_value("cnn_p2") == "cnn_p2" and parse_value("[1, 2]") == [1, 2]


@pytest.mark.parametrize("override, message", [
    ("models.snn_p1.epoch=2", r"unknown key models\.snn_p1\.epoch; valid keys .*epochs"),
    ("data.dtt=0.1", r"unknown key data\.dtt; valid keys in data: dt"),
    ("colour=1", r"unknown key colour"),
    ("seed=abc", r"seed: expected an integer"),
    ("models.snn_p1.lr=fast", r"models\.snn_p1\.lr: expected a number"),
    ("models.snn_p1.epochs=0", r"epochs must be >= 1"),
    ("models.nope.lr=1", r"no model named 'nope'; models: snn_p1"),
    ("models.ann_p2.engine=norse", r"ann.* has no engine option"),
    ("models.cnn_p2.hparams.depth=3", r"unknown option depth; valid: .*dropout"),
    ("models.snn_p1.model=lstm", r"unknown model 'lstm'"),
    ("models.snn_p1.schedule=step", r"unknown 'step'; valid: constant, cosine"),
    ("select=zzz", r"select names unknown model 'zzz'"),
    ("data.dt=2.0", r"0 < data.dt <= data.t_max"),
    ("novalue", r"expected key=value"),
])
def test_bad_values_are_config_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment("seed", [override])


def test_unknown_experiment_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown experiment 'nope'; known: .*seed"):
        load_experiment("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_experiment(str(bad))
    empty = tmp_path / "empty.toml"
    empty.write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="lists no"):
        load_experiment(str(empty))
    dup = tmp_path / "dup.toml"
    dup.write_text('name = "x"\n[[models]]\nname="a"\nmodel="ann"\n'
                   '[[models]]\nname="a"\nmodel="cnn"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="repeated: a"):
        load_experiment(str(dup))


def test_overrides_do_not_mutate_the_input():
    raw = {"name": "x", "models": [{"name": "a", "model": "ann"}]}
    apply_overrides(raw, ["models.a.epochs=3"])
    assert raw["models"][0] == {"name": "a", "model": "ann"}
