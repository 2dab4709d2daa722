"""ManagerBasedRLEnvCfg of every task spec and variant, registered as gym ids
OmniReset-<Task>-<Variant>-v0 (e.g. OmniReset-PegInsertion-Easy-v0).

Every MDP term calls the project's own torch functions (one definition each):
- action: `OscAction` -- mdp.actions.sanitize_actions, omnireset_control.compose_target once per
  policy step, BatchedOsc + MotorDelay at every physics step (Isaac Lab's apply_actions), the
  binary gripper through mdp.actions.gripper_close_command;
- observations: groups `policy` (omnireset_policy's 5-frame layout, mdp.observations.build_policy_frame
  + ObservationHistory) and `critic` (mdp.observations.build_critic with the privileged terms);
- rewards: the A.1 terms of mdp.rewards with RewardWeights' weights (Isaac Lab's reward manager
  multiplies by the step dt, which is what RewardWeights.scale_by_dt=True reproduces in ours);
- terminations: mdp.terminations.time_out / abnormal_robot_state / object_escaped;
- events: the reset event draws from the env's reset sampler (envs/reset.ReachingResetSampler, or a
  resets.DatasetResetSampler: reset-dataset sampling) and the Table 2 per-reset actuation draws
  (mdp.events.sample_motor_delay / sample_osc_gain_scale).
The simulation is read and written through engine.IsaacLabEngine.attached (the same adapter the
project's own env uses with engine="isaaclab").
"""

from __future__ import annotations

import torch

from omnireset_control.composition import compose_target
from omnireset_control.constants import DECIMATION, TRAIN_ACTION_SCALE, TRAIN_GAINS
from omnireset_control.kinematics import BatchedKinematics
from omnireset_control.osc import BatchedOsc
from omnireset_control.rotations import quat_to_matrix
from omnireset_policy.observation_layout import ACTION_DIM, FRAME_DIM, HISTORY_LENGTH, ObservationHistory

from .. import envs as _envs  # noqa: F401  (mdp.events needs envs imported first: import order)
from ..assets.arm import load_arm_kinematics
from ..assets.scene import SceneConfig
from ..mdp import events as ev
from ..mdp import rewards as rw
from ..mdp import terminations as tm
from ..mdp.actions import ACTION_CLIP, MotorDelay, gripper_close_command, sanitize_actions
from ..mdp.observations import build_critic, build_policy_frame
from ..mdp.task_metrics import GoalFrame
from ..tasks import get_task, get_variant, task_names
from .engine import IsaacLabEngine
from .scene import scene_cfg, sim_cfg

GYM_PREFIX = "OmniReset"


def gym_id(task: str, variant: str) -> str:
    camel = "".join(p.capitalize() for p in task.split("_"))
    return f"{GYM_PREFIX}-{camel}-{variant.capitalize()}-v0"


def _rot(quat: torch.Tensor) -> torch.Tensor:
    return quat_to_matrix(quat / quat.norm(dim=1, keepdim=True).clamp_min(1e-9))


class OmniResetMdp:
    """Per-env MDP state the manager terms share (held target, delay line, history, gains),
    attached to the ManagerBasedRLEnv as `env.omnireset` by the action term."""

    def __init__(self, env, task: str, variant: str, scene: SceneConfig, randomization: ev.RandomizationCfg,
                 reset_sampler=None, seed: int = 0, physics: str = "newton"):
        self.task, self.variant = get_variant(task, variant)
        self.engine = IsaacLabEngine.attached(env.sim, env.scene, self.task, scene, physics)
        n, dev, dt = env.num_envs, self.engine.device, self.engine.dtype
        self.num_envs, self.device, self.dtype = n, dev, dt
        params = load_arm_kinematics(scene.arm)
        self.kin = BatchedKinematics(params, dtype=dt, device=dev)
        self.osc = BatchedOsc(n, TRAIN_GAINS, dtype=dt, device=dev)
        self.randomization = randomization
        self.delay = MotorDelay(n, max_delay=max(randomization.motor_delay_steps[1], 0), dtype=dt, device=dev)
        self.osc_kp_scale = torch.ones(n, 6, dtype=dt, device=dev)
        self.action_scale = torch.tensor(TRAIN_ACTION_SCALE, dtype=dt, device=dev)
        self.goal = GoalFrame(self.task, dtype=dt, device=dev)
        self.history = ObservationHistory(n, HISTORY_LENGTH, FRAME_DIM, dtype=torch.float32, device=dev)
        self.history_pending: torch.Tensor | None = torch.arange(n, device=dev)
        self.actions = torch.zeros(n, ACTION_DIM, dtype=dt, device=dev)
        self.prev_actions = torch.zeros_like(self.actions)
        self.target_pos = torch.zeros(n, 3, dtype=dt, device=dev)
        self.target_rot = torch.eye(3, dtype=dt, device=dev).repeat(n, 1, 1)
        self.close = torch.zeros(n, dtype=torch.bool, device=dev)
        self.generator = torch.Generator().manual_seed(seed)
        if reset_sampler is None:
            from ..envs.reset import ReachingResetSampler

            reset_sampler = ReachingResetSampler(self.task, self.variant, params)
        self.reset_sampler = reset_sampler
        self.dynamics = ev.sample_startup(randomization, self.engine.nominal, n, self.generator)
        self.max_episode_length = env.max_episode_length

    # ---- the shared snapshot -----------------------------------------------------------------
    def snapshot(self):
        s = self.engine.state()
        q = torch.nan_to_num(s.joint_pos.clone())
        ee_pos, ee_rot, jac = self.kin.forward_with_jacobian(q)
        return s, q, ee_pos, ee_rot, jac, _rot(s.target_quat), _rot(s.receptive_quat)

    def goal_errors(self, s, t_rot, r_rot):
        return self.goal.errors(torch.nan_to_num(s.target_pos), t_rot, s.receptive_pos, r_rot)

    def abnormal(self, s) -> torch.Tensor:
        out = tm.abnormal_robot_state(s.joint_vel, self.engine.arm_velocity_limits, s.finite, s.sim_reset)
        return out | tm.object_escaped(s.target_pos, s.target_lin_vel)


# The SceneConfig / RandomizationCfg / reset sampler of each cfg made here (Isaac Lab's configclass
# deep-copies and rewrites its fields, which frozen dataclasses and samplers do not allow).
_CONTEXTS: dict[int, dict] = {}


def _mdp(env) -> OmniResetMdp:
    return env.omnireset


# ---- action term ---------------------------------------------------------------------------------
def _action_classes():
    from isaaclab.managers import ActionTerm, ActionTermCfg
    from isaaclab.utils import configclass

    class OscAction(ActionTerm):
        """7-D action: scaled relative TCP delta through omnireset_control's batched OSC law + binary gripper."""

        cfg: "OscActionCfg"

        def __init__(self, cfg, env):
            super().__init__(cfg, env)
            ctx = _CONTEXTS[cfg.context_key]
            env.omnireset = OmniResetMdp(env, cfg.task, cfg.variant, ctx["scene"], ctx["randomization"],
                                         ctx["reset_sampler"], cfg.seed, ctx["physics"])
            self._raw = torch.zeros(env.num_envs, ACTION_DIM, device=env.device)

        @property
        def action_dim(self) -> int:
            return ACTION_DIM

        @property
        def raw_actions(self) -> torch.Tensor:
            return self._raw

        @property
        def processed_actions(self) -> torch.Tensor:
            return _mdp(self._env).actions

        def process_actions(self, actions: torch.Tensor) -> None:
            m = _mdp(self._env)
            self._raw[:] = actions
            clean, _ = sanitize_actions(actions.to(m.device, m.dtype), ACTION_CLIP)
            m.prev_actions = m.actions
            m.actions = clean
            _, _, ee_pos, ee_rot, _, _, _ = m.snapshot()
            m.target_pos, m.target_rot = compose_target(ee_pos, ee_rot, clean[:, :6], m.action_scale)
            m.close = gripper_close_command(clean)

        def apply_actions(self) -> None:
            m = _mdp(self._env)
            s = m.engine.state()
            pos, rot, jac = m.kin.forward_with_jacobian(s.joint_pos)
            tau = m.delay(m.osc.torque(jac, s.joint_vel, pos, rot, m.target_pos, m.target_rot))
            m.engine.apply_controls(tau, m.close)

        def reset(self, env_ids=None) -> None:
            pass  # the reset event resets the law, the delay line and the held target

    @configclass
    class OscActionCfg(ActionTermCfg):
        class_type: type = OscAction
        asset_name: str = "robot"
        task: str = "peg_insertion"
        variant: str = "easy"
        context_key: int = 0  # -> _CONTEXTS: the project's frozen dataclasses stay out of the configclass
        seed: int = 0

    return OscAction, OscActionCfg


# ---- observation terms ----------------------------------------------------------------------------
def policy_obs(env) -> torch.Tensor:
    """The policy group: omnireset_policy's layout, HISTORY_LENGTH frames (oldest first)."""
    m = _mdp(env)
    s, q, ee_pos, ee_rot, _, t_rot, r_rot = m.snapshot()
    frame = build_policy_frame(q, ee_pos, ee_rot, torch.nan_to_num(s.target_pos), t_rot, s.receptive_pos, r_rot,
                               m.actions)
    frame = torch.nan_to_num(frame.to(torch.float32))
    m.history.push(frame)
    if m.history_pending is not None and m.history_pending.numel() > 0:
        m.history.reset(m.history_pending, frame[m.history_pending])
    m.history_pending = None
    m.last_frame = frame
    return m.history.flat().clone()


def critic_obs(env) -> torch.Tensor:
    """The critic group: the current policy frame + the privileged terms (no history)."""
    m = _mdp(env)
    s, q, _, _, jac, _, _ = m.snapshot()
    qd = torch.nan_to_num(s.joint_vel)
    d = m.dynamics
    privileged = {
        "joint_vel": qd, "ee_twist": (jac @ qd[..., None])[..., 0],
        "time_left": (m.max_episode_length - env.episode_length_buf).to(m.dtype) / m.max_episode_length,
        "robot_friction": d.robot_friction, "target_friction": d.target_friction,
        "receptive_friction": d.receptive_friction, "table_friction": d.table_friction,
        "robot_mass_scale": d.robot_mass_scale, "target_mass": d.target_mass,
        "receptive_mass_scale": d.receptive_mass_scale, "table_mass_scale": d.table_mass_scale,
        "joint_friction": d.joint_friction, "joint_armature": d.joint_armature, "joint_damping": d.joint_damping,
        "gripper_gain_scale": torch.stack([d.gripper_stiffness_scale, d.gripper_damping_scale], 1),
        "osc_kp_scale": m.osc_kp_scale, "motor_delay": m.delay.delay.to(m.dtype),
    }
    privileged = {k: v.to(m.device) for k, v in privileged.items()}
    return torch.nan_to_num(build_critic(m.last_frame, privileged))


# ---- reward terms (unweighted; the reward manager applies weight * dt) ----------------------------
def r_action(env):
    return rw.action_l2(_mdp(env).actions)


def r_action_rate(env):
    m = _mdp(env)
    return rw.action_rate_l2(m.actions, m.prev_actions)


def r_joint_vel(env):
    return torch.nan_to_num(rw.joint_vel_l2(_mdp(env).engine.state().joint_vel), nan=0.0, posinf=0.0, neginf=0.0)


def r_abnormal(env):
    m = _mdp(env)
    return m.abnormal(m.engine.state()).to(m.dtype)


def r_reach(env, std: float):
    m = _mdp(env)
    s, _, ee_pos, _, _, _, _ = m.snapshot()
    return torch.nan_to_num(rw.reach(ee_pos, s.target_pos, std))


def r_dist(env, std: float):
    m = _mdp(env)
    s, _, _, _, _, t_rot, r_rot = m.snapshot()
    g = m.goal_errors(s, t_rot, r_rot)
    return torch.nan_to_num(rw.goal_distance(g.position, g.orientation, std))


def r_success(env):
    m = _mdp(env)
    s, _, _, _, _, t_rot, r_rot = m.snapshot()
    return (m.goal_errors(s, t_rot, r_rot).success & ~m.abnormal(s)).to(m.dtype)


# ---- terminations -----------------------------------------------------------------------------
def t_time_out(env):
    return tm.time_out(env.episode_length_buf, env.max_episode_length)


def t_abnormal(env):
    m = _mdp(env)
    return m.abnormal(m.engine.state())


# ---- events -----------------------------------------------------------------------------------
def reset_from_sampler(env, env_ids):
    """Reset event: the Table 2 per-reset actuation draws, then a reset state from the env's
    sampler (reaching resets, or the reset dataset through resets.DatasetResetSampler)."""
    m = _mdp(env)
    everyone = torch.arange(m.num_envs, device=m.device)
    if env_ids is None or isinstance(env_ids, slice):  # Isaac Lab passes slice(None) for "all"
        ids = everyone if env_ids is None else everyone[env_ids]
    else:
        ids = torch.as_tensor(env_ids, device=m.device, dtype=torch.long)
    if ids.numel() == 0:
        return
    host = ids.cpu()
    cfg, g, k = m.randomization, m.generator, ids.numel()
    sub = m.dynamics.index(host)
    ev.resample_actuation(cfg, m.engine.nominal, sub, g)
    m.dynamics.assign(host, sub)
    if cfg.enabled:  # as OmniResetEnv._reset_envs: the drawn model parameters into these worlds
        m.engine.set_dynamics(ids, sub)
    m.delay.delay[ids] = ev.sample_motor_delay(cfg, k, g).to(m.device)
    m.delay.reset(ids)
    m.osc_kp_scale[ids] = ev.sample_osc_gain_scale(cfg, k, g).to(m.device, m.dtype)
    m.osc.set_gains(TRAIN_GAINS, ids, kp_scale=m.osc_kp_scale[ids])
    m.osc.reset(ids)
    reset = m.reset_sampler.sample(host, g)
    m.engine.reset_envs(ids, reset)
    m.actions[ids] = 0.0
    m.prev_actions[ids] = 0.0
    m.history_pending = ids if m.history_pending is None else torch.unique(torch.cat([m.history_pending, ids]))
    # Hold the reset pose until the first policy step composes a target.
    _, _, ee_pos, ee_rot, _, _, _ = m.snapshot()
    m.target_pos[ids], m.target_rot[ids] = ee_pos[ids], ee_rot[ids]


# ---- the cfg ------------------------------------------------------------------------------------
def make_env_cfg(task: str = "peg_insertion", variant: str = "easy", num_envs: int = 64, device: str = "cpu",
                 scene: SceneConfig | None = None, randomization: ev.RandomizationCfg | None = None,
                 reset_sampler=None, seed: int = 0, weights: rw.RewardWeights | None = None,
                 physics: str = "newton"):
    """The ManagerBasedRLEnvCfg of (task, variant), built from the same TaskSpec as our env."""
    from isaaclab.envs import ManagerBasedRLEnvCfg
    from isaaclab.managers import EventTermCfg, ObservationGroupCfg, ObservationTermCfg, RewardTermCfg
    from isaaclab.managers import TerminationTermCfg
    from isaaclab.utils import configclass

    spec, _ = get_variant(task, variant)  # validates both names
    scene = scene or SceneConfig()
    randomization = randomization or ev.RandomizationCfg()
    w = weights or rw.RewardWeights()
    if not w.scale_by_dt:
        raise ValueError("Isaac Lab's reward manager always scales by dt: RewardWeights.scale_by_dt must be True")
    _, OscActionCfg = _action_classes()
    key = len(_CONTEXTS)
    _CONTEXTS[key] = {"scene": scene, "randomization": randomization, "reset_sampler": reset_sampler,
                      "physics": physics}

    @configclass
    class ActionsCfg:
        osc = OscActionCfg(task=task, variant=variant, context_key=key, seed=seed)

    @configclass
    class PolicyCfg(ObservationGroupCfg):
        history = ObservationTermCfg(func=policy_obs)

        def __post_init__(self):
            self.concatenate_terms = True
            self.enable_corruption = False

    @configclass
    class CriticCfg(ObservationGroupCfg):
        state = ObservationTermCfg(func=critic_obs)

        def __post_init__(self):
            self.concatenate_terms = True
            self.enable_corruption = False

    @configclass
    class ObservationsCfg:
        policy = PolicyCfg()  # computed first: it refreshes the frame the critic repeats
        critic = CriticCfg()

    @configclass
    class RewardsCfg:
        action = RewardTermCfg(func=r_action, weight=w.action)
        action_rate = RewardTermCfg(func=r_action_rate, weight=w.action_rate)
        joint_vel = RewardTermCfg(func=r_joint_vel, weight=w.joint_vel)
        abnormal = RewardTermCfg(func=r_abnormal, weight=w.abnormal)
        reach = RewardTermCfg(func=r_reach, weight=w.reach, params={"std": w.reach_std})
        dist = RewardTermCfg(func=r_dist, weight=w.dist, params={"std": w.dist_std})
        success = RewardTermCfg(func=r_success, weight=w.success)

    @configclass
    class TerminationsCfg:
        time_out = TerminationTermCfg(func=t_time_out, time_out=True)
        abnormal = TerminationTermCfg(func=t_abnormal)

    @configclass
    class EventsCfg:
        reset = EventTermCfg(func=reset_from_sampler, mode="reset")

    @configclass
    class OmniResetEnvCfg(ManagerBasedRLEnvCfg):
        def __post_init__(self):
            self.decimation = DECIMATION
            self.episode_length_s = spec.episode_length_s  # the task's (16 s as released; threaded leg 40 s)

    cfg = OmniResetEnvCfg(
        scene=scene_cfg(spec, num_envs, scene, physics=physics), sim=sim_cfg(device, scene, physics),
        actions=ActionsCfg(), observations=ObservationsCfg(), rewards=RewardsCfg(),
        terminations=TerminationsCfg(), events=EventsCfg())
    cfg.sim.render_interval = DECIMATION
    return cfg


def make_gym_env(task: str, variant: str, num_envs: int = 64, device: str = "cpu", render_mode=None, **kwargs):
    """gym entry point: the ManagerBasedRLEnv of make_env_cfg(...)."""
    from isaaclab.envs import ManagerBasedRLEnv

    return ManagerBasedRLEnv(make_env_cfg(task, variant, num_envs, device, **kwargs), render_mode=render_mode)


def register_gym_envs() -> list[str]:
    """Register OmniReset-<Task>-<Variant>-v0 for every task spec and variant; returns the ids."""
    import gymnasium as gym

    ids = []
    for task in task_names():
        for variant in get_task(task).variants:
            name = gym_id(task, variant)
            if name not in gym.registry:
                gym.register(id=name, entry_point=f"{__name__}:make_gym_env", disable_env_checker=True,
                             kwargs={"task": task, "variant": variant})
            ids.append(name)
    return ids


__all__ = ["OmniResetMdp", "gym_id", "make_env_cfg", "make_gym_env", "register_gym_envs"]
