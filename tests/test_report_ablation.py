"""The seed ablation in the report: the table, the validation winners, the seed row they feed."""

from __future__ import annotations

import copy
import tomllib

from test_report_data import make_results, make_run_dir

from spikebench.experiments.config import config_from_dict, load_experiment
from spikebench.report import build_report
from spikebench.report.ablation import BEST_FILE, best_settings, find_ablation
from spikebench.report.rundir import read_run

BASE_HP = {"readout": "mean", "surrogate": "norse-superspike"}
# (name, label, hparams changed, batch size, validation accuracy of the 3 seeds)
ROWS = [
    ("baseline", "Baseline: the study's SNN", {}, 32, (0.30, 0.32, 0.31)),
    ("sur_narrow", "Surrogate: SuperSpike, alpha 100", {"surrogate": "superspike", "alpha": 100.0}, 32, (0.40, 0.42, 0.41)),
    ("sur_atan", "Surrogate: arctan", {"surrogate": "arctan", "alpha": 2.0}, 32, (0.35, 0.36, 0.34)),
    ("readout_max", "Readout: max over time", {"readout": "max"}, 32, (0.20, 0.22, 0.21)),
    ("batch_8", "Updates: batch 8", {}, 8, (0.50, 0.52, 0.51)),
    ("init_fluct", "Initialisation: fluctuation-driven", {"init": "fluctuation"}, 32, (0.29, 0.30, 0.31)),
]


def make_ablation_results() -> dict:
    base = make_results(seeds=(0,))
    template = base["models"][0]
    models = []
    for name, label, hp, bs, vals in ROWS:
        for k, v in enumerate(vals):
            m = copy.deepcopy(template)
            m.update(name=name if k == 0 else f"{name}.seed{k}", group=name, label=label,
                     model="snn", family="snn", hparams={**BASE_HP, **hp}, batch_size=bs,
                     seed=k, n_seeds=len(vals), val_acc_selected=v, test_acc=v - 0.05,
                     diagnostics={"silent_fraction_init": 0.5, "firing_rate_init": 0.01,
                                  "silent_fraction_final": 0.2, "firing_rate_final": 0.02})
            m["reference"] = {}
            models.append(m)
    base.update(experiment="seed_ablation", models=models,
                command="spikebench run --experiment seed_ablation")
    return base


def test_best_settings_combine_the_validation_winners_of_each_factor(tmp_path):
    run = read_run(make_run_dir(tmp_path / "abl", make_ablation_results()))
    best = best_settings(run)
    # surrogate: narrow SuperSpike beats arctan; readout max and fluctuation init lose to the baseline
    assert best["hparams"] == {**BASE_HP, "surrogate": "superspike", "alpha": 100.0}
    assert best["batch_size"] == 8
    assert [c[0] for c in best["chosen"]] == ["Updates", "Surrogate"]
    assert abs(best["baseline_val"] - 0.31) < 1e-9


def test_ablation_report_writes_the_seed_row_with_its_provenance(tmp_path):
    abl = make_run_dir(tmp_path / "abl", make_ablation_results())
    md, _ = build_report(abl)
    text = md.read_text()
    assert "What limits the study's SNN" in text and "figures/ablation.png" in text
    assert (abl / "figures" / "ablation.png").stat().st_size > 10_000
    row = (abl / BEST_FILE).read_text()
    spec = tomllib.loads(row)["models"][0]
    assert spec["batch_size"] == 8 and spec["hparams"]["alpha"] == 100.0
    assert "seed_ablation run" in spec["provenance"] and "0123456" in spec["provenance"]
    # the row drops into the seed experiment as it is (in place of the shipped one)
    seed = load_experiment("seed").to_dict()
    raw = {**seed, "models": [*(m for m in seed["models"] if m["name"] != spec["name"]), spec]}
    cfg = config_from_dict(raw, "seed + ablation row")
    assert cfg.models[-1].provenance == spec["provenance"]


def test_a_run_beside_an_ablation_links_its_section_and_one_alone_does_not(tmp_path):
    make_run_dir(tmp_path / "abl", make_ablation_results())
    seed = make_run_dir(tmp_path / "seed", make_results())
    assert find_ablation(seed) == tmp_path / "abl"
    md, _ = build_report(seed)
    text = md.read_text()
    assert "What limits the study's SNN" in text and str(tmp_path / "abl") in text
    alone = make_run_dir(tmp_path / "other" / "seed", make_results())
    md, _ = build_report(alone)
    assert "What limits the study's SNN" not in md.read_text()
