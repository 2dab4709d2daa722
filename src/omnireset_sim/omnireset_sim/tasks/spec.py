"""Declarative task specs: objects, resting poses, goal (assembled) offset, thresholds, variants.

A task is data only. The engine builds the scene from it, the goal sampler places the receptive
object, and the MDP terms read the thresholds; adding a task (a new sub-package with a `SPEC`)
touches no engine code.

Frames: the world frame is the robot's base_link, the table top is z = 0, and object x-y ranges
are offsets from WORKSPACE_ORIGIN (the middle of the table area in front of the robot), as in the
paper's §4.1 ranges.

Variants: Easy is §4.1's (the target in a tiny patch, the receptive object at one fixed place);
Hard spreads the target over §4.1's range and places the receptive object as the released code
does (RELEASED_* below: x, y and yaw ranges in the released robot frame, converted to base_link).
Success thresholds follow the released docs' rule where the released value is unknown:
TIGHT_FIT_* for tight fits, LOOSE_FIT_* for loose ones (each task file says which and why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .thread import ThreadSpec

# Centre of the object ranges on the table, base_link frame (m).
WORKSPACE_ORIGIN: tuple[float, float] = (0.45, 0.0)
# §4.1: Hard spreads the target object over (x, y) in [-0.2, 0.2] x [-0.15, 0.15]; Easy uses a
# tiny patch [0.1, 0.12]^2 with one fixed goal location.
HARD_TARGET_XY = ((-0.2, 0.2), (-0.15, 0.15))
EASY_TARGET_XY = ((0.1, 0.12), (0.1, 0.12))
AXES = ("x", "y", "z")

# ---- Released goal placement and its conversion to our base_link --------------------------------
# Source: UW-Lab/UWLab snapshot 36d98af (read 2026-12), C = source/uwlab_tasks/uwlab_tasks/
# manager_based/manipulation/omnireset/config/ur5e_robotiq_2f85/.
#  * C/reset_states_cfg.py, event `reset_receptive_object_pose`: the receptive object's root is drawn
#    x U(0.3, 0.55), y U(-0.1, 0.3), yaw U(-pi/12, pi/12) (roll = pitch = 0) in the env frame, offset
#    by the metal support's *default* position (0, 0, -0.013) and the object's bottom offset, both
#    along z only (mdp/events.py `reset_root_states_uniform`).
#  * C/reset_states_cfg.py, event `reset_robot_pose`: the robot's root (with its support) is moved
#    from its default pose by x U(-0.01, 0.01), y U(-0.059, -0.019), z U(-0.01, 0.01), no rotation,
#    drawn independently of the receptive object.
#  * uwlab_assets/robots/ur5e_robotiq_gripper/ur5e_robotiq_2f85_gripper.py: the robot's default root
#    pose is the env origin with identity rotation.
#  * uwlab_assets/robots/ur5e_robotiq_gripper/kinematics.py (+ omnireset mdp/actions/
#    task_space_actions.py): the articulation root is the REP-103 base_link, "180 deg Z rotation from
#    base_link_inertia", the frame of their EE poses and Jacobian.
# Ours (README "Frames"): base_link = Rz(pi) * DH base, and the DH base is ur_description's
# base_link_inertia, so the two robot frames are the same frame: no rotation. Hence, for a point
# p_env of the released env frame and the robot root at t (the jitter above),
#     p_base_link = p_env - t,   yaw_base_link = yaw_env,
# and the released receptive x-y relative to the robot is U(x) - U(jitter_x), U(y) - U(jitter_y),
# which `sample_goal` draws exactly (the nominal shift is the jitter's mean, (0, -0.039)). Check:
# the released default joints (0, -pi/2, pi/2, -pi/2, -pi/2, -pi/2) put our TCP at (0.49, 0.13, 0.31)
# pointing down, in front of the robot over that range (test/test_task_specs.py). z is not
# converted: our objects rest on our table (z = 0 = the robot's mounting plane), where the released
# support plane is 13 mm below the robot's root.
RELEASED_RECEPTIVE_X = (0.3, 0.55)  # m, released env frame
RELEASED_RECEPTIVE_Y = (-0.1, 0.3)  # m, released env frame
RELEASED_RECEPTIVE_YAW = (-math.pi / 12, math.pi / 12)  # rad, about the vertical
RELEASED_ROBOT_JITTER_XY = ((-0.01, 0.01), (-0.059, -0.019))  # m, robot root offset in the env frame
RELEASED_EPISODE_LENGTH_S = 16.0  # s, every released task's env cfg (episode_length_s = 16.0)
RELEASED_ROBOT_NOMINAL_XY = tuple(0.5 * (lo + hi) for lo, hi in RELEASED_ROBOT_JITTER_XY)  # (0, -0.039)


def released_to_base_link(p_env, robot_root_xy=RELEASED_ROBOT_NOMINAL_XY):
    """A released env-frame point (x, y[, z]) in our base_link, the robot's root at robot_root_xy
    (default: its nominal, the mean of the released jitter). Rotation is identity (see above); z is
    returned unchanged."""
    p = [float(v) for v in p_env]
    p[0] -= float(robot_root_xy[0])
    p[1] -= float(robot_root_xy[1])
    return tuple(p)


# Hard receptive ranges as offsets from WORKSPACE_ORIGIN (released env-frame ranges; the robot's
# jitter is subtracted when sampling).
HARD_RECEPTIVE_XY = ((RELEASED_RECEPTIVE_X[0] - WORKSPACE_ORIGIN[0], RELEASED_RECEPTIVE_X[1] - WORKSPACE_ORIGIN[0]),
                     (RELEASED_RECEPTIVE_Y[0] - WORKSPACE_ORIGIN[1], RELEASED_RECEPTIVE_Y[1] - WORKSPACE_ORIGIN[1]))

# ---- Success thresholds: the released docs' rule (D/new_task.rst) --------------------------------
# Position error (m) and |roll| + |pitch| (rad) between the assembled frames; yaw ignored.
TIGHT_FIT_POSITION = 0.0025  # tight fits (peg / leg / drawer class)
TIGHT_FIT_ORIENTATION = 0.025
LOOSE_FIT_POSITION = 0.005  # loose tasks (the docs' example: cube stacking)
LOOSE_FIT_ORIENTATION = 0.05

# Reset clearance: a resting target's footprint keeps at least this much (m) from the receptive
# object's footprint (see `reset_clear`).
RESET_CLEARANCE_MARGIN = 0.01


def _check_range(owner: str, name: str, rng, lo_bound: float = -math.inf, hi_bound: float = math.inf) -> None:
    if len(rng) != 2:
        raise ValueError(f"{owner}: {name} must be a (lo, hi) pair, got {rng!r}")
    lo, hi = float(rng[0]), float(rng[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{owner}: {name} must be finite, got {rng!r}")
    if lo > hi:
        raise ValueError(f"{owner}: {name} has lo > hi: {rng!r}")
    if lo < lo_bound or hi > hi_bound:
        raise ValueError(f"{owner}: {name} {rng!r} lies outside [{lo_bound:g}, {hi_bound:g}]")


@dataclass(frozen=True)
class Geom:
    """One primitive collision + visual geom of an object, in the object's frame."""

    type: str  # box | cylinder | sphere | capsule
    size: tuple[float, ...]  # MuJoCo half sizes
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    rgba: tuple[float, float, float, float] | None = None
    # Collision bits; None: the scene's environment bits (assets/mjcf.ENV_CONTYPE / ENV_CONAFFINITY).
    # A thread's ridges and lugs use their own bit so that they touch only each other (tasks/thread.py).
    contype: int | None = None
    conaffinity: int | None = None

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
    """Initial-state ranges of a variant: target xy and receptive (goal) xy, offsets from
    WORKSPACE_ORIGIN; the receptive object's yaw range (rad); and the released robot-root jitter
    (x, y ranges, m) whose draw is subtracted from the receptive position (the released robot moves,
    so relative to base_link the object moves the other way; zero for Easy)."""

    name: str
    target_xy: tuple[tuple[float, float], tuple[float, float]]
    receptive_xy: tuple[tuple[float, float], tuple[float, float]]
    receptive_yaw: tuple[float, float] = (0.0, 0.0)
    robot_jitter_xy: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))

    def __post_init__(self) -> None:
        owner = f"variant {self.name!r}"
        for field_name in ("target_xy", "receptive_xy", "robot_jitter_xy"):
            value = getattr(self, field_name)
            if len(value) != 2:
                raise ValueError(f"{owner}: {field_name} must be ((x_lo, x_hi), (y_lo, y_hi)), got {value!r}")
            for axis, rng in zip(("x", "y"), value):
                _check_range(owner, f"{field_name}.{axis}", rng)
        _check_range(owner, "receptive_yaw", self.receptive_yaw, -math.pi, math.pi)

    def receptive_xy_bounds(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The support of the receptive object's x-y in base_link (absolute, m)."""
        (rx, ry), (jx, jy) = self.receptive_xy, self.robot_jitter_xy
        return ((WORKSPACE_ORIGIN[0] + rx[0] - jx[1], WORKSPACE_ORIGIN[0] + rx[1] - jx[0]),
                (WORKSPACE_ORIGIN[1] + ry[0] - jy[1], WORKSPACE_ORIGIN[1] + ry[1] - jy[0]))


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
    # A screw thread between the target's pin and the receptive object's hole (tasks/thread.ThreadSpec),
    # its geoms already among the objects' geoms; None: no thread. The oracle reads its lead and turns.
    thread: "ThreadSpec | None" = None
    # s: the task's episode (the env's and the sim node's default horizon). The released code uses
    # RELEASED_EPISODE_LENGTH_S for every task; a task that needs longer says why in its file.
    episode_length_s: float = RELEASED_EPISODE_LENGTH_S

    def __post_init__(self) -> None:
        owner = f"task {self.name!r}"
        ep = float(self.episode_length_s)
        if not (math.isfinite(ep) and ep > 0.0):
            raise ValueError(f"{owner}: episode_length_s must be a finite number > 0, got {self.episode_length_s!r}")
        for axis in self.ignored_axes:
            if axis not in AXES:
                raise ValueError(f"{self.name}: ignored axis {axis!r}; valid: {AXES}")
        for field_name in ("success_position_threshold", "success_orientation_threshold"):
            v = float(getattr(self, field_name))
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"{owner}: {field_name} must be a finite number > 0, got {v!r}")
        if self.success_orientation_threshold > math.pi:
            raise ValueError(f"{owner}: success_orientation_threshold {self.success_orientation_threshold!r} "
                             "exceeds pi (rad)")
        msep = float(self.min_reset_separation)
        if not (math.isfinite(msep) and msep >= 0.0):
            raise ValueError(f"{owner}: min_reset_separation must be a finite number >= 0, got {msep!r}")
        if not self.variants:
            rx, ry = self.receptive_nominal_xy
            object.__setattr__(self, "variants", {
                "easy": VariantSpec("easy", EASY_TARGET_XY, ((rx, rx), (ry, ry))),
                "hard": VariantSpec("hard", HARD_TARGET_XY, HARD_RECEPTIVE_XY, RELEASED_RECEPTIVE_YAW,
                                    RELEASED_ROBOT_JITTER_XY),
            })
        for key, v in self.variants.items():
            if not isinstance(v, VariantSpec):
                raise ValueError(f"{owner}: variants[{key!r}] must be a VariantSpec, got {type(v).__name__}")

    @property
    def receptive_footprint(self) -> tuple[float, float, float, float]:
        """(x_min, x_max, y_min, y_max) of the receptive object's geoms in its own frame (m)."""
        pts = [p for g in self.receptive.geoms for p in _geom_corners(g)]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return min(xs), max(xs), min(ys), max(ys)

    @property
    def target_footprint_radius(self) -> float:
        """Radius (m) of the resting target's x-y footprint about its origin, any yaw."""
        rot = _quat_matrix(self.target_rest_quat)
        out = 0.0
        for g in self.target.geoms:
            for p in _geom_corners(g):
                x = sum(rot[0][k] * p[k] for k in range(3))
                y = sum(rot[1][k] * p[k] for k in range(3))
                out = max(out, math.hypot(x, y))
        return out

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


def _draw_if_spread(lo_hi: tuple[float, float], n: int, generator: torch.Generator | None) -> torch.Tensor:
    """U(lo, hi) when hi > lo; otherwise the constant lo, drawing nothing from the generator."""
    if lo_hi[1] > lo_hi[0]:
        return sample_uniform(lo_hi, n, generator)
    return torch.full((n,), float(lo_hi[0]), dtype=torch.float64)


def sample_goal(spec: TaskSpec, variant: VariantSpec, n: int, generator: torch.Generator | None = None):
    """Goal sampler: the receptive object's pose (pos [n,3], quat [n,4] (w,x,y,z), yaw only); the goal
    is that pose composed with (goal_pos, goal_quat). Easy: one fixed location, yaw 0; Hard: the
    released x-y range minus the released robot jitter, yaw U(+-pi/12). Degenerate ranges draw
    nothing beyond x and y, so Easy's random stream is what it was."""
    x = WORKSPACE_ORIGIN[0] + sample_uniform(variant.receptive_xy[0], n, generator)
    y = WORKSPACE_ORIGIN[1] + sample_uniform(variant.receptive_xy[1], n, generator)
    jx, jy = variant.robot_jitter_xy
    x = x - _draw_if_spread(jx, n, generator)
    y = y - _draw_if_spread(jy, n, generator)
    z = torch.full((n,), spec.receptive_height, dtype=torch.float64)
    yaw = _draw_if_spread(variant.receptive_yaw, n, generator)
    quat = torch.stack([torch.cos(0.5 * yaw), torch.zeros_like(yaw), torch.zeros_like(yaw), torch.sin(0.5 * yaw)], 1)
    return torch.stack([x, y, z], dim=1), quat


def reset_clear(spec: TaskSpec, xy, rec_pos, rec_quat, radius: float | None = None,
                margin: float = RESET_CLEARANCE_MARGIN) -> torch.Tensor:
    """[N] bool: points xy [N,2] (base_link) far enough from the receptive object at (rec_pos [N,3],
    rec_quat [N,4]) to start a reset there: the centre distance is at least the task's
    `min_reset_separation` AND a disc of `radius` (default: the resting target's footprint radius)
    plus `margin` around the point misses the receptive object's footprint rectangle, turned by its
    pose. The second test is what keeps long receptive objects (the wall, the drawer box) clear now
    that Hard turns them and moves them into the target's range. Accepts numpy arrays too."""
    xy = torch.as_tensor(xy, dtype=torch.float64)
    rec_pos = torch.as_tensor(rec_pos, dtype=torch.float64)
    rec_quat = torch.as_tensor(rec_quat, dtype=torch.float64)
    if radius is None:
        radius = spec.target_footprint_radius
    d = xy - rec_pos[:, :2]
    centre_ok = d.norm(dim=1) >= spec.min_reset_separation
    # Heading of the receptive object's x axis (it is only ever yawed on the table).
    w, qx, qy, qz = rec_quat.unbind(1)
    r00 = 1 - 2 * (qy * qy + qz * qz)
    r10 = 2 * (qx * qy + w * qz)
    heading = torch.atan2(r10, r00)
    c, s = torch.cos(heading), torch.sin(heading)
    lx = c * d[:, 0] + s * d[:, 1]
    ly = -s * d[:, 0] + c * d[:, 1]
    x0, x1, y0, y1 = spec.receptive_footprint
    zero = torch.zeros_like(lx)
    dx = torch.maximum(torch.maximum(x0 - lx, lx - x1), zero)
    dy = torch.maximum(torch.maximum(y0 - ly, ly - y1), zero)
    return centre_ok & (torch.hypot(dx, dy) >= float(radius) + float(margin))


def _quat_matrix(q) -> list[list[float]]:
    w, x, y, z = (float(v) for v in q)
    n = math.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / n, x / n, y / n, z / n
    return [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]


def _geom_corners(g: Geom) -> list[tuple[float, float, float]]:
    """The 8 corners of a geom's bounding box, in the object's frame."""
    s = g.size
    if g.type == "box":
        h = (s[0], s[1], s[2])
    elif g.type == "cylinder":
        h = (s[0], s[0], s[1])
    elif g.type == "sphere":
        h = (s[0], s[0], s[0])
    elif g.type == "capsule":
        h = (s[0], s[0], s[1] + s[0])
    else:
        raise ValueError(f"unsupported geom type {g.type!r}; valid: box, cylinder, sphere, capsule")
    rot = _quat_matrix(g.quat)
    out = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            for sz in (-1, 1):
                v = (sx * h[0], sy * h[1], sz * h[2])
                out.append(tuple(g.pos[i] + sum(rot[i][k] * v[k] for k in range(3)) for i in range(3)))
    return out


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
