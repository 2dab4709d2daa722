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
- Table 2 randomization (engine.IsaacLabEngine._set_dynamics_physx): the same per-world values as
  on Newton and MuJoCo (engine.dynamics_targets). Frictions go into the shapes' PhysX materials
  (static and dynamic: DynamicsParams keeps both; MuJoCo and Newton use the static one), arm joint
  friction into PhysX 5's static = dynamic friction effort (MuJoCo's frictionloss: one torque) and
  MuJoCo's passive damping into the viscous coefficient, the gripper gains into the finger drives.
  Every collider of the converted USD has its own UsdPhysics material (read back: robot 13 of 13,
  target 1, receptive 4, table 1 in peg_insertion), so a per-shape write changes no other shape.
  Not matched yet: contact friction *combination*. MuJoCo takes the larger geom's coefficient;
  PhysX averages the two materials unless one of them authors physxMaterial:frictionCombineMode
  (the converted materials author none). Matching it needs frictionCombineMode = "max" on those
  materials (usd_assets.py); the scene's default material is not involved (no collider uses it).
  PhysX allows at most 64000 distinct materials per scene (Isaac Lab's randomize_rigid_body_material
  docstring, whose fixed buckets imply that distinct values count): our draws are 4 values per world
  (one per group), i.e. <= 16000 worlds; if PhysX counted one per shape instead, 19 per world in
  peg_insertion (<= 3368 worlds). Not verified (no Isaac Sim here). Frictions are drawn once at start
  (mdp/events.sample_startup), so the engine rewrites a world's materials only when they change.
- threaded leg (tasks/leg_twisting/threaded.py): its ridges and lugs touch only each other. The
  converted USD files carry that as UsdPhysics collision groups (usd_assets.THREAD_GROUP filtering
  ENV_GROUP, each merged across the four files by its mergeGroup name), which PhysX reads as
  authored: nothing to set in the cfg (the Newton path maps the same groups onto Newton's groups,
  scene.apply_usd_collision_groups). The ridges are capsules and the lugs spheres: PhysX collides
  those primitives natively. `thread_filtering_on_stage` is what the smoke check reads back; not
  verified here: that PhysX's replicated clones (replicate_physics) keep the merged groups.
  `sdf_mesh_cfg()` is the PhysX SDF collision cfg the released assets use for their meshed leg and
  nut; it applies to mesh colliders only (an SDF thread needs the leg as a mesh).
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


def thread_filtering_on_stage(stage, env_root: str = "/World/envs/env_0") -> tuple[int, int]:
    """(thread colliders, environment colliders) in the collision groups of the clone source env on
    a built stage (both engines read these groups; (0, 0) in a scene without a thread)."""
    from .scene import _usd_group_members
    from .usd_assets import ENV_MERGE_GROUP, THREAD_MERGE_GROUP

    members = _usd_group_members(stage, env_root)
    return len(members.get(THREAD_MERGE_GROUP, ())), len(members.get(ENV_MERGE_GROUP, ()))


def gripper_drive_gains(scene: SceneConfig) -> dict[str, float]:
    """The finger PD drive on PhysX: the MJCF servo's gains and force limit."""
    g = scene.gripper
    return {"stiffness": float(g.stiffness), "damping": float(g.damping), "effort_limit": float(g.force)}


# ---- Table 2 randomization on PhysX (engine.IsaacLabEngine._set_dynamics_physx) ------------------
# Kit-free helpers, unit-tested in src/omnireset_sim/test/test_isaaclab_physx_glue.py.


def shape_columns(shapes_per_link, backend_body_ids) -> list[int]:
    """Columns of the listed links' shapes in a PhysX articulation view's per-shape tensors (the
    material tensor is [envs, max_shapes, 3], each link's shapes contiguous in backend link order).
    The layout Isaac Lab 3.0 itself assumes: isaaclab_physx/envs/mdp/events.py:
    randomize_rigid_body_material (start = sum of the shape counts of the links before it)."""
    counts = [int(n) for n in shapes_per_link]
    starts = [sum(counts[:i]) for i in range(len(counts))]
    cols: list[int] = []
    for b in backend_body_ids:
        b = int(b)
        if not 0 <= b < len(counts):
            raise ValueError(f"backend body id {b} outside the articulation's {len(counts)} links")
        cols.extend(range(starts[b], starts[b] + counts[b]))
    return cols


def write_friction(materials, env_ids, columns, friction) -> None:
    """In place on a PhysX material tensor [envs, shapes, 3] = (static, dynamic, restitution): the
    rows `env_ids`, shape columns `columns` get friction [k, 2] = (static, dynamic) per env (the
    DynamicsParams pair: MuJoCo uses only the static one, PhysX has both); restitution is kept (MuJoCo's
    soft contacts have none to randomize; negative values there are PhysX's compliant-contact
    stiffness, which Isaac Lab's event also preserves)."""
    import torch

    rows = torch.as_tensor(env_ids, dtype=torch.long, device=materials.device)[:, None]
    cols = torch.as_tensor(columns, dtype=torch.long, device=materials.device)[None, :]
    f = friction.to(materials.device, materials.dtype)
    if f.shape != (rows.shape[0], 2):
        raise ValueError(f"friction must be [{rows.shape[0]}, 2] (static, dynamic), got {tuple(f.shape)}")
    materials[rows, cols, 0] = f[:, :1].expand(-1, cols.shape[1])
    # PhysX requires dynamic <= static (Isaac Lab's event: make_consistent); our draw already does
    # (mdp/events._friction_pair), the clamp keeps hand-made parameters legal too.
    materials[rows, cols, 1] = torch.minimum(f[:, 1:], f[:, :1]).expand(-1, cols.shape[1])


def dynamics_readback(engine, params, env_id: int = 0) -> dict[str, tuple[float, float]]:
    """After engine.set_dynamics(all worlds, params) on PhysX (params: one row per world): one
    parameter per group of world `env_id`, read back from the PhysX tensor views (not Isaac Lab's
    cached buffers), next to what engine.dynamics_targets says was meant: name -> (expected, read).
    The views hold model properties on the CPU in backend order (public ids mapped with Isaac Lab's
    map_body_ids_to_backend / map_joint_ids_to_backend)."""
    import torch
    import warp as wp

    from .engine import dynamics_targets

    d = engine._physx_dynamics_binding()
    ids = torch.arange(engine.num_envs)
    t = dynamics_targets(params, d, ids.to(engine.device), engine.device, engine.dtype)
    e = int(env_id)
    out: dict[str, tuple[float, float]] = {}
    for group, asset in engine.assets_by_group().items():
        mats = wp.to_torch(asset.root_view.get_material_properties())
        col = d["material_columns"][group][0]
        f = t["friction"][group][e].cpu()
        out[f"{group}_static_friction"] = (float(f[0]), float(mats[e, col, 0]))
        out[f"{group}_dynamic_friction"] = (float(min(f[1], f[0])), float(mats[e, col, 1]))
    body = engine.robot.map_body_ids_to_backend(d["robot_bodies"])[0]
    masses = wp.to_torch(engine.robot.root_view.get_masses())  # [N, links]
    out["robot_mass[0]"] = (float(t["robot_mass"][e, 0]), float(masses[e, body]))
    out["target_mass"] = (float(t["target_mass"][e, 0]), float(wp.to_torch(engine.target.root_view.get_masses())[e, 0]))
    out["target_inertia_xx"] = (float(t["target_inertia"][e, 0, 0]),
                                float(wp.to_torch(engine.target.root_view.get_inertias())[e, 0, 0]))
    view = engine.robot.root_view
    dof = engine.robot.map_joint_ids_to_backend(engine.arm_ids)[0]
    fp = wp.to_torch(view.get_dof_friction_properties())  # [N, dofs, 3]: static, dynamic, viscous
    out["joint_friction_static[0]"] = (float(t["joint_friction"][e, 0]), float(fp[e, dof, 0]))
    out["joint_friction_dynamic[0]"] = (float(t["joint_friction"][e, 0]), float(fp[e, dof, 1]))
    out["joint_damping_viscous[0]"] = (float(t["joint_damping"][e, 0]), float(fp[e, dof, 2]))
    out["joint_armature[0]"] = (float(t["joint_armature"][e, 0]), float(wp.to_torch(view.get_dof_armatures())[e, dof]))
    finger = engine.robot.map_joint_ids_to_backend(engine.finger_ids)[0]
    out["gripper_stiffness"] = (float(t["gripper_kp"][e]), float(wp.to_torch(view.get_dof_stiffnesses())[e, finger]))
    out["gripper_damping"] = (float(t["gripper_kv"][e]), float(wp.to_torch(view.get_dof_dampings())[e, finger]))
    return out


def readback_mismatches(readback: dict[str, tuple[float, float]], rtol: float = 1e-4) -> list[str]:
    """The read-back parameters that differ from the intended value (float32 storage: 1e-4 relative)."""
    return [f"{k}: expected {a:.6g}, read {b:.6g}" for k, (a, b) in readback.items()
            if not abs(a - b) <= rtol * max(abs(a), 1e-6)]
