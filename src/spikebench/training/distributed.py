"""Data-parallel training under ``torchrun`` (PyTorch DistributedDataParallel).

``torchrun --nproc_per_node=K -m spikebench run ...`` starts K processes; each calls
:func:`init_from_env` (NCCL on CUDA, one GPU per process by ``LOCAL_RANK``; gloo on CPU).
Every process seeds, builds and shuffles exactly as a single process would, so all see the
same global batches ``(x [T, B, C], y [B])`` in the same order; :func:`shard` gives process
``r`` of ``K`` the ``r``-th of K contiguous, near-equal slices of each batch along ``B``.
:func:`wrap` puts the model in DistributedDataParallel, which averages the gradients of
the K slices: with equal slices that is the gradient of the whole batch (the mean loss),
so K processes train the same model as one, up to floating-point summation order. A
slice one sample shorter than the others (batch size not a multiple of K) is weighted
like the others; a training batch smaller than K is skipped by every process (DDP needs
the same number of steps everywhere). Batch norm uses per-process statistics on CPU and
synchronised ones (``SyncBatchNorm``) on CUDA.

Metrics are gathered, not averaged: :func:`gather_epoch` and :func:`gather_eval` sum the
loss, correct counts, sample counts and confusion matrices of all processes with
``all_reduce``, so accuracy is correct over the whole split (each sample counted once).
Without an initialised process group every function here is the identity.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from spikebench.errors import ConfigError
from spikebench.training.loop import EpochStats, EvalResult


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the group: ``rank`` of ``world_size``, GPU ``local_rank``."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str = "auto") -> DistInfo | None:
    """Join the process group torchrun described in the environment (None when not launched
    by torchrun with more than one process). ``device`` ``cuda``/``auto`` with GPUs uses
    NCCL and ``cuda:LOCAL_RANK``; otherwise gloo on CPU."""
    if not launched_by_torchrun():
        return None
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError) as err:
        raise ConfigError(f"torchrun environment incomplete or malformed ({err}); launch with "
                          "torchrun --nproc_per_node=N -m spikebench run ...") from None
    cuda = device != "cpu" and torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise ConfigError("--device cuda: no CUDA device available to this process")
    if cuda:
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local}: only {torch.cuda.device_count()} GPU(s) here; "
                              "use --nproc_per_node <= the number of GPUs")
        torch.cuda.set_device(local)
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local, backend)


def info() -> DistInfo | None:
    """The current process group's :class:`DistInfo` (None when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return DistInfo(dist.get_rank(), dist.get_world_size(),
                    int(os.environ.get("LOCAL_RANK", dist.get_rank())), dist.get_backend())


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in DistributedDataParallel (the model itself when not distributed)."""
    if info() is None:
        return model
    device = next(model.parameters()).device
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return nn.parallel.DistributedDataParallel(model)


def shard(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, train: bool = False,
          ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This process's slice of every batch (every batch when not distributed).

    ``train=True`` skips batches with fewer samples than processes (on every process);
    for evaluation an empty slice is simply not yielded (the counts are gathered).
    """
    me = info()
    if me is None:
        yield from batches
        return
    for x, y in batches:
        n = y.shape[0]
        if n < me.world_size and (train or me.rank >= n):
            continue
        idx = torch.tensor_split(torch.arange(n), me.world_size)[me.rank]
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        yield x[:, lo:hi], y[lo:hi]  # [T, B_r, C], [B_r]


def _sum(values: list[float], dtype: torch.dtype = torch.float64) -> list[float]:
    me = info()
    backend_device = torch.device("cuda", torch.cuda.current_device()) if (
        me is not None and me.backend == "nccl") else torch.device("cpu")
    t = torch.tensor(values, dtype=dtype, device=backend_device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def gather_epoch(stats: EpochStats) -> EpochStats:
    """Training loss and accuracy over the samples of all processes."""
    if info() is None:
        return stats
    loss_sum, correct, n, batch_sum, n_batches = _sum([
        stats.loss * stats.n_samples, round(stats.accuracy * stats.n_samples), stats.n_samples,
        stats.loss_batch_sum, stats.n_batches])
    # A global step is one batch on every process; its loss is the mean over processes.
    world = info().world_size
    return EpochStats(loss_sum / n, correct / n, int(n), batch_sum / world, round(n_batches / world))


def gather_eval(result: EvalResult) -> EvalResult:
    """Accuracy, loss and confusion matrix over the slices of all processes."""
    if info() is None:
        return result
    k = result.confusion.shape[0]
    local_loss = 0.0 if result.n_samples == 0 else result.loss * result.n_samples
    summed = _sum([local_loss, *result.confusion.reshape(-1).tolist()])
    confusion = torch.tensor(summed[1:], dtype=torch.float64).round().to(torch.int64).reshape(k, k)
    n = int(confusion.sum())
    correct = int(confusion.diagonal().sum())
    return replace(result, accuracy=correct / n if n else float("nan"), n_correct=correct,
                   n_samples=n, loss=summed[0] / n if n else float("nan"),
                   confusion=confusion.numpy())


def barrier() -> None:
    if info() is not None:
        dist.barrier()


def scratch_copy(run_dir: str | os.PathLike[str] | None, rank: int) -> Path:
    """A private folder for a non-main process; with ``run_dir`` (a resume) holding a copy of
    it as ``run/``, so every process resumes from the same checkpoints."""
    scratch = Path(tempfile.mkdtemp(prefix=f"spikebench-rank{rank}-"))
    if run_dir is not None and Path(run_dir).is_dir():
        shutil.copytree(run_dir, scratch / "run")
    return scratch
