"""Isaac Lab scene and simulation cfgs of a task, from the project's converted USD (usd_assets).

Physics: Newton with the MuJoCo Warp solver (kit-less), the solver options of the generated MJCF
(the converter does not carry them): implicitfast, Newton solver, its iterations, ls_iterations 10,
pyramidal cones, dt = PHYSICS_DT. `physics="physx"` selects Isaac Sim's PhysX instead (machines
with Isaac Sim only; see physx.py).

Collision: the MJCF's contact classes. Robot self-collision is off on the articulation
(usd_assets); a thread's ridges and lugs touch only each other: on Newton through
apply_usd_collision_groups, run by Isaac Lab's MuJoCo Warp manager subclassed here
(omnireset_newton_manager), and checked on the compiled model (check_thread_filtering).

Actuation: the arm joints are torque-driven through Isaac Lab (an implicit actuator with zero
stiffness and damping passes the effort straight through); the gripper's native MuJoCo actuator
(integrator servo) has no Isaac Lab API and is written through Newton's MuJoCo control
(engine.GripperControl).
"""

from __future__ import annotations

from omnireset_control.constants import ARM_JOINT_NAMES, PHYSICS_DT

from ..assets.gripper import FINGER_JOINTS
from ..assets.scene import SceneConfig
from ..tasks.spec import TaskSpec
from .usd_assets import ENV_MERGE_GROUP, THREAD_MERGE_GROUP, SceneUsd, scene_usd

ROBOT = "robot"
TARGET = "target"
RECEPTIVE = "receptive"
TABLE = "table"
# Worlds are laid out on a grid by Isaac Lab's cloner; every pose the project hands over is in the
# robot's base_link, i.e. relative to the env origin (the robot stands at it with identity rotation).
ENV_SPACING = 3.0
# MuJoCo Warp's per-world buffers. The peg scene holds ~30 contacts and ~150 constraint rows at
# the worst measured (gripper closed on the peg against the block); 4x headroom.
NCONMAX = 128
NJMAX = 600
# The generated MJCF sets no solver tolerance: MuJoCo's default (Isaac Lab's default is 1e-6).
MUJOCO_TOLERANCE = 1e-8
# Newton collision groups of a threaded scene (positive groups collide only within themselves):
# 1 is Newton's default group, so every collider outside the thread keeps colliding as today.
NEWTON_ENV_GROUP = 1
NEWTON_THREAD_GROUP = 2


def _finger_actuator(scene: SceneConfig, physics: str):
    """Newton: no Isaac Lab drive (the MuJoCo servo actuator from the USD drives finger_left, the
    coupling the right one). PhysX: a PD drive per finger with the servo's gains (physx.py)."""
    from isaaclab.actuators import ImplicitActuatorCfg

    if physics == "physx":
        from .physx import gripper_drive_gains

        return ImplicitActuatorCfg(joint_names_expr=list(FINGER_JOINTS), **gripper_drive_gains(scene))
    return ImplicitActuatorCfg(joint_names_expr=list(FINGER_JOINTS), stiffness=0.0, damping=0.0)


def newton_physics_cfg(scene: SceneConfig):
    from isaaclab_newton.physics import MJWarpSolverCfg, NewtonCfg

    solver = MJWarpSolverCfg(integrator="implicitfast", solver="newton", iterations=scene.solver_iterations,
                             ls_iterations=10, cone="pyramidal", njmax=NJMAX, nconmax=NCONMAX,
                             use_mujoco_contacts=True, tolerance=MUJOCO_TOLERANCE,
                             # MuJoCo's default is on (multi-contact for the convex pairs that
                             # support it). Box-box pairs do not take the convex path at all:
                             # match_mujoco_c_collision gives them MuJoCo C's box-box collider.
                             enable_multiccd=True,
                             # Isaac Lab's MuJoCo Warp manager plus the thread's collision groups
                             # (apply_usd_collision_groups) just before the model is finalized.
                             class_type=omnireset_newton_manager())
    return NewtonCfg(solver_cfg=solver)


# A per-world path: <env root prefix>/env_<world><path in the env>; the clone source is env_0.
_WORLD_PATH = r"^(.*/env_)(\d+)(/.*)$"


def _usd_group_members(stage, root: str) -> dict[str, set[str]]:
    """mergeGroup name -> collider paths (relative to root) of the UsdPhysics collision groups under root."""
    from pxr import Usd, UsdPhysics

    out: dict[str, set[str]] = {}
    prim = stage.GetPrimAtPath(root)
    if not prim:
        return out
    for p in Usd.PrimRange(prim):
        if not p.IsA(UsdPhysics.CollisionGroup):
            continue
        group = UsdPhysics.CollisionGroup(p)
        merge = group.GetMergeGroupNameAttr().Get() or str(p.GetPath())
        query = group.GetCollidersCollectionAPI().ComputeMembershipQuery()
        paths = Usd.CollectionAPI.ComputeIncludedPaths(query, stage)
        out.setdefault(merge, set()).update(str(q)[len(root):] for q in paths)
    return out


def thread_shape_mask(stage, paths) -> tuple[list[bool | None], dict[str, set[str]]]:
    """For per-world USD paths (Newton shape labels, compiled MuJoCo geom names): True where the
    path is a member of the thread's collision group (usd_assets.THREAD_GROUP), False elsewhere in
    an env, None outside any env; and the group members (paths relative to the env root)."""
    import re

    world = re.compile(_WORLD_PATH)
    matches = [world.match(p or "") for p in paths]
    members: dict[str, set[str]] = {}
    for prefix in {m.group(1) for m in matches if m}:
        for merge, found in _usd_group_members(stage, prefix + "0").items():
            members.setdefault(merge, set()).update(found)
    thread = members.get(THREAD_MERGE_GROUP, set())
    return [None if m is None else m.group(3) in thread for m in matches], members


def apply_usd_collision_groups(builder, stage) -> int:
    """The threaded scene's UsdPhysics collision groups (usd_assets: THREAD_GROUP filters ENV_GROUP)
    as Newton collision groups, on the replicated builder before finalize; returns the number of
    thread shapes (0 and nothing changed in a scene without a thread).

    Why here: Newton 1.6's USD import keeps a collider's first group only, ignores filteredGroups
    and mergeGroup, and numbers groups 1, 2, ... in the order it meets them in each add_usd call
    (1 is also its default group), and Isaac Lab imports every asset with its own call. Measured on
    the import alone: the lugs got group 1 (with the robot, the table and the bore's walls) and the
    leg's box and core group 2 (with the ridges): the leg stood on its lugs on the bore's rim, 8.95 mm
    up, with no contact between the gripper pads and the leg. Newton's MuJoCo solver compiles the groups (with the robot's
    self-collision filter pairs) into MuJoCo contype/conaffinity masks; engine._bind checks the
    result (check_thread_filtering). Shapes are matched by their USD path relative to their env
    root (labels are per-world paths of the env_0 clone source)."""
    import re

    labels = list(builder.shape_label)
    is_thread, members = thread_shape_mask(stage, labels)
    thread = members.get(THREAD_MERGE_GROUP, set())
    if not thread:
        return 0
    if not members.get(ENV_MERGE_GROUP):
        raise RuntimeError(f"the stage has a {THREAD_MERGE_GROUP!r} collision group but no {ENV_MERGE_GROUP!r} one")
    groups = builder.shape_collision_group
    world = re.compile(_WORLD_PATH)
    per_world: dict[str, int] = {}
    for s, flag in enumerate(is_thread):
        if flag is None or groups[s] == 0:
            continue  # shapes outside the envs (none here) and non-colliding ones keep their group
        if flag:
            groups[s] = NEWTON_THREAD_GROUP
            w = world.match(labels[s]).group(2)
            per_world[w] = per_world.get(w, 0) + 1
        else:
            groups[s] = NEWTON_ENV_GROUP
    if set(per_world.values()) != {len(thread)}:
        raise RuntimeError(f"thread colliders per world {sorted(set(per_world.values()))}, expected {len(thread)} "
                           "(the USD group's members)")
    return sum(per_world.values())


_MANAGER = None


def omnireset_newton_manager():
    """Isaac Lab's MuJoCo Warp manager with apply_usd_collision_groups in its pre-finalize hook
    (`_prepare_builder_for_finalize`, the hook Isaac Lab provides for adapting replicated builder
    data). Defined on first use: Isaac Lab is imported lazily."""
    global _MANAGER
    if _MANAGER is None:
        from isaaclab.sim import SimulationContext
        from isaaclab_newton.physics.mjwarp_manager import NewtonMJWarpManager

        # The name must start with "Newton": Isaac Lab picks its asset backends by the manager's class name.
        class NewtonOmniResetMJWarpManager(NewtonMJWarpManager):
            thread_shapes = 0  # of the last model built (all worlds)

            @classmethod
            def _prepare_builder_for_finalize(cls, builder) -> None:
                super()._prepare_builder_for_finalize(builder)
                NewtonOmniResetMJWarpManager.thread_shapes = apply_usd_collision_groups(
                    builder, SimulationContext.instance().stage)

        _MANAGER = NewtonOmniResetMJWarpManager
    return _MANAGER


def thread_geoms(solver, stage):
    """[ngeom] bool: the compiled MuJoCo model's geoms that are members of the USD thread group
    (through the solver's geom -> Newton shape map of world 0; the shape labels are USD paths)."""
    import numpy as np

    shapes = solver.mjc_geom_to_newton_shape.numpy()[0]
    labels = solver.model.shape_label
    flags = thread_shape_mask(stage, [labels[s] if s >= 0 else "" for s in shapes])[0]
    return np.array([bool(f) for f in flags])


def thread_mask_violations(solver, stage) -> tuple[int, int, int]:
    """The compiled MuJoCo model's contype/conaffinity checked against the thread's filtering:
    (thread geoms, thread-thread pairs the masks allow, thread/non-thread pairs they allow -- must
    be 0). Pairs on one body are left out (MuJoCo never collides those)."""
    import numpy as np

    m = solver.mj_model
    thread = thread_geoms(solver, stage)
    ct = m.geom_contype.astype(np.int64)
    ca = m.geom_conaffinity.astype(np.int64)
    allowed = ((ct[:, None] & ca[None, :]) != 0) | ((ct[None, :] & ca[:, None]) != 0)
    allowed &= m.geom_bodyid[:, None] != m.geom_bodyid[None, :]
    both = thread[:, None] & thread[None, :]
    mixed = thread[:, None] & ~thread[None, :]
    return int(thread.sum()), int((allowed & both).sum() // 2), int((allowed & mixed).sum())


def check_thread_filtering(solver, stage) -> int:
    """Refuse a compiled model whose masks let a thread geom touch a non-thread geom or keep the
    lugs off the ridges (Newton falls back to an inexact graph colouring when its exact mask
    compiler runs out of bits or shapes); returns the number of thread geoms (0: no thread)."""
    n, thread_pairs, mixed = thread_mask_violations(solver, stage)
    if n and (mixed or not thread_pairs):
        raise RuntimeError(f"the compiled MuJoCo model lets {mixed} thread/non-thread geom pairs collide and "
                           f"{thread_pairs} thread pairs: the thread's collision groups were not honoured")
    return n


def match_mujoco_c_collision(solver) -> None:
    """Box-box pairs through the dedicated box-box collider, as MuJoCo C runs them.

    MuJoCo C always collides box-box pairs with its box-box primitive (mjc_BoxBox); MuJoCo Warp by
    default sends them through its general convex path (GJK/EPA + multi-CCD) and takes the
    primitive only when NATIVECCD is disabled. The gripper pads and the peg are boxes: on the
    convex path (MuJoCo Warp 3.12, Isaac Lab's pin) a stable-grasp reset of the peg dataset got 8
    pad contacts where MuJoCo C gets 12 and the peg slipped out of the fingers within 4 physics
    steps (finger 9.9 -> 3.8 mm); with the primitive the same state gives MuJoCo C's 12 contacts
    and its trajectory (finger opening equal to 1 um over 6 steps). Newton's SolverMuJoCo has no
    option for the flag: set it on the compiled models before the first step. MuJoCo Warp reads
    `opt.disableflags` when it launches the narrowphase, so the change takes effect at the next
    step (on CUDA the step graph is captured at the first step, after this call).
    Every Isaac Lab engine sets it: MuJoCo Warp 3.12 keeps its list of primitive pair types per
    process and only ever adds to it, so a model without the flag stepped after one with it gets
    both colliders' contacts for box-box pairs (measured: 10 per pad instead of 6)."""
    import mujoco

    flag = int(mujoco.mjtDisableBit.mjDSBL_NATIVECCD)
    if getattr(solver, "mj_model", None) is not None:
        solver.mj_model.opt.disableflags |= flag
    if getattr(solver, "mjw_model", None) is not None:
        solver.mjw_model.opt.disableflags |= flag
        # The constructor's tolerance (MJWarpSolverCfg.tolerance) reaches the compiled MjModel, but
        # MuJoCo Warp's per-world option held 1e-6 after the scene was built (measured): Newton's
        # per-world option sync takes its model attribute (default 1e-6). Set both, so that a
        # later sync keeps MuJoCo's value.
        attrs = getattr(getattr(solver, "model", None), "mujoco", None)
        if attrs is not None and hasattr(attrs, "tolerance"):
            attrs.tolerance.fill_(MUJOCO_TOLERANCE)
        solver.mjw_model.opt.tolerance.fill_(MUJOCO_TOLERANCE)


def sim_cfg(device: str = "cpu", scene: SceneConfig | None = None, physics: str = "newton"):
    import isaaclab.sim as sim_utils

    scene = scene or SceneConfig()
    if physics == "newton":
        phys = newton_physics_cfg(scene)
    elif physics == "physx":
        from .physx import physx_physics_cfg

        phys = physx_physics_cfg(scene)
    else:
        raise ValueError(f"unknown physics {physics!r}; valid: newton, physx")
    return sim_utils.SimulationCfg(device=device, dt=PHYSICS_DT, physics=phys, gravity=(0.0, 0.0, -9.81))


def scene_cfg(task: TaskSpec, num_envs: int, scene: SceneConfig | None = None, usd: SceneUsd | None = None,
              physics: str = "newton"):
    """An InteractiveSceneCfg instance with robot, target, receptive and table."""
    import isaaclab.sim as sim_utils
    from isaaclab.actuators import ImplicitActuatorCfg
    from isaaclab.assets import ArticulationCfg, RigidObjectCfg
    from isaaclab.scene import InteractiveSceneCfg

    usd = usd or scene_usd(task, scene)
    robot_spawn = sim_utils.UsdFileCfg(usd_path=usd.robot)
    if physics == "physx":
        from .physx import physx_robot_spawn

        robot_spawn = physx_robot_spawn(usd.robot)
    robot = ArticulationCfg(
        prim_path="{ENV_REGEX_NS}/Robot",
        spawn=robot_spawn,
        init_state=ArticulationCfg.InitialStateCfg(
            pos=(0.0, 0.0, 0.0),
            joint_pos={n: 0.0 for n in ARM_JOINT_NAMES + FINGER_JOINTS}),
        actuators={
            # Effort passes straight through (the OSC law computes torques); armature, damping and
            # friction come from the USD (the MJCF's joint dynamics).
            "arm": ImplicitActuatorCfg(joint_names_expr=list(ARM_JOINT_NAMES), stiffness=0.0, damping=0.0),
            "fingers": _finger_actuator(scene or SceneConfig(), physics),
        },
    )

    def rigid(path: str, name: str, z: float) -> RigidObjectCfg:
        return RigidObjectCfg(prim_path=f"{{ENV_REGEX_NS}}/{name}", spawn=sim_utils.UsdFileCfg(usd_path=path),
                              init_state=RigidObjectCfg.InitialStateCfg(pos=(0.0, 0.0, z)))

    from ..assets.scene import TABLE_CENTER

    fields = {
        ROBOT: robot,
        TARGET: rigid(usd.target, "Target", -1.0),
        RECEPTIVE: rigid(usd.receptive, "Receptive", 0.0),
        TABLE: rigid(usd.table, "Table", 0.0),
    }
    cfg = InteractiveSceneCfg(num_envs=num_envs, env_spacing=ENV_SPACING, replicate_physics=True)
    for key, value in fields.items():
        setattr(cfg, key, value)
    cfg.table.init_state.pos = tuple(float(v) for v in TABLE_CENTER)
    return cfg
