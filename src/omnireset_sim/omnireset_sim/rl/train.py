"""`train`: PPO (rsl-rl) on an OmniReset task.

    train --task peg_insertion --variant easy --num-envs 64 --seed 0 --max-iterations 500
    train ... --resets data/resets/peg_insertion.npz          # OmniReset reset dataset
    train ... --resume runs/peg_insertion_easy/<run>           # continue (same task / layout)
    train ... --finetune runs/.../model_500.pt --sysid sysid.yaml   # A.3.6 / A.3.9 curricula
    torchrun --nproc_per_node K -m omnireset_sim.rl.train --engine mujoco_warp --device cuda ...
                                     # K GPUs (rank r: cuda:r, --num-envs worlds, seed --seed + r)

Under torchrun (rsl-rl's distributed mode, rl/distributed.py) --num-envs is per rank, only rank 0
writes, and --resume needs the same number of ranks; --device cpu runs the ranks with gloo on the
CPU, a test mode of the distributed code path.

Writes a run directory (default runs/<task>_<variant>/<time>_s<seed>): TensorBoard events,
metrics.jsonl, config.json, model_<iterations>.pt. Exit codes: 0 done (or time budget), 2 bad
input, 3 training diverged (NaN; last good checkpoint kept), 130 interrupted (checkpoint saved).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import signal
import sys
from pathlib import Path

from .checkpoint import CheckpointError, checkpoint_metadata, latest_checkpoint, read_checkpoint
from .config import NOISE_TYPES, make_agent_cfg
from .resets import ResetSourceError

EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="peg_insertion")
    p.add_argument("--variant", default="easy")
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resets", default=None, help="OmniReset reset dataset (default: the env's reaching sampler)")
    p.add_argument("--max-iterations", type=int, default=1000)
    p.add_argument("--max-time-s", type=float, default=None, help="stop (and save) after this much wall-clock time")
    p.add_argument("--noise", choices=NOISE_TYPES, default="gsde", help="exploration noise (default: gSDE)")
    p.add_argument("--action-clip", type=float, default=None,
                   help="clamp policy actions to +-this before the action scale (default: none, as released; "
                        "the earlier +-10 clip is an ablation)")
    p.add_argument("--num-steps-per-env", type=int, default=None, help="rollout length (default 32)")
    p.add_argument("--save-interval", type=int, default=None, help="iterations between checkpoints (default 50)")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--randomization", choices=("train", "finetune", "none"), default=None,
                   help="randomization preset (default: train; finetune runs default to finetune)")
    p.add_argument("--nthread", type=int, default=2, help="MuJoCo rollout threads")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's; 1 avoids oversubscription next to MuJoCo)")
    p.add_argument("--run-dir", default=None, help="run directory (default runs/<task>_<variant>/<time>_s<seed>)")
    p.add_argument("--resume", default=None, help="checkpoint or run directory to continue from (with the same "
                   "task, env, PPO options, reset dataset and code; anything else is refused, naming it)")
    p.add_argument("--allow-code-change", action="store_true",
                   help="with --resume: accept a checkpoint written by another git revision")
    p.add_argument("--finetune", default=None, metavar="CHECKPOINT",
                   help="start the finetune curricula (action scale, dynamics) from this checkpoint")
    p.add_argument("--sysid", default=None, help="sysid result YAML: the dynamics curriculum's goal")
    p.add_argument("--curriculum-stages", type=int, default=10)
    p.add_argument("--synchronized-episodes", action="store_true",
                   help="start every env's first episode at step 0 (default: random starting step, so episodes "
                        "end spread over iterations instead of all at once)")
    p.add_argument("--print-every", type=int, default=1, help="console summary every N iterations")
    from ..envs.engine_cli import add_engine_args

    add_engine_args(p)  # --engine, --device
    return p


def _positive(name: str, value, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"--{name} must be a positive number, got {value}")


def _resolve_checkpoint(path: str) -> Path:
    p = Path(path)
    return latest_checkpoint(p) if p.is_dir() else p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..envs.engine_cli import apply_engine_args
    from .distributed import DistContext, destroy_process_group, rank_device

    try:
        # Under torchrun: this rank's device (cuda:LOCAL_RANK), refused before any GPU check when
        # --device names another one.
        ctx = DistContext.from_env()
        args.device = rank_device(args.device, ctx)
    except ValueError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    apply_engine_args(args, "train")  # exit 2 + one line where the engine cannot run here
    try:
        return run(args, ctx)
    except (ValueError, CheckpointError, ResetSourceError, FileNotFoundError) as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        destroy_process_group()


def run(args, ctx=None) -> int:
    import torch

    from .distributed import DistContext

    ctx = ctx or DistContext()
    main_rank = ctx.is_main

    from .curriculum import FinetuneCurriculum, delay_buffer_steps
    from .envs import build_env, randomization_preset
    from .resets import make_reset_sampler
    from .runner import OmniResetRunner, write_json

    for name in ("num_envs", "max_iterations", "max_time_s", "learning_rate", "curriculum_stages", "action_clip"):
        _positive(name.replace("_", "-"), getattr(args, name))
    if args.resume and args.finetune:
        raise ValueError("--resume and --finetune exclude each other (a finetune run resumes with --resume)")
    if args.sysid and not args.finetune and not args.resume:
        raise ValueError("--sysid only applies to --finetune runs")
    if args.torch_threads is not None:
        if args.torch_threads < 1:
            raise ValueError(f"--torch-threads must be >= 1, got {args.torch_threads}")
        torch.set_num_threads(args.torch_threads)

    resume_path = _resolve_checkpoint(args.resume) if args.resume else None
    resume_meta = checkpoint_metadata(read_checkpoint(resume_path)) if resume_path else None
    finetune = bool(args.finetune) or bool(resume_meta and resume_meta.get("finetune"))
    from ..assets.scene import SceneConfig
    from .checkpoint import check_compatible, resume_differences

    robot = SceneConfig().arm.robot
    # Refuse a mismatching checkpoint before building anything.
    for label, path, meta in (("--resume", resume_path, resume_meta),
                              ("--finetune", args.finetune and _resolve_checkpoint(args.finetune), None)):
        if path:
            meta = meta or checkpoint_metadata(read_checkpoint(path))
            check_compatible(meta, task=args.task, variant=args.variant, robot=robot, where=f"{label} {path}")

    sysid = None
    if finetune and args.sysid:
        from ..sysid import load_sysid_yaml

        sysid = load_sysid_yaml(args.sysid)
    preset = args.randomization or ("finetune" if finetune else "train")
    randomization = randomization_preset(preset, delay_buffer_steps(sysid) if preset == "finetune" else None)

    sampler, reset_source = make_reset_sampler(args.resets, args.task, args.variant)
    # Rank r's worlds: seed + r (rank 0 = the single-process run with --seed).
    env = build_env(args.task, args.variant, args.num_envs, seed=args.seed + ctx.rank, nthread=args.nthread,
                    randomization=randomization, reset_sampler=sampler, action_clip=args.action_clip)
    overrides = {"learning_rate": args.learning_rate} if args.learning_rate else {}
    agent_cfg = make_agent_cfg(args.noise, args.num_steps_per_env, args.save_interval, **overrides)
    if resume_meta is not None:
        # Continue exactly what was running, or refuse naming what differs (env, PPO, resets, code).
        diffs = resume_differences(resume_meta, env, agent_cfg, reset_source, check_code=not args.allow_code_change,
                                   rank=ctx.rank, world_size=ctx.world_size)
        if diffs:
            env.close()
            shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
            raise CheckpointError(f"--resume {resume_path}: the run differs from the checkpoint's: {shown}"
                                  + (" (--allow-code-change accepts a new git revision)"
                                     if any(d.startswith("code") for d in diffs) else ""))
    curriculum = None
    if finetune:
        if preset != "finetune" and sysid is not None and sysid.delay > 0:
            raise ValueError("a sysid delay needs the finetune randomization preset (its motor-delay buffer)")
        curriculum = FinetuneCurriculum(env, sysid, stages=args.curriculum_stages)

    if args.run_dir:
        run_dir = Path(args.run_dir)
    elif resume_path is not None:
        run_dir = resume_path.parent
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        kind = "finetune" if finetune else "train"
        run_dir = Path("runs") / f"{args.task}_{args.variant}" / f"{stamp}_{kind}_s{args.seed}"
    if main_rank:  # (the other ranks hand their state to rank 0 and write nothing)
        run_dir.mkdir(parents=True, exist_ok=True)
    runner = OmniResetRunner(env, agent_cfg, run_dir, seed=args.seed, reset_source=reset_source,
                             curriculum=curriculum, finetune=finetune, print_every=args.print_every,
                             device=str(env.device))
    if resume_path is not None:
        runner.load_checkpoint(resume_path, resume=True)
        if main_rank:
            print(f"resumed from {resume_path} at iteration {runner.current_learning_iteration}", flush=True)
    elif args.finetune:
        runner.load_checkpoint(_resolve_checkpoint(args.finetune), resume=False, load_optimizer=False)
        if main_rank:
            print(f"finetuning from {args.finetune}", flush=True)
    if main_rank:
        write_json(run_dir / "config.json", {"argv": sys.argv, "args": vars(args), "agent_cfg": agent_cfg,
                                             "reset_source": reset_source, "randomization": preset,
                                             "env_cfg": repr(env.cfg), "world_size": ctx.world_size})
        print(f"run directory: {run_dir}  (tensorboard --logdir {run_dir.parent})", flush=True)
    if ctx.distributed and main_rank:
        from .distributed import backend_for

        mode = " -- test mode: the distributed code path on the CPU" if backend_for(args.device) == "gloo" else ""
        print(f"distributed: {ctx.world_size} ranks x {args.num_envs} envs, backend {backend_for(args.device)}{mode}",
              flush=True)

    def _sigterm(signum, frame):  # nohup'd runs stopped with kill save like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        # Staggered episode ends (rsl-rl's init_at_random_ep_len): otherwise all envs time out in the
        # same iteration and every batch holds one phase of the episode only.
        result = runner.learn(args.max_iterations, max_time_s=args.max_time_s,
                              init_at_random_ep_len=not args.synchronized_episodes)
    finally:
        signal.signal(signal.SIGTERM, previous)
        env.close()
    if ctx.distributed:
        # Every rank's network digest: equal lines = the ranks ended with the same weights.
        print(f"train[rank {ctx.rank}/{ctx.world_size}]: networks {runner.network_digest()}", flush=True)
    if main_rank:
        print(f"train: {result.message}; checkpoint: {result.checkpoint}", flush=True)
    if result.status == "diverged":
        return EXIT_DIVERGED
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
