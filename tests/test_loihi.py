"""Loihi 2 fixed point: Lava's integer equations by hand, the float mapping, Lava itself.

The bit-exact comparison with Intel Lava's CPU simulator (``PyLifModelBitAcc`` and
``PyDenseModelBitAcc``) needs lava-nc 0.10.0, which runs only on Python 3.10: it runs in a
side environment (``make lava`` makes ``.venv-lava``; ``SPIKEBENCH_LAVA_PYTHON`` names
another interpreter) and is skipped when there is none. The hand-worked traces below test
the same equations everywhere.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from spikebench.errors import ConfigError
from spikebench.export import loihi
from spikebench.models.registry import create_model

ROOT = Path(__file__).resolve().parents[1]


def _layer(name, w, w_exp, du, dv, vth, *, readout=False, b=None, b_exp=0, r=None, r_exp=0):
    return loihi.FixedLayer(name=name, w=np.asarray(w, np.int64), w_exp=w_exp,
                            b=None if b is None else np.asarray(b, np.int64), b_exp=b_exp,
                            r=None if r is None else np.asarray(r, np.int64), r_exp=r_exp,
                            du=du, dv=dv, vth=vth, scale=1.0, readout=readout)


def test_hand_worked_trace_of_lavas_equations() -> None:
    # du = 1023: U keeps 3072/4096 = 0.75 a step; dv = 2048: V keeps 0.5; threshold 150 << 6 = 9600
    # weight exponent -2: A = (W s) >> 2, a floor (-6 >> 2 = -2); decays truncate toward zero
    hidden = _layer("h", [[200], [-6]], -2, du=1023, dv=2048, vth=150)
    readout = _layer("o", [[10, 0]], 0, du=4095, dv=0, vth=loihi.VTH_MAX, readout=True)
    x = np.array([2, 1, 0, 0, 0]).reshape(5, 1, 1)
    run = loihi.run_fixed([hidden, readout], x)
    # neuron 0: A = 100, 50, 0, ...
    #   t0 U = 6400,  V = 6400 (not > 9600)
    #   t1 U = 4800 + 3200 = 8000,  V = 3200 + 8000 = 11200 > 9600: spike, V = 0
    #   t2 U = 6000, V = 6000;  t3 U = 4500, V = 3000 + 4500 = 7500;  t4 U = 3375, V = 3750 + 3375
    # neuron 1: A = -3, -2, 0, ...
    #   t0 U = -192, V = -192;  t1 U = -144 - 128 = -272, V = -96 - 272 = -368
    #   t2 U = -204, V = -184 - 204 = -388;  t3 U = -153, V = -194 - 153 = -347
    #   t4 U = trunc(-114.75) = -114, V = trunc(-173.5) - 114 = -287 (floor would give -115, -289)
    assert run.spikes[0][:, 0, 0].tolist() == [0, 1, 0, 0, 0]
    assert run.spikes[0][:, 0, 1].tolist() == [0, 0, 0, 0, 0]
    # readout: U = 64 A (du = 4095 empties it each step), V integrates (dv = 0): 10 << 6 = 640 from t1
    assert run.v_out[:, 0, 0].tolist() == [0, 640, 640, 640, 640]
    assert (run.current_wraps, run.voltage_clips, run.readout_resets) == (0, 0, 0)

    # the same layer without a reachable threshold, read as a readout: its membrane V
    probe = _layer("h", [[200], [-6]], -2, du=1023, dv=2048, vth=loihi.VTH_MAX, readout=True)
    v = loihi.run_fixed([probe], x).v_out[:, 0]
    assert v[:, 0].tolist() == [6400, 11200, 11600, 10300, 8525]
    assert v[:, 1].tolist() == [-192, -368, -388, -347, -287]


def test_current_wraps_and_voltage_clips_like_lava() -> None:
    # 64 A = 64 * 131074 = 2^23 + 128: U wraps to 2^23 + 128 - 2^24 = -8388480 (Lava wraps once)
    lay = _layer("o", [[2]], 0, du=4095, dv=4095, vth=loihi.VTH_MAX, readout=True)
    run = loihi.run_fixed([lay], np.array([65537]).reshape(1, 1, 1))
    assert run.v_out[0, 0, 0] == -8388480 and run.current_wraps == 1
    # U = 64 * 131000 = 8384000 per step and V integrates: at t1 V clips to 2^23 - 1, above
    # the largest threshold (131071 << 6 = 8388544), so even the readout resets (counted)
    lay = _layer("o", [[2]], 0, du=4095, dv=0, vth=loihi.VTH_MAX, readout=True)
    run = loihi.run_fixed([lay], np.full((3, 1, 1), 65500))
    assert run.v_out[:, 0, 0].tolist() == [8384000, 0, 8384000]
    assert (run.voltage_clips, run.readout_resets, run.current_wraps) == (1, 1, 0)
    with pytest.raises(ConfigError, match="spike counts"):
        loihi.run_fixed([lay], np.full((3, 1, 1), 0.5))


def _frames(t: int, b: int, c: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(t, b, c, generator=g) < 0.15).float()
    return x * torch.randint(1, 3, x.shape, generator=g)


def _model(recurrent: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("snn", n_in=30, n_classes=6, n_steps=40, hidden=24, n_layers=2,
                        recurrent=recurrent, v_th=0.2).eval()


@pytest.mark.parametrize("recurrent", [False, True])
def test_float_reference_is_the_engine(recurrent) -> None:
    """The float64 numpy model the scales are calibrated on steps exactly like the engine."""
    model = _model(recurrent).double()
    x = _frames(40, 4, 30, seed=1).double()
    with torch.no_grad():
        ref = model(x)
        v_ref = model.out(ref.spikes[-1])
    spikes, v, ranges = loihi.run_float(loihi.float_layers(model), x.numpy())
    assert all(float(z.sum()) > 100 for z in ref.spikes)
    for ours, theirs in zip(spikes, ref.spikes):
        np.testing.assert_array_equal(ours, theirs.numpy())
    np.testing.assert_allclose(v, v_ref.numpy(), rtol=1e-12, atol=1e-12)
    assert all(v_max > 0 and j_max > 0 for v_max, j_max in ranges)


@pytest.mark.parametrize("recurrent", [False, True])
def test_quantised_formats_fit_loihi_and_track_the_float_model(recurrent) -> None:
    model = _model(recurrent)
    x = _frames(40, 16, 30, seed=1).numpy()
    floats = loihi.float_layers(model)
    fixed = loihi.quantise(floats, loihi.calibrate(floats, [_frames(40, 16, 30, seed=7).numpy()]))
    for q in fixed:
        for w in (q.w, q.b, q.r):
            if w is not None:
                assert w.min() >= -256 and w.max() <= 254 and not (w % 2).any()  # 8-bit mixed sign
                assert np.abs(w).max() >= 64, "the exponent must use the 8 bits"
        assert all(loihi.EXP_RANGE[0] <= e <= loihi.EXP_RANGE[1] for e in (q.w_exp, q.b_exp, q.r_exp))
        assert 0 <= q.du < 4096 and 0 <= q.dv < 4096 and 0 < q.vth <= loihi.VTH_MAX
    assert (fixed[0].du, fixed[0].dv) == (818, 410)  # a_syn = 0.2, a_mem = 0.1: 819.2 - 1, 409.6

    f_spikes, v, _ = loihi.run_float(floats, x)
    run = loihi.run_fixed(fixed, x)
    assert (run.current_wraps, run.readout_resets) == (0, 0)
    for ours, theirs in zip(run.spikes, f_spikes):
        assert abs(int(ours.sum()) - int(theirs.sum())) <= 0.05 * theirs.sum()
    scores_q = loihi.readout_scores(run.v_out / fixed[-1].scale, model)
    scores_f = loihi.readout_scores(v, model)
    assert float((scores_q.argmax(1) == scores_f.argmax(1)).float().mean()) >= 0.75


def _lava_python() -> str | None:
    named = os.environ.get("SPIKEBENCH_LAVA_PYTHON")
    candidates = [named] if named else [str(ROOT / ".venv-lava" / "bin" / "python")]
    for path in candidates:
        if path and Path(path).is_file():
            probe = subprocess.run([path, "-c", "import lava.proc.lif.models"], capture_output=True)
            if probe.returncode == 0:
                return path
    return None


@pytest.mark.parametrize("recurrent", [False, True])
def test_bit_exact_with_lavas_cpu_simulator(tmp_path, recurrent) -> None:
    python = _lava_python()
    if python is None:
        pytest.skip("lava-nc is not installed (make lava: a Python 3.10 side environment)")
    model = _model(recurrent)
    x = _frames(40, 3, 30, seed=1).numpy()
    floats = loihi.float_layers(model)
    fixed = loihi.quantise(floats, loihi.calibrate(floats, [x]))  # ranges at the limit: the
    run = loihi.run_fixed(fixed, x)                                 # largest states Lava sees
    arrays: dict[str, np.ndarray | int] = {"x": x, "n_layers": len(fixed)}
    for k, q in enumerate(fixed):
        arrays.update({f"w_{k}": q.w, f"w_exp_{k}": q.w_exp, f"du_{k}": q.du, f"dv_{k}": q.dv,
                       f"vth_{k}": q.vth})
        if q.b is not None:
            arrays.update({f"b_{k}": q.b, f"b_exp_{k}": q.b_exp})
        if q.r is not None:
            arrays.update({f"r_{k}": q.r, f"r_exp_{k}": q.r_exp})
    np.savez(tmp_path / "net.npz", **arrays)
    done = subprocess.run([python, str(ROOT / "tests" / "lava_bitacc.py"), str(tmp_path / "net.npz"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    n_t, n_layers = x.shape[0], len(fixed)
    for k, spikes in enumerate(run.spikes):  # layer k delivers k + 1 steps late in Lava
        assert spikes.sum() > 50
        np.testing.assert_array_equal(out[f"s_{k}"][k + 1:k + 1 + n_t], spikes)
    np.testing.assert_array_equal(out["v_out"][n_layers:n_layers + n_t], run.v_out)
    assert np.abs(run.v_out).max() > 2**21, "the comparison must reach large states"
