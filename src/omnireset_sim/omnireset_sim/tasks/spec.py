"""Declarative task specs: objects, resting poses, goal (assembled) offset, thresholds, variants.

A task is data only. The engine builds the scene from it, the goal sampler places the receptive
object, and the MDP terms read the thresholds; adding a task (a new sub-package with a `SPEC`)
touches no engine code.

Frames: the world frame is the robot's base_link, the table top is z = 0, and object x-y ranges
are offsets from WORKSPACE_ORIGIN (the middle of the table area in front of the robot), as in the
paper's §4.1 ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

# Centre of the object ranges on the table, base_link frame (m).
WORKSPACE_ORIGIN: tuple[float, float] = (0.45, 0.0)
# §4.1: Hard spreads the target object over (x, y) in [-0.2, 0.2] x [-0.15, 0.15]; Easy uses a
# tiny patch [0.1, 0.12]^2 with one fixed goal location.
HARD_TARGET_XY = ((-0.2, 0.2), (-0.15, 0.15))
EASY_TARGET_XY = ((0.1, 0.12), (0.1, 0.12))
# Task-specific goal randomization of the Hard variants: receptive object moved by up to this
# much (m) in x and y around its nominal place.
HARD_GOAL_JITTER = (0.05, 0.03)
AXES = ("x", "y", "z")


@dataclass(frozen=True)
class Geom:
    """One primitive collision + visual geom of an object, in the object's frame."""

    type: str  # box | cylinder | sphere | capsule
    size: tuple[float, ...]  # MuJoCo half sizes
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    rgba: tuple[float, float, float, float] | None = None

    def volume(self) -> float:
        s = self.size
        if self.type == "box":
            return 8.0 * s[0] * s[1] * s[2]
        if self.type == "cylinder":
            return math.pi * s[0] ** 2 * 2.0 * s[1]
        if self.type == "sphere":
            return 4.0 / 3.0 * math.pi * s[0] ** 3
        if self.type == "capsule":
            return math.pi * s[0] ** 2 * 2.0 * s[1] + 4.0 / 3.0 * math.pi * s[0] ** 3
        raise ValueError(f"unsupported geom type {self.type!r}; valid: box, cylinder, sphere, capsule")


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    geoms: tuple[Geom, ...]
    mass: float  # kg, nominal (randomized by events)
    friction: float = 1.0  # MuJoCo sliding friction, nominal
    rgba: tuple[float, float, float, float] = (0.8, 0.5, 0.2, 1.0)


@dataclass(frozen=True)
class VariantSpec:
    """Initial-state ranges of a variant: target xy and receptive (goal) xy, offsets from WORKSPACE_ORIGIN."""

    name: str
    target_xy: tuple[tuple[float, float], tuple[float, float]]
    receptive_xy: tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    target: ObjectSpec  # s^tar, the object the policy moves (the "insertive" object)
    receptive: ObjectSpec  # the object it goes into / onto; kinematic (mocap), posed at reset
    target_rest_quat: tuple[float, float, float, float]  # resting orientation on the table (before random yaw)
    target_rest_height: float  # z of the target's origin when resting
    receptive_height: float  # z of the receptive object's origin on the table
    goal_pos: tuple[float, float, float]  # assembled pose of the target in the receptive frame
    goal_quat: tuple[float, float, float, float]
    success_position_threshold: float  # m
    success_orientation_threshold: float  # rad, sum of |euler| over the non-ignored axes
    receptive_nominal_xy: tuple[float, float]  # offset from WORKSPACE_ORIGIN
    ignored_axes: tuple[str, ...] = ("z",)  # symmetric axes, ignored like the official code (yaw)
    min_reset_separation: float = 0.1  # m, target/receptive xy distance at reset
    approximations: str = ""
    variants: dict[str, VariantSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for axis in self.ignored_axes:
            if axis not in AXES:
                raise ValueError(f"{self.name}: ignored axis {axis!r}; valid: {AXES}")
        if not self.variants:
            rx, ry = self.receptive_nominal_xy
            jx, jy = HARD_GOAL_JITTER
            object.__setattr__(self, "variants", {
                "easy": VariantSpec("easy", EASY_TARGET_XY, ((rx, rx), (ry, ry))),
                "hard": VariantSpec("hard", HARD_TARGET_XY, ((rx - jx, rx + jx), (ry - jy, ry + jy))),
            })

    @property
    def orientation_axes_mask(self) -> tuple[bool, bool, bool]:
        return tuple(a not in self.ignored_axes for a in AXES)  # type: ignore[return-value]

    def variant(self, name: str) -> VariantSpec:
        if name not in self.variants:
            raise ValueError(f"task {self.name!r}: unknown variant {name!r}; valid: {sorted(self.variants)}")
        return self.variants[name]


def sample_uniform(lo_hi: tuple[float, float], n: int, generator: torch.Generator | None, dtype=torch.float64):
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=dtype)


def sample_goal(spec: TaskSpec, variant: VariantSpec, n: int, generator: torch.Generator | None = None):
    """Goal sampler: the receptive object's pose (pos [n,3], quat [n,4]); the goal is that pose
    composed with (goal_pos, goal_quat). Easy: one fixed location; Hard: jittered (§4.1)."""
    x = WORKSPACE_ORIGIN[0] + sample_uniform(variant.receptive_xy[0], n, generator)
    y = WORKSPACE_ORIGIN[1] + sample_uniform(variant.receptive_xy[1], n, generator)
    z = torch.full((n,), spec.receptive_height, dtype=torch.float64)
    quat = torch.zeros(n, 4, dtype=torch.float64)
    quat[:, 0] = 1.0
    return torch.stack([x, y, z], dim=1), quat


def box_ring(inner_half: tuple[float, float], outer_half: tuple[float, float], z_range: tuple[float, float],
             rgba=None) -> tuple[Geom, ...]:
    """Four boxes around a rectangular opening (a hole through a block), z from z_range[0] to z_range[1]."""
    ix, iy = inner_half
    ox, oy = outer_half
    hz = 0.5 * (z_range[1] - z_range[0])
    zc = 0.5 * (z_range[1] + z_range[0])
    wy = 0.5 * (oy - iy)
    wx = 0.5 * (ox - ix)
    return (
        Geom("box", (ox, wy, hz), (0.0, iy + wy, zc), rgba=rgba),
        Geom("box", (ox, wy, hz), (0.0, -(iy + wy), zc), rgba=rgba),
        Geom("box", (wx, iy, hz), (ix + wx, 0.0, zc), rgba=rgba),
        Geom("box", (wx, iy, hz), (-(ix + wx), 0.0, zc), rgba=rgba),
    )


QUAT_IDENTITY = (1.0, 0.0, 0.0, 0.0)
QUAT_X90 = (math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0)
QUAT_X180 = (0.0, 1.0, 0.0, 0.0)
