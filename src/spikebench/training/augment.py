"""Training-time augmentations of binned spike frames ``[T, B, C]`` (time-major counts).

Applied by the runner to training batches only (validation and test are never
augmented), one independent draw per sample from the global torch RNG, which the
checkpoints save and restore, so a resumed run repeats the same draws. An experiment
sets them per model as a table, e.g. ``augment = {time_shift = 5, channel_shift = 3,
event_drop = 0.1}``; all are off by default (each, with its source: :class:`Augment`).

Mixup and cutmix run after the per-sample augmentations and turn the labels into class
probabilities ``[B, K]`` (float32; rows sum to 1), which the training loop's
cross-entropy takes as soft targets (``lam CE(y) + (1 - lam) CE(y[perm])``, the papers'
loss); so :func:`augment_batches` needs ``n_classes`` for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any

import torch

from spikebench.errors import ConfigError


@dataclass(frozen=True)
class Augment:
    """The augmentation settings of one model; all zero: none.

    ``time_shift`` (int, bins)
        shift every sample by a random whole number of bins in ``[-n, n]`` (zeros shifted
        in, events shifted past either end dropped): the onset of an utterance carries no
        label information. Event-data practice (tonic's ``TimeJitter``/``TimeSkew`` move
        events in time; this is the whole-sample version).
    ``channel_shift`` (int, channels after pooling)
        shift every sample along the (tonotopic) channel axis by a random amount in
        ``[-n, n]``, like a small change of pitch: the "random shift" augmentation of
        Nowotny, Turner & Knight 2022 (EventProp on SHD, "loss shaping"; +-40 of 700
        channels there, so about +-8 after pooling by 5).
    ``event_drop`` (float, probability)
        drop each event independently with this probability (binomial thinning of the
        counts): EventDrop, Gu et al. 2021 (IJCAI); tonic ``DropEvent``.
    ``noise`` (float, events per bin per channel)
        add Poisson background events at this mean rate: robustness to spurious spikes,
        as in tonic's ``UniformNoise``.
    ``mixup`` (float, Beta concentration; 0: off)
        mixup (Zhang, Cisse, Dauphin & Lopez-Paz 2018, ICLR, "mixup: Beyond empirical risk
        minimization"): the batch is blended with a shuffled copy of itself,
        ``x' = lam x + (1 - lam) x[perm]``, one ``lam ~ Beta(mixup, mixup)`` per batch (as in
        the paper and timm's ``Mixup``), and the labels the same way. Frames then hold
        fractional counts.
    ``cutmix`` (float, Beta concentration; 0: off)
        CutMix (Yun et al. 2019, ICCV) along time, the axis an utterance's content runs
        along (the 1-D analogue of the paper's box): a window of ``round((1 - lam) T)``
        bins at a random start is pasted from the shuffled copy, ``lam ~ Beta(cutmix,
        cutmix)``, and the labels are mixed by the fraction of bins actually kept. With both
        ``mixup`` and ``cutmix`` set, each batch uses one of them, chosen with probability
        1/2 (timm's ``switch_prob``).
    """

    time_shift: int = 0
    channel_shift: int = 0
    event_drop: float = 0.0
    noise: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    @property
    def mixes(self) -> bool:
        return bool(self.mixup or self.cutmix)


def parse_augment(table: dict[str, Any], where: str = "augment") -> Augment:
    """Validate an ``augment`` table into :class:`Augment`; ConfigError naming the bad key."""
    valid = {f.name: f.type for f in fields(Augment)}
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown augmentation {', '.join(unknown)}; "
                          f"valid: {', '.join(valid)}")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
        if key in ("time_shift", "channel_shift"):
            if int(value) != value or value < 0:
                raise ConfigError(f"{where}.{key}: expected a whole number >= 0, got {value!r}")
            value = int(value)
        elif key == "event_drop" and not 0.0 <= value < 1.0:
            raise ConfigError(f"{where}.event_drop: a probability in [0, 1), got {value!r}")
        elif key in ("noise", "mixup", "cutmix") and value < 0:
            raise ConfigError(f"{where}.{key}: expected a number >= 0, got {value!r}")
        out[key] = value
    return Augment(**out)


def _shift(x: torch.Tensor, shifts: torch.Tensor, dim: int) -> torch.Tensor:
    """Shift each sample ``b`` of ``x [T, B, C]`` by ``shifts[b]`` along ``dim`` (0 or 2), zero-filled."""
    n = x.shape[dim]
    src = torch.arange(n, device=x.device).unsqueeze(1) - shifts.unsqueeze(0)  # [n, B]
    valid = (src >= 0) & (src < n)
    src = src.clamp(0, n - 1)
    if dim == 0:
        index = src.unsqueeze(2).expand_as(x)
        return x.gather(0, index) * valid.unsqueeze(2)
    index = src.t().unsqueeze(0).expand_as(x)  # [1, B, C] -> [T, B, C]
    return x.gather(2, index) * valid.t().unsqueeze(0)


def augment_frames(x: torch.Tensor, aug: Augment) -> torch.Tensor:
    """A randomly augmented copy of frames ``x [T, B, C]`` (counts), per sample."""
    b = x.shape[1]
    if aug.time_shift:
        s = torch.randint(-aug.time_shift, aug.time_shift + 1, (b,)).to(x.device)
        x = _shift(x, s, 0)
    if aug.channel_shift:
        s = torch.randint(-aug.channel_shift, aug.channel_shift + 1, (b,)).to(x.device)
        x = _shift(x, s, 2)
    if aug.event_drop:
        keep = torch.full_like(x, 1.0 - aug.event_drop)
        x = torch.binomial(x, keep)
    if aug.noise:
        x = x + torch.poisson(torch.full_like(x, aug.noise))
    return x


def mix_batch(x: torch.Tensor, y: torch.Tensor, aug: Augment,
              n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or cutmix of frames ``x [T, B, C]`` with labels ``y`` (int64 ``[B]``).

    Returns the mixed frames and soft targets float32 ``[B, n_classes]`` (module docstring).
    """
    use_cutmix = bool(aug.cutmix) and (not aug.mixup or bool(torch.rand(()) < 0.5))
    conc = aug.cutmix if use_cutmix else aug.mixup
    lam = float(torch.distributions.Beta(conc, conc).sample())
    perm = torch.randperm(x.shape[1]).to(x.device)
    if use_cutmix:
        t = x.shape[0]
        width = round((1.0 - lam) * t)
        start = int(torch.randint(0, t - width + 1, ()))
        x = x.clone()
        x[start:start + width] = x[start:start + width, perm]
        lam = 1.0 - width / t
    else:
        x = lam * x + (1.0 - lam) * x[:, perm]
    onehot = torch.nn.functional.one_hot(y, n_classes).to(torch.float32)
    return x, lam * onehot + (1.0 - lam) * onehot[perm]


def augment_batches(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], aug: Augment, *,
                    n_classes: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``batches`` with :func:`augment_frames` applied to each ``x``; with mixup or cutmix
    also :func:`mix_batch`, whose soft targets ``[B, n_classes]`` replace the labels."""
    if aug.mixes and n_classes is None:
        raise ValueError("mixup/cutmix need n_classes for their soft targets")
    for x, y in batches:
        if aug.active:
            x = augment_frames(x, aug)
        if aug.mixes:
            x, y = mix_batch(x, y, aug, n_classes)
        yield x, y
