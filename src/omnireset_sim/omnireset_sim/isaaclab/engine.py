"""envs/engine.SimEngine on Isaac Lab 3: an InteractiveScene of the task, kit-less on Newton /
MuJoCo Warp (CPU or CUDA), or on PhysX where Isaac Sim is installed.

The project's env (envs/vec_env.OmniResetEnv, engine="isaaclab") and the manager-based cfgs
(env_cfg.py) both read and write the simulation through this one adapter, so the observation
layout, the OSC law, the A.1 reward and the terminations keep one definition each: the torch
functions of mdp/ and omnireset_control.

Conventions: Isaac Lab poses are world-frame, quaternions (x, y, z, w), one env origin per world;
EngineState is base_link-relative (the robot stands at its env origin with identity rotation),
quaternions (w, x, y, z). Float32 (Warp's precision).

The gripper's MuJoCo actuator (integrator servo: ctrl = setpoint speed, act = setpoint) is driven
through Newton's MuJoCo control (`control.mujoco.ctrl`); a reset writes its activation into
MuJoCo Warp's data after Isaac Lab's per-world solver reset (which zeroes ctrl and act).
"""

from __future__ import annotations

import numpy as np
import torch

from omnireset_control.constants import ARM_JOINT_NAMES, PHYSICS_DT

from ..assets.arm import UR_PHYSICAL
from ..assets.gripper import CLOSE_SETPOINT, FINGER_JOINTS, FINGER_STROKE
from ..assets.scene import ROBOT_BODIES, SceneConfig
from ..envs.engine import DynamicsParams, EngineState, ResetState
from ..tasks.spec import TaskSpec
from ._version import require_isaaclab
from .scene import (RECEPTIVE, ROBOT, TABLE, TARGET, check_thread_filtering, match_mujoco_c_collision, scene_cfg,
                    sim_cfg)

# MJCF order of the robot's actuators (assets/scene.py writes the 6 arm motors, then the gripper).
GRIPPER_ACTUATOR_INDEX = 6
ROBOT_ACTUATOR_COUNT = 7


def wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[:, 1:4], q[:, :1]], dim=1)


def xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[:, 3:4], q[:, :3]], dim=1)


def _quat_rotate_inverse_wxyz(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """R(q)^T v for unit quaternions (w, x, y, z) [N,4] and vectors [N,3]."""
    w, u = q[:, :1], -q[:, 1:]
    t = 2.0 * torch.cross(u, v, dim=1)
    return v + w * t + torch.cross(u, t, dim=1)


def _t(a) -> torch.Tensor:
    """A torch view of an Isaac Lab data field (ProxyArray in 3.0, a tensor elsewhere)."""
    return a.torch if hasattr(a, "torch") else (a if isinstance(a, torch.Tensor) else __import__("warp").to_torch(a))


# The DynamicsParams friction fields, by body group (the same groups as MujocoEngine's scene_ids).
FRICTION_GROUPS = (("robot", "robot_friction"), ("target", "target_friction"),
                   ("receptive", "receptive_friction"), ("table", "table_friction"))


def dynamics_targets(params: DynamicsParams, nominal: dict, env_ids: torch.Tensor, device=None,
                     dtype=torch.float32) -> dict:
    """What set_dynamics writes into worlds `env_ids` (rows of `params` in the same order), on either
    physics: the meaning of MujocoEngine.set_dynamics, one definition for both branches.

    nominal (captured once at the first set_dynamics, per world): robot_mass [N,B], robot_inertia
    [N,B,9], target_mass [N,1], target_inertia [N,1,9], gripper_kp, gripper_kv (floats).
    Returns per-world tensors: friction[group] [k,2] (static, dynamic: MuJoCo and Newton take the
    static one, PhysX both), robot_mass [k,B] and robot_inertia [k,B,9] (nominal x robot_mass_scale:
    a uniform density change), target_mass [k,1] with target_inertia [k,1,9] scaled by the same
    ratio, joint_friction / joint_armature / joint_damping [k,6] (absolute values), gripper_kp and
    gripper_kv [k] (nominal x scale). receptive/table mass scales are not here: those bodies are
    kinematic in the Isaac Lab scenes (mocap / static in the MJCF), their masses act on nothing."""
    ids = env_ids.to(device, torch.long) if device is not None else env_ids.long()
    f = lambda x: x.detach().to(ids.device, dtype)  # noqa: E731
    k = ids.numel()
    scale = f(params.robot_mass_scale).reshape(k, 1)
    tm = f(params.target_mass).reshape(k, 1)
    return {
        "friction": {group: f(getattr(params, name)).reshape(k, 2) for group, name in FRICTION_GROUPS},
        "robot_mass": (nominal["robot_mass"][ids] * scale).contiguous(),
        "robot_inertia": (nominal["robot_inertia"][ids] * scale[:, :, None]).contiguous(),
        "target_mass": tm.contiguous(),
        "target_inertia": (nominal["target_inertia"][ids]
                           * (tm / nominal["target_mass"][ids])[:, :, None]).contiguous(),
        "joint_friction": f(params.joint_friction).reshape(k, -1).contiguous(),
        "joint_armature": f(params.joint_armature).reshape(k, -1).contiguous(),
        "joint_damping": f(params.joint_damping).reshape(k, -1).contiguous(),
        "gripper_kp": nominal["gripper_kp"] * f(params.gripper_stiffness_scale).reshape(k),
        "gripper_kv": nominal["gripper_kv"] * f(params.gripper_damping_scale).reshape(k),
    }


class IsaacLabEngine:
    """N worlds of one task in an Isaac Lab InteractiveScene. One per process (Isaac Lab's
    SimulationContext is a singleton): close() before building another."""

    law_backends = ("torch",)  # the law runs in torch between physics steps (no native control step)

    def __init__(self, task: TaskSpec, num_envs: int, scene: SceneConfig | None = None, kinematics=None,
                 device: str = "cpu", physics: str = "newton"):
        require_isaaclab()
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        from isaaclab.scene import InteractiveScene
        from isaaclab.sim import SimulationContext

        self.task = task
        self.scene_cfg = scene or SceneConfig()
        self.num_envs = num_envs
        self.physics = physics
        self.device = torch.device(device)
        self.dtype = torch.float32
        if SimulationContext.instance() is not None:
            SimulationContext.clear_instance()
        sim = SimulationContext(sim_cfg(str(device), self.scene_cfg, physics))
        scene_obj = InteractiveScene(scene_cfg(task, num_envs, self.scene_cfg, physics=physics))
        sim.reset()
        self._bind(sim, scene_obj)

    @classmethod
    def attached(cls, sim, scene, task: TaskSpec, scene_cfg_: SceneConfig | None = None,
                 physics: str = "newton") -> "IsaacLabEngine":
        """The adapter over a scene that Isaac Lab already built (ManagerBasedRLEnv's): the manager
        terms of env_cfg.py read and write the simulation through it."""
        self = cls.__new__(cls)
        self.task = task
        self.scene_cfg = scene_cfg_ or SceneConfig()
        self.num_envs = scene.num_envs
        self.physics = physics
        self.device = torch.device(str(sim.device))
        self.dtype = torch.float32
        self._bind(sim, scene)
        return self

    def _bind(self, sim, scene) -> None:
        self.sim, self.scene = sim, scene
        num_envs = self.num_envs
        self.physics_dt = float(self.sim.get_physics_dt())
        assert abs(self.physics_dt - PHYSICS_DT) < 1e-9, self.physics_dt
        self.robot = self.scene[ROBOT]
        self.target = self.scene[TARGET]
        self.receptive = self.scene[RECEPTIVE]
        self.table = self.scene[TABLE]
        self.arm_ids = list(self.robot.find_joints(list(ARM_JOINT_NAMES), preserve_order=True)[0])
        self.finger_ids = list(self.robot.find_joints(list(FINGER_JOINTS), preserve_order=True)[0])
        self.origins = self.scene.env_origins.to(self.device, self.dtype)
        self._all = torch.arange(num_envs, device=self.device)
        self.arm_velocity_limits = torch.tensor(UR_PHYSICAL[self.scene_cfg.arm.robot].velocity_limits,
                                                dtype=self.dtype, device=self.device)
        self._gripper_speed = float(self.scene_cfg.gripper.speed)
        self._sim_reset = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        self._setpoint = torch.full((num_envs,), FINGER_STROKE, dtype=self.dtype, device=self.device)  # PhysX only
        self.nominal = self._nominal_dynamics()
        if self.physics == "newton":
            match_mujoco_c_collision(self._newton()._solver)
            # A thread's geoms touch only each other (usd_assets / scene.apply_usd_collision_groups).
            self.thread_geoms = check_thread_filtering(self._newton()._solver, self.sim.stage)
        self.physics_seconds = 0.0
        # The table stays where the scene put it: write its pose once (kinematic, never moves).
        pose = torch.zeros(num_envs, 7, device=self.device)
        from ..assets.scene import TABLE_CENTER

        pose[:, :3] = self.origins + torch.tensor(TABLE_CENTER, dtype=self.dtype, device=self.device)
        pose[:, 6] = 1.0
        self.table.write_root_pose_to_sim_index(root_pose=pose, env_ids=self._all)
        self.scene.write_data_to_sim()

    # ---- Newton / MuJoCo Warp internals (the gripper's native actuator) ------------------------
    def _newton(self):
        from isaaclab_newton.physics import NewtonManager

        return NewtonManager

    def _gripper_ctrl(self) -> torch.Tensor:
        """[N] view of the gripper actuator's ctrl in Newton's MuJoCo control."""
        ctrl = self._newton().get_control().mujoco.ctrl
        flat = _t(ctrl)
        per_world = flat.shape[0] // self.num_envs
        if per_world != ROBOT_ACTUATOR_COUNT:
            raise RuntimeError(f"expected {ROBOT_ACTUATOR_COUNT} MuJoCo actuators per world, found {per_world}")
        return flat.view(self.num_envs, per_world)[:, GRIPPER_ACTUATOR_INDEX]

    def _gripper_act(self) -> torch.Tensor:
        import warp as wp

        act = wp.to_torch(self._newton()._solver.mjw_data.act)
        return act.view(self.num_envs, -1)[:, 0]

    # ---- SimEngine -----------------------------------------------------------------------------
    def state(self) -> EngineState:
        rd, td, cd = self.robot.data, self.target.data, self.receptive.data
        q = _t(rd.joint_pos)
        qd = _t(rd.joint_vel)
        tq = xyzw_to_wxyz(_t(td.root_quat_w))
        t_ang_w = _t(td.root_ang_vel_w)
        target_pos = _t(td.root_pos_w) - self.origins
        receptive_pos = _t(cd.root_pos_w) - self.origins
        joint_pos, joint_vel = q[:, self.arm_ids], qd[:, self.arm_ids]
        finite = (torch.isfinite(q).all(1) & torch.isfinite(qd).all(1) & torch.isfinite(target_pos).all(1)
                  & torch.isfinite(tq).all(1))
        return EngineState(
            joint_pos=joint_pos, joint_vel=joint_vel, gripper_opening=q[:, self.finger_ids[0]],
            target_pos=target_pos, target_quat=tq,
            target_lin_vel=_t(td.root_lin_vel_w).clone(),
            # As MuJoCo's free joint reports it: angular velocity in the body frame.
            target_ang_vel=_quat_rotate_inverse_wxyz(tq, t_ang_w),
            receptive_pos=receptive_pos, receptive_quat=xyzw_to_wxyz(_t(cd.root_quat_w)),
            finite=finite, sim_reset=self._sim_reset.clone(), overflow=None)

    def apply_controls(self, arm_torque: torch.Tensor, gripper_close: torch.Tensor) -> None:
        """Arm torques [N,6] into Isaac Lab's effort targets, the binary gripper command into the
        gripper servo's ctrl (written to the simulation by the next scene.write_data_to_sim)."""
        tau = torch.nan_to_num(arm_torque.detach().to(self.device, self.dtype))
        self.robot.set_joint_effort_target_index(target=tau, joint_ids=self.arm_ids)
        close = gripper_close.detach().to(self.device).bool()
        speed = torch.where(close, -self._gripper_speed, self._gripper_speed)
        if self.physics == "physx":
            # No MuJoCo servo on PhysX: integrate its setpoint here, the finger drives track it.
            self._setpoint = (self._setpoint + speed * self.physics_dt).clamp(CLOSE_SETPOINT, FINGER_STROKE)
            self.robot.set_joint_position_target_index(target=self._setpoint[:, None].repeat(1, len(self.finger_ids)),
                                                       joint_ids=self.finger_ids)
            return
        self._gripper_ctrl()[:] = speed

    def step(self, arm_torque: torch.Tensor, gripper_close: torch.Tensor) -> None:
        import time

        self.apply_controls(arm_torque, gripper_close)
        start = time.perf_counter()
        self.scene.write_data_to_sim()
        self.sim.step(render=False)
        self.scene.update(self.physics_dt)
        self.physics_seconds += time.perf_counter() - start

    def reset_envs(self, env_ids: torch.Tensor, reset: ResetState) -> None:
        ids = env_ids.to(self.device, torch.long)
        if ids.numel() == 0:
            return
        f = lambda x: x.detach().to(self.device, self.dtype)  # noqa: E731
        closed = reset.gripper_closed.to(self.device).bool()
        opening = torch.where(closed, 0.0, FINGER_STROKE).to(self.dtype)
        if reset.gripper_opening is not None:
            opening = f(reset.gripper_opening).clamp(0.0, FINGER_STROKE)
        q = torch.zeros(ids.numel(), len(self.arm_ids) + len(self.finger_ids), device=self.device, dtype=self.dtype)
        q[:, :6] = f(reset.joint_pos)
        q[:, 6:] = opening[:, None]
        self.robot.write_joint_state_to_sim_index(position=q, velocity=torch.zeros_like(q),
                                                  joint_ids=self.arm_ids + self.finger_ids, env_ids=ids)
        origins = self.origins[ids]
        tpose = torch.cat([f(reset.target_pos) + origins, wxyz_to_xyzw(f(reset.target_quat))], 1)
        self.target.write_root_pose_to_sim_index(root_pose=tpose, env_ids=ids)
        self.target.write_root_velocity_to_sim_index(root_velocity=torch.zeros(ids.numel(), 6, device=self.device),
                                                     env_ids=ids)
        rpose = torch.cat([f(reset.receptive_pos) + origins, wxyz_to_xyzw(f(reset.receptive_quat))], 1)
        self.receptive.write_root_pose_to_sim_index(root_pose=rpose, env_ids=ids)
        self.robot.set_joint_effort_target_index(target=torch.zeros(ids.numel(), 6, device=self.device),
                                                 joint_ids=self.arm_ids, env_ids=ids)
        self.scene.write_data_to_sim()
        # Isaac Lab resets the solver's per-world buffers (ctrl, act, warm start) at the next forward
        # boundary: run it now, then seed the gripper servo's setpoint as the MuJoCo engine does.
        setpoint = torch.where(closed, CLOSE_SETPOINT, FINGER_STROKE).to(self.dtype)
        if self.physics == "physx":
            self._setpoint[ids] = setpoint
        else:
            self._newton().forward()
            self._gripper_act()[ids] = setpoint
            self._gripper_ctrl()[ids] = 0.0
        self.scene.update(0.0)
        self._sim_reset[ids] = False

    def set_dynamics(self, env_ids: torch.Tensor, params: DynamicsParams) -> None:
        """Per-world Table 2 model parameters, as MujocoEngine.set_dynamics writes them into its
        per-world MjModels (dynamics_targets: one definition for both physics): sliding friction per
        body group, robot masses and inertias scaled alike, the target's mass (inertia scaled with
        it), the arm's joint friction / armature / damping, and the gripper servo's gains.

        Newton: written into Newton's model (its source of truth: a later model-change sync would
        overwrite MuJoCo Warp's arrays) through Isaac Lab's setters where it has them, then Newton
        re-derives MuJoCo Warp's per-world fields and mass-derived constants (set_const) at the next
        step. PhysX: _set_dynamics_physx. The receptive object and the table are kinematic here
        (mocap / static in the MJCF): their masses act on nothing in either engine and are not written."""
        if env_ids.numel() == 0:
            return
        if self.physics != "newton":
            self._set_dynamics_physx(env_ids, params)
            return
        import warp as wp
        from newton import ModelFlags

        d = self._dynamics_binding()
        ids = env_ids.to(self.device, torch.long)
        t = dynamics_targets(params, d, ids, self.device, self.dtype)
        # Frictions: Newton's per-shape mu -> geom_friction[..., 0] (torsion/rolling stay the MJCF's).
        mu = wp.to_torch(d["model"].shape_material_mu)
        for group, _ in FRICTION_GROUPS:
            shapes = d["shapes"][group][ids]  # [k, n] global Newton shape ids of these worlds
            mu[shapes] = t["friction"][group][:, :1].expand_as(shapes)
        self._newton().add_model_change(ModelFlags.SHAPE_PROPERTIES)
        # Masses and inertias (Isaac Lab's setters flag the inertial change for Newton).
        rb = d["robot_bodies"]
        self.robot.set_masses_index(masses=t["robot_mass"], body_ids=rb, env_ids=ids)
        self.robot.set_inertias_index(inertias=t["robot_inertia"], body_ids=rb, env_ids=ids)
        self.target.set_masses_index(masses=t["target_mass"], env_ids=ids)
        self.target.set_inertias_index(inertias=t["target_inertia"], env_ids=ids)
        # Arm joint dynamics: Newton's joint_friction / joint_armature / joint_damping are MuJoCo's
        # dof_frictionloss / dof_armature / dof_damping.
        self.robot.write_joint_friction_coefficient_to_sim_index(
            joint_friction_coeff=t["joint_friction"], joint_ids=self.arm_ids, env_ids=ids)
        self.robot.write_joint_armature_to_sim_index(armature=t["joint_armature"], joint_ids=self.arm_ids, env_ids=ids)
        self.robot.write_joint_viscous_friction_coefficient_to_sim_index(
            joint_viscous_friction_coeff=t["joint_damping"], joint_ids=self.arm_ids, env_ids=ids)
        # Gripper servo gains (MuJoCo's general actuator: force = kp * act - kp * q - kv * qdot).
        kp, kv = t["gripper_kp"], t["gripper_kv"]
        rows = d["gripper_rows"][ids]
        gain, bias = wp.to_torch(d["attrs"].actuator_gainprm), wp.to_torch(d["attrs"].actuator_biasprm)
        gain[rows, 0] = kp
        bias[rows, 1] = -kp
        bias[rows, 2] = -kv
        self._newton().add_model_change(ModelFlags.ACTUATOR_PROPERTIES)

    def _set_dynamics_physx(self, env_ids: torch.Tensor, params: DynamicsParams) -> None:
        """The same targets through Isaac Lab 3.0's PhysX-backend setters (isaaclab_physx/assets/
        articulation/articulation.py: Articulation.*, rigid_object/rigid_object.py: RigidObject.*),
        which write the PhysX tensor views on the CPU (PhysX model properties live there). Not run on
        the project's CPU machines (PhysX needs Isaac Sim); the API names are checked against the
        installed Isaac Lab (test_isaaclab_physx_glue.py) and the values read back by
        scripts/isaaclab_physx_smoke.py."""
        import warp as wp

        from .physx import write_friction

        d = self._physx_dynamics_binding()
        ids = env_ids.to(self.device, torch.long)
        t = dynamics_targets(params, d, ids, self.device, self.dtype)
        # Frictions: the shapes' PhysX materials (static, dynamic, restitution), as Isaac Lab's own
        # PhysX material event writes them (isaaclab_physx/envs/mdp/events.py:
        # randomize_rigid_body_material.__call__: root_view.get/set_material_properties, CPU, int32 ids).
        # Frictions are drawn once at start (mdp/events.sample_startup) and set_dynamics runs at every
        # reset: only worlds whose pair changed are rewritten (CPU writes; PhysX's material budget).
        for group, asset in self.assets_by_group().items():
            fr = t["friction"][group].cpu()
            written = d["friction_written"][group]
            changed = (written[ids.cpu()] != fr).any(1)
            if not bool(changed.any()):
                continue
            cpu_ids = ids.cpu()[changed].to(torch.int32)
            materials = wp.to_torch(asset.root_view.get_material_properties())  # [N, shapes, 3], CPU
            write_friction(materials, cpu_ids, d["material_columns"][group], fr[changed])
            asset.root_view.set_material_properties(wp.from_torch(materials.contiguous(), dtype=wp.float32),
                                                    wp.from_torch(cpu_ids, dtype=wp.int32))
            written[cpu_ids.long()] = fr[changed]
        # Masses and inertias: Articulation/RigidObject.set_masses_index, set_inertias_index (as
        # isaaclab/envs/mdp/events.py: randomize_rigid_body_mass writes them, inertia scaled alike).
        rb = d["robot_bodies"]
        self.robot.set_masses_index(masses=t["robot_mass"], body_ids=rb, env_ids=ids)
        self.robot.set_inertias_index(inertias=t["robot_inertia"], body_ids=rb, env_ids=ids)
        self.target.set_masses_index(masses=t["target_mass"], env_ids=ids)
        self.target.set_inertias_index(inertias=t["target_inertia"], env_ids=ids)
        # Arm joints: PhysX 5 (Isaac Sim >= 5) joint friction is Coulomb static/dynamic *effort*
        # [N m] plus a viscous coefficient [N m s/rad] (PxJointFrictionParams; Isaac Lab's
        # Articulation.write_joint_friction_coefficient_to_sim_index docstring). MuJoCo's frictionloss
        # is one constant torque at rest and in motion -> static = dynamic = joint_friction; its
        # passive dof_damping -> the viscous coefficient; armature -> Articulation.write_joint_armature_to_sim_index.
        jf = t["joint_friction"]
        self.robot.write_joint_friction_coefficient_to_sim_index(
            joint_friction_coeff=jf, joint_dynamic_friction_coeff=jf.clone(),
            joint_viscous_friction_coeff=t["joint_damping"], joint_ids=self.arm_ids, env_ids=ids)
        self.robot.write_joint_armature_to_sim_index(armature=t["joint_armature"], joint_ids=self.arm_ids, env_ids=ids)
        # Gripper: the fingers' implicit PD drives (physx.gripper_drive_gains) carry the servo's kp/kv;
        # Isaac Lab's randomize_actuator_gains writes implicit drives the same way
        # (Articulation.write_joint_stiffness_to_sim_index / write_joint_damping_to_sim_index).
        nf = len(self.finger_ids)
        self.robot.write_joint_stiffness_to_sim_index(stiffness=t["gripper_kp"][:, None].expand(-1, nf).contiguous(),
                                                      joint_ids=self.finger_ids, env_ids=ids)
        self.robot.write_joint_damping_to_sim_index(damping=t["gripper_kv"][:, None].expand(-1, nf).contiguous(),
                                                    joint_ids=self.finger_ids, env_ids=ids)

    def _physx_dynamics_binding(self) -> dict:
        """PhysX: the nominal values the scales apply to (masses/inertias from Isaac Lab's data,
        the drive gains from physx.gripper_drive_gains, the one source of the drives' cfg) and the
        shape columns of each group in the views' material tensors, built once."""
        if getattr(self, "_dyn", None) is not None:
            return self._dyn
        from .physx import gripper_drive_gains, shape_columns

        rb = self._robot_body_ids()
        # Per-link shape counts by a rigid-body view per link, public -> backend body ids: exactly
        # Isaac Lab's isaaclab_physx/envs/mdp/events.py: randomize_rigid_body_material.__init__.
        per_link = [self.robot._physics_sim_view.create_rigid_body_view(path).max_shapes
                    for path in self.robot.root_view.link_paths[0]]
        if sum(per_link) != self.robot.root_view.max_shapes:
            raise RuntimeError(f"robot shapes per link {per_link} do not add up to the view's "
                               f"{self.robot.root_view.max_shapes}")
        columns = {group: list(range(int(asset.root_view.max_shapes)))  # one body each: all its shapes
                   for group, asset in self.assets_by_group().items() if group != "robot"}
        columns["robot"] = shape_columns(per_link, self.robot.map_body_ids_to_backend(rb))
        gains = gripper_drive_gains(self.scene_cfg)
        self._dyn = {
            "robot_bodies": rb, "material_columns": columns,
            # The pair last written per world and group (NaN: never written, so the first call writes).
            "friction_written": {g: torch.full((self.num_envs, 2), float("nan")) for g, _ in FRICTION_GROUPS},
            **self._nominal_inertials(rb),
            "gripper_kp": gains["stiffness"], "gripper_kv": gains["damping"],
        }
        return self._dyn

    def assets_by_group(self) -> dict:
        """The Isaac Lab asset of each DynamicsParams body group (FRICTION_GROUPS' order)."""
        return {"robot": self.robot, "target": self.target, "receptive": self.receptive, "table": self.table}

    def _robot_body_ids(self) -> list[int]:
        """Isaac Lab body ids of the MuJoCo engine's robot group (arm + gripper bodies: scene_ids)."""
        rb = [i for i, n in enumerate(self.robot.body_names) if n in ROBOT_BODIES]
        if len(rb) != len(set(ROBOT_BODIES)):
            raise RuntimeError(f"robot bodies {list(ROBOT_BODIES)} not all found in Isaac Lab's "
                               f"{self.robot.body_names}")
        return rb

    def _nominal_inertials(self, rb: list[int]) -> dict:
        """The nominal masses and inertias per world, from Isaac Lab's data (both backends)."""
        dev = lambda x: _t(x).to(self.device)  # noqa: E731  (PhysX keeps some on the CPU)
        return {
            "robot_mass": dev(self.robot.data.body_mass)[:, rb].clone(),
            "robot_inertia": dev(self.robot.data.body_inertia)[:, rb].clone(),
            "target_mass": dev(self.target.data.body_mass).reshape(self.num_envs, 1).clone(),
            "target_inertia": dev(self.target.data.body_inertia).reshape(self.num_envs, 1, 9).clone(),
        }

    def _dynamics_binding(self) -> dict:
        """Index maps from our parameter groups to Newton's arrays, and the nominal values the
        scales apply to, built once (from the solver's MuJoCo model and Isaac Lab's views)."""
        if getattr(self, "_dyn", None) is not None:
            return self._dyn
        import mujoco
        import warp as wp

        solver = self._newton()._solver
        model = solver.model
        cm = solver.mj_model
        geom_to_shape = torch.as_tensor(solver.mjc_geom_to_newton_shape.numpy(), dtype=torch.long, device=self.device)
        if geom_to_shape.shape[0] != self.num_envs:
            raise RuntimeError(f"expected {self.num_envs} MuJoCo worlds, the solver has {geom_to_shape.shape[0]}")
        # Body groups by the USD prim the solver's body came from (scene.py's prim paths).
        marks = {"robot": "/Robot/", "target": "/Target/", "receptive": "/Receptive/", "table": "/Table/"}
        shapes = {}
        for group, mark in marks.items():
            geoms = []
            for g in range(cm.ngeom):
                # Geom names are their USD prim paths: .../<body>/<geom>.
                path = mujoco.mj_id2name(cm, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
                # Robot: only the arm and gripper bodies' geoms (not the camera mount's safety volume).
                if mark in path and (group != "robot" or path.split("/")[-2] in ROBOT_BODIES):
                    geoms.append(g)
            if not geoms:
                raise RuntimeError(f"no MuJoCo geom of the {group} in the solver's model")
            shapes[group] = geom_to_shape[:, geoms]
        rb = self._robot_body_ids()
        attrs = model.mujoco
        per_world = attrs.actuator_gainprm.shape[0] // self.num_envs
        newton_idx = int(solver.mjc_actuator_to_newton_idx.numpy()[GRIPPER_ACTUATOR_INDEX])
        gain0 = wp.to_torch(attrs.actuator_gainprm)[newton_idx]
        bias0 = wp.to_torch(attrs.actuator_biasprm)[newton_idx]
        self._dyn = {
            "model": model, "attrs": attrs, "shapes": shapes, "robot_bodies": rb,
            **self._nominal_inertials(rb),
            "gripper_kp": float(gain0[0]), "gripper_kv": float(-bias0[2]),
            "gripper_rows": torch.arange(self.num_envs, device=self.device) * per_world + newton_idx,
        }
        return self._dyn

    def render(self, env_id: int, camera: str, width: int = 224, height: int = 224) -> np.ndarray:
        raise NotImplementedError("the Isaac Lab backend does not render (cameras stay on the MuJoCo engines)")

    def close(self) -> None:
        from isaaclab.sim import SimulationContext

        try:
            self.sim.stop() if hasattr(self.sim, "stop") else None
        finally:
            SimulationContext.clear_instance()

    # ---- helpers -------------------------------------------------------------------------------

    def _nominal_dynamics(self) -> DynamicsParams:
        """The model's nominal parameters, from the MJCF the USD was converted from (one source)."""
        import mujoco

        from ..assets.arm import load_arm_kinematics
        from ..assets.scene import build_scene_xml
        from ..envs.mujoco_engine import nominal_dynamics, scene_ids, set_scene_indices

        class _Idx:
            pass

        m = mujoco.MjModel.from_xml_string(build_scene_xml(self.task, load_arm_kinematics(self.scene_cfg.arm),
                                                           self.scene_cfg))
        idx = _Idx()
        set_scene_indices(idx, m)
        return nominal_dynamics(m, scene_ids(m), idx._arm_dof)


def isaaclab_engine_factory(cfg, task, kinematics):
    """vec_env.ENGINES["isaaclab"]: the env's cfg -> an IsaacLabEngine (Newton; PhysX via
    OMNIRESET_ISAACLAB_PHYSICS=physx on machines with Isaac Sim)."""
    import os

    physics = os.environ.get("OMNIRESET_ISAACLAB_PHYSICS", "newton")
    return IsaacLabEngine(task, cfg.num_envs, cfg.scene, kinematics=kinematics, device=str(cfg.device),
                          physics=physics)


__all__ = ["FRICTION_GROUPS", "IsaacLabEngine", "dynamics_targets", "isaaclab_engine_factory", "wxyz_to_xyzw",
           "xyzw_to_wxyz"]
