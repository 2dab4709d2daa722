"""List the tasks and their variants: `python -m omnireset_sim.list_tasks`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from .tasks import get_task, task_names

    for name in task_names():
        spec = get_task(name)
        print(f"{name}: {spec.description}")
        print(f"  variants: {', '.join(sorted(spec.variants))}; target {spec.target.name}, receptive {spec.receptive.name}; "
              f"success < {spec.success_position_threshold * 1000:.0f} mm, < {spec.success_orientation_threshold:.2f} rad "
              f"(ignoring {', '.join(spec.ignored_axes) or 'none'})")
        if spec.approximations:
            print(f"  approximation: {spec.approximations}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
