"""Sysid recording: one chirp run of the arm, from the robot (ROS) or from the simulator.

File format: a numpy `.npz` (no pickles) with
    t            [T]    float64 s, uniformly spaced at `rate`
    q, qd, tau   [T,J]  float64 joint positions (rad), velocities (rad/s), commanded torques (N m)
    target_pos   [T,3]  float64 OSC target position in base_link (m) in force at t
    target_quat  [T,4]  float64 OSC target orientation (w, x, y, z)
    rate         []     float64 Hz
    joint_names  [J]    str
    metadata     []     str, JSON: robot, source ("sim" | "real"), calibration, git revision, ...
`load_recording` validates everything and names the first bad sample.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omnireset_control.constants import ARM_JOINT_NAMES
from omnireset_policy.artifact_errors import ArtifactError, reading

RECORDING_FORMAT_VERSION = 1
# A sample spacing more than this factor off 1/rate is a gap (dropped messages) or a rate mismatch.
GAP_TOLERANCE = 0.5


class RecordingError(ArtifactError):
    """A recording that cannot be used for identification (with the reason and the file)."""


def git_revision(cwd: str | Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class Recording:
    t: np.ndarray
    q: np.ndarray
    qd: np.ndarray
    tau: np.ndarray
    target_pos: np.ndarray
    target_quat: np.ndarray
    rate: float
    joint_names: tuple[str, ...] = ARM_JOINT_NAMES
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("t", "q", "qd", "tau", "target_pos", "target_quat"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        self.rate = float(self.rate)
        self.joint_names = tuple(str(n) for n in self.joint_names)
        validate(self)

    @property
    def num_samples(self) -> int:
        return int(self.t.shape[0])

    @property
    def duration(self) -> float:
        return float(self.t[-1] - self.t[0])

    def save(self, path: str | Path) -> None:
        """Atomic write of the .npz."""
        import os
        import tempfile

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(
            buf, t=self.t, q=self.q, qd=self.qd, tau=self.tau, target_pos=self.target_pos,
            target_quat=self.target_quat, rate=np.float64(self.rate), joint_names=np.asarray(self.joint_names),
            metadata=np.asarray(json.dumps({"format_version": RECORDING_FORMAT_VERSION, **self.metadata})),
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def slice_time(self, start: float, stop: float) -> "Recording":
        keep = (self.t >= self.t[0] + start - 1e-9) & (self.t <= self.t[0] + stop + 1e-9)
        return Recording(t=self.t[keep], q=self.q[keep], qd=self.qd[keep], tau=self.tau[keep],
                         target_pos=self.target_pos[keep], target_quat=self.target_quat[keep], rate=self.rate,
                         joint_names=self.joint_names, metadata=dict(self.metadata))


def validate(rec: Recording, expected_joints: tuple[str, ...] = ARM_JOINT_NAMES, source: str = "recording") -> None:
    """Raise RecordingError naming the first problem: shapes, joint names, NaN/Inf, time gaps, rate."""
    n = rec.t.shape[0] if rec.t.ndim == 1 else -1
    if rec.t.ndim != 1 or n < 3:
        raise RecordingError(f"{source}: t must be a 1-D array of at least 3 samples, got shape {rec.t.shape}")
    j = len(expected_joints)
    if len(rec.joint_names) != j:
        raise RecordingError(f"{source}: {len(rec.joint_names)} joints {list(rec.joint_names)}, expected {j} "
                             f"({list(expected_joints)})")
    if tuple(rec.joint_names) != tuple(expected_joints):
        raise RecordingError(f"{source}: joint names {list(rec.joint_names)} differ from {list(expected_joints)}")
    for name, width in (("q", j), ("qd", j), ("tau", j), ("target_pos", 3), ("target_quat", 4)):
        arr = getattr(rec, name)
        if arr.shape != (n, width):
            raise RecordingError(f"{source}: {name} has shape {arr.shape}, expected ({n}, {width}) "
                                 f"({'wrong joint count' if width == j else 'wrong width'})")
    for name in ("t", "q", "qd", "tau", "target_pos", "target_quat"):
        arr = getattr(rec, name)
        bad = ~np.isfinite(arr)
        if bad.any():
            first = int(np.argwhere(bad)[0][0])
            raise RecordingError(f"{source}: {name} holds NaN/Inf (first at sample {first}, t={rec.t[first]!r})")
    norms = np.linalg.norm(rec.target_quat, axis=1)
    if np.abs(norms - 1.0).max() > 1e-3:
        first = int(np.argmax(np.abs(norms - 1.0) > 1e-3))
        raise RecordingError(f"{source}: target_quat is not unit at sample {first} (norm {norms[first]:.6f})")
    if not (math.isfinite(rec.rate) and rec.rate > 0):
        raise RecordingError(f"{source}: rate must be finite and > 0, got {rec.rate}")
    dt = np.diff(rec.t)
    if (dt <= 0).any():
        first = int(np.argmax(dt <= 0))
        raise RecordingError(f"{source}: time is not strictly increasing at sample {first + 1} "
                             f"(t={rec.t[first]} -> {rec.t[first + 1]})")
    nominal = 1.0 / rec.rate
    median = float(np.median(dt))
    if abs(median - nominal) > 0.01 * nominal:
        raise RecordingError(f"{source}: declared rate {rec.rate} Hz does not match the sample spacing "
                             f"(median {1.0 / median:.3f} Hz)")
    off = np.abs(dt - nominal) > GAP_TOLERANCE * nominal
    if off.any():
        first = int(np.argmax(off))
        raise RecordingError(f"{source}: gap in time at sample {first + 1}: t={rec.t[first]:.6f} -> "
                             f"{rec.t[first + 1]:.6f} (dt {dt[first] * 1e3:.3f} ms, expected {nominal * 1e3:.3f} ms)")


def load_recording(path: str | Path, expected_rate: float | None = None) -> Recording:
    """Load and validate a recording; `expected_rate` (Hz) additionally requires that rate."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such recording")
    with reading(path, "cannot read as .npz (corrupted, truncated or not a recording)", RecordingError):
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("t", "q", "qd", "tau", "target_pos", "target_quat", "rate", "joint_names")
                       if k not in z.files]
            if missing:
                raise RecordingError(f"{path}: not a sysid recording, missing arrays {missing}")
            data = {k: z[k] for k in z.files}
    meta = {}
    if "metadata" in data:
        with reading(path, "metadata is not JSON", RecordingError):
            meta = json.loads(str(data["metadata"]))
        if not isinstance(meta, dict):
            raise RecordingError(f"{path}: metadata is not a JSON object")
    try:
        with reading(path, "not a valid sysid recording", RecordingError):
            rec = Recording(t=data["t"], q=data["q"], qd=data["qd"], tau=data["tau"], target_pos=data["target_pos"],
                            target_quat=data["target_quat"], rate=float(data["rate"]),
                            joint_names=tuple(str(s) for s in np.atleast_1d(data["joint_names"])), metadata=meta)
    except RecordingError as exc:
        raise RecordingError(exc if str(exc).startswith(f"{path}:") else f"{path}: {exc}") from None
    if expected_rate is not None and abs(rec.rate - expected_rate) > 1e-6 * expected_rate:
        raise RecordingError(f"{path}: recorded at {rec.rate} Hz, expected {expected_rate} Hz")
    return rec


__all__ = ["GAP_TOLERANCE", "RECORDING_FORMAT_VERSION", "Recording", "RecordingError", "git_revision",
           "load_recording", "validate"]
