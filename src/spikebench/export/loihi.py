r"""Loihi 2 fixed point: a trained LIF network quantised to the chip's integer formats and run.

The integer model is Intel Lava 0.10.0's, the CPU models that are bit-accurate with the chip
(``lava.proc.dense.models.PyDenseModelBitAcc``, ``lava.proc.lif.models.PyLifModelBitAcc``).
Per layer, with ``trunc(y) = sign(y) (|y| >> 12)`` and integer state ``[B, N]``::

    A_t = sh(Wq s_t, e_w) + sh(bq, e_b) + sh(Rq z_{t-1}, e_r)     sh(y, e) = y << e, or >> -e
    U_t = wrap24(trunc(U_{t-1} (4096 - du - 1)) + 64 A_t)           current, wraps mod 2^24
    V_t = clip(trunc(V_{t-1} (4096 - dv)) + U_t, -(2^23 - 1), 2^23 - 1)
    z_t = V_t > 64 vth ;  V_t = 0 where z_t

Weights are 8-bit (Lava's mixed-sign format: even integers in [-256, 254], i.e. a signed
8-bit mantissa times 2) with one exponent per connection (input, bias, recurrent); the
decays ``du``, ``dv`` are 12-bit; ``vth`` is 17-bit; ``U``, ``V`` are 24-bit. The bias is
an always-on input (Lava's LIF bias adds to ``V``, the engine's to the current).

Mapping from the float engine (:mod:`spikebench.engine.lif`, ``v_leak = v_reset = 0``):
``V = S v``, ``U = S a_mem j``, so ``64 A = S a_mem I``; ``du + 1 = round(4096 a_syn)``,
``dv = round(4096 a_mem)``, ``vth = round(S v_th / 64)``, ``Wq 2^e_w = S a_mem W / 64``.
The scale ``S`` of each layer is the largest that keeps twice the largest ``|v|`` and
``|S a_mem j|`` seen on calibration samples (training split, never test) within 24 bits
and ``vth`` within 17. The readout is the same neuron with the largest threshold (a reset
there is counted as an overflow); its membrane ``V / S`` gives the class scores by the
model's rule. Lava's ``Dense`` delivers one step late; this model leaves that pipeline
delay out (a constant shift of every layer, which ``tests/test_loihi.py`` accounts for).

Hand-written, because lava-nc needs Python 3.10 (this project runs 3.11) and simulates one
sample at a time in separate processes: this runs the same integer arithmetic on a batch
with numpy. ``tests/test_loihi.py`` checks it bit-exactly against Lava's CPU simulator where
Lava is installed, and against a hand-worked trace from Lava's equations everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from spikebench.errors import ConfigError

DECAY_UNITY = 4096  # 12-bit decays: du, dv in [0, 4095]
STATE_MAX = 2**23  # 24-bit signed U and V
VTH_MAX = 2**17 - 1  # 17-bit threshold mantissa, shifted left by 6
WEIGHT_MAX = 254  # 8-bit mixed-sign weights: even integers in [-256, 254]
EXP_RANGE = (-8, 7)  # weight exponents this module uses
HEADROOM = 2.0  # calibrated ranges times this must fit 24 bits
CALIBRATION_SAMPLES = 256  # training samples (evenly spaced over the file) that set the scales


@dataclass(frozen=True)
class FixedLayer:
    """One quantised LIF (or readout) layer; integer weights ``[n_out, n_in]``."""

    name: str
    w: np.ndarray
    w_exp: int
    b: np.ndarray | None
    b_exp: int
    r: np.ndarray | None
    r_exp: int
    du: int
    dv: int
    vth: int
    scale: float  # S: integer membrane units per unit of the float membrane
    readout: bool


@dataclass(frozen=True)
class FloatLayer:
    """A layer's inference constants in float64: weights norm-folded, ``a = dt / tau``."""

    name: str
    w: np.ndarray
    b: np.ndarray | None
    r: np.ndarray | None
    a_syn: float
    a_mem: float
    v_th: float | None  # None: the LI readout


def float_layers(model: nn.Module) -> list[FloatLayer]:
    """The LIF layers and LI readout of ``model``; :class:`ConfigError` if not representable."""
    from spikebench.export.nir import folded_projection, spiking_layers

    out = []
    for name, layer in spiking_layers(model):
        p = layer.p
        if p.v_leak != 0.0 or getattr(p, "v_reset", 0.0) != 0.0:
            raise ConfigError(f"Loihi check: layer {name!r} has a non-zero leak or reset potential; "
                              "Lava's LIF has neither")
        w, b = folded_projection(layer.linear)
        rec = getattr(layer, "recurrent", None)
        r = rec.weight.detach().cpu().double().numpy() if rec is not None else None
        readout = not hasattr(p, "v_th")
        out.append(FloatLayer(name, w, b, r, float(p.a_syn), float(p.a_mem),
                              None if readout else float(p.v_th)))
    return out


def _mantissa(weights: np.ndarray, scale: float) -> tuple[np.ndarray, int]:
    """``weights * scale`` as Lava's 8-bit mixed-sign integers and one exponent."""
    target = weights * scale
    peak = float(np.abs(target).max()) if target.size else 0.0
    exp = EXP_RANGE[0] if peak == 0 else math.ceil(math.log2(peak / WEIGHT_MAX))
    exp = min(max(exp, EXP_RANGE[0]), EXP_RANGE[1])
    q = 2 * np.round(target / 2.0**exp / 2)
    return np.clip(q, -256, WEIGHT_MAX).astype(np.int64), exp


def quantise(layers: list[FloatLayer], ranges: list[tuple[float, float]]) -> list[FixedLayer]:
    """Fixed-point layers from float ones and calibrated ``(max |v|, max |j|)`` per layer."""
    fixed = []
    for layer, (v_max, j_max) in zip(layers, ranges):
        limit = STATE_MAX / HEADROOM
        cap = min(limit / max(v_max, 1e-12), limit / max(layer.a_mem * j_max, 1e-12))
        if layer.v_th is not None:
            vth = max(1, min(VTH_MAX, math.floor(cap * layer.v_th / 64)))
            scale = 64 * vth / layer.v_th
        else:
            vth, scale = VTH_MAX, cap
        to_int = scale * layer.a_mem / 64  # float weight -> integer input A
        w, w_exp = _mantissa(layer.w, to_int)
        b, b_exp = _mantissa(layer.b, to_int) if layer.b is not None else (None, 0)
        r, r_exp = _mantissa(layer.r, to_int) if layer.r is not None else (None, 0)
        fixed.append(FixedLayer(
            name=layer.name, w=w, w_exp=w_exp, b=b, b_exp=b_exp, r=r, r_exp=r_exp,
            du=int(np.clip(round(DECAY_UNITY * layer.a_syn) - 1, 0, DECAY_UNITY - 1)),
            dv=int(np.clip(round(DECAY_UNITY * layer.a_mem), 0, DECAY_UNITY - 1)),
            vth=int(vth), scale=float(scale), readout=layer.v_th is None,
        ))
    return fixed


def _shift(y: np.ndarray, exp: int) -> np.ndarray:
    return np.left_shift(y, exp) if exp > 0 else np.right_shift(y, -exp)


def _decay(y: np.ndarray, keep: int) -> np.ndarray:
    y = y * keep
    return np.sign(y) * np.right_shift(np.abs(y), 12)


def _matmul(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer ``s @ w.T`` through float64 BLAS (sums stay far below 2^53)."""
    return np.rint(s.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)


@dataclass
class FixedRun:
    """Output of :func:`run_fixed`: spikes per hidden layer, readout membrane, overflow counts."""

    spikes: list[np.ndarray]  # each [T, B, N] uint8
    v_out: np.ndarray  # [T, B, K] int64
    current_wraps: int
    voltage_clips: int
    readout_resets: int
    inputs_over_16_bits: int  # |A| beyond Lava's 16-bit input port (its simulator does not saturate)


def run_fixed(layers: list[FixedLayer], x: np.ndarray) -> FixedRun:
    """Step the integer network over integer input counts ``x`` ``[T, B, C]`` (Lava's arithmetic)."""
    if not np.array_equal(x, np.round(x)) or x.min() < 0:
        raise ConfigError("Loihi check: the input must be non-negative spike counts per bin")
    x = x.astype(np.int64)
    n_t, n_b = x.shape[:2]
    u = [np.zeros((n_b, lay.w.shape[0]), np.int64) for lay in layers]
    v = [np.zeros_like(a) for a in u]
    z = [np.zeros_like(a) for a in u]
    spikes = [np.zeros((n_t, n_b, lay.w.shape[0]), np.uint8) for lay in layers[:-1]]
    v_out = np.zeros((n_t, n_b, layers[-1].w.shape[0]), np.int64)
    wraps = clips = resets = wide = 0
    for t in range(n_t):
        s = x[t]
        for i, lay in enumerate(layers):
            a = _shift(_matmul(s, lay.w), lay.w_exp)
            if lay.b is not None:
                a = a + _shift(lay.b, lay.b_exp)
            if lay.r is not None:
                a = a + _shift(_matmul(z[i], lay.r), lay.r_exp)
            wide += int((np.abs(a) > 2**15 - 1).sum())
            cur = _decay(u[i], DECAY_UNITY - lay.du - 1) + np.left_shift(a, 6)
            wrapped = np.where(cur > STATE_MAX, cur - 2 * STATE_MAX, cur)
            wrapped = np.where(wrapped <= -STATE_MAX, cur + 2 * STATE_MAX, wrapped)
            wraps += int((wrapped != cur).sum())
            u[i] = wrapped
            volt = _decay(v[i], DECAY_UNITY - lay.dv) + u[i]
            v[i] = np.clip(volt, -STATE_MAX + 1, STATE_MAX - 1)
            clips += int((v[i] != volt).sum())
            fired = v[i] > (lay.vth << 6)
            v[i] = np.where(fired, 0, v[i])
            if lay.readout:
                resets += int(fired.sum())
                v_out[t] = v[i]
            else:
                z[i] = fired.astype(np.int64)
                spikes[i][t] = fired
                s = z[i]
    return FixedRun(spikes, v_out, wraps, clips, resets, wide)


def run_float(layers: list[FloatLayer], x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, list[tuple[float, float]]]:
    """The engine's equations in float64 numpy: (spikes, readout ``v``, ``(max |v|, max |j|)`` per layer)."""
    n_t, n_b = x.shape[:2]
    state = [(np.zeros((n_b, lay.w.shape[0])),) * 3 for lay in layers]  # (v, i, z)
    spikes = [np.zeros((n_t, n_b, lay.w.shape[0]), np.uint8) for lay in layers[:-1]]
    v_out = np.zeros((n_t, n_b, layers[-1].w.shape[0]))
    ranges = [[0.0, 0.0] for _ in layers]
    for t in range(n_t):
        s = x[t].astype(np.float64)
        for k, lay in enumerate(layers):
            v, i, z = state[k]
            cur = s @ lay.w.T + (lay.b if lay.b is not None else 0.0)
            j = i + cur + (z @ lay.r.T if lay.r is not None else 0.0)
            u = v + lay.a_mem * (-v + j)
            i = j - lay.a_syn * j
            ranges[k] = [max(ranges[k][0], float(np.abs(u).max())), max(ranges[k][1], float(np.abs(j).max()))]
            if lay.v_th is None:
                v_out[t] = u
                state[k] = (u, i, z)
            else:
                z = (u > lay.v_th).astype(np.float64)
                state[k] = (np.where(z > 0, 0.0, u), i, z)
                spikes[k][t] = z
                s = z
    return spikes, v_out, [tuple(r) for r in ranges]


def calibrate(layers: list[FloatLayer], batches: Iterable[np.ndarray]) -> list[tuple[float, float]]:
    """Largest ``|v|`` and ``|j|`` per layer over ``batches`` of frames ``[T, B, C]``."""
    ranges = [(0.0, 0.0)] * len(layers)
    for x in batches:
        _, _, seen = run_float(layers, x)
        ranges = [(max(a[0], b[0]), max(a[1], b[1])) for a, b in zip(ranges, seen)]
    return ranges


def synaptic_events(x: np.ndarray, spikes: list[np.ndarray], layers: list[Any]) -> int:
    """``sum |input| * non-zero fan-out`` over every connection (bias excluded), summed over samples."""
    total = 0
    sources = [x, *spikes]
    for k, lay in enumerate(layers):
        counts = np.abs(sources[k]).reshape(-1, sources[k].shape[-1]).sum(0)  # per input channel
        total += int(counts @ (lay.w != 0).sum(0))
        if lay.r is not None:
            total += int(np.abs(sources[k + 1]).reshape(-1, lay.r.shape[1]).sum(0) @ (lay.r != 0).sum(0))
    return total


def readout_scores(v: np.ndarray, model: nn.Module) -> torch.Tensor:
    """Class scores ``[B, K]`` from a readout membrane ``[T, B, K]`` by ``model``'s rule."""
    from spikebench.models.spiking import class_scores

    scores = class_scores(torch.from_numpy(np.asarray(v, dtype=np.float64)), str(getattr(model, "readout", "max")))
    return scores * float(getattr(model, "readout_scale", 1.0))


def loihi_energy(events_per_sample: float, spikes_per_sample: float, updates_per_sample: float) -> float:
    """Loihi energy per sample (J) with the efficiency table's constants."""
    from spikebench.training.efficiency import estimate_energy

    counts = {"effective_mac": 0, "effective_ac": 0, "synaptic_events": events_per_sample,
              "neuron_updates": updates_per_sample, "active_neuron_updates": spikes_per_sample,
              "spiking": True}
    return float(estimate_energy(counts)["loihi"]["total_j"])


@torch.no_grad()
def loihi_check(model: nn.Module, test: Iterable[Any], calibration: Iterable[Any]) -> dict[str, Any]:
    """Float model vs its Loihi 2 fixed-point version on ``test`` batches ``(x [T, B, C], y [B])``.

    ``calibration`` batches (training samples) set the scales. Returns accuracies, the
    fraction of equal decisions, spikes, synaptic events and Loihi energy per sample for
    both, overflow counts and the quantised formats of each layer.
    """
    model.eval()
    floats = float_layers(model)
    ranges = calibrate(floats, (np.asarray(b[0], dtype=np.float64) for b in calibration))
    fixed = quantise(floats, ranges)
    n = correct_f = correct_q = agree = 0
    spikes_f = spikes_q = events_f = events_q = updates = 0
    overflows = dict.fromkeys(("current_wraps", "voltage_clips", "readout_resets", "inputs_over_16_bits"), 0)
    for x, y in test:
        x_np = np.asarray(x, dtype=np.float64)
        ref = model(x.float())
        pred_f = ref.logits.argmax(1).cpu()
        run = run_fixed(fixed, x_np)
        pred_q = readout_scores(run.v_out / fixed[-1].scale, model).argmax(1)
        y = torch.as_tensor(y)
        n += len(y)
        correct_f += int((pred_f == y).sum())
        correct_q += int((pred_q == y).sum())
        agree += int((pred_f == pred_q).sum())
        float_spikes = [z.cpu().numpy() for z in ref.spikes]
        spikes_f += int(sum(z.sum() for z in float_spikes))
        spikes_q += int(sum(z.sum(dtype=np.int64) for z in run.spikes))
        events_f += synaptic_events(x_np, float_spikes, floats)
        events_q += synaptic_events(x_np, run.spikes, fixed)
        updates += x_np.shape[0] * x_np.shape[1] * sum(lay.w.shape[0] for lay in fixed)
        for key in overflows:
            overflows[key] += getattr(run, key)
    if n == 0:
        raise ConfigError("Loihi check: the test split is empty")

    def side(correct: int, spikes: int, events: int) -> dict[str, float]:
        return {"accuracy": correct / n, "spikes_per_sample": spikes / n,
                "synaptic_events_per_sample": events / n,
                "loihi_energy_j": loihi_energy(events / n, spikes / n, updates / n)}

    return {
        "n_samples": n,
        "float": side(correct_f, spikes_f, events_f),
        "fixed": side(correct_q, spikes_q, events_q),
        "decisions_equal": agree / n,
        "neuron_updates_per_sample": updates / n,
        "overflows": overflows,
        "layers": [{"name": q.name, "weight_exp": q.w_exp, "bias_exp": q.b_exp if q.b is not None else None,
                    "recurrent_exp": q.r_exp if q.r is not None else None, "du": q.du, "dv": q.dv,
                    "vth": None if q.readout else q.vth, "scale": q.scale,
                    "zero_weights": float((q.w == 0).mean())} for q in fixed],
    }
