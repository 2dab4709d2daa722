"""`evaluate`: how good is a trained policy (deterministic mean action unless noise is injected).

    evaluate CKPT                       success from reaching resets (the paper's metric), Wilson 95 % CI,
                                        + xy success scatter (Fig. 7 style)      -> <out>/results.json, scatter.png
    evaluate CKPT --robustness          success under perturbation forces of growing magnitude (Fig. 6 style)
    evaluate CKPT --gif rollout.gif     a GIF of one rollout (front camera)
    evaluate --select-seeds A.pt B.pt --action-noise 0.5   rank policies by success under action noise (A.3.10)
    evaluate --curve RUN_DIR [RUN_DIR ...]   success from reaching resets of every checkpoint vs wall-clock
    evaluate --curve RUN_DIR --resets DATASET --reset-type near_goal   the same from one reset type
    evaluate CKPT --by-reset-type --resets DATASET [--compare BASELINE.pt]   success from each reset type
                                        of the dataset and from reaching resets, policies side by side

CKPT may also be an exported policy directory (``rl.export``'s output, ``omnireset_sim.oracle``'s, a
scripted policy): what ships is what gets measured.

Episodes start from the env's default reaching sampler whatever the policy was trained on (unless a
reset dataset and type are asked for); a
policy finetuned to the deployment action scale / gains is evaluated with the scale and gains
stored in its checkpoint. A perturbation is a force of the given magnitude on the target object,
in a random horizontal direction, held for --force-duration s at the start of the episode (applied
as the equivalent velocity change of the object: the engine's batched stepping takes no external
forces).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, check_compatible, list_checkpoints, read_checkpoint

DEFAULT_FORCES = (0.0, 0.25, 0.5, 1.0, 2.0)  # N, held for DEFAULT_FORCE_DURATION
DEFAULT_FORCE_DURATION = 0.1  # s (one policy step)
WILSON_Z = 1.959963984540054  # 95 %


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (good also near 0 and 1, unlike the normal one)."""
    if n <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class EpisodeBatch:
    success: np.ndarray  # [E] bool, success at the episode's last step
    success_any: np.ndarray  # [E] bool, success at any step
    initial_xy: np.ndarray  # [E,2] target object x-y at the start (base_link, m)
    abnormal: np.ndarray  # [E] bool
    frames: list  # RGB frames of env 0 (when recorded)

    @property
    def rate(self) -> float:
        return float(self.success.mean()) if self.success.size else math.nan

    def summary(self) -> dict:
        n, k = int(self.success.size), int(self.success.sum())
        lo, hi = wilson_interval(k, n)
        return {"episodes": n, "successes": k, "success_rate": k / n, "ci95": [lo, hi],
                "success_any_rate": float(self.success_any.mean()), "abnormal_rate": float(self.abnormal.mean())}


# ---- environment / policy ----------------------------------------------------------------------
def env_for_checkpoint(meta: dict, num_envs: int, seed: int, task: str | None = None, variant: str | None = None,
                       nthread: int = 2, randomization: str | None = None, episode_length_s: float | None = None,
                       reset_sampler=None):
    """An env with the checkpoint's action scale and gains, starting from `reset_sampler` (default:
    the env's reaching sampler, the paper's metric) (`episode_length_s`: another horizon than the
    task's episode, TaskSpec.episode_length_s, e.g. for quick checks)."""
    from omnireset_control.constants import OscGains

    from .envs import build_env, randomization_preset

    preset = randomization or ("finetune" if meta.get("finetune") else "train")
    gains = OscGains(kp=tuple(meta["osc_gains"]["kp"]), zeta=tuple(meta["osc_gains"]["zeta"]))
    extra = {} if episode_length_s is None else {"episode_length_s": float(episode_length_s)}
    clip = (meta.get("env_cfg") or {}).get("action_clip")
    if clip is not None:  # trained with an action clamp (an ablation): evaluated with it
        extra["action_clip"] = float(clip)
    return build_env(task or meta["task"], variant or meta["variant"], num_envs, seed=seed, nthread=nthread,
                     randomization=randomization_preset(preset), action_scale=tuple(meta["action_scale"]),
                     osc_gains=gains, reset_sampler=reset_sampler, **extra)


def load_dataset_sampler(path: str | Path, meta: dict, variant: str | None = None):
    """The reset dataset at `path` as a DatasetResetSampler, checked against the checkpoint's task,
    variant and robot (loaded once; `only_reset_type` derives per-type samplers from it)."""
    from .resets import make_reset_sampler

    sampler, _ = make_reset_sampler(path, meta["task"], variant or meta["variant"])
    return sampler


def only_reset_type(sampler, reset_type: str):
    """A sampler over the same loaded dataset drawing only `reset_type` states (the sampler itself
    refuses an unknown type, naming the valid ones, and a type without states)."""
    from omnireset_sim.resets import DatasetResetSampler

    return DatasetResetSampler(sampler.dataset, weights={reset_type: 1.0})


def dataset_sampler(path: str | Path, reset_type: str, meta: dict, variant: str | None = None):
    """A sampler drawing only `reset_type` states from the reset dataset at `path`."""
    return only_reset_type(load_dataset_sampler(path, meta, variant), reset_type)


def target_dof_slice(env) -> slice:
    """The target object's linear-velocity entries in the engine's FULLPHYSICS state rows."""
    from ..assets.scene import TARGET_JOINT

    model = env.engine.model
    start = 1 + model.nq + int(model.joint(TARGET_JOINT).dofadr[0])
    return slice(start, start + 3)


def push_target(env, force: float, duration: float, generator: torch.Generator) -> None:
    """Velocity change of a horizontal force `force` N held `duration` s on every env's target object."""
    if force == 0.0:
        return
    n = env.num_envs
    angle = torch.rand(n, generator=generator, dtype=torch.float64) * 2 * math.pi
    dv = (force * duration / env.dynamics.target_mass.to(torch.float64)).reshape(n)
    state = env.engine.raw_state()
    sl = target_dof_slice(env)
    state[:, sl.start] += (dv * torch.cos(angle)).numpy()
    state[:, sl.start + 1] += (dv * torch.sin(angle)).numpy()


def run_episodes(env, actor, *, action_noise: float = 0.0, force: float = 0.0,
                 force_duration: float = DEFAULT_FORCE_DURATION, seed: int = 0, record_env0: bool = False,
                 frame_size: int = 160) -> EpisodeBatch:
    """Reset every env and run until each has finished one episode (the first one counts)."""
    if not (math.isfinite(action_noise) and action_noise >= 0):
        raise ValueError(f"action noise must be finite and >= 0, got {action_noise}")
    if not (math.isfinite(force) and force >= 0):
        raise ValueError(f"force must be finite and >= 0, got {force}")
    with torch.inference_mode():  # the env's buffers become inference tensors: keep every touch inside
        return _run_episodes(env, actor, action_noise, force, force_duration, seed, record_env0, frame_size)


def _run_episodes(env, actor, action_noise, force, force_duration, seed, record_env0, frame_size) -> EpisodeBatch:
    g = torch.Generator().manual_seed(seed)
    obs, _ = env.reset()
    n = env.num_envs
    initial_xy = env.engine.state().target_pos[:, :2].clone().numpy()
    push_target(env, force, force_duration, g)
    finished = torch.zeros(n, dtype=torch.bool)
    success = torch.zeros(n, dtype=torch.bool)
    success_any = torch.zeros(n, dtype=torch.bool)
    running_any = torch.zeros(n, dtype=torch.bool)
    abnormal = torch.zeros(n, dtype=torch.bool)
    frames = []
    for _ in range(int(env.max_episode_length) + 1):
        if record_env0 and not bool(finished[0]):
            frames.append(env.render(0, "front", frame_size, frame_size))
        actions = actor(obs)
        if action_noise > 0:
            actions = actions + action_noise * torch.randn(actions.shape, generator=g)
        obs, _, dones, extras = env.step(actions)
        step_success = extras["success"].cpu()
        running_any |= step_success
        new = dones.cpu() & ~finished
        success[new] = step_success[new]
        success_any[new] = running_any[new]
        abnormal[new] = extras["abnormal"].cpu()[new]
        finished |= new
        running_any[dones.cpu()] = False
        if bool(finished.all()):
            break
    if not bool(finished.all()):
        raise RuntimeError("some episodes did not finish within max_episode_length steps")
    return EpisodeBatch(success.numpy(), success_any.numpy(), initial_xy, abnormal.numpy(), frames)


def evaluate_success(env, actor, episodes: int, seed: int = 0, **kwargs) -> EpisodeBatch:
    """`episodes` episodes in rounds of env.num_envs (the last round's surplus is dropped)."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    parts = []
    done = 0
    round_index = 0
    record = kwargs.pop("record_env0", False)
    while done < episodes:
        batch = run_episodes(env, actor, seed=seed + round_index, record_env0=record and round_index == 0, **kwargs)
        parts.append(batch)
        done += env.num_envs
        round_index += 1
    cat = lambda name: np.concatenate([getattr(b, name) for b in parts])[:episodes]  # noqa: E731
    return EpisodeBatch(cat("success"), cat("success_any"), cat("initial_xy"), cat("abnormal"), parts[0].frames)


# ---- analyses ------------------------------------------------------------------------------------
def robustness(env, actor, forces, episodes: int, seed: int = 0, duration: float = DEFAULT_FORCE_DURATION) -> list:
    rows = []
    for f in forces:
        b = evaluate_success(env, actor, episodes, seed=seed, force=float(f), force_duration=duration)
        rows.append({"force_n": float(f), **b.summary()})
    base = rows[0]["success_rate"] if rows else math.nan
    for r in rows:
        r["ratio_to_unperturbed"] = r["success_rate"] / base if base > 0 else None
    return rows


def select_seeds(paths, episodes: int, action_noise: float, num_envs: int, seed: int = 0, nthread: int = 2,
                 episode_length_s: float | None = None) -> list:
    """Success of each checkpoint under injected action noise, best first (A.3.10)."""
    results = []
    task = None
    for path in paths:
        data = read_checkpoint(path)
        meta = data["infos"]["omnireset"]
        task = task or meta["task"]
        if meta["task"] != task:
            raise CheckpointError(f"{path} is a {meta['task']!r} policy; the others are {task!r}")
        env = env_for_checkpoint(meta, num_envs, seed, nthread=nthread, episode_length_s=episode_length_s)
        from .policy import load_actor

        actor, _ = load_actor(data, env.get_observations())
        b = evaluate_success(env, actor, episodes, seed=seed, action_noise=action_noise)
        env.close()
        results.append({"checkpoint": str(path), "seed": meta.get("seed"), "action_noise": action_noise, **b.summary()})
    return sorted(results, key=lambda r: (-r["success_rate"], -r["success_any_rate"]))


def learning_curve(run_dirs, episodes: int, num_envs: int, seed: int = 0, max_points: int = 12,
                   nthread: int = 2, episode_length_s: float | None = None, reset_dataset: str | Path | None = None,
                   reset_type: str | None = None) -> dict:
    """{run_dir: [{iteration, wall_s, env_steps, success_rate, ci95}, ...]} over the runs' checkpoints,
    from reaching resets, or from `reset_type` states of `reset_dataset` when both are given."""
    from .policy import load_actor

    curves = {}
    for run_dir in run_dirs:
        found = list_checkpoints(run_dir)
        if not found:
            raise CheckpointError(f"no model_<iteration>.pt checkpoint in {run_dir}")
        if len(found) > max_points:
            keep = np.unique(np.linspace(0, len(found) - 1, max_points).round().astype(int))
            found = [found[i] for i in keep]
        env = None
        points = []
        for it, path in found:
            data = read_checkpoint(path)
            meta = data["infos"]["omnireset"]
            if env is None:
                source = dataset_sampler(reset_dataset, reset_type, meta) if reset_dataset else None
                env = env_for_checkpoint(meta, num_envs, seed, nthread=nthread, episode_length_s=episode_length_s,
                                         reset_sampler=source)
            actor, _ = load_actor(data, env.get_observations())
            b = evaluate_success(env, actor, episodes, seed=seed)
            points.append({"iteration": it, "wall_s": meta.get("wall_s"), "env_steps": meta.get("env_steps"),
                           **b.summary()})
            print(f"{run_dir}: iteration {it} ({meta.get('wall_s', 0):.0f} s): "
                  f"success {points[-1]['success_rate']:.3f}", flush=True)
        env.close()
        curves[str(run_dir)] = points
    return curves


def success_by_reset_type(meta: dict, actor_data, dataset: str | Path, episodes: int, num_envs: int, seed: int = 0,
                          nthread: int = 2, variant: str | None = None, randomization: str | None = None,
                          episode_length_s: float | None = None) -> dict:
    """{reset type: summary} from each reset type of `dataset`, plus "reaching (default sampler)":
    where along the task the policy succeeds (A.3.9's reset types as starting points)."""
    from .policy import load_actor

    sampler = load_dataset_sampler(dataset, meta, variant)
    names = [n for n, c in zip(sampler.reset_type_names, sampler.counts.tolist()) if c > 0]
    rows = {}
    for name in ["reaching (default sampler)", *names]:
        source = None if name.startswith("reaching (") else only_reset_type(sampler, name)
        env = env_for_checkpoint(meta, num_envs, seed, variant=variant, nthread=nthread, randomization=randomization,
                                 episode_length_s=episode_length_s, reset_sampler=source)
        actor, _ = load_actor(actor_data, env.get_observations())
        rows[name] = evaluate_success(env, actor, episodes, seed=seed).summary()
        env.close()
        r = rows[name]
        print(f"  from {name:<28} success {r['success_rate']:.3f} (95 % CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})",
              flush=True)
    return rows


# ---- plots ---------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scatter(batch: EpisodeBatch, path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    xy, ok = batch.initial_xy, batch.success
    ax.scatter(xy[~ok, 0], xy[~ok, 1], s=14, c="tab:red", label=f"failure ({int((~ok).sum())})", alpha=0.7)
    ax.scatter(xy[ok, 0], xy[ok, 1], s=14, c="tab:green", label=f"success ({int(ok.sum())})", alpha=0.8)
    ax.set_xlabel("target object x in base_link (m)")
    ax.set_ylabel("target object y in base_link (m)")
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_robustness(rows: list, path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    f = [r["force_n"] for r in rows]
    rate = [r["success_rate"] for r in rows]
    lo = [r["success_rate"] - r["ci95"][0] for r in rows]
    hi = [r["ci95"][1] - r["success_rate"] for r in rows]
    ax.errorbar(f, rate, yerr=[lo, hi], marker="o", capsize=3, label="success rate (95 % CI)")
    ratio = [r["ratio_to_unperturbed"] for r in rows]
    if all(v is not None for v in ratio):
        ax.plot(f, ratio, marker="s", linestyle="--", label="ratio to unperturbed")
    ax.set_xlabel("perturbation force on the object (N)")
    ax.set_ylabel("success")
    ax.set_ylim(-0.02, max(1.05, max((v or 0) for v in ratio) + 0.05) if ratio else 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_by_reset_type(results: dict, path: Path, title: str) -> Path:
    """Grouped bars: success (95 % CI) per starting reset type, one bar per policy.
    `results`: {policy label: {reset type: summary}}."""
    plt = _pyplot()
    labels = list(results)
    types = list(next(iter(results.values())))
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(types), 3.8))
    for i, label in enumerate(labels):
        rows = [results[label][t] for t in types]
        x = np.arange(len(types)) + (i - (len(labels) - 1) / 2) * width
        rate = [r["success_rate"] for r in rows]
        err = [[r["success_rate"] - r["ci95"][0] for r in rows], [r["ci95"][1] - r["success_rate"] for r in rows]]
        ax.bar(x, rate, width, yerr=err, capsize=3, label=label)
    ax.set_xticks(np.arange(len(types)))
    ax.set_xticklabels([t.replace(" (default sampler)", "\n(default)").replace("_", " ") for t in types], fontsize=8)
    ax.set_ylabel("success (episode end, 95 % CI)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(curves: dict, path: Path, labels: dict | None = None, start: str = "reaching resets") -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for run, points in curves.items():
        t = [p["wall_s"] / 60.0 for p in points]
        r = [p["success_rate"] for p in points]
        lo = [p["success_rate"] - p["ci95"][0] for p in points]
        hi = [p["ci95"][1] - p["success_rate"] for p in points]
        ax.errorbar(t, r, yerr=[lo, hi], marker="o", capsize=2, label=(labels or {}).get(run, Path(run).name))
    ax.set_xlabel("training wall-clock (min)")
    ax.set_ylabel(f"success from {start}")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_gif(frames, path: Path, fps: int = 10) -> Path:
    from PIL import Image

    if not frames:
        raise ValueError("no frames recorded")
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


# ---- CLI -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", metavar="POLICY",
                   help="checkpoint (model_<it>.pt), run directory (its latest checkpoint) or exported policy "
                        "directory (a trained expert's export, the oracle, a scripted policy)")
    p.add_argument("--episodes", type=int, default=128)
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--seed", type=int, default=1000, help="evaluation seed (differs from training seeds)")
    p.add_argument("--variant", default=None, help="evaluate on another variant of the same task")
    p.add_argument("--randomization", choices=("train", "finetune", "none"), default=None)
    p.add_argument("--out", default=None, help="output directory (default: next to the checkpoint)")
    p.add_argument("--no-scatter", action="store_true")
    p.add_argument("--robustness", action="store_true", help="success vs perturbation force (Fig. 6 style)")
    p.add_argument("--forces", type=float, nargs="+", default=list(DEFAULT_FORCES), help="N")
    p.add_argument("--force-duration", type=float, default=DEFAULT_FORCE_DURATION, help="s")
    p.add_argument("--gif", default=None, help="write a GIF of env 0's first episode here")
    p.add_argument("--select-seeds", nargs="+", default=None, metavar="CKPT")
    p.add_argument("--action-noise", type=float, default=0.5, help="std of injected action noise (policy units)")
    p.add_argument("--curve", nargs="+", default=None, metavar="RUN_DIR")
    p.add_argument("--curve-points", type=int, default=12)
    p.add_argument("--resets", default=None, metavar="DATASET",
                   help="with --by-reset-type or --curve: an OmniReset reset dataset of the task")
    p.add_argument("--by-reset-type", action="store_true",
                   help="success from each reset type of --resets (and from reaching resets), as a bar chart")
    p.add_argument("--compare", nargs="+", default=None, metavar="CKPT",
                   help="with --by-reset-type: more checkpoints side by side (e.g. a reaching-only baseline)")
    p.add_argument("--reset-type", default=None, help="with --curve and --resets: start episodes from this type")
    p.add_argument("--nthread", type=int, default=2)
    p.add_argument("--episode-length-s", type=float, default=None,
                   help="episode horizon (default: the task's episode, TaskSpec.episode_length_s)")
    from ..envs.engine_cli import add_engine_args

    add_engine_args(p)  # --engine, --device
    return p


def _label(path: Path, meta: dict) -> str:
    """A checkpoint is named by its run and iteration, an exported policy by its directory."""
    if "exported" in meta:
        return path.name
    ckpt = _resolve(str(path))  # a run directory is labelled by the checkpoint it stands for
    return f"{ckpt.parent.name}/{ckpt.stem}"


def _default_out(path: Path) -> Path:
    from .policy import is_exported_policy

    if is_exported_policy(path):
        return path.parent / f"eval_{path.name}"
    p = _resolve(str(path))
    return p.parent / f"eval_{p.stem}"


def _resolve(path: str) -> Path:
    from .checkpoint import latest_checkpoint

    p = Path(path)
    return latest_checkpoint(p) if p.is_dir() else p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..envs.engine_cli import apply_engine_args

    apply_engine_args(args, "evaluate")  # exit 2 + one line where the engine cannot run here
    try:
        return _run(args)
    except (ValueError, CheckpointError, FileNotFoundError) as exc:
        print(f"evaluate: error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from .policy import load_actor, read_policy
    from .runner import write_json

    if args.episodes < 1 or args.num_envs < 1:
        raise ValueError("--episodes and --num-envs must be >= 1")
    num_envs = min(args.num_envs, args.episodes)
    if args.select_seeds:
        rows = select_seeds([_resolve(p) for p in args.select_seeds], args.episodes, args.action_noise, num_envs,
                            args.seed, args.nthread, args.episode_length_s)
        out = Path(args.out or Path(rows[0]["checkpoint"]).parent)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "seed_selection.json", rows)
        print(f"seed selection under action noise std {args.action_noise} ({args.episodes} episodes each):")
        for r in rows:
            print(f"  {r['success_rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]  seed {r['seed']}  "
                  f"{r['checkpoint']}")
        print(f"selected: {rows[0]['checkpoint']}")
        return 0
    if bool(args.resets) != bool(args.by_reset_type or args.reset_type):
        raise ValueError("--resets goes with --by-reset-type or with --curve --reset-type (and they need --resets)")
    if args.curve:
        if bool(args.reset_type) != bool(args.resets):
            raise ValueError("--reset-type and --resets go together")
        curves = learning_curve(args.curve, args.episodes, num_envs, args.seed, args.curve_points, args.nthread,
                                args.episode_length_s, args.resets, args.reset_type)
        out = Path(args.out or ".")
        out.mkdir(parents=True, exist_ok=True)
        stem = "learning_curves" + (f"_{args.reset_type}" if args.reset_type else "")
        write_json(out / f"{stem}.json", {"start": args.reset_type or "reaching (default sampler)",
                                          "reset_dataset": args.resets, "curves": curves})
        plot_curves(curves, out / f"{stem}.png", start=f"{args.reset_type} resets" if args.reset_type
                    else "reaching resets")
        print(f"wrote {out / (stem + '.json')} and {out / (stem + '.png')}")
        return 0
    if args.by_reset_type:
        paths = [Path(p) for p in ([args.checkpoint] if args.checkpoint else []) + list(args.compare or [])]
        if not paths:
            raise ValueError("--by-reset-type needs a policy (and optionally --compare POLICY ...)")
        results, task = {}, None
        for path in paths:
            data, meta = read_policy(path)
            if task is not None and meta["task"] != task:
                raise CheckpointError(f"{path} is a {meta['task']!r} policy; the first is {task!r}")
            task = meta["task"]
            label = _label(path, meta)
            print(f"{label} (trained on {meta.get('reset_source', '?')}):", flush=True)
            results[label] = success_by_reset_type(meta, data, args.resets, args.episodes, num_envs, args.seed,
                                                   args.nthread, args.variant, args.randomization,
                                                   args.episode_length_s)
        out = Path(args.out or _default_out(paths[0]))
        out.mkdir(parents=True, exist_ok=True)
        from ..tasks import get_task

        horizon = args.episode_length_s or get_task(task).episode_length_s  # what the episodes ran
        write_json(out / "by_reset_type.json", {"reset_dataset": str(args.resets), "episodes": args.episodes,
                                                "seed": args.seed, "episode_length_s": horizon,
                                                "results": results})
        plot_by_reset_type(results, out / "by_reset_type.png",
                           f"{task}: success by starting state ({args.episodes} episodes each)")
        print(f"wrote {out / 'by_reset_type.json'} and {out / 'by_reset_type.png'}")
        return 0
    if not args.checkpoint:
        raise ValueError("give a checkpoint (or --select-seeds / --curve)")
    path = Path(args.checkpoint)
    data, meta = read_policy(path)
    if args.gif:
        os.environ.setdefault("MUJOCO_GL", "egl")
    if args.episode_length_s is not None and not (math.isfinite(args.episode_length_s) and args.episode_length_s > 0):
        raise ValueError(f"--episode-length-s must be positive, got {args.episode_length_s}")
    env = env_for_checkpoint(meta, num_envs, args.seed, variant=args.variant, nthread=args.nthread,
                             randomization=args.randomization, episode_length_s=args.episode_length_s)
    exported = "exported" in meta  # an exported module checks its own layout and output when loaded
    check_compatible(meta, task=env.cfg.task, robot=env.cfg.scene.arm.robot,
                     obs_dims=None if exported else {k: int(v.shape[-1]) for k, v in env.get_observations().items()},
                     num_actions=None if exported else env.num_actions, where=str(path))
    actor, _ = load_actor(data, env.get_observations())
    out = Path(args.out or _default_out(path))
    out.mkdir(parents=True, exist_ok=True)
    batch = evaluate_success(env, actor, args.episodes, seed=args.seed, record_env0=bool(args.gif))
    results = {"policy": str(path), "task": env.cfg.task, "variant": env.cfg.variant,
               "resets": "reaching (default sampler)", "reaching": batch.summary()}
    s = results["reaching"]
    print(f"success from reaching resets: {s['success_rate']:.3f} (95 % CI {s['ci95'][0]:.3f}-{s['ci95'][1]:.3f}, "
          f"{s['episodes']} episodes; any-step success {s['success_any_rate']:.3f})")
    title = f"{env.cfg.task} {env.cfg.variant}: {s['successes']}/{s['episodes']} succeed"
    if not args.no_scatter:
        results["scatter_png"] = str(plot_scatter(batch, out / "scatter.png", title))
    if args.gif:
        results["gif"] = str(save_gif(batch.frames, Path(args.gif)))
    if args.robustness:
        if any(not math.isfinite(f) or f < 0 for f in args.forces):
            raise ValueError(f"--forces must be finite and >= 0, got {args.forces}")
        rows = robustness(env, actor, sorted(args.forces), args.episodes, args.seed, args.force_duration)
        results["robustness"] = rows
        results["robustness_png"] = str(plot_robustness(rows, out / "robustness.png",
                                                        f"{env.cfg.task} {env.cfg.variant}: perturbation"))
        for r in rows:
            print(f"  force {r['force_n']:.2f} N: success {r['success_rate']:.3f}")
    env.close()
    write_json(out / "results.json", results)
    print(f"wrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
