"""Assemble the full task scene as MJCF: table, arm, gripper, target and receptive objects, cameras."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from omnireset_control.constants import PHYSICS_DT

from ..tasks.spec import ObjectSpec, TaskSpec
from .arm import ARM_BODY_NAMES, ArmConfig, arm_actuators, build_arm
from .cameras import CameraConfig, add_cameras, load_cameras
from .gripper import GRIPPER_BODIES, GripperConfig, build_gripper, gripper_actuator, gripper_equality
from .mjcf import ENV_CONAFFINITY, ENV_CONTYPE, STIFF_SOLIMP, STIFF_SOLREF, sub

TARGET_BODY = "target_object"
TARGET_JOINT = "target_object_joint"
RECEPTIVE_BODY = "receptive_object"
TABLE_BODY = "table"
TABLE_GEOM = "table_top"
# The robot's body group (arm + gripper, not the camera mount): its masses are randomized together
# and its geoms are "the robot" to every engine and renderer.
ROBOT_BODIES = ARM_BODY_NAMES + GRIPPER_BODIES
# Table top surface at z = 0 of base_link; the arm stands on it.
TABLE_HALF = (0.65, 0.65, 0.02)
TABLE_CENTER = (0.35, 0.0, -0.02)
TABLE_MASS = 30.0
TABLE_FRICTION = 0.45


@dataclass(frozen=True)
class SceneConfig:
    arm: ArmConfig = field(default_factory=ArmConfig)
    gripper: GripperConfig = field(default_factory=GripperConfig)
    cameras_yaml: str | None = None  # None: the package's config/cameras.yaml
    solver_iterations: int = 30


def _object_body(parent: ET.Element, name: str, spec: ObjectSpec, free: bool) -> ET.Element:
    body = sub(parent, "body", name=name, mocap=None if free else True, pos=(0, 0, -1.0 if free else 0.0))
    if free:
        sub(body, "freejoint", name=TARGET_JOINT)
    total_volume = sum(g.volume() for g in spec.geoms)
    for i, g in enumerate(spec.geoms):
        sub(body, "geom", name=f"{name}_geom{i}", type=g.type, size=g.size, pos=g.pos, quat=g.quat,
            rgba=g.rgba or spec.rgba, mass=spec.mass * g.volume() / total_volume, friction=(spec.friction, 0.005, 0.0001),
            condim=4 if free else 3, contype=ENV_CONTYPE if g.contype is None else g.contype,
            conaffinity=ENV_CONAFFINITY if g.conaffinity is None else g.conaffinity)
    return body


def build_scene_xml(task: TaskSpec, params, cfg: SceneConfig, cameras: CameraConfig | None = None) -> str:
    """MJCF text of the task scene. `params` is omnireset_control's UrKinematicsParams."""
    cameras = cameras or load_cameras(cfg.cameras_yaml)
    root = ET.Element("mujoco", model=f"omnireset_{task.name}")
    sub(root, "compiler", angle="radian", autolimits=True)
    # implicitfast: actuator/joint damping handled implicitly (the gripper servo), Newton solver
    # for stiff contacts at the paper's dt = 1/120 s.
    sub(root, "option", timestep=PHYSICS_DT, integrator="implicitfast", solver="Newton",
        iterations=cfg.solver_iterations, ls_iterations=10, cone="pyramidal")
    sub(root, "size", memory="8M")
    visual = sub(root, "visual")
    sub(visual, "global", offwidth=max(640, cameras.width), offheight=max(480, cameras.height))
    sub(visual, "quality", shadowsize=1024)
    default = sub(root, "default")
    sub(default, "geom", solref=STIFF_SOLREF, solimp=STIFF_SOLIMP)
    asset = sub(root, "asset")
    sub(asset, "texture", name="grid", type="2d", builtin="checker", rgb1=(0.35, 0.36, 0.38), rgb2=(0.3, 0.31, 0.33),
        width=256, height=256)
    sub(asset, "material", name="table_mat", texture="grid", texrepeat=(6, 6), reflectance=0.05)
    sub(asset, "texture", name="sky", type="skybox", builtin="gradient", rgb1=(0.6, 0.7, 0.8), rgb2=(0.1, 0.1, 0.15),
        width=64, height=64)

    world = sub(root, "worldbody")
    sub(world, "light", name="key", pos=(0.6, -0.6, 1.8), dir=(-0.2, 0.3, -1.0), diffuse=(0.8, 0.8, 0.8),
        castshadow=True)
    sub(world, "light", name="fill", pos=(-0.5, 0.8, 1.5), dir=(0.4, -0.4, -1.0), diffuse=(0.35, 0.35, 0.35),
        castshadow=False)
    sub(world, "geom", name="floor", type="plane", size=(3, 3, 0.1), pos=(0, 0, -0.75), rgba=(0.25, 0.25, 0.27, 1),
        contype=0, conaffinity=0)
    table = sub(world, "body", name=TABLE_BODY, pos=TABLE_CENTER)
    sub(table, "geom", name=TABLE_GEOM, type="box", size=TABLE_HALF, material="table_mat", mass=TABLE_MASS,
        friction=(TABLE_FRICTION, 0.005, 0.0001), contype=ENV_CONTYPE, conaffinity=ENV_CONAFFINITY)

    flange = build_arm(world, params, cfg.arm)
    build_gripper(flange, cfg.gripper)
    _object_body(world, RECEPTIVE_BODY, task.receptive, free=False)
    _object_body(world, TARGET_BODY, task.target, free=True)

    contact = sub(root, "contact")
    # The receptive object is kinematic and rests on the table: never a contact pair.
    sub(contact, "exclude", body1=TABLE_BODY, body2=RECEPTIVE_BODY)
    equality = sub(root, "equality")
    gripper_equality(equality)
    actuator = sub(root, "actuator")
    arm_actuators(actuator)
    gripper_actuator(actuator, cfg.gripper)
    add_cameras(root, cameras)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


__all__ = ["RECEPTIVE_BODY", "ROBOT_BODIES", "SceneConfig", "TABLE_BODY", "TABLE_FRICTION", "TABLE_GEOM", "TABLE_MASS", "TARGET_BODY",
           "TARGET_JOINT", "build_scene_xml"]
