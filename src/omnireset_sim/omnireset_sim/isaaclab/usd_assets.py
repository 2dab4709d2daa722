"""The project's own generated scene as USD files for Isaac Lab (no remote asset server).

The scene MJCF that every engine loads (assets/scene.build_scene_xml) is split into four MJCF files
-- robot (arm + gripper + its actuators and finger equality), target, receptive, table -- and each
is converted with mujoco-usd-converter. One file per asset because Isaac Lab spawns assets
separately: the whole scene as one articulation exposes only the arm, and Newton turns the table
and the mocap block into standalone world roots (shared/reference/gpu_engines.md).

Fixed up after the conversion (what the converter 0.8.0 loses, measured in the probe):
- gravcomp: the converter writes `mjc:body:gravcomp`, Newton 1.6 reads `mjc:gravcomp`; without
  the copy every arm body's gravcomp is 0 and the arm falls.
- the receptive object and the table are mocap / static in the MJCF; here they are free bodies that
  the scene spawns kinematic (the converter has no mocap).
- collision filtering (contype/conaffinity): the robot's self-collision is switched off on its
  articulation root by the scene cfg, as the MJCF's robot bits do. A threaded task's ridge/lug bits
  cannot be expressed this way (see README "Isaac Lab backend").
- solver options and cameras are not carried; the scene cfg sets the solver options.

Files are cached by the hash of the generated MJCF text, so a changed task or arm converts anew.
"""

from __future__ import annotations

import copy
import hashlib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ..assets.mjcf import ENV_CONAFFINITY, ENV_CONTYPE, ROBOT_CONAFFINITY, ROBOT_CONTYPE
from ..assets.scene import RECEPTIVE_BODY, TABLE_BODY, TARGET_BODY, SceneConfig, build_scene_xml
from ..tasks.spec import TaskSpec

ROBOT_ROOT_BODY = "base_link"
# The converter 0.8.0's attribute name and the one Newton 1.6's MJCF/USD import reads.
CONVERTER_GRAVCOMP_ATTR = "mjc:body:gravcomp"
NEWTON_GRAVCOMP_ATTR = "mjc:gravcomp"
NEWTON_SELF_COLLISION_ATTR = "newton:selfCollisionEnabled"
# Parts that are mocap / static in the MJCF: kinematic bodies here, posed by resets only.
KINEMATIC_PARTS = ("receptive", "table")
# Bumped when the split or the fix-ups change, so stale cached USD files are not reused.
_FORMAT_VERSION = "2"


@dataclass(frozen=True)
class SceneUsd:
    """Paths of the converted USD files of one task scene."""

    robot: str
    target: str
    receptive: str
    table: str
    scene_xml: str  # the MJCF the four were split from (its text hash names the folder)


def cache_root() -> Path:
    return Path(os.environ.get("OMNIRESET_USD_CACHE", Path.home() / ".cache" / "omnireset" / "isaaclab_usd"))


def _head(root: ET.Element, name: str) -> ET.Element:
    """A new <mujoco> with the scene's compiler, option and default (contact softness) blocks."""
    out = ET.Element("mujoco", model=name)
    for tag in ("compiler", "option", "default"):
        el = root.find(tag)
        if el is not None:
            out.append(copy.deepcopy(el))
    return out


def _strip(el: ET.Element, tags: tuple[str, ...]) -> None:
    for parent in el.iter():
        for child in list(parent):
            if child.tag in tags:
                parent.remove(child)


class UnsupportedCollisionBits(ValueError):
    """A geom uses contact bits that the USD conversion cannot carry (a thread's ridges and lugs)."""


def _check_collision_bits(root: ET.Element) -> None:
    """Refuse geoms whose contype/conaffinity are neither the robot's nor the environment's: the
    converter drops the bits and Newton would make them collide with everything (a threaded
    leg's ridges would jam its pin core) -- wrong physics, so no silent conversion."""
    known = {(str(ROBOT_CONTYPE), str(ROBOT_CONAFFINITY)), (str(ENV_CONTYPE), str(ENV_CONAFFINITY)), ("0", "0")}
    odd = [g.get("name") for g in root.iter("geom")
           if (g.get("contype", str(ENV_CONTYPE)), g.get("conaffinity", str(ENV_CONAFFINITY))) not in known]
    if odd:
        raise UnsupportedCollisionBits(
            f"geoms {odd[:4]}{'...' if len(odd) > 4 else ''} use their own contact bits (a thread?), which the "
            "MJCF->USD conversion cannot carry yet; this task runs on the MuJoCo engines only")


def split_scene(xml: str) -> dict[str, str]:
    """MJCF text of the robot, target, receptive and table parts of a generated scene."""
    root = ET.fromstring(xml)
    _check_collision_bits(root)
    world = root.find("worldbody")
    bodies = {b.get("name"): b for b in world.findall("body")}
    out: dict[str, str] = {}

    robot = _head(root, "omnireset_robot")
    wb = ET.SubElement(robot, "worldbody")
    arm = copy.deepcopy(bodies[ROBOT_ROOT_BODY])
    _strip(arm, ("camera",))  # cameras are not simulated (rendering stays on the MuJoCo engines)
    wb.append(arm)
    for tag in ("equality", "actuator"):
        el = root.find(tag)
        if el is not None:
            robot.append(copy.deepcopy(el))
    out["robot"] = ET.tostring(robot, encoding="unicode")

    for key, body_name in (("target", TARGET_BODY), ("receptive", RECEPTIVE_BODY), ("table", TABLE_BODY)):
        part = _head(root, f"omnireset_{key}")
        wb = ET.SubElement(part, "worldbody")
        body = copy.deepcopy(bodies[body_name])
        body.attrib.pop("mocap", None)
        body.set("pos", "0 0 0")
        # Table geoms carry a material whose texture stays behind: drop the reference.
        for g in body.iter("geom"):
            g.attrib.pop("material", None)
        if body.find("freejoint") is None:
            # A free body the scene spawns kinematic (the converter knows no mocap / static body).
            ET.SubElement(body, "freejoint", name=f"{body_name}_joint")
        wb.append(body)
        out[key] = ET.tostring(part, encoding="unicode")
    return out


def _fix_usd(usd_path: str, kinematic: bool) -> int:
    """The fix-ups in place (see the module doc); returns how many bodies got their gravcomp."""
    from pxr import Sdf, Usd, UsdPhysics

    stage = Usd.Stage.Open(usd_path)
    count = 0
    for prim in stage.Traverse():
        attr = prim.GetAttribute(CONVERTER_GRAVCOMP_ATTR)
        if attr and attr.HasAuthoredValue():
            prim.CreateAttribute(NEWTON_GRAVCOMP_ATTR, Sdf.ValueTypeNames.Float, custom=True).Set(float(attr.Get()))
            count += 1
        if prim.HasAPI(UsdPhysics.ArticulationRootAPI):
            # The MJCF's robot contype/conaffinity bits: the robot never collides with itself.
            prim.CreateAttribute(NEWTON_SELF_COLLISION_ATTR, Sdf.ValueTypeNames.Bool, custom=True).Set(False)
        if kinematic and prim.HasAPI(UsdPhysics.RigidBodyAPI):
            UsdPhysics.RigidBodyAPI(prim).CreateKinematicEnabledAttr().Set(True)
    stage.GetRootLayer().Save()
    return count


def convert_mjcf(xml_text: str, out_dir: Path, name: str, kinematic: bool = False) -> str:
    """Convert one MJCF text to a flattened USD file in out_dir; returns its path."""
    import mujoco_usd_converter

    out_dir.mkdir(parents=True, exist_ok=True)
    mjcf = out_dir / f"{name}.xml"
    mjcf.write_text(xml_text)
    # One flattened file: the layered asset's payload paths would tie it to its folder layout.
    converter = mujoco_usd_converter.Converter(layer_structure=False, scene=False)
    asset = converter.convert(str(mjcf), str(out_dir / name))
    path = asset.path
    _fix_usd(path, kinematic)
    return path


def scene_usd(task: TaskSpec, cfg: SceneConfig | None = None, kinematics=None) -> SceneUsd:
    """The task scene's USD files, converted once and cached by the MJCF's hash."""
    cfg = cfg or SceneConfig()
    if kinematics is None:
        from ..assets.arm import load_arm_kinematics

        kinematics = load_arm_kinematics(cfg.arm)
    xml = build_scene_xml(task, kinematics, cfg)
    digest = hashlib.sha256((_FORMAT_VERSION + xml).encode()).hexdigest()[:16]
    folder = cache_root() / f"{task.name}-{digest}"
    done = folder / "done"
    parts = split_scene(xml)
    paths = {}
    if done.exists():
        for key in parts:
            hits = sorted((folder / key).glob("*.usd*"))
            if hits:
                paths[key] = str(hits[0])
    if len(paths) != len(parts):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scene.xml").write_text(xml)
        paths = {key: convert_mjcf(text, folder, key, kinematic=key in KINEMATIC_PARTS) for key, text in parts.items()}
        done.write_text("ok\n")
    return SceneUsd(robot=paths["robot"], target=paths["target"], receptive=paths["receptive"],
                    table=paths["table"], scene_xml=str(folder / "scene.xml"))
