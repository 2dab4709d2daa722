"""`export`: a training checkpoint -> the deployment package's exported-policy directory.

    export runs/peg_insertion_easy/<run>/model_500.pt --out exported/peg_easy [--overwrite]

The TorchScript module (omnireset_policy.exported_policy format, kind "state") holds the
observation normalizer, the actor MLP and the deterministic mean action; a second, traced module
(action_std.pt) gives the actor's exploration std per observation for the expert-data collector; the env and the policy
node share the observation layout and the gripper convention (observation_layout), so the module
takes the node's observation as is. Before writing, the module is checked against the in-process
actor on observations of real environment steps, and the written directory is loaded back the way
the policy node loads it.
"""

from __future__ import annotations

import argparse
import copy
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointError, read_checkpoint

EXPORT_TOLERANCE = 1e-5  # max |exported - in-process| action difference accepted at export time


class ExportedStatePolicy(nn.Module):
    """forward(obs [B, POLICY_OBS_DIM]) -> mean action [B, 7]."""

    def __init__(self, actor):
        super().__init__()
        self.actor = actor.as_jit()  # a copy: normalizer + MLP + deterministic (mean) output

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)


class ActionStd(nn.Module):
    """forward(obs [B, POLICY_OBS_DIM]) -> the actor's action std [B, 7] (its exploration distribution:
    per dimension for the Gaussian, state-dependent for gSDE). Saved traced, next to the policy, for
    the expert-data collector (the student's KL target); deployment never runs it."""

    def __init__(self, actor):
        super().__init__()
        self.obs_normalizer = copy.deepcopy(actor.obs_normalizer)
        self.mlp = copy.deepcopy(actor.mlp)
        self.distribution = copy.deepcopy(actor.distribution)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.mlp(self.obs_normalizer(obs))
        self.distribution.update(out)
        return self.distribution.std.expand(obs.shape[0], -1)


def trace_action_std(actor) -> torch.jit.ScriptModule:
    from omnireset_policy.exported_policy import quiet_torchscript
    from omnireset_policy.observation_layout import POLICY_OBS_DIM

    module = ActionStd(actor).eval()
    with quiet_torchscript(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # Normal() argument checks: constant here
        return torch.jit.trace(module, torch.zeros(2, POLICY_OBS_DIM), check_trace=False)


def max_action_difference(actor, exported, env, steps: int = 5, action_std=None) -> float:
    """Max |exported(obs["policy"]) - actor(obs)| over `steps` env steps driven by the actor (and the
    same for the action std module, when given, against the actor's distribution)."""
    worst = 0.0
    with torch.inference_mode():
        obs = env.get_observations()
        for _ in range(steps):
            reference = actor(obs)
            out = exported(obs["policy"])
            worst = max(worst, float((out - reference).abs().max()))
            if action_std is not None:
                actor(obs, stochastic_output=True)
                _, ref_std = actor.output_distribution_params
                worst = max(worst, float((action_std(obs["policy"]) - ref_std).abs().max()))
            obs, _, _, _ = env.step(reference)
    return worst


def export_checkpoint(checkpoint, out_dir: str | Path, overwrite: bool = False, check_steps: int = 5) -> Path:
    from omnireset_policy.exported_policy import (load_exported_policy, make_metadata, quiet_torchscript,
                                                  save_exported_policy)

    from .policy import check_actor_reads_policy_layout, load_actor

    data = checkpoint if isinstance(checkpoint, dict) else read_checkpoint(checkpoint)
    meta = data["infos"]["omnireset"]
    check_actor_reads_policy_layout(meta)
    actor, _ = load_actor(data)
    module = ExportedStatePolicy(actor).eval()
    action_std = trace_action_std(actor)
    metadata = make_metadata(kind="state", task=meta["task"], variant=meta["variant"], robot=meta["robot"],
                             action_scale=meta["action_scale"], gains_kp=meta["osc_gains"]["kp"],
                             gains_zeta=meta["osc_gains"]["zeta"], seed=meta.get("seed"),
                             made_by="omnireset_sim.rl.export")
    metadata["training"] = {
        "checkpoint": None if isinstance(checkpoint, dict) else str(checkpoint),
        "iteration": meta.get("iteration"), "env_steps": meta.get("env_steps"), "wall_s": meta.get("wall_s"),
        "reset_source": meta.get("reset_source"), "finetune": meta.get("finetune"),
        "curriculum_levels": (meta.get("curriculum") or {}).get("levels"),
        "training_git_revision": meta.get("git_revision"), "engine": meta.get("engine"),
        "exploration": meta["agent_cfg"]["actor"]["distribution_cfg"]["class_name"],
    }
    if check_steps > 0:
        from .evaluate import env_for_checkpoint

        env = env_for_checkpoint(meta, 8, seed=0)
        with quiet_torchscript():
            scripted = torch.jit.script(module)
        diff = max_action_difference(actor, scripted, env, check_steps, action_std)
        env.close()
        if diff > EXPORT_TOLERANCE:
            raise RuntimeError(f"exported module differs from the in-process actor by {diff:.3g} (> {EXPORT_TOLERANCE})")
        metadata["training"]["export_check_max_abs_diff"] = diff
    path = save_exported_policy({"policy": module, "action_std": action_std}, metadata, out_dir, overwrite=overwrite)
    load_exported_policy(path)  # what the node will do
    return path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint (model_<it>.pt) or run directory (its latest)")
    p.add_argument("--out", required=True, help="exported policy directory")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--check-steps", type=int, default=5, help="env steps of the exported-vs-in-process check (0: skip)")
    return p


def main(argv: list[str] | None = None) -> int:
    from omnireset_policy.exported_policy import ExportedPolicyError

    args = build_parser().parse_args(argv)
    try:
        from .checkpoint import latest_checkpoint

        src = Path(args.checkpoint)
        src = latest_checkpoint(src) if src.is_dir() else src
        path = export_checkpoint(src, args.out, overwrite=args.overwrite, check_steps=args.check_steps)
    except (ValueError, CheckpointError, ExportedPolicyError, FileNotFoundError) as exc:
        print(f"export: error: {exc}", file=sys.stderr)
        return 2
    print(f"exported {src} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
