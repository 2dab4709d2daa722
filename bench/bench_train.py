"""PPO training throughput on the OmniReset env, and where the time goes.

Measures, in one run: (a) env-steps/s of full training iterations (rollout with the gSDE actor +
critic, PPO update: 5 epochs x 4 mini-batches) and the share of that time spent in physics
(mujoco.rollout), the rest of the env (OSC law, kinematics, rewards, resets, observations), policy
inference (actor + critic forward, storage) and the PPO update; (b) the baseline: env-steps/s of
the same env stepped with zero actions and no learning. Ratio = (a) / (b): the cost of learning
on top of simulation (1.0 would be free).

    python bench/bench_train.py [--quick] [--num-envs 64] [--iterations 5] [--noise gsde|gaussian]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("omnireset_sim", "omnireset_control", "omnireset_policy"):
    sys.path.insert(0, str(ROOT / "src" / pkg))

import torch  # noqa: E402

from omnireset_sim.rl.config import make_agent_cfg  # noqa: E402
from omnireset_sim.rl.envs import build_env  # noqa: E402
from omnireset_sim.rl.runner import OmniResetRunner  # noqa: E402


def env_only_rate(env, steps: int) -> float:
    actions = torch.zeros(env.num_envs, env.num_actions)
    with torch.inference_mode():
        env.step(actions)
        t = time.perf_counter()
        for _ in range(steps):
            env.step(actions)
        dt = time.perf_counter() - t
    return env.num_envs * steps / dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="16 envs, 2 iterations of 16 steps")
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument("--steps", type=int, default=32, help="rollout steps per env and iteration")
    p.add_argument("--noise", default="gsde", choices=("gsde", "gaussian"))
    p.add_argument("--task", default="peg_insertion")
    p.add_argument("--nthread", type=int, default=2)
    args = p.parse_args()
    if args.quick:
        args.num_envs, args.iterations, args.steps = 16, 2, 16
    env = build_env(args.task, "easy", args.num_envs, seed=0, nthread=args.nthread)
    runner = OmniResetRunner(env, make_agent_cfg(args.noise, num_steps_per_env=args.steps), None, seed=0)
    runner.learn(1)  # warm-up (allocations, first-call overheads)
    for key in runner.timing:
        runner.timing[key] = 0.0
    t = time.perf_counter()
    result = runner.learn(args.iterations)
    wall = time.perf_counter() - t
    steps = args.iterations * args.steps * args.num_envs
    train_rate = steps / wall
    baseline = env_only_rate(env, max(8, args.steps))
    tm = result.timing
    total = max(tm["total"], 1e-9)
    print(f"task {args.task}, {args.num_envs} envs, {args.iterations} iterations x {args.steps} steps, "
          f"noise {args.noise}, torch threads {torch.get_num_threads()}, mujoco threads {args.nthread}")
    print(f"training (rollout + PPO update): {train_rate:8.0f} env-steps/s   ({wall:.1f} s for {steps} steps)")
    print(f"baseline (env only, zero action): {baseline:8.0f} env-steps/s")
    print(f"ratio training / env-only:        {train_rate / baseline:8.2f}")
    print("share of training time:")
    for key, label in (("physics", "physics (mujoco.rollout)"), ("env_other", "env: OSC, kinematics, MDP"),
                       ("inference", "policy inference + storage"), ("update", "PPO update")):
        print(f"  {label:32s} {100 * tm[key] / total:5.1f} %   ({tm[key]:.2f} s)")
    env.close()


if __name__ == "__main__":
    main()
