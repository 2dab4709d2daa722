"""The engine interface: what the MDP needs from a physics engine, in engine-neutral torch tensors.

Rewards, observations, terminations, randomization and the OSC law are written once (mdp/ and
vec_env.py) against `EngineState` and `SimEngine`. The MuJoCo engine implements it here; MuJoCo
Warp or Isaac Lab implement the same protocol (poses in the robot's base_link frame, quaternions
(w, x, y, z), joint order of omnireset_control.constants.ARM_JOINT_NAMES).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@dataclass
class EngineState:
    """One snapshot of all N worlds. Poses in base_link; quaternions (w, x, y, z)."""

    joint_pos: torch.Tensor  # [N,6] arm joints, rad
    joint_vel: torch.Tensor  # [N,6] rad/s
    gripper_opening: torch.Tensor  # [N] opening of one finger, m (0 closed .. 0.0425 open)
    target_pos: torch.Tensor  # [N,3] target (insertive) object
    target_quat: torch.Tensor  # [N,4]
    target_lin_vel: torch.Tensor  # [N,3]
    target_ang_vel: torch.Tensor  # [N,3]
    receptive_pos: torch.Tensor  # [N,3]
    receptive_quat: torch.Tensor  # [N,4]
    finite: torch.Tensor  # [N] bool: every state value of the world is finite
    sim_reset: torch.Tensor  # [N] bool: the engine itself reset the world after a blow-up
    # [N] bool where the engine has fixed-size contact/constraint buffers (MuJoCo Warp): the world
    # overflowed them (it is in sim_reset too: terminated as abnormal); None: cannot overflow.
    overflow: torch.Tensor | None = None


@dataclass
class DynamicsParams:
    """Per-env physical parameters the randomization events set (all [M] or [M,6] tensors).

    Frictions are Coulomb coefficients. MuJoCo has one sliding coefficient per contact, so the
    MuJoCo engine uses the static value; both are kept (the critic sees them) for engines that
    distinguish them (PhysX).
    """

    robot_friction: torch.Tensor  # [M,2] static, dynamic
    target_friction: torch.Tensor  # [M,2]
    receptive_friction: torch.Tensor  # [M,2]
    table_friction: torch.Tensor  # [M,2]
    robot_mass_scale: torch.Tensor  # [M]
    target_mass: torch.Tensor  # [M] kg
    receptive_mass_scale: torch.Tensor  # [M]
    table_mass_scale: torch.Tensor  # [M]
    joint_friction: torch.Tensor  # [M,6] N m
    joint_armature: torch.Tensor  # [M,6] kg m^2
    joint_damping: torch.Tensor  # [M,6] N m s/rad
    gripper_stiffness_scale: torch.Tensor  # [M]
    gripper_damping_scale: torch.Tensor  # [M]

    def index(self, env_ids: torch.Tensor) -> "DynamicsParams":
        return DynamicsParams(**{f.name: getattr(self, f.name)[env_ids] for f in fields(self)})

    def assign(self, env_ids: torch.Tensor, other: "DynamicsParams") -> None:
        for f in fields(self):
            getattr(self, f.name)[env_ids] = getattr(other, f.name).to(getattr(self, f.name).dtype)


@dataclass
class ResetState:
    """What a reset sampler hands the engine for M envs (see envs/reset.py)."""

    joint_pos: torch.Tensor  # [M,6]
    gripper_closed: torch.Tensor  # [M] bool
    target_pos: torch.Tensor  # [M,3]
    target_quat: torch.Tensor  # [M,4]
    receptive_pos: torch.Tensor  # [M,3]
    receptive_quat: torch.Tensor  # [M,4]
    reset_type: torch.Tensor  # [M] long, index into the sampler's `reset_type_names`
    # [M] finger opening (m, one finger) where a sampler knows it (a stable grasp closes on the
    # object, not at 0); None: fully closed / fully open from `gripper_closed`.
    gripper_opening: torch.Tensor | None = None


@runtime_checkable
class SimEngine(Protocol):
    num_envs: int
    physics_dt: float
    nominal: DynamicsParams  # [1]-row nominal values (the model as built)
    arm_velocity_limits: torch.Tensor  # [6] rad/s

    def state(self) -> EngineState: ...

    def step(self, arm_torque: torch.Tensor, gripper_close: torch.Tensor) -> None:
        """Advance one physics step with joint torques [N,6] and binary gripper commands [N] bool."""

    def reset_envs(self, env_ids: torch.Tensor, reset: ResetState) -> None: ...

    def set_dynamics(self, env_ids: torch.Tensor, params: DynamicsParams) -> None: ...

    def render(self, env_id: int, camera: str) -> np.ndarray: ...
