"""`python -m omnireset_sim.collect`: record expert demonstrations into HDF5 shards."""

from __future__ import annotations

import argparse
import sys

from .collector import DEFAULT_CAMERAS, DEFAULT_EXPERT_STD, RENDERERS, CollectConfig, collect
from .visual import VisualRandomizationCfg


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m omnireset_sim.collect", description=__doc__)
    p.add_argument("--expert", required=True, help="exported state policy directory (the expert)")
    p.add_argument("--out", required=True, help="output directory of shard_XXXXX.h5 files (appends)")
    p.add_argument("--task", default="peg_insertion")
    p.add_argument("--variant", default="easy")
    p.add_argument("--reset-dataset", default=None,
                   help="reset dataset .npz (all four reset types); default: the env's reaching sampler")
    p.add_argument("--reset-types", default=None,
                   help="comma-separated reset types of --reset-dataset to start from (default: all four)")
    p.add_argument("--num-envs", type=int, default=4)
    p.add_argument("--episodes", type=int, default=8, help="episodes to store")
    p.add_argument("--max-attempts", type=int, default=0, help="episodes to run at most (0: 10 x --episodes)")
    p.add_argument("--episode-seconds", type=float, default=None, help="default: the task's episode (16 s; threaded leg 40 s)")
    p.add_argument("--cameras", default=",".join(DEFAULT_CAMERAS), help="comma-separated camera names")
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"),
                   help="default: image_size of omnireset_sim config/cameras.yaml")
    p.add_argument("--keep-all", action="store_true", help="store failed episodes too")
    p.add_argument("--success", choices=("final", "any"), default="final",
                   help="an episode succeeded at its last step (final) or at any step (any)")
    p.add_argument("--expert-std", type=float, nargs="+", default=[DEFAULT_EXPERT_STD],
                   help="fixed expert action std (1 or 7 values) for an expert exported without action_std.pt")
    p.add_argument("--episodes-per-shard", type=int, default=8)
    p.add_argument("--no-visual-randomization", action="store_true")
    p.add_argument("--dagger-student", default=None, help="DAgger: an exported rgb student acts, the expert labels "
                   "(episodes stored whether or not they succeed)")
    p.add_argument("--dagger-beta", type=float, default=0.0, help="DAgger: probability of executing the expert's "
                   "action instead of the student's at a step")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nthread", type=int, default=2)
    p.add_argument("--renderer", choices=RENDERERS, default="opengl",
                   help="opengl: MuJoCo's OpenGL renderer, one world at a time (default); warp: MuJoCo Warp's "
                        "batch renderer, all worlds in one call on the engine's device (needs --engine mujoco_warp)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from ..envs.engine_cli import add_engine_args

    add_engine_args(p)  # --engine, --device
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..envs.engine_cli import apply_engine_args

    apply_engine_args(args, "collect")  # exit 2 + one line where the engine cannot run here
    if args.renderer == "warp":
        if args.engine != "mujoco_warp":
            print(f"collect: error: --renderer warp draws the worlds of MuJoCo Warp: it needs --engine mujoco_warp "
                  f"(got --engine {args.engine})", file=sys.stderr)
            return 2
        from .warp_render import WarpRendererUnavailable, require_warp_renderer

        try:
            require_warp_renderer()
        except WarpRendererUnavailable as exc:
            print(f"collect: error: {exc}", file=sys.stderr)
            return 2
    try:
        cfg = CollectConfig(
            task=args.task, variant=args.variant, expert=args.expert, out_dir=args.out, num_envs=args.num_envs,
            num_episodes=args.episodes, max_attempts=args.max_attempts, episode_seconds=args.episode_seconds,
            cameras=tuple(c.strip() for c in args.cameras.split(",") if c.strip()),
            height=args.image_size[0] if args.image_size else None,
            width=args.image_size[1] if args.image_size else None, keep_all=args.keep_all, success=args.success,
            reset_dataset=args.reset_dataset,
            reset_types=tuple(t.strip() for t in args.reset_types.split(",") if t.strip()) if args.reset_types else None,
            expert_std=tuple(args.expert_std), episodes_per_shard=args.episodes_per_shard,
            visual=VisualRandomizationCfg(enabled=not args.no_visual_randomization), seed=args.seed,
            nthread=args.nthread, student=args.dagger_student, dagger_beta=args.dagger_beta, renderer=args.renderer)
    except ValueError as exc:
        print(f"collect: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"collect: error: {exc}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    bar = tqdm(total=cfg.num_episodes, unit="ep", disable=args.quiet, desc="collect")

    def progress(stats):
        bar.n = stats.episodes_kept
        bar.set_postfix(run=stats.episodes_run, success=stats.successes, fps=f"{stats.frames_per_second:.0f}")
        bar.refresh()

    try:
        stats = collect(cfg, progress)
    except ValueError as exc:  # bad input found once the expert / dataset / scene are open
        bar.close()
        print(f"collect: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:
        bar.close()
        print(f"collect: error: {exc}", file=sys.stderr)
        return 1
    bar.close()
    print(f"collect: stored {stats.episodes_kept} episode(s) of {stats.episodes_run} run "
          f"({stats.successes} successful, {stats.episodes_abnormal} abnormal, "
          f"{stats.episodes_object_escaped} with the object escaped), {stats.steps} steps, "
          f"{stats.frames_rendered} frames in "
          f"{stats.seconds:.1f} s ({stats.frames_per_second:.1f} frames/s); shards in {cfg.out_dir}")
    return 0
