"""Rebuild a trained actor from a checkpoint (for evaluation and export) without the PPO machinery."""

from __future__ import annotations

from pathlib import Path

import torch
from tensordict import TensorDict

from omnireset_policy import observation_layout as layout
from rsl_rl.utils import resolve_class

from .checkpoint import CheckpointError, checkpoint_metadata, read_checkpoint


def example_observations(meta: dict, batch: int = 1) -> TensorDict:
    """Zero observations with the checkpoint's group sizes (enough to build the networks)."""
    dims = meta["obs_dims"]
    return TensorDict({k: torch.zeros(batch, int(d)) for k, d in dims.items()}, batch_size=[batch])


class ExportedActor:
    """An exported state policy (a trained expert, the scripted oracle, ...) as an actor: TensorDict of
    observation groups -> actions, reading the ``policy`` group the deployed module reads."""

    def __init__(self, policy):
        self.policy = policy
        self.module = policy.modules["policy"]

    def __call__(self, obs: TensorDict) -> torch.Tensor:
        return self.module(obs["policy"].to(torch.float32))


def is_exported_policy(path) -> bool:
    from omnireset_policy.exported_policy import METADATA_FILE

    p = Path(path)
    return p.is_dir() and (p / METADATA_FILE).is_file()


def exported_policy_metadata(policy) -> dict:
    """The checkpoint-style metadata evaluate needs (task, variant, robot, action scale, gains, layout),
    read from an exported policy's metadata.yaml. A variant that is not one of the task's (a scripted
    policy records what it is, e.g. ``scripted_reach``) evaluates on ``easy`` unless told otherwise."""
    from ..tasks import get_task

    md = policy.metadata
    try:
        variants = get_task(md["task"]).variants
    except ValueError as exc:
        raise CheckpointError(f"{policy.path}: {exc}") from None
    return {"task": md["task"], "variant": md["variant"] if md["variant"] in variants else "easy",
            "robot": md["robot"], "action_scale": list(md["action"]["scale"]),
            "osc_gains": {"kp": list(md["control"]["gains"]["kp"]), "zeta": list(md["control"]["gains"]["zeta"])},
            "observation_layout": md["observation"], "exported": str(policy.path),
            "reset_source": (md.get("training") or {}).get("reset_source")
            or md.get("policy_type", md["provenance"].get("made_by", "exported policy"))}


def read_policy(path):
    """(actor data, metadata) from a checkpoint, a run directory (its latest checkpoint) or an exported
    policy directory; ``load_actor`` turns the actor data into an actor."""
    from omnireset_policy.exported_policy import load_exported_policy

    from .checkpoint import latest_checkpoint

    p = Path(path)
    if is_exported_policy(p):
        policy = load_exported_policy(p)
        if policy.kind != "state":
            raise CheckpointError(f"{p} is an RGB student ({policy.kind!r}); evaluate runs state policies, "
                                  "use omnireset_sim.collect.evaluate_student for students")
        return policy, exported_policy_metadata(policy)
    data = read_checkpoint(latest_checkpoint(p) if p.is_dir() else p)
    return data, checkpoint_metadata(data)


def load_actor(checkpoint, obs: TensorDict | None = None):
    """(actor in eval mode, metadata) from a checkpoint path, an already read checkpoint dict or a
    loaded exported policy (``read_policy``)."""
    from omnireset_policy.exported_policy import ExportedPolicy

    if isinstance(checkpoint, ExportedPolicy):
        return ExportedActor(checkpoint), exported_policy_metadata(checkpoint)
    data = checkpoint if isinstance(checkpoint, dict) else read_checkpoint(checkpoint)
    meta = checkpoint_metadata(data)
    cfg = meta["agent_cfg"]
    actor_class, actor_cfg = resolve_class(cfg["actor"])
    obs = obs if obs is not None else example_observations(meta)
    actor = actor_class(obs, cfg["obs_groups"], "actor", int(meta["num_actions"]), **actor_cfg)
    actor.load_state_dict(data["actor_state_dict"], strict=True)
    actor.eval()
    return actor, meta


def actor_input_dim(meta: dict) -> int:
    groups = meta["agent_cfg"]["obs_groups"]["actor"]
    return sum(int(meta["obs_dims"][g]) for g in groups)


def check_actor_reads_policy_layout(meta: dict) -> None:
    """Deployment feeds the policy node's layout only: the actor must read exactly the `policy` group."""
    groups = meta["agent_cfg"]["obs_groups"]["actor"]
    if list(groups) != ["policy"] or int(meta["obs_dims"]["policy"]) != layout.POLICY_OBS_DIM:
        raise ValueError(f"the actor reads observation groups {groups} "
                         f"({actor_input_dim(meta)} values); deployment provides only 'policy' "
                         f"({layout.POLICY_OBS_DIM} values)")


__all__ = ["ExportedActor", "actor_input_dim", "is_exported_policy", "read_policy", "check_actor_reads_policy_layout", "example_observations", "load_actor"]
