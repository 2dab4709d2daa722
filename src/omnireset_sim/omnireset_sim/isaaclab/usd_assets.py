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
- collision filtering (contype/conaffinity; the converter drops both): the robot's self-collision
  is switched off on its articulation root, as the MJCF's robot bits do. A thread's ridges and lugs
  (tasks/thread.THREAD_CONTYPE: they touch only each other) become UsdPhysics collision groups in
  every file of a threaded scene: THREAD_GROUP (the thread's colliders) filters ENV_GROUP (every
  other collider), each merged across the four files by its mergeGroup name. PhysX reads that
  as authored. Newton 1.6 reads only a collider's first group and numbers groups per imported file
  (Isaac Lab imports each asset on its own), so scene.py maps the same groups onto Newton's
  collision groups before the model is finalized. Any other bit pattern is refused.
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
from ..tasks.thread import THREAD_CONAFFINITY, THREAD_CONTYPE

ROBOT_ROOT_BODY = "base_link"
# The converter 0.8.0's attribute name and the one Newton 1.6's MJCF/USD import reads.
CONVERTER_GRAVCOMP_ATTR = "mjc:body:gravcomp"
NEWTON_GRAVCOMP_ATTR = "mjc:gravcomp"
NEWTON_SELF_COLLISION_ATTR = "newton:selfCollisionEnabled"
# Parts that are mocap / static in the MJCF: kinematic bodies here, posed by resets only.
KINEMATIC_PARTS = ("receptive", "table")
# UsdPhysics collision groups of a threaded scene (see the module doc): prim names under each file's
# <default prim>/Physics scope, and the mergeGroup names that make the four files' groups one each.
THREAD_GROUP = "ThreadCollisionGroup"
ENV_GROUP = "EnvironmentCollisionGroup"
THREAD_MERGE_GROUP = "omnireset_thread"
ENV_MERGE_GROUP = "omnireset_environment"
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
    """A geom uses contact bits that the USD conversion cannot carry."""


def _bits(g: ET.Element) -> tuple[int, int]:
    return int(g.get("contype", str(ENV_CONTYPE))), int(g.get("conaffinity", str(ENV_CONAFFINITY)))


# The contact classes the USD files carry: the robot's and the environment's (robot self-collision
# off on the articulation), visual-only geoms, and a thread's geoms -- carried as a collision group
# because they collide with each other only (checked below against the other two classes).
_ROBOT_BITS = (ROBOT_CONTYPE, ROBOT_CONAFFINITY)
_ENV_BITS = (ENV_CONTYPE, ENV_CONAFFINITY)
_THREAD_BITS = (THREAD_CONTYPE, THREAD_CONAFFINITY)


def _collide(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return bool((a[0] & b[1]) or (b[0] & a[1]))


assert _collide(_THREAD_BITS, _THREAD_BITS) and not _collide(_THREAD_BITS, _ROBOT_BITS) \
    and not _collide(_THREAD_BITS, _ENV_BITS), "thread bits must collide with thread geoms only"


def _check_collision_bits(root: ET.Element) -> None:
    """Refuse geoms whose contype/conaffinity are none of the carried classes: the converter drops
    the bits and Newton would make them collide with everything -- wrong physics, so no silent
    conversion."""
    known = {_ROBOT_BITS, _ENV_BITS, _THREAD_BITS, (0, 0)}
    odd = [g.get("name") for g in root.iter("geom") if _bits(g) not in known]
    if odd:
        raise UnsupportedCollisionBits(
            f"geoms {odd[:4]}{'...' if len(odd) > 4 else ''} use their own contact bits, which the MJCF->USD "
            f"conversion cannot carry (it carries the robot's {_ROBOT_BITS}, the environment's {_ENV_BITS} and a "
            f"thread's {_THREAD_BITS} contype/conaffinity); this task runs on the MuJoCo engines only")


def thread_geom_names(xml: str) -> list[str]:
    """Names of the geoms with a thread's contact bits in an MJCF text (each must be named: the
    converter names the USD collider after it)."""
    geoms = [g for g in ET.fromstring(xml).iter("geom") if _bits(g) == _THREAD_BITS]
    unnamed = [g.get("type") for g in geoms if not g.get("name")]
    if unnamed:
        raise UnsupportedCollisionBits(f"{len(unnamed)} thread geoms without a name: their USD colliders "
                                       "could not be put in the thread's collision group")
    return [g.get("name") for g in geoms]


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


def _fix_usd(usd_path: str, kinematic: bool, thread_geoms: list[str] | None = None) -> int:
    """The fix-ups in place (see the module doc); returns how many bodies got their gravcomp.
    thread_geoms: None in a scene without a thread, else this file's thread geom names (maybe none)."""
    from pxr import Sdf, Usd, UsdPhysics

    stage = Usd.Stage.Open(usd_path)
    count = 0
    colliders = []
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
        if prim.HasAPI(UsdPhysics.CollisionAPI):
            colliders.append(prim)
    if thread_geoms is not None:
        _author_thread_groups(stage, colliders, thread_geoms)
    stage.GetRootLayer().Save()
    return count


def _author_thread_groups(stage, colliders, thread_geoms: list[str]) -> None:
    """ENV_GROUP with this file's other colliders; THREAD_GROUP (if the file has thread geoms) with
    them, filtering ENV_GROUP. Both under the default prim, so a reference brings them along; the
    mergeGroup names join the groups of the four files (UsdPhysics: same mergeGroup = one group)."""
    from pxr import UsdPhysics

    scope = stage.GetDefaultPrim().GetPath().AppendChild("Physics")
    by_name = {p.GetName(): p for p in colliders}
    missing = [n for n in thread_geoms if n not in by_name]
    if missing:
        raise RuntimeError(f"thread geoms {missing[:4]} have no collider in {stage.GetRootLayer().identifier}")
    thread = [by_name[n] for n in thread_geoms]
    thread_names = set(thread_geoms)
    others = [p for p in colliders if p.GetName() not in thread_names]

    def group(name: str, merge: str, members):
        g = UsdPhysics.CollisionGroup.Define(stage, scope.AppendChild(name))
        g.CreateMergeGroupNameAttr().Set(merge)
        includes = g.GetCollidersCollectionAPI().CreateIncludesRel()
        for p in members:
            includes.AddTarget(p.GetPath())
        return g

    env = group(ENV_GROUP, ENV_MERGE_GROUP, others)
    if thread:
        # Explicit exclusion (not invertFilteredGroups): the plain form every UsdPhysics reader supports.
        group(THREAD_GROUP, THREAD_MERGE_GROUP, thread).CreateFilteredGroupsRel().AddTarget(env.GetPath())


def convert_mjcf(xml_text: str, out_dir: Path, name: str, kinematic: bool = False, threaded: bool = False) -> str:
    """Convert one MJCF text to a flattened USD file in out_dir; returns its path. threaded: the
    scene has a thread, so this file gets the thread's collision groups (module doc)."""
    import mujoco_usd_converter

    out_dir.mkdir(parents=True, exist_ok=True)
    mjcf = out_dir / f"{name}.xml"
    mjcf.write_text(xml_text)
    # One flattened file: the layered asset's payload paths would tie it to its folder layout.
    converter = mujoco_usd_converter.Converter(layer_structure=False, scene=False)
    asset = converter.convert(str(mjcf), str(out_dir / name))
    path = asset.path
    _fix_usd(path, kinematic, thread_geom_names(xml_text) if threaded else None)
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
        threaded = any(thread_geom_names(text) for text in parts.values())
        paths = {key: convert_mjcf(text, folder, key, kinematic=key in KINEMATIC_PARTS, threaded=threaded)
                 for key, text in parts.items()}
        done.write_text("ok\n")
    return SceneUsd(robot=paths["robot"], target=paths["target"], receptive=paths["receptive"],
                    table=paths["table"], scene_xml=str(folder / "scene.xml"))
