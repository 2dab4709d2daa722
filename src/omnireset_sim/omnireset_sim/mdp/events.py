"""Randomization events: the dynamics and actuation rows of Table 2, each switchable.

Frictions and masses are drawn at startup (Isaac Lab "startup" mode, as the official config);
joint friction/armature/damping, motor delay, OSC gains and gripper gains are redrawn at every
reset ("reset" mode).

Presets follow the official two stages: the default (stage 1, RL training) randomizes materials,
masses and gripper gains; `RandomizationCfg.finetune()` (stage 2) adds the actuation/sysid rows
(joint dynamics, motor delay, OSC gains). Measured here: a 1-2 step torque delay with the soft,
strongly damped training gains makes some worlds under random actions exceed the abnormal
joint-speed limit, which is why the official code keeps those rows for the finetune stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..envs.engine import DynamicsParams

Range = tuple[float, float]


@dataclass(frozen=True)
class RandomizationCfg:
    enabled: bool = True
    # Dynamics (startup)
    robot_friction: bool = True
    robot_static_friction: Range = (0.3, 1.2)
    robot_dynamic_friction: Range = (0.2, 1.0)
    target_friction: bool = True
    target_static_friction: Range = (1.0, 2.0)
    target_dynamic_friction: Range = (0.9, 1.9)
    receptive_friction: bool = True
    receptive_static_friction: Range = (0.2, 0.6)
    receptive_dynamic_friction: Range = (0.15, 0.5)
    table_friction: bool = True
    table_static_friction: Range = (0.3, 0.6)
    table_dynamic_friction: Range = (0.2, 0.5)
    robot_mass: bool = True
    robot_mass_scale: Range = (0.7, 1.3)
    target_mass: bool = True
    target_mass_kg: Range = (0.02, 0.2)
    receptive_mass: bool = True
    receptive_mass_scale: Range = (0.5, 1.5)
    table_mass: bool = True
    table_mass_scale: Range = (0.5, 1.5)
    # Actuation / sysid (reset)
    joint_dynamics: bool = False
    joint_dynamics_scale: Range = (0.8, 1.2)  # friction, armature, damping
    motor_delay: bool = False
    motor_delay_steps: tuple[int, int] = (0, 2)
    osc_gains: bool = False
    osc_gain_scale: Range = (0.8, 1.2)
    gripper_gains: bool = True
    gripper_stiffness_scale: Range = (0.5, 2.0)  # log-uniform
    gripper_damping_scale: Range = (0.5, 2.0)  # log-uniform

    @classmethod
    def finetune(cls, **overrides) -> "RandomizationCfg":
        """Stage-2 preset: every Table 2 dynamics and actuation row on."""
        return cls(**{"joint_dynamics": True, "motor_delay": True, "osc_gains": True, **overrides})

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, tuple):
                lo, hi = value
                if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                    raise ValueError(f"RandomizationCfg.{name}: need finite lo <= hi, got {value}")


def _u(r: Range, shape, g) -> torch.Tensor:
    return r[0] + (r[1] - r[0]) * torch.rand(shape, generator=g, dtype=torch.float64)


def _log_u(r: Range, shape, g) -> torch.Tensor:
    return torch.exp(_u((math.log(r[0]), math.log(r[1])), shape, g))


def _friction_pair(static: Range, dynamic: Range, n: int, g) -> torch.Tensor:
    s = _u(static, n, g)
    d = torch.minimum(_u(dynamic, n, g), s)  # dynamic friction never exceeds static
    return torch.stack([s, d], 1)


def sample_startup(cfg: RandomizationCfg, nominal: DynamicsParams, n: int, g) -> DynamicsParams:
    """Frictions and masses for n envs (nominal values where a row is switched off)."""
    on = cfg.enabled

    def rep(t):
        return t.expand(n, *t.shape[1:]).clone()

    p = DynamicsParams(**{k: rep(v) for k, v in vars(nominal).items()})
    if on and cfg.robot_friction:
        p.robot_friction = _friction_pair(cfg.robot_static_friction, cfg.robot_dynamic_friction, n, g)
    if on and cfg.target_friction:
        p.target_friction = _friction_pair(cfg.target_static_friction, cfg.target_dynamic_friction, n, g)
    if on and cfg.receptive_friction:
        p.receptive_friction = _friction_pair(cfg.receptive_static_friction, cfg.receptive_dynamic_friction, n, g)
    if on and cfg.table_friction:
        p.table_friction = _friction_pair(cfg.table_static_friction, cfg.table_dynamic_friction, n, g)
    if on and cfg.robot_mass:
        p.robot_mass_scale = _u(cfg.robot_mass_scale, n, g)
    if on and cfg.target_mass:
        p.target_mass = _u(cfg.target_mass_kg, n, g)
    if on and cfg.receptive_mass:
        p.receptive_mass_scale = _u(cfg.receptive_mass_scale, n, g)
    if on and cfg.table_mass:
        p.table_mass_scale = _u(cfg.table_mass_scale, n, g)
    return p


def resample_actuation(cfg: RandomizationCfg, nominal: DynamicsParams, params: DynamicsParams, g) -> None:
    """In place on `params` (M rows): joint friction/armature/damping x U(0.8,1.2), gripper gains."""
    n = params.joint_friction.shape[0]
    if cfg.enabled and cfg.joint_dynamics:
        for name in ("joint_friction", "joint_armature", "joint_damping"):
            setattr(params, name, nominal.__dict__[name].expand(n, 6) * _u(cfg.joint_dynamics_scale, (n, 6), g))
    if cfg.enabled and cfg.gripper_gains:
        params.gripper_stiffness_scale = _log_u(cfg.gripper_stiffness_scale, n, g)
        params.gripper_damping_scale = _log_u(cfg.gripper_damping_scale, n, g)


def sample_motor_delay(cfg: RandomizationCfg, n: int, g) -> torch.Tensor:
    if not (cfg.enabled and cfg.motor_delay):
        return torch.zeros(n, dtype=torch.long)
    lo, hi = cfg.motor_delay_steps
    return torch.randint(lo, hi + 1, (n,), generator=g)


def sample_osc_gain_scale(cfg: RandomizationCfg, n: int, g) -> torch.Tensor:
    if not (cfg.enabled and cfg.osc_gains):
        return torch.ones(n, 6, dtype=torch.float64)
    return _u(cfg.osc_gain_scale, (n, 6), g)
