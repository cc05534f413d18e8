"""Data-parallel training on several GPUs (or CPU processes) with ``torchrun`` (chapters 10, 12, 13, 14).

When a student outgrows one GPU, the course's training commands run unchanged under PyTorch's own launcher::

    torchrun --nproc_per_node 4 -m course_utils.ie.ner_zh train ...

``torchrun`` starts one process per GPU and sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT``. :func:`init_distributed` reads them and joins the process group (NCCL on CUDA, gloo on CPU); a
plain ``python -m ...`` sees no such variables and gets a one-process context, so the same loop serves both.

What data parallelism does, in three lines: every process holds a full copy of the model, takes its own share of
each global batch (:func:`shard_batch`), and after the backward pass the gradients are averaged over processes
(:func:`wrap_model`, PyTorch's ``DistributedDataParallel``). One step on P processes with b examples each is
therefore one step with a batch of P x b, provided the loss is a *mean* over the examples of a batch; the tests
check that equality on two CPU processes (gloo).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "DistributedContext",
    "init_distributed",
    "launched_by_torchrun",
    "wrap_model",
    "unwrap_model",
    "shard_batch",
    "all_reduce_mean",
    "barrier",
    "shutdown",
    "main_process_first",
    "torchrun_command",
]

T = TypeVar("T")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a data-parallel run: its rank, the number of processes, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: Any

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and prints (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def launched_by_torchrun(environ: dict[str, str] | None = None) -> bool:
    """Return True when ``torchrun`` (or another launcher) set ``WORLD_SIZE`` above 1 for this process."""
    env = os.environ if environ is None else environ
    try:
        return int(env.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def init_distributed(device: Any = None, *, timeout_s: float = 600.0) -> DistributedContext:
    """Return this process's :class:`DistributedContext`, joining the process group when launched by torchrun.

    Under torchrun each process takes the GPU of its ``LOCAL_RANK`` (``cuda:<local rank>`` within what
    ``CUDA_VISIBLE_DEVICES`` shows) and the NCCL backend; on CPU, gloo. Without a launcher this returns rank 0 of
    1 on ``device`` (default :func:`course_utils.device.pick_device`). Calling it twice is harmless.
    """
    import torch
    import torch.distributed as dist

    from .device import pick_device

    # pick_device checks that an explicit choice (argument or COURSE_DEVICE) exists on this machine.
    wanted = pick_device(None if device is None else str(device))
    if not launched_by_torchrun():
        return DistributedContext(0, 1, 0, wanted)
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if wanted.type == "cuda":
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
        backend = "nccl"
    else:
        dev = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return DistributedContext(rank, world, local, dev)


def wrap_model(model: Any, ctx: DistributedContext, *, find_unused_parameters: bool = True) -> Any:
    """Return ``model`` wrapped in ``DistributedDataParallel`` when ``ctx`` is distributed, else ``model``.

    The wrapper averages gradients over processes during ``backward()``. By default parameters that a step does not
    use (BERT's pooler when the loss reads the token vectors, an unused head) are allowed
    (``find_unused_parameters=True``, one extra pass over the graph a step); pass False when every parameter is used.
    """
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap_model(model: Any) -> Any:
    """Return the module inside a ``DistributedDataParallel`` wrapper (or ``model`` itself)."""
    return getattr(model, "module", model)


def shard_batch(batch: Sequence[T], ctx: DistributedContext) -> list[T]:
    """Return this process's share of a global batch: items ``rank, rank + P, rank + 2P, ...``.

    Every process must see the same global batch (same seed, same order). With a global batch of P x b each
    process gets b items; a remainder goes to the lower ranks.
    """
    if not ctx.distributed:
        return list(batch)
    return list(batch[ctx.rank::ctx.world_size])


def all_reduce_mean(value: float, ctx: DistributedContext) -> float:
    """Return the mean of ``value`` over all processes (a loss to log, a validation score)."""
    if not ctx.distributed:
        return float(value)
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return float(tensor.item() / ctx.world_size)


def barrier(ctx: DistributedContext) -> None:
    """Wait until every process arrives (for example, before others read what rank 0 wrote)."""
    if ctx.distributed:
        import torch.distributed as dist

        dist.barrier()


def shutdown(ctx: DistributedContext) -> None:
    """Leave the process group at the end of a command (every torchrun command's ``finally``); a no-op alone."""
    if ctx.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


@contextlib.contextmanager
def main_process_first(ctx: DistributedContext) -> Iterator[None]:
    """Let rank 0 run the block first (a download, a cache), the others after it."""
    if not ctx.is_main:
        barrier(ctx)
    yield
    if ctx.is_main:
        barrier(ctx)


def torchrun_command(module: str, verb: str, args: Sequence[str] = (), *, gpus: int = 2) -> str:
    """Return the shell command that trains with ``gpus`` processes on one machine (chapters 10, 12-14)."""
    import shlex

    parts = ["torchrun", "--standalone", "--nproc_per_node", str(gpus), "-m", module, verb, *args]
    return " ".join(shlex.quote(p) for p in parts)
