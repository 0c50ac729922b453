r"""Export a trained spiking model to NIR (Neuromorphic Intermediate Representation).

A NIR graph (package ``nir``) loads in Lava (Loihi 2), SpiNNaker2, Rockpool (Xylo), Spyx,
snnTorch and Norse. :func:`snn_to_nir` maps spikebench's engine layers onto NIR nodes:

* ``LIF`` -> ``Affine`` (its ``linear``; ``Linear`` when it has no bias) then ``CubaLIF``;
  a recurrent ``LIF`` becomes a sub-graph ``{input, lif, w_rec (Linear), output}`` with
  the cycle ``lif -> w_rec -> lif``, the structure snnTorch's importer parses and
  nirtorch executes with the recurrent input delayed by one step (``z[t-1]``), as the
  engine does.
* A batch-normalised projection (:class:`~spikebench.models.spiking.NormLinear`, the ``rsnn``
  and ``sota`` LIF stacks) is folded into that ``Affine``: at inference the norm is the
  fixed per-neuron map ``y -> gamma (y - mean) / sqrt(var + eps) + beta`` over the
  running statistics, so with ``s = gamma / sqrt(var + eps)``: ``W' = diag(s) W`` and
  ``b' = s (b - mean) + beta`` (computed in float64, stored in float32). The export is
  of the inference model whatever the module's train/eval mode. The norm covers only the
  input projection; the recurrent weights ``w_rec`` are exported as they are.
* ``LI`` readout -> ``Affine`` then ``CubaLI`` (the membrane is the output).
* ``Dropout`` / ``Identity`` are dropped (identity at inference). Anything else is an
  error rather than a silently different graph: an adaptive LIF (NIR 1.0 defines no
  neuron with an adaptation current), learned per-synapse delays (``DelayedLinear``;
  NIR's ``Delay`` node delays whole channels), any other projection type, a convolution,
  a ReLU.

Time: NIR's equations are continuous, in seconds. The model runs one engine step per time
bin: a layer with integration step ``dt`` and time constant ``tau`` decays by
``dt / tau`` per bin, so in real time its constant is ``tau * bin_dt / dt`` seconds.
Those real-time constants are written, and a simulator must step with ``dt = bin_dt``
(stored in the graph's metadata). Input spikes are binned counts, one value per bin.

The engine's kernel (:mod:`spikebench.engine.lif`), with ``a_syn = dt/tau_syn``,
``a_mem = dt/tau_mem``: ``j_t = i_{t-1} + I_t``, ``u_t = v_{t-1} + a_mem (v_leak - v_{t-1}
+ j_t)``, ``i_t = (1 - a_syn) j_t``. A forward-Euler step of NIR's
``tau_syn dI/dt = -I + w_in S`` with step ``bin_dt`` gives
``I_t = (1 - a_syn) I_{t-1} + a_syn w_in S_t``: with ``w_in = tau_syn' / bin_dt`` (the
real-time ``tau_syn'``; equal to ``tau_syn / dt``) it equals ``j_t``, and the membrane
equation with ``r = 1`` equals ``u_t``. This is exactly how Norse's ``from_nir`` steps a
``CubaLIF`` (``tests/test_nir.py`` checks identical spikes after a round trip).

How the readout becomes class scores (``max``/``mean``/``softmax_mean`` over time of
the membrane, times a constant ``readout_scale`` when the model has one) is not a NIR
node; it is in the metadata as ``spikebench_readout`` (and ``spikebench_readout_scale``).

The graph is built by walking the model's layers rather than by ``nirtorch``'s tracer:
spikebench's layers loop over time inside ``forward``, which ``torch.fx`` cannot trace.

:func:`load_norse` reads a graph back into Norse (``norse.torch.from_nir``'s node map,
stepped by ``nirtorch``); Norse has no importer for ``CubaLI``, so one is composed from
Norse's ``LIBoxCell`` the way Norse composes its ``CubaLIF`` (synapse, then membrane).
snnTorch's ``import_from_nir`` is not used: it fixes ``dt = 1e-4`` s and requires
``r = tau_mem / dt``, which contradicts real-time constants for 10 ms bins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikebench.errors import ConfigError
from spikebench.fileio import atomic_path
from spikebench.training.streaming import layer_chain


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float32).numpy().copy()


def spiking_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The engine layers of ``model`` in forward order; :class:`ConfigError` if not exportable."""
    from spikebench.engine.layers import LIF

    try:
        chain = layer_chain(model)
    except ConfigError as err:
        raise ConfigError(f"NIR export: {err}") from None
    for name, layer in chain[:-1]:
        if not isinstance(layer, LIF):
            raise ConfigError(
                f"NIR export: layer {name!r} ({type(layer).__name__}) is an adaptive LIF, which "
                "NIR cannot express (it defines no neuron with an adaptation current); only LIF "
                "layers and an LI readout can be exported"
            )
    for name, layer in chain:
        _check_projection(f"{name}.linear", layer.linear)
    return chain


def _check_projection(name: str, linear: nn.Module) -> None:
    from spikebench.models.spiking import NormLinear

    if type(linear) is nn.Linear:
        return
    if type(linear) is NormLinear:
        norm = linear.norm
        if type(norm) is not nn.BatchNorm1d or norm.running_mean is None or norm.running_var is None:
            raise ConfigError(f"NIR export: {name}: the batch norm keeps no running statistics, "
                              "so it has no fixed inference map to fold into the weights")
        return
    what = ("learned per-synapse delays, which NIR cannot express (its Delay node delays whole "
            "channels)" if hasattr(linear, "delay") else "a projection NIR export does not know")
    raise ConfigError(f"NIR export: {name} ({type(linear).__name__}) has {what}; only nn.Linear "
                      "and batch-normalised NormLinear projections can be exported")


def _affine(linear: nn.Linear) -> Any:
    """The projection as a NIR node, a batch norm folded in (module docstring)."""
    import nir

    norm = getattr(linear, "norm", None)
    if norm is None:
        if linear.bias is None:
            return nir.Linear(weight=_np(linear.weight))
        return nir.Affine(weight=_np(linear.weight), bias=_np(linear.bias))
    f64 = dict(dtype=torch.float64)
    w = linear.weight.detach().to(**f64)  # [n_out, n_in]
    b = linear.bias.detach().to(**f64) if linear.bias is not None else torch.zeros(w.shape[0], **f64)
    gamma = norm.weight.detach().to(**f64) if norm.weight is not None else torch.ones_like(b)
    beta = norm.bias.detach().to(**f64) if norm.bias is not None else torch.zeros_like(b)
    scale = gamma / torch.sqrt(norm.running_var.detach().to(**f64) + norm.eps)  # [n_out]
    shift = beta + scale * (b - norm.running_mean.detach().to(**f64))
    return nir.Affine(weight=_np(scale[:, None] * w), bias=_np(shift))


def _real_time(tau: float, p: Any, bin_dt: float) -> float:
    return float(tau) * bin_dt / float(p.dt)


def _cuba_lif(layer: nn.Module, bin_dt: float) -> Any:
    import nir

    p, n = layer.p, layer.n_out
    tau_syn = _real_time(p.tau_syn, p, bin_dt)
    return nir.CubaLIF(
        tau_syn=np.full(n, tau_syn),
        tau_mem=np.full(n, _real_time(p.tau_mem, p, bin_dt)),
        r=np.ones(n),
        v_leak=np.full(n, float(p.v_leak)),
        v_threshold=np.full(n, float(p.v_th)),
        v_reset=np.full(n, float(p.v_reset)),
        w_in=np.full(n, tau_syn / bin_dt),
    )


def _cuba_li(layer: nn.Module, bin_dt: float) -> Any:
    import nir

    p, n = layer.p, layer.n_out
    tau_syn = _real_time(p.tau_syn, p, bin_dt)
    return nir.CubaLI(
        tau_syn=np.full(n, tau_syn),
        tau_mem=np.full(n, _real_time(p.tau_mem, p, bin_dt)),
        r=np.ones(n),
        v_leak=np.full(n, float(p.v_leak)),
        w_in=np.full(n, tau_syn / bin_dt),
    )


def _recurrent_subgraph(layer: nn.Module, bin_dt: float) -> Any:
    import nir

    n = layer.n_out
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "lif": _cuba_lif(layer, bin_dt),
            "w_rec": nir.Linear(weight=_np(layer.recurrent.weight)),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )


def snn_to_nir(model: nn.Module, *, bin_dt: float, metadata: dict[str, Any] | None = None) -> Any:
    """The NIR graph of a spiking ``model`` whose time bins are ``bin_dt`` seconds wide.

    Node names follow the module paths (``hidden.0.linear``, ``hidden.0``, ...,
    ``out.linear``, ``out``); ``input`` and ``output`` are the graph's ends.
    """
    import nir

    if not bin_dt > 0:
        raise ConfigError(f"NIR export: bin width must be positive, not {bin_dt}")
    layers = spiking_layers(model)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([layers[0][1].n_in])})}
    edges: list[tuple[str, str]] = []
    previous = "input"
    for name, layer in layers:
        proj = f"{name}.linear"
        nodes[proj] = _affine(layer.linear)
        if layer is layers[-1][1]:
            nodes[name] = _cuba_li(layer, bin_dt)
        elif getattr(layer, "recurrent", None) is not None:
            nodes[name] = _recurrent_subgraph(layer, bin_dt)
        else:
            nodes[name] = _cuba_lif(layer, bin_dt)
        edges += [(previous, proj), (proj, name)]
        previous = name
    nodes["output"] = nir.Output(output_type={"output": np.array([layers[-1][1].n_out])})
    edges.append((previous, "output"))
    meta = {
        "spikebench_bin_dt": float(bin_dt),
        "spikebench_readout": str(getattr(model, "readout", "max")),
        "spikebench_readout_scale": float(getattr(model, "readout_scale", 1.0)),
        "spikebench_input": "binned spike counts, one value per bin; simulate with dt = bin_dt",
    }
    meta.update(metadata or {})
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def export_nir(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    bin_dt: float,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Write :func:`snn_to_nir` of ``model`` to ``path`` (HDF5, atomically); return the graph."""
    import nir

    graph = snn_to_nir(model, bin_dt=bin_dt, metadata=metadata)
    path = Path(path)
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return graph


def load_norse(graph: Any, *, dt: float) -> nn.Module:
    """A Norse module that steps ``graph`` (a NIR graph or a path) one bin of ``dt`` s per call.

    ``module(x_t [B, C], state) -> (readout membrane [B, K], state)``; start with
    ``state=None``.
    """
    import warnings

    import nir
    import nirtorch
    from norse.torch.utils import import_nir

    if not isinstance(graph, nir.NIRNode):
        graph = nir.read(graph)

    def node_map(node: Any) -> nn.Module | None:
        if isinstance(node, nir.CubaLI):
            return _NorseCubaLI(node, dt)
        return import_nir._import_norse_module(node, dt=dt)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch.load: what from_nir uses
        return nirtorch.load(graph, node_map)


class _NorseCubaLI(nn.Module):
    """NIR ``CubaLI`` in Norse: ``LIBoxCell`` synapse then ``LIBoxCell`` membrane."""

    def __init__(self, node: Any, dt: float) -> None:
        import norse.torch.module.leaky_integrator_box as li_box

        super().__init__()

        def f(a: Any) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a), dtype=torch.float32)

        self.register_buffer("w_in", f(node.w_in))
        self.register_buffer("r", f(node.r))
        self.synapse = li_box.LIBoxCell(
            li_box.LIBoxParameters(tau_mem_inv=1 / f(node.tau_syn), v_leak=torch.zeros_like(f(node.r))), dt=dt
        )
        self.membrane = li_box.LIBoxCell(
            li_box.LIBoxParameters(tau_mem_inv=1 / f(node.tau_mem), v_leak=f(node.v_leak)), dt=dt
        )

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        state = (None, None) if state is None else state
        i, s_syn = self.synapse(self.w_in * x, state[0])
        v, s_mem = self.membrane(self.r * i, state[1])
        return v, (s_syn, s_mem)
