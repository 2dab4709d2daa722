"""Environment throughput vs the raw physics rate of the same model, in the same run.

For N worlds: env-steps/s of OmniResetEnv (12 physics steps + OSC law every physics step,
rewards, observations, auto-reset), next to raw stepping of the very same model and worlds with
mujoco.rollout (zero torque, no Python per physics step beyond the call) and a plain mj_step loop.
Environment overhead = env time per physics step / raw time per physics step - 1 (target <= 25 %),
printed two ways: against the separately timed raw rollout ("vs raw"), and against the time the
env's own rollout calls took inside the same steps ("in-run", robust to other load on the machine).
Thread speed-up = rate(2 threads) / rate(1 thread) (target >= 1.7x; the machine's other load
shows up here). Run: python bench/bench_env.py [--quick] [--task peg_insertion]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("omnireset_sim", "omnireset_control", "omnireset_policy"):
    sys.path.insert(0, str(ROOT / "src" / pkg))

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from omnireset_sim.envs import make_env  # noqa: E402


def raw_rollout_rate(env, nthread: int, physics_steps: int) -> float:
    """Physics steps/s (summed over worlds) of the env's own worlds and models, zero torque."""
    eng = env.engine
    roll = mujoco.rollout.Rollout(nthread=nthread)
    datas = [mujoco.MjData(eng.model) for _ in range(max(1, nthread))]
    state3 = eng._state3.copy()
    control3 = eng._control3.copy()
    control3[:, 0, : eng.model.nu] = 0.0
    from omnireset_sim.envs.mujoco_engine import CONTROL_SPEC

    def run(k):
        for _ in range(k):
            roll.rollout(eng.models, datas, state3[:, 0, :], control3, control_spec=CONTROL_SPEC, skip_checks=True,
                         nstep=1, state=state3)

    run(2)
    t = time.perf_counter()
    run(physics_steps)
    dt = time.perf_counter() - t
    roll.close()
    return env.num_envs * physics_steps / dt


def single_mj_step_rate(env, steps: int = 3000) -> float:
    m = env.engine.model
    d = mujoco.MjData(m)
    mujoco.mj_setState(m, d, env.engine.raw_state()[0], mujoco.mjtState.mjSTATE_FULLPHYSICS)
    t = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(m, d)
    return steps / (time.perf_counter() - t)


def env_rate(env, steps: int) -> tuple[float, float]:
    """(env-steps/s, in-run overhead): the overhead compares the env's wall time with the time
    its own mujoco.rollout calls took during the same steps, so machine load affects both alike."""
    gen = torch.Generator().manual_seed(0)
    actions = [torch.rand(env.num_envs, 7, generator=gen) * 2 - 1 for _ in range(steps + 2)]
    env.step(actions[0])
    env.step(actions[1])
    physics0 = env.engine.physics_seconds
    t = time.perf_counter()
    for a in actions[2:]:
        env.step(a)
    wall = time.perf_counter() - t
    physics = env.engine.physics_seconds - physics0
    return env.num_envs * steps / wall, wall / physics - 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N (16, 64) and few steps")
    parser.add_argument("--task", default="peg_insertion")
    parser.add_argument("--sizes", default=None, help="comma-separated N values (default 64,256,1024)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([16, 64] if args.quick else [64, 256, 1024])
    torch.set_num_threads(1)
    print(f"task {args.task}, mujoco {mujoco.__version__}, torch {torch.__version__}, decimation 12")
    print(f"{'N':>5} {'thr':>3} {'env-steps/s':>12} {'env phys/s':>11} {'raw phys/s':>11} {'vs raw':>8} {'in-run overhead':>15}")
    results = {}
    for n in sizes:
        steps = max(3, min(40, 4000 // n)) if not args.quick else 5
        for nthread in (1, 2):
            env = make_env(args.task, "hard", n, nthread=nthread, seed=0)
            rate, in_run = env_rate(env, steps)
            raw = raw_rollout_rate(env, nthread, steps * 12)
            overhead = raw / (rate * 12) - 1.0
            results[(n, nthread)] = (rate, raw)
            print(f"{n:>5} {nthread:>3} {rate:>12.0f} {rate * 12:>11.0f} {raw:>11.0f} {overhead * 100:>7.1f}% "
                  f"{in_run * 100:>14.1f}%", flush=True)
            if nthread == 1 and n == sizes[0]:
                print(f"      (single-world mj_step loop: {single_mj_step_rate(env):.0f} steps/s)")
            env.close()
    for n in sizes:
        (e1, r1), (e2, r2) = results[(n, 1)], results[(n, 2)]
        print(f"N={n}: 2-thread speed-up env {e2 / e1:.2f}x, raw physics {r2 / r1:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
