"""Small MuJoCo models for reset generation, built from the same asset code as the task scene.

- `object_only_model`: the target object alone at the origin (ray casting for antipodal pairs).
- `floating_gripper_model`: the 2F-85-like gripper on a mocap hand (the flange) and the free
  target object, no arm and no table (grasp validation, §3.2 / Mittal et al.).
- `assembly_model`: the receptive object fixed at the origin and the free target object, no
  robot and no table (partial assemblies, Tang et al.).
- `gripper_probe_model`: the task scene without the arm -- table, receptive object, target and the
  gripper on a mocap hand, all kinematic -- for a collision check of a proposed TCP pose before IK.

The physics options (timestep, integrator, solver, stiff contacts) are the task scene's, so a
grasp or an offset found here behaves the same in the training scene.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import mujoco

from omnireset_control.constants import PHYSICS_DT

from ..assets.gripper import GripperConfig, build_gripper, gripper_actuator, gripper_equality
from ..assets.mjcf import STIFF_SOLIMP, STIFF_SOLREF, sub
from ..assets.mjcf import ENV_CONAFFINITY, ENV_CONTYPE
from ..assets.scene import (RECEPTIVE_BODY, TABLE_BODY, TABLE_CENTER, TABLE_GEOM, TABLE_HALF, TARGET_BODY,
                            TARGET_JOINT, SceneConfig)
from ..assets.scene import _object_body as scene_object_body  # the scene's own object builder: same geoms
from ..tasks.spec import TaskSpec

HAND_BODY = "hand"  # mocap stand-in for the flange (wrist_3) of the arm


def _root(name: str, cfg: SceneConfig) -> tuple[ET.Element, ET.Element]:
    root = ET.Element("mujoco", model=name)
    sub(root, "compiler", angle="radian", autolimits=True)
    sub(root, "option", timestep=PHYSICS_DT, integrator="implicitfast", solver="Newton",
        iterations=cfg.solver_iterations, ls_iterations=10, cone="pyramidal")
    default = sub(root, "default")
    sub(default, "geom", solref=STIFF_SOLREF, solimp=STIFF_SOLIMP)
    world = sub(root, "worldbody")
    return root, world


def _compile(root: ET.Element) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(ET.tostring(root, encoding="unicode"))


def object_only_model(task: TaskSpec) -> mujoco.MjModel:
    root, world = _root(f"{task.name}_object", SceneConfig())
    body = sub(world, "body", name=TARGET_BODY, pos=(0, 0, 0))
    for i, g in enumerate(task.target.geoms):
        sub(body, "geom", name=f"target_geom{i}", type=g.type, size=g.size, pos=g.pos, quat=g.quat)
    return _compile(root)


def floating_gripper_model(task: TaskSpec, gripper: GripperConfig | None = None,
                           scene: SceneConfig | None = None) -> mujoco.MjModel:
    gripper = gripper or GripperConfig()
    root, world = _root(f"{task.name}_grasp", scene or SceneConfig())
    hand = sub(world, "body", name=HAND_BODY, mocap=True, pos=(0, 0, 0.5))
    build_gripper(hand, gripper)
    scene_object_body(world, TARGET_BODY, task.target, free=True)
    gripper_equality(sub(root, "equality"))
    gripper_actuator(sub(root, "actuator"), gripper)
    return _compile(root)


def assembly_model(task: TaskSpec, scene: SceneConfig | None = None) -> mujoco.MjModel:
    root, world = _root(f"{task.name}_assembly", scene or SceneConfig())
    scene_object_body(world, RECEPTIVE_BODY, task.receptive, free=False)
    scene_object_body(world, TARGET_BODY, task.target, free=True)
    model = _compile(root)
    model.opt.gravity[:] = 0.0
    return model


def gripper_probe_model(task: TaskSpec, scene: SceneConfig | None = None) -> mujoco.MjModel:
    """Table, receptive object (mocap 0), target (mocap 1) and the gripper on a mocap hand (mocap 2),
    with the task scene's geoms and contact filters; only for contact distances (mj_forward)."""
    scene = scene or SceneConfig()
    root, world = _root(f"{task.name}_probe", scene)
    table = sub(world, "body", name=TABLE_BODY, pos=TABLE_CENTER)
    sub(table, "geom", name=TABLE_GEOM, type="box", size=TABLE_HALF, contype=ENV_CONTYPE, conaffinity=ENV_CONAFFINITY)
    scene_object_body(world, RECEPTIVE_BODY, task.receptive, free=False)
    target = scene_object_body(world, TARGET_BODY, task.target, free=False)
    target.set("pos", "0 0 -1")
    hand = sub(world, "body", name=HAND_BODY, mocap=True, pos=(0, 0, 0.5))
    build_gripper(hand, scene.gripper)
    contact = sub(root, "contact")
    sub(contact, "exclude", body1=TABLE_BODY, body2=RECEPTIVE_BODY)
    return _compile(root)


__all__ = ["HAND_BODY", "TARGET_JOINT", "assembly_model", "floating_gripper_model", "gripper_probe_model",
           "object_only_model"]
