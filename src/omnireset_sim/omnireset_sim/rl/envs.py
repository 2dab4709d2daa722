"""Building the environment for training / evaluation from CLI-level choices."""

from __future__ import annotations

from dataclasses import replace

from ..envs.vec_env import EnvCfg, OmniResetEnv
from ..mdp.events import RandomizationCfg

RANDOMIZATION_PRESETS = ("train", "finetune", "none")


def randomization_preset(name: str, max_motor_delay: int | None = None) -> RandomizationCfg:
    """'train': stage-1 default (materials, masses, gripper gains); 'finetune': every Table 2 dynamics and
    actuation row (motor delay buffer up to `max_motor_delay` steps); 'none': nominal everything."""
    if name == "train":
        return RandomizationCfg()
    if name == "finetune":
        if max_motor_delay is None:
            return RandomizationCfg.finetune()
        return RandomizationCfg.finetune(motor_delay_steps=(0, int(max_motor_delay)))
    if name == "none":
        return RandomizationCfg(enabled=False)
    raise ValueError(f"unknown randomization preset {name!r}; valid: {list(RANDOMIZATION_PRESETS)}")


def build_env(task: str, variant: str, num_envs: int, *, seed: int = 0, nthread: int = 2,
              randomization: RandomizationCfg | None = None, reset_sampler=None, **cfg_overrides) -> OmniResetEnv:
    cfg = replace(EnvCfg(), task=task, variant=variant, num_envs=int(num_envs), seed=int(seed), nthread=int(nthread),
                  randomization=randomization or RandomizationCfg(), **cfg_overrides)
    return OmniResetEnv(cfg, reset_sampler)


__all__ = ["RANDOMIZATION_PRESETS", "build_env", "randomization_preset"]
