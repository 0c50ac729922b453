"""Engine layers: streaming in chunks, AdLIF's hand-written backward, surrogates, errors."""

from __future__ import annotations

import pytest
import torch

from spikebench.engine import _native
from spikebench.engine.adlif import AdLIFParams, adlif_initial_state, adlif_scan
from spikebench.engine.layers import LI, LIF, AdLIF
from spikebench.engine.lif import LIFParams, lif_initial_state, lif_scan
from spikebench.engine.surrogate import spike
from spikebench.errors import ConfigError

F64 = torch.float64
ENGINES = ["torch", "fused", "norse"]


def _spiky_input(T=50, B=3, C=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, C, generator=g) < 0.3).to(F64)


def _make(cls, engine, **kw):
    torch.manual_seed(0)
    layer = cls(10, 7, engine=engine, **kw).to(F64)
    with torch.no_grad():
        layer.linear.weight.mul_(20.0 if cls is AdLIF else 6.0)
    return layer


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cls,kw", [
    (LIF, {}), (LIF, {"recurrent": True}), (LI, {}), (AdLIF, {}), (AdLIF, {"recurrent": True}),
])
def test_step_sequence_in_chunks_equals_one_call(cls, kw, engine):
    if cls is AdLIF and engine == "norse":
        with pytest.raises(ConfigError, match="norse"):
            _make(cls, engine, **kw)
        return
    layer = _make(cls, engine, **kw)
    x = _spiky_input()
    whole, final = layer.step_sequence(x)
    loss_whole = (whole * torch.linspace(-1, 1, whole.numel(), dtype=F64).reshape(whole.shape)).sum()
    g_whole = torch.autograd.grad(loss_whole, list(layer.parameters()))

    state, pieces = None, []
    for lo, hi in [(0, 1), (1, 8), (8, 9), (9, 50)]:
        out, state = layer.step_sequence(x[lo:hi], state)
        pieces.append(out)
    chunked = torch.cat(pieces)
    loss_chunked = (chunked * torch.linspace(-1, 1, chunked.numel(), dtype=F64).reshape(chunked.shape)).sum()
    g_chunked = torch.autograd.grad(loss_chunked, list(layer.parameters()))

    if cls is not LI:
        assert 0.01 < whole.mean() < 0.7
    torch.testing.assert_close(chunked, whole, rtol=1e-9, atol=1e-9)
    for a, b in zip(final, state):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    for a, b in zip(g_chunked, g_whole):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def _adlif_reference(current, decay_mem, decay_adapt, a, b, p, rec=None):
    """The AdLIF equations step by step with autograd (no hand-written backward)."""
    u = w = z = torch.zeros_like(current[0])
    zs = []
    for t in range(current.shape[0]):
        drive = current[t] if rec is None else current[t] + z @ rec.t()
        w = decay_adapt * w + a * u + b * z
        u = decay_mem * (u - p.v_th * z) + (1 - decay_mem) * (drive - w)
        z = spike(u - p.v_th, p.surrogate, p.alpha)
        zs.append(z)
    return torch.stack(zs)


IMPLS = ["torch"] + (["numba"] if _native.numba_available() else [])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("recurrent", [False, True])
def test_adlif_backward_matches_autograd_of_the_step_equations(recurrent, impl):
    g = torch.Generator().manual_seed(4)
    T, B, N = 40, 4, 6
    current = (torch.randn(T, B, N, generator=g, dtype=F64) * 3 + 1.5)
    params = [
        torch.rand(N, generator=g, dtype=F64) * 0.3 + 0.6,   # decay_mem
        torch.rand(N, generator=g, dtype=F64) * 0.2 + 0.75,  # decay_adapt
        torch.rand(N, generator=g, dtype=F64) * 2 - 1,       # a
        torch.rand(N, generator=g, dtype=F64) * 2,           # b
    ]
    rec = torch.randn(N, N, generator=g, dtype=F64) if recurrent else None
    probe = torch.randn(T, B, N, generator=g, dtype=F64)
    p = AdLIFParams(v_th=1.0, surrogate="superspike", alpha=5.0)

    def leaves():
        out = [current.clone().requires_grad_()] + [q.clone().requires_grad_() for q in params]
        return out + ([rec.clone().requires_grad_()] if recurrent else [])

    ours = leaves()
    z, _ = adlif_scan(ours[0], adlif_initial_state(B, N, dtype=F64), *ours[1:5], p,
                      ours[5] if recurrent else None, engine=impl)
    g_ours = torch.autograd.grad((z * probe).sum(), ours)
    ref = leaves()
    z_ref = _adlif_reference(ref[0], *ref[1:5], p, ref[5] if recurrent else None)
    g_ref = torch.autograd.grad((z_ref * probe).sum(), ref)
    assert 0.05 < z_ref.mean() < 0.7
    assert torch.equal(z, z_ref.detach())
    for a, b in zip(g_ours, g_ref):
        assert b.abs().max() > 1e-4
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_superspike_width_is_a_real_parameter_and_matches_its_formula():
    g = torch.Generator().manual_seed(5)
    current = torch.randn(30, 2, 5, generator=g, dtype=F64) * 2 + 0.5
    grads = {}
    for alpha in (2.0, 20.0):
        c = current.clone().requires_grad_()
        p = LIFParams(surrogate="superspike", alpha=alpha)
        z, _, _ = lif_scan(c, lif_initial_state(2, 5, p, dtype=F64), p)
        grads[alpha] = torch.autograd.grad(z.sum(), c)[0]
        # Reference: the same equations stepped with autograd and spike()'s formula.
        c2 = current.clone().requires_grad_()
        v = torch.zeros(2, 5, dtype=F64)
        i = torch.zeros(2, 5, dtype=F64)
        zs = []
        for t in range(30):
            j = i + c2[t]
            u = v + p.a_mem * ((p.v_leak - v) + j)
            i = j - p.a_syn * j
            zt = spike(u - p.v_th, "superspike", alpha)
            v = (1 - zt) * u + zt * p.v_reset
            zs.append(zt)
        ref = torch.autograd.grad(torch.stack(zs).sum(), c2)[0]
        torch.testing.assert_close(grads[alpha], ref, rtol=1e-9, atol=1e-12)
    assert not torch.allclose(grads[2.0], grads[20.0])


@pytest.mark.skipif(not _native.numba_available(), reason="numba kernels unavailable")
@pytest.mark.parametrize("recurrent", [False, True])
def test_numba_and_torch_loops_agree_in_float32(recurrent):
    g = torch.Generator().manual_seed(6)
    current = torch.randn(80, 16, 33, generator=g) * 2 + 0.8
    probe = torch.randn(80, 16, 33, generator=g)
    rec = torch.randn(33, 33, generator=g) * 0.3 if recurrent else None
    p = LIFParams(surrogate="superspike", alpha=10.0)
    out = {}
    for impl in ("torch", "numba"):
        c = current.clone().requires_grad_()
        r = rec.clone().requires_grad_() if recurrent else None
        z, v, st = lif_scan(c, lif_initial_state(16, 33, p, dtype=torch.float32), p, r, engine=impl, membrane=True)
        leaves = [c, r] if recurrent else [c]
        grads = torch.autograd.grad((z * probe).sum() + (v * probe).sum(), leaves)
        out[impl] = (z, v, *grads)
    assert torch.equal(out["torch"][0], out["numba"][0])
    for a, b in zip(out["torch"][1:], out["numba"][1:]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_bad_options_raise_config_errors():
    with pytest.raises(ConfigError, match="engine 'fast'"):
        LIF(4, 3, engine="fast")
    with pytest.raises(ConfigError, match="surrogate 'sigmoid'"):
        LIF(4, 3, surrogate="sigmoid")
    with pytest.raises(ConfigError, match="alpha"):
        LIF(4, 3, alpha=0.0)
    with pytest.raises(ConfigError, match="engine 'cuda' .*fused, torch, norse"):
        LI(4, 3, engine="cuda")
    with pytest.raises(ConfigError, match="tau_mem"):
        AdLIF(4, 3, tau_mem=(0.02, 0.01))


def test_layers_keep_time_major_shapes_and_float32_defaults():
    x = torch.rand(7, 2, 5)
    for layer in (LIF(5, 3), LIF(5, 3, recurrent=True), LI(5, 3), AdLIF(5, 3)):
        out = layer(x)
        assert out.shape == (7, 2, 3) and out.dtype == torch.float32
    assert LIF(5, 3, recurrent=True).recurrent.weight.shape == (3, 3)
    assert LIF(5, 3).recurrent is None


@pytest.mark.skipif(not _native.numba_available(), reason="numba kernels unavailable")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("density", [0.03, 0.5])
def test_sparse_input_projection_equals_the_dense_product(dtype, density):
    from spikebench.engine._native.projection import project

    g = torch.Generator().manual_seed(7)
    # Spike counts (0, 1, 2) on an odd channel count, to exercise the unpaired path too.
    x = ((torch.rand(20, 6, 33, generator=g) < density).to(dtype)
         + (torch.rand(20, 6, 33, generator=g) < density / 3).to(dtype))
    lin = torch.nn.Linear(33, 9).to(dtype)
    probe = torch.randn(20, 6, 9, generator=g, dtype=dtype)
    outs = {}
    for impl in ("numba", "torch"):
        out = project(x, lin, impl)
        outs[impl] = (out, torch.autograd.grad((out * probe).sum(), [lin.weight, lin.bias]))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(outs["numba"][0], outs["torch"][0], **tol)
    for a, b in zip(outs["numba"][1], outs["torch"][1]):
        torch.testing.assert_close(a, b, **tol)
    # An input that needs its own gradient (a hidden layer's spikes) gets the dense one.
    grads = {}
    for impl in ("numba", "torch"):
        xg = x.clone().requires_grad_()
        grads[impl] = torch.autograd.grad((project(xg, lin, impl) * probe).sum(), xg)[0]
    torch.testing.assert_close(grads["numba"], grads["torch"], **tol)


def test_a_replaced_input_projection_is_called():
    """Models may swap ``layer.linear`` for their own module (e.g. linear + batch norm)."""

    class Doubled(torch.nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    x = (torch.rand(9, 3, 6, generator=torch.Generator().manual_seed(8)) < 0.2).float()
    for cls in (LIF, LI, AdLIF):
        torch.manual_seed(0)
        layer = cls(6, 4, engine="fused")
        state = layer.initial_state(3)
        calls = []
        layer.linear.register_forward_hook(lambda m, i, o: calls.append(o))
        layer.linear.__class__ = Doubled
        layer.step_sequence(x, state)
        assert len(calls) == 1 and torch.allclose(calls[0], 2 * torch.nn.functional.linear(
            x, layer.linear.weight, layer.linear.bias))


def test_fused_falls_back_to_the_torch_loop_without_numba(monkeypatch):
    from spikebench.engine.engines import resolve

    monkeypatch.setattr(_native, "_available", False)
    x = _spiky_input()
    assert resolve("fused", x) == "torch"
    torch.manual_seed(0)
    out_auto = LIF(10, 7, engine="fused").to(F64)(x)
    torch.manual_seed(0)
    out_torch = LIF(10, 7, engine="torch").to(F64)(x)
    assert torch.equal(out_auto, out_torch)


def test_numba_failure_is_logged_and_reported_unavailable(monkeypatch, caplog):
    from spikebench.engine._native import numba_kernels

    def broken():
        raise RuntimeError("no LLVM here")

    monkeypatch.setattr(_native, "_available", None)
    monkeypatch.setattr(numba_kernels, "warm_up", broken)
    with caplog.at_level("WARNING"):
        assert _native.numba_available() is False
    assert "pure-PyTorch" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("cls,kw", [(LIF, {}), (LIF, {"recurrent": True}), (LI, {}), (AdLIF, {})])
def test_cuda_matches_cpu(cls, kw):
    x = _spiky_input()
    layer = _make(cls, "torch", **kw)
    cpu = layer(x)
    g_cpu = torch.autograd.grad(cpu.sum(), list(layer.parameters()))
    layer = layer.cuda()
    gpu = layer(x.cuda())
    g_gpu = torch.autograd.grad(gpu.sum(), list(layer.parameters()))
    torch.testing.assert_close(gpu.cpu(), cpu)
    for a, b in zip(g_gpu, g_cpu):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-7, atol=1e-9)
