"""MuJoCo Warp engine: the same generated MJCF as envs/mujoco_engine.py, N worlds in one batched
Warp model/data, on a GPU (``device="cuda:0"``) or on Warp's CPU device (``device="cpu"``, slow:
a correctness platform, every test runs it there).

- State: zero-copy float32 torch views of the Warp arrays (``wp.to_torch``) on the engine's
  device; `state()` hands out views (no copy, no host synchronisation).
- `step(arm_torque, gripper_close)` writes the controls in place and advances every world one
  physics step (``mjw.step``), replayed from a captured Warp graph once captured (CPU and CUDA:
  `use_graph`), so the torch law between physics steps (the env's law_backend="torch" path) is
  the only Python per physics step.
- `control_step(inputs, gripper_close, nstep)` (the env's law_backend="native" path, its
  default): the OSC law, motor delay and dynamic friction as a Warp kernel (envs/warp_osc.py)
  before each of the `nstep` physics steps, all `nstep` x (kernel + ``mjw.step``) captured in ONE
  Warp graph and replayed per policy step: no Python and no host synchronisation between the
  physics steps of a policy step. The env keeps its torch kinematics for the target composition
  and observations (`native_control_math = False`: no host C++ core on a device engine).
- Resets write the chosen worlds' qpos/qvel/act/ctrl/mocap and clear their solver warm start,
  time and overflow flags, with torch index writes on the device.
- Per-world dynamics: the randomized model fields are batched (``put_model(batch_sizes=...)``)
  and written per world through torch views; changed masses/inertias/armatures are followed by
  ``mjw.set_const`` (MuJoCo's mj_setConst: body/dof inverse weights, actuator_acc0, subtree
  masses), without which a re-massed object in contact is shot out (test_randomized_dynamics).
- Contact and constraint buffers are sized per task (`buffer_sizes`); MuJoCo Warp flags an
  overflow per world in ``d.overflow`` (njmax: that world; the contact buffer is shared by all
  worlds, so its overflow flags every world). A flagged world is reported through
  ``EngineState.sim_reset`` / ``EngineState.overflow`` (the env terminates it as abnormal) and
  counted in `overflow_count` when it is reset: never silent.

MuJoCo Warp has no counterpart of mj_step's automatic reset of a diverged world; a blow-up shows
as non-finite or too-fast state, which the env's abnormal termination already catches.
"""

from __future__ import annotations

import math
import time

import mujoco
import numpy as np
import torch

from omnireset_control.constants import PHYSICS_DT

from ..assets.arm import UR_PHYSICAL
from ..assets.gripper import CLOSE_SETPOINT, FINGER_STROKE
from ..assets.scene import SceneConfig, build_scene_xml
from ..tasks.spec import TaskSpec
from .engine import DynamicsParams, EngineState, ResetState
from .mujoco_engine import nominal_dynamics, scene_ids, set_scene_indices

INSTALL_HINT = "pip install mujoco-warp==4.0.0 warp-lang==1.19.0 (pinned in requirements/python.txt)"


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (missing package or device); the message says what to install/use."""


def import_warp():
    """(warp, mujoco_warp) or EngineUnavailable naming what is missing and how to get it."""
    try:
        import warp as wp
        import mujoco_warp as mjw
    except ImportError as exc:  # ModuleNotFoundError included
        missing = getattr(exc, "name", None) or str(exc)
        raise EngineUnavailable(f"engine 'mujoco_warp' needs the Python package {missing!r}, which is not "
                                f"installed; install it with: {INSTALL_HINT}") from None
    wp.config.quiet = True  # no start-up banner
    if hasattr(wp, "LOG_WARNING"):
        wp.config.log_level = wp.LOG_WARNING  # no line per compiled/loaded kernel module
    return wp, mjw


def check_device(device: str | torch.device) -> str:
    """The Warp device name for `device` ('cpu', 'cuda', 'cuda:N'), or EngineUnavailable."""
    name = str(device)
    if name == "cpu":
        return "cpu"
    if not name.startswith("cuda"):
        raise EngineUnavailable(f"unknown device {name!r}; valid: cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise EngineUnavailable(f"device {name!r} needs an NVIDIA GPU with CUDA, and torch sees none "
                                f"(torch {torch.__version__}); use --device cpu here, or a GPU machine with a "
                                f"CUDA build of torch")
    wp, _ = import_warp()
    wp.init()
    if not wp.is_cuda_available():
        raise EngineUnavailable(f"device {name!r}: Warp finds no CUDA device/driver; use --device cpu or install "
                                f"an NVIDIA driver")
    return "cuda:0" if name == "cuda" else name


# Contact / constraint buffers per world, by task (MuJoCo C peaks measured on random-action
# rollouts from the tasks' resets were 4 contacts / 27 rows; grasps and insertions touch more).
# nconmax: contacts per world (the whole buffer, nconmax * N, is shared by the worlds);
# njmax: constraint rows per world (pyramidal cones: 2 (condim - 1) rows per contact).
DEFAULT_BUFFERS = (48, 320)
TASK_BUFFERS: dict[str, tuple[int, int]] = {
    "peg_insertion": (48, 320),
    "drawer_insertion": (64, 400),
    "leg_twisting": (48, 320),
    "cube_stacking": (48, 320),
    "wall_slide": (48, 320),
    "cupcake_on_plate": (48, 320),
}


def buffer_sizes(task_name: str) -> tuple[int, int]:
    return TASK_BUFFERS.get(task_name, DEFAULT_BUFFERS)


# Model fields randomized per world (set_dynamics) and the constants derived from them.
BATCHED_FIELDS = (
    "geom_friction", "body_mass", "body_inertia", "dof_frictionloss", "dof_armature", "dof_damping",
    "actuator_gainprm", "actuator_biasprm",
    # derived by set_const from masses / inertias / armatures
    "body_subtreemass", "body_invweight0", "dof_invweight0", "actuator_acc0", "tendon_invweight0",
)


class MujocoWarpEngine:
    dtype = torch.float32
    # "native": control_step, the Warp kernel law inside the captured policy step; "torch": the
    # env's batched torch law between captured single `step`s (the reference).
    law_backends = ("native", "torch")
    native_control_math = False  # the env's target composition / observations stay in torch here

    def __init__(self, task: TaskSpec, num_envs: int, scene: SceneConfig | None = None, kinematics=None,
                 device: str = "cpu", nconmax: int | None = None, njmax: int | None = None,
                 use_graph: bool = True):
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        wp, mjw = import_warp()
        self._wp, self._mjw = wp, mjw
        self.wp_device = check_device(device)
        self.device = torch.device(self.wp_device)
        from ..assets.arm import load_arm_kinematics

        self.scene_cfg = scene or SceneConfig()
        self.kinematics = kinematics or load_arm_kinematics(self.scene_cfg.arm)
        self.xml = build_scene_xml(task, self.kinematics, self.scene_cfg)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        m = self.model
        self.num_envs = num_envs
        self.physics_dt = float(m.opt.timestep)
        assert abs(self.physics_dt - PHYSICS_DT) < 1e-12
        default_con, default_jmax = buffer_sizes(task.name)
        self.nconmax = int(nconmax if nconmax is not None else default_con)
        self.njmax = int(njmax if njmax is not None else default_jmax)
        set_scene_indices(self, m)
        assert m.nmocap == 1
        phys = UR_PHYSICAL[self.scene_cfg.arm.robot]
        self.arm_velocity_limits = torch.tensor(phys.velocity_limits, dtype=torch.float32, device=self.device)
        self._ids = scene_ids(m)
        self.nominal = nominal_dynamics(m, self._ids, self._arm_dof)  # float64 on the CPU: events sample it
        self.physics_seconds = 0.0
        self.use_graph = bool(use_graph)
        self._graph = None
        self._policy_graphs: dict = {}  # (nstep, max_delay, clips, friction speeds) -> captured graph
        self._law = None  # control_step's device buffers (built on first use)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._render_data = None

        data = mujoco.MjData(m)  # not forwarded: qpos0 overlaps objects; resets write every world
        with wp.ScopedDevice(self.wp_device):
            batch = {f: num_envs for f in BATCHED_FIELDS if getattr(m, f, np.zeros(0)).size > 0}
            self.wm = mjw.put_model(m, batch_sizes=batch)
            # Buffer overflows are counted and terminate the world (below); the solver's iteration
            # limits are not overflows (the scene's ls_iterations=10 hits them routinely): no print.
            buffers = (mjw.OverflowType.NEFC | mjw.OverflowType.NJMAX_NNZ | mjw.OverflowType.BROADPHASE
                       | mjw.OverflowType.NARROWPHASE | mjw.OverflowType.CCD)
            self.wm.opt.warn_overflow = int(buffers)
            self._overflow_mask = int(buffers)
            self.wd = mjw.put_data(m, data, nworld=num_envs, nconmax=self.nconmax, njmax=self.njmax)
        t = wp.to_torch
        d = self.wd
        self._qpos, self._qvel, self._act, self._ctrl = t(d.qpos), t(d.qvel), t(d.act), t(d.ctrl)
        self._time, self._warmstart, self._overflow = t(d.time), t(d.qacc_warmstart), t(d.overflow)
        self._mocap_pos, self._mocap_quat = t(d.mocap_pos)[:, 0], t(d.mocap_quat)[:, 0]  # MuJoCo order (w,x,y,z)
        self._qpos0 = torch.as_tensor(m.qpos0, dtype=torch.float32, device=self.device)
        a0 = int(self._arm_act[0])
        self._arm_act_slice = slice(a0, a0 + 6) if (np.diff(self._arm_act) == 1).all() else None
        self._arm_act_t = torch.as_tensor(self._arm_act, device=self.device)
        q0, v0 = int(self._arm_qpos[0]), int(self._arm_dof[0])
        self._arm_q, self._arm_v = slice(q0, q0 + 6), slice(v0, v0 + 6)
        self._tq, self._tv = self._target_qpos, self._target_dof
        # Per-world overflow episodes seen at reset (the count the env logs).
        self.overflow_count = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        # Model views for per-world parameters ([N, ...] float32 on the device).
        self._mv = {f: t(getattr(self.wm, f)) for f in BATCHED_FIELDS if f in batch}
        self._base = {f: self._mv[f][0].clone() for f in self._mv}
        self._dyn_host = None  # host copy of the mass-like params per world (when to rerun set_const)

    # ---- state ---------------------------------------------------------------------------------
    def state(self) -> EngineState:
        qpos, qvel = self._qpos, self._qvel
        tq, tv = self._tq, self._tv
        finite = torch.isfinite(qpos).all(dim=1) & torch.isfinite(qvel).all(dim=1)
        overflow = (self._overflow & self._overflow_mask) != 0
        return EngineState(
            joint_pos=qpos[:, self._arm_q],
            joint_vel=qvel[:, self._arm_v],
            gripper_opening=qpos[:, self._finger_qpos[0]],
            target_pos=qpos[:, tq : tq + 3],
            target_quat=qpos[:, tq + 3 : tq + 7],
            target_lin_vel=qvel[:, tv : tv + 3],
            target_ang_vel=qvel[:, tv + 3 : tv + 6],
            receptive_pos=self._mocap_pos,
            receptive_quat=self._mocap_quat,
            finite=finite,
            sim_reset=overflow,
            overflow=overflow,
        )

    # ---- stepping ------------------------------------------------------------------------------
    def _set_controls(self, arm_torque: torch.Tensor, gripper_close: torch.Tensor) -> None:
        tau = arm_torque.detach().to(device=self.device, dtype=torch.float32)
        if self._arm_act_slice is not None:
            self._ctrl[:, self._arm_act_slice] = tau
        else:
            self._ctrl[:, self._arm_act_t] = tau
        close = gripper_close.detach().to(self.device)
        self._ctrl[:, self._gripper_act] = torch.where(close, -self._gripper_speed, self._gripper_speed)

    def _warp_scope(self):
        """Warp on the engine's device, ordered with torch's work without a host synchronisation:
        on torch's current CUDA stream when that is a side stream; when torch is on the legacy
        default stream (its default), on Warp's own stream -- a blocking stream, which CUDA orders
        with the legacy stream implicitly, and one a graph can be captured on (CUDA refuses to
        capture on the legacy stream itself). [GPU path not run on the CPU-only dev machine.]"""
        import contextlib

        wp = self._wp
        stack = contextlib.ExitStack()
        stack.enter_context(wp.ScopedDevice(self.wp_device))
        if self.device.type == "cuda":
            torch_stream = torch.cuda.current_stream(self.device)
            if torch_stream.cuda_stream != 0:
                stack.enter_context(wp.ScopedStream(wp.stream_from_torch(torch_stream)))
        return stack

    def _physics_step(self) -> None:
        wp, mjw = self._wp, self._mjw
        with self._warp_scope():
            if not self.use_graph:
                mjw.step(self.wm, self.wd)
                return
            if self._graph is None:
                # Capture one physics step; the graph reads ctrl / state / model fields in place,
                # so torch writes between replays change what it does. The state is put back
                # after the compile step and the capture (which may or may not also run the
                # launches), so that this call is exactly one physics step.
                saved = self._snapshot_state()
                mjw.step(self.wm, self.wd)  # compiles every kernel outside the capture
                with wp.ScopedCapture() as capture:
                    mjw.step(self.wm, self.wd)
                self._graph = capture.graph
                self._restore_state(saved)
            wp.capture_launch(self._graph)

    def _snapshot_state(self):
        return [x.clone() for x in (self._qpos, self._qvel, self._act, self._time, self._warmstart, self._overflow)]

    def _restore_state(self, saved) -> None:
        for dst, src in zip((self._qpos, self._qvel, self._act, self._time, self._warmstart, self._overflow), saved):
            dst.copy_(src)

    def step(self, arm_torque: torch.Tensor, gripper_close: torch.Tensor) -> None:
        """One physics step of every world with arm torques [N,6] and binary gripper commands [N]."""
        self._set_controls(arm_torque, gripper_close)
        start = time.perf_counter()
        self._physics_step()
        self.physics_seconds += time.perf_counter() - start

    # ---- the policy step: law kernel + physics, one graph -----------------------------------------
    def enable_native(self) -> None:
        """Load the law kernel module (envs/warp_osc.py); NativeStepperUnavailable if it cannot."""
        if self._law is not None:
            return
        from .native_stepper import NativeStepperUnavailable

        try:
            from . import warp_osc  # noqa: F401  (kernels compile on first launch, then Warp's cache)
        except Exception as exc:  # noqa: BLE001 -- any import/compile failure: the env falls back to torch
            raise NativeStepperUnavailable(f"the Warp law kernels do not load: {exc}") from None
        self._law = {}

    def _law_buffers(self, inputs, max_delay: int) -> dict:
        """Fixed device buffers the captured graph reads (a graph binds addresses: the env's own
        tensors are reassigned between steps, so they are copied in and out of these)."""
        from . import warp_osc

        wp, dev, f32, n = self._wp, self.device, torch.float32, self.num_envs
        key = inputs.kinematics.tobytes()
        law = self._law
        if law.get("kinematics") != key or law.get("max_delay") != max_delay:
            z = lambda *shape, dtype=f32: torch.zeros(*shape, dtype=dtype, device=dev)  # noqa: E731
            t = dict(target_pos=z(n, 3), target_rot=z(n, 3, 3), kp=z(n, 6), kd=z(n, 6),
                     torque_limit=torch.full((6,), math.inf, dtype=f32, device=dev),
                     delay_buffer=z(max_delay + 1, n, 6), delay=z(n, dtype=torch.int64),
                     friction_on=z(1, dtype=torch.int32), friction_static=z(n, 6), friction_ratio=z(n, 6),
                     nonfinite_count=z(n, dtype=torch.int64))
            with wp.ScopedDevice(self.wp_device):
                rots, trans = warp_osc.chain_constants(inputs.kinematics, self.wp_device)
                idx = {name: wp.array(np.asarray(v, dtype=np.int32), dtype=wp.int32)
                       for name, v in (("arm_qpos", self._arm_qpos), ("arm_dof", self._arm_dof),
                                       ("arm_act", self._arm_act))}
            law.clear()
            law.update(kinematics=key, max_delay=max_delay, t=t, rots=rots, trans=trans, idx=idx)
            self._policy_graphs.clear()
        return law

    def _launch_law(self, law: dict, scalars: tuple) -> None:
        from . import warp_osc

        wp, t, d = self._wp, law["t"], self.wd
        pos_clip, rot_clip, stiction, stribeck = scalars
        vec3, mat33 = wp.vec3, wp.mat33
        wp.launch(warp_osc.control_substep_kernel, dim=self.num_envs, inputs=[
            d.qpos, d.qvel, d.ctrl, law["idx"]["arm_qpos"], law["idx"]["arm_dof"], law["idx"]["arm_act"],
            law["rots"], law["trans"], wp.from_torch(t["target_pos"], dtype=vec3),
            wp.from_torch(t["target_rot"], dtype=mat33), wp.from_torch(t["kp"]), wp.from_torch(t["kd"]),
            pos_clip, rot_clip, wp.from_torch(t["torque_limit"]), wp.from_torch(t["delay_buffer"]),
            wp.from_torch(t["delay"], dtype=wp.int64), law["max_delay"], wp.from_torch(t["friction_on"]),
            wp.from_torch(t["friction_static"]), wp.from_torch(t["friction_ratio"]), stiction, stribeck,
            wp.from_torch(t["nonfinite_count"], dtype=wp.int64)])

    def control_step(self, inputs, gripper_close: torch.Tensor, nstep: int) -> None:
        """`nstep` physics steps with the OSC law, motor delay and dynamic friction in a Warp kernel
        before each (envs/warp_osc.py), replayed from one captured graph per policy step. The same
        computation as `nstep` times (torch law -> `step`), up to float32 rounding of the law;
        `inputs` (native_stepper.ControlInputs, any float dtype, any device) has its delay buffer
        and non-finite counts updated in place, as the C++ stepper does."""
        self.enable_native()
        wp, mjw = self._wp, self._mjw
        max_delay = int(inputs.delay_buffer.shape[0]) - 1
        law = self._law_buffers(inputs, max_delay)
        t = law["t"]

        def load_inputs():
            t["target_pos"].copy_(inputs.target_pos)
            t["target_rot"].copy_(inputs.target_rot)
            t["kp"].copy_(inputs.kp)
            t["kd"].copy_(inputs.kd)
            t["delay_buffer"].copy_(inputs.delay_buffer)
            t["delay"].copy_(inputs.delay)
            t["nonfinite_count"].copy_(inputs.nonfinite_count)
            friction = inputs.friction_static is not None
            t["friction_on"].fill_(1 if friction else 0)
            if friction:
                t["friction_static"].copy_(inputs.friction_static)
                t["friction_ratio"].copy_(inputs.friction_ratio)

        load_inputs()
        close = gripper_close.detach().to(self.device)
        self._ctrl[:, self._gripper_act] = torch.where(close, -self._gripper_speed, self._gripper_speed)
        scalars = (float(inputs.pos_clip), float(inputs.rot_clip), float(inputs.stiction_velocity),
                   float(inputs.stribeck_velocity))
        start = time.perf_counter()
        with self._warp_scope():
            if not self.use_graph:
                for _ in range(nstep):
                    self._launch_law(law, scalars)
                    mjw.step(self.wm, self.wd)
            else:
                key = (int(nstep), scalars)
                graph = self._policy_graphs.get(key)
                if graph is None:
                    # As _physics_step: run once uncaptured (compiles every kernel), capture, then
                    # put the worlds and the law's state back so this call is exactly one policy step.
                    saved = self._snapshot_state()
                    for _ in range(nstep):
                        self._launch_law(law, scalars)
                        mjw.step(self.wm, self.wd)
                    with wp.ScopedCapture() as capture:
                        for _ in range(nstep):
                            self._launch_law(law, scalars)
                            mjw.step(self.wm, self.wd)
                    graph = self._policy_graphs[key] = capture.graph
                    self._restore_state(saved)
                    load_inputs()
                wp.capture_launch(graph)
        self.physics_seconds += time.perf_counter() - start
        inputs.delay_buffer.copy_(t["delay_buffer"])
        inputs.nonfinite_count.copy_(t["nonfinite_count"])

    def synchronize(self) -> None:
        self._wp.synchronize_device(self.wp_device)

    # ---- resets --------------------------------------------------------------------------------
    def reset_envs(self, env_ids: torch.Tensor, reset: ResetState) -> None:
        if env_ids.numel() == 0:
            return
        dev, f32 = self.device, torch.float32
        ids = env_ids.to(dev)
        m = ids.numel()
        q = self._qpos0.expand(m, -1).clone()
        q[:, self._arm_q] = reset.joint_pos.to(dev, f32)
        closed = reset.gripper_closed.to(dev).bool()
        if reset.gripper_opening is not None:
            opening = reset.gripper_opening.to(dev, f32).clamp(0.0, FINGER_STROKE)
        else:
            opening = torch.where(closed, 0.0, FINGER_STROKE).to(f32)
        for j in self._finger_qpos:
            q[:, j] = opening
        q[:, self._tq : self._tq + 3] = reset.target_pos.to(dev, f32)
        q[:, self._tq + 3 : self._tq + 7] = reset.target_quat.to(dev, f32)
        flagged = (self._overflow[ids] & self._overflow_mask) != 0
        self.overflow_count[ids] += flagged.to(torch.int64)
        self._qpos[ids] = q
        self._qvel[ids] = 0.0
        act = torch.zeros(m, self._act.shape[1], dtype=f32, device=dev)
        act[:, self._gripper_act_adr] = torch.where(closed, CLOSE_SETPOINT, FINGER_STROKE).to(f32)
        self._act[ids] = act
        self._ctrl[ids] = 0.0
        self._mocap_pos[ids] = reset.receptive_pos.to(dev, f32)
        self._mocap_quat[ids] = reset.receptive_quat.to(dev, f32)
        self._warmstart[ids] = 0.0
        self._time[ids] = 0.0
        self._overflow[ids] = 0

    @property
    def total_overflows(self) -> int:
        """Worlds ended by a buffer overflow so far, plus those flagged now (host sync)."""
        now = (self._overflow & self._overflow_mask) != 0
        return int(self.overflow_count.sum()) + int(now.sum())

    # ---- randomization -------------------------------------------------------------------------
    def set_dynamics(self, env_ids: torch.Tensor, params: DynamicsParams) -> None:
        """Per-world physical parameters into the batched model fields (as MujocoEngine.set_dynamics)."""
        if env_ids.numel() == 0:
            return
        dev, f32 = self.device, torch.float32
        ids = env_ids.to(dev)
        mv, base, g = self._mv, self._base, self._gripper_act
        p = {k: v.to(dev, f32) for k, v in vars(params).items()}
        fr = mv["geom_friction"]
        for key, name in (("robot_geoms", "robot_friction"), ("target_geoms", "target_friction"),
                          ("receptive_geoms", "receptive_friction"), ("table_geoms", "table_friction")):
            geoms = torch.as_tensor(self._ids[key], device=dev)
            # MuJoCo has one sliding coefficient: the static one (see DynamicsParams).
            fr[ids[:, None], geoms[None, :], 0] = p[name][:, 0:1].expand(-1, len(geoms))
        mass, inertia = mv["body_mass"], mv["body_inertia"]
        for key, scale in (("robot_bodies", p["robot_mass_scale"]), ("receptive_body", p["receptive_mass_scale"]),
                           ("table_body", p["table_mass_scale"])):
            b = torch.as_tensor(self._ids[key], device=dev)
            mass[ids[:, None], b[None, :]] = base["body_mass"][b][None, :] * scale[:, None]
            inertia[ids[:, None], b[None, :]] = base["body_inertia"][b][None, :, :] * scale[:, None, None]
        tb = int(self._ids["target_body"][0])
        mass[ids, tb] = p["target_mass"]
        inertia[ids, tb] = base["body_inertia"][tb][None, :] * (p["target_mass"] / base["body_mass"][tb])[:, None]
        dofs = self._arm_v
        mv["dof_frictionloss"][ids, dofs] = p["joint_friction"]
        mv["dof_armature"][ids, dofs] = p["joint_armature"]
        mv["dof_damping"][ids, dofs] = p["joint_damping"]
        kp = base["actuator_gainprm"][g, 0] * p["gripper_stiffness_scale"]
        kv = -base["actuator_biasprm"][g, 2] * p["gripper_damping_scale"]
        mv["actuator_gainprm"][ids, g, 0] = kp
        mv["actuator_biasprm"][ids, g, 1] = -kp
        mv["actuator_biasprm"][ids, g, 2] = -kv
        # Derived constants (mj_setConst) only where masses/inertias/armatures changed: compared on
        # the host copy of the params (CPU tensors from the events, no device sync).
        key = torch.cat([params.robot_mass_scale[:, None], params.target_mass[:, None],
                         params.receptive_mass_scale[:, None], params.table_mass_scale[:, None],
                         params.joint_armature], 1).to("cpu", torch.float64)
        if self._dyn_host is None:
            self._dyn_host = torch.full((self.num_envs, key.shape[1]), math.nan, dtype=torch.float64)
        host_ids = env_ids.to("cpu")
        if not torch.equal(self._dyn_host[host_ids], key):
            self._dyn_host[host_ids] = key
            self.set_const()

    def set_const(self) -> None:
        """Recompute the mass-derived constants of every world (mjw.set_const = mj_setConst)."""
        wp, mjw = self._wp, self._mjw
        with wp.ScopedDevice(self.wp_device):
            groups = mjw.SetConstGroup.FIXED | mjw.SetConstGroup.INERT0
            mjw.set_const(self.wm, self.wd, groups=groups)

    def set_arm_state(self, env_id: int, joint_pos, joint_vel) -> None:
        self._qpos[env_id, self._arm_q] = torch.as_tensor(np.asarray(joint_pos), dtype=torch.float32, device=self.device)
        self._qvel[env_id, self._arm_v] = torch.as_tensor(np.asarray(joint_vel), dtype=torch.float32, device=self.device)
        self._warmstart[env_id] = 0.0

    # ---- debugging / tests ---------------------------------------------------------------------
    def corrupt_world(self, env_id: int, kind: str = "nan") -> None:
        if kind == "nan":
            self._qpos[env_id, 0] = math.nan
        elif kind == "spin":
            self._qvel[env_id, self._arm_v.start] = 1e3
        else:
            raise ValueError(f"unknown corruption {kind!r}; valid: nan, spin")

    def raw_state(self) -> np.ndarray:
        """A host COPY [N, nstate] in MuJoCo's mjSTATE_FULLPHYSICS layout (time | qpos | qvel | act);
        writing it changes nothing (the MuJoCo engine's raw_state is a live view)."""
        rows = torch.cat([self._time[:, None], self._qpos, self._qvel, self._act], 1)
        return rows.to("cpu", torch.float64).numpy()

    def set_world_state(self, env_id: int, qpos, qvel, act=None, mocap_pos=None, mocap_quat=None) -> None:
        """Write one world's full state (tests: the same state in both engines)."""
        dev, f32 = self.device, torch.float32
        self._qpos[env_id] = torch.as_tensor(np.asarray(qpos), dtype=f32, device=dev)
        self._qvel[env_id] = torch.as_tensor(np.asarray(qvel), dtype=f32, device=dev)
        if act is not None:
            self._act[env_id] = torch.as_tensor(np.asarray(act), dtype=f32, device=dev)
        if mocap_pos is not None:
            self._mocap_pos[env_id] = torch.as_tensor(np.asarray(mocap_pos), dtype=f32, device=dev)
        if mocap_quat is not None:
            self._mocap_quat[env_id] = torch.as_tensor(np.asarray(mocap_quat), dtype=f32, device=dev)
        self._warmstart[env_id] = 0.0

    # ---- rendering (MuJoCo's OpenGL renderer on a host copy of the world) ----------------------
    def render(self, env_id: int, camera: str, width: int = 224, height: int = 224) -> np.ndarray:
        from .mujoco_engine import check_camera, render_data

        check_camera(self.model, camera)
        if self._render_data is None:
            self._render_data = mujoco.MjData(self.model)
        d = self._render_data
        d.qpos[:] = self._qpos[env_id].to("cpu", torch.float64).numpy()
        d.qvel[:] = self._qvel[env_id].to("cpu", torch.float64).numpy()
        d.mocap_pos[0] = self._mocap_pos[env_id].to("cpu", torch.float64).numpy()
        d.mocap_quat[0] = self._mocap_quat[env_id].to("cpu", torch.float64).numpy()
        mujoco.mj_forward(self.model, d)
        return render_data(self.model, d, self._renderers, camera, width, height)

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
        self._graph = None
        self._policy_graphs.clear()


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
