"""Training library: whole-split accuracy, NaN loss, lr schedules, checkpoints, timing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikebench.errors import TrainingError
from spikebench.models import create_model
from spikebench.training.checkpoint import load_checkpoint, save_checkpoint
from spikebench.training.loop import constant_lr, cosine_lr, evaluate, train_one_epoch
from spikebench.training.metrics import count_params, time_inference
from spikebench.training.seeding import get_rng_state, make_generator, seed_everything, set_rng_state


class _Fixed(torch.nn.Module):
    """Predicts a fixed class per sample: logits carried in the input's first step."""

    def forward(self, x):
        from spikebench.models import ModelOutput

        return ModelOutput(x[0], ())


def _batches(preds, labels, sizes, k):
    out, start = [], 0
    for n in sizes:
        x = torch.nn.functional.one_hot(torch.tensor(preds[start:start + n]), k).float()[None]
        out.append((x, torch.tensor(labels[start:start + n])))
        start += n
    return out


def test_evaluate_counts_over_the_whole_split_not_per_batch():
    # batch 1: 1 sample, correct; batch 2: 3 samples, 0 correct -> 1/4, not mean(1, 0) = 0.5
    preds, labels = [0, 1, 1, 1], [0, 2, 2, 0]
    res = evaluate(_Fixed(), _batches(preds, labels, [1, 3], 3), 3)
    assert res.n_samples == 4 and res.n_correct == 1 and res.accuracy == 0.25
    expected = np.zeros((3, 3), int)
    for p, y in zip(preds, labels):
        expected[y, p] += 1
    np.testing.assert_array_equal(res.confusion, expected)


def test_nan_loss_stops_training_with_a_clear_message():
    torch.manual_seed(0)
    model = create_model("ann", n_in=4, n_classes=3, n_steps=2)
    opt = torch.optim.Adam(model.parameters())
    x = torch.zeros(2, 5, 4)
    x[1, 2, 3] = float("nan")
    with pytest.raises(TrainingError, match="loss became nan at batch 0.*learning rate"):
        train_one_epoch(model, [(x, torch.zeros(5, dtype=torch.int64))], opt)


def test_train_one_epoch_reports_sample_weighted_loss():
    torch.manual_seed(0)
    model = create_model("ann", n_in=4, n_classes=3, n_steps=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # no update: losses are fixed
    g = torch.Generator().manual_seed(1)
    batches = [(torch.rand(2, n, 4, generator=g), torch.randint(0, 3, (n,), generator=g))
               for n in (5, 1)]
    stats = train_one_epoch(model, batches, opt)
    model.eval()
    with torch.no_grad():
        losses = [torch.nn.functional.cross_entropy(model(x).logits, y, reduction="sum")
                  for x, y in batches]
    assert stats.n_samples == 6
    assert stats.loss == pytest.approx(float(sum(losses)) / 6, rel=1e-5)


def test_lr_schedules_are_pure_functions():
    assert [constant_lr(e, base_lr=0.1, epochs=3) for e in range(3)] == [0.1] * 3
    lrs = [cosine_lr(e, base_lr=0.1, epochs=4) for e in range(5)]
    assert lrs[0] == pytest.approx(0.1) and lrs[2] == pytest.approx(0.05) and lrs[4] == pytest.approx(0.0)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_rng_state_round_trip_reproduces_every_generator(tmp_path):
    import random

    seed_everything(3)
    gen = make_generator(3)
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {}, "optimizer": {}, "rng": get_rng_state(gen), "epoch": 1,
                           "history": {}, "config": {}})
    first = (random.random(), np.random.rand(), torch.rand(1).item(),
             torch.randperm(10, generator=gen).tolist())
    set_rng_state(load_checkpoint(path)["rng"], gen)
    again = (random.random(), np.random.rand(), torch.rand(1).item(),
             torch.randperm(10, generator=gen).tolist())
    assert first == again


def test_bad_checkpoints_are_training_errors(tmp_path):
    with pytest.raises(TrainingError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="junk.pt: not a readable"):
        load_checkpoint(junk)
    partial = tmp_path / "partial.pt"
    torch.save({"model": {}}, partial)
    with pytest.raises(TrainingError, match="lacks 'optimizer'"):
        load_checkpoint(partial)


class _Frames:
    def __init__(self, n):
        self.n, self.requested = n, []

    def __len__(self):
        return self.n

    def frames(self, indices):
        self.requested.append(list(np.asarray(indices)))
        return torch.zeros(3, len(indices), 4)


def test_time_inference_uses_full_fixed_batches_after_warmup():
    model = create_model("ann", n_in=4, n_classes=2, n_steps=3)
    split = _Frames(10)
    t = time_inference(model, split, batch_size=4, warmup_batches=2, latency_samples=3)
    assert t.batch_size == 4 and t.n_batches_timed == 2 and t.warmup_batches == 2
    batch_sizes = [len(r) for r in split.requested]
    assert batch_sizes == [4, 4, 4, 4] + [1] * 3  # 2 warm-up + 2 timed (no partial batch)
    assert t.seconds_per_batch > 0 and t.latency_seconds_per_sample > 0
    small = time_inference(model, _Frames(3), batch_size=8, warmup_batches=1, latency_samples=2)
    assert small.batch_size == 3 and small.n_batches_timed == 1


def test_count_params():
    model = create_model("ann", n_in=4, n_classes=3, n_steps=2, hidden=5)
    assert count_params(model) == (8 * 5 + 5) + (5 * 3 + 3)


class _Logits(torch.nn.Module):
    """Logits carried in the input's first step, plus a zero parameter for the optimiser."""

    def __init__(self):
        super().__init__()
        self.zero = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        from spikebench.models import ModelOutput

        return ModelOutput(x[0] + self.zero, ())


def test_epoch_loss_bookkeeping_matches_a_hand_computed_example():
    # Batch 1: two samples with zero logits over 3 classes: each loss ln 3, batch mean ln 3.
    # Batch 2: one sample, logits (ln 2, 0, 0), label 0: loss ln(2 + 1 + 1) - ln 2 = ln 2.
    # Study form (sum of batch means) = ln 3 + ln 2 = ln 6 over 2 batches;
    # per batch ln 6 / 2; per sample (2 ln 3 + ln 2) / 3 = ln 18 / 3.
    model = _Logits()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    b1 = (torch.zeros(1, 2, 3), torch.tensor([0, 1]))
    b2 = (torch.tensor([[[np.log(2.0), 0.0, 0.0]]], dtype=torch.float32), torch.tensor([0]))
    stats = train_one_epoch(model, [b1, b2], opt)
    assert stats.n_batches == 2 and stats.n_samples == 3
    assert stats.loss_batch_sum == pytest.approx(np.log(6.0), rel=1e-6)
    assert stats.loss_per_batch == pytest.approx(np.log(6.0) / 2, rel=1e-6)
    assert stats.loss == pytest.approx(np.log(18.0) / 3, rel=1e-6)


def test_chance_level_epoch_sum_reproduces_the_studys_first_epoch_loss():
    # SHD's 8,156 training samples at batch 32 are ceil(8156 / 32) = 255 batches; a model at
    # chance over 20 classes has loss ln 20 per batch, so the study's sum form is 255 ln 20.
    model = _Logits()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    n, bs = 8156, 32
    batches = [(torch.zeros(1, min(bs, n - s), 20), torch.zeros(min(bs, n - s), dtype=torch.int64))
               for s in range(0, n, bs)]
    stats = train_one_epoch(model, batches, opt)
    assert stats.n_batches == 255
    assert round(stats.loss_batch_sum, 1) == 763.9
