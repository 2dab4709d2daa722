"""Task registry: every sub-package of `omnireset_sim.tasks` that defines `SPEC` is a task."""

from __future__ import annotations

import importlib
import pkgutil
from contextlib import contextmanager
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


@contextmanager
def registered(spec: TaskSpec):
    """``spec`` in the registry under its name for the block (a prototype variant, e.g. the threaded
    leg, that make_env and build_oracle then read as the task), the registered one restored after."""
    tasks = _registry()
    previous = tasks.get(spec.name)
    tasks[spec.name] = spec
    try:
        yield spec
    finally:
        if previous is None:
            del tasks[spec.name]
        else:
            tasks[spec.name] = previous


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
