"""Data-parallel runs under ``torchrun``: one process per device, rank 0 speaks for the run.

``torchrun --nproc_per_node=N -m toolkit run recipe.toml`` starts N copies of the command
with ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set.
:func:`session` joins them into one process group for the run (NCCL when the run's device
is CUDA, each process on the GPU numbered ``LOCAL_RANK``; Gloo on the CPU) and leaves it at
the end. Inside it:

- the training loop (:func:`toolkit.training.train`) wraps the model in
  ``DistributedDataParallel`` and gives each process its own shard of every epoch;
- rank 0 alone writes the run folder and the artifact cache; the other ranks run the same
  task into a temporary folder that is removed at the end, and never touch the cache;
- rank 0 decides whether a model comes from the cache or is trained, and every rank follows
  (:func:`shared_hit`, :func:`shared_miss`): one rank training while another loads would
  leave the first waiting for the second forever;
- rank 0 loads the data first, then the first process of each other machine, then the
  rest (:func:`main_first`), so a download happens once per data folder.

Without torchrun (or with ``WORLD_SIZE=1``) nothing here does anything: the functions read
the environment, and ``torch.distributed`` is never called. See ``docs/distributed.md``.

Example:
    >>> launched(), is_main(), active()  # a plain process
    (False, True, False)
    >>> broadcast({"hit": False})  # without a process group: the object itself
    {'hit': False}
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import RunError, UsageError

if TYPE_CHECKING:
    import torch
    from torch import nn

#: What torchrun sets besides ``WORLD_SIZE``.
_ENV = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class _Group:
    """The process group this process has joined: its backend and the device its
    collectives run on (the process's GPU for NCCL, the CPU for Gloo)."""

    backend: str
    device: torch.device


_GROUP: _Group | None = None


def launched() -> bool:
    """Whether this process is one of several that torchrun started (``WORLD_SIZE`` > 1)."""
    raw = os.environ.get("WORLD_SIZE", "1")
    try:
        size = int(raw)
    except ValueError:
        raise UsageError(f"WORLD_SIZE={raw!r} is not a whole number; start the run with torchrun") from None
    if size <= 1:
        return False
    missing = [name for name in _ENV if not os.environ.get(name)]
    if missing:
        raise UsageError(
            f"WORLD_SIZE is {size} but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            "not set: start the run with torchrun (see docs/distributed.md), or unset WORLD_SIZE"
        )
    return True


def rank() -> int:
    """This process's rank among all processes of the run (0 without torchrun)."""
    return int(os.environ["RANK"]) if launched() else 0


def local_rank() -> int:
    """This process's rank on its machine, which picks its GPU (0 without torchrun)."""
    return int(os.environ["LOCAL_RANK"]) if launched() else 0


def world_size() -> int:
    """How many processes run the recipe together (1 without torchrun)."""
    return int(os.environ["WORLD_SIZE"]) if launched() else 1


def is_main() -> bool:
    """Whether this process speaks for the run: rank 0, or the only process."""
    return rank() == 0


def rank_label() -> str:
    """`` (rank R of W)`` under torchrun, for messages every process prints (errors);
    ``""`` otherwise, also when the environment is malformed."""
    try:
        return f" (rank {rank()} of {world_size()})" if launched() else ""
    except UsageError:
        return ""


def active() -> bool:
    """Whether this process is inside a :func:`session` (a joined process group)."""
    return _GROUP is not None


@contextmanager
def session(device: str) -> Iterator[Path | None]:
    """The process group of one run, for ``runtime.device`` ``device``; left at the end,
    also when the run fails.

    Yields ``None`` on rank 0 (it writes where it was asked to) and a temporary folder on
    every other rank: its run folder goes there, and the folder is removed at the end.
    """
    init(device)
    scratch = None if is_main() else Path(tempfile.mkdtemp(prefix=f"toolkit-rank{rank()}-"))
    try:
        yield scratch
    finally:
        teardown()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def init(device: str) -> None:
    """Join the process group: NCCL when ``device`` resolves to CUDA (this process then uses
    GPU ``LOCAL_RANK``), Gloo on the CPU. Raises :class:`UsageError` for a device that
    data-parallel training cannot use, :class:`RunError` when the processes cannot meet."""
    global _GROUP
    import torch
    import torch.distributed as dist

    from toolkit.runtime import resolve_device

    kind = resolve_device(device).type
    if not dist.is_available():
        raise UsageError("this build of torch has no torch.distributed; run without torchrun")
    if kind == "cuda":
        local, count = local_rank(), torch.cuda.device_count()
        if local >= count:
            raise UsageError(
                f"LOCAL_RANK is {local} but this machine has {count} GPU{'s' if count != 1 else ''}: "
                f"start at most {count} processes per machine (torchrun --nproc_per_node={count})"
            )
        comm, backend = torch.device("cuda", local), "nccl"
        torch.cuda.set_device(comm)
    elif kind == "cpu":
        comm, backend = torch.device("cpu"), "gloo"
    else:
        raise UsageError(
            f"runtime.device is '{device}', which data-parallel training cannot use; "
            "use 'cuda' or 'cpu' under torchrun"
        )
    try:
        dist.init_process_group(backend, device_id=comm if backend == "nccl" else None)
    except (RuntimeError, ValueError) as exc:
        raise RunError(
            f"rank {rank()} could not join the other {world_size() - 1} process(es) at "
            f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} ({exc}); check torchrun's "
            "--master-addr/--master-port or --rdzv-endpoint"
        ) from exc
    _GROUP = _Group(backend, comm)


def teardown() -> None:
    """Leave the process group (nothing when none was joined)."""
    global _GROUP
    if _GROUP is None:
        return
    import torch.distributed as dist

    _GROUP = None
    if dist.is_initialized():
        dist.destroy_process_group()


def place(device: torch.device) -> torch.device:
    """The device this process computes on: under a session with CUDA, its own GPU
    (``cuda:LOCAL_RANK``, whatever index ``runtime.device`` names); else ``device``."""
    if _GROUP is not None and device.type == "cuda":
        return _GROUP.device
    return device


def describe() -> dict[str, Any]:
    """What ``meta.json`` records of the process group (``{}`` without one)."""
    if _GROUP is None:
        return {}
    return {"distributed": {"world_size": world_size(), "backend": _GROUP.backend}}


def note() -> str:
    """``, rank R of W (backend, data-parallel)`` for the run's first log line (``""``
    without a process group)."""
    if _GROUP is None:
        return ""
    return f", rank {rank()} of {world_size()} ({_GROUP.backend}, data-parallel)"


def barrier() -> None:
    """Wait until every process gets here (nothing without a process group)."""
    if _GROUP is None:
        return
    import torch.distributed as dist

    if _GROUP.backend == "nccl":
        dist.barrier(device_ids=[_GROUP.device.index])
    else:
        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """The body in three turns: rank 0; then the first process of every other machine
    (``LOCAL_RANK`` 0); then the rest. A data set that rank 0 downloads or unpacks into a
    shared folder, or each machine's first process into its own disk, is only read by the
    processes after it. Without a process group, the body once."""
    if _GROUP is None:
        yield
        return
    turn = 0 if is_main() else 1 if local_rank() == 0 else 2
    for _ in range(turn):
        barrier()
    yield
    for _ in range(2 - turn):
        barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (``obj`` itself without a process group). It travels
    as JSON, so it must be JSON-serializable; nothing is unpickled."""
    if _GROUP is None:
        return obj
    import torch
    import torch.distributed as dist

    payload = json.dumps(obj).encode("utf-8") if is_main() else b""
    size = torch.tensor([len(payload)], dtype=torch.long, device=_GROUP.device)
    dist.broadcast(size, src=0)
    if is_main():
        buffer = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(_GROUP.device)
    else:
        buffer = torch.empty(int(size.item()), dtype=torch.uint8, device=_GROUP.device)
    dist.broadcast(buffer, src=0)
    return obj if is_main() else json.loads(bytes(buffer.cpu().numpy()).decode("utf-8"))


def sum_all(values: list[float]) -> list[float]:
    """The element-wise sums of ``values`` over all ranks (``values`` without a process group)."""
    if _GROUP is None:
        return values
    import torch
    import torch.distributed as dist

    total = torch.tensor(values, dtype=torch.float64, device=_GROUP.device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return [float(v) for v in total.cpu()]


def shared_hit(hit: tuple[dict[str, Any], dict[str, Any]] | None, model: nn.Module) -> Any:
    """Rank 0's cache look-up for ``model``, on every rank: ``hit`` is this rank's
    ``(state, meta)`` or ``None``.

    Rank 0 announces a hit as soon as it has one and sends its weights; a miss it announces
    only when it starts training (:func:`shared_miss`), since it may look again under the
    cache's lock first. Every other rank (which has no cache) calls this once per model,
    waits for the decision and, on a hit, returns rank 0's weights (now also in ``model``)
    and metadata. Without a process group, ``hit`` itself.
    """
    if _GROUP is None:
        return hit
    if is_main():
        if hit is None:
            return None
        model.load_state_dict(hit[0])
        broadcast(hit[1])
        _send_weights(model)
        return hit
    meta = broadcast(None)
    if meta is None:
        return None
    _send_weights(model)
    return dict(model.state_dict()), meta


def shared_miss() -> None:
    """Rank 0 tells the others that the model it looked up is trained, not loaded
    (see :func:`shared_hit`); nothing on other ranks or without a process group."""
    if _GROUP is not None and is_main():
        broadcast(None)


def _send_weights(model: nn.Module) -> None:
    """Rank 0's parameters and buffers into ``model`` on every rank, in place."""
    send(model.state_dict().values())


def send(tensors: Iterable[torch.Tensor]) -> None:
    """Rank 0's values of ``tensors`` into them on every rank, in place (nothing without a
    process group)."""
    if _GROUP is None:
        return
    import torch.distributed as dist

    for tensor in tensors:
        on_device = tensor.device == _GROUP.device and tensor.is_contiguous()
        buffer = tensor if on_device else tensor.contiguous().to(_GROUP.device)
        dist.broadcast(buffer, src=0)
        if buffer is not tensor:
            tensor.copy_(buffer)
