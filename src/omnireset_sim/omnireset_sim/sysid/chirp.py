"""Cartesian chirp excitation: OSC targets (TCP pose in base_link) at the controller rate.

Each of the six task-space axes (x, y, z in m; rx, ry, rz in rad, base-frame axis-angle) follows

    offset_i(t) = A_i * w(t) * sin(phi(t) + phase_i),  phi(t) = 2 pi (f0 t + (f1 - f0) t^2 / (2 T))

a linear sweep f0 -> f1 over the sweep time T, with a raised-cosine window w(t) that ramps in and
out, and held start poses before and after (the robot rests there, so a recording starts at rest).
target_pos = start_pos + offset[:3] (clipped into the safe workspace) and
target_rot = exp(offset[3:]) @ start_rot (left composition, as omnireset_control.composition).

Wrist-only mode zeroes the position amplitudes: the TCP stays put and the target only turns, which
mostly moves the three wrist joints (a gentle first excitation on a new robot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from omnireset_control.constants import CONTROLLER_RATE_HZ
from omnireset_control.rotations import axis_angle_to_matrix, matrix_to_quat, quat_to_matrix

MAX_POSITION_AMPLITUDE = 0.10  # m
MAX_ROTATION_AMPLITUDE = 0.25  # rad


@dataclass(frozen=True)
class SafeWorkspace:
    """Axis-aligned box in base_link that no chirp target may leave, plus a keep-out cylinder
    around the base's z axis (near it the arm is close to its shoulder singularity)."""

    low: tuple[float, float, float] = (-0.9, -0.9, 0.05)
    high: tuple[float, float, float] = (0.9, 0.9, 1.0)
    min_radius: float = 0.25

    def __post_init__(self) -> None:
        lo, hi = np.asarray(self.low, float), np.asarray(self.high, float)
        if lo.shape != (3,) or hi.shape != (3,) or not (hi > lo).all() or not np.isfinite([*lo, *hi]).all():
            raise ValueError(f"SafeWorkspace needs 3 finite lows < 3 highs, got {self.low}, {self.high}")
        if not (math.isfinite(self.min_radius) and self.min_radius >= 0):
            raise ValueError(f"min_radius must be finite and >= 0, got {self.min_radius}")

    def contains(self, pos: np.ndarray) -> np.ndarray:
        pos = np.asarray(pos, float)
        inside = ((pos >= np.asarray(self.low)) & (pos <= np.asarray(self.high))).all(-1)
        return inside & (np.linalg.norm(pos[..., :2], axis=-1) >= self.min_radius - 1e-12)

    def clip(self, pos: np.ndarray) -> np.ndarray:
        """Project positions [..., 3] into the workspace (radially out of the keep-out cylinder)."""
        pos = np.array(pos, dtype=np.float64)
        r = np.linalg.norm(pos[..., :2], axis=-1, keepdims=True)
        push = (r < self.min_radius) & (r > 1e-9)
        pos[..., :2] = np.where(push, pos[..., :2] * self.min_radius / np.where(r > 1e-9, r, 1.0), pos[..., :2])
        return np.clip(pos, self.low, self.high)


@dataclass(frozen=True)
class ChirpConfig:
    amplitude: tuple[float, ...] = (0.05, 0.05, 0.05, 0.15, 0.15, 0.15)  # m, m, m, rad, rad, rad
    phase: tuple[float, ...] = (0.0, math.pi / 3, 2 * math.pi / 3, math.pi / 2, 5 * math.pi / 6, math.pi / 6)
    f0: float = 0.1  # Hz
    f1: float = 3.0  # Hz
    sweep_time: float = 8.0  # s
    ramp_time: float = 0.5  # s of raised-cosine ramp at each end of the sweep
    hold_time: float = 0.25  # s at the start pose before and after the sweep
    rate: float = float(CONTROLLER_RATE_HZ)  # Hz
    wrist_only: bool = False
    workspace: SafeWorkspace = field(default_factory=SafeWorkspace)

    def __post_init__(self) -> None:
        amp = tuple(float(a) for a in self.amplitude)
        if len(amp) != 6 or len(self.phase) != 6:
            raise ValueError("amplitude and phase need 6 values (x, y, z, rx, ry, rz)")
        if not all(math.isfinite(a) and a >= 0 for a in amp):
            raise ValueError(f"amplitudes must be finite and >= 0, got {amp}")
        if max(amp[:3]) > MAX_POSITION_AMPLITUDE + 1e-12 or max(amp[3:]) > MAX_ROTATION_AMPLITUDE + 1e-12:
            raise ValueError(f"amplitude {amp} exceeds the safe limits +-{MAX_POSITION_AMPLITUDE} m / "
                             f"+-{MAX_ROTATION_AMPLITUDE} rad")
        for name in ("f0", "f1", "sweep_time", "rate"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"ChirpConfig.{name} must be finite and > 0, got {v}")
        if self.f1 < self.f0:
            raise ValueError(f"f1 ({self.f1}) must be >= f0 ({self.f0})")
        if self.f1 > 0.25 * self.rate:
            raise ValueError(f"f1={self.f1} Hz is too close to the target rate {self.rate} Hz (need f1 <= rate/4)")
        if not (0 <= self.ramp_time <= 0.5 * self.sweep_time) or not (0 <= self.hold_time):
            raise ValueError(f"need 0 <= ramp_time <= sweep_time/2 and hold_time >= 0, got {self.ramp_time}, "
                             f"{self.hold_time}")
        object.__setattr__(self, "amplitude", amp)

    @property
    def effective_amplitude(self) -> np.ndarray:
        amp = np.asarray(self.amplitude, dtype=np.float64)
        if self.wrist_only:
            amp[:3] = 0.0
        return amp


@dataclass(frozen=True)
class ChirpTargets:
    t: np.ndarray  # [T] s from the start of the trajectory
    target_pos: np.ndarray  # [T,3] base_link, m
    target_quat: np.ndarray  # [T,4] (w, x, y, z)
    rate: float
    clipped_samples: int  # targets moved back into the safe workspace


def chirp_offsets(cfg: ChirpConfig) -> tuple[np.ndarray, np.ndarray]:
    """Times [T] and task-space offsets [T,6] of the chirp (zero during the holds)."""
    n = int(round((cfg.sweep_time + 2 * cfg.hold_time) * cfg.rate)) + 1
    t = np.arange(n) / cfg.rate
    s = np.clip(t - cfg.hold_time, 0.0, cfg.sweep_time)  # time into the sweep
    phi = 2 * math.pi * (cfg.f0 * s + (cfg.f1 - cfg.f0) * s**2 / (2 * cfg.sweep_time))
    window = np.ones_like(s)
    if cfg.ramp_time > 0:
        rise = np.clip(s / cfg.ramp_time, 0, 1)
        fall = np.clip((cfg.sweep_time - s) / cfg.ramp_time, 0, 1)
        window = 0.5 * (1 - np.cos(math.pi * np.minimum(rise, fall)))
    # The window is zero at s = 0 and s = T, so the holds are exactly the start pose; sin(phase)
    # offsets fade in with it instead of jumping.
    offsets = cfg.effective_amplitude * window[:, None] * np.sin(phi[:, None] + np.asarray(cfg.phase))
    return t, offsets


def chirp_targets(start_pos, start_quat, cfg: ChirpConfig | None = None) -> ChirpTargets:
    """OSC targets around the start TCP pose (base_link position [3], quaternion (w,x,y,z) [4])."""
    cfg = cfg or ChirpConfig()
    start_pos = np.asarray(start_pos, dtype=np.float64).reshape(3)
    start_quat = np.asarray(start_quat, dtype=np.float64).reshape(4)
    if not (np.isfinite(start_pos).all() and np.isfinite(start_quat).all()):
        raise ValueError("start pose must be finite")
    if abs(np.linalg.norm(start_quat) - 1.0) > 1e-3:
        raise ValueError(f"start quaternion must be unit, got norm {np.linalg.norm(start_quat)}")
    if not cfg.workspace.contains(start_pos):
        raise ValueError(f"start position {start_pos.tolist()} lies outside the safe workspace {cfg.workspace}")
    t, off = chirp_offsets(cfg)
    raw = start_pos + off[:, :3]
    pos = cfg.workspace.clip(raw)
    clipped = int((np.abs(pos - raw) > 1e-12).any(-1).sum())
    r0 = quat_to_matrix(torch.as_tensor(start_quat)[None])
    rot = axis_angle_to_matrix(torch.as_tensor(off[:, 3:])) @ r0
    quat = matrix_to_quat(rot).numpy()
    return ChirpTargets(t=t, target_pos=pos, target_quat=quat, rate=cfg.rate, clipped_samples=clipped)


__all__ = ["MAX_POSITION_AMPLITUDE", "MAX_ROTATION_AMPLITUDE", "ChirpConfig", "ChirpTargets", "SafeWorkspace",
           "chirp_offsets", "chirp_targets"]
