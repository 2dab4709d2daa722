"""Smoke check of the Isaac Lab backend on a GPU machine: every task's cfg on Newton/MuJoCo Warp
(CUDA) and, with Isaac Sim installed, on PhysX. NOT runnable on the project's CPU machines (no CUDA,
no Isaac Sim); nothing here has run on PhysX yet.

    .venv-isaaclab/bin/python scripts/isaaclab_physx_smoke.py --physics newton --device cuda:0
    .venv-isaaclab/bin/python scripts/isaaclab_physx_smoke.py --physics physx --device cuda:0   # Isaac Sim 6.2

Per task: build, reset, `--steps` policy steps with random actions; prints build time, env-steps/s
and the reward; exit 1 if any task fails to build or step or returns non-finite values, 2 on bad input.
A threaded task (the leg) also prints the thread's collision groups read back from the built stage
(and, on Newton, the thread geoms whose compiled masks were checked) and fails without them.
On PhysX, every task also draws Table 2's parameters for every world (RandomizationCfg.finetune:
all rows on), writes them with the engine's set_dynamics and reads one parameter per group back
from the PhysX views (physx.dynamics_readback: frictions of the four groups, a robot and the target
mass, the target inertia, arm joint friction/damping/armature, the finger drive gains) for world 0
and the last world, printing them; a mismatch (> 1e-4 relative) fails the task.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="isaaclab_physx_smoke")
    p.add_argument("--physics", choices=("newton", "physx"), default="physx")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--tasks", default=None, help="comma-separated (default: every task)")
    args = p.parse_args(argv)
    try:
        from omnireset_sim.isaaclab import IsaacLabUnavailable, require_isaaclab

        require_isaaclab()
    except (ImportError, IsaacLabUnavailable) as exc:
        print(f"isaaclab_physx_smoke: error: {exc}", file=sys.stderr)
        return 2
    if not args.device.startswith("cuda"):
        print("isaaclab_physx_smoke: error: this smoke check is for GPU machines (--device cuda:N)", file=sys.stderr)
        return 2
    app = None
    if args.physics == "physx":
        try:
            from isaaclab.app import AppLauncher  # Isaac Sim's Kit runtime: PhysX lives in it
        except ImportError as exc:
            print(f"isaaclab_physx_smoke: error: PhysX needs Isaac Sim ({exc}); "
                  "ISAACLAB_WITH_ISAACSIM=1 make isaaclab-setup", file=sys.stderr)
            return 2
        app = AppLauncher(headless=True, device=args.device).app

    import torch

    from omnireset_sim.isaaclab.env_cfg import make_gym_env
    from omnireset_sim.isaaclab.physx import dynamics_readback, readback_mismatches, thread_filtering_on_stage
    from omnireset_sim.mdp.events import RandomizationCfg, resample_actuation, sample_startup
    from omnireset_sim.tasks import get_task, task_names

    tasks = args.tasks.split(",") if args.tasks else task_names()
    failed = []
    for task in tasks:
        for variant in ("easy", "hard"):
            t0 = time.perf_counter()
            try:
                env = make_gym_env(task, variant, args.num_envs, args.device, physics=args.physics)
                obs, _ = env.reset()
                build = time.perf_counter() - t0
                if get_task(task).thread is not None:
                    # The ridges/lugs touch only each other: the USD collision groups must be on the stage.
                    thread, other = thread_filtering_on_stage(env.unwrapped.sim.stage)
                    checked = getattr(env.unwrapped.omnireset.engine, "thread_geoms", None)
                    print(f"{task}/{variant} [{args.physics}]: thread collision group {thread} colliders, environment "
                          f"group {other}" + (f"; compiled masks checked for {checked} thread geoms" if checked else ""))
                    if not thread or not other:
                        raise RuntimeError("the threaded scene's USD collision groups are missing")
                if args.physics == "physx":
                    # Table 2 on PhysX: the engine's writes, read back from the PhysX views.
                    engine = env.unwrapped.omnireset.engine
                    rcfg, g = RandomizationCfg.finetune(), torch.Generator().manual_seed(0)
                    params = sample_startup(rcfg, engine.nominal, args.num_envs, g)
                    resample_actuation(rcfg, engine.nominal, params, g)
                    engine.set_dynamics(torch.arange(args.num_envs, device=engine.device), params)
                    bad = []
                    for world in sorted({0, args.num_envs - 1}):
                        rb = dynamics_readback(engine, params, world)
                        print(f"{task}/{variant} [physx] world {world} set_dynamics read back: "
                              + ", ".join(f"{k} {b:.5g} (drawn {a:.5g})" for k, (a, b) in rb.items()))
                        bad += [f"world {world} {m}" for m in readback_mismatches(rb)]
                    if bad:
                        raise RuntimeError("set_dynamics not in the PhysX views: " + "; ".join(bad))
                t1 = time.perf_counter()
                for _ in range(args.steps):
                    action = 2 * torch.rand(args.num_envs, 7, device=env.device) - 1
                    obs, rew, term, trunc, _ = env.step(action)
                rate = args.num_envs * args.steps / (time.perf_counter() - t1)
                ok = bool(torch.isfinite(obs["policy"]).all() and torch.isfinite(rew).all())
                print(f"{task}/{variant} [{args.physics}]: build {build:.1f} s, {rate:,.0f} env-steps/s, "
                      f"reward {float(rew.mean()):.4f}, abnormal {int(term.sum())}/{args.num_envs}, "
                      f"{'ok' if ok else 'NON-FINITE'}")
                if not ok:
                    failed.append(f"{task}/{variant}")
                env.close()
            except Exception as exc:  # a smoke check reports every task, then fails
                print(f"{task}/{variant} [{args.physics}]: FAILED: {type(exc).__name__}: {exc}")
                failed.append(f"{task}/{variant}")
    if app is not None:
        app.close()
    print(f"{len(tasks) * 2 - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
