"""Reset-state hook: the env takes every reset from a `ResetSampler`.

The default sampler draws Table 2's reaching-style states: the target object resting on the table
in the variant's x-y range with a random yaw, the receptive object where the task's goal sampler
puts it, and the TCP at a random pose in the workspace, reached by damped-least-squares IK on
omnireset_control's kinematics. The OmniReset datasets (reaching, near-object, grasped, near-goal)
plug into the same protocol later; `reset_type_names` names the `reset_type` ids they return, and
the env logs success per reset type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from omnireset_control.kinematics import BatchedKinematics
from omnireset_control.osc import pose_error
from omnireset_control.rotations import quat_multiply

from ..assets.arm import ARM_JOINT_LIMITS
from ..tasks.spec import WORKSPACE_ORIGIN, TaskSpec, VariantSpec, reset_clear, sample_goal, sample_uniform
from .engine import ResetState

# A configuration with the gripper pointing down over the table, the IK seed (base_link frame).
HOME_JOINT_POS = (0.0, -1.7, 1.9, -1.77, -1.5708, 0.0)


@runtime_checkable
class ResetSampler(Protocol):
    reset_type_names: tuple[str, ...]

    def sample(self, env_ids: torch.Tensor, generator: torch.Generator | None = None) -> ResetState:
        """Reset states for the envs `env_ids` (M of them): tensors with leading dim M."""


@dataclass(frozen=True)
class EeWorkspace:
    """Table 2's end-effector reset ranges mapped onto our TCP (z = approach direction).

    Table 2: x U(0.3,0.7), y U(-0.4,0.4), z U(0,0.5), pitch U(pi/4,3pi/4), yaw U(pi/2,3pi/2).
    Here pitch is measured so that pi/2 means pointing straight down (tilt = pitch - pi/2 about the
    base y axis) and yaw turns the gripper about the vertical; z starts at `z[0]` above the table
    so the open fingers start clear of it.
    """

    x: tuple[float, float] = (0.3, 0.7)
    y: tuple[float, float] = (-0.4, 0.4)
    z: tuple[float, float] = (0.1, 0.5)
    pitch: tuple[float, float] = (math.pi / 4, 3 * math.pi / 4)
    yaw: tuple[float, float] = (math.pi / 2, 3 * math.pi / 2)


def _rot_z(angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    o, z = torch.ones_like(angle), torch.zeros_like(angle)
    return torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1), torch.stack([z, z, o], -1)], -2)


def _rot_y(angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    o, z = torch.ones_like(angle), torch.zeros_like(angle)
    return torch.stack([torch.stack([c, z, s], -1), torch.stack([z, o, z], -1), torch.stack([-s, z, c], -1)], -2)


def yaw_quat(yaw: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(yaw / 2), torch.zeros_like(yaw), torch.zeros_like(yaw), torch.sin(yaw / 2)], -1)


def solve_ik(kin: BatchedKinematics, target_pos: torch.Tensor, target_rot: torch.Tensor, seed: torch.Tensor,
             iterations: int = 80, damping: float = 0.05, tol_pos: float = 1e-3, tol_rot: float = 1e-2):
    """Batched damped-least-squares IK on the TCP; returns (q [M,6], converged [M] bool)."""
    q = seed.clone()
    limits = torch.tensor(ARM_JOINT_LIMITS, dtype=q.dtype)
    eye = torch.eye(6, dtype=q.dtype)
    scale = torch.tensor([1 / tol_pos] * 3 + [1 / tol_rot] * 3, dtype=q.dtype)
    last = None
    for i in range(iterations):
        pos, rot, jac = kin.forward_with_jacobian(q)
        err = pose_error(pos, rot, target_pos, target_rot, 0.1, 0.5)
        if i % 10 == 0:
            # Stop early once every row is 100x inside the tolerances or has stopped moving (an
            # unreachable target): the remaining iterations would change nothing that matters.
            size = (err * scale).norm(dim=1)
            if last is not None and bool(((size < 1e-2) | ((last - size).abs() < 1e-6)).all()):
                break
            last = size
        jjt = jac @ jac.transpose(1, 2) + (damping**2) * eye
        dq = (jac.transpose(1, 2) @ torch.linalg.solve(jjt, err[..., None]))[..., 0]
        q = torch.clamp(q + dq, -limits, limits)
    pos, rot, _ = kin.forward_with_jacobian(q)
    err = pose_error(pos, rot, target_pos, target_rot, 10.0, math.pi)
    ok = (err[:, :3].norm(dim=1) < tol_pos) & (err[:, 3:].norm(dim=1) < tol_rot)
    return q, ok


class ReachingResetSampler:
    """Default sampler (Table 2 reaching states; reset type 0 = "reaching")."""

    reset_type_names = ("reaching",)

    def __init__(self, task: TaskSpec, variant: VariantSpec, kinematics_params, workspace: EeWorkspace | None = None,
                 gripper_open: bool = True, max_rounds: int = 6):
        self.task = task
        self.variant = variant
        self.kin = BatchedKinematics(kinematics_params, dtype=torch.float64)
        self.workspace = workspace or EeWorkspace()
        self.gripper_open = gripper_open
        self.max_rounds = max_rounds

    def _target_xy(self, n, g):
        x = WORKSPACE_ORIGIN[0] + sample_uniform(self.variant.target_xy[0], n, g)
        y = WORKSPACE_ORIGIN[1] + sample_uniform(self.variant.target_xy[1], n, g)
        return torch.stack([x, y], 1)

    def _ee_pose(self, n, g):
        w = self.workspace
        pos = torch.stack([sample_uniform(w.x, n, g), sample_uniform(w.y, n, g), sample_uniform(w.z, n, g)], 1)
        tilt = sample_uniform(w.pitch, n, g) - math.pi / 2
        yaw = sample_uniform(w.yaw, n, g)
        down = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)).expand(n, 3, 3)
        rot = _rot_z(yaw) @ _rot_y(tilt) @ down
        return pos, rot

    def sample(self, env_ids: torch.Tensor, generator: torch.Generator | None = None) -> ResetState:
        n = int(env_ids.numel())
        g = generator
        rec_pos, rec_quat = sample_goal(self.task, self.variant, n, g)
        # Target on the table, away from the receptive object (centre distance and turned footprint).
        xy = self._target_xy(n, g)
        for _ in range(100):
            bad = ~reset_clear(self.task, xy, rec_pos, rec_quat)
            if not bool(bad.any()):
                break
            xy[bad] = self._target_xy(int(bad.sum()), g)
        yaw = sample_uniform((-math.pi, math.pi), n, g)
        rest = torch.tensor(self.task.target_rest_quat, dtype=torch.float64).expand(n, 4)
        target_quat = quat_multiply(yaw_quat(yaw), rest)
        target_pos = torch.cat([xy, torch.full((n, 1), self.task.target_rest_height, dtype=torch.float64)], 1)

        # TCP pose by IK; rows that do not converge (or would start inside the receptive object's
        # footprint) draw a new pose; after max_rounds they take the home configuration.
        home = torch.tensor(HOME_JOINT_POS, dtype=torch.float64).expand(n, 6).clone()
        q = home.clone()
        pending = torch.ones(n, dtype=torch.bool)
        for _ in range(self.max_rounds):
            idx = torch.nonzero(pending).flatten()
            if idx.numel() == 0:
                break
            pos, rot = self._ee_pose(idx.numel(), g)
            qi, ok = solve_ik(self.kin, pos, rot, home[idx])
            near_receptive = ~reset_clear(self.task, pos[:, :2], rec_pos[idx], rec_quat[idx], radius=0.0) & (
                pos[:, 2] < 0.2)
            ok &= ~near_receptive
            q[idx[ok]] = qi[ok]
            pending[idx[ok]] = False
        return ResetState(
            joint_pos=q,
            gripper_closed=torch.full((n,), not self.gripper_open, dtype=torch.bool),
            target_pos=target_pos,
            target_quat=target_quat,
            receptive_pos=rec_pos,
            receptive_quat=rec_quat,
            reset_type=torch.zeros(n, dtype=torch.long),
        )
