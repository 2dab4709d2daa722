"""List the tasks and their variants: `python -m omnireset_sim.list_tasks [--markdown | --artifacts DIR]`.

``--markdown`` prints the README's per-task table (objects and their dimensions, thresholds, the
episode, the variants' goal placement, the approximations that remain), generated from the TaskSpecs
so that the README cannot drift from the code (tests/test_readme_tables.py compares them).
``--artifacts DIR`` prints the per-task table of what scripts/experiments/task_artifacts.sh made
under DIR/<task>/ (grasps, partial assemblies, reset states kept per type, the oracle's success from
each reset type), read from the artifacts' own metadata.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def _bbox_mm(obj) -> tuple[float, float, float]:
    """Axis-aligned extent (mm) of an object's geoms in its own frame."""
    from .tasks.spec import _geom_corners

    corners = [c for g in obj.geoms for c in _geom_corners(g)]
    return tuple(1000.0 * (max(c[i] for c in corners) - min(c[i] for c in corners)) for i in range(3))


def _object_cell(obj) -> str:
    x, y, z = _bbox_mm(obj)
    return f"{obj.name}: {x:.4g} × {y:.4g} × {z:.4g} mm, {obj.mass * 1000:.4g} g"


def _variant_cell(v) -> str:
    (x0, x1), (y0, y1) = v.receptive_xy_bounds()
    yaw0, yaw1 = (math.degrees(a) for a in v.receptive_yaw)
    xs = f"{x0:.3f}" if x0 == x1 else f"U({x0:.3f}, {x1:.3f})"
    ys = f"{y0:.3f}" if y0 == y1 else f"U({y0:.3f}, {y1:.3f})"
    yaw = f"{yaw0:g}°" if yaw0 == yaw1 else f"U({yaw0:g}°, {yaw1:g}°)"
    return f"x {xs}, y {ys}, yaw {yaw}"


def markdown_table() -> str:
    from .tasks import get_task, task_names
    from .tasks.spec import TIGHT_FIT_POSITION

    lines = ["| task | target (bounding box, mass) | receptive | success | episode | Easy goal (base_link, m) | "
             "Hard goal | approximations that remain |",
             "|---|---|---|---|---|---|---|---|"]
    for name in task_names():
        spec = get_task(name)
        fit = "tight fit" if spec.success_position_threshold <= TIGHT_FIT_POSITION else "loose fit"
        success = (f"{spec.success_position_threshold * 1000:g} mm / {spec.success_orientation_threshold:g} rad "
                   f"({fit}; rotation about {', '.join(spec.ignored_axes)} ignored)" if spec.ignored_axes else f"({fit})")
        approx = " ".join((spec.approximations or "none").split()).replace("|", "/")
        lines.append(f"| {name} | {_object_cell(spec.target)} | {_object_cell(spec.receptive)} | {success} | "
                     f"{spec.episode_length_s:g} s | {_variant_cell(spec.variants['easy'])} | {_variant_cell(spec.variants['hard'])} | {approx} |")
    return "\n".join(lines) + "\n"


RESET_TYPES = ("reaching", "near_object", "stable_grasp", "near_goal")
SAMPLER_ROW = "reaching (default sampler)"  # rl/evaluate.py's name for the env's own reaching starts


def _meta(path: Path, stage: str) -> dict:
    """An artifact's metadata, checked as its loader checks it (kind, version, checksum)."""
    from .resets import dataset, grasps, partial_assemblies
    from .resets.artifacts import read_artifact

    kind, version = {"grasps": (grasps.GRASP_FORMAT, grasps.GRASP_FORMAT_VERSION),
                     "assemblies": (partial_assemblies.ASSEMBLY_FORMAT, partial_assemblies.ASSEMBLY_FORMAT_VERSION),
                     "resets": (dataset.DATASET_FORMAT, dataset.DATASET_FORMAT_VERSION)}[stage]
    return read_artifact(path, kind, version)[1]


def _cell(result: dict | None) -> str:
    if result is None:
        return "–"
    lo, hi = result["ci95"]
    return f"{result['successes']}/{result['episodes']} [{lo:.2f}, {hi:.2f}]"


ARTIFACTS_HEADER = ("| task | grasps kept / tried | partial assemblies | reset states kept (reaching, near-object, "
                    "stable grasp, near-goal) / proposals | oracle, env's reaching starts | oracle from the dataset: "
                    "reaching | near-object | stable grasp | near-goal | episode |\n"
                    "|---|---|---|---|---|---|---|---|---|---|\n")


def artifacts_rows(root) -> list[dict]:
    """What the per-task artifacts table shows, read from DIR/<task>/ (tasks without a folder are
    left out; a task whose folder lacks a stage's file is refused, naming it)."""
    import json

    from .tasks import get_task, task_names

    root = Path(root)
    rows = []
    for name in task_names():
        d = root / name
        if not d.is_dir():
            continue
        paths = {k: d / f for k, f in (("grasps", "grasps.npz"), ("assemblies", "partial_assemblies.npz"),
                                        ("resets", "easy.npz"), ("eval", "eval/by_reset_type.json"))}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise ValueError(f"{name}: missing {missing[0]} (scripts/experiments/task_artifacts.sh {name} {root})")
        grasps, assemblies, resets = (_meta(paths[k], k) for k in ("grasps", "assemblies", "resets"))
        evaluation = json.loads(paths["eval"].read_text())
        if len(evaluation["results"]) != 1:
            raise ValueError(f"{name}: {paths['eval']} holds {len(evaluation['results'])} policies' results, "
                             "expected one (the task's oracle)")
        (result,) = evaluation["results"].values()
        rows.append({"task": name, "grasps": grasps["count"], "grasp_candidates": grasps["candidates"],
                     "partial_assemblies": assemblies["count"],
                     "kept": {t: resets["counts"].get(t, 0) for t in RESET_TYPES},
                     "proposals": {t: resets["attempts"].get(t, 0) for t in RESET_TYPES},
                     "code_revision": resets.get("code_revision"),
                     "oracle": {k: result.get(k) for k in (SAMPLER_ROW, *RESET_TYPES)},
                     "episode_length_s": evaluation.get("episode_length_s") or get_task(name).episode_length_s})
    return rows


def artifacts_table(rows_or_root) -> str:
    """The per-task artifacts table (markdown) from artifacts_rows' output or from DIR itself."""
    rows = rows_or_root if isinstance(rows_or_root, list) else artifacts_rows(rows_or_root)
    lines = [ARTIFACTS_HEADER.rstrip("\n")]
    for r in rows:
        kept = ", ".join(str(r["kept"][t]) for t in RESET_TYPES)
        tried = ", ".join(str(r["proposals"][t]) for t in RESET_TYPES)
        lines.append(f"| {r['task']} | {r['grasps']} / {r['grasp_candidates']} | {r['partial_assemblies']} | "
                     f"{kept} / {tried} | {_cell(r['oracle'].get(SAMPLER_ROW))} | "
                     + " | ".join(_cell(r["oracle"].get(t)) for t in RESET_TYPES)
                     + f" | {r['episode_length_s']:g} s |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="list_tasks", description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the README's per-task table")
    parser.add_argument("--artifacts", metavar="DIR", default=None,
                        help="print the per-task table of task_artifacts.sh's outputs under DIR")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="with --artifacts: also write the table's rows here (docs/results/task_artifacts.json)")
    parser.add_argument("--from-json", metavar="PATH", default=None,
                        help="print the per-task artifacts table from rows written by --json")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown_table())
        return 0
    if args.artifacts is not None or args.from_json is not None:
        import json

        try:
            if args.from_json is not None:
                rows = json.loads(Path(args.from_json).read_text())["rows"]
            else:
                rows = artifacts_rows(args.artifacts)
            table = artifacts_table(rows)
            if args.json:
                from .resets.artifacts import code_revision
                from .sysid.params import atomic_write_text

                atomic_write_text(args.json, json.dumps({
                    "made_by": f"python -m omnireset_sim.list_tasks --artifacts {args.artifacts} --json {args.json}",
                    "code_revision": code_revision(), "rows": rows}, indent=1) + "\n")
        except (ValueError, OSError, KeyError, TypeError) as exc:
            print(f"list_tasks: error: {exc}", file=sys.stderr)
            return 2
        sys.stdout.write(table)
        return 0
    from .tasks import get_task, task_names

    for name in task_names():
        spec = get_task(name)
        print(f"{name}: {spec.description}")
        print(f"  variants: {', '.join(sorted(spec.variants))}; target {spec.target.name}, receptive {spec.receptive.name}; "
              f"success < {spec.success_position_threshold * 1000:g} mm, < {spec.success_orientation_threshold:g} rad "
              f"(ignoring {', '.join(spec.ignored_axes) or 'none'})")
        for vname in sorted(spec.variants):
            v = spec.variants[vname]
            (x0, x1), (y0, y1) = v.receptive_xy_bounds()
            print(f"  {vname}: receptive x [{x0:.3f}, {x1:.3f}] m, y [{y0:.3f}, {y1:.3f}] m, "
                  f"yaw [{math.degrees(v.receptive_yaw[0]):g}, {math.degrees(v.receptive_yaw[1]):g}] deg (base_link)")
        if spec.approximations:
            print(f"  approximation: {spec.approximations}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
