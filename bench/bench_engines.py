"""Env-steps/s vs N: MuJoCo C beside MuJoCo Warp, in the same run (ratios per N).

Engines timed for every N (blocks alternate, --repeats times, medians):
  mujoco             the C engine with its native control step (the CPU default; 2 threads)
  mujoco_warp        MuJoCo Warp, its default: the OSC law as a Warp kernel, the 12 physics steps
                     and the law of a policy step replayed from ONE captured graph (warp_osc.py)
  mujoco_warp_torch  MuJoCo Warp, the torch OSC law between single physics steps, each step
                     replayed from a captured Warp graph (law_backend="torch")
  mujoco_warp_ng     the torch law without any graph capture
A policy step is 12 physics steps with the law, then rewards, observations and auto-resets; the
policy is a fixed random action. On the CPU device Warp uses one core: there it is a correctness
platform and its numbers say nothing about a GPU. On a GPU machine: --device cuda:0 --sizes
1024 4096 16384 --engines mujoco_warp mujoco_warp_torch mujoco_warp_ng (bench/gpu_check.sh).
Run: python bench/bench_engines.py [--sizes 16 64] [--steps 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("omnireset_sim", "omnireset_control", "omnireset_policy"):
    sys.path.insert(0, str(ROOT / "src" / pkg))

import torch  # noqa: E402

from omnireset_sim.envs import make_env  # noqa: E402

ENGINES = ("mujoco", "mujoco_warp", "mujoco_warp_torch", "mujoco_warp_ng")


def build(engine: str, n: int, task: str, variant: str, device: str):
    t = time.perf_counter()
    if engine == "mujoco":
        env = make_env(task, variant, n, engine="mujoco", nthread=2, seed=0)
    else:
        law = "native" if engine == "mujoco_warp" else "torch"
        env = make_env(task, variant, n, engine="mujoco_warp", device=device, seed=0, law_backend=law)
        env.engine.use_graph = engine != "mujoco_warp_ng"
    return env, time.perf_counter() - t


def time_steps(env, steps: int, actions: torch.Tensor) -> float:
    sync = getattr(env.engine, "synchronize", lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    sync()
    return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=["mujoco", "mujoco_warp"])
    p.add_argument("--steps", type=int, default=5, help="policy steps per timed block")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--task", default="peg_insertion")
    p.add_argument("--variant", default="easy")
    p.add_argument("--device", default="cpu", help="MuJoCo Warp's device (the C engine is always on the CPU)")
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    from omnireset_sim.envs.engine_cli import check_engine
    from omnireset_sim.envs.mujoco_warp_engine import EngineUnavailable

    try:
        if any(e.startswith("mujoco_warp") for e in args.engines):
            check_engine("mujoco_warp", args.device)
    except (EngineUnavailable, ValueError) as exc:
        print(f"bench_engines: error: {exc}", file=sys.stderr)
        return 2
    rows = []
    print(f"{'N':>6} {'engine':>17} {'env-steps/s':>12} {'build s':>8} {'x mujoco':>9}", flush=True)
    for n in args.sizes:
        envs = {e: build(e, n, args.task, args.variant, args.device) for e in args.engines}
        gen = torch.Generator().manual_seed(0)
        actions = torch.rand(n, 7, generator=gen) * 2 - 1
        times = {e: [] for e in args.engines}
        with torch.inference_mode():
            for e, (env, _) in envs.items():
                time_steps(env, 1, actions.to(env.device))  # warm-up (compiles, captures)
            for _ in range(args.repeats):
                for e, (env, _) in envs.items():
                    times[e].append(time_steps(env, args.steps, actions.to(env.device)))
        rate = {e: n * args.steps / statistics.median(ts) for e, ts in times.items()}
        for e in args.engines:
            ratio = rate[e] / rate["mujoco"] if "mujoco" in rate else float("nan")
            rows.append({"N": n, "engine": e, "env_steps_per_s": rate[e], "build_s": envs[e][1], "vs_mujoco": ratio,
                         "device": "cpu" if e == "mujoco" else args.device})
            print(f"{n:>6} {e:>17} {rate[e]:>12.0f} {envs[e][1]:>8.1f} {ratio:>9.2f}", flush=True)
        for env, _ in envs.values():
            env.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
