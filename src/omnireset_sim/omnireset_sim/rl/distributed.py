"""Multi-process (multi-GPU) training under torchrun: rsl-rl's distributed mode, made usable here.

    torchrun --nproc_per_node K -m omnireset_sim.rl.train --engine mujoco_warp --device cuda ...

rsl-rl (5.5) reads WORLD_SIZE / RANK / LOCAL_RANK, averages gradients (all-reduce), the adaptive
learning rate's KL and the observation normalizers over the ranks, and broadcasts rank 0's
parameters before training. Its OnPolicyRunner._configure_multi_gpu hardcodes NCCL and device
cuda:LOCAL_RANK; this module is the replacement the OmniReset runner uses:

- device: a CUDA run trains rank r on cuda:LOCAL_RANK (``--device cuda`` or ``cuda:LOCAL_RANK``;
  any other index is refused, naming the rank); ``--device cpu`` runs every rank on the CPU with the
  gloo backend -- a *test mode* (a CPU machine can check the distributed code path; it is no faster
  than one process on the same cores);
- every rank has its own env of ``--num-envs`` worlds (rsl-rl's convention: the logger counts
  num_steps x num_envs x world_size samples per iteration) and seed ``--seed + RANK`` (its worlds
  and exploration noise differ; rank 0 is the single-process run with ``--seed``);
- only rank 0 writes (checkpoints, metrics, TensorBoard, config); a checkpoint holds every rank's
  RNG and env state (gathered to rank 0), so ``--resume`` with the same world size continues exactly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch

# torchrun's variables (torch.distributed.run sets all of them for every worker).
_ENV_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
# The gloo backend is what torch.distributed offers on the CPU; NCCL is CUDA-only.
CPU_BACKEND, CUDA_BACKEND = "gloo", "nccl"


@dataclass(frozen=True)
class DistContext:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, environ=None) -> "DistContext":
        """The context torchrun's variables describe (single process when WORLD_SIZE is unset or 1);
        ValueError naming a malformed or inconsistent variable."""
        environ = os.environ if environ is None else environ
        values = {}
        for name in _ENV_VARS:
            raw = environ.get(name, "1" if name == "WORLD_SIZE" else "0")
            try:
                values[name] = int(raw)
            except ValueError:
                raise ValueError(f"environment variable {name}={raw!r} is not an integer (set by torchrun)") from None
        world, rank, local = values["WORLD_SIZE"], values["RANK"], values["LOCAL_RANK"]
        if world < 1:
            raise ValueError(f"WORLD_SIZE={world} must be >= 1")
        if world == 1:
            return cls()
        if not 0 <= rank < world or not 0 <= local < world:
            raise ValueError(f"RANK={rank} / LOCAL_RANK={local} must lie in 0..WORLD_SIZE-1={world - 1}")
        return cls(world, rank, local)


def rank_device(requested: str, ctx: DistContext) -> str:
    """The device rank `ctx` trains on for `--device requested`: cpu stays cpu (gloo test mode);
    cuda / cuda:LOCAL_RANK -> cuda:LOCAL_RANK; ValueError for another index, naming the rank.
    A single process keeps its device as given."""
    name = str(requested)
    if not ctx.distributed or name == "cpu" or not name.startswith("cuda"):
        return name  # (an unknown device name is the engine check's to refuse)
    want = f"cuda:{ctx.local_rank}"
    if name not in ("cuda", want):
        raise ValueError(f"under torchrun the rank with LOCAL_RANK={ctx.local_rank} trains on {want}, but --device is "
                         f"{name}; pass --device cuda (each rank takes cuda:LOCAL_RANK)")
    if torch.cuda.is_available() and ctx.local_rank >= torch.cuda.device_count():
        raise ValueError(f"LOCAL_RANK={ctx.local_rank} needs {want}, but only {torch.cuda.device_count()} CUDA "
                         f"device(s) are visible; use --nproc_per_node <= {torch.cuda.device_count()}")
    return want


def backend_for(device: str) -> str:
    return CUDA_BACKEND if str(device).startswith("cuda") else CPU_BACKEND


def init_process_group(ctx: DistContext, device: str) -> None:
    """torch.distributed's default group for `ctx` on `device` (idempotent); sets the CUDA device."""
    import torch.distributed as dist

    if str(device).startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    if dist.is_initialized():
        if dist.get_world_size() != ctx.world_size or dist.get_rank() != ctx.rank:
            raise ValueError(f"a process group of {dist.get_world_size()} ranks (this one {dist.get_rank()}) is "
                             f"already initialized; torchrun asked for {ctx.world_size} (rank {ctx.rank})")
        return
    dist.init_process_group(backend=backend_for(device), rank=ctx.rank, world_size=ctx.world_size)


def destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, device: str) -> torch.Tensor:
    """The sum over ranks of `tensor` (a copy on the tensor's own device); NCCL needs it on the GPU."""
    import torch.distributed as dist

    buf = tensor.to(device).clone()
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.to(tensor.device)


def any_rank(flag: bool, device: str) -> bool:
    """True on every rank when `flag` is True on any (one collective: stop decisions must agree,
    else the ranks that go on wait forever in the next all-reduce)."""
    return bool(all_reduce_sum(torch.tensor([1 if flag else 0], dtype=torch.int64), device)[0] > 0)


def to_cpu(obj):
    """`obj` with every tensor moved to the CPU (what is gathered to rank 0 and written)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def gather_to_main(obj, ctx: DistContext) -> list | None:
    """[obj of rank 0, obj of rank 1, ...] on rank 0, None elsewhere (tensors moved to the CPU first)."""
    import torch.distributed as dist

    out = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(to_cpu(obj), out, dst=0)
    return out


def all_gather(obj, ctx: DistContext) -> list:
    import torch.distributed as dist

    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def state_digest(*state_dicts: dict) -> str:
    """sha256 over the names, dtypes, shapes and bytes of the tensors of `state_dicts` (actor and critic:
    parameters and normalizer buffers): equal digests on every rank = the ranks hold the same networks."""
    h = hashlib.sha256()
    for sd in state_dicts:
        for name in sorted(sd):
            t = sd[name].detach().cpu().contiguous().reshape(-1)
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


__all__ = ["CPU_BACKEND", "CUDA_BACKEND", "DistContext", "all_gather", "all_reduce_sum", "any_rank", "backend_for",
           "destroy_process_group", "gather_to_main", "init_process_group", "rank_device", "state_digest", "to_cpu"]
