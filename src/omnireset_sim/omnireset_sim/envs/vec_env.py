"""The vectorized, auto-resetting OmniReset environment (rsl-rl VecEnv interface, torch tensors).

Per policy step (10 Hz): sanitize the 7-D action, compose the held TCP target from the current
TCP pose, then for each of the 12 physics steps (dt 1/120 s) compute the OSC torque from the
current joint state, delay it by the env's motor delay and step all worlds. EnvCfg.law_backend
picks where that law runs: "native" (default) inside the engine's control_step -- MuJoCo C: the
C++ core of omnireset_control between the physics steps; MuJoCo Warp: a Warp kernel, the 12
physics steps and the law captured in one graph (envs/warp_osc.py); "torch" omnireset_control's
batched torch law between single engine steps (the reference; engines without control_step use
it). Then terminations (time-out at 16 s, abnormal state), the A.1 reward, success bookkeeping,
auto-reset of finished envs, and the observation groups.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import torch
from tensordict import TensorDict

from omnireset_control.composition import compose_target
from omnireset_control.constants import DECIMATION, TRAIN_ACTION_SCALE, TRAIN_GAINS, OscGains
from omnireset_control.kinematics import BatchedKinematics
from omnireset_control.osc import BatchedOsc
from omnireset_control.rotations import quat_to_matrix
from omnireset_policy.observation_layout import ACTION_DIM, FRAME_DIM, HISTORY_LENGTH, ObservationHistory

from ..assets.scene import SceneConfig
from ..mdp import events, rewards, terminations
from ..mdp.actions import ACTION_CLIP, MotorDelay, gripper_close_command, sanitize_actions
from ..mdp.observations import CRITIC_PRIVILEGED_DIM, build_critic, build_policy_frame
from ..mdp.task_metrics import GoalFrame
from ..tasks import get_variant
from .engine import DynamicsParams
from .native_stepper import ControlInputs, NativeControlMath, NativeStepperUnavailable
from .reset import ReachingResetSampler, ResetSampler
from ..sysid.params import STICTION_VELOCITY, STRIBECK_VELOCITY, dynamic_friction_torque


LAW_BACKENDS = ("native", "torch")


def _unit_quat_to_matrix(quat: torch.Tensor) -> torch.Tensor:
    return quat_to_matrix(quat / quat.norm(dim=1, keepdim=True).clamp_min(1e-9))


class RowMemo:
    """fn(x) for a batch x [N, ...] whose rows are independent, recomputing only the rows of x
    that changed since the last call. fn's row results do not depend on the batch they are
    computed in (checked in test_native_stepper), so the memo changes no number. Returned tensors
    are never written afterwards (a partial update writes into copies)."""

    def __init__(self, fn):
        self.fn = fn
        self._x: torch.Tensor | None = None
        self._out = None

    def __call__(self, x: torch.Tensor):
        changed = None
        if self._x is not None and self._x.shape == x.shape:
            changed = (x != self._x).flatten(1).any(dim=1)
            count = int(changed.sum())
            if count == 0:
                return self._out
            if count == len(changed):
                changed = None  # every row moved (after a physics step): one plain call
        if changed is None:
            out = self.fn(x)
        else:
            ids = torch.nonzero(changed).flatten()
            fresh = self.fn(x[ids])
            single = isinstance(fresh, torch.Tensor)
            out = tuple(o.clone() for o in ((self._out,) if single else self._out))
            for o, f in zip(out, (fresh,) if single else fresh):
                o[ids] = f
            out = out[0] if single else out
        self._x, self._out = x.clone(), out
        return out


# The engine and device of every EnvCfg that names none: MuJoCo C on the CPU, unless a CLI's
# --engine/--device (envs/engine_cli.py) chose otherwise for the whole process.
ENGINE_DEFAULTS = {"engine": "mujoco", "device": "cpu"}


@dataclass(frozen=True)
class EnvCfg:
    task: str = "peg_insertion"
    variant: str = "hard"
    num_envs: int = 64
    # s; None: the task's (TaskSpec.episode_length_s: 16 s as released, 40 s for the threaded leg).
    episode_length_s: float | None = None
    decimation: int = DECIMATION
    action_scale: tuple[float, ...] = TRAIN_ACTION_SCALE
    osc_gains: OscGains = TRAIN_GAINS
    action_clip: float | None = ACTION_CLIP  # None: no clamp (as released)
    rewards: rewards.RewardWeights = field(default_factory=rewards.RewardWeights)
    randomization: events.RandomizationCfg = field(default_factory=events.RandomizationCfg)
    scene: SceneConfig = field(default_factory=SceneConfig)
    nthread: int = 2
    seed: int = 0
    engine: str = field(default_factory=lambda: ENGINE_DEFAULTS["engine"])
    # Where the engine keeps its worlds (MuJoCo Warp: "cpu" or "cuda:N"; MuJoCo C: "cpu" only).
    device: str = field(default_factory=lambda: ENGINE_DEFAULTS["device"])
    # Where the per-physics-step control law runs: "native" (the engine's control_step, C++
    # between the physics steps; falls back to "torch" with a warning where it cannot be built)
    # or "torch" (BatchedOsc between engine.step calls: the reference, and the path of engines
    # without control_step).
    law_backend: str = "native"

    def __post_init__(self) -> None:
        if self.num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {self.num_envs}")
        if len(self.action_scale) != 6 or not all(math.isfinite(s) and s > 0 for s in self.action_scale):
            raise ValueError(f"action_scale needs 6 finite positive values, got {self.action_scale}")
        # episode_length_s stays None here (the env resolves it from the task): a value filled in now
        # would ride along through dataclasses.replace(EnvCfg(), task=...) onto another task.
        if self.decimation < 1 or not (self.episode_length_s is None or self.episode_length_s > 0):
            raise ValueError("decimation must be >= 1 and episode_length_s > 0")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; valid: {sorted(ENGINES)}")
        if self.law_backend not in LAW_BACKENDS:
            raise ValueError(f"unknown law_backend {self.law_backend!r}; valid: {list(LAW_BACKENDS)}")


def _make_mujoco(cfg: EnvCfg, task, kinematics):
    from .mujoco_engine import MujocoEngine

    if str(cfg.device) != "cpu":
        raise ValueError(f"engine 'mujoco' runs on the CPU only (device {cfg.device!r}); "
                         f"for a GPU use engine='mujoco_warp'")
    return MujocoEngine(task, cfg.num_envs, cfg.scene, kinematics=kinematics, nthread=cfg.nthread)


def _make_mujoco_warp(cfg: EnvCfg, task, kinematics):
    from .mujoco_warp_engine import MujocoWarpEngine

    return MujocoWarpEngine(task, cfg.num_envs, cfg.scene, kinematics=kinematics, device=cfg.device)


def _make_isaaclab(cfg: EnvCfg, task, kinematics):
    # Only inside the Isaac Lab venv (make isaaclab-setup); engine_cli checks it first.
    from ..isaaclab.engine import isaaclab_engine_factory

    return isaaclab_engine_factory(cfg, task, kinematics)


# Engines by name (each implements envs/engine.SimEngine).
ENGINES = {"mujoco": _make_mujoco, "mujoco_warp": _make_mujoco_warp, "isaaclab": _make_isaaclab}


class OmniResetEnv:
    """rsl-rl compatible VecEnv: `num_envs`, `num_actions`, `max_episode_length`,
    `episode_length_buf`, `device`, `cfg`, `get_observations()`, `step(actions)`; auto-resets."""

    def __init__(self, cfg: EnvCfg, reset_sampler: ResetSampler | None = None):
        self.cfg = cfg
        self.task, self.variant = get_variant(cfg.task, cfg.variant)
        self.num_envs = cfg.num_envs
        self.num_actions = ACTION_DIM
        from ..assets.arm import load_arm_kinematics

        self.kinematics_params = load_arm_kinematics(cfg.scene.arm)
        self.engine = ENGINES[cfg.engine](cfg, self.task, self.kinematics_params)
        # The env lives where the engine's state lives, in the engine's precision (MuJoCo C: CPU
        # float64; MuJoCo Warp: its device, float32). Randomization samples on the CPU generator and
        # is copied over at reset; a reset sampler that can move (`to(device, dtype)`, the dataset
        # sampler) is moved to the env's device and draws there (see reset_generator).
        self.device = torch.device(getattr(self.engine, "device", "cpu"))
        self.dtype = getattr(self.engine, "dtype", torch.float64)
        self.law_backend = self._select_law_backend(cfg.law_backend)
        self._kinematics_array = self.kinematics_params.as_array()
        self.physics_dt = self.engine.physics_dt
        self.step_dt = self.physics_dt * cfg.decimation
        # s: the cfg's horizon, or the task's episode (TaskSpec.episode_length_s) when it names none
        self.episode_length_s = float(cfg.episode_length_s or self.task.episode_length_s)
        self.max_episode_length = int(math.ceil(self.episode_length_s / self.step_dt - 1e-9))
        self.generator = torch.Generator().manual_seed(cfg.seed)
        sampler = reset_sampler or ReachingResetSampler(self.task, self.variant, self.kinematics_params)
        if callable(getattr(sampler, "to", None)):
            sampler = sampler.to(self.device, self.dtype)  # itself where nothing changes (CPU float64)
        self.reset_sampler = sampler
        # The generator the reset sampler draws from lives on the sampler's device: on the CPU it
        # is self.generator (one stream, as before); a device-resident sampler gets a stream of its
        # own there, so that a reset reads nothing back to the host. The reaching sampler (IK with
        # rejection rounds, host-side by nature) stays on the CPU with self.generator.
        sampler_device = torch.device(getattr(sampler, "device", "cpu"))
        self.reset_generator = (self.generator if sampler_device.type == "cpu"
                                else torch.Generator(device=sampler_device).manual_seed(cfg.seed))
        n, f64, dev = self.num_envs, self.dtype, self.device
        self.kin = BatchedKinematics(self.kinematics_params, dtype=f64, device=dev)
        self._compose_target = compose_target
        tcp_kinematics, unit_quat_to_matrix = self.kin.forward_with_jacobian, _unit_quat_to_matrix
        if self.law_backend == "native" and getattr(self.engine, "native_control_math", True):
            # One implementation of the control math per backend: the native env's held targets
            # and reported TCP poses come from the same C++ core as its law (rounding-level apart
            # from the torch ones; test_native_stepper compares them). A device engine's native
            # law (MuJoCo Warp's kernel) keeps the torch math here: no host round trip.
            native = NativeControlMath(self._kinematics_array)
            tcp_kinematics, unit_quat_to_matrix = native.tcp_kinematics, native.unit_quat_to_matrix
            self._compose_target = native.compose_target
        # A policy step reads the same joint state up to three times (target composition, post-step
        # terminations/reward, observations after the auto-reset); these recompute only changed rows.
        # The memos compare rows on the host (a sync per call): CPU only; a device env recomputes.
        memo = RowMemo if dev.type == "cpu" else (lambda fn: fn)
        self._tcp_kinematics = memo(tcp_kinematics)
        self._target_rot_memo = memo(unit_quat_to_matrix)
        self._receptive_rot_memo = memo(quat_to_matrix)
        self.osc = BatchedOsc(n, cfg.osc_gains, dtype=f64, device=dev)
        self.goal = GoalFrame(self.task, dtype=f64, device=dev)
        self.action_scale = torch.tensor(cfg.action_scale, dtype=f64, device=dev)
        self.delay = MotorDelay(n, max_delay=max(cfg.randomization.motor_delay_steps[1], 0), dtype=f64, device=dev)
        self.history = ObservationHistory(n, HISTORY_LENGTH, FRAME_DIM, dtype=torch.float32, device=dev)

        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=dev)
        self.actions = torch.zeros(n, ACTION_DIM, dtype=f64, device=dev)
        self.prev_actions = torch.zeros(n, ACTION_DIM, dtype=f64, device=dev)
        self.target_pos = torch.zeros(n, 3, dtype=f64, device=dev)
        self.target_rot = torch.eye(3, dtype=f64, device=dev).repeat(n, 1, 1)
        self.reset_type = torch.zeros(n, dtype=torch.long, device=dev)
        self.success = torch.zeros(n, dtype=torch.bool, device=dev)
        self.success_any = torch.zeros(n, dtype=torch.bool, device=dev)
        self.osc_kp_scale = torch.ones(n, 6, dtype=f64, device=dev)
        self.episode_sums: dict[str, torch.Tensor] = {}
        self.nan_action_count = torch.zeros(n, dtype=torch.long, device=dev)
        # Dynamic/static friction ratio per joint (sysid's friction model, sysid/params.py): 1 = the
        # MuJoCo frictionloss alone (Coulomb, static == dynamic). The finetune curriculum sets it.
        self.dynamic_friction_ratio = torch.ones(n, 6, dtype=f64, device=dev)
        # Startup randomization (frictions, masses), then the first reset of everything.
        nominal = self.engine.nominal
        self.dynamics: DynamicsParams = events.sample_startup(cfg.randomization, nominal, n, self.generator)
        self._randomize_model = cfg.randomization.enabled
        self._reset_envs(torch.arange(n, device=dev))
        self._obs = self._compute_observations()
        self.extras: dict = {"log": {}}

    def _select_law_backend(self, requested: str) -> str:
        """"native" where the engine has a control_step and its kernel builds, else "torch"."""
        if requested == "torch" or getattr(self.engine, "law_backends", ("native", "torch")) == ("torch",):
            return "torch"  # (engines that only take the torch law say so: no warning)
        if not hasattr(self.engine, "control_step"):
            warnings.warn(f"engine {self.cfg.engine!r} has no native control step; using the torch law",
                          RuntimeWarning, stacklevel=3)
            return "torch"
        try:
            self.engine.enable_native()
        except NativeStepperUnavailable as exc:
            warnings.warn(f"native control law unavailable ({exc}); using the torch law (slower)",
                          RuntimeWarning, stacklevel=3)
            return "torch"
        return "native"

    # ---- state helpers -------------------------------------------------------------------------
    def _snapshot(self):
        s = self.engine.state()
        q = torch.nan_to_num(s.joint_pos.clone())
        ee_pos, ee_rot, jac = self._tcp_kinematics(q)
        t_rot = self._target_rot_memo(s.target_quat.clone())
        r_rot = self._receptive_rot_memo(s.receptive_quat.clone())
        return s, q, ee_pos, ee_rot, jac, t_rot, r_rot

    # ---- resets --------------------------------------------------------------------------------
    def _reset_envs(self, env_ids: torch.Tensor) -> None:
        if env_ids.numel() == 0:
            return
        cfg, g = self.cfg.randomization, self.generator
        m = env_ids.numel()
        host_ids = env_ids.cpu()  # the sampled parameters (self.dynamics) stay on the CPU
        sub = self.dynamics.index(host_ids)
        events.resample_actuation(cfg, self.engine.nominal, sub, g)
        self.dynamics.assign(host_ids, sub)
        if self.device.type != "cpu":
            self._dynamics_on_device = DynamicsParams(**{k: v.to(self.device) for k, v in vars(self.dynamics).items()})
        if self._randomize_model:
            self.engine.set_dynamics(env_ids, sub)
        self.delay.delay[env_ids] = events.sample_motor_delay(cfg, m, g).to(self.device)
        self.delay.reset(env_ids)
        self.osc_kp_scale[env_ids] = events.sample_osc_gain_scale(cfg, m, g).to(self.device, self.dtype)
        self.osc.set_gains(self.cfg.osc_gains, env_ids, kp_scale=self.osc_kp_scale[env_ids])
        self.osc.reset(env_ids)
        if self.reset_generator is g:
            reset = self.reset_sampler.sample(host_ids, g)
        else:  # a sampler on the env's device: ids and draws stay there
            reset = self.reset_sampler.sample(env_ids, self.reset_generator)
        self.engine.reset_envs(env_ids, reset)
        self.reset_type[env_ids] = reset.reset_type.to(self.device, torch.long)
        self.episode_length_buf[env_ids] = 0
        self.actions[env_ids] = 0.0
        self.prev_actions[env_ids] = 0.0
        self.success[env_ids] = False
        self.success_any[env_ids] = False
        self.nan_action_count[env_ids] = 0
        for v in self.episode_sums.values():
            v[env_ids] = 0.0
        self._history_needs_reset = env_ids

    # ---- observations --------------------------------------------------------------------------
    def _compute_observations(self) -> TensorDict:
        s, q, ee_pos, ee_rot, jac, t_rot, r_rot = self._snapshot()
        frame = build_policy_frame(q, ee_pos, ee_rot, torch.nan_to_num(s.target_pos), t_rot, s.receptive_pos, r_rot,
                                   self.actions)
        frame = torch.nan_to_num(frame.to(torch.float32))
        pending = getattr(self, "_history_needs_reset", None)
        if pending is not None and pending.numel() > 0:
            self.history.push(frame)
            self.history.reset(pending, frame[pending])
            self._history_needs_reset = None
        else:
            self.history.push(frame)
        qd = torch.nan_to_num(s.joint_vel)
        d = self.dynamics if self.device.type == "cpu" else self._dynamics_on_device
        privileged = {
            "joint_vel": qd,
            "ee_twist": (jac @ qd[..., None])[..., 0],
            # The fraction of the episode left, as released (1 at reset, 1/max_len at the last step).
            "time_left": (self.max_episode_length - self.episode_length_buf).to(torch.float64) / self.max_episode_length,
            "robot_friction": d.robot_friction,
            "target_friction": d.target_friction,
            "receptive_friction": d.receptive_friction,
            "table_friction": d.table_friction,
            "robot_mass_scale": d.robot_mass_scale,
            "target_mass": d.target_mass,
            "receptive_mass_scale": d.receptive_mass_scale,
            "table_mass_scale": d.table_mass_scale,
            "joint_friction": d.joint_friction,
            "joint_armature": d.joint_armature,
            "joint_damping": d.joint_damping,
            "gripper_gain_scale": torch.stack([d.gripper_stiffness_scale, d.gripper_damping_scale], 1),
            "osc_kp_scale": self.osc_kp_scale,
            "motor_delay": self.delay.delay.to(torch.float64),
        }
        critic = torch.nan_to_num(build_critic(frame, privileged))
        return TensorDict({"policy": self.history.flat().clone(), "critic": critic}, batch_size=[self.num_envs])

    def get_observations(self) -> TensorDict:
        return self._obs

    @property
    def num_obs(self) -> int:
        return FRAME_DIM * HISTORY_LENGTH

    @property
    def num_privileged_obs(self) -> int:
        return FRAME_DIM + CRITIC_PRIVILEGED_DIM

    def reset(self) -> tuple[TensorDict, dict]:
        """Reset every env (rsl-rl never needs this: the env auto-resets)."""
        self._reset_envs(torch.arange(self.num_envs, device=self.device))
        self._obs = self._compute_observations()
        return self._obs, self.extras

    # ---- stepping ------------------------------------------------------------------------------
    def step(self, actions: torch.Tensor):
        if actions.shape != (self.num_envs, self.num_actions):
            raise ValueError(f"actions must have shape {(self.num_envs, self.num_actions)}, got {tuple(actions.shape)}")
        clean, nonfinite = sanitize_actions(actions.detach().to(self.device, self.dtype), self.cfg.action_clip)
        self.nan_action_count += nonfinite.long()
        self.prev_actions = self.actions
        self.actions = clean
        ee_pos, ee_rot, _ = self._tcp_kinematics(torch.nan_to_num(self.engine.state().joint_pos.clone()))
        self.target_pos, self.target_rot = self._compose_target(ee_pos, ee_rot, clean[:, :6], self.action_scale)
        close = gripper_close_command(clean)
        if self.law_backend == "native":
            self._native_physics_steps(close)
        else:
            self._torch_physics_steps(close)
        self.episode_length_buf += 1

        s, q, ee_pos, ee_rot, jac, t_rot, r_rot = self._snapshot()
        time_out = terminations.time_out(self.episode_length_buf, self.max_episode_length)
        abnormal = terminations.abnormal_robot_state(s.joint_vel, self.engine.arm_velocity_limits, s.finite,
                                                     s.sim_reset)
        abnormal |= terminations.object_escaped(s.target_pos, s.target_lin_vel)
        goal = self.goal.errors(torch.nan_to_num(s.target_pos), t_rot, s.receptive_pos, r_rot)
        success = goal.success & ~abnormal
        reward, terms = rewards.compute_reward(
            self.cfg.rewards, self.step_dt, action=clean, prev_action=self.prev_actions, joint_vel=s.joint_vel,
            abnormal=abnormal, ee_pos=ee_pos, object_pos=s.target_pos, position_error=goal.position,
            orientation_error=goal.orientation, success=success)
        for name, value in terms.items():
            self.episode_sums.setdefault(name, torch.zeros(self.num_envs, dtype=self.dtype, device=self.device))
            self.episode_sums[name] += value
        # A copy: the auto-reset below clears self.success of finished envs in place, and extras['success']
        # must keep their final-step success (the runner's and the evaluator's success counts read it).
        self.success = success.clone()
        self.success_any |= success
        dones = time_out | abnormal
        log = self._episode_log(dones, abnormal, time_out, nonfinite, s.overflow)
        done_ids = torch.nonzero(dones).flatten()
        self._reset_envs(done_ids)
        self._obs = self._compute_observations()
        self.extras = {"time_outs": time_out & ~abnormal, "log": log, "nan_actions": nonfinite,
                       "abnormal": abnormal, "success": success}
        return self._obs, reward.to(torch.float32), dones, self.extras

    def _torch_physics_steps(self, close: torch.Tensor) -> None:
        """The reference: the law in torch between single engine steps."""
        for _ in range(self.cfg.decimation):
            s = self.engine.state()
            q = s.joint_pos
            pos, rot, jac = self.kin.forward_with_jacobian(q)
            tau = self.osc.torque(jac, s.joint_vel, pos, rot, self.target_pos, self.target_rot)
            tau = self.delay(tau)
            if self._dynamic_friction_on():
                # Undelayed: friction acts on the joint, not through the motor's command path.
                friction = (self.dynamics if self.device.type == "cpu" else self._dynamics_on_device).joint_friction
                tau = tau + dynamic_friction_torque(s.joint_vel, friction, self.dynamic_friction_ratio)
            self.engine.step(tau, close)

    def _native_physics_steps(self, close: torch.Tensor) -> None:
        """The same law, delay and friction inside the engine's native control step."""
        # On a device the friction term always goes in (ratio 1 adds exactly 0): asking whether any
        # ratio differs from 1 would read a value back to the host every policy step.
        friction = self.device.type != "cpu" or self._dynamic_friction_on()
        d = self.dynamics if self.device.type == "cpu" else self._dynamics_on_device
        inputs = ControlInputs(
            kinematics=self._kinematics_array,
            target_pos=self.target_pos.contiguous(), target_rot=self.target_rot.contiguous(),
            kp=self.osc.kp.contiguous(), kd=self.osc.kd.contiguous(),
            pos_clip=self.osc.pos_clip, rot_clip=self.osc.rot_clip,
            delay_buffer=self.delay.buffer, delay=self.delay.delay,
            nonfinite_count=self.osc.nonfinite_count,
            friction_static=d.joint_friction.contiguous() if friction else None,
            friction_ratio=self.dynamic_friction_ratio.contiguous() if friction else None,
            stiction_velocity=STICTION_VELOCITY, stribeck_velocity=STRIBECK_VELOCITY)
        self.engine.control_step(inputs, close, self.cfg.decimation)

    def _dynamic_friction_on(self) -> bool:
        return bool((self.dynamic_friction_ratio != 1.0).any())

    def _episode_log(self, dones, abnormal, time_out, nonfinite, overflow=None) -> dict:
        log: dict[str, float | torch.Tensor] = {"Actions/nan_or_inf_rows": float(nonfinite.sum())}
        if not bool(dones.any()):
            return log
        ids = torch.nonzero(dones).flatten()
        for name, value in self.episode_sums.items():
            log[f"Episode_Reward/{name}"] = float(value[ids].mean()) / self.episode_length_s
        log["Episode_Termination/time_out"] = float((time_out & ~abnormal).sum())
        log["Episode_Termination/abnormal"] = float(abnormal.sum())
        if overflow is not None:  # engines with fixed contact/constraint buffers (part of abnormal)
            log["Episode_Termination/buffer_overflow"] = float((overflow & dones).sum())
        # Per-episode success: success at the episode's last step ("final") and at any step.
        log["Episode_Success/final"] = float(self.success[ids].float().mean())
        log["Episode_Success/any"] = float(self.success_any[ids].float().mean())
        names = self.reset_sampler.reset_type_names
        for t, name in enumerate(names):
            sel = ids[self.reset_type[ids] == t]
            if sel.numel():
                log[f"Episode_Success/{name}"] = float(self.success[sel].float().mean())
                log[f"Episode_Count/{name}"] = float(sel.numel())
        return log

    # ---- checkpoints ---------------------------------------------------------------------------
    # The env's evolving buffers (engine state aside): with them and the RNG a resumed training run
    # steps on from where the checkpoint left it instead of from fresh resets.
    _STATE_TENSORS = ("episode_length_buf", "actions", "prev_actions", "target_pos", "target_rot", "reset_type",
                      "success", "success_any", "osc_kp_scale", "nan_action_count", "dynamic_friction_ratio")

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue this env exactly; refused for an engine that
        cannot snapshot itself."""
        if not hasattr(self.engine, "snapshot"):
            raise NotImplementedError(f"engine {self.cfg.engine!r} cannot snapshot its worlds")
        return {
            "num_envs": self.num_envs,
            "tensors": {k: getattr(self, k).clone() for k in self._STATE_TENSORS},
            "episode_sums": {k: v.clone() for k, v in self.episode_sums.items()},
            "dynamics": {f: getattr(self.dynamics, f).clone() for f in vars(self.dynamics)},
            "delay": {"buffer": self.delay.buffer.clone(), "delay": self.delay.delay.clone()},
            "osc": {"kp": self.osc.kp.clone(), "kd": self.osc.kd.clone()},
            "history": {"buffer": self.history.buffer.clone(), "fill": self.history.fill.clone()},
            "engine": self.engine.snapshot(),
            "obs": {k: v.clone() for k, v in self._obs.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        if int(state["num_envs"]) != self.num_envs:
            raise ValueError(f"env state of {state['num_envs']} worlds, this env has {self.num_envs}")
        for k in self._STATE_TENSORS:
            getattr(self, k).copy_(state["tensors"][k])
        self.episode_sums = {k: v.clone() for k, v in state["episode_sums"].items()}
        for f, v in state["dynamics"].items():
            getattr(self.dynamics, f).copy_(v)
        if self._randomize_model:
            self.engine.set_dynamics(torch.arange(self.num_envs), self.dynamics)
        self.delay.buffer.copy_(state["delay"]["buffer"])
        self.delay.delay.copy_(state["delay"]["delay"])
        self.osc.kp.copy_(state["osc"]["kp"])
        self.osc.kd.copy_(state["osc"]["kd"])
        self.history.buffer.copy_(state["history"]["buffer"])
        self.history.fill.copy_(state["history"]["fill"])
        self._history_needs_reset = None
        self.engine.restore(state["engine"])
        self._obs = TensorDict({k: v.clone() for k, v in state["obs"].items()}, batch_size=[self.num_envs])

    # ---- conveniences --------------------------------------------------------------------------
    def render(self, env_id: int = 0, camera: str = "front", width: int = 224, height: int = 224):
        return self.engine.render(env_id, camera, width, height)

    def close(self) -> None:
        self.engine.close()


def make_env(task: str = "peg_insertion", variant: str = "hard", num_envs: int = 64,
             reset_sampler: ResetSampler | None = None, **overrides) -> OmniResetEnv:
    """Build an env; `overrides` are EnvCfg fields (unknown names raise with the valid ones);
    `reset_sampler` replaces the default reaching sampler (e.g. resets.DatasetResetSampler)."""
    valid = set(EnvCfg.__dataclass_fields__)
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(f"unknown EnvCfg field(s) {unknown}; valid: {sorted(valid)}")
    return OmniResetEnv(replace(EnvCfg(), task=task, variant=variant, num_envs=num_envs, **overrides),
                        reset_sampler=reset_sampler)
