"""The controller's logic without ROS, in Python: the twin of ``controller_core.hpp``.

The sim node stands in for the robot + ros2_control controller, so it must treat commands exactly
as the C++ core does on hardware. Same rules (see the header for the C++ body):

* a command with NaN/Inf in its action or scale, a stale stamp, or arriving while the joint state
  is non-finite is rejected: the previous target is held and ``rejected_commands`` counts it;
* the scaled delta is clamped per axis to ``max_position_delta`` / ``max_rotation_delta``;
* no command yet, or the newest older than ``command_timeout``: hold the pose measured at that
  moment (target = current pose; damping brings the arm to rest), ``timeouts`` counts it;
* non-finite joint state: zero torque (through the rate limit), ``nonfinite_states`` counts it;
* torques go through the optional rate limit and per-joint clip.

The law itself is omnireset_control.osc (batched torch, here with one environment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch

from omnireset_control.composition import compose_target
from omnireset_control.constants import POSE_ERROR_CLIP_POS, POSE_ERROR_CLIP_ROT, OscGains
from omnireset_control.kinematics import BatchedKinematics, UrKinematicsParams
from omnireset_control.osc import BatchedOsc


class CommandStatus(Enum):
    ACCEPTED = "accepted"
    REJECTED_NONFINITE = "rejected_nonfinite"
    REJECTED_STALE = "rejected_stale"
    REJECTED_NO_STATE = "rejected_no_state"


@dataclass(frozen=True)
class OscControllerConfig:
    gains: OscGains
    pos_clip: float = POSE_ERROR_CLIP_POS
    rot_clip: float = POSE_ERROR_CLIP_ROT
    torque_limit: tuple[float, ...] | None = None  # None: unclipped (training); hardware clips
    torque_rate_limit: float | None = None  # N*m/s
    command_timeout: float = 0.5  # s since the command was received; then hold
    max_position_delta: float = math.inf  # m per axis, applied to action * scale
    max_rotation_delta: float = math.inf  # rad per axis
    reject_stale_stamps: bool = True


@dataclass
class OscTickOutput:
    torque: torch.Tensor  # [6]
    error: torch.Tensor  # [6]
    current_pos: torch.Tensor  # [3]
    current_rot: torch.Tensor  # [3,3]
    target_pos: torch.Tensor
    target_rot: torch.Tensor
    holding: bool
    state_valid: bool


class OscControllerCore:
    """One arm. ``on_command`` composes and holds a target; ``update`` returns the torque of a tick."""

    def __init__(self, params: UrKinematicsParams, config: OscControllerConfig, control_dt: float):
        self.config = config
        self.kin = BatchedKinematics(params, dtype=torch.float64)
        self.osc = BatchedOsc(1, config.gains, pos_clip=config.pos_clip, rot_clip=config.rot_clip,
                              torque_limit=config.torque_limit, torque_rate_limit=config.torque_rate_limit,
                              dtype=torch.float64, control_dt=control_dt)
        self.target_pos: torch.Tensor | None = None
        self.target_rot: torch.Tensor | None = None
        self.has_command = False
        self.timed_out = False
        self.command_time = -math.inf
        self.rejected_commands = 0
        self.accepted_commands = 0
        self.nonfinite_states = 0
        self.timeouts = 0

    @staticmethod
    def _vec(x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float64).reshape(1, -1)

    def reset(self, q) -> None:
        """On activation: hold the current pose."""
        q = self._vec(q)
        self.osc.reset(torch.arange(1))
        self.has_command = False
        self.timed_out = False
        self.command_time = -math.inf
        if bool(torch.isfinite(q).all()):
            self.target_pos, self.target_rot = self.kin.forward(q)
        else:
            self.target_pos = self.target_rot = None

    def on_command(self, action, scale, q, now_s: float, stamp_s: float = 0.0) -> CommandStatus:
        action, scale, q = self._vec(action), self._vec(scale), self._vec(q)
        if action.shape[1] != 6 or scale.shape[1] != 6:
            raise ValueError(f"action and scale need 6 values, got {action.shape[1]} and {scale.shape[1]}")
        if not (bool(torch.isfinite(action).all()) and bool(torch.isfinite(scale).all()) and math.isfinite(stamp_s)):
            self.rejected_commands += 1
            return CommandStatus.REJECTED_NONFINITE
        if self.config.reject_stale_stamps and stamp_s > 0.0 and now_s - stamp_s > self.config.command_timeout:
            self.rejected_commands += 1
            return CommandStatus.REJECTED_STALE
        if not bool(torch.isfinite(q).all()):
            self.rejected_commands += 1
            return CommandStatus.REJECTED_NO_STATE
        scaled = action * scale
        limits = torch.tensor([self.config.max_position_delta] * 3 + [self.config.max_rotation_delta] * 3,
                              dtype=torch.float64)
        scaled = torch.maximum(torch.minimum(scaled, limits), -limits)
        pos, rot = self.kin.forward(q)
        self.target_pos, self.target_rot = compose_target(pos, rot, scaled, torch.ones(6, dtype=torch.float64))
        self.has_command = True
        self.timed_out = False
        self.command_time = now_s
        self.accepted_commands += 1
        return CommandStatus.ACCEPTED

    def update(self, q, qd, now_s: float) -> OscTickOutput:
        q, qd = self._vec(q), self._vec(qd)
        valid = bool(torch.isfinite(q).all()) and bool(torch.isfinite(qd).all()) and math.isfinite(now_s)
        if not valid:
            self.nonfinite_states += 1
            # As the C++ core: the law is not evaluated; the torque goes to zero through the rate limit.
            last = self.osc.last_torque
            if self.config.torque_rate_limit is not None:
                step = self.config.torque_rate_limit * self.osc.control_dt
                tau = last + torch.clamp(-last, -step, step)
            else:
                tau = torch.zeros_like(last)
            self.osc.last_torque = tau
            z3, eye = torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
            return OscTickOutput(tau[0], torch.zeros(6, dtype=torch.float64), z3, eye, z3, eye, True, False)
        pos, rot, jac = self.kin.forward_with_jacobian(q)
        if self.target_pos is None:
            self.target_pos, self.target_rot = pos, rot
        if self.has_command and not self.timed_out and now_s - self.command_time > self.config.command_timeout:
            self.timed_out = True
            self.timeouts += 1
            self.target_pos, self.target_rot = pos, rot
        tau = self.osc.torque(jac, qd, pos, rot, self.target_pos, self.target_rot)
        return OscTickOutput(tau[0], self.osc.last_error[0].clone(), pos[0], rot[0], self.target_pos[0],
                             self.target_rot[0], holding=not self.has_command or self.timed_out, state_valid=True)

    def command_age(self, now_s: float) -> float:
        return now_s - self.command_time if self.has_command else math.nan
