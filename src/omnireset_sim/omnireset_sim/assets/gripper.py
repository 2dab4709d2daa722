"""Robotiq 2F-85-like parallel gripper with rigidly coupled fingers, and the wrist camera mount.

Fingers: one slide joint per finger (opening of that finger, 0 .. 42.5 mm, the 2F-85 stroke),
coupled by a stiff joint equality so the right finger mirrors the left -- the rigid mimic coupling
of A.3.3; an unconstrained pair would act as a spring-damper the real gripper does not have.

Actuation is binary (open/close). One MuJoCo actuator with integrator dynamics holds the servo
setpoint in its activation: the control is the setpoint *velocity* (+speed opens, -speed closes),
the activation is clamped to the travel range, and the force is a PD toward the setpoint limited
to `force` N. So the grip force and the closing speed are configurable, and the setpoint lives in
MuJoCo's own state (no extra per-env buffer).

All gripper geometry is placed in the flange frame (wrist_3, z out of the flange) so a TCP offset
of zero (the official code tracks wrist_3) still gets a physical gripper.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from omnireset_control.constants import ROBOTIQ_2F85_TCP_OFFSET

from .mjcf import HIDDEN_GROUP, ROBOT_CONAFFINITY, ROBOT_CONTYPE, STIFF_SOLIMP, STIFF_SOLREF, box_inertia, sub

FINGER_JOINTS = ("finger_left_joint", "finger_right_joint")
GRIPPER_ACTUATOR = "gripper"
GRIPPER_BODIES = ("gripper_base", "finger_left", "finger_right")
FINGER_STROKE = 0.0425  # m per finger (85 mm total)
# The closing setpoint goes past the fully closed stop so an object in the grasp feels the force limit.
CLOSE_SETPOINT = -0.04
WRIST_CAMERA_BODY = "wrist_camera_mount"
PAD_HALF = (0.011, 0.004, 0.02)


@dataclass(frozen=True)
class GripperConfig:
    # N, grip force limit of the servo. 15 N: with the stiff pad contacts a 50 N grip squeezed the
    # 50 g peg out of the fingers (reset generation measured it); 15 N holds every task's object.
    force: float = 15.0
    speed: float = 0.1  # m/s, setpoint speed of one finger
    stiffness: float = 1000.0  # N/m, servo stiffness
    damping: float = 60.0  # N s/m, servo damping
    finger_mass: float = 0.06  # kg

    def __post_init__(self) -> None:
        for name in ("force", "speed", "stiffness", "damping", "finger_mass"):
            v = getattr(self, name)
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f"GripperConfig.{name} must be finite and > 0, got {v}")


def build_gripper(flange: ET.Element, cfg: GripperConfig) -> None:
    """Append gripper bodies under the flange (wrist_3) body."""
    tip = ROBOTIQ_2F85_TCP_OFFSET  # fingertip centre along flange z
    base = sub(flange, "body", name="gripper_base", pos=(0, 0, 0), gravcomp=1.0)
    sub(base, "inertial", pos=(0, 0, 0.06), mass=0.8, diaginertia=box_inertia(0.8, (0.045, 0.035, 0.05)))
    sub(base, "geom", name="gripper_coupling", type="cylinder", size=(0.038, 0.006), pos=(0, 0, 0.006),
        contype=ROBOT_CONTYPE, conaffinity=ROBOT_CONAFFINITY, rgba=(0.15, 0.15, 0.15, 1), mass=0)
    sub(base, "geom", name="gripper_housing", type="box", size=(0.045, 0.035, 0.045), pos=(0, 0, 0.057),
        contype=ROBOT_CONTYPE, conaffinity=ROBOT_CONAFFINITY, rgba=(0.2, 0.2, 0.22, 1), mass=0)
    # Wrist camera mount (visible) and its enlarged invisible safety volume (A.3.1): a buffer that
    # makes the policy keep the real camera away from the scene.
    mount = sub(base, "body", name=WRIST_CAMERA_BODY, pos=(0.07, 0, 0.09), gravcomp=1.0)
    sub(mount, "geom", name="wrist_camera_housing", type="box", size=(0.013, 0.045, 0.013), contype=0,
        conaffinity=0, rgba=(0.1, 0.1, 0.1, 1), mass=0.05)
    sub(mount, "geom", name="wrist_camera_safety", type="box", size=(0.03, 0.065, 0.035), pos=(0.005, 0, 0.01),
        contype=ROBOT_CONTYPE, conaffinity=ROBOT_CONAFFINITY, rgba=(1, 0, 0, 0), group=HIDDEN_GROUP, mass=0)

    for side, sign, joint in (("left", 1.0, FINGER_JOINTS[0]), ("right", -1.0, FINGER_JOINTS[1])):
        finger = sub(base, "body", name=f"finger_{side}", pos=(0, 0, tip), gravcomp=1.0)
        sub(finger, "joint", name=joint, type="slide", axis=(0, sign, 0), range=(0, FINGER_STROKE), limited=True,
            armature=0.05, damping=1.0, solreflimit=STIFF_SOLREF, solimplimit=STIFF_SOLIMP)
        sub(finger, "inertial", pos=(0, sign * 0.01, -0.03), mass=cfg.finger_mass,
            diaginertia=box_inertia(cfg.finger_mass, (0.011, 0.01, 0.04)))
        sub(finger, "geom", name=f"finger_{side}_pad", type="box", size=PAD_HALF, pos=(0, sign * PAD_HALF[1], 0),
            contype=ROBOT_CONTYPE, conaffinity=ROBOT_CONAFFINITY, condim=4, friction=(1.0, 0.01, 0.001),
            rgba=(0.1, 0.1, 0.1, 1), mass=0)
        sub(finger, "geom", name=f"finger_{side}_link", type="box", size=(0.011, 0.006, 0.03),
            pos=(0, sign * 0.012, -0.05), contype=ROBOT_CONTYPE, conaffinity=ROBOT_CONAFFINITY,
            rgba=(0.3, 0.3, 0.32, 1), mass=0)


def gripper_equality(equality: ET.Element) -> None:
    sub(equality, "joint", name="finger_coupling", joint1=FINGER_JOINTS[1], joint2=FINGER_JOINTS[0],
        polycoef=(0, 1, 0, 0, 0), solref=(0.005, 1.0), solimp=STIFF_SOLIMP)


def gripper_actuator(actuator: ET.Element, cfg: GripperConfig) -> None:
    sub(actuator, "general", name=GRIPPER_ACTUATOR, joint=FINGER_JOINTS[0], dyntype="integrator",
        gaintype="fixed", biastype="affine", gainprm=(cfg.stiffness,), biasprm=(0, -cfg.stiffness, -cfg.damping),
        ctrllimited=True, ctrlrange=(-cfg.speed, cfg.speed), actlimited=True, actrange=(CLOSE_SETPOINT, FINGER_STROKE),
        forcelimited=True, forcerange=(-cfg.force, cfg.force))


__all__ = ["CLOSE_SETPOINT", "FINGER_JOINTS", "FINGER_STROKE", "GRIPPER_ACTUATOR", "GRIPPER_BODIES", "GripperConfig",
           "WRIST_CAMERA_BODY", "build_gripper", "gripper_actuator", "gripper_equality"]
