"""The task-agnostic reward of appendix A.1, with its exact weights.

r = r_success + r_dist + r_reach + r_smooth + r_term
  r_smooth = -1e-4 |a|^2 - 1e-3 |a - a_prev|^2 - 1e-2 |qdot|^2   (each square sum clamped to 1e4,
             as the official terms are)
  r_term   = -100 * 1[abnormal state]
  r_reach  = 0.1 * (1 - tanh(|p_ee - p_obj| / sigma))             sigma = 1.0 (official std)
  r_dist   = 0.1 * 0.5 * (exp(-|x_err| / sigma) + exp(-|theta_err| / sigma))   sigma = 1.0
  r_success= 1.0 * 1[position and orientation thresholds met]

Isaac Lab's reward manager multiplies every weighted term by the policy step dt (0.1 s); the
official numbers are therefore dt-scaled. `RewardWeights.scale_by_dt` (default True) reproduces
that; set it False for the raw A.1 values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SQUARE_SUM_CLAMP = 1e4


@dataclass(frozen=True)
class RewardWeights:
    action: float = -1e-4
    action_rate: float = -1e-3
    joint_vel: float = -1e-2
    abnormal: float = -100.0
    reach: float = 0.1
    dist: float = 0.1
    success: float = 1.0
    reach_std: float = 1.0
    dist_std: float = 1.0
    scale_by_dt: bool = True


def action_l2(action: torch.Tensor) -> torch.Tensor:
    return torch.clamp((action**2).sum(dim=1), 0.0, SQUARE_SUM_CLAMP)


def action_rate_l2(action: torch.Tensor, prev_action: torch.Tensor) -> torch.Tensor:
    return torch.clamp(((action - prev_action) ** 2).sum(dim=1), 0.0, SQUARE_SUM_CLAMP)


def joint_vel_l2(joint_vel: torch.Tensor) -> torch.Tensor:
    return torch.clamp((joint_vel**2).sum(dim=1), 0.0, SQUARE_SUM_CLAMP)


def reach(ee_pos: torch.Tensor, object_pos: torch.Tensor, std: float) -> torch.Tensor:
    return 1.0 - torch.tanh((ee_pos - object_pos).norm(dim=1) / std)


def goal_distance(position_error: torch.Tensor, orientation_error: torch.Tensor, std: float) -> torch.Tensor:
    return 0.5 * (torch.exp(-position_error / std) + torch.exp(-orientation_error / std))


def compute_reward(w: RewardWeights, step_dt: float, *, action, prev_action, joint_vel, abnormal, ee_pos, object_pos,
                   position_error, orientation_error, success) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total reward [N] and the weighted (and dt-scaled) terms by name. Non-finite inputs of a
    broken world (it is terminated this step) contribute 0 instead of NaN."""
    terms = {
        "action": w.action * action_l2(action),
        "action_rate": w.action_rate * action_rate_l2(action, prev_action),
        "joint_vel": w.joint_vel * joint_vel_l2(joint_vel),
        "abnormal": w.abnormal * abnormal.to(action.dtype),
        "reach": w.reach * reach(ee_pos, object_pos, w.reach_std),
        "dist": w.dist * goal_distance(position_error, orientation_error, w.dist_std),
        "success": w.success * success.to(action.dtype),
    }
    scale = step_dt if w.scale_by_dt else 1.0
    for name, value in terms.items():
        terms[name] = torch.nan_to_num(value.to(action.dtype), nan=0.0, posinf=0.0, neginf=0.0) * scale
    total = torch.stack(list(terms.values()), dim=0).sum(dim=0)
    return total, terms
