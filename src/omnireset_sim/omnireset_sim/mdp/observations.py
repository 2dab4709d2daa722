"""Observation groups: `policy` (the shared layout of omnireset_policy, 5-frame history) and
`critic` (the current policy frame + privileged terms, no history, as the official critic)."""

from __future__ import annotations

import torch

from omnireset_policy.observation_layout import policy_frame

# Privileged terms appended to the critic's copy of the current policy frame, in this order.
CRITIC_PRIVILEGED_TERMS: tuple[tuple[str, int], ...] = (
    ("joint_vel", 6),
    ("ee_twist", 6),  # TCP linear + angular velocity in base_link (J qdot)
    ("time_left", 1),  # fraction of the episode left (released code), 1 at reset
    ("robot_friction", 2),  # static, dynamic
    ("target_friction", 2),
    ("receptive_friction", 2),
    ("table_friction", 2),
    ("robot_mass_scale", 1),
    ("target_mass", 1),
    ("receptive_mass_scale", 1),
    ("table_mass_scale", 1),
    ("joint_friction", 6),
    ("joint_armature", 6),
    ("joint_damping", 6),
    ("gripper_gain_scale", 2),  # stiffness, damping
    ("osc_kp_scale", 6),
    ("motor_delay", 1),  # physics steps
)
CRITIC_PRIVILEGED_DIM = sum(d for _, d in CRITIC_PRIVILEGED_TERMS)


def build_policy_frame(joint_pos, ee_pos, ee_rot, target_pos, target_rot, receptive_pos, receptive_rot, last_action):
    return policy_frame(joint_pos, ee_pos, ee_rot, target_pos, target_rot, receptive_pos, receptive_rot, last_action)


def build_critic(frame: torch.Tensor, privileged: dict[str, torch.Tensor]) -> torch.Tensor:
    parts = [frame]
    n = frame.shape[0]
    for name, dim in CRITIC_PRIVILEGED_TERMS:
        value = privileged[name].to(frame.dtype).reshape(n, -1)
        if value.shape[1] != dim:
            raise ValueError(f"critic term {name} has {value.shape[1]} values, expected {dim}")
        parts.append(value)
    return torch.cat(parts, dim=1)
