"""Mixup and cutmix on frames ``[T, B, C]``: the frames are the stated blend of a sample and
its shuffled partner, the soft targets carry the same weights, and the training loop's
cross-entropy on them equals the papers' mixed loss."""

from __future__ import annotations

import pytest
import torch

from spikebench.errors import ConfigError
from spikebench.training.augment import Augment, augment_batches, mix_batch, parse_augment
from spikebench.training.loop import train_one_epoch


def _batch(b=6, t=20, c=4):
    return torch.rand(t, b, c), torch.arange(b) % 3


def test_mixup_soft_targets_follow_the_frames():
    torch.manual_seed(1)
    b, k = 8, 8
    x = torch.eye(b).unsqueeze(0).repeat(5, 1, 1)  # sample i: channel i on, [T, B, C=B]
    y = torch.arange(b)
    xm, ym = mix_batch(x, y, Augment(mixup=1.0), n_classes=k)
    # with one class (and one channel) per sample, the frame of sample i is its soft target
    torch.testing.assert_close(xm[0], ym)
    torch.testing.assert_close(xm[3], ym)
    assert int((ym > 0).sum(1).max()) <= 2  # itself and one partner
    own = ym.diagonal()
    mixed = own < 1  # samples paired with another one (lam < 1)
    assert bool(mixed.any())
    torch.testing.assert_close(own[mixed], own[mixed][:1].expand(int(mixed.sum())))  # one lam


def test_cutmix_pastes_one_time_window_and_weighs_targets_by_its_length():
    torch.manual_seed(2)
    b, t, k = 8, 40, 8
    x = torch.eye(b).unsqueeze(0).repeat(t, 1, 1)
    y = torch.arange(b)
    for _ in range(5):
        xm, ym = mix_batch(x, y, Augment(cutmix=1.0), n_classes=k)
        changed = (xm != x).any(2).any(1)  # [T]: bins taken from the partner
        width = int(changed.sum())
        if width:
            idx = changed.nonzero().flatten()
            assert int(idx[-1] - idx[0]) + 1 == width  # one contiguous window
        # each sample's target: its own class for the kept bins, the partner's for the window
        torch.testing.assert_close(ym, xm.mean(0))
        assert torch.equal(xm, xm.round())  # whole counts are kept


def test_both_set_uses_each_of_them():
    torch.manual_seed(3)
    x = torch.eye(8).unsqueeze(0).repeat(30, 1, 1)
    y = torch.arange(8)
    kinds = set()
    for _ in range(20):
        xm, _ = mix_batch(x, y, Augment(mixup=1.0, cutmix=1.0), n_classes=8)
        kinds.add("cutmix" if torch.equal(xm, xm.round()) else "mixup")
    assert kinds == {"mixup", "cutmix"}


def test_soft_target_loss_is_the_mixed_loss_in_the_training_loop():
    torch.manual_seed(4)
    k = 5
    model = _Mean(3, k)
    x, y = torch.rand(7, 6, 3), torch.randint(0, k, (6,))
    lam, perm = 0.3, torch.randperm(6)
    soft = lam * torch.nn.functional.one_hot(y, k) + (1 - lam) * torch.nn.functional.one_hot(y[perm], k)
    logits = model(x).logits
    ce = torch.nn.functional.cross_entropy
    expected = lam * ce(logits, y) + (1 - lam) * ce(logits, y[perm])
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    stats = train_one_epoch(model, [(x, soft.float())], opt)
    assert stats.loss == pytest.approx(expected.item(), rel=1e-5)
    assert stats.accuracy == pytest.approx(float((logits.argmax(1) == soft.argmax(1)).float().mean()))


class _Mean(torch.nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.lin = torch.nn.Linear(c, k)

    def forward(self, x):
        from spikebench.models.base import ModelOutput

        return ModelOutput(self.lin(x.mean(0)), ())


def test_augment_batches_turns_labels_into_soft_targets_only_when_mixing():
    torch.manual_seed(5)
    x, y = _batch()
    (xa, ya), = augment_batches([(x, y)], Augment(time_shift=1))
    assert ya is y
    (xb, yb), = augment_batches([(x, y)], Augment(mixup=0.2), n_classes=3)
    assert yb.shape == (6, 3) and yb.dtype == torch.float32
    with pytest.raises(ValueError, match="n_classes"):
        next(augment_batches([(x, y)], Augment(cutmix=0.2)))


def test_mix_options_are_validated():
    assert parse_augment({"mixup": 0.2, "cutmix": 1}) == Augment(mixup=0.2, cutmix=1)
    for bad in ({"mixup": -0.1}, {"cutmix": "yes"}, {"mix_up": 0.2}):
        with pytest.raises(ConfigError):
            parse_augment(bad)
