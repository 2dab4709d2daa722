"""Environment throughput vs the raw physics rate of the same model, in the same run.

For N worlds: env-steps/s of OmniResetEnv (12 physics steps with the OSC law, motor delay and
friction every physics step, then rewards, observations, auto-reset), next to raw stepping of the
very same model and worlds with mujoco.rollout (zero torque, no work between physics steps).
Raw stepping is timed two ways, 12 rollout calls of nstep=1 and one call of nstep=12 per policy
step; the FASTER is the baseline (nstep=12 keeps the solver warm start between the steps).
Environment overhead = env time per physics step / raw time per physics step - 1 (target <= 25 %).
"in-run" = env wall time / time inside the engine's physics calls during the same steps - 1.
Env and raw blocks alternate (--repeats times, medians reported) so machine load hits both alike.
Thread speed-up = rate(2 threads) / rate(1 thread) (target >= 1.7x). The env is stepped under
torch.inference_mode(), as the PPO rollout loop and rl/evaluate step it.
Run: python bench/bench_env.py [--quick] [--task peg_insertion] [--backend native|torch]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("omnireset_sim", "omnireset_control", "omnireset_policy"):
    sys.path.insert(0, str(ROOT / "src" / pkg))

import mujoco  # noqa: E402
import mujoco.rollout  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from omnireset_sim.envs import make_env  # noqa: E402
from omnireset_sim.envs.mujoco_engine import CONTROL_SPEC  # noqa: E402
from omnireset_sim.envs.vec_env import LAW_BACKENDS  # noqa: E402

DECIMATION = 12


class RawStepper:
    """Zero-torque rollout of a copy of the env's worlds (same models, same states), two ways."""

    def __init__(self, env, nthread: int):
        eng = env.engine
        self.models = eng.models
        self.n = env.num_envs
        self.roll = mujoco.rollout.Rollout(nthread=nthread)
        self.datas = [mujoco.MjData(eng.model) for _ in range(max(1, nthread))]
        self.state3 = eng.raw_state().copy()[:, None, :]
        control3 = eng._control3.copy()  # noqa: SLF001 - bench mirrors the engine's control layout
        control3[:, 0, : eng.model.nu] = 0.0
        self.control1 = control3
        self.control12 = np.repeat(control3, DECIMATION, axis=1)
        self.out12 = np.zeros((self.n, DECIMATION, eng.nstate))

    def policy_steps_nstep1(self, k: int) -> float:
        t = time.perf_counter()
        for _ in range(k * DECIMATION):
            self.roll.rollout(self.models, self.datas, self.state3[:, 0, :], self.control1, control_spec=CONTROL_SPEC,
                              skip_checks=True, nstep=1, state=self.state3)
        return time.perf_counter() - t

    def policy_steps_nstep12(self, k: int) -> float:
        t = time.perf_counter()
        for _ in range(k):
            self.roll.rollout(self.models, self.datas, self.state3[:, 0, :], self.control12, control_spec=CONTROL_SPEC,
                              skip_checks=True, nstep=DECIMATION, state=self.out12)
            self.state3[:, 0, :] = self.out12[:, -1, :]
        return time.perf_counter() - t

    def close(self) -> None:
        self.roll.close()


def single_mj_step_rate(env, steps: int = 3000) -> float:
    m = env.engine.model
    d = mujoco.MjData(m)
    mujoco.mj_setState(m, d, env.engine.raw_state()[0], mujoco.mjtState.mjSTATE_FULLPHYSICS)
    t = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(m, d)
    return steps / (time.perf_counter() - t)


class EnvStepper:
    def __init__(self, env, seed: int = 0):
        self.env = env
        gen = torch.Generator().manual_seed(seed)
        self.actions = [torch.rand(env.num_envs, 7, generator=gen) * 2 - 1 for _ in range(64)]
        self.i = 0

    def policy_steps(self, k: int) -> tuple[float, float]:
        """(wall seconds, seconds inside the engine's physics calls) of k env steps."""
        physics0 = self.env.engine.physics_seconds
        t = time.perf_counter()
        # As training and evaluation step it: the PPO rollout loop (rl/runner.py) and rl/evaluate run the
        # env under inference mode (no autograd bookkeeping on the env's small tensor ops).
        with torch.inference_mode():
            for _ in range(k):
                self.env.step(self.actions[self.i % len(self.actions)])
                self.i += 1
        return time.perf_counter() - t, self.env.engine.physics_seconds - physics0


def measure(task: str, n: int, nthread: int, backend: str, steps: int, repeats: int) -> dict:
    env = make_env(task, "hard", n, nthread=nthread, seed=0, law_backend=backend)
    if env.law_backend != backend:
        raise SystemExit(f"backend {backend!r} unavailable (fell back to {env.law_backend!r})")
    stepper, raw = EnvStepper(env), RawStepper(env, nthread)
    stepper.policy_steps(2)  # warm-up (first call builds/loads the kernel, allocations)
    raw.policy_steps_nstep1(1)
    raw.policy_steps_nstep12(1)
    env_t, in_run, raw1_t, raw12_t = [], [], [], []
    for _ in range(repeats):  # alternate blocks so background load affects env and raw alike
        wall, physics = stepper.policy_steps(steps)
        env_t.append(wall)
        in_run.append(wall / physics - 1.0)
        raw1_t.append(raw.policy_steps_nstep1(steps))
        raw12_t.append(raw.policy_steps_nstep12(steps))
    physics_steps = n * steps * DECIMATION
    out = {
        "env": physics_steps / statistics.median(env_t),  # physics steps / s (summed over worlds)
        "raw1": physics_steps / statistics.median(raw1_t),
        "raw12": physics_steps / statistics.median(raw12_t),
        "in_run": statistics.median(in_run),
        "single": single_mj_step_rate(env) if nthread == 1 else None,
    }
    raw.close()
    env.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N (16, 64) and few steps")
    parser.add_argument("--task", default="peg_insertion")
    parser.add_argument("--sizes", default=None, help="comma-separated N values (default 64,256,1024)")
    parser.add_argument("--backend", default="native", choices=LAW_BACKENDS, help="law backend of the main table")
    parser.add_argument("--compare", default=None, help="the other backend is also timed at this N "
                        "(default: the middle size; 0: skip)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating env/raw timing blocks (median)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([16, 64] if args.quick else [64, 256, 1024])
    compare_n = int(args.compare) if args.compare is not None else sizes[len(sizes) // 2]
    torch.set_num_threads(1)
    print(f"task {args.task}, mujoco {mujoco.__version__}, torch {torch.__version__}, decimation {DECIMATION}, "
          f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}")
    print("baseline = the faster raw rollout (12 x nstep=1 or 1 x nstep=12); overhead = env/baseline time per "
          "physics step - 1")
    header = (f"{'backend':>7} {'N':>5} {'thr':>3} {'env-steps/s':>12} {'env phys/s':>11} {'raw 12x1':>10} "
              f"{'raw 1x12':>10} {'overhead':>9} {'in-run':>8}")
    print(header)
    results = {}

    def row(backend: str, n: int, nthread: int) -> dict:
        steps = 3 if args.quick else max(4, min(100, 6000 // n))
        r = measure(args.task, n, nthread, backend, steps, args.repeats)
        raw = max(r["raw1"], r["raw12"])
        r["overhead"] = raw / r["env"] - 1.0
        print(f"{backend:>7} {n:>5} {nthread:>3} {r['env'] / DECIMATION:>12.0f} {r['env']:>11.0f} {r['raw1']:>10.0f} "
              f"{r['raw12']:>10.0f} {r['overhead'] * 100:>8.1f}% {r['in_run'] * 100:>7.1f}%", flush=True)
        if r["single"] is not None and n == sizes[0]:
            print(f"      (single-world mj_step loop: {r['single']:.0f} steps/s)")
        return r

    for n in sizes:
        for nthread in (1, 2):
            results[(n, nthread)] = row(args.backend, n, nthread)
    if compare_n:
        other = [b for b in LAW_BACKENDS if b != args.backend][0]
        row(other, compare_n, 1)
    for n in sizes:
        one, two = results[(n, 1)], results[(n, 2)]
        print(f"N={n}: 2-thread speed-up env {two['env'] / one['env']:.2f}x, raw physics "
              f"{max(two['raw1'], two['raw12']) / max(one['raw1'], one['raw12']):.2f}x")
    print(f"load average at end {os.getloadavg()[0]:.2f} (this process adds up to ~1-2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
