"""Closed-loop replay of a recording in MuJoCo, for many parameter candidates at once.

An arm-only scene (arm + gripper mass, no table, no objects, contacts off) is built from the same
asset functions as the task scenes, so the identified parameters belong to the arm the environment
simulates. At every physics step and for every candidate world:

    pos, rot, J = BatchedKinematics(q)                       (omnireset_control, the deployed FK)
    tau(k)      = BatchedOsc(DEPLOY_GAINS).torque(... recorded target held at t_k ...)
    applied     = tau(k - delay)  (FIFO of whole physics steps; zero before the first command)
                  + dynamic_friction_torque(qd)              (params.py's friction model)
    one MuJoCo step of every world with its own MjModel (armature, frictionloss, damping written in)

Worlds are stepped together by `mujoco.rollout` on a persistent pool of `nthread` threads (MuJoCo
releases the GIL); the OSC for all candidates is one batched torch call per step.

The replay runs at `physics_dt` (default: the environment's 1/120 s), so the identified delay is in
the environment's physics steps. Recorded targets are held (zero-order) from their time stamps, the
recorded joint positions are linearly interpolated onto the physics grid for the loss.
"""

from __future__ import annotations

import copy
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import mujoco
import mujoco.rollout
import numpy as np
import torch

from omnireset_control.constants import ARM_JOINT_NAMES, DEPLOY_GAINS, HARDWARE_TORQUE_LIMIT, PHYSICS_DT, OscGains
from omnireset_control.kinematics import BatchedKinematics
from omnireset_control.osc import BatchedOsc
from omnireset_control.rotations import matrix_to_quat, quat_to_matrix

from ..assets.arm import ArmConfig, arm_actuators, build_arm, load_arm_kinematics
from ..assets.gripper import GripperConfig, build_gripper, gripper_actuator, gripper_equality
from ..assets.mjcf import sub
from .params import STRIBECK_VELOCITY, SysidParams, dynamic_friction_torque
from .recording import Recording, RecordingError

STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS
CONTROL_SPEC = mujoco.mjtState.mjSTATE_CTRL
# Loss of a candidate whose world blew up (MuJoCo reset it) or went non-finite: larger than any
# tracking error a stable candidate can have (1 rad^2 mean squared error).
DIVERGED_LOSS = 10.0


SYSID_FINGER_FORCE = 50.0  # N (validated: quick test and full `validate` recover the delay)


def build_sysid_xml(kinematics_params, arm: ArmConfig | None = None, gripper: GripperConfig | None = None,
                    physics_dt: float = PHYSICS_DT) -> str:
    """MJCF of the arm-only sysid scene. Thin wrapper over the task-scene asset functions (the
    scene builder always adds a table and objects, which sysid must not have)."""
    arm = arm or ArmConfig()
    # The real 2F-85 is not backdrivable: its fingers do not swing under arm accelerations. A
    # strong finger servo keeps the simulated ones as still, so they add no dynamics that the
    # arm's armature/friction/delay would otherwise absorb (a weak one biased the delay estimate).
    gripper = gripper or GripperConfig(force=SYSID_FINGER_FORCE)
    if not (math.isfinite(physics_dt) and physics_dt > 0):
        raise ValueError(f"physics_dt must be finite and > 0, got {physics_dt}")
    root = ET.Element("mujoco", model=f"omnireset_sysid_{arm.robot}")
    sub(root, "compiler", angle="radian", autolimits=True)
    # Same integrator/solver as the task scenes (assets/scene.py); no contacts in free space.
    option = sub(root, "option", timestep=physics_dt, integrator="implicitfast", solver="Newton", iterations=30,
                 ls_iterations=10)
    sub(option, "flag", contact="disable")
    world = sub(root, "worldbody")
    flange = build_arm(world, kinematics_params, arm)
    build_gripper(flange, gripper)
    gripper_equality(sub(root, "equality"))
    actuator = sub(root, "actuator")
    arm_actuators(actuator)
    gripper_actuator(actuator, gripper)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


@dataclass
class ReplayPlan:
    """A recording resampled onto the physics grid t_k = t_0 + k * dt, k = 0..K."""

    num_steps: int  # K
    target_pos: torch.Tensor  # [K,3] target held during step k
    target_rot: torch.Tensor  # [K,3,3]
    q_measured: np.ndarray  # [K+1,6] measured joint positions at t_k
    q0: np.ndarray  # [6]
    qd0: np.ndarray  # [6]
    t: np.ndarray  # [K+1]
    qd_measured: np.ndarray | None = None  # [K+1,6] measured joint velocities at t_k (windowed replay)


def plan_replay(rec: Recording, physics_dt: float) -> ReplayPlan:
    if rec.rate < (1.0 / physics_dt) * (1 - 1e-6):
        raise RecordingError(f"recording rate {rec.rate} Hz is below the replay physics rate {1 / physics_dt:.3f} Hz; "
                             "record at the controller rate (500 Hz) or the simulator's physics rate")
    steps = int(math.floor(rec.duration / physics_dt + 1e-9))
    if steps < 2:
        raise RecordingError(f"recording of {rec.duration:.4f} s is shorter than two physics steps")
    t = rec.t[0] + np.arange(steps + 1) * physics_dt
    # Target in force during step k: the newest recorded target stamped at or before t_k.
    idx = np.clip(np.searchsorted(rec.t, t[:-1] + 1e-9, side="right") - 1, 0, rec.num_samples - 1)
    q_meas = np.stack([np.interp(t, rec.t, rec.q[:, j]) for j in range(rec.q.shape[1])], axis=1)
    pos = torch.as_tensor(rec.target_pos[idx], dtype=torch.float64)
    rot = quat_to_matrix(torch.as_tensor(rec.target_quat[idx], dtype=torch.float64))
    qd_meas = np.stack([np.interp(t, rec.t, rec.qd[:, j]) for j in range(rec.qd.shape[1])], axis=1)
    return ReplayPlan(num_steps=steps, target_pos=pos, target_rot=rot, q_measured=q_meas, q0=rec.q[0].copy(),
                      qd0=rec.qd[0].copy(), t=t, qd_measured=qd_meas)


@dataclass
class ReplayResult:
    q: np.ndarray  # [N, K+1, 6] simulated joint positions
    qd: np.ndarray  # [N, K+1, 6]
    tau: np.ndarray  # [N, K, 6] OSC torque computed at each step (before the delay)
    applied: np.ndarray  # [N, K, 6] torque the motors applied (delayed OSC + dynamic friction term)
    target_pos: np.ndarray  # [K,3]
    target_quat: np.ndarray  # [K,4]
    diverged: np.ndarray  # [N] bool


class ClosedLoopReplay:
    """Batched closed-loop simulator of the arm under the deployed OSC law."""

    def __init__(self, robot: str = "ur7e", calibration: str | None = None, physics_dt: float = PHYSICS_DT,
                 gains: OscGains = DEPLOY_GAINS, torque_limit=HARDWARE_TORQUE_LIMIT, nthread: int = 2,
                 stribeck_velocity: float = STRIBECK_VELOCITY, gripper: GripperConfig | None = None):
        self.arm_cfg = ArmConfig(robot=robot, calibration=calibration)
        self.kinematics_params = load_arm_kinematics(self.arm_cfg)
        self.physics_dt = float(physics_dt)
        self.gains = gains
        self.torque_limit = torque_limit
        self.stribeck_velocity = float(stribeck_velocity)
        self.xml = build_sysid_xml(self.kinematics_params, self.arm_cfg, gripper, self.physics_dt)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        m = self.model
        self._arm_qpos = np.array([m.jnt_qposadr[m.joint(n).id] for n in ARM_JOINT_NAMES])
        self._arm_dof = np.array([m.jnt_dofadr[m.joint(n).id] for n in ARM_JOINT_NAMES])
        self._arm_act = np.array([m.actuator(f"{n}_motor").id for n in ARM_JOINT_NAMES])
        self.nstate = mujoco.mj_stateSize(m, STATE_SPEC)
        self.ncontrol = mujoco.mj_stateSize(m, CONTROL_SPEC)
        self.nthread = max(0, int(nthread))
        self._rollout = mujoco.rollout.Rollout(nthread=self.nthread)
        self._datas = [mujoco.MjData(m) for _ in range(max(1, self.nthread))]
        self.kin = BatchedKinematics(self.kinematics_params, dtype=torch.float64)

    def close(self) -> None:
        self._rollout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def model_for(self, params: SysidParams) -> mujoco.MjModel:
        m = copy.deepcopy(self.model)
        m.dof_armature[self._arm_dof] = params.armature
        m.dof_frictionloss[self._arm_dof] = params.static_friction
        m.dof_damping[self._arm_dof] = params.viscous_friction
        return m

    def initial_state(self, q0, qd0) -> np.ndarray:
        data = mujoco.MjData(self.model)
        data.qpos[self._arm_qpos] = q0
        data.qvel[self._arm_dof] = qd0
        mujoco.mj_forward(self.model, data)
        row = np.zeros(self.nstate)
        mujoco.mj_getState(self.model, data, row, STATE_SPEC)
        return row

    def tcp_pose(self, q) -> tuple[np.ndarray, np.ndarray]:
        """TCP position [3] and quaternion (w,x,y,z) [4] of one joint configuration."""
        pos, rot = self.kin.forward(torch.as_tensor(np.asarray(q, dtype=np.float64)).reshape(1, 6))
        return pos[0].numpy(), matrix_to_quat(rot)[0].numpy()

    def run(self, plan: ReplayPlan, candidates: list[SysidParams], record_torque: bool = False) -> ReplayResult:
        """Simulate every candidate over the plan; returns joint trajectories on the physics grid."""
        n = len(candidates)
        if n == 0:
            raise ValueError("no candidates to replay")
        init = np.repeat(self.initial_state(plan.q0, plan.qd0)[None], n, axis=0)
        q, qd, tau, applied, diverged = self._simulate(
            candidates, init, plan.target_pos[None], plan.target_rot[None], plan.num_steps, record_torque)
        quat = matrix_to_quat(plan.target_rot).numpy()
        return ReplayResult(q=q, qd=qd, tau=tau, applied=applied, target_pos=plan.target_pos.numpy(),
                            target_quat=quat, diverged=diverged)

    def recorded_torque(self, plan: ReplayPlan, gains: OscGains | None = None) -> torch.Tensor:
        """[K,6] the OSC torque of every physics step evaluated on the RECORDED joint state (what the
        controller commanded, up to sensor noise): the motor-delay FIFO of a window is primed with it."""
        if plan.qd_measured is None:
            raise ValueError("windowed replay needs the recorded joint velocities (plan_replay sets them)")
        k = plan.num_steps
        osc = BatchedOsc(k, gains or self.gains, torque_limit=self.torque_limit, dtype=torch.float64,
                         control_dt=self.physics_dt)
        q = torch.as_tensor(plan.q_measured[:k])
        qd = torch.as_tensor(plan.qd_measured[:k])
        pos, rot, jac = self.kin.forward_with_jacobian(q)
        return osc.torque(jac, qd, pos, rot, plan.target_pos, plan.target_rot)

    def run_windows(self, plan: ReplayPlan, candidates: list[SysidParams], window_steps: int) -> "WindowedResult":
        """Replay in short windows, each re-seeded from the recorded joint state at its start.

        The recording's physics grid (K steps) is cut into windows of `window_steps` (the last one
        ends at K and may overlap its neighbour); every (candidate, window) pair is one world, all
        stepped together. A window starts from the recorded q, q̇ at its first step and its
        motor-delay FIFO holds the torques the controller computed on the recorded states just
        before it (`recorded_torque`), so a candidate with delay d applies exactly what the robot's
        motors received in the window's first d steps. Errors therefore cannot accumulate beyond
        one window: a sensitive closed loop (high gain against delay and low armature) stays
        comparable between candidates instead of diverging on a small parameter error."""
        n = len(candidates)
        if n == 0:
            raise ValueError("no candidates to replay")
        if plan.qd_measured is None:
            raise ValueError("windowed replay needs the recorded joint velocities (plan_replay sets them)")
        k_total = plan.num_steps
        w = int(min(max(1, window_steps), k_total))
        starts = list(range(0, k_total - w + 1, w))
        if starts[-1] + w < k_total:
            starts.append(k_total - w)
        starts_a = np.asarray(starts, dtype=np.int64)
        nw = len(starts)
        idx = starts_a[:, None] + np.arange(w)[None]  # [nw, w] global step of each local step
        tp = plan.target_pos[torch.as_tensor(idx)]  # [nw, w, 3]
        tr = plan.target_rot[torch.as_tensor(idx)]
        init_w = np.stack([self.initial_state(plan.q_measured[s], plan.qd_measured[s]) for s in starts])
        worlds = [c for c in candidates for _ in range(nw)]
        init = np.tile(init_w, (n, 1))
        tp = tp.repeat(n, 1, 1)
        tr = tr.repeat(n, 1, 1, 1)
        tau_rec = self.recorded_torque(plan)
        dmax = max(c.delay for c in candidates)
        # prime[m-1, world] = the recorded-state torque m steps before the window's start (0 before t_0).
        prime = torch.zeros(max(dmax, 1), nw, 6, dtype=torch.float64)
        for m in range(1, dmax + 1):
            ok = starts_a - m >= 0
            prime[m - 1, torch.as_tensor(ok)] = tau_rec[torch.as_tensor(starts_a[ok] - m)]
        prime = prime.repeat(1, n, 1)
        q, qd, _, _, diverged = self._simulate(worlds, init, tp, tr, w, False, prime=prime)
        q_meas = plan.q_measured[starts_a[:, None] + np.arange(w + 1)[None]]  # [nw, w+1, 6]
        return WindowedResult(q=q.reshape(n, nw, w + 1, 6), qd=qd.reshape(n, nw, w + 1, 6),
                              q_measured=q_meas, starts=starts_a, diverged=diverged.reshape(n, nw))

    def _simulate(self, candidates, init_states, target_pos, target_rot, k_steps: int, record_torque: bool,
                  prime: torch.Tensor | None = None):
        """Step len(candidates) worlds k_steps physics steps from `init_states` [n, nstate].
        target_pos [1|n, K, 3] / target_rot [1|n, K, 3, 3]: the target held during each step.
        prime [P, n, 6] (optional): the torques commanded 1..P steps before step 0 (the delay FIFO's
        content at the start); without it the FIFO starts empty (zero torque)."""
        n = len(candidates)
        models = [self.model_for(p) for p in candidates]
        delays = np.array([p.delay for p in candidates], dtype=np.int64)
        fifo_len = int(delays.max()) + 1
        static = torch.as_tensor(np.array([p.static_friction for p in candidates]), dtype=torch.float64)
        ratio = torch.as_tensor(np.array([p.dynamic_friction_ratio for p in candidates]), dtype=torch.float64)
        osc = BatchedOsc(n, self.gains, torque_limit=self.torque_limit, dtype=torch.float64,
                         control_dt=self.physics_dt)

        state3 = np.ascontiguousarray(np.asarray(init_states, dtype=np.float64)[:, None, :]).copy()
        state = state3[:, 0, :]
        control3 = np.zeros((n, 1, self.ncontrol))
        ctrl = control3[:, 0, :]
        t_state = torch.from_numpy(state)
        qpos_cols = torch.as_tensor(1 + self._arm_qpos)
        qvel_cols = torch.as_tensor(1 + self.model.nq + self._arm_dof)

        fifo = torch.zeros(fifo_len, n, 6, dtype=torch.float64)
        primed = torch.zeros(n, dtype=torch.int64)
        if prime is not None:
            depth = min(int(prime.shape[0]), fifo_len - 1)
            for m in range(1, depth + 1):
                fifo[(-m) % fifo_len] = prime[m - 1]
            primed[:] = depth
        rows = torch.arange(n)
        delays_t = torch.as_tensor(delays)
        q_out = np.zeros((n, k_steps + 1, 6))
        qd_out = np.zeros((n, k_steps + 1, 6))
        tau_out = np.zeros((n, k_steps, 6)) if record_torque else None
        applied_out = np.zeros((n, k_steps, 6)) if record_torque else None
        q_out[:, 0] = state[:, 1 + self._arm_qpos]
        qd_out[:, 0] = state[:, 1 + self.model.nq + self._arm_dof]
        diverged = np.zeros(n, dtype=bool)
        expected_time = state[:, 0].copy()
        per_world_targets = target_pos.shape[0] > 1
        # One contiguous chunk of worlds per thread: the per-step work is small, so fewer hand-offs win.
        chunk = max(1, -(-n // max(1, self.nthread)))
        for k in range(k_steps):
            q = t_state[:, qpos_cols]
            qd = t_state[:, qvel_cols]
            pos, rot, jac = self.kin.forward_with_jacobian(q)
            if per_world_targets:
                tp, tr = target_pos[:, k], target_rot[:, k]
            else:
                tp, tr = target_pos[0, k].expand(n, 3), target_rot[0, k].expand(n, 3, 3)
            tau = osc.torque(jac, qd, pos, rot, tp, tr)
            fifo[k % fifo_len] = tau
            # World i applies the torque computed delays[i] steps ago (primed history before step 0,
            # zero before the first command).
            src = (k - delays_t) % fifo_len
            delayed = torch.where((k - delays_t >= -primed)[:, None], fifo[src, rows], torch.zeros_like(tau))
            applied = delayed + dynamic_friction_torque(qd, static, ratio, self.stribeck_velocity)
            ctrl[:, self._arm_act] = applied.numpy()
            self._rollout.rollout(models, self._datas, state, control3, control_spec=CONTROL_SPEC, skip_checks=True,
                                  nstep=1, state=state3, chunk_size=chunk)
            expected_time += self.physics_dt
            # MuJoCo resets a world whose accelerations blew up (its time restarts near 0).
            diverged |= (state[:, 0] < expected_time - 0.5 * self.physics_dt) | ~np.isfinite(state).all(axis=1)
            q_out[:, k + 1] = state[:, 1 + self._arm_qpos]
            qd_out[:, k + 1] = state[:, 1 + self.model.nq + self._arm_dof]
            if record_torque:
                tau_out[:, k] = tau.numpy()
                applied_out[:, k] = applied.numpy()
        return q_out, qd_out, tau_out, applied_out, diverged


@dataclass
class WindowedResult:
    """Replay in windows: q [N, W, w+1, 6] simulated per candidate and window (step 0 = the recorded
    seed), q_measured [W, w+1, 6], window start steps [W], diverged [N, W]."""

    q: np.ndarray
    qd: np.ndarray
    q_measured: np.ndarray
    starts: np.ndarray
    diverged: np.ndarray

    def loss(self) -> np.ndarray:
        """[N] mean squared joint error over every window's steps 1..w (rad^2), DIVERGED_LOSS if any
        window of the candidate blew up."""
        err = self.q[:, :, 1:] - self.q_measured[None, :, 1:]
        loss = (err**2).mean(axis=(1, 2, 3))
        bad = self.diverged.any(axis=1) | ~np.isfinite(loss)
        return np.minimum(np.where(bad, DIVERGED_LOSS, loss), DIVERGED_LOSS)

    def rmse_deg(self) -> np.ndarray:
        """[N,6] per-joint RMSE (deg) over all windows (NaN for a candidate with a diverged window)."""
        err = self.q[:, :, 1:] - self.q_measured[None, :, 1:]
        rmse = np.degrees(np.sqrt((err**2).mean(axis=(1, 2))))
        rmse[self.diverged.any(axis=1)] = np.nan
        return rmse


def tracking_loss(result: ReplayResult, plan: ReplayPlan, joint_weights=None) -> np.ndarray:
    """Time-averaged squared joint error per candidate [N] (rad^2), mean over joints."""
    err = result.q - plan.q_measured[None]
    w = np.ones(6) if joint_weights is None else np.asarray(joint_weights, dtype=np.float64)
    loss = (err[:, 1:] ** 2 * w).mean(axis=(1, 2)) * (6.0 / w.sum())
    loss = np.where(np.isfinite(loss) & ~result.diverged, loss, DIVERGED_LOSS)
    return np.minimum(loss, DIVERGED_LOSS)


def per_joint_rmse_deg(result: ReplayResult, plan: ReplayPlan) -> np.ndarray:
    """[N,6] RMSE in degrees of each joint over the replay (NaN for diverged candidates)."""
    err = result.q[:, 1:] - plan.q_measured[None, 1:]
    rmse = np.degrees(np.sqrt((err**2).mean(axis=1)))
    rmse[result.diverged] = np.nan
    return rmse


@dataclass(frozen=True)
class SensorNoise:
    """Gaussian noise added to simulated measurements (std per sample)."""

    q: float = 2e-4  # rad (UR encoders are far better; this is deliberately pessimistic)
    qd: float = 5e-3  # rad/s
    tau: float = 0.2  # N m


def simulate_recording(replay: ClosedLoopReplay, targets, q0, params: SysidParams,
                       noise: SensorNoise | None = SensorNoise(), seed: int = 0, metadata: dict | None = None) -> Recording:
    """A recording made by the simulator: the arm at rest at q0 tracks `targets` (ChirpTargets at any
    rate >= the physics rate) with the given parameters; samples at the physics rate with noise."""
    from .recording import git_revision

    q0 = np.asarray(q0, dtype=np.float64)
    dt = replay.physics_dt
    steps = int(math.floor((targets.t[-1] - targets.t[0]) / dt + 1e-9))
    t = targets.t[0] + np.arange(steps + 1) * dt
    idx = np.clip(np.searchsorted(targets.t, t + 1e-9, side="right") - 1, 0, len(targets.t) - 1)
    # The plan is built directly from the targets (a noise-free "recording" of the commands).
    plan = ReplayPlan(num_steps=steps,
                      target_pos=torch.as_tensor(targets.target_pos[idx[:-1]], dtype=torch.float64),
                      target_rot=quat_to_matrix(torch.as_tensor(targets.target_quat[idx[:-1]], dtype=torch.float64)),
                      q_measured=np.zeros((steps + 1, 6)), q0=q0, qd0=np.zeros(6), t=t)
    res = replay.run(plan, [params], record_torque=True)
    if res.diverged[0]:
        raise RuntimeError(f"the simulation with {params} diverged; cannot make a recording")
    rng = np.random.default_rng(seed)
    noise = noise or SensorNoise(0.0, 0.0, 0.0)
    q = res.q[0] + rng.normal(0.0, noise.q, res.q[0].shape)
    qd = res.qd[0] + rng.normal(0.0, noise.qd, res.qd[0].shape)
    tau = np.concatenate([res.tau[0], res.tau[0][-1:]]) + rng.normal(0.0, noise.tau, (steps + 1, 6))
    meta = {"robot": replay.arm_cfg.robot, "source": "sim", "calibration": replay.arm_cfg.calibration,
            "git_rev": git_revision(), "physics_dt": dt, "true_parameters": params.as_dict(),
            "sensor_noise": vars(noise) if noise else None, "seed": seed, **(metadata or {})}
    return Recording(t=t - t[0], q=q, qd=qd, tau=tau, target_pos=targets.target_pos[idx],
                     target_quat=targets.target_quat[idx], rate=1.0 / dt, metadata=meta)


__all__ = ["DIVERGED_LOSS", "ClosedLoopReplay", "ReplayPlan", "ReplayResult", "SensorNoise", "WindowedResult",
           "build_sysid_xml",
           "per_joint_rmse_deg", "plan_replay", "simulate_recording", "tracking_loss"]
