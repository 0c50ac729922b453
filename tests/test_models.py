"""Every registered model: forward and backward on [T, B, C] frames, no NaN, right output."""

from __future__ import annotations

import pytest
import torch

from spikebench.errors import ConfigError
from spikebench.models import ModelOutput, create_model, list_models, model_hparams

T, B, C, K = 12, 4, 40, 5


def _frames(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, C, generator=g) < 0.2).float()


def test_registry_lists_the_study_families():
    assert {"snn", "ann", "cnn"} <= set(list_models())


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name, n_in=C, n_classes=K, n_steps=T)
    out = model(_frames())
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (B, K) and out.logits.dtype == torch.float32
    assert torch.isfinite(out.logits).all()
    for s in out.spikes:
        assert s.shape[:2] == (T, B)
        assert set(torch.unique(s).tolist()) <= {0.0, 1.0}
    loss = torch.nn.functional.cross_entropy(out.logits, torch.arange(B) % K)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.fixture
def one_thread():
    """Tiny tensors: one thread avoids thread-pool waits on a busy shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", list_models())
def test_model_fits_one_batch(name, one_thread):
    """Sixty Adam steps on one fixed batch must drive its loss well down."""
    torch.manual_seed(0)
    x = _frames(1)
    y = torch.arange(B) % K
    valid = model_hparams(name)
    hparams = {"dropout": 0.0} if "dropout" in valid else {}
    if "dt" in valid:  # 10 ms steps: the few input spikes drive the membranes harder
        hparams["dt"] = 1e-2
    model = create_model(name, n_in=C, n_classes=K, n_steps=T, **hparams)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    first = None
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x).logits, y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_snn_spikes_per_layer_and_readout_rules():
    torch.manual_seed(0)
    x = _frames() * 5
    outs = {}
    for readout in ("max", "mean", "last"):
        torch.manual_seed(0)
        m = create_model("snn", n_in=C, n_classes=K, n_steps=T, hidden=16, n_layers=2,
                         readout=readout)
        out = m(x)
        assert len(out.spikes) == 2 and out.spikes[1].shape == (T, B, 16)
        v = m.out(out.spikes[-1])
        outs[readout] = (out.logits, v)
    logits, v = outs["max"]
    torch.testing.assert_close(logits, v.amax(0))
    torch.testing.assert_close(outs["mean"][0], outs["mean"][1].mean(0))
    torch.testing.assert_close(outs["last"][0], outs["last"][1][-1])


def test_snn_engines_agree():
    """With Norse's surrogate the fused engine and Norse's own cells compute the same model:
    same logits and same gradients (the seed config's SNN rows rely on this)."""
    x = _frames() * 3
    y = torch.arange(B) % K
    logits, grads = {}, {}
    for engine in ("fused", "norse"):
        torch.manual_seed(0)
        m = create_model("snn", n_in=C, n_classes=K, n_steps=T, hidden=16, engine=engine,
                         surrogate="norse-superspike", readout="mean")
        logits[engine] = m(x).logits
        torch.nn.functional.cross_entropy(logits[engine], y).backward()
        grads[engine] = m.hidden[0].linear.weight.grad
    torch.testing.assert_close(logits["fused"], logits["norse"], rtol=1e-4, atol=1e-5)
    assert grads["fused"].abs().sum() > 0
    torch.testing.assert_close(grads["fused"], grads["norse"], rtol=1e-3, atol=1e-6)


def test_snn_init_gains_scale_the_default_weights():
    torch.manual_seed(0)
    plain = create_model("snn", n_in=C, n_classes=K, n_steps=T, hidden=16)
    torch.manual_seed(0)
    scaled = create_model("snn", n_in=C, n_classes=K, n_steps=T, hidden=16, in_gain=2.0,
                          out_gain=10.0)
    torch.testing.assert_close(scaled.hidden[0].linear.weight, 2 * plain.hidden[0].linear.weight)
    torch.testing.assert_close(scaled.out.linear.weight, 10 * plain.out.linear.weight)
    torch.testing.assert_close(scaled.out.linear.bias, plain.out.linear.bias)
    x = _frames() * 3
    torch.manual_seed(0)
    wide = create_model("snn", n_in=C, n_classes=K, n_steps=T, hidden=16, readout_scale=4.0)
    torch.testing.assert_close(wide(x).logits, 4 * plain(x).logits)
    with pytest.raises(ConfigError, match="out_gain"):
        create_model("snn", n_in=C, n_classes=K, n_steps=T, out_gain=0)


def test_unknown_model_and_option_name_the_valid_ones():
    with pytest.raises(ConfigError, match="registered models: .*snn"):
        create_model("transformer", n_in=C, n_classes=K, n_steps=T)
    with pytest.raises(ConfigError, match="no option 'hiden'.*valid options: .*hidden"):
        create_model("snn", n_in=C, n_classes=K, n_steps=T, hiden=3)
    with pytest.raises(ConfigError, match="engine"):
        create_model("snn", n_in=C, n_classes=K, n_steps=T, engine="loihi")


def test_ann_rejects_wrong_number_of_steps():
    m = create_model("ann", n_in=C, n_classes=K, n_steps=T)
    with pytest.raises(ValueError, match="time steps"):
        m(torch.zeros(T + 1, B, C))


@pytest.mark.parametrize("name", list_models())
def test_registry_metadata_matches_what_the_model_is(name, tmp_path):
    """``streamable`` and ``nir_exportable`` are declared, not probed: check them here."""
    from spikebench.export.nir import export_nir
    from spikebench.models import model_info
    from spikebench.training.streaming import evaluate_streaming

    info = model_info(name)
    assert info.name == name and info.family in ("snn", "ann", "cnn", "hybrid", "stdp")
    model = create_model(name, n_in=C, n_classes=K, n_steps=T).eval()
    batches = [(_frames(), torch.arange(B) % K)]
    if info.streamable:
        assert evaluate_streaming(model, batches, bin_dt=0.01, latency_streams=1)["n_samples"] == B
    else:
        with pytest.raises(ConfigError):
            evaluate_streaming(model, batches, bin_dt=0.01, latency_streams=1)
    if info.nir_exportable:
        export_nir(model, tmp_path / "m.nir", bin_dt=0.01)
    else:
        with pytest.raises(ConfigError):
            export_nir(model, tmp_path / "m.nir", bin_dt=0.01)
