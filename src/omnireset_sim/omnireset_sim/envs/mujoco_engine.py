"""The embedded default engine: N MuJoCo worlds stepped together with mujoco.rollout.

All worlds live in one state array [N, nstate] (mjSTATE_FULLPHYSICS: time, qpos, qvel, act) and
one control array [N, ctrl + mocap pose]. One `mujoco.rollout` call advances every world one
physics step on a persistent thread pool (MuJoCo releases the GIL), so there is no per-world
Python work in the physics loop; the torch side reads the same memory through zero-copy views.

`control_step` runs a whole policy step (decimation physics steps with the OSC law, motor delay
and dynamic friction between them) in one native call (envs/native/osc_stepper.cpp, built at first
use by envs/native_stepper.py), so the law costs no Python per physics step either; `step` (one
physics step with given torques) stays for the torch law, system identification and the sim node.

Per-world physical parameters (frictions, masses, joint dynamics, gripper gains) need one MjModel
per world; those copies are made only when a randomization asks for them.

A world that blows up is reset by MuJoCo itself inside mj_step (its time goes back to ~0); the
engine reports it through `EngineState.sim_reset` so the env terminates it as abnormal.
"""

from __future__ import annotations

import copy
import math
import time
from typing import TYPE_CHECKING

import mujoco
import mujoco.rollout
import numpy as np
import torch

from omnireset_control.constants import ARM_JOINT_NAMES, PHYSICS_DT

from ..assets.arm import ARM_BODY_NAMES, UR_PHYSICAL
from ..assets.gripper import FINGER_JOINTS, GRIPPER_ACTUATOR
from ..assets.scene import (RECEPTIVE_BODY, ROBOT_BODIES, TABLE_BODY, TARGET_BODY, TARGET_JOINT, SceneConfig,
                            build_scene_xml)
from ..tasks.spec import TaskSpec
from .engine import DynamicsParams, EngineState, ResetState

if TYPE_CHECKING:
    from .native_stepper import ControlInputs

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS
CONTROL_SPEC = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_MOCAP_POS | mujoco.mjtState.mjSTATE_MOCAP_QUAT


class MujocoEngine:
    def __init__(self, task: TaskSpec, num_envs: int, scene: SceneConfig | None = None, kinematics=None,
                 nthread: int = 2, device="cpu", xml: str | None = None):
        # xml: an MJCF of the same scene layout (arm, gripper, target joint, one mocap receptive body)
        # to load instead of the task's own scene (four_leg_table.py adds three more legs and holes).
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        from ..assets.arm import load_arm_kinematics

        self.scene_cfg = scene or SceneConfig()
        self.kinematics = kinematics or load_arm_kinematics(self.scene_cfg.arm)
        self.xml = xml if xml is not None else build_scene_xml(task, self.kinematics, self.scene_cfg)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self.num_envs = num_envs
        self.physics_dt = float(self.model.opt.timestep)
        assert abs(self.physics_dt - PHYSICS_DT) < 1e-12
        self.device = torch.device(device)
        self.nthread = max(0, int(nthread))
        m = self.model
        set_scene_indices(self, m)
        self.nstate = mujoco.mj_stateSize(m, STATE_SPEC)
        self.ncontrol = mujoco.mj_stateSize(m, CONTROL_SPEC)
        # Offsets inside one state row: [time | qpos | qvel | act | history | plugin].
        self._qpos0 = 1
        self._qvel0 = 1 + m.nq
        self._act0 = 1 + m.nq + m.nv
        # Contiguous [N, 1, nstate] so rollout writes its single step in place.
        self._state3 = np.zeros((num_envs, 1, self.nstate))
        self._state = self._state3[:, 0, :]
        self._control3 = np.zeros((num_envs, 1, self.ncontrol))
        self._ctrl = self._control3[:, 0, : m.nu]
        self._mocap_pos = self._control3[:, 0, m.nu : m.nu + 3]
        self._mocap_quat = self._control3[:, 0, m.nu + 3 : m.nu + 7]
        self._mocap_quat[:, 0] = 1.0
        data = mujoco.MjData(m)
        mujoco.mj_forward(m, data)
        row = np.zeros(self.nstate)
        mujoco.mj_getState(m, data, row, STATE_SPEC)
        self._state[:] = row
        self._expected_time = np.zeros(num_envs)
        self._sim_reset = np.zeros(num_envs, dtype=bool)
        self.models: list[mujoco.MjModel] = [m] * num_envs
        self._per_world_models = False
        self._datas = [mujoco.MjData(m) for _ in range(max(1, self.nthread))]
        self._rollout = mujoco.rollout.Rollout(nthread=self.nthread)
        self._native = None  # native_stepper.NativeStepper once control_step is used
        # control_step carries each world's solver warm start (qacc_warmstart) between calls, as a
        # continuous mj_step loop does; the state rows cannot hold it (mjSTATE_FULLPHYSICS), so
        # `step` (rollout from state rows) starts every physics step cold. False: control_step
        # starts cold too and reproduces `step` to the rounding of the law (tests).
        self.carry_warmstart = True
        self._warmstart = np.zeros((num_envs, m.nv))
        self._render_data = None
        self.physics_seconds = 0.0  # wall time inside the physics calls: rollout / native control step (benchmarks)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        phys = UR_PHYSICAL[self.scene_cfg.arm.robot]
        self.arm_velocity_limits = torch.tensor(phys.velocity_limits, dtype=torch.float64)
        # torch views over the numpy state (float64, zero-copy).
        self._t_state = torch.from_numpy(self._state)
        self._ids = scene_ids(m)
        self.nominal = nominal_dynamics(m, self._ids, self._arm_dof)

    # ---- state ---------------------------------------------------------------------------------
    def state(self) -> EngineState:
        s = self._t_state
        q0, v0 = self._qpos0, self._qvel0
        tq, tv = q0 + self._target_qpos, v0 + self._target_dof
        finite = torch.isfinite(s).all(dim=1)
        mocap_pos = torch.from_numpy(self._mocap_pos)
        mocap_quat = torch.from_numpy(self._mocap_quat)
        return EngineState(
            joint_pos=s[:, q0 + self._arm_qpos[0] : q0 + self._arm_qpos[0] + 6],
            joint_vel=s[:, v0 + self._arm_dof[0] : v0 + self._arm_dof[0] + 6],
            gripper_opening=s[:, q0 + self._finger_qpos[0]],
            target_pos=s[:, tq : tq + 3],
            target_quat=s[:, tq + 3 : tq + 7],
            # MuJoCo's free-joint velocity: linear in the world frame, angular in the body frame.
            target_lin_vel=s[:, tv : tv + 3],
            target_ang_vel=s[:, tv + 3 : tv + 6],
            receptive_pos=mocap_pos,
            receptive_quat=mocap_quat,
            finite=finite,
            sim_reset=torch.from_numpy(self._sim_reset.copy()),
        )

    # ---- stepping ------------------------------------------------------------------------------
    def step(self, arm_torque: torch.Tensor, gripper_close: torch.Tensor) -> None:
        tau = arm_torque.detach().to(dtype=torch.float64, device="cpu").numpy()
        self._ctrl[:, self._arm_act] = tau
        close = gripper_close.detach().to("cpu").numpy().astype(bool)
        self._ctrl[:, self._gripper_act] = np.where(close, -self._gripper_speed, self._gripper_speed)
        start = time.perf_counter()
        self._rollout.rollout(self.models, self._datas, self._state, self._control3, control_spec=CONTROL_SPEC,
                              skip_checks=True, nstep=1, state=self._state3)
        self.physics_seconds += time.perf_counter() - start
        self._warmstart[:] = 0.0  # rollout does not hand back the warm start: control_step restarts cold
        self._expected_time += self.physics_dt
        # MuJoCo resets a world whose state went bad (NaN / huge accelerations): time restarts.
        self._sim_reset |= self._state[:, 0] < self._expected_time - 0.5 * self.physics_dt

    def enable_native(self) -> None:
        """Build/load the native control-step kernel (raises native_stepper.NativeStepperUnavailable)."""
        if self._native is None:
            from .native_stepper import NativeStepper

            self._native = NativeStepper()

    def control_step(self, inputs: "ControlInputs", gripper_close: torch.Tensor, nstep: int) -> None:
        """`nstep` physics steps with the OSC law, motor delay and dynamic friction evaluated in
        native code between them (envs/native/osc_stepper.cpp), all worlds on `nthread` threads.
        The same computation as `nstep` times (torch law -> `step`), up to the rounding of the law."""
        self.enable_native()
        close = gripper_close.detach().to("cpu").numpy().astype(bool)
        self._ctrl[:, self._gripper_act] = np.where(close, -self._gripper_speed, self._gripper_speed)
        failed = self._native.run(self._native_layout, (id(self.models), self._per_world_models), inputs, nstep,
                                  max(1, self.nthread), self._warmstart if self.carry_warmstart else None)
        self.physics_seconds += self._native.last_call_seconds
        if failed is not None:
            raise RuntimeError(f"MuJoCo raised an error in world(s) {np.flatnonzero(failed).tolist()}")
        self._expected_time += nstep * self.physics_dt
        # As in `step`: a world MuJoCo reset inside the call has its time restarted.
        self._sim_reset |= self._state[:, 0] < self._expected_time - 0.5 * self.physics_dt

    def _native_layout(self) -> dict:
        """The worlds as the native kernel sees them (re-read when the model list changes)."""
        return {
            "models": self.models, "datas": self._datas,
            "nv": self.model.nv, "state": self._state3, "nstate": self.nstate, "state_spec": int(STATE_SPEC),
            "control": self._control3, "ncontrol": self.ncontrol, "control_spec": int(CONTROL_SPEC),
            "arm_actuator": self._arm_act, "arm_qpos": self._arm_qpos, "arm_dof": self._arm_dof,
        }

    # ---- resets --------------------------------------------------------------------------------
    def reset_envs(self, env_ids: torch.Tensor, reset: ResetState) -> None:
        ids = env_ids.to("cpu").numpy()
        if ids.size == 0:
            return
        rows = np.zeros((ids.size, self.nstate))
        q0 = self._qpos0
        rows[:, q0 : q0 + self.model.nq] = self.model.qpos0
        rows[:, q0 + self._arm_qpos[0] : q0 + self._arm_qpos[0] + 6] = reset.joint_pos.to(torch.float64).cpu().numpy()
        closed = reset.gripper_closed.cpu().numpy().astype(bool)
        from ..assets.gripper import CLOSE_SETPOINT, FINGER_STROKE

        opening = np.where(closed, 0.0, FINGER_STROKE)
        if reset.gripper_opening is not None:
            opening = np.clip(reset.gripper_opening.to(torch.float64).cpu().numpy(), 0.0, FINGER_STROKE)
        for j in self._finger_qpos:
            rows[:, q0 + j] = opening
        rows[:, self._act0 + self._gripper_act_adr] = np.where(closed, CLOSE_SETPOINT, FINGER_STROKE)
        tq = q0 + self._target_qpos
        rows[:, tq : tq + 3] = reset.target_pos.to(torch.float64).cpu().numpy()
        rows[:, tq + 3 : tq + 7] = reset.target_quat.to(torch.float64).cpu().numpy()
        self._state[ids] = rows
        self._mocap_pos[ids] = reset.receptive_pos.to(torch.float64).cpu().numpy()
        self._mocap_quat[ids] = reset.receptive_quat.to(torch.float64).cpu().numpy()
        self._ctrl[ids] = 0.0
        self._expected_time[ids] = 0.0
        self._sim_reset[ids] = False
        self._warmstart[ids] = 0.0

    # ---- randomization -------------------------------------------------------------------------
    def _ensure_per_world_models(self) -> None:
        if not self._per_world_models:
            self.models = [copy.deepcopy(self.model) for _ in range(self.num_envs)]
            self._per_world_models = True

    def set_dynamics(self, env_ids: torch.Tensor, params: DynamicsParams) -> None:
        """Write per-env physical parameters into those worlds' models (copies made on first use)."""
        self._ensure_per_world_models()
        base, ids = self.model, self._ids
        g = self._gripper_act
        p = {k: v.to(torch.float64).cpu().numpy() for k, v in vars(params).items()}
        for row, env in enumerate(env_ids.to("cpu").tolist()):
            m = self.models[env]
            # MuJoCo has a single sliding coefficient: use the static one (see DynamicsParams).
            m.geom_friction[ids["robot_geoms"], 0] = p["robot_friction"][row, 0]
            m.geom_friction[ids["target_geoms"], 0] = p["target_friction"][row, 0]
            m.geom_friction[ids["receptive_geoms"], 0] = p["receptive_friction"][row, 0]
            m.geom_friction[ids["table_geoms"], 0] = p["table_friction"][row, 0]
            # Mass scaling with inertia scaled alike (uniform density change).
            for key, scale in (("robot_bodies", p["robot_mass_scale"][row]),
                               ("receptive_body", p["receptive_mass_scale"][row]),
                               ("table_body", p["table_mass_scale"][row])):
                b = ids[key]
                m.body_mass[b] = base.body_mass[b] * scale
                m.body_inertia[b] = base.body_inertia[b] * scale
            b = ids["target_body"]
            target_scale = p["target_mass"][row] / base.body_mass[b]
            m.body_mass[b] = p["target_mass"][row]
            m.body_inertia[b] = base.body_inertia[b] * target_scale
            m.dof_frictionloss[self._arm_dof] = p["joint_friction"][row]
            m.dof_armature[self._arm_dof] = p["joint_armature"][row]
            m.dof_damping[self._arm_dof] = p["joint_damping"][row]
            kp = base.actuator_gainprm[g, 0] * p["gripper_stiffness_scale"][row]
            kv = -base.actuator_biasprm[g, 2] * p["gripper_damping_scale"][row]
            m.actuator_gainprm[g, 0] = kp
            m.actuator_biasprm[g, 1] = -kp
            m.actuator_biasprm[g, 2] = -kv
            # Masses and inertias feed derived constants (body/dof inverse weights that scale every
            # constraint's impedance); left stale, a re-massed object in contact is shot out at
            # absurd speeds (measured: 46 of 64 randomized near-goal peg resets blew up in 2 s).
            # (The stepping scratch data serves: mj_setConst only needs memory of this model's size.)
            mujoco.mj_setConst(m, self._datas[0])

    def set_arm_state(self, env_id: int, joint_pos, joint_vel) -> None:
        """Overwrite one world's arm joint positions/velocities (the sim node pins a "blocked" arm)."""
        q0, v0 = self._qpos0, self._qvel0
        self._state[env_id, q0 + self._arm_qpos[0] : q0 + self._arm_qpos[0] + 6] = joint_pos
        self._state[env_id, v0 + self._arm_dof[0] : v0 + self._arm_dof[0] + 6] = joint_vel
        self._warmstart[env_id] = 0.0

    # ---- debugging / tests ---------------------------------------------------------------------
    def corrupt_world(self, env_id: int, kind: str = "nan") -> None:
        """Make one world unstable (tests): 'nan' writes NaN into its qpos, 'spin' a huge joint speed."""
        if kind == "nan":
            self._state[env_id, self._qpos0] = math.nan
        elif kind == "spin":
            self._state[env_id, self._qvel0 + self._arm_dof[0]] = 1e3
        else:
            raise ValueError(f"unknown corruption {kind!r}; valid: nan, spin")

    def raw_state(self) -> np.ndarray:
        return self._state

    # ---- checkpoints ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, np.ndarray]:
        """Everything that evolves between steps (state rows, controls, mocap, warm starts, flags); the
        per-world model parameters are the env's to restore (set_dynamics from its DynamicsParams)."""
        return {"state": self._state.copy(), "control": self._control3.copy(), "warmstart": self._warmstart.copy(),
                "expected_time": self._expected_time.copy(), "sim_reset": self._sim_reset.copy()}

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        for key, dst in (("state", self._state), ("control", self._control3), ("warmstart", self._warmstart),
                         ("expected_time", self._expected_time), ("sim_reset", self._sim_reset)):
            src = np.asarray(snap[key])
            if src.shape != dst.shape:
                raise ValueError(f"engine snapshot {key!r} has shape {src.shape}, this engine needs {dst.shape}")
            dst[...] = src  # in place: the torch views and the native stepper keep pointing here

    # ---- rendering -----------------------------------------------------------------------------
    def render(self, env_id: int, camera: str, width: int = 224, height: int = 224) -> np.ndarray:
        """RGB uint8 [height, width, 3] of world `env_id` from a named camera (MUJOCO_GL=egl/osmesa)."""
        check_camera(self.model, camera)
        m = self.models[env_id]
        if self._render_data is None:
            self._render_data = mujoco.MjData(self.model)
        d = self._render_data
        mujoco.mj_setState(m, d, self._state[env_id], STATE_SPEC)
        d.mocap_pos[0] = self._mocap_pos[env_id]
        d.mocap_quat[0] = self._mocap_quat[env_id]
        mujoco.mj_forward(m, d)
        return render_data(self.model, d, self._renderers, camera, width, height)

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
        self._rollout.close() if hasattr(self._rollout, "close") else None


# ---- model indices and nominal parameters (every engine that loads this MJCF) -------------------
def set_scene_indices(engine, m: mujoco.MjModel) -> None:
    """The joint, actuator and object addresses of the generated scene, set on ``engine``."""
    engine._arm_qpos = np.array([m.jnt_qposadr[m.joint(n).id] for n in ARM_JOINT_NAMES])
    engine._arm_dof = np.array([m.jnt_dofadr[m.joint(n).id] for n in ARM_JOINT_NAMES])
    assert (np.diff(engine._arm_qpos) == 1).all() and (np.diff(engine._arm_dof) == 1).all()
    engine._finger_qpos = [int(m.jnt_qposadr[m.joint(n).id]) for n in FINGER_JOINTS]
    engine._target_qpos = int(m.jnt_qposadr[m.joint(TARGET_JOINT).id])
    engine._target_dof = int(m.jnt_dofadr[m.joint(TARGET_JOINT).id])
    engine._gripper_act = int(m.actuator(GRIPPER_ACTUATOR).id)
    engine._gripper_act_adr = int(m.actuator_actadr[engine._gripper_act])
    engine._gripper_speed = float(m.actuator_ctrlrange[engine._gripper_act, 1])
    engine._arm_act = np.array([m.actuator(f"{n}_motor").id for n in ARM_JOINT_NAMES])


def scene_ids(m: mujoco.MjModel) -> dict[str, np.ndarray]:
    """Body and geom ids the randomization writes to, by group."""
    robot_bodies = {m.body(n).id for n in ROBOT_BODIES}

    def geoms_of(body_ids):
        return np.array([g for g in range(m.ngeom) if m.geom_bodyid[g] in body_ids], dtype=np.int64)

    return {
        "robot_bodies": np.array(sorted(robot_bodies)),
        "arm_bodies": np.array([m.body(n).id for n in ARM_BODY_NAMES]),
        "robot_geoms": geoms_of(robot_bodies),
        "target_geoms": geoms_of({m.body(TARGET_BODY).id}),
        "receptive_geoms": geoms_of({m.body(RECEPTIVE_BODY).id}),
        "table_geoms": geoms_of({m.body(TABLE_BODY).id}),
        "target_body": np.array([m.body(TARGET_BODY).id]),
        "receptive_body": np.array([m.body(RECEPTIVE_BODY).id]),
        "table_body": np.array([m.body(TABLE_BODY).id]),
    }


def nominal_dynamics(m: mujoco.MjModel, ids: dict[str, np.ndarray], arm_dof: np.ndarray) -> DynamicsParams:
    """The model's own physical parameters as one DynamicsParams row (float64, as events sample them)."""

    def fr(geoms):
        mu = float(m.geom_friction[geoms[0], 0])
        return torch.tensor([[mu, mu]], dtype=torch.float64)

    return DynamicsParams(
        robot_friction=fr(ids["robot_geoms"]),
        target_friction=fr(ids["target_geoms"]),
        receptive_friction=fr(ids["receptive_geoms"]),
        table_friction=fr(ids["table_geoms"]),
        robot_mass_scale=torch.ones(1, dtype=torch.float64),
        target_mass=torch.tensor([float(m.body_mass[ids["target_body"][0]])], dtype=torch.float64),
        receptive_mass_scale=torch.ones(1, dtype=torch.float64),
        table_mass_scale=torch.ones(1, dtype=torch.float64),
        joint_friction=torch.tensor(m.dof_frictionloss[arm_dof])[None].clone(),
        joint_armature=torch.tensor(m.dof_armature[arm_dof])[None].clone(),
        joint_damping=torch.tensor(m.dof_damping[arm_dof])[None].clone(),
        gripper_stiffness_scale=torch.ones(1, dtype=torch.float64),
        gripper_damping_scale=torch.ones(1, dtype=torch.float64),
    )


def check_camera(model: mujoco.MjModel, camera: str) -> None:
    names = [model.camera(i).name for i in range(model.ncam)]
    if camera not in names:
        raise ValueError(f"unknown camera {camera!r}; valid: {names}")


def render_data(model: mujoco.MjModel, data: mujoco.MjData, renderers: dict, camera: str, width: int,
                height: int) -> np.ndarray:
    """Render an already forwarded MjData from a named camera, one cached Renderer per image size
    (shared by every engine that renders through MuJoCo's OpenGL renderer)."""
    key = (width, height)
    if key not in renderers:
        renderers[key] = mujoco.Renderer(model, height=height, width=width)
    renderer = renderers[key]
    renderer.update_scene(data, camera=camera)
    return renderer.render().copy()
