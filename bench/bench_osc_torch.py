#!/usr/bin/env python3
"""Benchmark: the batched torch OSC law for 4096 environments per physics step, vs a naive
per-environment loop (numpy FK/Jacobian + law, one env at a time) measured in the same run.

    source env.sh && python bench/bench_osc_torch.py [--envs 4096] [--dtype float32]

Prints microseconds per environment per physics step for (a) the law alone (Jacobian and pose
given, as a simulator that reads its own site pose would call it) and (b) FK + Jacobian + law.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from omnireset_control.constants import HARDWARE_TORQUE_LIMIT, TRAIN_ACTION_SCALE, TRAIN_GAINS
from omnireset_control.composition import compose_target
from omnireset_control.kinematics import BatchedKinematics, fk, jacobian, load_kinematics
from omnireset_control.osc import BatchedOsc
from omnireset_control.rotations import matrix_to_axis_angle


def timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def naive_step(params, qs, qds, tpos, trot, kp, kd):
    out = np.empty_like(qs)
    for i in range(len(qs)):
        T = fk(params, qs[i])
        J = jacobian(params, qs[i])
        e_pos = tpos[i] - T[:3, 3]
        n = np.linalg.norm(e_pos)
        if n > 0.05:
            e_pos *= 0.05 / n
        e_rot = matrix_to_axis_angle(torch.from_numpy(trot[i] @ T[:3, :3].T)[None])[0].numpy()
        n = np.linalg.norm(e_rot)
        if n > 0.3:
            e_rot *= 0.3 / n
        e = np.concatenate([e_pos, e_rot])
        out[i] = J.T @ (kp * e - kd * (J @ qds[i]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=4096)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--naive-envs", type=int, default=128, help="envs timed for the naive loop")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--quick", action="store_true", help="smaller naive baseline (same 4096 envs)")
    args = parser.parse_args()
    if args.quick:
        args.naive_envs = min(args.naive_envs, 32)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    n = args.envs
    params = load_kinematics("ur7e")
    kin = BatchedKinematics(params, dtype=dtype)
    gen = torch.Generator().manual_seed(0)
    home = torch.tensor([0.0, -1.57, 1.57, -1.57, -1.57, 0.0], dtype=dtype)
    q = home + 0.5 * torch.rand(n, 6, generator=gen, dtype=dtype) - 0.25
    qd = torch.randn(n, 6, generator=gen, dtype=dtype)
    pos, rot, jac = kin.forward_with_jacobian(q)
    action = torch.rand(n, 6, generator=gen, dtype=dtype) * 2 - 1
    tpos, trot = compose_target(pos, rot, action, TRAIN_ACTION_SCALE)
    q = q + 0.05  # the arm has moved since the command
    osc = BatchedOsc(n, TRAIN_GAINS, torque_limit=HARDWARE_TORQUE_LIMIT, dtype=dtype)
    pos, rot, jac = kin.forward_with_jacobian(q)

    law_s = timeit(lambda: osc.torque(jac, qd, pos, rot, tpos, trot), 50)

    def full():
        p, r, j = kin.forward_with_jacobian(q)
        return osc.torque(j, qd, p, r, tpos, trot)

    full_s = timeit(full, 30)
    m = args.naive_envs
    args_np = [x[:m].double().numpy() for x in (q, qd, tpos, trot)]
    kp, kd = np.array(TRAIN_GAINS.kp), np.array(TRAIN_GAINS.kd)
    naive_s = timeit(lambda: naive_step(params, *args_np, kp, kd), 1)
    # The naive loop computes the same torques (unclipped here; compare where the clip is idle).
    ref = naive_step(params, *args_np, kp, kd)
    batched = full()[:m].double().numpy()
    idle = (np.abs(ref) < np.array(HARDWARE_TORQUE_LIMIT)).all(axis=1)
    agree = np.abs(ref[idle] - batched[idle]).max() if idle.any() else float("nan")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.dtype}, {n} envs")
    print(f"batched law only         : {law_s * 1e6 / n:8.3f} us/env  ({law_s * 1e3:.2f} ms per physics step)")
    print(f"batched FK+Jacobian+law  : {full_s * 1e6 / n:8.3f} us/env  ({full_s * 1e3:.2f} ms per physics step)")
    print(f"naive per-env loop       : {naive_s * 1e6 / m:8.3f} us/env  (numpy FK/J + law, {m} envs timed)")
    print(f"speed-up (FK+J+law)      : {naive_s / m / (full_s / n):8.1f} x")
    print(f"max |tau| difference batched vs naive: {agree:.2e} N*m")


if __name__ == "__main__":
    main()
