"""Run a quantised network in Intel Lava's CPU simulator, bit-accurate models (Python 3.10 + lava-nc).

Usage: ``python lava_bitacc.py NET.npz OUT.npz``, run by ``tests/test_loihi.py`` with the
interpreter of a side environment (lava-nc 0.10.0 runs only on Python 3.10). ``NET.npz``
holds the layers of :func:`spikebench.export.loihi.quantise` and the input counts
``x [T, B, C]``. The batch runs as one network with block-diagonal weights (samples do not
interact). Writes the raw Lava traces over ``T + L`` steps (``L`` layers; each ``Dense``
delivers one step late): ``s_<k>`` ``[T + L, B, N]`` for each hidden layer and ``v_out``.
"""

import sys

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor


def block(w: np.ndarray, b: int) -> np.ndarray:
    return np.kron(np.eye(b, dtype=np.int64), w)


def main(net_path: str, out_path: str) -> None:
    net = np.load(net_path)
    x = net["x"].astype(np.int64)  # [T, B, C]
    n_t, n_b, n_c = x.shape
    n_layers = int(net["n_layers"])
    steps = n_t + n_layers
    data = np.zeros((n_b * n_c, steps), np.int64)
    data[:, :n_t] = x.transpose(1, 2, 0).reshape(n_b * n_c, n_t)
    source = RingBuffer(data=data)
    previous, graded = source.s_out, 8
    monitors = []
    for k in range(n_layers):
        w = net[f"w_{k}"]
        lif = LIF(shape=(n_b * w.shape[0],), du=int(net[f"du_{k}"]), dv=int(net[f"dv_{k}"]),
                  vth=int(net[f"vth_{k}"]), bias_mant=0, bias_exp=0)
        dense = Dense(weights=block(w, n_b), weight_exp=int(net[f"w_exp_{k}"]), num_message_bits=graded)
        previous.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        if f"b_{k}" in net:
            # always-on input, from the step at which this layer sees its first input (k steps of pipeline)
            ones = np.zeros((n_b, steps), np.int64)
            ones[:, k:] = 1
            bias_src = RingBuffer(data=ones)
            bias = Dense(weights=block(net[f"b_{k}"][:, None], n_b), weight_exp=int(net[f"b_exp_{k}"]))
            bias_src.s_out.connect(bias.s_in)
            bias.a_out.connect(lif.a_in)
        if f"r_{k}" in net:
            rec = Dense(weights=block(net[f"r_{k}"], n_b), weight_exp=int(net[f"r_exp_{k}"]))
            lif.s_out.connect(rec.s_in)
            rec.a_out.connect(lif.a_in)
        monitor = Monitor()
        monitor.probe(lif.v if k == n_layers - 1 else lif.s_out, steps)
        monitors.append((monitor, lif))
        previous, graded = lif.s_out, 0
    source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    out = {}
    for k, (monitor, lif) in enumerate(monitors):
        var = "v" if k == n_layers - 1 else "s_out"
        trace = np.asarray(monitor.get_data()[lif.name][var]).reshape(steps, n_b, -1)
        out["v_out" if var == "v" else f"s_{k}"] = trace.astype(np.int64)
    source.stop()
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
