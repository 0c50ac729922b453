"""Streaming inference: classify online, one time bin at a time, with constant memory.

A spiking model that is a chain of engine layers (``LIF`` / ``AdLIF`` hidden layers, an
``LI`` readout) is run bin by bin: each layer's ``step_sequence(x [1, B, n], state)``
carries its state exactly, so after the last bin the result equals one offline
``forward`` over the whole ``[T, B, C]`` frame (the test checks it). The memory held
between bins is the layers' states (``[B, N]`` tensors) plus a running class score
``[B, K]``: independent of ``T``.

The running score follows the model's class-score rule over the readout membrane
``v [T, B, K]`` (``model.readout``): ``max`` keeps a running maximum, ``mean`` a running
sum (same argmax as the mean), ``last`` the current membrane, ``softmax_mean`` a running
sum of the per-step softmax (same argmax as the log of its mean). The decision after bin
``t`` is the argmax of the running score.

:func:`evaluate_streaming` returns, JSON-ready (the ``"streaming"`` entry of a model in
``results.json``):

* ``fraction`` / ``accuracy``: accuracy when each utterance is decided after that
  fraction of its own duration (from the start of the recording to its last bin holding
  an input spike; an utterance of ``n`` bins is decided after bin ``ceil(f n) - 1``).
* ``time_s`` / ``accuracy_vs_time``: accuracy when every sample is decided ``t`` seconds
  into the recording window (``t = (k + 1) * bin_dt``).
* ``seconds_per_bin``: median wall-clock seconds to process one bin of one stream
  (batch size 1: all layers plus the score update), with its 95th percentile and the
  real-time factor ``seconds_per_bin / bin_dt`` (below 1: faster than real time).
* ``state_bytes_per_stream``: bytes of state kept per stream between bins.

Units: seconds; accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from spikebench.errors import ConfigError

READOUT_RULES = ("max", "mean", "last", "softmax_mean")
DEFAULT_FRACTIONS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(1, 11))
_TRANSPARENT = (nn.Dropout, nn.Identity)


def layer_chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The engine layers of ``model`` in registration order (= forward order for a chain).

    Dropout and Identity are skipped (identity at inference); any other module with
    computation is a :class:`ConfigError`, as is a chain that does not end in an ``LI``
    readout or whose layer sizes do not connect.
    """
    from spikebench.engine import layers as engine

    kinds = (engine.LIF, engine.AdLIF, engine.LI)
    found: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            path = f"{prefix}{name}"
            if isinstance(child, kinds):
                found.append((path, child))
            elif isinstance(child, _TRANSPARENT):
                continue
            elif isinstance(child, (nn.ModuleList, nn.Sequential)) or (
                not any(True for _ in child.parameters(recurse=False)) and list(child.children())
            ):
                walk(f"{path}.", child)
            else:
                raise ConfigError(
                    f"layer {path!r} ({type(child).__name__}) is not a spiking engine layer; "
                    "only chains of LIF/AdLIF layers with an LI readout are supported"
                )

    walk("", model)
    if not found or not isinstance(found[-1][1], engine.LI):
        raise ConfigError(f"{type(model).__name__} is not a spiking model ending in an LI readout")
    if any(isinstance(layer, engine.LI) for _, layer in found[:-1]):
        raise ConfigError("an LI layer is only supported as the final readout")
    for (name_a, a), (name_b, b) in zip(found[:-1], found[1:]):
        if a.n_out != b.n_in:
            raise ConfigError(f"{name_a} has {a.n_out} outputs but {name_b} takes {b.n_in}")
    return found


class StreamingClassifier:
    """Online classifier over a spiking chain model: feed one bin, get the running decision.

    ``step(x_t [B, C]) -> scores [B, K]``; ``reset(batch)`` starts new streams. Holds only
    the layers' states and the running score.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers = [layer for _, layer in layer_chain(model)]
        self.rule = str(getattr(model, "readout", "max"))
        if self.rule not in READOUT_RULES:
            raise ConfigError(
                f"streaming: readout rule {self.rule!r} is unknown; one of {', '.join(READOUT_RULES)}"
            )
        self.states: list[Any] = [None] * len(self.layers)
        self.score: torch.Tensor | None = None

    def reset(self) -> None:
        self.states = [None] * len(self.layers)
        self.score = None

    @torch.no_grad()
    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        h = x_t.unsqueeze(0)  # [1, B, C]
        for k, layer in enumerate(self.layers):
            h, self.states[k] = layer.step_sequence(h, self.states[k])
        v = h[0]  # [B, K] readout membrane after this bin
        if self.rule == "softmax_mean":
            v = torch.softmax(v, dim=-1)
        if self.score is None or self.rule == "last":
            self.score = v.clone()
        elif self.rule == "max":
            torch.maximum(self.score, v, out=self.score)
        else:
            self.score += v
        return self.score

    def state_bytes(self) -> int:
        """Bytes held between bins (layer states and running score)."""
        total = 0 if self.score is None else self.score.numel() * self.score.element_size()
        for state in self.states:
            for t in _tensors(state):
                total += t.numel() * t.element_size()
        return total


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    return []


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def utterance_bins(x: torch.Tensor) -> torch.Tensor:
    """Per sample, the number of bins up to and including its last bin with input (>= 1)."""
    active = (x != 0).any(dim=2)  # [T, B]
    t = x.shape[0]
    last = t - 1 - torch.flip(active, dims=[0]).to(torch.int8).argmax(dim=0)
    return torch.where(active.any(dim=0), last + 1, torch.full_like(last, t))


@torch.no_grad()
def evaluate_streaming(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    bin_dt: float,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    latency_streams: int = 4,
    warmup_bins: int = 10,
    max_batches: int | None = None,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Streaming accuracy against decision time, and per-bin latency (see module doc).

    Args:
        model: a spiking chain model (the spiking stack of :mod:`spikebench.models.spiking` fits).
        batches: ``(x float32 [T, B, C], y int64 [B])`` pairs, normally the test split.
        bin_dt: seconds per time bin.
        fractions: decision points as fractions of each utterance, in (0, 1].
        latency_streams: samples streamed alone (batch size 1) to time the bins.
        warmup_bins: bins of the first timed stream left out of the latency figures.
        max_batches: stop after this many batches (``None``: all).
        device: move each batch there (``None``: leave it where it is).
    """
    if not bin_dt > 0:
        raise ConfigError(f"streaming: bin width must be positive, not {bin_dt}")
    fractions = [float(f) for f in fractions]
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise ConfigError("streaming: fractions must lie in (0, 1]")
    was_training = model.training
    model.eval()
    clf = StreamingClassifier(model)
    correct_t: torch.Tensor | None = None
    correct_f = np.zeros(len(fractions))
    n = 0
    n_steps = None
    state_bytes = None
    first_x: torch.Tensor | None = None
    try:
        for i, (x, y) in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            if device is not None:
                x, y = x.to(device), y.to(device)
            if n_steps is not None and x.shape[0] != n_steps:
                raise ConfigError(f"streaming: batches have {x.shape[0]} and {n_steps} time bins")
            n_steps = x.shape[0]
            if first_x is None:
                first_x = x[:, :latency_streams]
            clf.reset()
            preds = torch.empty(x.shape[0], x.shape[1], dtype=torch.long, device=x.device)
            for t in range(x.shape[0]):
                preds[t] = clf.step(x[t]).argmax(dim=1)
            hit = (preds == y.unsqueeze(0)).to(torch.float64)  # [T, B]
            correct_t = hit.sum(1) if correct_t is None else correct_t + hit.sum(1)
            length = utterance_bins(x)  # [B]
            for k, f in enumerate(fractions):
                at = (torch.ceil(f * length.to(torch.float64)).long() - 1).clamp(min=0)
                correct_f[k] += float(hit.gather(0, at.unsqueeze(0)).sum())
            n += x.shape[1]
        if n == 0 or correct_t is None or first_x is None:
            raise ValueError("evaluate_streaming got no samples")
        latency = _time_bins(clf, first_x, warmup_bins)
        clf.reset()
        clf.step(first_x[0, :1])
        state_bytes = clf.state_bytes()
    finally:
        model.train(was_training)
    acc_t = (correct_t / n).tolist()
    median = float(np.median(latency))
    return {
        "bin_dt": float(bin_dt),
        "n_samples": n,
        "n_steps": n_steps,
        "readout": clf.rule,
        "fraction": fractions,
        "accuracy": [float(c / n) for c in correct_f],
        "time_s": [round((k + 1) * bin_dt, 12) for k in range(len(acc_t))],
        "accuracy_vs_time": acc_t,
        "final_accuracy": acc_t[-1],
        "seconds_per_bin": median,
        "seconds_per_bin_p95": float(np.percentile(latency, 95)),
        "real_time_factor": median / bin_dt,
        "n_bins_timed": int(latency.size),
        "state_bytes_per_stream": state_bytes,
    }


def _time_bins(clf: StreamingClassifier, x: torch.Tensor, warmup_bins: int) -> np.ndarray:
    """Wall-clock seconds of each bin of each stream in ``x [T, S, C]``, one stream at a time."""
    seconds: list[float] = []
    skip = min(warmup_bins, x.shape[0] - 1)
    for s in range(x.shape[1]):
        clf.reset()
        stream = x[:, s : s + 1]  # [T, 1, C]
        for t in range(stream.shape[0]):
            _sync(stream.device)
            start = time.perf_counter()
            clf.step(stream[t])
            _sync(stream.device)
            if s > 0 or t >= skip:
                seconds.append(time.perf_counter() - start)
    return np.asarray(seconds)
