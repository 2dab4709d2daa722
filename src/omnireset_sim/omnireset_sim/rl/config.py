"""The PPO agent configuration (rsl-rl 5.5 dict format), defaults from the official agent config.

Observation sets: the actor reads the env's `policy` group (5-frame history, the deployed layout);
the critic reads the env's `critic` group, which already is the current policy frame plus the
privileged terms (mdp/observations.py). Concatenating the 245-D `policy` history as well would
hand the critic the history A.3.9 says it does not use, and the current frame twice.
"""

from __future__ import annotations

import copy

GSDE_CLASS = "omnireset_sim.rl.gsde:GsdeDistribution"
GAUSSIAN_CLASS = "rsl_rl.modules.distribution:GaussianDistribution"
NOISE_TYPES = ("gsde", "gsde_held", "gaussian")

ACTOR_OBS_GROUPS = ["policy"]
CRITIC_OBS_GROUPS = ["critic"]
HIDDEN_DIMS = [512, 256, 128, 64]

AGENT_DEFAULTS: dict = {
    "num_steps_per_env": 32,
    "save_interval": 50,
    "check_for_nan": True,
    "obs_groups": {"actor": ACTOR_OBS_GROUPS, "critic": CRITIC_OBS_GROUPS},
    "actor": {
        "class_name": "MLPModel",
        "hidden_dims": HIDDEN_DIMS,
        "activation": "elu",
        "obs_normalization": True,
        "distribution_cfg": None,  # set by make_agent_cfg (gSDE by default)
    },
    "critic": {
        "class_name": "MLPModel",
        "hidden_dims": HIDDEN_DIMS,
        "activation": "elu",
        "obs_normalization": True,
    },
    "algorithm": {
        "class_name": "PPO",
        "clip_param": 0.2,
        "entropy_coef": 0.006,
        "num_learning_epochs": 5,
        "num_mini_batches": 4,
        "learning_rate": 1.0e-4,
        "schedule": "adaptive",
        "desired_kl": 0.01,
        "gamma": 0.99,
        "lam": 0.95,
        "max_grad_norm": 1.0,
        "value_loss_coef": 1.0,
        "use_clipped_value_loss": True,
    },
    "logger": "tensorboard",
}


def distribution_cfg(noise: str) -> dict:
    from .gsde import HELD_GSDE, RELEASED_GSDE

    if noise == "gsde":
        # As released (UW-Lab/rsl_rl): with the initial features (|phi|^2 ~ 0.4) the first action std is ~0.6.
        return {"class_name": GSDE_CLASS, **RELEASED_GSDE}
    if noise == "gsde_held":
        # This project's earlier variant (gsde.HELD_GSDE), an option until a measurement says which is better.
        return {"class_name": GSDE_CLASS, **HELD_GSDE}
    if noise == "gaussian":
        return {"class_name": GAUSSIAN_CLASS, "init_std": 1.0, "std_type": "scalar"}
    raise ValueError(f"unknown noise type {noise!r}; valid: {list(NOISE_TYPES)}")


def make_agent_cfg(noise: str = "gsde", num_steps_per_env: int | None = None, save_interval: int | None = None,
                   **algorithm_overrides) -> dict:
    """A fresh copy of the defaults with the chosen exploration noise and optional PPO overrides."""
    cfg = copy.deepcopy(AGENT_DEFAULTS)
    cfg["actor"]["distribution_cfg"] = distribution_cfg(noise)
    if num_steps_per_env is not None:
        if num_steps_per_env < 1:
            raise ValueError(f"num_steps_per_env must be >= 1, got {num_steps_per_env}")
        cfg["num_steps_per_env"] = int(num_steps_per_env)
    if save_interval is not None:
        if save_interval < 1:
            raise ValueError(f"save_interval must be >= 1, got {save_interval}")
        cfg["save_interval"] = int(save_interval)
    unknown = sorted(set(algorithm_overrides) - set(cfg["algorithm"]))
    if unknown:
        raise ValueError(f"unknown PPO option(s) {unknown}; valid: {sorted(cfg['algorithm'])}")
    cfg["algorithm"].update(algorithm_overrides)
    return cfg


__all__ = ["ACTOR_OBS_GROUPS", "AGENT_DEFAULTS", "CRITIC_OBS_GROUPS", "GAUSSIAN_CLASS", "GSDE_CLASS", "HIDDEN_DIMS",
           "NOISE_TYPES", "distribution_cfg", "make_agent_cfg"]
