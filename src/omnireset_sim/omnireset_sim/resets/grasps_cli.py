"""Sample and validate antipodal grasps on a task's target object; write a grasp set (.npz).

  grasps --task peg_insertion --num-grasps 1000 --out data/resets/peg_insertion/grasps.npz

Interrupted runs resume from `<out>.parts/` (same arguments). Exit status 2 on bad input or when
the object yields no valid grasp.
"""

from __future__ import annotations

import argparse
import sys

from ._cli_common import add_scene_args, progress_bar, scene_from_args, setup_runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grasps", description=__doc__.splitlines()[0])
    add_scene_args(parser)
    parser.add_argument("--num-grasps", type=int, default=1000)
    parser.add_argument("--max-candidates", type=int, default=20000)
    parser.add_argument("--out", required=True, help="output .npz")
    args = parser.parse_args(argv)
    setup_runtime()
    from .artifacts import ArtifactError
    from .grasps import GraspConfig, NoValidGraspError, generate_grasps
    from ..tasks import get_task

    try:
        task = get_task(args.task)
        scene = scene_from_args(args)
        cfg = GraspConfig(num_grasps=args.num_grasps, max_candidates=args.max_candidates, gripper=scene.gripper)
        bar = progress_bar(cfg.max_candidates, f"grasps {task.name}", "cand")
        kept = [0]

        def progress(candidates, accepted, resumed):
            kept[0] += accepted
            bar.update(candidates)
            bar.set_postfix(kept=kept[0], resumed=resumed)

        try:
            gs = generate_grasps(task, cfg, args.seed, args.out, progress, keep_parts=args.keep_parts)
        finally:
            bar.close()
    except (ValueError, ArtifactError, NoValidGraspError) as err:
        print(f"grasps: error: {err}", file=sys.stderr)
        return 2
    m = gs.meta
    print(f"{len(gs)} grasps on {task.target.name!r} from {m['candidates']} candidates "
          f"({100 * m['accepted'] / m['candidates']:.1f} % passed); rejections {m['rejections']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
