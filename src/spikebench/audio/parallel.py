"""Run many independent clip conversions in worker processes, in order, with progress.

Each clip is converted by one process (the cochlea kernels are single-threaded, so the
processes use the cores without oversubscription). Jobs are sent in chunks to keep the
inter-process traffic small; results come back in job order. A job that raises
:class:`~spikebench.errors.SpikebenchError` (or an ``OSError``/``RuntimeError`` from a
codec) yields a :class:`JobError` in its slot instead of stopping the run; any other
exception is a bug and propagates. Worker processes are started with ``spawn`` (safe
whatever threads the parent runs, e.g. PyTorch's); with one worker, or only a few jobs,
everything runs in this process.

``progress``, where accepted, is a callable ``progress(done, total)`` called in this
process after each finished chunk.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from spikebench.errors import SpikebenchError

Progress = Callable[[int, int], None]

__all__ = ["JobError", "Progress", "default_workers", "run_jobs"]


@dataclass(frozen=True)
class JobError:
    """A job that failed with a user-side error (unreadable file, empty audio, ...)."""

    message: str


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def _init_worker() -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"


def _run_chunk(fn: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    out = []
    for job in chunk:
        try:
            out.append(fn(job))
        except (SpikebenchError, OSError, RuntimeError, ValueError) as err:
            out.append(JobError(str(err).splitlines()[0] if str(err) else type(err).__name__))
    return out


def run_jobs(
    fn: Callable[[Any], Any],
    jobs: Sequence[Any],
    *,
    workers: int | None = None,
    chunksize: int | None = None,
    progress: Progress | None = None,
) -> list[Any]:
    """``[fn(job) for job in jobs]`` over ``workers`` processes (default: all cores).

    ``fn`` must be a module-level function (it is pickled by name).
    """
    n = len(jobs)
    workers = default_workers() if workers is None else max(int(workers), 1)
    workers = min(workers, max(n, 1))
    if chunksize is None:
        chunksize = max(1, min(16, n // (workers * 8) if workers > 1 else 16))
    chunks = [jobs[i : i + chunksize] for i in range(0, n, chunksize)]
    results: list[Any] = [None] * n
    done = 0
    if progress is not None:
        progress(0, n)
    if workers == 1 or n <= 2:
        for k, chunk in enumerate(chunks):
            results[k * chunksize : k * chunksize + len(chunk)] = _run_chunk(fn, chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, n)
        return results
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        try:
            pending = {pool.submit(_run_chunk, fn, chunk): k for k, chunk in enumerate(chunks)}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    k = pending.pop(future)
                    chunk_results = future.result()
                    results[k * chunksize : k * chunksize + len(chunk_results)] = chunk_results
                    done += len(chunk_results)
                    if progress is not None:
                        progress(done, n)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return results
