"""The OSC torque law (A.3.5), batched over N environments (torch, any device, float32/float64).

    e   = [clip_norm(target_pos - pos, pos_clip), clip_norm(axis_angle(target_rot @ rot^T), rot_clip)]
    F   = Kp * e - Kd * (J @ qd),        Kd = 2 * zeta * sqrt(Kp)   (per axis, diagonal)
    tau = J^T F, then optional torque-rate limit, then optional per-joint torque clip.

No gravity term: UR's direct torque mode compensates gravity itself, and the simulators
compensate gravity to match. Everything is in the robot's base_link frame; J is the geometric
Jacobian at the TCP (omnireset_control.kinematics). The C++ core mirrors this exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from omnireset_control.constants import PHYSICS_DT, POSE_ERROR_CLIP_POS, POSE_ERROR_CLIP_ROT, OscGains
from omnireset_control.rotations import matrix_to_axis_angle


def clip_by_norm(v: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scale rows of v [N,3] down to norm max_norm where longer; shorter rows are unchanged."""
    n = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    factor = torch.where(n > max_norm, max_norm / torch.where(n > 0, n, torch.ones_like(n)), torch.ones_like(n))
    return v * factor


def pose_error(pos, rot, target_pos, target_rot, pos_clip=POSE_ERROR_CLIP_POS, rot_clip=POSE_ERROR_CLIP_ROT):
    """Clipped pose error e [N,6] in the base frame: position target - pos, then the axis-angle of
    target_rot @ rot^T (shortest path), each clipped by norm."""
    e_pos = clip_by_norm(target_pos - pos, pos_clip)
    e_rot = clip_by_norm(matrix_to_axis_angle(target_rot @ rot.transpose(-1, -2)), rot_clip)
    return torch.cat((e_pos, e_rot), dim=-1)


class BatchedOsc:
    """Per-environment OSC gains and state (previous torque for the rate limit, counters)."""

    def __init__(
        self,
        num_envs: int,
        gains: OscGains,
        pos_clip: float = POSE_ERROR_CLIP_POS,
        rot_clip: float = POSE_ERROR_CLIP_ROT,
        torque_limit: Sequence[float] | None = None,
        torque_rate_limit: float | None = None,
        dtype: torch.dtype = torch.float32,
        device="cpu",
        control_dt: float = PHYSICS_DT,
    ):
        """``torque_limit``: per-joint |tau| clip in N*m (None: unclipped, as in training).
        ``torque_rate_limit``: max |d tau / dt| in N*m/s, applied with ``control_dt`` seconds per
        call to :meth:`torque` (None: off)."""
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        if not (pos_clip > 0 and rot_clip > 0):
            raise ValueError(f"pose error clips must be > 0, got pos_clip={pos_clip}, rot_clip={rot_clip}")
        self.num_envs = num_envs
        self.dtype = dtype
        self.device = torch.device(device)
        self.pos_clip = float(pos_clip)
        self.rot_clip = float(rot_clip)
        self._kp = torch.zeros(num_envs, 6, dtype=dtype, device=self.device)
        self._kd = torch.zeros_like(self._kp)
        self.set_gains(gains)
        self.torque_limit = None
        if torque_limit is not None:
            lim = torch.as_tensor(torque_limit, dtype=dtype, device=self.device)
            if lim.shape != (6,) or not bool(torch.isfinite(lim).all()) or bool((lim <= 0).any()):
                raise ValueError(f"torque_limit must be 6 finite positive values, got {torque_limit}")
            self.torque_limit = lim
        if torque_rate_limit is not None and not (torque_rate_limit > 0 and control_dt > 0):
            raise ValueError(f"torque_rate_limit and control_dt must be > 0, got {torque_rate_limit}, {control_dt}")
        self.torque_rate_limit = torque_rate_limit
        self.control_dt = control_dt
        self.last_error = torch.zeros(num_envs, 6, dtype=dtype, device=self.device)
        self.last_torque = torch.zeros(num_envs, 6, dtype=dtype, device=self.device)
        # Per env: calls whose inputs held NaN/Inf (that env got zero torque instead).
        self.nonfinite_count = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    # ---- gains ---------------------------------------------------------------------------------
    @property
    def kp(self) -> torch.Tensor:
        return self._kp

    @kp.setter
    def kp(self, value) -> None:
        self._kp.copy_(torch.as_tensor(value, dtype=self.dtype, device=self.device).expand_as(self._kp))

    @property
    def kd(self) -> torch.Tensor:
        return self._kd

    @kd.setter
    def kd(self, value) -> None:
        self._kd.copy_(torch.as_tensor(value, dtype=self.dtype, device=self.device).expand_as(self._kd))

    def set_gains(self, gains: OscGains, env_ids=None, kp_scale=None) -> None:
        """Set Kp and Kd = 2 zeta sqrt(Kp) from ``gains`` for ``env_ids`` (all by default);
        ``kp_scale`` [len(env_ids), 6] or [6] multiplies Kp first (gain randomization) and Kd
        follows the scaled Kp."""
        kp = torch.as_tensor(gains.kp, dtype=self.dtype, device=self.device)
        zeta = torch.as_tensor(gains.zeta, dtype=self.dtype, device=self.device)
        idx = slice(None) if env_ids is None else env_ids
        n = self.num_envs if env_ids is None else len(self._kp[idx])
        kp = kp.expand(n, 6)
        if kp_scale is not None:
            kp = kp * torch.as_tensor(kp_scale, dtype=self.dtype, device=self.device)
        self._kp[idx] = kp
        self._kd[idx] = 2.0 * zeta * torch.sqrt(kp)

    def reset(self, env_ids=None) -> None:
        """Forget the previous torque (the rate limit restarts from zero) for ``env_ids``."""
        idx = slice(None) if env_ids is None else env_ids
        self.last_torque[idx] = 0.0
        self.last_error[idx] = 0.0

    # ---- the law -------------------------------------------------------------------------------
    def torque(self, jac, qd, pos, rot, target_pos, target_rot) -> torch.Tensor:
        """tau [N,6] = J^T (Kp e - Kd J qd), then the optional rate limit and torque clip.
        Environments with any NaN/Inf input get zero torque and their ``nonfinite_count`` grows."""
        e = pose_error(pos, rot, target_pos, target_rot, self.pos_clip, self.rot_clip)
        xdot = (jac @ qd[..., None])[..., 0]
        force = self._kp * e - self._kd * xdot
        tau = (jac.transpose(-1, -2) @ force[..., None])[..., 0]
        if self.torque_rate_limit is not None:
            step = self.torque_rate_limit * self.control_dt
            tau = self.last_torque + torch.clamp(tau - self.last_torque, -step, step)
        if self.torque_limit is not None:
            tau = torch.maximum(torch.minimum(tau, self.torque_limit), -self.torque_limit)
        # Judge the inputs, not tau: an Inf input can come out of the torque clip looking finite.
        finite = (
            torch.isfinite(jac).flatten(1).all(-1)
            & torch.isfinite(qd).all(-1)
            & torch.isfinite(pos).all(-1)
            & torch.isfinite(rot).flatten(1).all(-1)
            & torch.isfinite(target_pos).all(-1)
            & torch.isfinite(target_rot).flatten(1).all(-1)
        )
        tau = torch.where(finite[:, None], tau, torch.zeros_like(tau))
        self.nonfinite_count += (~finite).to(torch.int64)
        self.last_error = torch.where(finite[:, None], e, torch.zeros_like(e))
        self.last_torque = tau
        return tau
