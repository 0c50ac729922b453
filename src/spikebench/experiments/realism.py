"""Leave one speech engine out: does what a model learns on the digits set carry to other voices?

Real recordings cannot ship with spikebench, so this is the stand-in check of the digits
set's realism: train on the English utterances of every engine but one and test on the
held-out engine's English utterances (all its speakers, from both files). A set whose
voices all come from one engine cannot pass it; one whose voices teach the digits rather
than an engine's quirks should lose little against the reference row ("none": the
ordinary held-out-speaker test, English classes only). Models are the study's CNN
(``cnn_p2``) and phase-1 SNN (``snn_p1``) from the ``seed`` experiment, trained as there
(validation speakers held out of the training split, the test split touched once).
German is spoken by eSpeak NG alone, so it has no engine to hold out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebench.audio.digits import ENGLISH, TEST_FILE, TRAIN_FILE, read_manifest, speaker_engines
from spikebench.data.shd import SpikeData, read_shd, write_shd
from spikebench.errors import ConfigError, DataError

__all__ = ["MODELS", "RealismRow", "engine_holdout", "run_realism"]

MODELS = ("cnn_p2", "snn_p1")


@dataclass(frozen=True)
class RealismRow:
    held_out: str  # an engine, or "none" for the held-out-speaker reference
    n_train: int
    n_test: int
    accuracy: dict[str, float]  # model name -> test accuracy


def _concat(parts: list[SpikeData]) -> SpikeData:
    counts = np.concatenate([p.counts() for p in parts])
    return dataclasses.replace(
        parts[0],
        times=np.concatenate([p.times for p in parts]),
        units=np.concatenate([p.units for p in parts]),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        labels=np.concatenate([p.labels for p in parts]),
        speakers=np.concatenate([p.speakers for p in parts]),
    )


def engine_holdout(
    train: SpikeData, test: SpikeData, engines: dict[int, str], held_out: str | None
) -> tuple[SpikeData, SpikeData]:
    """English utterances split by engine: (every other engine's, ``held_out``'s).

    ``engines`` maps speaker id -> engine (:func:`~spikebench.audio.digits.speaker_engines`).
    ``held_out=None`` gives the reference split: the training file's English utterances
    and the test file's.
    """

    def english(d: SpikeData) -> np.ndarray:
        return d.labels < len(ENGLISH)

    if held_out is None:
        return train.subset(np.flatnonzero(english(train))), test.subset(np.flatnonzero(english(test)))
    missing = sorted({int(s) for s in np.concatenate([train.speakers, test.speakers])} - set(engines))
    if missing:
        raise DataError(f"speakers {missing[:5]} are not in the digits manifest")
    parts_in, parts_out = [], []
    for d in (train, test):
        eng = np.array([engines[int(s)] for s in d.speakers])
        parts_in.append(d.subset(np.flatnonzero(english(d) & (eng != held_out))))
        parts_out.append(d.subset(np.flatnonzero(english(d) & (eng == held_out))))
    return _concat(parts_in), _concat(parts_out)


def run_realism(
    digits_dir: str | Path,
    out_dir: str | Path,
    *,
    held_out: tuple[str, ...] | None = None,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    root: str | Path | None = None,
    reference: bool = True,
) -> list[RealismRow]:
    """Train and test :data:`MODELS` once per held-out engine (and, with ``reference``,
    once for "none").

    ``held_out`` defaults to every engine of the set with English speakers. Each split is
    written as ``out_dir/<engine>/loo_{train,test}.h5`` and run as an ordinary experiment
    in ``out_dir/<engine>/run``.
    """
    from spikebench.experiments.config import load_experiment
    from spikebench.experiments.runner import run_experiment
    from spikebench.record import load_run

    digits_dir, out_dir = Path(digits_dir), Path(out_dir)
    engines = speaker_engines(read_manifest(digits_dir))
    train, test = read_shd(digits_dir / TRAIN_FILE), read_shd(digits_dir / TEST_FILE)
    present = sorted(set(engines.values()))
    held = list(held_out) if held_out else present
    for name in held:
        if name not in present:
            raise ConfigError(f"--hold-out {name}: the digits set has no {name} speakers "
                              f"(engines: {', '.join(present)})")  # fmt: skip
    rows = []
    for name in ([None] if reference else []) + held:
        tag = name or "none"
        a, b = engine_holdout(train, test, engines, name)
        if len(a) == 0 or len(b) == 0 or len(np.unique(a.speakers)) < 2:
            raise DataError(f"holding out {tag} leaves an empty split ({len(a)} train, {len(b)} test)")
        folder = out_dir / tag
        write_shd(folder / "loo_train.h5", a)
        write_shd(folder / "loo_test.h5", b)
        overrides = [f"select={','.join(MODELS)}", f"dataset={folder}", f"seed={seed}"]
        cfg = load_experiment("seed", overrides)
        if epochs is not None:
            cfg = dataclasses.replace(cfg, models=tuple(dataclasses.replace(m, epochs=epochs) for m in cfg.models))
        results = run_experiment(cfg, folder / "run", root=root, device=device)
        acc = {m.name: float(m.test_acc) for m in load_run(results.parent).models}
        rows.append(RealismRow(tag, len(a), len(b), acc))
    return rows
