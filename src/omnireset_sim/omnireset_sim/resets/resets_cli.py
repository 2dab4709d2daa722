"""Generate an OmniReset reset dataset (reaching, near_object, stable_grasp, near_goal) for a task.

  resets --task peg_insertion --variant easy --grasps G.npz --partial-assemblies P.npz \\
         --per-type 10000 --out data/resets/peg_insertion/easy.npz --coverage cov.png --gallery gal.png
  resets --info data/resets/peg_insertion/easy.npz        # print a dataset's metadata

Chunks are saved in `<out>.parts/`; rerunning the same command after an interruption resumes.
"""

from __future__ import annotations

import argparse
import json
import sys

from ._cli_common import add_scene_args, progress_bar, scene_from_args, setup_runtime
from .released import STATES_PER_TYPE


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--info"]:
        return _info(argv[1:])
    parser = argparse.ArgumentParser(prog="resets", description=__doc__.splitlines()[0])
    add_scene_args(parser)
    parser.add_argument("--variant", default="easy", help="easy or hard")
    parser.add_argument("--grasps", help="grasp set .npz (from `grasps`)")
    parser.add_argument("--partial-assemblies", help="partial assemblies .npz (from `partial_assemblies`)")
    parser.add_argument("--per-type", type=int, default=STATES_PER_TYPE,
                        help=f"states per reset type (default {STATES_PER_TYPE}, as released)")
    parser.add_argument("--types", default=",".join(("reaching", "near_object", "stable_grasp", "near_goal")),
                        help="comma-separated reset types to generate")
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--coverage", help="write a coverage PNG (x-y per type)")
    parser.add_argument("--gallery", help="write a gallery PNG of sample states per type")
    args = parser.parse_args(argv)
    setup_runtime()
    from .artifacts import ArtifactError
    from .dataset import DatasetRequest, generate_dataset
    from .grasps import load_grasps
    from .partial_assemblies import load_partial_assemblies
    from .plots import coverage_plot, gallery

    try:
        scene = scene_from_args(args)
        types = [t.strip() for t in args.types.split(",") if t.strip()]
        req = DatasetRequest(args.task, args.variant, {t: args.per_type for t in types}, args.seed, args.chunk_size,
                             scene=scene)
        grasps = load_grasps(args.grasps, args.task) if args.grasps else None
        assemblies = load_partial_assemblies(args.partial_assemblies, args.task) if args.partial_assemblies else None
        if grasps is not None and grasps.meta.get("config", {}).get("gripper") != _asdict(scene.gripper):
            raise ArtifactError(f"{args.grasps}: grasps were validated with gripper "
                                f"{grasps.meta.get('config', {}).get('gripper')}, not {_asdict(scene.gripper)}")
        bar = progress_bar(args.per_type * len(types), f"resets {args.task}/{args.variant}", "state")
        try:
            ds = generate_dataset(req, grasps, assemblies, args.out, progress=bar.update, keep_parts=args.keep_parts)
        finally:
            bar.close()
    except (ValueError, ArtifactError) as err:
        print(f"resets: error: {err}", file=sys.stderr)
        return 2
    m = ds.meta
    for name in m["reset_type_names"]:
        att = m["attempts"].get(name, 0)
        if att:
            rej = {k: v for k, v in m["rejections"][name].items() if v}
            print(f"{name:13s} {m['counts'][name]:6d} kept / {att:6d} proposed "
                  f"({100 * (1 - m['counts'][name] / att):.1f} % rejected) {rej}")
    print(f"-> {args.out}")
    if args.coverage:
        print(f"coverage -> {coverage_plot(ds, args.coverage)}")
    if args.gallery:
        print(f"gallery -> {gallery(ds, args.gallery, scene=scene)}")
    return 0


def _asdict(x):
    from dataclasses import asdict

    return asdict(x)


def _info(argv) -> int:
    from .artifacts import ArtifactError
    from .dataset import load_reset_dataset

    if len(argv) != 1:
        print("usage: resets --info DATASET.npz", file=sys.stderr)
        return 2
    try:
        ds = load_reset_dataset(argv[0])
    except ArtifactError as err:
        print(f"resets: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(ds.meta, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
