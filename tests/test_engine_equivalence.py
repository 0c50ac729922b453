"""The fused engine computes exactly Norse's model: spikes, membranes and gradients (float64).

Every implementation of the scans (PyTorch, numba, Triton through its interpreter) is
checked. The references are Norse's own modules (``LIFCell``, ``LIFRecurrentCell``, ``LICell``)
stepped in a Python loop with identical parameters and the ``norse-superspike``
surrogate (what norse 1.1.0's SuperSpike computes).
"""

from __future__ import annotations

import pytest
import torch
from norse.torch.functional.leaky_integrator import LIParameters, LIState
from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters
from norse.torch.functional.lif import LIFState as NorseLIFState
from norse.torch.module.leaky_integrator import LICell
from norse.torch.module.lif import LIFCell, LIFRecurrentCell

from spikebench.engine import _native, _triton
from spikebench.engine.layers import LI, LIF
from spikebench.engine.li import LIParams, li_initial_state, li_scan
from spikebench.engine.lif import LIFParams, lif_initial_state, lif_scan

F64 = torch.float64
TOL = dict(rtol=1e-6, atol=1e-6)
IMPLS = (["torch"] + (["numba"] if _native.numba_available() else [])
         + (["triton"] if _triton.triton_available() else []))


@pytest.fixture(autouse=True)
def _triton_interpreter(request, monkeypatch):
    """The Triton kernels run on these CPU tensors through Triton's interpreter."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("impl") == "triton":
        monkeypatch.setenv("TRITON_INTERPRET", "1")

# Non-default constants, so that a parameter mixed up or ignored shows.
LIF_KW = dict(tau_syn=4e-3, tau_mem=8e-3, v_th=0.8, v_reset=-0.1, v_leak=0.05, dt=1e-3)


def _norse_lif_params(method="super"):
    t = lambda v: torch.tensor(v, dtype=F64)  # noqa: E731
    return LIFParameters(
        tau_syn_inv=t(1 / LIF_KW["tau_syn"]), tau_mem_inv=t(1 / LIF_KW["tau_mem"]),
        v_leak=t(LIF_KW["v_leak"]), v_th=t(LIF_KW["v_th"]), v_reset=t(LIF_KW["v_reset"]),
        method=method, alpha=t(100.0),
    )


def _inputs(T=60, B=5, C=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, C, generator=g) < 0.3).to(F64)
    w = torch.randn(9, C, generator=g, dtype=F64) * 1.5 + 0.4
    b = torch.randn(9, generator=g, dtype=F64) * 0.2
    rec = torch.randn(9, 9, generator=g, dtype=F64) * 0.8
    probe_z = torch.randn(T, B, 9, generator=g, dtype=F64)  # random loss weights
    probe_v = torch.randn(T, B, 9, generator=g, dtype=F64)
    return x, w, b, rec, probe_z, probe_v


def _grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("impl", IMPLS)
def test_lif_matches_norse_lifcell(impl):
    x, w, b, _, pz, pv = _inputs()
    ours_w, ours_b = w.clone().requires_grad_(), b.clone().requires_grad_()
    p = LIFParams(**LIF_KW, surrogate="norse-superspike")
    current = torch.nn.functional.linear(x, ours_w, ours_b)
    z, v, _ = lif_scan(current, lif_initial_state(5, 9, p, dtype=F64), p, engine=impl, membrane=True)
    loss = (z * pz).sum() + (v * pv).sum()
    g_ours = _grads(loss, [ours_w, ours_b])

    ref_w, ref_b = w.clone().requires_grad_(), b.clone().requires_grad_()
    cell = LIFCell(_norse_lif_params(), dt=LIF_KW["dt"])
    s = LIFFeedForwardState(v=torch.full((5, 9), LIF_KW["v_leak"], dtype=F64), i=torch.zeros(5, 9, dtype=F64))
    zs, vs = [], []
    for t in range(x.shape[0]):
        zt, s = cell(torch.nn.functional.linear(x[t], ref_w, ref_b), s)
        zs.append(zt)
        vs.append(s.v)
    z_ref, v_ref = torch.stack(zs), torch.stack(vs)
    loss_ref = (z_ref * pz).sum() + (v_ref * pv).sum()
    g_ref = _grads(loss_ref, [ref_w, ref_b])

    assert 0.02 < z_ref.mean() < 0.6, "the test input must make the neurons spike, not saturate"
    assert torch.equal(z, z_ref)
    torch.testing.assert_close(v, v_ref, **TOL)
    for go, gr in zip(g_ours, g_ref):
        assert gr.abs().max() > 1e-3
        torch.testing.assert_close(go, gr, **TOL)


@pytest.mark.parametrize("impl", IMPLS)
def test_recurrent_lif_matches_norse_lifrecurrentcell(impl):
    x, w, _, rec, pz, pv = _inputs(seed=1)
    ours = [w.clone().requires_grad_(), rec.clone().requires_grad_()]
    p = LIFParams(**LIF_KW, surrogate="norse-superspike", detach_reset=True)
    current = torch.nn.functional.linear(x, ours[0])
    z, v, _ = lif_scan(current, lif_initial_state(5, 9, p, dtype=F64), p, ours[1], engine=impl, membrane=True)
    g_ours = _grads((z * pz).sum() + (v * pv).sum(), ours)

    ref = [w.clone().requires_grad_(), rec.clone().requires_grad_()]
    cell = LIFRecurrentCell(
        12, 9, _norse_lif_params(), input_weights=ref[0], recurrent_weights=ref[1],
        autapses=True, dt=LIF_KW["dt"],
    )
    s = NorseLIFState(
        z=torch.zeros(5, 9, dtype=F64), v=torch.full((5, 9), LIF_KW["v_leak"], dtype=F64),
        i=torch.zeros(5, 9, dtype=F64),
    )
    zs, vs = [], []
    for t in range(x.shape[0]):
        zt, s = cell(x[t], s)
        zs.append(zt)
        vs.append(s.v)
    z_ref, v_ref = torch.stack(zs), torch.stack(vs)
    g_ref = _grads((z_ref * pz).sum() + (v_ref * pv).sum(), ref)

    assert 0.02 < z_ref.mean() < 0.6
    assert torch.equal(z, z_ref)
    torch.testing.assert_close(v, v_ref, **TOL)
    for go, gr in zip(g_ours, g_ref):
        assert gr.abs().max() > 1e-3
        torch.testing.assert_close(go, gr, **TOL)


@pytest.mark.parametrize("impl", IMPLS)
def test_li_matches_norse_licell(impl):
    x, w, b, _, _, pv = _inputs(seed=2)
    ours = [w.clone().requires_grad_(), b.clone().requires_grad_()]
    p = LIParams(tau_syn=4e-3, tau_mem=8e-3, v_leak=0.05, dt=1e-3)
    v, _ = li_scan(torch.nn.functional.linear(x, *ours), li_initial_state(5, 9, p, dtype=F64), p, engine=impl)
    g_ours = _grads((v * pv).sum(), ours)

    ref = [w.clone().requires_grad_(), b.clone().requires_grad_()]
    t64 = lambda val: torch.tensor(val, dtype=F64)  # noqa: E731
    cell = LICell(LIParameters(tau_syn_inv=t64(1 / 4e-3), tau_mem_inv=t64(1 / 8e-3), v_leak=t64(0.05)), dt=1e-3)
    s = LIState(v=torch.full((5, 9), 0.05, dtype=F64), i=torch.zeros(5, 9, dtype=F64))
    vs = []
    for t in range(x.shape[0]):
        vt, s = cell(torch.nn.functional.linear(x[t], *ref), s)
        vs.append(vt)
    v_ref = torch.stack(vs)
    g_ref = _grads((v_ref * pv).sum(), ref)

    torch.testing.assert_close(v, v_ref, **TOL)
    for go, gr in zip(g_ours, g_ref):
        torch.testing.assert_close(go, gr, **TOL)


@pytest.mark.parametrize("recurrent", [False, True])
def test_layer_backends_agree(recurrent):
    """Layer level: the "torch", "fused" and "norse" engines give one model (bias included)."""
    x, *_ = _inputs(T=40, seed=3)
    torch.manual_seed(0)
    kw = dict(recurrent=recurrent, surrogate="norse-superspike", **LIF_KW)
    layers = {be: LIF(12, 9, engine=be, **kw).to(F64) for be in ("torch", "fused", "norse")}
    readouts = {be: LI(9, 4, engine=be).to(F64) for be in layers}
    for be in layers:
        with torch.no_grad():
            layers[be].linear.weight.copy_(torch.linspace(-1.5, 2, 12 * 9, dtype=F64).reshape(9, 12))
            layers[be].linear.bias.fill_(0.1)
            if recurrent:
                layers[be].recurrent.weight.copy_(torch.linspace(-1, 1, 81, dtype=F64).reshape(9, 9))
            readouts[be].load_state_dict(readouts["torch"].state_dict())
    results = {}
    for be, layer in layers.items():
        z = layer(x)
        out = readouts[be](z).amax(0).logsumexp(-1).sum()
        params = list(layer.parameters()) + list(readouts[be].parameters())
        results[be] = (z, _grads(out, params))
    assert 0.02 < results["norse"][0].mean() < 0.6
    for be in ("torch", "fused"):
        assert torch.equal(results[be][0], results["norse"][0])
        for go, gr in zip(results[be][1], results["norse"][1]):
            torch.testing.assert_close(go, gr, **TOL)
