"""UR arm as MJCF, built from omnireset_control's kinematics so sim FK == controller FK.

Every link body is placed at its joint origin (parent joint frame -> this joint frame, from
`load_kinematics(robot, calibration).joint_origins`, calibration-aware) and its hinge turns about
local +z, exactly the convention of omnireset_control. The TCP is a site at `tcp_offset` in the
wrist_3 (flange) frame; the gripper is attached at the TCP.

Link masses are the published UR values; inertias are solid cylinders along each link's segment
(an approximation: with gravity compensation on, they only shape the arm's inertia, which sysid
absorbs through armature). Per-joint armature/friction/damping start at `JointDynamics` defaults
and are meant to be replaced by system identification.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from omnireset_control.constants import ARM_JOINT_NAMES, WRIST_JOINT_LIMIT

from .mjcf import (
    HIDDEN_GROUP,
    ROBOT_CONAFFINITY,
    ROBOT_CONTYPE,
    capsule_between,
    matrix_to_quat,
    solid_cylinder_inertia,
    sub,
)

ARM_BODY_NAMES = ("shoulder_link", "upper_arm_link", "forearm_link", "wrist_1_link", "wrist_2_link", "wrist_3_link")
TCP_SITE = "tcp"


@dataclass(frozen=True)
class UrPhysical:
    """Published per-model physical figures: link masses (kg), link radii (m), joint speed limits (rad/s)."""

    base_mass: float
    link_masses: tuple[float, ...]
    link_radii: tuple[float, ...]
    velocity_limits: tuple[float, ...]


UR_PHYSICAL: dict[str, UrPhysical] = {
    "ur3e": UrPhysical(2.0, (2.0, 3.42, 1.26, 0.8, 0.8, 0.35), (0.045, 0.04, 0.035, 0.032, 0.032, 0.032),
                       (math.pi, math.pi, math.pi, 2 * math.pi, 2 * math.pi, 2 * math.pi)),
    "ur5e": UrPhysical(4.0, (3.761, 8.058, 2.846, 1.37, 1.3, 0.365), (0.06, 0.055, 0.045, 0.04, 0.04, 0.04),
                       (math.pi,) * 6),
    # The UR7e shares the UR5e's arm (same links and kinematics, higher rated payload).
    "ur7e": UrPhysical(4.0, (3.761, 8.058, 2.846, 1.37, 1.3, 0.365), (0.06, 0.055, 0.045, 0.04, 0.04, 0.04),
                       (math.pi,) * 6),
    "ur10e": UrPhysical(4.0, (7.369, 13.051, 3.989, 2.1, 1.98, 0.615), (0.075, 0.065, 0.05, 0.045, 0.045, 0.045),
                        (2 * math.pi / 3, 2 * math.pi / 3, math.pi, math.pi, math.pi, math.pi)),
}

# Joint position limits (rad): the real UR's +-360 deg on the shoulders, +-180 deg on the elbow, and
# the wrists reduced to +-180 deg in simulation (A.3.1) so the policy cannot learn to rely on them.
ARM_JOINT_LIMITS: tuple[float, ...] = (2 * math.pi, 2 * math.pi, math.pi) + (WRIST_JOINT_LIMIT,) * 3


@dataclass(frozen=True)
class JointDynamics:
    """Per-joint actuator dynamics: MuJoCo armature (kg m^2), frictionloss (N m), damping (N m s/rad).

    The defaults are placeholders of the right order for a UR's geared joints (the reflected rotor
    inertia keeps the explicit 120 Hz OSC damping stable); system identification replaces them.
    """

    armature: tuple[float, ...] = (0.2, 0.2, 0.2, 0.1, 0.1, 0.1)
    friction: tuple[float, ...] = (0.0,) * 6
    damping: tuple[float, ...] = (0.0,) * 6

    def __post_init__(self) -> None:
        for name in ("armature", "friction", "damping"):
            values = getattr(self, name)
            if len(values) != 6 or any((not math.isfinite(v)) or v < 0 for v in values):
                raise ValueError(f"JointDynamics.{name} needs 6 finite values >= 0, got {values}")


@dataclass(frozen=True)
class ArmConfig:
    robot: str = "ur7e"
    calibration: str | None = None  # ur_calibration kinematics YAML
    dynamics: JointDynamics = field(default_factory=JointDynamics)


def load_arm_kinematics(cfg: ArmConfig, tcp_offset=None):
    from omnireset_control.kinematics import load_kinematics

    return load_kinematics(cfg.robot, cfg.calibration, tcp_offset=tcp_offset)


def build_arm(worldbody: ET.Element, params, cfg: ArmConfig) -> ET.Element:
    """Append the arm under `worldbody`; returns the wrist_3 body (where the gripper mounts).

    `params` is omnireset_control's UrKinematicsParams. Geometry: a capsule from each joint origin
    to the next joint origin (expressed in this link's frame), so calibrated link lengths also move
    the collision geometry.
    """
    if cfg.robot not in UR_PHYSICAL:
        raise ValueError(f"unknown robot {cfg.robot!r}; valid: {sorted(UR_PHYSICAL)}")
    phys = UR_PHYSICAL[cfg.robot]
    origins = list(params.joint_origins)
    base = sub(worldbody, "body", name="base_link", pos=(0, 0, 0))
    # The base is fixed to the table; visual only so it never fights the table contact.
    sub(base, "geom", name="base_visual", type="cylinder", size=(0.075, 0.04), pos=(0, 0, 0.04),
        contype=0, conaffinity=0, rgba=(0.25, 0.25, 0.28, 1), mass=0)
    parent = base
    for i, (name, body_name) in enumerate(zip(ARM_JOINT_NAMES, ARM_BODY_NAMES)):
        transform = params.joint_origins[i].matrix()
        if i == 0:
            # The chain starts in the DH base (base_link_inertia), pi about z from ROS base_link;
            # fold that rotation in exactly as omnireset_control's BatchedKinematics does.
            from omnireset_control.kinematics import BASE_LINK_FROM_DH_BASE

            lift = np.eye(4)
            lift[:3, :3] = BASE_LINK_FROM_DH_BASE
            transform = lift @ transform
        body = sub(parent, "body", name=body_name, pos=transform[:3, 3], quat=matrix_to_quat(transform[:3, :3]),
                   gravcomp=1.0)
        limit = ARM_JOINT_LIMITS[i]
        sub(body, "joint", name=name, type="hinge", axis=(0, 0, 1), range=(-limit, limit), limited=True,
            armature=cfg.dynamics.armature[i], frictionloss=cfg.dynamics.friction[i], damping=cfg.dynamics.damping[i])
        nxt = np.asarray(origins[i + 1].xyz) if i + 1 < 6 else np.array([0.0, 0.0, 0.02])
        radius = phys.link_radii[i]
        mass = phys.link_masses[i]
        length = float(np.linalg.norm(nxt))
        com = 0.5 * nxt
        # Principal axes of a cylinder along the segment: align z with it.
        axis = nxt / length if length > 1e-6 else np.array([0.0, 0.0, 1.0])
        inertia = solid_cylinder_inertia(mass, radius, max(length, 2 * radius))
        sub(body, "inertial", pos=com, quat=_quat_z_to(axis), mass=mass, diaginertia=inertia)
        capsule_between(body, (0, 0, 0), nxt, radius, name=f"{body_name}_collision", contype=ROBOT_CONTYPE,
                        conaffinity=ROBOT_CONAFFINITY, rgba=(0.55, 0.6, 0.68, 1), mass=0)
        parent = body
    tcp = params.tcp_offset
    sub(parent, "site", name=TCP_SITE, pos=tcp.xyz, quat=matrix_to_quat(tcp.matrix()[:3, :3]), size=(0.005,),
        rgba=(1, 0.2, 0.2, 0.6), group=HIDDEN_GROUP)
    return parent


def _quat_z_to(axis: np.ndarray) -> np.ndarray:
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(z, axis)
    s = np.linalg.norm(v)
    c = float(np.dot(z, axis))
    if s < 1e-9:
        return np.array([1.0, 0.0, 0.0, 0.0]) if c > 0 else np.array([0.0, 1.0, 0.0, 0.0])
    angle = math.atan2(s, c)
    v = v / s
    return np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * v])


def arm_actuators(actuator: ET.Element) -> None:
    """Direct torque motors, unclipped: training applies no torque limit (A.3.5)."""
    for name in ARM_JOINT_NAMES:
        sub(actuator, "motor", name=f"{name}_motor", joint=name, gear=(1,), ctrllimited=False)


__all__ = ["ARM_BODY_NAMES", "ARM_JOINT_LIMITS", "ArmConfig", "JointDynamics", "TCP_SITE", "UR_PHYSICAL",
           "arm_actuators", "build_arm", "load_arm_kinematics"]
