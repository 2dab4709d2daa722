"""Roll out an exported state expert in batched worlds and record RGB demonstrations.

Per policy step, for every world: render the cameras (randomized appearance, visual.py; with
``renderer="warp"`` all worlds in one call by MuJoCo Warp's batch renderer, warp_render.py), read
the proprioception from the env's newest observation frame, ask the expert for its action mean
on the batched observation history, record everything, step the env. A world's episode ends when
the env ends it (time-out or abnormal state; the env auto-resets it), and is kept when it
succeeded (or always, with ``keep_all``). Episode length is the env's ``episode_length_s``.

DAgger (``student``): an exported rgb student drives the worlds (one RgbPolicyRunner per world,
fed the rendered cameras, exactly as deployed) while the expert labels every visited state with
its action; with ``dagger_beta`` > 0 the expert's action is executed instead with that
probability per step. Such episodes are stored whether or not they succeed (the states a student
reaches on its own are the point), and the shard metadata names the student.

Expert std: the KL loss needs the expert's action distribution. Policies exported by
omnireset_sim.rl.export carry their exploration std as a module (action_std.pt: per dimension for
the Gaussian, state-dependent for gSDE) and it is recorded per step; for an exported policy without
one (e.g. a scripted expert) the std is the fixed per-dimension ``expert_std``. The shard metadata
says which (``expert_std_source``).
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from omnireset_control.rotations import quat_to_matrix
from omnireset_policy import observation_layout as layout
from omnireset_policy.exported_policy import git_revision, load_exported_policy
from omnireset_policy.student import shard_format as fmt

from .shards import Episode, ShardWriter
from .visual import RandomizedRenderer, VisualRandomizationCfg

DEFAULT_CAMERAS = ("front", "side", "wrist")
# "opengl": visual.RandomizedRenderer (MuJoCo's OpenGL, one world at a time, any engine);
# "warp": warp_render.WarpBatchRenderer (MuJoCo Warp's ray tracer, all worlds in one call, the
# mujoco_warp engine only). Same shard layout either way.
RENDERERS = ("opengl", "warp")
DEFAULT_EXPERT_STD = 0.1  # policy units, every action dimension (see module docstring)


def _term_slices() -> dict[str, slice]:
    out, start = {}, 0
    for name, dim in layout.POLICY_TERMS:
        out[name] = slice(start, start + dim)
        start += dim
    return out


TERM_SLICES = _term_slices()


@dataclass
class CollectConfig:
    task: str = "peg_insertion"
    variant: str = "easy"
    expert: str = ""
    out_dir: str = "data/expert_shards"
    num_envs: int = 4
    num_episodes: int = 8  # episodes to store (kept ones)
    max_attempts: int = 0  # episodes to run at most (0: 10 x num_episodes)
    episode_seconds: float | None = None  # None: the task's episode (TaskSpec.episode_length_s)
    cameras: tuple[str, ...] = DEFAULT_CAMERAS
    width: int | None = None  # None: config/cameras.yaml's image_size (the deployed cameras')
    height: int | None = None
    keep_all: bool = False
    success: str = "final"  # "final": success at the episode's last step; "any": at any step
    reset_dataset: str | None = None
    # Reset types of the dataset to start from (None: all four, 25 % each); e.g. ("near_goal",)
    # where the expert only succeeds from some of them and only successes are kept.
    reset_types: tuple[str, ...] | None = None
    expert_std: tuple[float, ...] = (DEFAULT_EXPERT_STD,) * layout.ACTION_DIM
    episodes_per_shard: int = 8
    visual: VisualRandomizationCfg = field(default_factory=VisualRandomizationCfg)
    student: str | None = None  # DAgger: an exported rgb policy acts, the expert labels
    dagger_beta: float = 0.0  # DAgger: probability of executing the expert's action instead
    # An episode whose target object gets farther than this from the robot base has blown up in
    # the physics (the env's abnormal check covers the arm only): it is never stored.
    object_bound_m: float = 3.0
    seed: int = 0
    nthread: int = 2
    renderer: str = "opengl"  # one of RENDERERS

    def __post_init__(self) -> None:
        if self.width is None or self.height is None:
            from ..assets.cameras import load_cameras

            deployed = load_cameras()
            self.width = self.width or deployed.width
            self.height = self.height or deployed.height
        if self.renderer not in RENDERERS:
            raise ValueError(f"renderer must be one of {', '.join(RENDERERS)}, got {self.renderer!r}")
        if self.success not in ("final", "any"):
            raise ValueError(f"success must be 'final' or 'any', got {self.success!r}")
        if self.num_envs < 1 or self.num_episodes < 1:
            raise ValueError("num_envs and num_episodes must be >= 1")
        if self.reset_types and not self.reset_dataset:
            raise ValueError("reset_types needs a reset_dataset")
        if len(self.expert_std) == 1:
            self.expert_std = tuple(self.expert_std) * layout.ACTION_DIM
        if len(self.expert_std) != layout.ACTION_DIM or not all(math.isfinite(s) and s > 0 for s in self.expert_std):
            raise ValueError(f"expert_std needs 1 or {layout.ACTION_DIM} finite positive values, got {self.expert_std}")
        if not (math.isfinite(self.object_bound_m) and self.object_bound_m > 0):
            raise ValueError(f"object_bound_m must be finite and > 0, got {self.object_bound_m}")
        if not 0.0 <= self.dagger_beta <= 1.0:
            raise ValueError(f"dagger_beta must be in [0, 1], got {self.dagger_beta}")
        ep = self.episode_seconds
        if ep is not None and not (ep > 0 and math.isfinite(ep)):
            raise ValueError(f"episode_seconds must be > 0, got {self.episode_seconds}")


@dataclass
class CollectStats:
    episodes_run: int = 0
    episodes_kept: int = 0
    episodes_abnormal: int = 0  # ended by a blow-up / abnormal robot state: never stored
    episodes_object_escaped: int = 0  # target object left object_bound_m (physics blow-up): never stored
    successes: int = 0
    steps: int = 0
    frames_rendered: int = 0
    seconds: float = 0.0
    render_seconds: float = 0.0
    shards: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames_rendered / self.seconds if self.seconds > 0 else 0.0


class _EpisodeBuffer:
    def __init__(self, cameras):
        self.cameras = cameras
        self.clear()

    def clear(self) -> None:
        self.images = {c: [] for c in self.cameras}
        self.arrays = {k: [] for k in fmt.STEP_ARRAYS}
        self.success_any = False
        self.object_escaped = False


def _pose9(pos: torch.Tensor, quat: torch.Tensor) -> torch.Tensor:
    q = quat / quat.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return layout.pose_to_features(pos, quat_to_matrix(q))


def make_renderer(cfg: CollectConfig, engine):
    """The renderer `cfg.renderer` names for `engine` (ValueError where it cannot draw that engine)."""
    if cfg.renderer == "warp":
        from .warp_render import WarpBatchRenderer

        return WarpBatchRenderer(engine, cfg.cameras, cfg.width, cfg.height, cfg.visual, seed=cfg.seed)
    return RandomizedRenderer(engine, cfg.cameras, cfg.width, cfg.height, cfg.visual, seed=cfg.seed)


def collect(cfg: CollectConfig, progress=None) -> CollectStats:
    """Run the expert until ``num_episodes`` are stored (or ``max_attempts`` ran); write shards."""
    from ..envs.vec_env import make_env

    expert = load_exported_policy(cfg.expert)
    if expert.kind != "state":
        raise ValueError(f"the expert must be a kind 'state' exported policy, {cfg.expert} is {expert.kind!r}")
    expert_module = expert.modules["policy"]
    expert_std_module = expert.modules.get("action_std")
    sampler = None
    if cfg.reset_dataset:
        from ..resets.dataset import DatasetResetSampler

        weights = None if not cfg.reset_types else {name: 1.0 for name in cfg.reset_types}
        sampler = DatasetResetSampler(cfg.reset_dataset, weights=weights, task=cfg.task, variant=cfg.variant)
    env = make_env(cfg.task, cfg.variant, cfg.num_envs, reset_sampler=sampler, episode_length_s=cfg.episode_seconds,
                   seed=cfg.seed, nthread=cfg.nthread)
    names = env.reset_sampler.reset_type_names
    try:
        renderer = make_renderer(cfg, env.engine)
    except BaseException:
        env.close()
        raise
    attrs = {
        "cameras": list(cfg.cameras), "image_size": [cfg.height, cfg.width],
        "camera_fovy_deg": renderer.nominal_fovy_deg(),
        "proprio_terms": list(fmt.PROPRIO_ARRAYS), "task": cfg.task, "variant": cfg.variant,
        "expert": str(Path(cfg.expert).resolve()),
        "expert_std_source": ("the expert's action distribution (action_std.pt, per observation)"
                              if expert_std_module is not None else
                              f"fixed {list(cfg.expert_std)} (the exported expert carries no action_std module)"),
        "reset_sampler": type(env.reset_sampler).__name__,
        "reset_dataset": str(Path(cfg.reset_dataset).resolve()) if cfg.reset_dataset else "",
        "reset_types_requested": list(cfg.reset_types or []),
        "reset_type_names": list(names), "episode_seconds": env.episode_length_s,
        "success_criterion": cfg.success, "kept": "all" if cfg.keep_all else "successful",
        "visual_randomization": cfg.visual.as_dict(),
        "renderer": {"name": cfg.renderer, **getattr(renderer, "settings", {})},
        "provenance": {"git_revision": git_revision(), "created_utc":
                       _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "seed": cfg.seed,
                       "made_by": "omnireset_sim.collect"},
    }
    runners = None
    if cfg.student:
        from omnireset_control.kinematics import BatchedKinematics
        from omnireset_policy.policy_runner import RgbPolicyRunner

        student = load_exported_policy(cfg.student)
        if student.kind != "rgb":
            raise ValueError(f"the DAgger student must be a kind 'rgb' exported policy, {cfg.student} is "
                             f"{student.kind!r}")
        want = (list(student.cameras["names"]), list(student.cameras["image_size"]))
        if set(want[0]) - set(cfg.cameras) or want[1] != [cfg.height, cfg.width]:
            raise ValueError(f"the DAgger student sees cameras {want[0]} at {want[1]}, the collection renders "
                             f"{list(cfg.cameras)} at {[cfg.height, cfg.width]}")
        runners = [RgbPolicyRunner(student, BatchedKinematics(env.kinematics_params)) for _ in range(cfg.num_envs)]
        attrs["dagger"] = {"student": str(Path(cfg.student).resolve()), "beta": cfg.dagger_beta}
    dagger_rng = np.random.default_rng(cfg.seed)
    writer = ShardWriter(Path(cfg.out_dir), attrs, tuple(cfg.cameras), cfg.episodes_per_shard)
    stats = CollectStats()
    max_attempts = cfg.max_attempts or 10 * cfg.num_episodes
    buffers = [_EpisodeBuffer(cfg.cameras) for _ in range(cfg.num_envs)]
    std = np.asarray(cfg.expert_std, dtype=np.float32)
    for i in range(cfg.num_envs):
        renderer.randomize(i)
    episode_reset_type = env.reset_type.clone()
    start = time.perf_counter()
    try:
        obs = env.get_observations()
        while stats.episodes_kept < cfg.num_episodes and stats.episodes_run < max_attempts:
            policy_obs = obs["policy"]
            with torch.inference_mode():
                mean = expert_module(policy_obs.to(torch.float32))
                if expert_std_module is not None:
                    std_rows = expert_std_module(policy_obs.to(torch.float32)).numpy().astype(np.float32)
                else:
                    std_rows = np.broadcast_to(std, (cfg.num_envs, std.size))
            if not torch.isfinite(mean).all():
                raise RuntimeError("the expert returned NaN/Inf actions")
            if not (np.isfinite(std_rows).all() and (std_rows > 0).all()):
                raise RuntimeError("the expert returned a non-finite or non-positive action std")
            frame = policy_obs[:, -layout.FRAME_DIM:]
            s = env.engine.state()
            target = _pose9(s.target_pos, s.target_quat).numpy()
            receptive = _pose9(s.receptive_pos, s.receptive_quat).numpy()
            mean_np = mean.numpy()
            escaped = ~torch.isfinite(s.target_pos).all(1) | (s.target_pos.norm(dim=1) > cfg.object_bound_m)
            t0 = time.perf_counter()
            executed = mean.clone()
            joint_pos = s.joint_pos.clone()
            frames_all, contacts = renderer.render_all()  # every world's cameras (warp: one batched call)
            for i, buf in enumerate(buffers):
                images = {c: frames_all[c][i] for c in cfg.cameras}
                contact = bool(contacts[i])
                if runners is not None:
                    frames = {c: (stats.steps, img) for c, img in images.items()}
                    step = runners[i].step(joint_pos[i].numpy(), frames)
                    if step.action is not None and dagger_rng.random() >= cfg.dagger_beta:
                        executed[i] = torch.from_numpy(step.action).to(executed.dtype)
                for cam in cfg.cameras:
                    buf.images[cam].append(images[cam])
                a = buf.arrays
                a["joint_pos"].append(frame[i, TERM_SLICES["joint_pos"]].numpy())
                a["ee_pose"].append(frame[i, TERM_SLICES["ee_pose"]].numpy())
                a["last_action"].append(frame[i, TERM_SLICES["last_action"]].numpy())
                a["action_mean"].append(mean_np[i])
                a["action_std"].append(np.array(std_rows[i]))
                a["target_pose"].append(target[i])
                a["receptive_pose"].append(receptive[i])
                a["contact"].append(contact)
            stats.render_seconds += time.perf_counter() - t0
            stats.frames_rendered += cfg.num_envs * len(cfg.cameras)
            obs, _, dones, extras = env.step(executed)
            stats.steps += cfg.num_envs
            success = extras["success"]
            abnormal = extras["abnormal"]
            for i, buf in enumerate(buffers):
                buf.success_any |= bool(success[i])
                buf.object_escaped |= bool(escaped[i])
            for i in torch.nonzero(dones).flatten().tolist():
                buf = buffers[i]
                ok = bool(success[i]) if cfg.success == "final" else buf.success_any
                stats.episodes_run += 1
                stats.successes += int(ok)
                stats.episodes_abnormal += int(bool(abnormal[i]))
                stats.episodes_object_escaped += int(buf.object_escaped)
                # an abnormal episode holds blown-up states (absurd poses): never training data
                keep = ok or cfg.keep_all or runners is not None
                if keep and not bool(abnormal[i]) and not buf.object_escaped and stats.episodes_kept < cfg.num_episodes:
                    t = int(episode_reset_type[i])
                    writer.add(Episode(
                        images={c: np.stack(buf.images[c]) for c in cfg.cameras},
                        arrays={k: np.stack(v) for k, v in buf.arrays.items()}, success=ok,
                        reset_type=t, reset_type_name=names[t] if t < len(names) else str(t)))
                    stats.episodes_kept += 1
                buf.clear()
                if runners is not None:
                    runners[i].reset()
                renderer.randomize(i)
                episode_reset_type[i] = env.reset_type[i]
                if progress is not None:
                    stats.seconds = time.perf_counter() - start
                    progress(stats)
        writer.flush()
    finally:
        stats.seconds = time.perf_counter() - start
        renderer.close()
        env.close()
    stats.shards = sorted(str(p) for p in Path(cfg.out_dir).glob(fmt.SHARD_GLOB))
    return stats
