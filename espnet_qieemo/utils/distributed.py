"""Leaving a torch.distributed run cleanly."""

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def clean_exit() -> Iterator[None]:
    """Let every rank finish before gloo/NCCL is torn down.

    ESPnet's trainer returns without destroying the process group, and rank 0 still averages
    the n-best models after the others are done. A rank that exits meanwhile tears its
    connections down under a live peer, which aborts a process now and then ("terminate
    called without an active exception") and fails a run that had finished. On an exception
    nothing is awaited: the other ranks may never reach the barrier.
    """
    yield
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
