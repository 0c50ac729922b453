"""Efficiency metrics and energy estimates, following NeuroBench's definitions.

:func:`measure_efficiency` runs a model over batches of binned frames ``x`` float32
``[T, B, C]`` (time-major) with forward hooks and returns a JSON-ready dict (the
``"efficiency"`` entry of a model in ``results.json``). Every count is **per sample**
(summed over the ``T`` time bins of one sample, averaged over the samples seen), as
NeuroBench normalises its workload metrics.

The metrics follow NeuroBench 2.x (``neurobench/metrics``); their definitions are in
:func:`measure_efficiency`.

Energy (:func:`estimate_energy`) is a pure function of those counts with the constants of
:data:`ENERGY_TABLE` (each with its source). On 45 nm CMOS the synaptic part is
``MAC * 4.6 pJ + AC * 0.9 pJ`` and each neuron update costs
``CMOS_MAC_PER_NEURON_UPDATE`` MACs (the CUBA kernel's two decays, read off its
equations); on Loihi every synaptic event costs 23.6 pJ and each neuron update
81 pJ (active) or 52 pJ (inactive). The Loihi estimate exists only for spiking models
whose connections all carry spike counts. Both are estimates of arithmetic energy;
memory traffic, which dominates real chips, is not in them.

Why hand-written rather than NeuroBench: NeuroBench hooks only ``nn.Linear``/``nn.Conv``
modules called once per step and snnTorch neurons, records 0.0 when a metric raises and
binarises a copy of each layer per call, while spikebench's layers run a whole sequence
per call. For a linear layer ``sum_{t,b,j,i} [x_i != 0][W_ji != 0] = sum_i count_i *
fan_out_i``, O(T·B·C) instead of a binarised matmul; convolutions use NeuroBench's
binarised convolution. ``tests/test_efficiency_neurobench.py`` checks the counts against
``neurobench``; the speed comparison is in docs/experiments.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spikebench.errors import ConfigError

log = logging.getLogger(__name__)

PJ = 1e-12

#: Per-operation energies (joules) and their sources.
ENERGY_TABLE: dict[str, dict[str, Any]] = {
    "cmos45nm": {
        "mac_j": 4.6 * PJ,
        "ac_j": 0.9 * PJ,
        "source": (
            "M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
            "ISSCC 2014: 45 nm, fp32 add 0.9 pJ, fp32 multiply 3.7 pJ (MAC = 4.6 pJ)"
        ),
    },
    "loihi": {
        "synop_j": 23.6 * PJ,
        "neuron_update_active_j": 81.0 * PJ,
        "neuron_update_inactive_j": 52.0 * PJ,
        "source": (
            "M. Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip "
            "learning', IEEE Micro 38(1), 2018, Table 1: synaptic spike operation 23.6 pJ "
            "(minimum), neuron update 81 pJ active / 52 pJ inactive"
        ),
    },
}

#: MACs a CUBA neuron update costs on a CPU-like 45 nm datapath: the membrane step
#: ``v += a_m (v_leak - v + i)`` and the current decay ``i *= 1 - a_s``.
CMOS_MAC_PER_NEURON_UPDATE = 2

_CONNECTIONS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ACTIVATIONS = (nn.ReLU, nn.Sigmoid)
#: Modules with parameters that hold no synapses (NeuroBench ignores them as well).
_NOT_SYNAPTIC = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def _engine_classes() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(spiking layer classes, non-spiking stateful layer classes) of the engine."""
    from spikebench.engine.layers import LI, LIF, AdLIF

    return (LIF, AdLIF), (LI,)


@dataclass
class _Counts:
    """Running totals of one layer (over all samples seen)."""

    name: str
    kind: str
    mac: float = 0.0
    ac: float = 0.0
    dense: float = 0.0
    events: float | None = 0.0
    neuron_updates: float = 0.0
    active_updates: float = 0.0
    act_nonzero: float = 0.0
    act_total: float = 0.0
    calls: int = 0
    spiking: bool = False

    def add_ops(self, effective: float, dense: float, spiking: bool, events: float | None) -> None:
        if spiking:
            self.ac += effective
        else:
            self.mac += effective
        self.dense += dense
        if events is None or self.events is None:
            self.events = None
        else:
            self.events += events


def _is_spike_valued(x: torch.Tensor) -> bool:
    """NeuroBench's test for accumulate-only input: every value is 0 or ±1."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


def _is_integer_valued(x: torch.Tensor) -> bool:
    return bool((x == torch.round(x)).all())


def _fan_out(weight: torch.Tensor) -> torch.Tensor:
    """Non-zero weights leaving each input, float64 ``[n_in]``."""
    return torch.count_nonzero(weight.detach(), dim=0).to(torch.float64)


def _linear_ops(
    x: torch.Tensor, fan_out: torch.Tensor, n_out: int, events: bool
) -> tuple[float, float, float | None]:
    """Effective ops, dense ops and spike events of ``x [..., n_in] @ weight.T``."""
    n_in = fan_out.shape[0]
    flat = x.detach().reshape(-1, n_in)
    nonzero = torch.count_nonzero(flat, dim=0).to(torch.float64)  # [n_in]
    effective = float(nonzero @ fan_out)
    dense = float(flat.shape[0]) * n_in * n_out
    delivered = None
    if events and _is_integer_valued(flat):
        delivered = float(flat.abs().sum(dim=0).to(torch.float64) @ fan_out)
    return effective, dense, delivered


def _first_tensor(inputs: tuple[Any, ...]) -> torch.Tensor:
    x = inputs[0]
    while isinstance(x, (tuple, list)):
        x = x[0]
    return x


def _output_tensor(output: Any) -> torch.Tensor:
    while isinstance(output, (tuple, list)):
        output = output[0]
    return output


class _Recorder:
    """Registers the counting hooks on a model and keeps the totals."""

    def __init__(self, model: nn.Module) -> None:
        spiking_cls, readout_cls = _engine_classes()
        # Spike deliveries only matter for the neuromorphic estimate of spiking models.
        self.events = any(isinstance(m, spiking_cls) for m in model.modules())
        self._fan_out: dict[int, torch.Tensor] = {}
        self._dense: dict[tuple[int, tuple[int, ...]], float] = {}
        self.layers: list[_Counts] = []
        self.handles: list[torch.utils.hooks.RemovableHandle] = []
        inside_engine: set[int] = set()
        for name, module in model.named_modules():
            if id(module) in inside_engine:
                continue
            label = name or type(module).__name__
            if isinstance(module, spiking_cls + readout_cls):
                inside_engine.update(id(m) for m in module.modules() if m is not module)
                spiking = isinstance(module, spiking_cls)
                counts = _Counts(label, type(module).__name__, spiking=spiking)
                self._hook(module, counts, self._engine_hook(counts, spiking))
            elif isinstance(module, _CONNECTIONS):
                counts = _Counts(label, type(module).__name__)
                self._hook(module, counts, self._connection_hook(counts))
            elif isinstance(module, _ACTIVATIONS):
                counts = _Counts(label, type(module).__name__)
                self._hook(module, counts, self._activation_hook(counts))
            elif (
                not isinstance(module, _NOT_SYNAPTIC)
                and any(True for _ in module.parameters(recurse=False))
            ):
                self.remove()
                raise ConfigError(
                    f"efficiency: layer {label!r} ({type(module).__name__}) has weights that "
                    "spikebench cannot count synaptic operations for"
                )

    def _hook(self, module: nn.Module, counts: _Counts, fn: Any) -> None:
        self.layers.append(counts)
        self.handles.append(module.register_forward_hook(fn))

    def fan_out(self, weight: torch.Tensor) -> torch.Tensor:
        """Cached per weight tensor: weights do not change during a measurement."""
        key = id(weight)
        if key not in self._fan_out:
            self._fan_out[key] = _fan_out(weight)
        return self._fan_out[key]

    def linear_ops(self, x: torch.Tensor, linear: nn.Linear) -> tuple[float, float, float | None]:
        return _linear_ops(x, self.fan_out(linear.weight), linear.out_features, self.events)

    def conv_ops(self, module: nn.Module, x: torch.Tensor) -> tuple[float, float, float | None]:
        """NeuroBench's rule for convolutions: the binarised conv of the binarised input."""
        x = x.detach()
        w = module.weight.detach()
        wb = (w != 0).to(w.dtype)
        effective = float(module._conv_forward((x != 0).to(w.dtype), wb, None).sum())
        key = (id(module), tuple(x.shape))
        if key not in self._dense:  # all pairs, zeros included (padding is not an input)
            ones = torch.ones_like(x, dtype=w.dtype)
            self._dense[key] = float(module._conv_forward(ones, torch.ones_like(w), None).sum())
        events = None
        if self.events and _is_integer_valued(x):
            events = float(module._conv_forward(x.abs().to(w.dtype), wb, None).sum())
        return effective, self._dense[key], events

    def _engine_hook(self, counts: _Counts, spiking: bool) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            x = _first_tensor(inputs)  # [T, B, n_in]
            out = _output_tensor(output)  # [T, B, n_out]: spikes, or the LI membrane
            counts.calls += 1
            eff, dense, events = self.linear_ops(x, module.linear)
            counts.add_ops(eff, dense, _is_spike_valued(x), events)
            updates = float(out.numel())
            counts.neuron_updates += updates
            if spiking:
                active = float((out != 0).sum())
                counts.active_updates += active
                counts.act_nonzero += active
                counts.act_total += updates
                rec = getattr(module, "recurrent", None)
                if isinstance(rec, nn.Linear):
                    # z[t] feeds step t + 1; the initial state is all zeros.
                    eff_r, _, ev_r = self.linear_ops(out[:-1], rec)
                    dense_r = float(out.shape[0] * out.shape[1]) * rec.weight.numel()
                    counts.add_ops(eff_r, dense_r, True, ev_r)

        return hook

    def _connection_hook(self, counts: _Counts) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            x = _first_tensor(inputs)
            counts.calls += 1
            if isinstance(module, nn.Linear):
                eff, dense, events = self.linear_ops(x, module)
            else:
                eff, dense, events = self.conv_ops(module, x)
            counts.add_ops(eff, dense, _is_spike_valued(x), events)

        return hook

    @staticmethod
    def _activation_hook(counts: _Counts) -> Any:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            out = _output_tensor(output)
            counts.calls += 1
            counts.act_nonzero += float((out != 0).sum())
            counts.act_total += float(out.numel())

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def static_metrics(model: nn.Module) -> dict[str, Any]:
    """Parameter count, footprint (bytes) and connection sparsity of ``model``."""
    params = sum(p.numel() for p in model.parameters())
    footprint = sum(p.numel() * p.element_size() for p in model.parameters())
    footprint += sum(b.numel() * b.element_size() for b in model.buffers())
    zeros = 0
    weights = 0
    for module in model.modules():
        if isinstance(module, _CONNECTIONS):
            zeros += int((module.weight == 0).sum())
            weights += module.weight.numel()
    return {
        "params": int(params),
        "footprint_bytes": int(footprint),
        "connection_sparsity": zeros / weights if weights else None,
    }


def _frames(batch: Any) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    raise TypeError("batches must yield frames [T, B, C] or (frames, labels) pairs")


@torch.no_grad()
def measure_efficiency(
    model: nn.Module,
    batches: Iterable[Any],
    *,
    bin_dt: float | None = None,
    max_batches: int | None = None,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Efficiency metrics of ``model`` over ``batches`` (per sample), with energy estimates.

    Definitions (NeuroBench 2.x, ``neurobench/metrics``):

    * ``params``: number of parameters (all of them, as NeuroBench's ``ParameterCount``);
      ``footprint_bytes``: bytes of parameters plus buffers (``Footprint``).
    * ``connection_sparsity``: zero weights over all weights of the connection layers
      (``nn.Linear``, ``nn.Conv1d/2d/3d``; biases excluded) (``ConnectionSparsity``).
    * ``activation_sparsity``: zero outputs over all outputs of the activation layers:
      spiking neurons (fraction of neuron-steps without a spike) and ``nn.ReLU`` /
      ``nn.Sigmoid`` modules (``ActivationSparsity``). ``None`` when the model has none.
    * ``synops``: effective synaptic operations, one per (non-zero input, non-zero weight)
      pair, bias excluded (``SynapticOperations``). A layer call whose input only holds 0 and
      ±1 (spikes) counts as accumulates (``effective_ac``), any other input as
      multiply-accumulates (``effective_mac``); ``dense`` counts every pair, zeros included,
      for contrast. Binned SHD counts (a bin may hold 2 spikes) therefore make the first
      layer MACs unless the frames are binary.
    * ``synaptic_events``: spikes delivered over synapses, ``sum |x_i| * fan_out_i`` (an input
      count of 3 is three spikes); this, not MACs, is what a neuromorphic chip pays for.
      ``None`` when some connection sees non-integer (graded) inputs, and for models without
      spiking neurons (it only feeds the neuromorphic estimate).
    * ``neuron_updates``: neuron state updates of the stateful neurons (LIF, adaptive LIF,
      leaky-integrator readout), one per neuron per time step (a clock-driven simulation);
      ``active`` are those in which the neuron spikes (our reading of Loihi's
      "active neuron update"), ``inactive`` the rest. NeuroBench's ``MembraneUpdates``
      counts only steps where the membrane changes, which a leaky neuron does at nearly
      every step; it needs snnTorch neurons, so we count steps instead. ``None`` for models
      without stateful neurons (ANN, CNN).

    ``model`` maps ``x [T, B, C]`` to a ``ModelOutput``; ``batches`` yields ``x`` or
    ``(x, y)`` (normally the test split); ``bin_dt`` (s per bin) adds ``firing_rate_hz``;
    ``max_batches`` caps the batches; ``device`` moves each batch there. Returns a JSON-ready
    dict of the counts above plus ``n_samples``, ``spikes_per_sample``, ``layers`` (the
    counts per layer), ``energy`` (:func:`estimate_energy`, joules per sample) and
    ``constants`` (:func:`energy_constants`, with their sources).
    """
    recorder = _Recorder(model)
    was_training = model.training
    model.eval()
    n_samples = 0
    n_steps = None
    try:
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            x = _frames(batch)
            if device is not None:
                x = x.to(device)
            model(x)
            n_samples += x.shape[1]
            n_steps = x.shape[0]
    finally:
        recorder.remove()
        model.train(was_training)
    if n_samples == 0:
        raise ValueError("measure_efficiency got no samples")

    layers = []
    for c in recorder.layers:
        if c.calls == 0 and c.kind not in {t.__name__ for t in _ACTIVATIONS}:
            log.warning("efficiency: layer %s was never called in the forward pass", c.name)
        entry: dict[str, Any] = {"name": c.name, "kind": c.kind}
        if c.dense:
            entry.update(
                effective_mac=c.mac / n_samples,
                effective_ac=c.ac / n_samples,
                dense=c.dense / n_samples,
                synaptic_events=None if c.events is None else c.events / n_samples,
            )
        if c.neuron_updates:
            entry.update(
                neuron_updates=c.neuron_updates / n_samples,
                active_neuron_updates=c.active_updates / n_samples,
            )
        if c.act_total:
            entry["activation_sparsity"] = 1.0 - c.act_nonzero / c.act_total
        layers.append(entry)

    connections = [c for c in recorder.layers if c.dense]
    mac = sum(c.mac for c in connections) / n_samples
    ac = sum(c.ac for c in connections) / n_samples
    dense = sum(c.dense for c in connections) / n_samples
    events = None
    if all(c.events is not None for c in connections):
        events = sum(c.events for c in connections) / n_samples  # type: ignore[misc]
    updates = sum(c.neuron_updates for c in recorder.layers) / n_samples
    active = sum(c.active_updates for c in recorder.layers) / n_samples
    act_total = sum(c.act_total for c in recorder.layers)
    act_nonzero = sum(c.act_nonzero for c in recorder.layers)
    spiking = [c for c in recorder.layers if c.spiking]
    spike_total = sum(c.active_updates for c in spiking) / n_samples
    neuron_steps = sum(c.neuron_updates for c in spiking) / n_samples
    rate = None
    if bin_dt is not None and neuron_steps:
        rate = spike_total / (neuron_steps * bin_dt)

    counts = {
        "effective_mac": mac,
        "effective_ac": ac,
        "synaptic_events": events,
        "neuron_updates": updates,
        "active_neuron_updates": active,
        "spiking": bool(spiking),
    }
    return {
        "n_samples": n_samples,
        "n_steps": n_steps,
        **static_metrics(model),
        "activation_sparsity": 1.0 - act_nonzero / act_total if act_total else None,
        "synops": {
            "effective_mac": mac,
            "effective_ac": ac,
            "effective_total": mac + ac,
            "dense": dense,
            "synaptic_events": events,
        },
        "neuron_updates": (
            {"total": updates, "active": active, "inactive": updates - active}
            if any(c.neuron_updates for c in recorder.layers) else None  # stateless units only
        ),
        "spikes_per_sample": spike_total if spiking else None,
        "firing_rate_hz": rate,
        "layers": layers,
        "energy": estimate_energy(counts),
        "constants": energy_constants(),
    }


def energy_constants(table: dict[str, dict[str, Any]] = ENERGY_TABLE) -> dict[str, dict[str, Any]]:
    """The per-operation energies behind :func:`estimate_energy`, in pJ, each with its source."""
    cmos, loihi = table["cmos45nm"], table["loihi"]

    def pj(value: float, source: str) -> dict[str, Any]:
        return {"value": value / PJ, "unit": "pJ", "source": source}

    return {
        "cmos45nm_mac": pj(cmos["mac_j"], cmos["source"]),
        "cmos45nm_ac": pj(cmos["ac_j"], cmos["source"]),
        "cmos45nm_neuron_update": {
            "value": CMOS_MAC_PER_NEURON_UPDATE, "unit": "MAC",
            "source": "spikebench: CUBA kernel's membrane step and current decay",
        },
        "loihi_synaptic_op": pj(loihi["synop_j"], loihi["source"]),
        "loihi_neuron_update_active": pj(loihi["neuron_update_active_j"], loihi["source"]),
        "loihi_neuron_update_inactive": pj(loihi["neuron_update_inactive_j"], loihi["source"]),
    }


def estimate_energy(counts: dict[str, Any], table: dict[str, dict[str, Any]] = ENERGY_TABLE) -> dict[str, Any]:
    """Energy per sample (joules) from per-sample operation counts.

    ``counts`` holds ``effective_mac``, ``effective_ac``, ``synaptic_events`` (or
    ``None``), ``neuron_updates``, ``active_neuron_updates`` and ``spiking`` (whether the
    model has spiking neurons). Pure: the same counts always give the same energies.
    """
    cmos = table["cmos45nm"]
    loihi = table["loihi"]
    synaptic = counts["effective_mac"] * cmos["mac_j"] + counts["effective_ac"] * cmos["ac_j"]
    neuron = counts["neuron_updates"] * CMOS_MAC_PER_NEURON_UPDATE * cmos["mac_j"]
    result: dict[str, Any] = {
        "cmos45nm": {
            "synaptic_j": synaptic,
            "neuron_j": neuron,
            "total_j": synaptic + neuron,
            "source": cmos["source"],
        },
        "loihi": None,
    }
    if counts["spiking"] and counts["synaptic_events"] is not None:
        active = counts["active_neuron_updates"]
        inactive = counts["neuron_updates"] - active
        syn = counts["synaptic_events"] * loihi["synop_j"]
        neu = active * loihi["neuron_update_active_j"] + inactive * loihi["neuron_update_inactive_j"]
        result["loihi"] = {
            "synaptic_j": syn,
            "neuron_j": neu,
            "total_j": syn + neu,
            "source": loihi["source"],
        }
    return result
