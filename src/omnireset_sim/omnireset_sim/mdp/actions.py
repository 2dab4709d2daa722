"""Action term: 7-D action = scaled relative Cartesian delta through the batched OSC law + binary gripper.

The held target is composed once per policy step (omnireset_control.compose_target, left
composition); the torque tau = J^T (Kp e - Kd J qdot) is recomputed at every physics step from the
current joint state with omnireset_control's TCP kinematics (the geometric Jacobian of the TCP, not
a COM Jacobian), exactly as the real controller does at 500 Hz. Gravity is compensated by the
engine (the real UR compensates internally), so the law adds none.
"""

from __future__ import annotations

import torch

from omnireset_policy.observation_layout import gripper_closes

# No clamp of the policy's outputs, as released (the OSC law's pose-error clip bounds what a large
# delta does); EnvCfg.action_clip can set one. NaN/Inf are always replaced.
ACTION_CLIP: float | None = None


def sanitize_actions(actions: torch.Tensor, clip: float | None = ACTION_CLIP) -> tuple[torch.Tensor, torch.Tensor]:
    """NaN -> 0, +-Inf -> +-clip (0 without a clip: no direction is trusted), then the optional clamp;
    returns (clean actions, [N] bool: the row held a NaN/Inf)."""
    nonfinite = ~torch.isfinite(actions).all(dim=1)
    if clip is None:
        return torch.nan_to_num(actions, nan=0.0, posinf=0.0, neginf=0.0), nonfinite
    clean = torch.nan_to_num(actions, nan=0.0, posinf=clip, neginf=-clip).clamp(-clip, clip)
    return clean, nonfinite


def gripper_close_command(actions: torch.Tensor) -> torch.Tensor:
    """Binary gripper: action[6] < 0 closes, >= 0 opens (observation_layout.gripper_closes)."""
    return gripper_closes(actions[:, 6])


class MotorDelay:
    """Per-env actuation delay of 0..max_delay physics steps (Table 2: U({0,1,2}))."""

    def __init__(self, num_envs: int, max_delay: int = 2, dtype=torch.float64, device="cpu"):
        self.max_delay = max_delay
        self.buffer = torch.zeros(max_delay + 1, num_envs, 6, dtype=dtype, device=device)
        self.delay = torch.zeros(num_envs, dtype=torch.long, device=device)
        self._arange = torch.arange(num_envs, device=device)

    def __call__(self, torque: torch.Tensor) -> torch.Tensor:
        if self.max_delay == 0:
            return torque
        self.buffer = torch.roll(self.buffer, shifts=1, dims=0)
        self.buffer[0] = torque
        return self.buffer[self.delay, self._arange]

    def reset(self, env_ids: torch.Tensor) -> None:
        self.buffer[:, env_ids] = 0.0
