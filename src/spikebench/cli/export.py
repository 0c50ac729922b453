"""`spikebench export RUN_DIR --nir model.nir [--model NAME]`: a trained SNN as a NIR graph.

The model is rebuilt from its checkpoint (``RUN_DIR/checkpoints/<name>.pt``: the
``create_model`` arguments and the final weights) and written by
:func:`spikebench.export.nir.export_nir` with the run's bin width
(``results.json`` -> ``dataset.bin.dt``), so the time constants are in real seconds.
LIF stacks with batch norm (``rsnn``, the ``sota`` rows) export with the norm folded into
the projection weights; models NIR cannot express (adaptive LIF, learned delays, CNN,
ANN) are a one-line error naming the model and the layer.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to ``sub``."""
    p = sub.add_parser(
        "export", help="write a trained spiking model of a run as a NIR graph",
        description="Export a trained SNN of RUN_DIR to NIR (Neuromorphic Intermediate "
                    "Representation: Lava/Loihi 2, SpiNNaker2, Rockpool/Xylo, snnTorch, Norse).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--nir", required=True, metavar="PATH", help="output file (NIR HDF5)")
    p.add_argument("--model", metavar="NAME",
                   help="model name in the run (default: the run's only SNN)")
    p.set_defaults(func=cmd_export)


def _read_results(run_dir: Path) -> dict[str, Any]:
    from spikebench.errors import DataError

    path = run_dir / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no results.json; is {run_dir} a spikebench run directory?") from None
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not readable JSON ({err})") from err
    if not isinstance(results, dict) or not isinstance(results.get("models"), list):
        raise DataError(f"{path}: has no 'models' list")
    return results


def _bin_dt(results: dict[str, Any], path: Path) -> float:
    from spikebench.errors import DataError

    try:
        dt = float(results["dataset"]["bin"]["dt"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path}: lacks dataset.bin.dt (the bin width in seconds)") from None
    if not dt > 0:
        raise DataError(f"{path}: dataset.bin.dt must be positive, not {dt}")
    return dt


def _choose_model(results: dict[str, Any], name: str | None, path: Path) -> dict[str, Any]:
    from spikebench.errors import ConfigError

    models = [m for m in results["models"] if isinstance(m, dict)]
    names = [str(m.get("name")) for m in models]
    if name is not None:
        for m in models:
            if m.get("name") == name:
                return m
        raise ConfigError(f"{path}: no model {name!r}; models in this run: {', '.join(names) or '(none)'}")
    snns = [m for m in models if m.get("family") == "snn"]
    if len(snns) == 1:
        return snns[0]
    if not snns:
        raise ConfigError(f"{path}: no spiking model to export; models in this run: {', '.join(names)}")
    raise ConfigError(
        f"{path}: several spiking models ({', '.join(str(m.get('name')) for m in snns)}); "
        "choose one with --model"
    )


def cmd_export(args: argparse.Namespace) -> int:
    from spikebench.errors import ConfigError, DataError
    from spikebench.export.nir import export_nir
    from spikebench.models import create_model
    from spikebench.training.checkpoint import load_checkpoint

    run_dir = Path(args.run_dir)
    results_path = run_dir / "results.json"
    results = _read_results(run_dir)
    bin_dt = _bin_dt(results, results_path)
    entry = _choose_model(results, args.model, results_path)
    name = str(entry["name"])
    ckpt_path = run_dir / "checkpoints" / f"{name}.pt"
    state = load_checkpoint(ckpt_path)
    build = dict(state.get("build") or {})
    if "name" not in build:
        raise DataError(f"{ckpt_path}: lacks the model's build arguments ('build')")
    model = create_model(build.pop("name"), **build)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise DataError(f"{ckpt_path}: weights do not fit the model ({err})") from err
    model.eval()
    keys = results.get("dataset", {}).get("keys") or []
    try:
        graph = export_nir(model, args.nir, bin_dt=bin_dt, metadata={
            "spikebench_model": name,
            "spikebench_run": str(run_dir.resolve()),
            "spikebench_classes": ",".join(map(str, keys)),
        })
    except ConfigError as err:
        raise ConfigError(f"model {name!r} of {run_dir}: {err}") from None
    n_nodes = len(graph.nodes) - 2
    print(f"wrote {args.nir}: model {name!r} as {n_nodes} NIR nodes, "
          f"{1e3 * bin_dt:g} ms time bins (simulate with dt = {bin_dt:g} s)")
    return 0
