"""`spikebench export RUN_DIR --nir model.nir [--model NAME]`: a trained SNN as a NIR graph.

The model comes from :func:`spikebench.experiments.runner.load_trained` and is written by
:func:`spikebench.export.nir.export_nir` with the run's bin width (``dataset.bin.dt`` of
the run record), so the time constants are in real seconds.
LIF stacks with batch norm (``rsnn``, the ``sota`` rows) export with the norm folded into
the projection weights; models NIR cannot express (adaptive LIF, learned delays, CNN,
ANN) are a one-line error naming the model and the layer.
"""

from __future__ import annotations

import argparse
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


def _choose_model(run: Any, name: str | None, where: Path) -> str:
    from spikebench.errors import ConfigError
    from spikebench.models import model_info

    if name is not None:
        return name
    names = [m.name for m in run.models]
    snns = [m.name for m in run.models if model_info(m.model).nir_exportable]
    if len(snns) == 1:
        return snns[0]
    if not snns:
        raise ConfigError(f"{where}: no model NIR can express; models in this run: "
                          f"{', '.join(names) or '(none)'}")
    raise ConfigError(f"{where}: several exportable models ({', '.join(snns)}); choose one "
                      "with --model")


def cmd_export(args: argparse.Namespace) -> int:
    from spikebench.errors import ConfigError
    from spikebench.experiments.runner import load_trained
    from spikebench.export.nir import export_nir
    from spikebench.record import load_run, results_path

    run_dir = Path(args.run_dir)
    name = _choose_model(load_run(run_dir), args.model, results_path(run_dir))
    trained = load_trained(run_dir, name)
    dataset = trained.run.dataset
    try:
        graph = export_nir(trained.model, args.nir, bin_dt=dataset.bin.dt, metadata={
            "spikebench_model": name,
            "spikebench_run": str(run_dir.resolve()),
            "spikebench_classes": ",".join(dataset.keys),
        })
    except ConfigError as err:
        raise ConfigError(f"model {name!r} of {run_dir}: {err}") from None
    n_nodes = len(graph.nodes) - 2
    print(f"wrote {args.nir}: model {name!r} as {n_nodes} NIR nodes, "
          f"{1e3 * dataset.bin.dt:g} ms time bins (simulate with dt = {dataset.bin.dt:g} s)")
    return 0
