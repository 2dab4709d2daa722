"""Evaluate an exported policy in simulation from the env's reaching resets (A.3.11: student vs
expert success), or from one reset type of a reset dataset (--reset-dataset, --reset-type). An rgb student runs exactly as deployed: one RgbPolicyRunner per world (5-frame
feature cache, mean action) on the cameras rendered each policy step; a state expert runs on the
env's observation history. Success = success at the episode's last step.

    python -m omnireset_sim.collect.evaluate_student --policy exported/peg_easy_rgb \
        [--compare src/omnireset_bringup/policies/demo] --episodes 20 --num-envs 2
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import torch

from omnireset_policy import observation_layout as layout
from omnireset_policy.exported_policy import ExportedPolicyError, load_exported_policy
from omnireset_policy.policy_runner import RgbPolicyRunner


@dataclass
class EvalReport:
    policy: str
    kind: str
    episodes: int = 0
    successes: int = 0
    steps: int = 0
    seconds: float = 0.0
    runner_errors: list[str] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def evaluate_policy(policy_dir, task: str = "peg_insertion", variant: str = "easy", episodes: int = 10,
                    num_envs: int = 2, episode_seconds: float | None = None, seed: int = 0,
                    reset_dataset: str | None = None, reset_type: str | None = None) -> EvalReport:
    from omnireset_control.kinematics import BatchedKinematics
    from omnireset_sim.collect.visual import RandomizedRenderer, VisualRandomizationCfg
    from omnireset_sim.envs.vec_env import make_env

    policy = load_exported_policy(policy_dir)
    sampler = None
    if reset_dataset:
        from omnireset_sim.resets import DatasetResetSampler

        sampler = DatasetResetSampler(reset_dataset, weights={reset_type: 1.0} if reset_type else None, task=task,
                                      variant=variant)
    elif reset_type:
        raise ValueError("a reset type needs a reset dataset")
    env = make_env(task, variant, num_envs, episode_length_s=episode_seconds, seed=seed, reset_sampler=sampler)
    report = EvalReport(str(policy_dir), policy.kind)
    renderer = runners = None
    if policy.kind == "rgb":
        height, width = policy.cameras["image_size"]
        renderer = RandomizedRenderer(env.engine, policy.cameras["names"], width, height,
                                      VisualRandomizationCfg(enabled=False))
        runners = [RgbPolicyRunner(policy, BatchedKinematics(env.kinematics_params)) for _ in range(num_envs)]
    start = time.perf_counter()
    tick = 0
    try:
        obs = env.get_observations()
        while report.episodes < episodes:
            if policy.kind == "state":
                with torch.inference_mode():
                    actions = policy.modules["policy"](obs["policy"].to(torch.float32))
            else:
                actions = torch.zeros(num_envs, layout.ACTION_DIM)
                joint_pos = env.engine.state().joint_pos
                for i, runner in enumerate(runners):
                    images, _ = renderer.render_world(i)
                    result = runner.step(joint_pos[i].numpy(), {c: (tick, img) for c, img in images.items()})
                    if result.action is None:
                        # what the policy node does too: command nothing new (zero delta, gripper open)
                        report.runner_errors.append(result.error)
                    else:
                        actions[i] = torch.from_numpy(result.action).to(torch.float32)
            tick += 1
            obs, _, dones, extras = env.step(actions)
            report.steps += num_envs
            for i in torch.nonzero(dones).flatten().tolist():
                if report.episodes < episodes:
                    report.episodes += 1
                    report.successes += int(bool(extras["success"][i]))
                if runners is not None:
                    runners[i].reset()
    finally:
        report.seconds = time.perf_counter() - start
        if renderer is not None:
            renderer.close()
        env.close()
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m omnireset_sim.collect.evaluate_student", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", required=True, help="exported policy (rgb student or state expert)")
    p.add_argument("--compare", default=None, help="a second exported policy evaluated the same way (the expert)")
    p.add_argument("--task", default="peg_insertion")
    p.add_argument("--variant", default="easy")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--num-envs", type=int, default=2)
    p.add_argument("--episode-seconds", type=float, default=None, help="default: the task's episode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reset-dataset", default=None, help="start episodes from this reset dataset (default: reaching)")
    p.add_argument("--reset-type", default=None, help="with --reset-dataset: only this reset type")
    args = p.parse_args(argv)
    try:
        for path in [args.policy] + ([args.compare] if args.compare else []):
            r = evaluate_policy(path, args.task, args.variant, args.episodes, args.num_envs, args.episode_seconds,
                                args.seed, args.reset_dataset, args.reset_type)
            print(f"evaluate: {path} ({r.kind}): success {r.successes}/{r.episodes} = {r.success_rate:.2f}, "
                  f"{r.steps} env steps in {r.seconds:.1f} s, {len(r.runner_errors)} runner error(s)")
    except (ExportedPolicyError, ValueError, OSError) as exc:
        print(f"evaluate: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
