"""Generate partial assemblies (near-goal offsets of the target in the receptive object) (.npz).

  partial_assemblies --task peg_insertion --num-poses 500 --out data/resets/peg_insertion/partial_assemblies.npz
"""

from __future__ import annotations

import argparse
import sys

from ._cli_common import progress_bar, setup_runtime


def main(argv: list[str] | None = None) -> int:
    from ..tasks import task_names

    parser = argparse.ArgumentParser(prog="partial_assemblies", description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, help=f"one of {task_names()}")
    parser.add_argument("--num-poses", type=int, default=500)
    parser.add_argument("--max-episodes", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--keep-parts", action="store_true")
    args = parser.parse_args(argv)
    setup_runtime()
    from .artifacts import ArtifactError
    from .partial_assemblies import PartialAssemblyConfig, generate_partial_assemblies
    from ..tasks import get_task

    try:
        task = get_task(args.task)
        cfg = PartialAssemblyConfig(num_poses=args.num_poses, max_episodes=args.max_episodes)
        bar = progress_bar(cfg.num_poses, f"partial assemblies {task.name}", "pose")
        try:
            pa = generate_partial_assemblies(task, cfg, args.seed, args.out,
                                             lambda episodes, kept, resumed: bar.update(kept), args.keep_parts)
        finally:
            bar.close()
    except (ValueError, ArtifactError, RuntimeError) as err:
        print(f"partial_assemblies: error: {err}", file=sys.stderr)
        return 2
    print(f"{len(pa)} distinct partial assemblies from {pa.meta['episodes']} episodes "
          f"({pa.meta['dislodged']} dislodged) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
