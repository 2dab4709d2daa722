"""Training checkpoints: rsl-rl's saved dict plus the metadata that says what the policy is.

``infos["omnireset"]`` of every checkpoint holds the task, variant, robot, the observation layout
(omnireset_policy.observation_layout.layout_metadata), the observation-group sizes, the agent
config, the action scale and OSC gains in force (the finetune curriculum changes them), the
curriculum state, the reset source, seed, iteration, wall-clock time and git revision.
A checkpoint from another task, robot or observation layout is refused with the reason.
Checkpoints are written atomically (temporary file + rename).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
import tempfile
from pathlib import Path

import torch

from omnireset_policy import observation_layout as layout
from omnireset_policy.artifact_errors import ArtifactError, reading, verify_zip

CHECKPOINT_FORMAT = "omnireset-rl-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_PATTERN = re.compile(r"model_(\d+)\.pt$")


class CheckpointError(ArtifactError):
    """A checkpoint is missing, unreadable, or made for something else; the message says why."""


def atomic_torch_save(obj, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def make_metadata(env, agent_cfg: dict, *, seed: int, reset_source: str, iteration: int, wall_s: float,
                  env_steps: int, curriculum: dict | None = None, finetune: bool = False,
                  world_size: int = 1) -> dict:
    from omnireset_policy.exported_policy import git_revision

    obs = env.get_observations()
    cfg = env.cfg
    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "task": cfg.task,
        "variant": cfg.variant,
        "robot": cfg.scene.arm.robot,
        "engine": cfg.engine,
        "observation_layout": layout.layout_metadata(),
        "obs_dims": {k: int(v.shape[-1]) for k, v in obs.items()},
        "num_actions": int(env.num_actions),
        "agent_cfg": agent_cfg,
        "action_scale": [float(v) for v in env.action_scale.tolist()],
        "osc_gains": {"kp": [float(v) for v in cfg.osc_gains.kp], "zeta": [float(v) for v in cfg.osc_gains.zeta]},
        "finetune": bool(finetune),
        "curriculum": curriculum,
        "reset_source": reset_source,
        "seed": int(seed),
        # Ranks of a torchrun run (1: one process); env_cfg below is rank 0's (seed = the run's seed).
        "world_size": int(world_size),
        "iteration": int(iteration),
        "wall_s": float(wall_s),
        "env_steps": int(env_steps),
        "git_revision": git_revision(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
        "env_cfg": env_config_record(env),
        "reset_checksum": reset_checksum(env),
    }


# EnvCfg fields that change no number of a run (bit-identical across thread counts, test_native_stepper).
RESUME_IGNORED_ENV_FIELDS = ("nthread",)


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def env_config_record(env) -> dict:
    """The env's whole configuration (EnvCfg as nested plain data), for checkpoints and resume checks;
    the episode length as the env runs it (the task's when the cfg names none)."""
    record = dataclasses.asdict(env.cfg)
    record["episode_length_s"] = float(env.episode_length_s)
    return _jsonable(record)


def reset_checksum(env) -> str | None:
    """The checksum of the env's reset dataset (None for the default reaching sampler)."""
    dataset = getattr(env.reset_sampler, "dataset", None)
    meta = getattr(dataset, "meta", None) or {}
    return meta.get("checksum")


def _flatten(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def resume_differences(meta: dict, env, agent_cfg: dict, reset_source: str, *, check_code: bool = True,
                       rank: int = 0, world_size: int = 1) -> list[str]:
    """What differs between a checkpoint and the run that wants to continue it ("field: checkpoint
    value -> now"): the env configuration, the PPO / network config, the reset dataset (path and
    checksum), the number of torchrun ranks, and with ``check_code`` the git revision. Empty when
    the run continues as it was. Rank r of a distributed run compares its env as rank 0's (its
    seed is the run's seed + r)."""
    from omnireset_policy.exported_policy import git_revision

    diffs = []
    if int(meta.get("world_size", 1)) != int(world_size):
        diffs.append(f"world size (torchrun ranks): {int(meta.get('world_size', 1))} -> {int(world_size)}")
    theirs = _flatten(meta.get("env_cfg"), "env.")
    ours = _flatten(env_config_record(env), "env.")
    if rank and isinstance(ours.get("env.seed"), int):
        ours["env.seed"] -= int(rank)
    for key in sorted(set(theirs) | set(ours)):
        if key.split(".")[1] in RESUME_IGNORED_ENV_FIELDS:
            continue
        if theirs.get(key) != ours.get(key):
            diffs.append(f"{key}: {theirs.get(key)!r} -> {ours.get(key)!r}")
    theirs, ours = _flatten(meta.get("agent_cfg"), "agent."), _flatten(_jsonable(agent_cfg), "agent.")
    for key in sorted(set(theirs) | set(ours)):
        if theirs.get(key) != ours.get(key):
            diffs.append(f"{key}: {theirs.get(key)!r} -> {ours.get(key)!r}")
    if meta.get("reset_source") != reset_source:
        diffs.append(f"reset source: {meta.get('reset_source')!r} -> {reset_source!r}")
    if meta.get("reset_checksum") != reset_checksum(env):
        diffs.append(f"reset dataset checksum: {meta.get('reset_checksum')!r} -> {reset_checksum(env)!r}")
    if check_code and meta.get("git_revision") != git_revision():
        diffs.append(f"code (git revision): {meta.get('git_revision')!r} -> {git_revision()!r}")
    return diffs


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint dict (CPU) and check it is one of ours; raise CheckpointError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    # torch.load does not check the archive's CRCs (a flipped byte in a weight would load): check them,
    # then convert whatever torch / pickle raise for a truncated or foreign file.
    verify_zip(path, "not a readable torch checkpoint", CheckpointError)
    with reading(path, "not a readable torch checkpoint", CheckpointError):
        data = torch.load(path, weights_only=False, map_location="cpu")
    if not isinstance(data, dict) or "actor_state_dict" not in data:
        raise CheckpointError(f"{path}: not an rsl-rl checkpoint (no actor_state_dict)")
    meta = (data.get("infos") or {}).get("omnireset") if isinstance(data.get("infos"), dict) else None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: carries no OmniReset metadata (infos['omnireset']); cannot tell which task "
                              "and observation layout it was trained for")
    if meta.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format_version {meta.get('format_version')!r} is not supported "
                              f"(this code reads {CHECKPOINT_VERSION})")
    return data


def checkpoint_metadata(data: dict) -> dict:
    return data["infos"]["omnireset"]


def check_compatible(meta: dict, *, task: str, robot: str | None = None, variant: str | None = None,
                     obs_dims: dict | None = None, num_actions: int | None = None, where: str = "checkpoint") -> None:
    """Raise CheckpointError naming the first difference between a checkpoint and the env it is meant for."""
    if meta.get("task") != task:
        raise CheckpointError(f"{where} was trained for task {meta.get('task')!r}, not {task!r}")
    if variant is not None and meta.get("variant") != variant:
        raise CheckpointError(f"{where} was trained on variant {meta.get('variant')!r}, not {variant!r}")
    if robot is not None and meta.get("robot") != robot:
        raise CheckpointError(f"{where} was trained for robot {meta.get('robot')!r}, not {robot!r}")
    try:
        layout.check_layout(meta.get("observation_layout") or {})
    except ValueError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    if obs_dims is not None:
        theirs = meta.get("obs_dims") or {}
        for group, dim in obs_dims.items():
            if theirs.get(group) != dim:
                raise CheckpointError(f"{where}: observation group {group!r} has {theirs.get(group)} values there, "
                                      f"the env gives {dim}")
    if num_actions is not None and meta.get("num_actions") != num_actions:
        raise CheckpointError(f"{where}: {meta.get('num_actions')} actions, the env takes {num_actions}")


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every model_<it>.pt in a run directory, by iteration."""
    out = []
    for p in Path(run_dir).glob("model_*.pt"):
        m = CHECKPOINT_PATTERN.search(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(run_dir: str | Path) -> Path:
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"no model_<iteration>.pt checkpoint in {run_dir}")
    return found[-1][1]


__all__ = ["env_config_record", "reset_checksum", "resume_differences", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError", "atomic_torch_save", "check_compatible",
           "checkpoint_metadata", "latest_checkpoint", "list_checkpoints", "make_metadata", "read_checkpoint"]
