"""Goal-frame errors and success of the target object (shared by rewards, logging and eval)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from omnireset_control.rotations import quat_to_matrix

from ..tasks.spec import TaskSpec


def euler_xyz_from_matrix(rot: torch.Tensor) -> torch.Tensor:
    """[N,3,3] -> [N,3] roll, pitch, yaw (R = Rz(yaw) Ry(pitch) Rx(roll)), each wrapped to (-pi, pi]."""
    roll = torch.atan2(rot[:, 2, 1], rot[:, 2, 2])
    pitch = torch.asin(torch.clamp(-rot[:, 2, 0], -1.0, 1.0))
    yaw = torch.atan2(rot[:, 1, 0], rot[:, 0, 0])
    return torch.stack([roll, pitch, yaw], dim=1)


@dataclass
class GoalErrors:
    position: torch.Tensor  # [N] m, |target origin - goal origin|
    orientation: torch.Tensor  # [N] rad, sum of |euler| over the non-ignored axes
    success: torch.Tensor  # [N] bool


class GoalFrame:
    """The goal pose of a task relative to its receptive object, applied batch-wise."""

    def __init__(self, spec: TaskSpec, dtype=torch.float64, device="cpu"):
        self.spec = spec
        self.goal_pos = torch.tensor(spec.goal_pos, dtype=dtype, device=device)
        self.goal_rot = quat_to_matrix(torch.tensor([spec.goal_quat], dtype=dtype, device=device))[0]
        self.axes_mask = torch.tensor(spec.orientation_axes_mask, dtype=dtype, device=device)

    def goal_in_world(self, receptive_pos, receptive_rot):
        pos = receptive_pos + (receptive_rot @ self.goal_pos)
        return pos, receptive_rot @ self.goal_rot

    def errors(self, target_pos, target_rot, receptive_pos, receptive_rot) -> GoalErrors:
        """Target pose expressed in the goal frame: position norm and euler x-y(-z) error.

        Like the official code the error is measured in the goal frame and symmetric axes (yaw by
        default) are ignored."""
        goal_pos, goal_rot = self.goal_in_world(receptive_pos, receptive_rot)
        rel_pos = (goal_rot.transpose(1, 2) @ (target_pos - goal_pos)[..., None])[..., 0]
        rel_rot = goal_rot.transpose(1, 2) @ target_rot
        euler = euler_xyz_from_matrix(rel_rot)
        pos_err = rel_pos.norm(dim=1)
        ori_err = (euler.abs() * self.axes_mask).sum(dim=1)
        success = (pos_err < self.spec.success_position_threshold) & (
            ori_err < self.spec.success_orientation_threshold)
        return GoalErrors(pos_err, ori_err, success)


__all__ = ["GoalErrors", "GoalFrame", "euler_xyz_from_matrix"]
