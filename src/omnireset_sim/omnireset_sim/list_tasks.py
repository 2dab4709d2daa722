"""List the tasks and their variants: `python -m omnireset_sim.list_tasks [--markdown]`.

``--markdown`` prints the README's per-task table (objects and their dimensions, thresholds, the
variants' goal placement, the approximations that remain), generated from the TaskSpecs so that
the README cannot drift from the code (tests/test_readme_tables.py compares them).
"""

from __future__ import annotations

import argparse
import math
import sys


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

    lines = ["| task | target (bounding box, mass) | receptive | success | Easy goal (base_link, m) | "
             "Hard goal | approximations that remain |",
             "|---|---|---|---|---|---|---|"]
    for name in task_names():
        spec = get_task(name)
        fit = "tight fit" if spec.success_position_threshold <= TIGHT_FIT_POSITION else "loose fit"
        success = (f"{spec.success_position_threshold * 1000:g} mm / {spec.success_orientation_threshold:g} rad "
                   f"({fit}; rotation about {', '.join(spec.ignored_axes)} ignored)" if spec.ignored_axes else f"({fit})")
        approx = " ".join((spec.approximations or "none").split()).replace("|", "/")
        lines.append(f"| {name} | {_object_cell(spec.target)} | {_object_cell(spec.receptive)} | {success} | "
                     f"{_variant_cell(spec.variants['easy'])} | {_variant_cell(spec.variants['hard'])} | {approx} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="list_tasks", description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the README's per-task table")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown_table())
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
