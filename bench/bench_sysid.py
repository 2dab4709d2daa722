"""Sysid replay throughput: candidate rollouts per second with MuJoCo rollout on 0 (caller), 1 and 2
threads, all measured in this run (the 1-thread pool is the baseline of the printed ratios).

One "candidate rollout" = one parameter candidate replayed closed-loop (batched FK + OSC every
physics step) over the whole recording. Usage: python bench/bench_sysid.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2 s chirp, 1 repeat")
    ap.add_argument("--population", type=int, default=70,
                    help="candidate worlds per batch (a fit batches CMA-ES population x delays: 14 x 5)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from omnireset_sim.sysid.chirp import ChirpConfig, chirp_targets
    from omnireset_sim.sysid.config import load_sysid_config
    from omnireset_sim.sysid.params import SearchSpace
    from omnireset_sim.sysid.replay import ClosedLoopReplay, plan_replay, simulate_recording

    cfg = load_sysid_config()
    sweep = 2.0 if args.quick else 8.0
    chirp = ChirpConfig(sweep_time=sweep, f0=0.3 if args.quick else 0.1)
    repeats = 1 if args.quick else 3
    rng = np.random.default_rng(0)
    space = SearchSpace()
    with ClosedLoopReplay(nthread=0) as replay:
        pos, quat = replay.tcp_pose(cfg.start_joints)
        rec = simulate_recording(replay, chirp_targets(pos, quat, chirp), cfg.start_joints, cfg.true_parameters)
    plan = plan_replay(rec, cfg.physics_dt)
    cands = [space.decode(x) for x in rng.uniform(0.2, 0.8, size=(args.population, space.dim))]
    print(f"recording {rec.duration:.2f} s = {plan.num_steps} physics steps; {len(cands)} candidates per batch; "
          f"{repeats} repeat(s)")
    results = {}
    for nthread in (1, 0, 2):
        with ClosedLoopReplay(nthread=nthread) as replay:
            replay.run(plan, cands[:2])  # warm-up
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                replay.run(plan, cands)
                best = min(best, time.perf_counter() - t0)
        results[nthread] = len(cands) / best
        print(f"nthread={nthread}: {results[nthread]:8.2f} candidate rollouts/s "
              f"({results[nthread] * plan.num_steps:9.0f} world-steps/s)")
    base = results[1]
    for nthread in (0, 2):
        print(f"ratio nthread={nthread} / nthread=1: {results[nthread] / base:.2f}x")
    # The fit's default: the same candidates replayed in 0.5 s windows re-seeded from the recording
    # (all windows of all candidates stepped together: fewer Python steps, the same world-steps).
    window = int(round(0.5 / cfg.physics_dt))
    with ClosedLoopReplay(nthread=2) as replay:
        replay.run_windows(plan, cands[:2], window)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            replay.run_windows(plan, cands, window)
            best = min(best, time.perf_counter() - t0)
    print(f"windowed (0.5 s) nthread=2: {len(cands) / best:8.2f} candidate rollouts/s "
          f"({len(cands) / best / results[2]:.2f}x the whole-recording replay)")


if __name__ == "__main__":
    main()
