"""Policy delta -> held OSC target (A.3.6).

target_pos = ee_pos + action[:3] * scale[:3]                  (added in the base frame)
target_rot = exp(action[3:] * scale[3:]) @ ee_rot             (LEFT composition)

Left composition means the axis-angle increment is a rotation about base-frame axes applied after
the current orientation; it matches the official UWLab `RelCartesianOSCAction`
(``quat_mul(delta_quat, ee_quat)``). Right composition (``ee_rot @ exp(delta)``) would rotate
about the TCP's own axes instead. The target is computed once per policy command and held.
"""

from __future__ import annotations

import torch

from omnireset_control.rotations import axis_angle_to_matrix


def compose_target(
    ee_pos: torch.Tensor,
    ee_rot: torch.Tensor,
    action: torch.Tensor,
    scale,
    previous_target: tuple[torch.Tensor, torch.Tensor] | None = None,
    return_rejected: bool = False,
):
    """Target pose [N,3], [N,3,3] from the current TCP pose and a raw action [N,6].

    ``scale`` is [6] or [N,6]. Rows whose action, scale or pose is NaN/Inf are rejected: they keep
    ``previous_target`` when it is given, otherwise a ValueError is raised. With
    ``return_rejected=True`` a bool mask [N] of rejected rows is returned as a third value.
    """
    if action.ndim != 2 or action.shape[-1] != 6:
        raise ValueError(f"action must have shape [N, 6], got {tuple(action.shape)}")
    scale = torch.as_tensor(scale, dtype=action.dtype, device=action.device)
    scaled = action * scale
    target_pos = ee_pos + scaled[:, :3]
    target_rot = axis_angle_to_matrix(scaled[:, 3:]) @ ee_rot
    finite = (
        torch.isfinite(scaled).all(-1)
        & torch.isfinite(ee_pos).all(-1)
        & torch.isfinite(ee_rot).flatten(1).all(-1)
    )
    rejected = ~finite
    if bool(rejected.any()):
        if previous_target is None:
            rows = torch.nonzero(rejected).flatten().tolist()
            raise ValueError(f"non-finite action/scale/pose in rows {rows[:10]} and no previous target to hold")
        prev_pos, prev_rot = previous_target
        target_pos = torch.where(rejected[:, None], prev_pos, target_pos)
        target_rot = torch.where(rejected[:, None, None], prev_rot, target_rot)
    if return_rejected:
        return target_pos, target_rot, rejected
    return target_pos, target_rot
