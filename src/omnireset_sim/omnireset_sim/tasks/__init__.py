"""Task registry: every sub-package of `omnireset_sim.tasks` that defines `SPEC` is a task."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from .spec import TaskSpec, VariantSpec, sample_goal


@lru_cache(maxsize=1)
def _registry() -> dict[str, TaskSpec]:
    tasks: dict[str, TaskSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, TaskSpec):
            tasks[spec.name] = spec
    return tasks


def task_names() -> list[str]:
    return sorted(_registry())


def get_task(name: str) -> TaskSpec:
    tasks = _registry()
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}; valid: {sorted(tasks)}")
    return tasks[name]


def get_variant(task: str, variant: str) -> tuple[TaskSpec, VariantSpec]:
    spec = get_task(task)
    return spec, spec.variant(variant)


__all__ = ["TaskSpec", "VariantSpec", "get_task", "get_variant", "sample_goal", "task_names"]
