"""Actuator parameters identified by sysid, their search box, and the friction model they drive.

Per joint: armature (kg m^2, MuJoCo `armature`), static friction Fs (N m), dynamic-friction ratio
r = Fd / Fs in [0, 1], viscous friction (N m s/rad, MuJoCo `damping`); plus one motor delay in
physics steps shared by all joints.

Friction model (the same in sysid replay and in the environment's randomization):

    MuJoCo `frictionloss = Fs`           -- constraint-based dry friction: holds a joint at rest
                                            against up to Fs (true stiction, no chatter);
    applied torque  +(Fs - Fd) * sign(qd) * tanh(max(|qd| - v_c, 0) / v_s)
                                         -- while sliding, gives back the difference, so the net
                                            Coulomb level falls smoothly from Fs to Fd = r * Fs once
                                            |qd| >> v_c + v_s (a Stribeck drop). v_c: MuJoCo's
                                            frictionloss is a soft constraint that lets a held joint
                                            creep at a few 0.01 rad/s; without the dead band that
                                            creep would switch the drop on and break stiction.
    MuJoCo `damping = viscous`            -- viscous friction, integrated implicitly.

`dynamic_friction_torque` computes the applied term; the environment adds it (undelayed, it is
physics, not command) to the arm torque at every physics step, next to the frictionloss/damping/
armature it writes into the model (`SysidParams.joint_dynamics()`).
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from omnireset_control.constants import ARM_JOINT_NAMES, PHYSICS_DT
from omnireset_policy.artifact_errors import ArtifactError, load_yaml, reading

NUM_JOINTS = len(ARM_JOINT_NAMES)
# Joint speeds (rad/s) of the friction model: below STICTION_VELOCITY a joint counts as stuck (twice
# the creep of MuJoCo's soft frictionloss constraint at dt = 1/120 s, measured <= 0.05 rad/s for
# torques up to 0.95 Fs, Fs up to the box's 15 / 5 N m and the lowest armatures), and the Coulomb level falls from static to dynamic over STRIBECK_VELOCITY
# beyond it; both small compared with chirp joint speeds (0.2-2 rad/s).
STICTION_VELOCITY = 0.1
STRIBECK_VELOCITY = 0.05

PER_JOINT_FIELDS = ("armature", "static_friction", "dynamic_friction_ratio", "viscous_friction")
PARAM_GROUPS = PER_JOINT_FIELDS + ("delay",)
SYSID_YAML_VERSION = 1


def dynamic_friction_torque(qd, static_friction, dynamic_friction_ratio, stribeck_velocity: float = STRIBECK_VELOCITY,
                            stiction_velocity: float = STICTION_VELOCITY):
    """Torque to ADD to the joints (numpy or torch, broadcasting [..., 6]) so that MuJoCo's
    frictionloss Fs acts as Fs at rest and as Fd = ratio * Fs while sliding:
    ``(Fs - Fd) * sign(qd) * tanh(max(|qd| - v_c, 0) / v_s)``."""
    if hasattr(qd, "tanh"):  # torch tensor
        static = static_friction if hasattr(static_friction, "tanh") else qd.new_tensor(static_friction)
        ratio = dynamic_friction_ratio if hasattr(dynamic_friction_ratio, "tanh") \
            else qd.new_tensor(dynamic_friction_ratio)
        slide = ((qd.abs() - stiction_velocity).clamp(min=0.0) / stribeck_velocity).tanh()
        return static * (1.0 - ratio) * qd.sign() * slide
    static = np.asarray(static_friction, dtype=np.float64)
    ratio = np.asarray(dynamic_friction_ratio, dtype=np.float64)
    qd = np.asarray(qd, dtype=np.float64)
    slide = np.tanh(np.maximum(np.abs(qd) - stiction_velocity, 0.0) / stribeck_velocity)
    return static * (1.0 - ratio) * np.sign(qd) * slide


@dataclass(frozen=True)
class SysidParams:
    """One full parameter set (6 values per per-joint field)."""

    armature: tuple[float, ...] = (0.2, 0.2, 0.2, 0.1, 0.1, 0.1)
    static_friction: tuple[float, ...] = (0.0,) * NUM_JOINTS
    dynamic_friction_ratio: tuple[float, ...] = (1.0,) * NUM_JOINTS
    viscous_friction: tuple[float, ...] = (0.0,) * NUM_JOINTS
    delay: int = 0  # physics steps

    def __post_init__(self) -> None:
        for name in PER_JOINT_FIELDS:
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) != NUM_JOINTS:
                raise ValueError(f"SysidParams.{name} needs {NUM_JOINTS} values, got {len(values)}")
            if any(not math.isfinite(v) or v < 0 for v in values):
                raise ValueError(f"SysidParams.{name} needs finite values >= 0, got {values}")
            object.__setattr__(self, name, values)
        if any(r > 1.0 for r in self.dynamic_friction_ratio):
            raise ValueError(f"dynamic_friction_ratio must be in [0, 1], got {self.dynamic_friction_ratio}")
        if int(self.delay) != self.delay or self.delay < 0:
            raise ValueError(f"delay must be an integer number of physics steps >= 0, got {self.delay}")
        object.__setattr__(self, "delay", int(self.delay))

    def joint_dynamics(self):
        """The MJCF-side part as omnireset_sim.assets.arm.JointDynamics (armature, frictionloss=Fs,
        damping=viscous); the dynamic part is `dynamic_friction_torque`, the delay is the env's."""
        from ..assets.arm import JointDynamics

        return JointDynamics(armature=self.armature, friction=self.static_friction, damping=self.viscous_friction)

    def as_dict(self) -> dict:
        out = {name: [float(v) for v in getattr(self, name)] for name in PER_JOINT_FIELDS}
        out["delay"] = int(self.delay)
        return out


# Search box per field: (low, high) for the three large joints and for the three wrist joints.
# Armature lower bounds keep the explicit 120 Hz OSC damping (deployment gains) stable.
_BIG, _WRIST = slice(0, 3), slice(3, 6)
DEFAULT_BOUNDS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "armature": ((0.05,) * 3 + (0.02,) * 3, (2.0,) * 3 + (0.5,) * 3),
    "static_friction": ((0.0,) * 6, (15.0,) * 3 + (5.0,) * 3),
    "dynamic_friction_ratio": ((0.0,) * 6, (1.0,) * 6),
    "viscous_friction": ((0.0,) * 6, (20.0,) * 3 + (5.0,) * 3),
}
DEFAULT_DELAY_BOUNDS = (0, 4)


@dataclass(frozen=True)
class SearchSpace:
    """Which parameters are searched (a normalized [0,1] box per entry) and the values of the rest.

    `joints`: joint indices whose per-joint fields are searched; `groups`: which fields (and/or
    "delay"). Parameters not searched stay at `nominal`.
    """

    nominal: SysidParams = field(default_factory=SysidParams)
    joints: tuple[int, ...] = tuple(range(NUM_JOINTS))
    groups: tuple[str, ...] = PARAM_GROUPS
    bounds: dict = field(default_factory=lambda: dict(DEFAULT_BOUNDS))
    delay_bounds: tuple[int, int] = DEFAULT_DELAY_BOUNDS

    def __post_init__(self) -> None:
        unknown = [g for g in self.groups if g not in PARAM_GROUPS]
        if unknown:
            raise ValueError(f"unknown parameter groups {unknown}; valid: {list(PARAM_GROUPS)}")
        bad = [j for j in self.joints if not 0 <= int(j) < NUM_JOINTS]
        if bad or len(set(self.joints)) != len(self.joints):
            raise ValueError(f"joints must be distinct indices in 0..{NUM_JOINTS - 1}, got {self.joints}")
        if not self.groups:
            raise ValueError("nothing to search: groups is empty")
        for name in PER_JOINT_FIELDS:
            lo, hi = (np.asarray(b, dtype=np.float64) for b in self.bounds[name])
            if lo.shape != (NUM_JOINTS,) or hi.shape != (NUM_JOINTS,) or not (hi > lo).all():
                raise ValueError(f"bounds[{name!r}] must be 6 lows < 6 highs, got {self.bounds[name]}")
        lo_d, hi_d = self.delay_bounds
        if not (0 <= lo_d < hi_d):
            raise ValueError(f"delay_bounds must satisfy 0 <= low < high, got {self.delay_bounds}")

    @property
    def entries(self) -> list[tuple[str, int | None]]:
        """(field, joint) per search dimension, joint None for the delay."""
        out: list[tuple[str, int | None]] = []
        for name in PER_JOINT_FIELDS:
            if name in self.groups:
                out += [(name, int(j)) for j in self.joints]
        if "delay" in self.groups:
            out.append(("delay", None))
        return out

    @property
    def dim(self) -> int:
        return len(self.entries)

    def entry_names(self) -> list[str]:
        return [f"{n}[{ARM_JOINT_NAMES[j]}]" if j is not None else n for n, j in self.entries]

    def _range(self, name: str, joint: int | None) -> tuple[float, float]:
        if name == "delay":
            return float(self.delay_bounds[0]), float(self.delay_bounds[1])
        lo, hi = self.bounds[name]
        return float(lo[joint]), float(hi[joint])

    def decode(self, x) -> SysidParams:
        """Normalized vector in [0,1]^dim (clipped) -> parameters. The delay rounds to the nearest step."""
        x = np.clip(np.asarray(x, dtype=np.float64).reshape(-1), 0.0, 1.0)
        if x.shape[0] != self.dim:
            raise ValueError(f"expected a vector of {self.dim} values, got {x.shape[0]}")
        values = {name: list(getattr(self.nominal, name)) for name in PER_JOINT_FIELDS}
        delay = self.nominal.delay
        for xi, (name, joint) in zip(x, self.entries):
            lo, hi = self._range(name, joint)
            v = lo + xi * (hi - lo)
            if name == "delay":
                delay = int(round(v))
            else:
                values[name][joint] = v
        return SysidParams(**{k: tuple(v) for k, v in values.items()}, delay=delay)

    def encode(self, params: SysidParams) -> np.ndarray:
        out = []
        for name, joint in self.entries:
            lo, hi = self._range(name, joint)
            v = params.delay if name == "delay" else getattr(params, name)[joint]
            out.append((v - lo) / (hi - lo))
        return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)

    def at_bounds(self, params: SysidParams, tol: float = 0.01) -> list[str]:
        """Names of searched parameters within `tol` (normalized) of a box bound."""
        x = self.encode(params)
        flagged = []
        for xi, label, (name, _) in zip(x, self.entry_names(), self.entries):
            if name == "delay":
                # An integer at the box edge is still worth flagging: the true delay may lie beyond.
                if xi <= 0.0 + 1e-9 and self.delay_bounds[0] > 0 or xi >= 1.0 - 1e-9:
                    flagged.append(f"{label} (at {'lower' if xi < 0.5 else 'upper'} bound)")
            elif xi <= tol or xi >= 1.0 - tol:
                flagged.append(f"{label} (at {'lower' if xi < 0.5 else 'upper'} bound)")
        return flagged


# ---- YAML output -------------------------------------------------------------------------------


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temporary file in the same directory + rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_sysid_yaml(path: str | Path, params: SysidParams, physics_dt: float, report: dict | None = None,
                    provenance: dict | None = None) -> None:
    doc = {
        "version": SYSID_YAML_VERSION,
        "joint_names": list(ARM_JOINT_NAMES),
        "physics_dt": float(physics_dt),
        "parameters": params.as_dict(),
        "friction_model": {
            "static": "MuJoCo dof frictionloss = static_friction",
            "dynamic": "applied torque (formula), Fd = ratio * Fs, added undelayed every physics step",
            "viscous": "MuJoCo dof damping = viscous_friction",
            "formula": "(Fs - Fd) * sign(qd) * tanh(max(|qd| - stiction_velocity, 0) / stribeck_velocity)",
            "stiction_velocity": STICTION_VELOCITY,
            "stribeck_velocity": STRIBECK_VELOCITY,
        },
        "delay_unit": "physics steps of physics_dt",
        "report": report or {},
        "provenance": provenance or {},
    }
    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False))


def load_sysid_yaml(path: str | Path, physics_dt: float | None = PHYSICS_DT) -> SysidParams:
    """Identified parameters from a sysid YAML. With `physics_dt`, refuses a file identified at a
    different physics step (its delay would mean a different time)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such sysid result")
    doc = load_yaml(path, "not valid YAML (corrupted or not a sysid result)")
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
        raise ArtifactError(f"{path}: not a sysid result (no 'parameters' mapping)")
    with reading(path, "not a valid sysid result"):
        names = doc.get("joint_names")
        if names is not None and tuple(names) != ARM_JOINT_NAMES:
            raise ArtifactError(f"{path}: joint_names {names} differ from {list(ARM_JOINT_NAMES)}")
        if physics_dt is not None and "physics_dt" in doc and abs(float(doc["physics_dt"]) - physics_dt) > 1e-9:
            raise ArtifactError(f"{path}: identified at physics_dt={doc['physics_dt']}, the environment uses "
                                f"{physics_dt}; the delay (in steps) and the fitted friction would not transfer")
        p = doc["parameters"]
        missing = [k for k in PER_JOINT_FIELDS + ("delay",) if k not in p]
        if missing:
            raise ArtifactError(f"{path}: parameters lack {missing}")
        return SysidParams(**{k: tuple(p[k]) for k in PER_JOINT_FIELDS}, delay=p["delay"])


__all__ = ["DEFAULT_BOUNDS", "DEFAULT_DELAY_BOUNDS", "NUM_JOINTS", "PARAM_GROUPS", "PER_JOINT_FIELDS",
           "STICTION_VELOCITY", "STRIBECK_VELOCITY", "SearchSpace", "SysidParams", "atomic_write_text", "dynamic_friction_torque",
           "load_sysid_yaml", "save_sysid_yaml"]
