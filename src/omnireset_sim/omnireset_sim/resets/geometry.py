"""Geometry helpers (numpy, float64): surface sampling on the task's primitive geoms, poses, rotations.

Quaternions are (w, x, y, z) like the rest of the project; a pose is (pos [3], quat [4]).
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from ..tasks.spec import Geom


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.asarray(q, dtype=np.float64) / np.linalg.norm(q))
    return m.reshape(3, 3)


def mat_to_quat(rot: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(rot, dtype=np.float64).reshape(9))
    return -q if q[0] < 0 else q


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return out


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]], dtype=np.float64)


def pose_mul(pa, qa, pb, qb):
    """(pa, qa) * (pb, qb): pose b expressed in a's frame, mapped to a's parent frame."""
    return np.asarray(pa) + quat_to_mat(qa) @ np.asarray(pb), quat_mul(qa, qb)


def pose_inv(p, q):
    qi = quat_conj(q)
    return -(quat_to_mat(qi) @ np.asarray(p)), qi


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle between unit quaternions (broadcasting over leading dims), in [0, pi]."""
    dot = np.abs(np.sum(np.asarray(a) * np.asarray(b), axis=-1))
    return 2.0 * np.arccos(np.clip(dot, -1.0, 1.0))


def random_quat(rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Uniform on SO(3) (normalised 4-D Gaussian), w >= 0."""
    q = rng.normal(size=(4,) if n is None else (n, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def axis_angle_quat(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    return np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * axis])


def random_small_rotation(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    """A rotation about a uniform random axis by an angle uniform in [0, max_angle]."""
    return axis_angle_quat(rng.normal(size=3), rng.uniform(0.0, max_angle))


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


def perpendicular_basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing the unit vector d to a right-handed orthonormal basis."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(d, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1)


def geom_area(g: Geom) -> float:
    s = g.size
    if g.type == "box":
        return 8.0 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2])
    if g.type == "cylinder":
        return 2 * math.pi * s[0] * 2 * s[1] + 2 * math.pi * s[0] ** 2
    if g.type == "sphere":
        return 4 * math.pi * s[0] ** 2
    if g.type == "capsule":
        return 2 * math.pi * s[0] * 2 * s[1] + 4 * math.pi * s[0] ** 2
    raise ValueError(f"unsupported geom type {g.type!r}; valid: box, cylinder, sphere, capsule")


def _sample_local(g: Geom, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    s = g.size
    if g.type == "box":
        areas = np.array([s[1] * s[2], s[0] * s[2], s[0] * s[1]])
        axis = rng.choice(3, p=areas / areas.sum())
        sign = rng.choice([-1.0, 1.0])
        p = rng.uniform(-1.0, 1.0, 3) * np.asarray(s[:3])
        p[axis] = sign * s[axis]
        n = np.zeros(3)
        n[axis] = sign
        return p, n
    if g.type == "sphere":
        n = rng.normal(size=3)
        n /= np.linalg.norm(n)
        return s[0] * n, n
    r, h = s[0], s[1]
    side = 2 * math.pi * r * 2 * h
    caps = 2 * math.pi * r * r if g.type == "cylinder" else 4 * math.pi * r * r
    if rng.uniform() < side / (side + caps):
        th = rng.uniform(0, 2 * math.pi)
        n = np.array([math.cos(th), math.sin(th), 0.0])
        return np.array([r * n[0], r * n[1], rng.uniform(-h, h)]), n
    sign = rng.choice([-1.0, 1.0])
    if g.type == "cylinder":
        rad, th = r * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
        return np.array([rad * math.cos(th), rad * math.sin(th), sign * h]), np.array([0.0, 0.0, sign])
    n = rng.normal(size=3)
    n[2] = sign * abs(n[2])
    n /= np.linalg.norm(n)
    return np.array([0.0, 0.0, sign * h]) + r * n, n


def sample_surface(geoms: tuple[Geom, ...], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points [n,3] and outward normals [n,3] uniform by area over the geoms' surfaces (object frame)."""
    if not geoms:
        raise ValueError("object has no geoms to sample")
    areas = np.array([geom_area(g) for g in geoms])
    which = rng.choice(len(geoms), size=n, p=areas / areas.sum())
    points, normals = np.zeros((n, 3)), np.zeros((n, 3))
    for i, gi in enumerate(which):
        g = geoms[gi]
        p, nn = _sample_local(g, rng)
        rot = quat_to_mat(np.asarray(g.quat))
        points[i] = np.asarray(g.pos) + rot @ p
        normals[i] = rot @ nn
    return points, normals


def bounding_radius(geoms: tuple[Geom, ...]) -> float:
    """Radius of a sphere about the object origin containing every geom (loose)."""
    radius = 0.0
    for g in geoms:
        extent = float(np.linalg.norm(g.size)) if g.type == "box" else float(sum(g.size))
        radius = max(radius, float(np.linalg.norm(g.pos)) + extent)
    return radius


def bounding_box(geoms: tuple[Geom, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The object-frame axis-aligned box (centre [3], half extents [3]) around every geom."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for g in geoms:
        s = g.size
        if g.type == "box":
            half = np.asarray(s[:3], dtype=np.float64)
        elif g.type == "sphere":
            half = np.full(3, s[0])
        elif g.type == "cylinder":
            half = np.array([s[0], s[0], s[1]])
        elif g.type == "capsule":
            half = np.array([s[0], s[0], s[1] + s[0]])
        else:
            raise ValueError(f"unsupported geom type {g.type!r}; valid: box, cylinder, sphere, capsule")
        half = np.abs(quat_to_mat(np.asarray(g.quat, dtype=np.float64))) @ half
        lo = np.minimum(lo, np.asarray(g.pos) - half)
        hi = np.maximum(hi, np.asarray(g.pos) + half)
    if not np.isfinite(lo).all():
        raise ValueError("object has no geoms")
    return 0.5 * (lo + hi), 0.5 * (hi - lo)


def obb_overlap(ca: np.ndarray, ra: np.ndarray, ha: np.ndarray, cb: np.ndarray, rb: np.ndarray,
                hb: np.ndarray) -> bool:
    """Separating-axis test of two oriented boxes (centres [3], rotations [3,3] whose columns are the
    box axes, half extents [3]): True if they overlap (touching counts as overlapping)."""
    d = cb - ca
    c = ra.T @ rb  # B's axes in A's frame
    ac = np.abs(c) + 1e-12
    da = ra.T @ d
    if np.any(np.abs(da) > ha + ac @ hb):
        return False
    if np.any(np.abs(rb.T @ d) > ac.T @ ha + hb):
        return False
    for i in range(3):
        for j in range(3):
            axis = np.cross(ra[:, i], rb[:, j])
            norm = np.linalg.norm(axis)
            if norm < 1e-9:
                continue
            axis /= norm
            r_a = np.sum(ha * np.abs(ra.T @ axis))
            r_b = np.sum(hb * np.abs(rb.T @ axis))
            if abs(d @ axis) > r_a + r_b:
                return False
    return True
