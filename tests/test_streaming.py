"""Streaming inference against brute force: the offline model run on every prefix."""

from __future__ import annotations

import json
import math

import pytest
import torch

from spikebench.errors import ConfigError
from spikebench.models.registry import create_model
from spikebench.training.streaming import StreamingClassifier, evaluate_streaming, utterance_bins


def _frames(t: int, b: int, c: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(t, b, c, generator=g) < 0.2).float()
    # utterances of different lengths: silence after a per-sample end bin
    ends = torch.randint(t // 3, t + 1, (b,), generator=g)
    x[torch.arange(t).unsqueeze(1) >= ends.unsqueeze(0)] = 0.0
    return x


def _snn(readout: str, recurrent: bool, seed: int = 0, t: int = 30):
    torch.manual_seed(seed)
    return create_model("snn", n_in=12, n_classes=4, n_steps=t, hidden=16, n_layers=2,
                        recurrent=recurrent, readout=readout, v_th=0.3, tau_mem=2e-3).eval()


@pytest.mark.parametrize("readout", ["max", "mean", "last", "softmax_mean"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_running_score_equals_offline_model_on_every_prefix(readout, recurrent) -> None:
    x = _frames(30, 5, 12, seed=1)
    model = _snn(readout, recurrent)
    clf = StreamingClassifier(model)
    with torch.no_grad():
        for t in range(x.shape[0]):
            score = clf.step(x[t]).clone()
            if t in (0, 7, 18, 29):
                offline = model(x[: t + 1]).logits
                if readout == "softmax_mean":  # running sum of softmax = (t + 1) exp(log-mean)
                    offline = offline.exp()
                scale = (t + 1) if readout in ("mean", "softmax_mean") else 1
                torch.testing.assert_close(score, offline * scale, rtol=1e-5, atol=1e-5)


def _brute_force(model, x, y, fractions):
    """Accuracy per decision bin and per utterance fraction, from offline prefix runs."""
    with torch.no_grad():
        preds = torch.stack([model(x[: t + 1]).logits.argmax(1) for t in range(x.shape[0])])
    hit = (preds == y).float()
    length = utterance_bins(x)
    by_fraction = []
    for f in fractions:
        at = [max(math.ceil(f * int(n)) - 1, 0) for n in length]
        by_fraction.append(sum(float(hit[a, b]) for b, a in enumerate(at)) / x.shape[1])
    return hit.mean(1).tolist(), by_fraction


def test_evaluate_streaming_matches_brute_force() -> None:
    model = _snn("max", recurrent=True)
    x = _frames(30, 24, 12, seed=3)
    with torch.no_grad():
        y = model(x).logits.argmax(1)  # labels the model gets right at the end ...
    y[::3] = (y[::3] + 1) % 4  # ... except every third
    fractions = (0.25, 0.5, 0.75, 1.0)
    res = evaluate_streaming(model, [(x[:, :10], y[:10]), (x[:, 10:], y[10:])], bin_dt=0.01,
                             fractions=fractions, latency_streams=2, warmup_bins=3)
    by_time, by_fraction = _brute_force(model, x, y, fractions)
    assert res["n_samples"] == 24 and res["n_steps"] == 30
    assert res["accuracy_vs_time"] == pytest.approx(by_time)
    assert res["accuracy"] == pytest.approx(by_fraction)
    assert res["fraction"] == list(fractions)
    assert res["final_accuracy"] == pytest.approx(float((model(x).logits.argmax(1) == y).float().mean()))
    assert res["time_s"][0] == pytest.approx(0.01) and res["time_s"][-1] == pytest.approx(0.3)
    assert len(set(by_time)) > 1, "the check needs an accuracy that changes over time"
    assert res["seconds_per_bin"] > 0 and res["n_bins_timed"] == 2 * 30 - 3
    assert res["real_time_factor"] == pytest.approx(res["seconds_per_bin"] / 0.01)
    json.dumps(res)


def test_memory_is_constant_in_the_number_of_bins() -> None:
    model = _snn("max", recurrent=True)
    sizes = []
    for t in (5, 60):
        x = _frames(t, 3, 12, seed=t)
        res = evaluate_streaming(model, [(x, torch.zeros(3, dtype=torch.long))], bin_dt=0.01,
                                 latency_streams=1)
        sizes.append(res["state_bytes_per_stream"])
    assert sizes[0] == sizes[1] > 0
    clf = StreamingClassifier(model)
    x = _frames(40, 2, 12, seed=9)
    clf.step(x[0])
    first = clf.state_bytes()
    for t in range(1, 40):
        clf.step(x[t])
    assert clf.state_bytes() == first


def test_utterance_bins() -> None:
    x = torch.zeros(6, 3, 2)
    x[0, 0, 1] = 1
    x[4, 1, 0] = 2
    assert utterance_bins(x).tolist() == [1, 5, 6]  # silent sample: the whole window


def test_streaming_on_binned_split(tiny_shd) -> None:
    from spikebench.data.binning import BinSpec, bin_events
    from spikebench.data.shd import read_shd

    split = bin_events(read_shd(tiny_shd["test"]), BinSpec(dt=0.02, t_max=1.0))
    torch.manual_seed(0)
    model = create_model("snn", n_in=split.n_channels, n_classes=20, n_steps=split.n_steps,
                         hidden=16, v_th=0.3).eval()
    res = evaluate_streaming(model, split.batches(50), bin_dt=0.02, max_batches=1,
                             latency_streams=1)
    assert res["n_samples"] == 50 and res["n_steps"] == split.n_steps
    assert len(res["accuracy"]) == 10 and all(0 <= a <= 1 for a in res["accuracy"])


@pytest.mark.parametrize("name", ["ann", "cnn"])
def test_non_spiking_models_are_refused(name) -> None:
    model = create_model(name, n_in=12, n_classes=4, n_steps=10)
    with pytest.raises(ConfigError):
        evaluate_streaming(model, [], bin_dt=0.01)


def test_bad_options_are_errors() -> None:
    model = _snn("max", recurrent=False)
    with pytest.raises(ConfigError, match="fractions"):
        evaluate_streaming(model, [], bin_dt=0.01, fractions=(0.0, 0.5))
    with pytest.raises(ConfigError, match="bin width"):
        evaluate_streaming(model, [], bin_dt=0.0)


class AdaptiveChain(torch.nn.Module):
    """AdLIF hidden layer (with dropout, identity at inference) and LI readout, mean score."""

    readout = "mean"

    def __init__(self) -> None:
        super().__init__()
        from spikebench.engine.layers import LI, AdLIF

        self.body = torch.nn.Sequential(AdLIF(12, 10, recurrent=True), torch.nn.Dropout(0.2))
        self.out = LI(10, 4)

    def forward(self, x):
        from spikebench.models.base import ModelOutput

        z = self.body(x)
        return ModelOutput(self.out(z).mean(0), (z,))


def test_adaptive_lif_chain_streams_like_its_forward() -> None:
    torch.manual_seed(4)
    model = AdaptiveChain().eval()
    with torch.no_grad():
        for p in model.body[0].linear.parameters():
            p.mul_(4)  # enough drive to spike
    x = _frames(25, 3, 12, seed=5)
    clf = StreamingClassifier(model)
    with torch.no_grad():
        for t in range(x.shape[0]):
            score = clf.step(x[t])
        out = model(x)
    assert float(out.spikes[0].sum()) > 0
    torch.testing.assert_close(score / x.shape[0], out.logits, rtol=1e-5, atol=1e-5)
