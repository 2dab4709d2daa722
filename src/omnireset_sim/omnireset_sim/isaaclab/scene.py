"""Isaac Lab scene and simulation cfgs of a task, from the project's converted USD (usd_assets).

Physics: Newton with the MuJoCo Warp solver (kit-less), the solver options of the generated MJCF
(the converter does not carry them): implicitfast, Newton solver, its iterations, ls_iterations 10,
pyramidal cones, dt = PHYSICS_DT. `physics="physx"` selects Isaac Sim's PhysX instead (machines
with Isaac Sim only; see physx.py).

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
from .usd_assets import SceneUsd, scene_usd

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
                             enable_multiccd=True)
    return NewtonCfg(solver_cfg=solver)


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
