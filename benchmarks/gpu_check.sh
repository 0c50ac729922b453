#!/usr/bin/env bash
# One check of the CUDA path, at most 5 minutes on a machine with an NVIDIA GPU:
#   1. the CUDA-only tests (compiled Triton kernels against the PyTorch scans, layers and
#      binning on CUDA against CPU);
#   2. benchmarks/engine_bench.py --device cuda: spikebench (Triton kernels; and its
#      PyTorch loop) vs Norse vs snnTorch, training step and inference, the same nets
#      (700-128-20 and 700-256-256-20 recurrent, T=100, B=128), ratios printed;
#   3. one epoch of the `seed` experiment with --device cuda on an SHD-sized synthetic
#      set (8,156 / 2,264 samples, 700 channels), once with the fused engine (Triton on
#      CUDA) and once with --engine norse for the two SNN rows; prints each model's epoch
#      time and the SNN ratio norse / fused.
# Each stage has its own time limit (100 + 60 + 40 + 50 + 50 s = 5 min at most); a stage
# that fails or runs out of time stops the script with a non-zero status.
# Without a CUDA device it prints why and exits with status 2 before doing anything.
#   bash benchmarks/gpu_check.sh            (PYTHON=... to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
unset TRITON_INTERPRET  # the compiled kernels, not the interpreter

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA device visible to torch ($("$PY" -c 'import torch; print("torch", torch.__version__)' 2>&1 | tail -1)); nothing checked. Run it on a machine with an NVIDIA GPU and a CUDA build of torch 2.13.0." >&2
    exit 2
fi
"$PY" -c 'import triton' 2>/dev/null || { echo "gpu_check: triton is not installed (pip install -e '.[dev]')" >&2; exit 2; }
start=$(date +%s)
"$PY" -c 'import torch, triton; print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| triton", triton.__version__)'

echo "== 1/3 CUDA-only tests"
timeout 100 "$PY" -m pytest -q -rs -p no:cacheprovider -k cuda \
    tests/test_engine_triton.py tests/test_engine_layers.py tests/test_data_binning.py

echo "== 2/3 engine benchmark on CUDA (ratios: spikebench vs Norse vs snnTorch)"
timeout 60 "$PY" benchmarks/engine_bench.py --device cuda --rounds 2 --steps 2

echo "== 3/3 one epoch of seed on CUDA, SHD-sized synthetic data"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
timeout 40 "$PY" - "$work/shd" <<'EOF'
import sys
from pathlib import Path
from spikebench.data.shd import write_shd
from spikebench.data.synthetic import make_synthetic
out = Path(sys.argv[1]); out.mkdir()
common = dict(n_classes=20, structure_seed=0, mean_events=3000.0, duration=(0.4, 1.2))
write_shd(out / "shd_train.h5", make_synthetic(8156, n_speakers=12, seed=1, **common))
write_shd(out / "shd_test.h5", make_synthetic(2264, n_speakers=2, first_speaker=12, seed=2, **common))
EOF
common=(-q run --dataset "$work/shd" --root "$work/root" --epochs 1 --device cuda --no-report
        --set inference.max_batches=4 --set inference.latency_samples=4)
timeout 50 "$PY" -m spikebench "${common[@]}" --out "$work/fused"
timeout 50 "$PY" -m spikebench "${common[@]}" --out "$work/norse" --engine norse \
    --set select=snn_p1,snn_p2
"$PY" - "$work" <<'EOF'
import sys
from pathlib import Path
from spikebench.record import load_run
runs = {k: load_run(Path(sys.argv[1]) / k).models for k in ("fused", "norse")}
epoch = {k: {m.name: m.history.epoch_seconds[0] for m in v} for k, v in runs.items()}
for m in runs["fused"]:
    line = (f"seed/{m.name:7s} epoch {epoch['fused'][m.name]:7.2f} s  inference "
            f"{m.inference.seconds_per_batch * 1e3:7.1f} ms per batch of {m.inference.batch_size}")
    if m.name in epoch["norse"]:
        line += (f"  | engine norse {epoch['norse'][m.name]:7.2f} s: RATIO norse / fused "
                 f"{epoch['norse'][m.name] / epoch['fused'][m.name]:.1f}x")
    print(line)
EOF
echo "gpu_check: done in $(( $(date +%s) - start )) s"
