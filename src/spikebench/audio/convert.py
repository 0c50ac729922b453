"""Convert a folder of labelled audio files (wav, flac, ...) into one SHD-schema file.

Labels, and optionally speakers, are read from each file's path relative to the folder
with regular expressions (the first capture group, or the group named ``label`` /
``speaker``). Class names: with ``keys`` (in label order) a captured label must be one of
them (or an index into them); without, integer labels are used as they are (names
``"0"``, ``"1"``, ...) and other labels are numbered in sorted order. Speakers: integers
as they are, names numbered in sorted order, 0 without a pattern.

Each file is read with soundfile (libsndfile: wav, flac, ogg, ...), mixed down to mono
(the mean of its channels) and converted at its own sample rate by
:func:`spikebench.audio.cochlea.waveform_to_spikes`, with the clip padded to a multiple
of ``length_quantum`` seconds so that clips of many lengths share a few cached
basilar-membrane transfer functions. Files run in worker processes
(:mod:`spikebench.audio.parallel`). A file that cannot be read, is empty or silent, or
whose name carries no label, is skipped and named in the summary; it never stops the
run. The output is written atomically, only after every file is done.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikebench.audio import cochlea
from spikebench.audio.parallel import JobError, Progress, run_jobs
from spikebench.errors import ConfigError, DataError

log = logging.getLogger(__name__)

__all__ = ["AUDIO_SUFFIXES", "ConvertSummary", "convert_folder", "find_audio"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".au")
DEFAULT_QUANTUM = 0.05


@dataclass
class ConvertSummary:
    """What :func:`convert_folder` did."""

    output: Path
    n_files: int
    n_converted: int
    n_events: int
    keys: tuple[str, ...]
    n_speakers: int
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)


@dataclass(frozen=True)
class _FileJob:
    path: str
    seed: int
    length_quantum: float | None
    cache_dir: str | None


def find_audio(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursively), sorted by relative path."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )


def _compile(pattern: str | None, what: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise ConfigError(f"--{what}-pattern {pattern!r} is not a valid regular expression: {err}") from err
    if regex.groups == 0:
        raise ConfigError(f"--{what}-pattern {pattern!r} needs a capture group, e.g. '(\\d+)_'")
    return regex


def _capture(regex: re.Pattern[str], text: str, group: str) -> str | None:
    match = regex.search(text)
    if match is None:
        return None
    value = match.group(group) if group in regex.groupindex else match.group(1)
    return value if value else None


def _as_int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\d+", text) else None


def _number_labels(found: list[str], keys: Sequence[str] | None) -> tuple[list[int | str], tuple[str, ...]]:
    """Label index per file (or a reason string), and the class names."""
    if keys is not None:
        index = {k: i for i, k in enumerate(keys)}
        out: list[int | str] = []
        for text in found:
            if text in index:
                out.append(index[text])
            elif _as_int(text) is not None and _as_int(text) < len(keys):
                out.append(_as_int(text))
            else:
                out.append(f"label {text!r} is not one of --keys")
        return out, tuple(keys)
    if all(_as_int(t) is not None for t in found):
        ints = [_as_int(t) for t in found]
        n = max(ints) + 1 if ints else 0
        return list(ints), tuple(str(i) for i in range(n))
    names = sorted(set(found))
    index = {k: i for i, k in enumerate(names)}
    return [index[t] for t in found], tuple(names)


def _number_speakers(found: list[str | None]) -> list[int]:
    if all(t is None or _as_int(t) is not None for t in found):
        return [0 if t is None else int(t) for t in found]
    names = sorted({t for t in found if t is not None})
    index = {k: i for i, k in enumerate(names)}
    return [0 if t is None else index[t] for t in found]


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Mono float64 samples and the sample rate of an audio file; DataError if unusable."""
    import soundfile

    try:
        samples, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (RuntimeError, OSError) as err:
        raise DataError(f"cannot read audio: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from err
    if samples.shape[0] == 0:
        raise DataError("the file holds no samples")
    return samples.mean(axis=1), int(rate)


def _convert_file(job: _FileJob) -> tuple[np.ndarray, np.ndarray, float]:
    wave, rate = read_audio(job.path)
    times, units = cochlea.waveform_to_spikes(
        wave, rate, seed=job.seed, length_quantum=job.length_quantum, cache_dir=job.cache_dir
    )
    return times, units, wave.size / rate


def convert_folder(
    audio_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    label_pattern: str,
    speaker_pattern: str | None = None,
    keys: Sequence[str] | None = None,
    workers: int | None = None,
    seed: int = 0,
    length_quantum: float | None = DEFAULT_QUANTUM,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> ConvertSummary:
    """Convert every audio file under ``audio_dir`` to spikes and write ``out_path`` (SHD schema).

    Raises ConfigError for a bad pattern or option, DataError when no file could be
    converted; files that fail are listed in the summary's ``skipped``.
    """
    from spikebench.data.paths import data_root
    from spikebench.data.shd import SpikeData, write_shd

    started = time.perf_counter()
    folder = Path(audio_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    if keys is not None:
        keys = tuple(k.strip() for k in keys)
        if not keys or any(not k for k in keys) or len(set(keys)) != len(keys):
            raise ConfigError(f"--keys must be distinct, non-empty names (got {','.join(keys)!r})")
    label_re = _compile(label_pattern, "label")
    speaker_re = _compile(speaker_pattern, "speaker")
    files = find_audio(folder)
    if not files:
        raise DataError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    rel = [p.relative_to(folder).as_posix() for p in files]
    skipped: list[tuple[str, str]] = []

    labelled = [(p, r, _capture(label_re, r, "label")) for p, r in zip(files, rel)]
    for _, r, lab in labelled:
        if lab is None:
            skipped.append((r, f"no label: the name does not match --label-pattern {label_pattern!r}"))
    labelled = [(p, r, lab) for p, r, lab in labelled if lab is not None]
    label_ids, class_names = _number_labels([lab for _, _, lab in labelled], keys)
    kept = []
    for (p, r, _), lab in zip(labelled, label_ids):
        if isinstance(lab, str):
            skipped.append((r, lab))
        else:
            kept.append((p, r, lab))
    speaker_ids = _number_speakers(
        [_capture(speaker_re, r, "speaker") if speaker_re else None for _, r, _ in kept]
    )

    cache = Path(cache_dir) if cache_dir is not None else data_root() / "cochlea"
    jobs = [
        _FileJob(str(p), int(np.random.SeedSequence([seed, i]).generate_state(1)[0]), length_quantum, str(cache))
        for i, (p, _, _) in enumerate(kept)
    ]
    # Longest first: better load balance, and equal lengths run together (shared transfer).
    order = sorted(range(len(jobs)), key=lambda i: -os.path.getsize(jobs[i].path))
    results_sorted = run_jobs(_convert_file, [jobs[i] for i in order], workers=workers, progress=progress)
    results: list = [None] * len(jobs)
    for i, result in zip(order, results_sorted):
        results[i] = result

    times, units, labels, speakers = [], [], [], []
    for (_, r, lab), spk, result in zip(kept, speaker_ids, results):
        if isinstance(result, JobError):
            skipped.append((r, result.message))
            continue
        t, u, _ = result
        times.append(t)
        units.append(u)
        labels.append(lab)
        speakers.append(spk)
    if not labels:
        reasons = "; ".join(f"{r}: {why}" for r, why in skipped[:3])
        raise DataError(f"{folder}: no file could be converted ({reasons})")
    if max(speakers) > 65535:
        raise DataError(f"{folder}: speaker ids must be within 0..65535 (the SHD schema stores uint16)")
    counts = np.array([len(t) for t in times], dtype=np.int64)
    data = SpikeData(
        times=np.concatenate(times).astype(np.float32),
        units=np.concatenate(units).astype(np.uint16),
        offsets=np.concatenate([[0], np.cumsum(counts)]),
        labels=np.array(labels, dtype=np.int64),
        speakers=np.array(speakers, dtype=np.int64),
        keys=class_names,
        n_channels=cochlea.DEFAULT_PARAMS.n_channels,
    )
    write_shd(out_path, data)
    skipped.sort()
    return ConvertSummary(
        output=Path(out_path),
        n_files=len(files),
        n_converted=len(labels),
        n_events=int(counts.sum()),
        keys=class_names,
        n_speakers=len(set(speakers)),
        seconds=time.perf_counter() - started,
        skipped=skipped,
    )
