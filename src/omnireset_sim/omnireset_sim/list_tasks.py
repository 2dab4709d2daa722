"""List the tasks and their variants: `python -m omnireset_sim.list_tasks`."""

from __future__ import annotations

import math
import sys


def main(argv: list[str] | None = None) -> int:
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
