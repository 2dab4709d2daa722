"""The PhysX path: the same cfgs (scene.py, env_cfg.py) on Isaac Sim's PhysX, for GPU machines with
Isaac Sim 6.2 (ISAACLAB_WITH_ISAACSIM=1 make isaaclab-setup). NOT run on the project's CPU machines
(PhysX in Isaac Lab 3 needs Isaac Sim's Kit runtime); scripts/isaaclab_physx_smoke.py is the check to
run on such a machine.

What differs from the Newton path:
- solver: PhysX TGS with the position/velocity iteration counts below; the MJCF's MuJoCo solver
  options have no PhysX meaning.
- the gripper: PhysX has no MuJoCo integrator actuator. Both fingers get a PD drive with the MJCF
  servo's stiffness, damping and force limit (assets/gripper.GripperConfig), and the engine
  integrates the setpoint at the servo speed (engine.IsaacLabEngine, physics="physx"); the finger
  equality becomes the two drives following one setpoint.
- robot self-collision off on the articulation (the MJCF's robot contype/conaffinity bits).
- threaded leg (tasks/leg_twisting/threaded.py): the released code collides the leg and its nut
  through SDF meshes. `sdf_mesh_cfg()` is the PhysX SDF collision cfg the released assets use; it
  applies to mesh colliders, and our converted thread is made of capsule/sphere primitives, which
  PhysX collides natively (no SDF needed, none possible). An SDF thread needs the leg as a mesh.
"""

from __future__ import annotations

from ..assets.scene import SceneConfig

# TGS iteration counts of Isaac Lab's manipulation tasks (position, velocity).
POSITION_ITERATIONS = 32
VELOCITY_ITERATIONS = 1
# The released assets' SDF resolution for the threaded parts.
SDF_RESOLUTION = 256


def physx_physics_cfg(scene: SceneConfig):
    from isaaclab_physx.physics import PhysxCfg

    return PhysxCfg(solver_type=1, min_position_iteration_count=POSITION_ITERATIONS,
                    max_position_iteration_count=POSITION_ITERATIONS,
                    min_velocity_iteration_count=VELOCITY_ITERATIONS,
                    max_velocity_iteration_count=VELOCITY_ITERATIONS, enable_ccd=True)


def physx_robot_spawn(usd_path: str):
    import isaaclab.sim as sim_utils
    from isaaclab_physx.sim.schemas.schemas_cfg import PhysxArticulationCfg

    return sim_utils.UsdFileCfg(usd_path=usd_path, articulation_props=PhysxArticulationCfg(enabled_self_collisions=False))


def sdf_mesh_cfg():
    from isaaclab_physx.sim.schemas.schemas_cfg import PhysxSDFMeshCfg

    return PhysxSDFMeshCfg(sdf_resolution=SDF_RESOLUTION)


def gripper_drive_gains(scene: SceneConfig) -> dict[str, float]:
    """The finger PD drive on PhysX: the MJCF servo's gains and force limit."""
    g = scene.gripper
    return {"stiffness": float(g.stiffness), "damping": float(g.damping), "effort_limit": float(g.force)}
