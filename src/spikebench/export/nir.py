r"""Export a trained spiking model to NIR (Neuromorphic Intermediate Representation).

:func:`snn_to_nir` walks the model's engine layers (``torch.fx`` cannot trace their time
loops): ``LIF`` -> ``Affine`` (``Linear`` without bias) then ``CubaLIF``; a recurrent
``LIF`` -> a sub-graph ``{input, lif, w_rec, output}`` with the cycle ``lif -> w_rec ->
lif`` (executed with ``z[t-1]``, as the engine does); the ``LI`` readout -> ``Affine`` then
``CubaLI``. A batch norm (``NormLinear``, the ``rsnn``/``sota`` stacks) is folded into the
``Affine`` with its running statistics: ``s = gamma / sqrt(var + eps)``, ``W' = diag(s) W``,
``b' = s (b - mean) + beta``. Dropout is dropped; an adaptive LIF (NIR has no adaptation
current), learned per-synapse delays (NIR's ``Delay`` delays whole channels) and any other
layer are a :class:`ConfigError`, never a silently different graph.

Time: the engine takes one step per bin with ``a = dt / tau`` (:mod:`spikebench.engine.lif`:
``j_t = i_{t-1} + I_t``, ``u_t = v_{t-1} + a_mem (v_leak - v_{t-1} + j_t)``, ``i_t =
(1 - a_syn) j_t``). A forward-Euler step ``h`` of NIR's ``tau_syn dI/dt = -I + w_in S``
gives ``I_t = (1 - h/tau_syn) I_{t-1} + (h/tau_syn) w_in S_t``, so constants
``tau' = h / a`` and ``w_in = tau_syn' / h`` reproduce the engine exactly when a
simulator steps ``h`` per bin. ``target`` chooses ``h`` and the conventions:

* ``generic``: ``h`` = the bin width (real-time constants), ``r = 1``: faithful NIR.
* ``norse``: ``h = 1e-3`` (``from_nir``'s default ``dt``); the readout is a ``CubaLIF``
  with threshold ``+inf`` (Norse maps no ``CubaLI`` and silently drops it).
* ``snntorch``: ``h = 1e-4`` (``import_from_nir`` fixes it), ``r = tau_mem' / h`` (it
  asserts that) with the weights times ``a_mem``, so its membrane equals the engine's;
  the readout as for Norse; recurrent sub-graphs named ``<layer>.recurrent`` (nirtorch
  2.6 fails on a sub-graph whose name sorts before its input's).

Both importer targets need ``v_leak = v_reset = 0``. The class-score rule (max/mean of the
readout membrane, ``readout_scale``) is no NIR node: it is in the metadata. Why each
change, the importer bugs and their reproductions: ``docs/deploy.md``.
:func:`run_in_consumer` runs a target graph in its library as a user would;
:func:`load_norse` steps a generic graph in Norse (with a ``CubaLI`` made of Norse cells).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikebench.errors import ConfigError
from spikebench.export import TARGETS
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


def folded_projection(linear: nn.Linear) -> tuple[np.ndarray, np.ndarray | None]:
    """Inference weight ``[n_out, n_in]`` and bias ``[n_out]`` (or ``None``), float64, norm folded.

    A batch-normalised projection gives ``W' = diag(s) W``, ``b' = s (b - mean) + beta``
    with ``s = gamma / sqrt(var + eps)`` (module docstring).
    """
    f64 = dict(dtype=torch.float64)
    w = linear.weight.detach().cpu().to(**f64)  # [n_out, n_in]
    b = linear.bias.detach().cpu().to(**f64) if linear.bias is not None else None
    norm = getattr(linear, "norm", None)
    if norm is None:
        return w.numpy(), None if b is None else b.numpy()
    b = b if b is not None else torch.zeros(w.shape[0], **f64)
    gamma = norm.weight.detach().cpu().to(**f64) if norm.weight is not None else torch.ones_like(b)
    beta = norm.bias.detach().cpu().to(**f64) if norm.bias is not None else torch.zeros_like(b)
    scale = gamma / torch.sqrt(norm.running_var.detach().cpu().to(**f64) + norm.eps)  # [n_out]
    shift = beta + scale * (b - norm.running_mean.detach().cpu().to(**f64))
    return (scale[:, None] * w).numpy(), shift.numpy()


def _affine(linear: nn.Linear) -> Any:
    """The projection as a NIR node, a batch norm folded in (:func:`folded_projection`)."""
    import nir

    w, b = folded_projection(linear)
    if b is None:
        return nir.Linear(weight=w.astype(np.float32))
    return nir.Affine(weight=w.astype(np.float32), bias=b.astype(np.float32))


#: The simulation step (seconds per time bin) each target's graph is written for; ``None``:
#: the bin width. snnTorch 1.0.0's ``import_from_nir`` fixes ``dt = 1e-4``; Norse 1.1.0's
#: ``from_nir`` defaults to ``dt = 1e-3``.
TARGET_DT: dict[str, float | None] = {"generic": None, "snntorch": 1e-4, "norse": 1e-3}


def check_target(target: str) -> str:
    """``target`` if it is one of :data:`TARGETS`, else :class:`ConfigError`."""
    if target not in TARGETS:
        raise ConfigError(f"NIR export: unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return target


def _vec(n: int, value: float) -> np.ndarray:
    return np.full(n, float(value))


def _cuba(layer: nn.Module, step: float, target: str, *, readout: bool) -> Any:
    """``CubaLIF`` (``CubaLI`` for a generic readout) of a layer stepped every ``step`` s.

    One engine step per bin decays by ``a = dt / tau``, so the constant for a simulator
    stepping ``step`` seconds per bin is ``step / a``, and ``w_in = tau_syn' / step`` makes
    the synapse's forward-Euler input term ``a_syn w_in I = I`` (module docstring). The
    snnTorch target also sets ``r = tau_mem' / step`` (its importer requires it); the
    ``a_mem`` this removes from the membrane step moves into the weights
    (:func:`_weight_scale`). A readout for an importer without ``CubaLI`` is a
    ``CubaLIF`` whose threshold (``+inf``) is never reached: its membrane is the readout.
    """
    import nir

    p, n = layer.p, layer.n_out
    tau_syn, tau_mem = step / p.a_syn, step / p.a_mem
    r = tau_mem / step if target == "snntorch" else 1.0
    common = dict(tau_syn=_vec(n, tau_syn), tau_mem=_vec(n, tau_mem), r=_vec(n, r),
                  v_leak=_vec(n, p.v_leak), w_in=_vec(n, tau_syn / step))
    if readout and target == "generic":
        return nir.CubaLI(**common)
    v_th, v_reset = (np.inf, 0.0) if readout else (p.v_th, p.v_reset)
    return nir.CubaLIF(v_threshold=_vec(n, v_th), v_reset=_vec(n, v_reset), **common)


def _weight_scale(layer: nn.Module, target: str) -> float:
    """Factor on a layer's weights and bias: ``a_mem`` for snnTorch (see :func:`_cuba`)."""
    return float(layer.p.a_mem) if target == "snntorch" else 1.0


def _check_for_target(name: str, layer: nn.Module, target: str) -> None:
    """Importer limits the target cannot work around: a one-line :class:`ConfigError`."""
    if target == "generic":
        return
    p = layer.p
    if p.v_leak != 0.0:
        raise ConfigError(
            f"NIR export: layer {name!r} has v_leak = {p.v_leak:g}; the {target} target needs 0 "
            + ("(snnTorch's importer refuses a leak potential)" if target == "snntorch" else
               "(Norse's importer gives the synapse the membrane's leak potential too)")
            + "; use --target generic")
    if getattr(p, "v_reset", 0.0) != 0.0:
        raise ConfigError(
            f"NIR export: layer {name!r} has v_reset = {p.v_reset:g}; the {target} target needs 0 "
            f"(its importer resets to 0 whatever the graph says); use --target generic")


def _recurrent_subgraph(layer: nn.Module, step: float, target: str) -> Any:
    import nir

    n = layer.n_out
    w_rec = _np(layer.recurrent.weight) * np.float32(_weight_scale(layer, target))
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "lif": _cuba(layer, step, target, readout=False),
            "w_rec": nir.Linear(weight=w_rec),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )


def _scaled(node: Any, factor: float) -> Any:
    import nir

    if factor == 1.0:
        return node
    f = np.float32(factor)
    if isinstance(node, nir.Affine):
        return nir.Affine(weight=node.weight * f, bias=node.bias * f)
    return nir.Linear(weight=node.weight * f)


def snn_to_nir(model: nn.Module, *, bin_dt: float, target: str = "generic",
               metadata: dict[str, Any] | None = None) -> Any:
    """The NIR graph of a spiking ``model`` whose time bins are ``bin_dt`` seconds wide.

    ``target`` is one of :data:`TARGETS`. Node names follow the module paths
    (``hidden.0.linear``, ``hidden.0``, ..., ``out.linear``, ``out``); ``input`` and
    ``output`` are the graph's ends.
    """
    import nir

    check_target(target)
    if not bin_dt > 0:
        raise ConfigError(f"NIR export: bin width must be positive, not {bin_dt}")
    layers = spiking_layers(model)
    for name, layer in layers:
        _check_for_target(name, layer, target)
    step = TARGET_DT[target] or float(bin_dt)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([layers[0][1].n_in])})}
    edges: list[tuple[str, str]] = []
    previous = "input"
    for name, layer in layers:
        proj = f"{name}.linear"
        nodes[proj] = _scaled(_affine(layer.linear), _weight_scale(layer, target))
        if layer is layers[-1][1]:
            nodes[name] = _cuba(layer, step, target, readout=True)
        elif getattr(layer, "recurrent", None) is not None:
            if target == "snntorch":
                # nirtorch 2.6 (snnTorch's executor) builds a sub-graph twice, and fails, when it
                # meets it before its input; nir.read gives nodes in name order, so the
                # sub-graph's name must sort after its projection's
                name = f"{name}.recurrent"
            nodes[name] = _recurrent_subgraph(layer, step, target)
        else:
            nodes[name] = _cuba(layer, step, target, readout=False)
        edges += [(previous, proj), (proj, name)]
        previous = name
    nodes["output"] = nir.Output(output_type={"output": np.array([layers[-1][1].n_out])})
    edges.append((previous, "output"))
    meta = {
        "spikebench_target": target,
        "spikebench_step_dt": float(step),
        "spikebench_bin_dt": float(bin_dt),
        "spikebench_readout": str(getattr(model, "readout", "max")),
        "spikebench_readout_scale": float(getattr(model, "readout_scale", 1.0)),
        "spikebench_readout_node": layers[-1][0],
        "spikebench_input": (f"binned spike counts, one value per {bin_dt:g} s bin; "
                             f"simulate one step of dt = {step:g} s per bin"),
    }
    meta.update(metadata or {})
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def export_nir(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    bin_dt: float,
    target: str = "generic",
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Write :func:`snn_to_nir` of ``model`` to ``path`` (HDF5, atomically); return the graph."""
    import nir

    graph = snn_to_nir(model, bin_dt=bin_dt, target=target, metadata=metadata)
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


@torch.no_grad()
def run_in_consumer(graph: Any, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Run a ``snntorch`` or ``norse`` target graph (or its path) in that library, as a user would.

    ``x`` float32 ``[T, B, C]``, one bin per step. Returns the spikes of each LIF layer
    (``[T, B, N]``, in graph order) and the readout membrane ``[T, B, K]``, read from the
    readout node's state after each step: snnTorch 1.0.0's ``import_from_nir`` then a
    loop of ``out, state = net(x[t], state)`` reading ``net.<readout>.mem``; Norse 1.1.0's
    ``from_nir(graph)`` (its default ``dt``) then the same loop reading the readout's
    membrane from ``state.state[<readout>][0][1].v``. The same loops are in ``docs/deploy.md``.
    """
    import nir

    if not isinstance(graph, nir.NIRNode):
        graph = nir.read(graph)
    target = str(graph.metadata.get("spikebench_target", "generic"))
    readout = str(graph.metadata["spikebench_readout_node"])
    spikes: dict[str, list[torch.Tensor]] = {}
    membrane: list[torch.Tensor] = []
    if target == "snntorch":
        import contextlib
        import io

        import snntorch
        from snntorch.import_nir import import_from_nir

        with contextlib.redirect_stdout(io.StringIO()):  # the importer prints progress
            net = import_from_nir(graph)
        out = net.get_submodule(readout.replace(".", "_"))
        for name, module in net.named_modules():
            if isinstance(module, snntorch.Synaptic) and module is not out:
                module.register_forward_hook(
                    lambda m, i, o, name=name: spikes.setdefault(name, []).append(o.clone()))
        state = None
        for t in range(x.shape[0]):
            _, state = net(x[t], state)
            membrane.append(out.mem.clone())
    elif target == "norse":
        import warnings

        import norse.torch
        from norse.torch.utils import import_nir

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # from_nir uses nirtorch.load
            net = norse.torch.from_nir(graph)
        for name, module in net.named_modules():
            if isinstance(module, import_nir.CubaLIF) and name not in (readout, readout.replace(".", "_")):
                module.register_forward_hook(
                    lambda m, i, o, name=name: spikes.setdefault(name, []).append(o[0]))
        state = None
        for t in range(x.shape[0]):
            _, state = net(x[t], state)
            membrane.append(state.state[readout][0][1].v)
    else:
        raise ConfigError(f"run_in_consumer: the graph's target is {target!r}; "
                          "only snntorch and norse graphs run unchanged in a library")
    return [torch.stack(z) for z in spikes.values()], torch.stack(membrane)
