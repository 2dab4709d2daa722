"""Terminations: time-out, and abnormal robot state (unstable physics)."""

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
