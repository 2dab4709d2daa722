"""Terminations: time-out, abnormal robot state and an escaped object (unstable physics)."""

from __future__ import annotations

import torch

# Official `abnormal_robot_state`: any joint faster than twice its velocity limit.
ABNORMAL_VELOCITY_FACTOR = 2.0


def time_out(episode_length: torch.Tensor, max_episode_length: int) -> torch.Tensor:
    return episode_length >= max_episode_length


def abnormal_robot_state(joint_vel: torch.Tensor, velocity_limits: torch.Tensor, finite: torch.Tensor,
                         sim_reset: torch.Tensor) -> torch.Tensor:
    """Joint speed over 2x its limit, any non-finite state value, or a world the engine had to reset."""
    too_fast = (torch.nan_to_num(joint_vel.abs(), nan=0.0) > ABNORMAL_VELOCITY_FACTOR * velocity_limits).any(dim=1)
    return too_fast | ~finite | sim_reset


# A target object this far from the robot base, or this fast, has been shot out by an unstable
# contact (MuJoCo warns about the finger DOF first); its world must be reset, not learned from.
OBJECT_ESCAPE_DISTANCE = 3.0  # m from the base_link origin
OBJECT_ESCAPE_SPEED = 50.0  # m/s (a hard knock by the fingers reaches ~10 m/s; blow-ups far more)


def object_escaped(target_pos: torch.Tensor, target_lin_vel: torch.Tensor) -> torch.Tensor:
    """Target object non-finite, farther than OBJECT_ESCAPE_DISTANCE or faster than OBJECT_ESCAPE_SPEED."""
    dist = torch.nan_to_num(target_pos.norm(dim=1), nan=float("inf"))
    speed = torch.nan_to_num(target_lin_vel.norm(dim=1), nan=float("inf"))
    return (dist > OBJECT_ESCAPE_DISTANCE) | (speed > OBJECT_ESCAPE_SPEED)
