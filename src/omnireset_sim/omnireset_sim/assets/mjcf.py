"""Small helpers for writing MJCF with xml.etree: number formatting, rotations, contact classes."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

import numpy as np

# Collision bit masks. Robot geoms collide with the environment but not with each other (the arm's
# own links never self-collide in the training workspace, and skipping those pairs keeps contacts
# cheap); environment geoms (table, objects) collide with everything.
ROBOT_CONTYPE, ROBOT_CONAFFINITY = 1, 2
ENV_CONTYPE, ENV_CONAFFINITY = 2, 3

# Stiff contacts: with MuJoCo's default softness a 5 N push sinks 0.5 mm into a wall, the whole
# clearance of a tight peg. These values measured 0.04 mm and stayed stable at dt = 1/120 s
# (see shared/reference/environment.md).
STIFF_SOLREF = (0.0167, 1.0)
STIFF_SOLIMP = (0.99, 0.999, 0.0005)

# Geom group used for invisible collision-only volumes (hidden by the renderer).
HIDDEN_GROUP = 3


def fmt(values: float | Iterable[float]) -> str:
    """MJCF number list with enough digits that generated kinematics match the controller's (1e-12)."""
    if isinstance(values, (int, float, np.integer, np.floating)):
        values = [values]
    return " ".join(str(int(v)) if isinstance(v, (int, np.integer)) else repr(float(v)) for v in values)


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion (w, x, y, z), w >= 0."""
    import mujoco

    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.asarray(rot, dtype=np.float64).reshape(9))
    if quat[0] < 0:
        quat = -quat
    return quat


def quat_about(axis: Sequence[float], angle: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    half = 0.5 * angle
    return np.concatenate([[math.cos(half)], math.sin(half) * axis])


def quat_mul(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    import mujoco

    out = np.zeros(4)
    mujoco.mju_mulQuat(out, np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return out


def sub(parent: ET.Element, tag: str, **attrs) -> ET.Element:
    """SubElement with attributes converted to MJCF strings (tuples -> space separated numbers)."""
    el = ET.SubElement(parent, tag)
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, str):
            el.set(key, value)
        elif isinstance(value, bool):
            el.set(key, "true" if value else "false")
        else:
            el.set(key, fmt(value))
    return el


def capsule_between(parent: ET.Element, start: Sequence[float], end: Sequence[float], radius: float, **attrs):
    """A capsule from `start` to `end` (body frame); a sphere when the two coincide."""
    start = np.asarray(start, dtype=np.float64)
    end = np.asarray(end, dtype=np.float64)
    if np.linalg.norm(end - start) < 1e-6:
        return sub(parent, "geom", type="sphere", size=(radius,), pos=start, **attrs)
    return sub(parent, "geom", type="capsule", size=(radius,), fromto=np.concatenate([start, end]), **attrs)


def solid_cylinder_inertia(mass: float, radius: float, length: float) -> tuple[float, float, float]:
    """Principal inertia of a solid cylinder about its centre (axis = third component)."""
    transverse = mass * (3.0 * radius**2 + length**2) / 12.0
    axial = 0.5 * mass * radius**2
    return transverse, transverse, axial


def box_inertia(mass: float, half: Sequence[float]) -> tuple[float, float, float]:
    x, y, z = (2.0 * h for h in half)
    return (mass * (y * y + z * z) / 12.0, mass * (x * x + z * z) / 12.0, mass * (x * x + y * y) / 12.0)
