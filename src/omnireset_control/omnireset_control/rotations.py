"""Batched rotation helpers (torch). Quaternions are (w, x, y, z); leading batch dim N.

The algorithms are mirrored line for line in include/omnireset_control/rotations.hpp so that the
torch law and the C++ core agree to rounding (the golden vectors check it).
"""

from __future__ import annotations

import torch

# Below this rotation angle the closed forms divide by ~0; the Taylor series are exact to
# double rounding there (next term ~ angle^4 / 120).
SMALL_ANGLE = 1e-6


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """[N,4] (w,x,y,z), normalised here -> [N,3,3]."""
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ),
        dim=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(R: torch.Tensor) -> torch.Tensor:
    """[N,3,3] -> unit quaternion [N,4] with w >= 0 (Shepperd's method: branch on the largest
    of trace, R00, R11, R22 so the divisor is never small)."""
    r00, r01, r02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    r10, r11, r12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    r20, r21, r22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    trace = r00 + r11 + r22
    tiny = torch.finfo(R.dtype).tiny
    # Four candidate solutions; each is well conditioned when its own "s" is the largest.
    s_w = 2.0 * torch.sqrt(torch.clamp(1.0 + trace, min=tiny))
    s_x = 2.0 * torch.sqrt(torch.clamp(1.0 + r00 - r11 - r22, min=tiny))
    s_y = 2.0 * torch.sqrt(torch.clamp(1.0 - r00 + r11 - r22, min=tiny))
    s_z = 2.0 * torch.sqrt(torch.clamp(1.0 - r00 - r11 + r22, min=tiny))
    cand = torch.stack(
        (
            torch.stack((0.25 * s_w, (r21 - r12) / s_w, (r02 - r20) / s_w, (r10 - r01) / s_w), -1),
            torch.stack(((r21 - r12) / s_x, 0.25 * s_x, (r01 + r10) / s_x, (r02 + r20) / s_x), -1),
            torch.stack(((r02 - r20) / s_y, (r01 + r10) / s_y, 0.25 * s_y, (r12 + r21) / s_y), -1),
            torch.stack(((r10 - r01) / s_z, (r02 + r20) / s_z, (r12 + r21) / s_z, 0.25 * s_z), -1),
        ),
        dim=-2,
    )  # [..., 4 candidates, 4]
    choice = torch.argmax(torch.stack((trace, r00, r11, r22), -1), dim=-1)  # first max wins
    q = torch.gather(cand, -2, choice[..., None, None].expand(choice.shape + (1, 4))).squeeze(-2)
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quat_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """[N,4] unit quaternion -> axis-angle [N,3] of the shortest rotation (angle in [0, pi])."""
    q = torch.where(q[..., :1] < 0, -q, q)
    w = q[..., 0]
    v = q[..., 1:]
    s = torch.linalg.vector_norm(v, dim=-1)
    angle = 2.0 * torch.atan2(s, w)
    small = s < SMALL_ANGLE
    # atan2(s, w) / s -> 1 / w as s -> 0 (w ~ 1 there); relative error ~ s^2 / 3.
    factor = torch.where(small, 2.0 / w, angle / torch.where(small, torch.ones_like(s), s))
    return v * factor[..., None]


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """[N,3,3] -> axis-angle [N,3], shortest path, angle in [0, pi]; robust near 0 and pi."""
    return quat_to_axis_angle(matrix_to_quat(R))


def skew(v: torch.Tensor) -> torch.Tensor:
    """[N,3] -> [N,3,3] cross-product matrix."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack((o, -z, y, z, o, -x, -y, x, o), -1).reshape(v.shape[:-1] + (3, 3))


def axis_angle_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """[N,3] axis-angle -> [N,3,3] (Rodrigues; 1 - cos written as 2 sin^2(angle/2) to avoid
    cancellation, Taylor series below SMALL_ANGLE)."""
    angle = torch.linalg.vector_norm(v, dim=-1)
    small = angle < SMALL_ANGLE
    safe = torch.where(small, torch.ones_like(angle), angle)
    half_sin = torch.sin(0.5 * safe)
    a = torch.where(small, 1.0 - angle * angle / 6.0, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - angle * angle / 24.0, 2.0 * half_sin * half_sin / (safe * safe))
    K = skew(v)
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand(K.shape)
    return eye + a[..., None, None] * K + b[..., None, None] * (K @ K)


def axis_angle_to_quat(v: torch.Tensor) -> torch.Tensor:
    """[N,3] axis-angle -> unit quaternion [N,4]."""
    angle = torch.linalg.vector_norm(v, dim=-1)
    small = angle < SMALL_ANGLE
    safe = torch.where(small, torch.ones_like(angle), angle)
    k = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(0.5 * safe) / safe)
    return torch.cat((torch.cos(0.5 * angle)[..., None], v * k[..., None]), -1)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of [N,4] quaternions (w, x, y, z)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        -1,
    )


def quat_conjugate(q: torch.Tensor) -> torch.Tensor:
    return torch.cat((q[..., :1], -q[..., 1:]), -1)


def rpy_to_matrix(rpy: torch.Tensor) -> torch.Tensor:
    """[...,3] URDF roll-pitch-yaw (fixed axes X, then Y, then Z) -> [...,3,3] = Rz(yaw) Ry(pitch) Rx(roll)."""
    r, p, y = rpy.unbind(-1)
    cr, sr, cp, sp, cy, sy = torch.cos(r), torch.sin(r), torch.cos(p), torch.sin(p), torch.cos(y), torch.sin(y)
    return torch.stack(
        (
            cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr,
            sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr,
            -sp, cp * sr, cp * cr,
        ),
        -1,
    ).reshape(rpy.shape[:-1] + (3, 3))
