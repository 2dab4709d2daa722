"""Reset generation throughput on this CPU: valid (settled) states/s and rejection rates and reasons
per reset type, plus grasp candidates/s and partial-assembly poses/s, for one task.

Every state is validated by 2 s of physics (240 steps) as released, so a kept state costs at least
one 240-step rollout; the baseline in the same run is plain IK throughput (targets/s of the
multi-seed DLS IK on reaching poses), so the per-type rates can be read as "x IK solves per valid
state".
Run: python bench/bench_resets.py [--quick] [--per-type 200] [--task peg_insertion] [--gripper-force 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("omnireset_sim", "omnireset_control", "omnireset_policy"):
    sys.path.insert(0, str(ROOT / "src" / pkg))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--task", default="peg_insertion")
    parser.add_argument("--variant", default="easy")
    parser.add_argument("--gripper-force", type=float, default=15.0)
    parser.add_argument("--per-type", type=int, default=None, help="states per type (default 60, --quick 10)")
    args = parser.parse_args()
    if args.per_type is not None and args.per_type < 1:
        print("bench_resets: error: --per-type must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    from omnireset_sim.assets.gripper import GripperConfig
    from omnireset_sim.assets.scene import SceneConfig
    from omnireset_sim.resets.grasps import GraspConfig, generate_grasps
    from omnireset_sim.resets.partial_assemblies import PartialAssemblyConfig, generate_partial_assemblies
    from omnireset_sim.resets.states import RESET_TYPES, ResetStateGenerator
    from omnireset_sim.tasks import get_variant

    task, variant = get_variant(args.task, args.variant)
    gripper = GripperConfig(force=args.gripper_force)
    n_cand, n_states = (200, 10) if args.quick else (2000, 60)
    n_states = args.per_type or n_states

    t = time.perf_counter()
    grasps = generate_grasps(task, GraspConfig(num_grasps=n_cand, max_candidates=n_cand, chunk_candidates=n_cand,
                                               gripper=gripper))
    dt = time.perf_counter() - t
    print(f"grasps: {n_cand / dt:8.1f} candidates/s, {grasps.meta['accepted'] / dt:8.1f} valid grasps/s "
          f"({100 * grasps.meta['accepted'] / n_cand:.1f} % pass) rejections {grasps.meta['rejections']}")
    t = time.perf_counter()
    pa = generate_partial_assemblies(task, PartialAssemblyConfig(num_poses=n_cand, max_episodes=200))
    dt = time.perf_counter() - t
    print(f"partial assemblies: {len(pa) / dt:8.1f} distinct poses/s ({pa.meta['episodes']} episodes of 4 s, "
          f"{pa.meta['dislodged']} dislodged)")

    gen = ResetStateGenerator(task, variant, grasps, pa, scene=SceneConfig(gripper=gripper))
    prop, _ = gen.propose("reaching", 64, np.random.default_rng(0))
    t = time.perf_counter()
    _, ok = gen.ik.solve(torch.from_numpy(prop.tcp_pos), torch.from_numpy(prop.tcp_rot))
    ik_rate = 64 / (time.perf_counter() - t)
    print(f"baseline IK: {ik_rate:8.1f} targets/s ({100 * float(ok.double().mean()):.0f} % converged)")
    print(f"{'type':13s} {'valid/s':>8s} {'rejected':>9s}  {'IK solves per valid':>19s}  reasons")
    total_kept, total_dt = 0, 0.0
    for i, name in enumerate(RESET_TYPES):
        t = time.perf_counter()
        arrays, stats = gen.generate(name, n_states, np.random.default_rng([0, i]))
        dt = time.perf_counter() - t
        kept = len(arrays["joint_pos"])
        total_kept, total_dt = total_kept + kept, total_dt + dt
        rej = 1 - kept / max(stats["attempts"], 1)
        reasons = {k: v for k, v in stats["rejects"].items() if v}
        print(f"{name:13s} {kept / dt:8.2f} {100 * rej:8.1f}%  {ik_rate * dt / max(kept, 1):19.2f}  {reasons}")
    print(f"{'all':13s} {total_kept / total_dt:8.2f} states/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
