"""Rebuild a trained actor from a checkpoint (for evaluation and export) without the PPO machinery."""

from __future__ import annotations

import torch
from tensordict import TensorDict

from omnireset_policy import observation_layout as layout
from rsl_rl.utils import resolve_class

from .checkpoint import checkpoint_metadata, read_checkpoint


def example_observations(meta: dict, batch: int = 1) -> TensorDict:
    """Zero observations with the checkpoint's group sizes (enough to build the networks)."""
    dims = meta["obs_dims"]
    return TensorDict({k: torch.zeros(batch, int(d)) for k, d in dims.items()}, batch_size=[batch])


def load_actor(checkpoint, obs: TensorDict | None = None):
    """(actor MLPModel in eval mode, metadata) from a checkpoint path or an already read checkpoint dict."""
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


__all__ = ["actor_input_dim", "check_actor_reads_policy_layout", "example_observations", "load_actor"]
