"""The Triton kernels equal the PyTorch scans: values and every gradient.

On this CPU-only machine (and in CI) the kernels run through Triton's interpreter
(``TRITON_INTERPRET=1``, NumPy), which executes the same kernel source: float64 to 1e-10
(the same operations in the same order as the PyTorch loop) and float32 to 1e-5
(atol and rtol; the sums of the parameter gradients run in another order). The
comparison against Norse's cells is in ``test_engine_equivalence.py``. The tests marked
``cuda`` run the compiled kernels on a GPU (``benchmarks/gpu_check.sh``) and skip here.
"""

from __future__ import annotations

import pytest
import torch

from spikebench.engine import _triton
from spikebench.engine.adlif import AdLIFParams, adlif_initial_state, adlif_scan
from spikebench.engine.li import LIParams, li_initial_state, li_scan
from spikebench.engine.lif import LIFParams, lif_initial_state, lif_scan

pytest.importorskip("triton")

F64, F32 = torch.float64, torch.float32
TOL = {F64: dict(rtol=1e-10, atol=1e-10), F32: dict(rtol=1e-5, atol=1e-5)}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")


def _run(impl, fn, inputs, probes):
    """Outputs of ``fn(impl, *leaves)`` and the gradients of a random projection of them."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    outs = fn(impl, *leaves)
    loss = sum((o * p).sum() for o, p in zip(outs, probes))
    return [o.detach() for o in outs], torch.autograd.grad(loss, leaves)


def _compare(fn, inputs, n_out, device="cpu", dtype=F64, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [t.to(device=device, dtype=dtype) for t in inputs]
    shape = inputs[0].shape
    probes = [torch.randn(shape, generator=g, dtype=F64).to(device=device, dtype=dtype)
              for _ in range(n_out)]
    ref_out, ref_grad = _run("torch", fn, inputs, probes)
    out, grad = _run("triton", fn, inputs, probes)
    for a, b in zip(out, ref_out):
        torch.testing.assert_close(a, b, **TOL[dtype])
    for a, b in zip(grad, ref_grad):
        assert b.abs().max() > 1e-4, "a gradient that is zero tests nothing"
        torch.testing.assert_close(a, b, **TOL[dtype])
    return ref_out


def _lif_case(recurrent: bool, detach_reset: bool, surrogate: str, T=25, B=3, N=11):
    g = torch.Generator().manual_seed(1)
    p = LIFParams(tau_syn=4e-3, tau_mem=8e-3, v_th=0.8, v_reset=-0.1, v_leak=0.05, dt=1e-3,
                  surrogate=surrogate, alpha=20.0, detach_reset=detach_reset)
    current = torch.randn(T, B, N, generator=g, dtype=F64) * 2 + 0.3
    state = lif_initial_state(B, N, p, dtype=F64)
    v0 = state.v + 0.3 * torch.rand(B, N, generator=g, dtype=F64)
    rec = torch.randn(N, N, generator=g, dtype=F64) * 0.5

    def fn(impl, cur, v, r):
        z, v_trace, _ = lif_scan(cur, state._replace(v=v), p, r if recurrent else None,
                                 engine=impl, membrane=True)
        return z, v_trace

    return fn, [current, v0, rec]


@pytest.mark.parametrize("recurrent, detach_reset", [(False, False), (False, True), (True, True),
                                                     (True, False)])
@pytest.mark.parametrize("surrogate", ["superspike", "norse-superspike"])
def test_lif_triton_equals_torch(recurrent, detach_reset, surrogate):
    fn, inputs = _lif_case(recurrent, detach_reset, surrogate)
    if not recurrent:
        fn_ff = lambda impl, cur, v: fn(impl, cur, v, None)  # noqa: E731
        z, _ = _compare(fn_ff, inputs[:2], 2)
    else:
        z, _ = _compare(fn, inputs, 2)
    assert 0.02 < z.mean() < 0.6, "the input must make the neurons spike, not saturate"


def test_lif_triton_float32():
    fn, inputs = _lif_case(True, True, "superspike")
    _compare(fn, inputs, 2, dtype=F32)


def test_li_triton_equals_torch():
    g = torch.Generator().manual_seed(2)
    p = LIParams(tau_syn=4e-3, tau_mem=8e-3, v_leak=0.05, dt=1e-3)
    current = torch.randn(30, 4, 7, generator=g, dtype=F64)
    i0 = torch.randn(4, 7, generator=g, dtype=F64)

    def fn(impl, cur, i):
        v, state = li_scan(cur, li_initial_state(4, 7, p, dtype=cur.dtype)._replace(i=i), p,
                           engine=impl)
        return v, state.i.expand_as(v)

    for dtype in (F64, F32):
        _compare(fn, [current, i0], 2, dtype=dtype)


def _adlif_case(recurrent: bool, T=25, B=3, N=10, surrogate="superspike"):
    g = torch.Generator().manual_seed(3)
    p = AdLIFParams(v_th=1.0, surrogate=surrogate, alpha=5.0)
    current = torch.randn(T, B, N, generator=g, dtype=F64) * 2 + 1.0
    dm = torch.empty(N, dtype=F64).uniform_(0.6, 0.95, generator=g)
    da = torch.empty(N, dtype=F64).uniform_(0.9, 0.99, generator=g)
    a = torch.empty(N, dtype=F64).uniform_(0.0, 1.0, generator=g)
    b = torch.empty(N, dtype=F64).uniform_(0.0, 2.0, generator=g)
    rec = torch.randn(N, N, generator=g, dtype=F64) * 0.5
    u0 = torch.rand(B, N, generator=g, dtype=F64)

    def fn(impl, cur, u, dm_, da_, a_, b_, *r):
        state = adlif_initial_state(B, N, dtype=cur.dtype)._replace(u=u)
        z, final = adlif_scan(cur, state, dm_, da_, a_, b_, p, r[0] if r else None, engine=impl)
        return z, final.u.expand_as(z), final.w.expand_as(z)

    inputs = [current, u0, dm, da, a, b] + ([rec] if recurrent else [])
    return fn, inputs


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("surrogate", ["superspike", "norse-superspike"])
def test_adlif_triton_equals_torch(recurrent, surrogate):
    fn, inputs = _adlif_case(recurrent, surrogate=surrogate)
    z, *_ = _compare(fn, inputs, 3)
    assert 0.02 < z.mean() < 0.6


def test_adlif_triton_float32():
    fn, inputs = _adlif_case(True)
    _compare(fn, inputs, 3, dtype=F32)


def test_a_whole_radlif_model_trains_the_same_through_triton(monkeypatch):
    """Layer level: a recurrent adLIF network (BN, dropout off, LI readout) gives the same
    logits and parameter gradients when its layers run the Triton kernels."""
    from spikebench.models import create_model

    x = (torch.rand(20, 4, 16, generator=torch.Generator().manual_seed(4)) < 0.3).to(F64)
    y = torch.tensor([0, 1, 2, 1])
    results = {}
    for impl in ("torch", "triton"):  # engine "triton" runs Triton's interpreter on CPU here
        torch.manual_seed(0)
        model = create_model("adlif", n_in=16, n_classes=3, n_steps=20, hidden=12, n_layers=2,
                             recurrent=True, dropout=0.0, readout="mean", alpha=5.0,
                             engine=impl).to(F64)
        out = model(x)
        loss = torch.nn.functional.cross_entropy(out.logits, y)
        results[impl] = (out.logits.detach(), torch.autograd.grad(loss, list(model.parameters())))
    torch.testing.assert_close(results["triton"][0], results["torch"][0], **TOL[F64])
    for a, b in zip(results["triton"][1], results["torch"][1]):
        torch.testing.assert_close(a, b, **TOL[F64])


def test_dispatch():
    from types import SimpleNamespace

    from spikebench.engine.engines import resolve

    on_cuda = SimpleNamespace(device=torch.device("cuda"), dtype=torch.float32)
    assert resolve("fused", on_cuda) == "triton"
    assert resolve("torch", on_cuda) == "torch"
    assert _triton.supports(torch.zeros(1))  # CPU under the interpreter (fixture)
    assert not _triton.supports(torch.zeros(1, dtype=torch.float16))


def test_cpu_tensors_without_the_interpreter_fall_back_to_torch(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    assert not _triton.supports(torch.zeros(1))
    fn, inputs = _lif_case(True, True, "superspike", T=5)
    out, _ = _run("triton", fn, inputs, [torch.ones(5, 3, 11, dtype=F64)] * 2)
    ref, _ = _run("torch", fn, inputs, [torch.ones(5, 3, 11, dtype=F64)] * 2)
    assert all(torch.equal(a, b) for a, b in zip(out, ref))


# ---- compiled kernels on a GPU (run by benchmarks/gpu_check.sh) ----

@CUDA
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("recurrent", [False, True])
def test_cuda_lif_triton_equals_torch(dtype, recurrent, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    fn, inputs = _lif_case(recurrent, recurrent, "superspike", T=50, B=16, N=300)
    if not recurrent:
        fn_ff = lambda impl, cur, v: fn(impl, cur, v, None)  # noqa: E731
        _compare(fn_ff, inputs[:2], 2, device="cuda", dtype=dtype)
    else:
        _compare(fn, inputs, 2, device="cuda", dtype=dtype)


@CUDA
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("recurrent", [False, True])
def test_cuda_adlif_triton_equals_torch(dtype, recurrent, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    fn, inputs = _adlif_case(recurrent, T=50, B=16, N=300)
    _compare(fn, inputs, 3, device="cuda", dtype=dtype)


@CUDA
def test_cuda_models_run_the_triton_kernels(monkeypatch):
    """engine "fused" on CUDA is the Triton path; a full model trains a step there."""
    monkeypatch.delenv("TRITON_INTERPRET")
    from spikebench.engine import engines
    from spikebench.models import create_model

    calls = []
    real = engines.resolve
    monkeypatch.setattr(engines, "resolve",
                        lambda e, x, s=None: calls.append(real(e, x, s)) or calls[-1])
    model = create_model("adlif", n_in=140, n_classes=20, n_steps=100, hidden=64, n_layers=2,
                         recurrent=True, readout="mean").cuda()
    x = (torch.rand(100, 8, 140, device="cuda") < 0.1).float()
    loss = torch.nn.functional.cross_entropy(model(x).logits, torch.arange(8, device="cuda"))
    loss.backward()
    assert calls and set(calls) == {"triton"}
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_a_surrogate_the_kernels_lack_runs_the_torch_scan():
    fn, inputs = _lif_case(True, True, "arctan", T=8)
    fn_a, _ = _adlif_case(False, T=8, surrogate="arctan")
    _compare(fn, inputs, 2)
    _compare(fn_a, _adlif_case(False, T=8)[1], 3)
