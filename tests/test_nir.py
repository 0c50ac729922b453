"""NIR export: round trip through Norse's ``from_nir`` gives the same spikes.

Batch-normalised LIF stacks (``rsnn``, the ``sota`` models) are checked after a few
training steps, so that the folded norm has non-trivial running statistics and affine
parameters.

Norse imports ``Affine``, ``Linear`` and ``CubaLIF`` nodes (and recurrent sub-graphs via
``nirtorch``); ``load_norse`` adds a ``CubaLI`` built from Norse's own ``LIBoxCell``, so
the readout membrane is checked too. The spikes are read from Norse's ``CubaLIF`` modules.
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from test_report_data import make_results

from spikebench.cli import main
from spikebench.errors import ConfigError
from spikebench.export.nir import export_nir, load_norse, snn_to_nir
from spikebench.models.registry import create_model
from spikebench.models.spiking import class_scores
from spikebench.training.checkpoint import save_checkpoint

norse_nir = pytest.importorskip("norse.torch.utils.import_nir")


@torch.no_grad()
def run_norse(graph: nir.NIRGraph, x: torch.Tensor, dt: float):
    """Step the Norse module one bin at a time: (spikes per CubaLIF node, readout membrane)."""
    net = load_norse(graph, dt=dt)
    spikes: dict[str, list[torch.Tensor]] = {}
    for name, module in net.named_modules():
        if isinstance(module, norse_nir.CubaLIF):
            module.register_forward_hook(lambda m, i, o, name=name: spikes.setdefault(name, []).append(o[0]))
    state, v = None, []
    for t in range(x.shape[0]):
        out, state = net(x[t], state)
        v.append(out)
    return [torch.stack(z) for z in spikes.values()], torch.stack(v)


def _frames(t: int, b: int, c: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(t, b, c, generator=g) < 0.15).float()
    return x * torch.randint(1, 3, x.shape, generator=g)  # spike counts per bin


@pytest.mark.parametrize(
    ("recurrent", "bin_dt", "hparams"),
    [
        (False, 0.01, {"v_th": 0.2}),
        (True, 0.01, {"v_th": 0.2}),
        (False, 0.004, {"tau_mem": 2e-3, "tau_syn": 4e-3, "v_th": 0.4}),
        (True, 0.02, {"tau_mem": 3e-3, "v_th": 0.5, "dt": 5e-4}),
    ],
)
def test_norse_round_trip_gives_the_same_spikes(tmp_path, recurrent, bin_dt, hparams) -> None:
    torch.manual_seed(0)
    x = _frames(60, 4, 30, seed=1)
    model = create_model("snn", n_in=30, n_classes=6, n_steps=60, hidden=24, n_layers=2,
                         recurrent=recurrent, **hparams).eval()
    with torch.no_grad():
        ref = model(x)
        h = x
        for layer in model.hidden:
            h = layer(h)
        v_ref = model.out(h)
    assert all(float(z.sum()) > 20 for z in ref.spikes), "the comparison needs spikes"

    path = tmp_path / "model.nir"
    export_nir(model, path, bin_dt=bin_dt)
    graph = nir.read(path)  # the file, not the in-memory graph
    assert float(graph.metadata["spikebench_bin_dt"]) == bin_dt
    spikes, v = run_norse(graph, x, dt=bin_dt)
    assert len(spikes) == len(ref.spikes) == 2
    for ours, theirs in zip(ref.spikes, spikes):
        assert torch.equal(ours, theirs)
    torch.testing.assert_close(v, v_ref, rtol=1e-5, atol=1e-5)
    assert torch.equal(v.amax(0).argmax(1), ref.logits.argmax(1))


def test_time_constants_are_real_seconds_for_the_bin_width() -> None:
    model = create_model("snn", n_in=5, n_classes=3, n_steps=10, hidden=4, recurrent=True,
                         tau_syn=5e-3, tau_mem=1e-2, dt=1e-3)
    graph = snn_to_nir(model, bin_dt=0.01)
    sub = graph.nodes["hidden.0"]
    assert isinstance(sub, nir.NIRGraph)
    lif = sub.nodes["lif"]
    assert isinstance(lif, nir.CubaLIF)
    # one engine step (dt = 1 ms) per 10 ms bin: 10 ms of engine time is 100 ms of real time
    np.testing.assert_allclose(lif.tau_mem, 0.1)
    np.testing.assert_allclose(lif.tau_syn, 0.05)
    np.testing.assert_allclose(lif.w_in, 5.0)  # tau_syn' / bin_dt = tau_syn / dt
    np.testing.assert_array_equal(sub.nodes["w_rec"].weight, model.hidden[0].recurrent.weight.detach().numpy())
    assert set(sub.edges) == {("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")}
    assert isinstance(graph.nodes["out"], nir.CubaLI)
    np.testing.assert_allclose(graph.nodes["out"].tau_mem, 0.1)
    assert isinstance(graph.nodes["hidden.0.linear"], nir.Affine)


@pytest.mark.parametrize("name", ["ann", "cnn"])
def test_non_spiking_models_are_refused(tmp_path, name) -> None:
    model = create_model(name, n_in=5, n_classes=3, n_steps=10)
    with pytest.raises(ConfigError, match="NIR export"):
        export_nir(model, tmp_path / "m.nir", bin_dt=0.01)
    assert not list(tmp_path.iterdir()), "nothing may be written on failure"


def _fake_run(run_dir, models: dict[str, dict]) -> None:
    """A run directory of untrained ``models`` (name -> create_model arguments), 3 classes."""
    results = make_results(n_classes=3)
    template = results["models"][0]
    entries = []
    for name, build in models.items():
        b = dict(build)
        model = create_model(b.pop("name"), **b)
        save_checkpoint(run_dir / "checkpoints" / f"{name}.pt", {
            "model": model.state_dict(), "optimizer": {}, "rng": {}, "epoch": 1, "history": {},
            "config": {}, "build": build,
        })
        entries.append({**template, "name": name, "group": name, "model": build["name"]})
    results["models"] = entries
    results["dataset"]["keys"] = ["a", "b", "c"]
    (run_dir / "results.json").write_text(json.dumps(results))


def test_cli_export(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    snn = {"name": "snn", "n_in": 8, "n_classes": 3, "n_steps": 20, "hidden": 6}
    _fake_run(run, {"snn_p1": snn, "cnn_p2": {"name": "cnn", "n_in": 8, "n_classes": 3, "n_steps": 20}})
    out = tmp_path / "model.nir"
    assert main(["export", str(run), "--nir", str(out)]) == 0
    assert "snn_p1" in capsys.readouterr().out
    graph = nir.read(out)
    assert graph.metadata["spikebench_model"] == "snn_p1"
    assert graph.nodes["hidden.0.linear"].weight.shape == (6, 8)

    assert main(["export", str(run), "--nir", str(out), "--model", "cnn_p2"]) == 1
    assert "cnn" in capsys.readouterr().err
    assert main(["export", str(run), "--nir", str(out), "--model", "nope"]) == 1
    assert "snn_p1, cnn_p2" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), "--nir", str(out)]) == 1
    assert "results.json" in capsys.readouterr().err


def test_adaptive_lif_is_refused(tmp_path) -> None:
    from spikebench.engine.layers import LI, AdLIF

    model = torch.nn.Sequential(AdLIF(5, 4), LI(4, 3))
    with pytest.raises(ConfigError, match="adaptive LIF, which NIR cannot express"):
        export_nir(model, tmp_path / "m.nir", bin_dt=0.01)
    model = create_model("adlif", n_in=5, n_classes=3, n_steps=10, hidden=4)
    with pytest.raises(ConfigError, match=r"^NIR export: layer 'hidden\.0' \(AdLIF\) is an adaptive LIF"):
        export_nir(model, tmp_path / "m.nir", bin_dt=0.01)
    assert not list(tmp_path.iterdir())


def _train_a_few_steps(model: torch.nn.Module, *, steps: int, t: int, b: int, c: int, k: int) -> None:
    """Adam on cross-entropy plus a firing-rate target (0.2 per bin), so every layer spikes."""
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    y = torch.arange(b) % k
    model.train()
    for step in range(steps):
        out = model(_frames(t, b, c, seed=100 + step))
        loss = F.cross_entropy(out.logits, y) + 100 * sum((0.2 - z.mean()) ** 2 for z in out.spikes)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.mark.parametrize("recurrent", [False, True])
def test_batch_norm_stack_round_trips_with_the_norm_folded(tmp_path, recurrent) -> None:
    torch.manual_seed(0)
    t, b, c, k = 50, 8, 30, 6
    model = create_model("rsnn", n_in=c, n_classes=k, n_steps=t, hidden=24, n_layers=2,
                         recurrent=recurrent, norm=True, dropout=0.1, readout="mean")
    _train_a_few_steps(model, steps=15, t=t, b=b, c=c, k=k)
    for layer in model.hidden:
        bn = layer.linear.norm.requires_grad_(False)
        assert int(bn.num_batches_tracked) == 15
        assert float((bn.running_var - 1).abs().min()) > 0.05, "running statistics must be non-trivial"
        assert float(bn.running_mean.abs().max()) > 1e-3
        assert float((bn.weight - 1).abs().max()) > 0.05 and float(bn.bias.abs().max()) > 0.05

    x = _frames(t, b, c, seed=1)
    with torch.no_grad():
        ref = model(x)
        v_ref = model.out(ref.spikes[-1])
    assert all(float(z.sum()) > 50 for z in ref.spikes), "the comparison needs spikes in every layer"

    path = tmp_path / "rsnn.nir"
    export_nir(model, path, bin_dt=0.01)
    graph = nir.read(path)
    for i, layer in enumerate(model.hidden):
        node = graph.nodes[f"hidden.{i}.linear"]
        assert isinstance(node, nir.Affine)
        probe = torch.randn(5, layer.linear.in_features)
        with torch.no_grad():
            expected = layer.linear(probe[None])[0]  # eval: the norm with running statistics
        folded = probe @ torch.from_numpy(node.weight).T + torch.from_numpy(node.bias)
        torch.testing.assert_close(folded, expected, rtol=1e-5, atol=1e-5)
    if recurrent:  # the norm covers the input projection only
        np.testing.assert_array_equal(graph.nodes["hidden.0"].nodes["w_rec"].weight,
                                      model.hidden[0].recurrent.weight.detach().numpy())

    spikes, v = run_norse(graph, x, dt=0.01)
    assert len(spikes) == 2
    for ours, theirs in zip(ref.spikes, spikes):
        assert torch.equal(ours, theirs)
    torch.testing.assert_close(v, v_ref, rtol=1e-5, atol=1e-5)
    assert graph.metadata["spikebench_readout"] == "mean"
    torch.testing.assert_close(class_scores(v, "mean"), ref.logits, rtol=1e-5, atol=1e-5)


def test_cli_exports_a_batch_norm_model_and_refuses_delays(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    common = {"n_in": 8, "n_classes": 3, "n_steps": 20, "hidden": 6}
    _fake_run(run, {"lif": {"name": "rsnn", "recurrent": False, **common},
                    "delays": {"name": "delays", **common}})
    out = tmp_path / "lif.nir"
    assert main(["export", str(run), "--nir", str(out), "--model", "lif"]) == 0
    assert isinstance(nir.read(out).nodes["hidden.1.linear"], nir.Affine)
    assert main(["export", str(run), "--nir", str(tmp_path / "d.nir"), "--model", "delays"]) == 1
    err = capsys.readouterr().err
    assert "model 'delays'" in err and "per-synapse delays" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d.nir").exists()


def test_learned_delays_are_refused(tmp_path) -> None:
    model = create_model("delays", n_in=5, n_classes=3, n_steps=10, hidden=4).eval()
    with pytest.raises(ConfigError, match=r"hidden\.0\.linear \(DelayedLinear\) has learned per-synapse delays"):
        export_nir(model, tmp_path / "m.nir", bin_dt=0.01)
    assert not list(tmp_path.iterdir())


def test_batch_norm_without_running_statistics_is_refused(tmp_path) -> None:
    model = create_model("rsnn", n_in=5, n_classes=3, n_steps=10, hidden=4, n_layers=1)
    model.hidden[0].linear.norm = torch.nn.BatchNorm1d(4, track_running_stats=False)
    with pytest.raises(ConfigError, match="no running statistics"):
        export_nir(model, tmp_path / "m.nir", bin_dt=0.01)
