"""`spikebench export RUN_DIR --nir FILE [--target T] [--model NAME] [--loihi-check]`.

Writes a trained SNN of a run as a NIR graph (:mod:`spikebench.export.nir`; ``--target``
``generic``, ``snntorch`` or ``norse``, see ``docs/deploy.md``) and/or, with
``--loihi-check``, runs its Loihi 2 fixed-point version (:mod:`spikebench.export.loihi`)
on the run's test file and prints float against fixed-point figures. The model comes from
:func:`spikebench.experiments.runner.load_trained`; the graph's time constants follow the
run's bin width (``dataset.bin.dt`` of the run record). LIF stacks with batch norm (``rsnn``, the ``sota`` rows) export with the norm folded into
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
        "export", help="write a trained spiking model of a run as a NIR graph; Loihi 2 check",
        description="Export a trained SNN of RUN_DIR to NIR (Neuromorphic Intermediate "
                    "Representation), and/or check its Loihi 2 fixed-point version on the "
                    "run's test file.",
    )
    from spikebench.export import TARGETS

    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--nir", metavar="PATH", help="output file (NIR HDF5)")
    p.add_argument("--target", choices=TARGETS, default="generic",
                   help="generic: faithful NIR in real time (simulate one bin per step of the "
                        "bin width); snntorch / norse: written for snntorch 1.0.0's "
                        "import_from_nir / norse 1.1.0's from_nir, which then run it as it is "
                        "(docs/deploy.md). Default: generic")
    p.add_argument("--model", metavar="NAME",
                   help="model name in the run (default: the run's only SNN)")
    p.add_argument("--loihi-check", action="store_true",
                   help="quantise to Loihi 2's integer formats, run the fixed-point model on the "
                        "run's test file and print its accuracy, agreement, spikes, synaptic "
                        "events and Loihi energy against the float model's")
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


def _splits(dataset: Any) -> tuple[Any, Any]:
    """The run's test file and training file (for calibration), binned as in the run."""
    from spikebench.data.binning import BinSpec
    from spikebench.data.cache import load_binned
    from spikebench.errors import DataError

    b = dataset.bin
    bins = BinSpec(dt=b.dt, t_max=b.t_max, pool=b.pool, binary=b.binary)
    files = Path(dataset.test_file), Path(dataset.train_file)
    for f in files:
        if not f.is_file():
            raise DataError(f"{f}: the run's data file is missing (the Loihi check reads it)")
    return load_binned(files[0], bins), load_binned(files[1], bins)


def _print_loihi(report: dict[str, Any], name: str, run_dir: Path) -> None:
    f, q = report["float"], report["fixed"]
    print(f"Loihi 2 fixed-point check of {name!r} ({run_dir}), test split, {report['n_samples']} samples")
    print(f"  {'':32s} {'float':>12s} {'fixed point':>12s}")
    rows = [("accuracy", f"{100 * f['accuracy']:.1f}%", f"{100 * q['accuracy']:.1f}%"),
            ("decisions equal to float", "", f"{100 * report['decisions_equal']:.1f}%"),
            ("spikes / sample", f"{f['spikes_per_sample']:,.0f}", f"{q['spikes_per_sample']:,.0f}"),
            ("synaptic events / sample", f"{f['synaptic_events_per_sample']:,.0f}",
             f"{q['synaptic_events_per_sample']:,.0f}"),
            ("energy / sample, Loihi estimate", f"{1e6 * f['loihi_energy_j']:.2f} uJ",
             f"{1e6 * q['loihi_energy_j']:.2f} uJ")]
    for label, a, b in rows:
        print(f"  {label:32s} {a:>12s} {b:>12s}")
    for lay in report["layers"]:
        exps = ", ".join(f"{k} 2^{lay[k + '_exp']}" for k in ("weight", "bias", "recurrent")
                         if lay[k + "_exp"] is not None)
        vth = f", vth {lay['vth']}" if lay["vth"] is not None else " (readout)"
        print(f"  {lay['name']}: 8-bit weights x {exps}; du {lay['du']}, dv {lay['dv']}{vth}")
    o = report["overflows"]
    print(f"  overflows: {o['current_wraps']} current wraps, {o['voltage_clips']} voltage clips, "
          f"{o['readout_resets']} readout resets, {o['inputs_over_16_bits']} inputs over 16 bits")


def cmd_export(args: argparse.Namespace) -> int:
    from spikebench.errors import ConfigError, DataError
    from spikebench.experiments.runner import load_trained
    from spikebench.fileio import check_output_file
    from spikebench.record import load_run, results_path

    if args.nir is None and not args.loihi_check:
        raise ConfigError("nothing to do: give --nir FILE, --loihi-check or both")
    if args.nir is not None:
        check_output_file(args.nir, f"--nir {args.nir}")
    run_dir = Path(args.run_dir)
    name = _choose_model(load_run(run_dir), args.model, results_path(run_dir))
    trained = load_trained(run_dir, name)
    dataset = trained.run.dataset
    if args.nir is not None:
        from spikebench.export.nir import export_nir

        try:
            graph = export_nir(trained.model, args.nir, bin_dt=dataset.bin.dt, target=args.target, metadata={
                "spikebench_model": name,
                "spikebench_run": str(run_dir.resolve()),
                "spikebench_classes": ",".join(dataset.keys),
            })
        except ConfigError as err:
            raise ConfigError(f"model {name!r} of {run_dir}: {err}") from None
        step = float(graph.metadata["spikebench_step_dt"])
        print(f"wrote {args.nir}: model {name!r} as {len(graph.nodes) - 2} NIR nodes for target "
              f"{args.target}, {1e3 * dataset.bin.dt:g} ms time bins (simulate one step of "
              f"dt = {step:g} s per bin)")
    if args.loihi_check:
        import numpy as np

        from spikebench.export.loihi import CALIBRATION_SAMPLES, loihi_check
        from spikebench.export.nir import spiking_layers

        try:
            spiking_layers(trained.model)
        except ConfigError as err:
            raise ConfigError(f"model {name!r} of {run_dir}: {err}") from None
        test, train = _splits(dataset)
        if len(test) != dataset.n_test:
            raise DataError(f"{dataset.test_file}: {len(test)} samples, but the run tested on "
                            f"{dataset.n_test}; the data file has changed since the run")
        picks = np.unique(np.linspace(0, len(train) - 1, min(CALIBRATION_SAMPLES, len(train))).astype(int))
        try:
            report = loihi_check(trained.model, test.batches(128), train.subset(picks).batches(128))
        except ConfigError as err:
            raise ConfigError(f"model {name!r} of {run_dir}: {err}") from None
        _print_loihi(report, name, run_dir)
        recorded = trained.record.test_acc
        if abs(report["float"]["accuracy"] - recorded) > 0.01:
            print(f"  note: the float accuracy differs from the run's recorded test accuracy "
                  f"({100 * recorded:.1f}%): has {dataset.test_file} changed since the run?")
    return 0
