"""Where training resets come from: the env's default (reaching-style) sampler, or an OmniReset
reset dataset (omnireset_sim.resets, imported only when a dataset is asked for)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_RESET_SOURCE = "reaching (default sampler)"


class ResetSourceError(ValueError):
    """The reset dataset cannot be used; the message says why."""


def make_reset_sampler(path: str | Path | None, task: str, variant: str, scene=None):
    """(sampler or None for the env default, description). None path -> the default reaching sampler.

    The dataset must be for this task, variant, robot and gripper (the resets package checks and
    names any difference)."""
    if path is None:
        return None, DEFAULT_RESET_SOURCE
    path = Path(path)
    if not path.exists():
        raise ResetSourceError(f"reset dataset {path} does not exist")
    try:
        from omnireset_sim.resets import DatasetResetSampler
    except ImportError as exc:
        raise ResetSourceError(f"--resets needs omnireset_sim.resets (DatasetResetSampler), which is not available "
                               f"here: {exc}") from None
    from ..assets.scene import SceneConfig

    scene = scene or SceneConfig()
    sampler = DatasetResetSampler(str(path), task=task, robot=scene.arm.robot, variant=variant, scene=scene)
    return sampler, str(path)


__all__ = ["DEFAULT_RESET_SOURCE", "ResetSourceError", "make_reset_sampler"]
