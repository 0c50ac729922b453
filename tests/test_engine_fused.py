"""The fused layer kernels (projection + scan in one pass) against the unfused torch loop."""

from __future__ import annotations

import numba
import pytest
import torch

from spikebench.engine import fused
from spikebench.engine.layers import LI, LIF

F64 = torch.float64
T, B, C, H = 23, 5, 70, 12


def spikes(density: float, seed: int = 0, dtype=F64) -> torch.Tensor:
    """Counts 0, 1 or 2 with about ``density`` non-zero, so the values matter, not only the positions."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, C, generator=g) < density).to(dtype)
    return x * torch.randint(1, 3, (T, B, C), generator=g).to(dtype)


def pair(cls, kw, dtype=F64, seed=0):
    """The same layer twice: fused (engine "fused") and the pure-PyTorch loop."""
    torch.manual_seed(seed)
    a = cls(C, H, engine="fused", **kw).to(dtype)
    with torch.no_grad():
        a.linear.weight.normal_(0.0, 0.6)  # enough drive that neurons spike
    b = cls(C, H, engine="torch", **kw).to(dtype)
    b.load_state_dict(a.state_dict())
    return a, b


LAYERS = [
    (LIF, {}),
    (LIF, {"recurrent": True}),
    (LIF, {"bias": False, "surrogate": "norse-superspike"}),
    (LI, {}),
]


@pytest.mark.parametrize("cls,kw", LAYERS)
@pytest.mark.parametrize("density", [0.05, 0.6])  # the sparse kernel and the BLAS + fused-scan path
def test_fused_layer_equals_the_torch_loop_with_every_gradient(cls, kw, density):
    fast, ref = pair(cls, kw)
    x = spikes(density)
    assert fused.applies(x, "numba")
    assert fused._sparse_input(x, fast.linear) == (density < fused.SPARSE_MAX_DENSITY)
    g = torch.Generator().manual_seed(1)
    state = [s.clone().requires_grad_() for s in fast.initial_state(B, dtype=F64)]
    with torch.no_grad():
        for s in state:  # a non-resting start, so the state's gradient is not trivially zero
            s.add_(torch.rand(s.shape, generator=g, dtype=F64) * 0.5)
    ref_state = [s.detach().clone().requires_grad_() for s in state]
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_a, st_a = fast.step_sequence(xa, type(fast.initial_state(1))(*state))
    out_b, st_b = ref.step_sequence(xb, type(ref.initial_state(1))(*ref_state))
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=1e-12)
    if cls is LIF:
        assert 0 < out_a.mean() < 0.5
    probe = torch.randn(out_a.shape, generator=g, dtype=F64)
    last = torch.randn(st_a[0].shape, generator=g, dtype=F64)
    ((out_a * probe).sum() + (st_a[0] * last).sum() + st_a[1].sum()).backward()
    ((out_b * probe).sum() + (st_b[0] * last).sum() + st_b[1].sum()).backward()
    for (name, pa), pb in zip(fast.named_parameters(), ref.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-9, atol=1e-9, msg=name)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-9)
    for sa, sb in zip(state, ref_state):
        if sb.grad is not None:
            torch.testing.assert_close(sa.grad, sb.grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cls,kw", LAYERS)
@pytest.mark.parametrize("density", [0.05, 0.6])
def test_inference_kernel_equals_the_training_kernel_in_float32(cls, kw, density):
    layer, _ = pair(cls, kw, dtype=torch.float32)
    x = spikes(density, dtype=torch.float32)
    with torch.no_grad():
        out_infer, st_infer = layer.step_sequence(x)
    out_train, st_train = layer.step_sequence(x.clone().requires_grad_())
    assert out_train.requires_grad
    torch.testing.assert_close(out_infer, out_train.detach(), rtol=0, atol=0)
    for a, b in zip(st_infer, st_train):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("kw", [{}, {"recurrent": True}])
def test_results_do_not_depend_on_the_number_of_threads(kw):
    layer, _ = pair(LIF, kw, dtype=torch.float32)
    readout = LI(H, 4)
    x = spikes(0.05, dtype=torch.float32)
    results = []
    before = numba.get_num_threads()
    try:
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n)
            layer.zero_grad()
            readout.zero_grad()
            out = readout(layer(x))
            (out ** 2).sum().backward()
            results.append((out.detach(), layer.linear.weight.grad.clone(), readout.linear.weight.grad.clone()))
    finally:
        numba.set_num_threads(before)
    for got in results[1:]:
        for a, b in zip(got, results[0]):
            assert torch.equal(a, b)


def test_chunks_carry_the_state_exactly():
    layer, _ = pair(LIF, {"recurrent": True}, dtype=torch.float32)
    x = spikes(0.05, dtype=torch.float32)
    with torch.no_grad():
        whole, _ = layer.step_sequence(x)
        first, state = layer.step_sequence(x[:9])
        second, _ = layer.step_sequence(x[9:], state)
    assert torch.equal(torch.cat([first, second]), whole)


def test_a_projection_that_is_not_a_plain_linear_feeds_its_output_to_the_kernel():
    """Batch norm after the product (as the sota models): the kernel scans the module's output."""
    fast, ref = pair(LIF, {})
    for layer in (fast, ref):
        layer.linear = torch.nn.Sequential(layer.linear, torch.nn.BatchNorm1d(H).to(F64))
    ref.load_state_dict(fast.state_dict())

    class TimeMajorNorm(torch.nn.Module):  # BatchNorm1d over the channels of [T, B, H]
        def __init__(self, seq):
            super().__init__()
            self.seq = seq

        def forward(self, x):
            return self.seq[1](self.seq[0](x).flatten(0, 1)).view(*x.shape[:2], -1)

    fast.linear, ref.linear = TimeMajorNorm(fast.linear), TimeMajorNorm(ref.linear)
    x = spikes(0.05)
    assert not fused._sparse_input(x, fast.linear)
    out_a, out_b = fast(x), ref(x)
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=1e-12)
    out_a.sum().backward()
    out_b.sum().backward()
    for pa, pb in zip(fast.parameters(), ref.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-9, atol=1e-9)


def test_the_kernels_are_used_only_for_cpu_float_sequences():
    x = spikes(0.05, dtype=torch.float32)
    assert fused.applies(x, "numba")
    assert not fused.applies(x, "torch")
    assert not fused.applies(x.to(torch.float16), "numba")
    assert not fused.applies(torch.zeros(0, B, C), "numba")


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("density", [0.05, 0.6])
def test_adlif_inference_kernel_equals_the_training_scan(recurrent, density):
    from spikebench.engine.layers import AdLIF

    torch.manual_seed(3)
    layer = AdLIF(C, H, recurrent=recurrent).to(F64)
    with torch.no_grad():
        layer.linear.weight.normal_(0.0, 0.8)
    x = spikes(density)
    with torch.no_grad():
        fast, fast_state = layer.step_sequence(x)
    slow, slow_state = layer.step_sequence(x.clone().requires_grad_())  # grad asked: the unfused scan
    assert slow.requires_grad and 0 < fast.mean() < 0.5
    torch.testing.assert_close(fast, slow.detach(), rtol=0, atol=0)
    for a, b in zip(fast_state, slow_state):
        torch.testing.assert_close(a, b.detach(), rtol=1e-12, atol=1e-12)
