"""The four-leg table (the paper's Four Leg demonstration): one single-leg policy per leg, switched by a script.

    python -m omnireset_sim.four_leg_table --policy src/omnireset_bringup/policies/oracle_leg_twisting
    python -m omnireset_sim.four_leg_table --policy DIR [--policy DIR2 DIR3 DIR4] [--leg threaded|pin] \\
        [--seeds 0 1 2] [--tables 4] [--gif docs/results/four_leg_table.gif]

One MuJoCo scene (assets/four_leg_scene.py): the single-leg task's robot and table, a table top with
four of the leg task's threaded holes (plain pin holes with `--leg pin`) and four legs
lying on the table. The paper "trains independent OmniReset policies to screw in each of the four legs
then uses a simple scripting policy to switch between the policies"; this module is that script. For
leg k = 0..3 in turn, the env is the single-leg env itself (OmniResetEnv with the registered leg task:
its action path, OSC law, control rate, observation terms and success rule) whose engine reports leg k
as the target object and hole k's frame as the receptive object; the other legs are scene. Leg k's
turn begins as a single-leg episode begins (history filled with its first frame, last action zero)
and ends at the task's success (2.5 mm / 0.025 rad, the spec's thresholds) or after `--leg-seconds`
(default: the leg's episode, TaskSpec.episode_length_s: 40 s threaded, 16 s pin).
Between turns the script lets go, backs the hand off the standing leg, lifts it over the standing
legs and takes it above the next leg pointing down (`--handover-steps` at most; 0: switch at once).

Reported per leg: seated in its turn; still seated when the table is done (after the last let-go); a
table succeeds when all four are. Rates come with 95 % Wilson intervals (rl/evaluate.wilson_interval).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Offscreen rendering for --gif: MuJoCo picks its GL backend when it is first imported (below).
os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from omnireset_control.constants import DECIMATION, PHYSICS_DT, POLICY_RATE_HZ, OscGains  # noqa: E402
from omnireset_control.rotations import quat_multiply, quat_to_matrix  # noqa: E402

from .assets.four_leg_scene import (HOLE_OFFSETS, NUM_LEGS, build_four_leg_scene_xml, leg_body,  # noqa: E402
                                    leg_joint, table_task)
from .envs.engine import ResetState  # noqa: E402
from .envs.mujoco_engine import MujocoEngine  # noqa: E402
from .envs.reset import ReachingResetSampler, yaw_quat  # noqa: E402
from .tasks.spec import WORKSPACE_ORIGIN, TaskSpec, VariantSpec, sample_uniform  # noqa: E402

LEG_TASK = "leg_twisting"  # the registered single-leg task whose env (and policies) the table runs
LEG_CHOICES = ("pin", "threaded")
DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "omnireset_bringup" / "policies" / "oracle_leg_twisting"

# ---- layout (base_link, m) ------------------------------------------------------------------------
# The top where the single-leg task's goals are (Easy (0.50, -0.30), Hard x 0.29-0.56); its far row
# of holes at y -0.285, its near row at -0.155.
TOP_XY = (0.45, -0.22)
TOP_XY_JITTER = 0.01  # U(+-) per axis, per table
# The legs lie in a row in the Hard variant's target range, 100 mm apart (the open fingers, 85 mm
# stroke, of a grasp on one leg clear its neighbours), the leg's axis along y with the pin away from
# the top (the task's rest quat turned by LEG_YAW). With that yaw the oracle's side grasp holds the
# seated leg from the robot's side. Measured with yaw 0 (pin towards the top): the hand held it from
# the far side, the arm near full stretch, and lifting off after the let-go flipped the elbow
# through its singularity into the seated legs.
LEG_SLOTS: tuple[tuple[float, float], ...] = ((0.30, 0.10), (0.40, 0.10), (0.50, 0.10), (0.60, 0.10))
LEG_YAW = math.pi
LEG_XY_JITTER = 0.01  # U(+-) per axis, per leg
LEG_YAW_JITTER = 0.2  # rad, U(+-): at the extremes neighbours stay >= 28 mm apart

# ---- the script between policies ------------------------------------------------------------------
# The script between two turns, in the order it runs (class Handover). Each step was added after a
# measured failure of the table without it (oracle, pin legs):
# * let go in place for OPEN_STEPS (the fingers open within 0.43 s, oracle_policy);
# * back off BACK_OFF along the TCP's approach axis: the leg's side grasp holds the gripper
#   horizontal, its open pads straddling the standing leg (the threaded oracle's grasp from above:
#   straight up);
# * rise to RISE_CLEARANCE above the standing legs' tops: the wrist camera's guard box hangs ~0.1 m
#   below a horizontal hand, and with 27 or 100 mm of lift the hand's next move knocked the seated
#   leg out of its hole;
# * travel at that height to above the next leg, turning the hand to point down: a policy started
#   with the hand still horizontal got stuck low over the table, the guard box against it, in 3 of
#   4 turns. The OSC turns the hand ~0.26 rad/s: 6 s for 90 deg.
# A turn ends as seated once the task's success has held TURN_HOLD_S (the single-leg success rule
# itself is unchanged). Traced on seed 0 x 4 threaded tables: ended at the first success step, or
# after the sim node's 0.5 s hold (sim_core.SUCCESS_HOLD_S), the leg stood 1.6-2.1 mm above its seat
# on the thread's flanks alone, and after the let-go it tipped slowly (0.3 -> 3.3 deg over 7 s, nothing
# but the top touching it) out of the 0.025 rad threshold: leg 3 still seated at the end in 0/4
# tables either way. Held 2 s, the oracle screws it home (0.5 mm above the seat): 4/4.
TURN_HOLD_S = 2.0
TURN_HOLD_STEPS = int(round(TURN_HOLD_S * POLICY_RATE_HZ))
OPEN_STEPS = 5
BACK_OFF = 0.07  # m: pad reach (20 mm) + half the leg (12.5 mm) + margin
RISE_CLEARANCE = 0.16  # m of TCP height above the standing legs' tops
SCRIPT_MAX_STEP = 0.05  # m per policy step (the oracle's max_step)
SCRIPT_TOL = 0.01  # m: a script waypoint counts as reached
SCRIPT_MAX_TURN = 0.3  # rad per step (the oracle's max_rot_step)
SCRIPT_TURN_TOL = 0.15  # rad


def leg_spec(leg: str) -> TaskSpec:
    if leg == "threaded":  # the registered leg task
        from .tasks import get_task

        return get_task(LEG_TASK)
    if leg == "pin":
        from .tasks.leg_twisting import PIN_SPEC

        return PIN_SPEC
    raise ValueError(f"unknown leg {leg!r}; valid: {list(LEG_CHOICES)}")


def _goal_fields(spec: TaskSpec) -> tuple:
    return (spec.goal_pos, spec.goal_quat, spec.success_position_threshold, spec.success_orientation_threshold,
            spec.ignored_axes)


# ---- reset: a reaching start of the arm, the top and four resting legs ----------------------------
@dataclass
class FourLegReset(ResetState):
    """A ResetState whose target is leg 0 and whose receptive pose is the top's, with every leg's pose."""

    leg_pos: torch.Tensor | None = None  # [M,4,3]
    leg_quat: torch.Tensor | None = None  # [M,4,4]


class FourLegResetSampler:
    """The single-leg env's reaching sampler (arm start by IK, rejected over the top's footprint) on
    the four-hole top at TOP_XY (+- TOP_XY_JITTER), and the legs at LEG_SLOTS (+- jitter)."""

    reset_type_names = ("reaching",)

    def __init__(self, scene_task: TaskSpec, kinematics_params):
        rx, ry = TOP_XY[0] - WORKSPACE_ORIGIN[0], TOP_XY[1] - WORKSPACE_ORIGIN[1]
        xs = [x - WORKSPACE_ORIGIN[0] for x, _ in LEG_SLOTS]
        ys = [y - WORKSPACE_ORIGIN[1] for _, y in LEG_SLOTS]
        variant = VariantSpec("four_leg_table", ((min(xs), max(xs)), (min(ys), max(ys))),
                              ((rx - TOP_XY_JITTER, rx + TOP_XY_JITTER), (ry - TOP_XY_JITTER, ry + TOP_XY_JITTER)))
        self.task = scene_task
        self.reaching = ReachingResetSampler(scene_task, variant, kinematics_params)

    def sample(self, env_ids: torch.Tensor, generator: torch.Generator | None = None) -> FourLegReset:
        base = self.reaching.sample(env_ids, generator)
        m = int(env_ids.numel())
        slots = torch.tensor(LEG_SLOTS, dtype=torch.float64).expand(m, NUM_LEGS, 2)
        jitter = sample_uniform((-LEG_XY_JITTER, LEG_XY_JITTER), m * NUM_LEGS * 2, generator).reshape(m, NUM_LEGS, 2)
        yaw = LEG_YAW + sample_uniform((-LEG_YAW_JITTER, LEG_YAW_JITTER), m * NUM_LEGS, generator)
        rest = torch.tensor(self.task.target_rest_quat, dtype=torch.float64).expand(m * NUM_LEGS, 4)
        leg_quat = quat_multiply(yaw_quat(yaw), rest).reshape(m, NUM_LEGS, 4)
        z = torch.full((m, NUM_LEGS, 1), self.task.target_rest_height, dtype=torch.float64)
        leg_pos = torch.cat([slots + jitter, z], dim=2)
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(ResetState)}
        fields.update(target_pos=leg_pos[:, 0].clone(), target_quat=leg_quat[:, 0].clone())
        return FourLegReset(**fields, leg_pos=leg_pos, leg_quat=leg_quat)


# ---- the engine: the single-leg engine's interface over the four-leg scene ------------------------
class FourLegEngine(MujocoEngine):
    """MuJoCo C engine of the four-leg scene. `state()` is what the single-leg env reads, with leg
    `active_leg[e]` of world e as the target object and hole `active_leg[e]`'s frame (the top's pose
    shifted by HOLE_OFFSETS) as the receptive object. Randomization draws one leg (the env's target
    parameters) and gives all four legs its friction and mass: they are one part."""

    def __init__(self, spec: TaskSpec, num_envs: int, scene=None, kinematics=None, nthread: int = 2):
        from .assets.arm import load_arm_kinematics
        from .assets.scene import SceneConfig

        scene = scene or SceneConfig()
        kinematics = kinematics or load_arm_kinematics(scene.arm)
        self.leg_task = spec
        self.scene_task = table_task(spec)
        super().__init__(self.scene_task, num_envs, scene, kinematics, nthread,
                         xml=build_four_leg_scene_xml(spec, kinematics, scene))
        m = self.model
        self._leg_qpos = np.array([m.jnt_qposadr[m.joint(leg_joint(k)).id] for k in range(NUM_LEGS)])
        self._leg_dof = np.array([m.jnt_dofadr[m.joint(leg_joint(k)).id] for k in range(NUM_LEGS)])
        self._leg_bodies = np.array([m.body(leg_body(k)).id for k in range(NUM_LEGS)])
        self._leg_geoms = [np.flatnonzero(m.geom_bodyid == b) for b in self._leg_bodies]
        self.active_leg = np.zeros(num_envs, dtype=np.int64)
        self.hole_offsets = torch.tensor([(x, y, 0.0) for x, y in HOLE_OFFSETS], dtype=torch.float64)

    def set_active_leg(self, env_ids, leg: int) -> None:
        if not 0 <= int(leg) < NUM_LEGS:
            raise ValueError(f"leg must be in 0..{NUM_LEGS - 1}, got {leg}")
        self.active_leg[np.asarray(env_ids, dtype=np.int64)] = int(leg)

    # -- poses of every leg and hole ([N,4,...], base_link, quaternions (w, x, y, z))
    def leg_poses(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(self._qpos0 + self._leg_qpos)
        s = self._t_state
        pos = torch.stack([s[:, i:i + 3] for i in idx.tolist()], dim=1)
        quat = torch.stack([s[:, i + 3:i + 7] for i in idx.tolist()], dim=1)
        return pos.clone(), quat.clone()

    def hole_frames(self) -> tuple[torch.Tensor, torch.Tensor]:
        top_pos = torch.from_numpy(self._mocap_pos).clone()
        top_quat = torch.from_numpy(self._mocap_quat).clone()
        rot = quat_to_matrix(top_quat / top_quat.norm(dim=1, keepdim=True))
        pos = top_pos[:, None, :] + torch.einsum("nij,kj->nki", rot, self.hole_offsets)
        return pos, top_quat[:, None, :].expand(-1, NUM_LEGS, 4).clone()

    def state(self):
        st = super().state()
        s = self._t_state
        rows = torch.arange(self.num_envs)[:, None]
        tq = torch.from_numpy(self._qpos0 + self._leg_qpos[self.active_leg])[:, None]
        tv = torch.from_numpy(self._qvel0 + self._leg_dof[self.active_leg])[:, None]
        a3, a4 = torch.arange(3)[None], torch.arange(4)[None]
        st.target_pos = s[rows, tq + a3]
        st.target_quat = s[rows, tq + 3 + a4]
        st.target_lin_vel = s[rows, tv + a3]
        st.target_ang_vel = s[rows, tv + 3 + a3]
        hole_pos, hole_quat = self.hole_frames()
        active = torch.from_numpy(self.active_leg)
        st.receptive_pos = hole_pos[torch.arange(self.num_envs), active]
        st.receptive_quat = hole_quat[torch.arange(self.num_envs), active]
        return st

    def reset_envs(self, env_ids: torch.Tensor, reset: ResetState) -> None:
        super().reset_envs(env_ids, reset)  # arm, gripper, leg 0 (reset.target_*), the top (mocap)
        ids = env_ids.to("cpu").numpy()
        if ids.size == 0:
            return
        if getattr(reset, "leg_pos", None) is None:
            raise ValueError("the four-leg engine needs a FourLegReset (every leg's pose)")
        leg_pos = reset.leg_pos.to(torch.float64).cpu().numpy()
        leg_quat = reset.leg_quat.to(torch.float64).cpu().numpy()
        for k in range(NUM_LEGS):
            q = self._qpos0 + self._leg_qpos[k]
            self._state[ids, q:q + 3] = leg_pos[:, k]
            self._state[ids, q + 3:q + 7] = leg_quat[:, k]
        self.active_leg[ids] = 0

    def set_dynamics(self, env_ids: torch.Tensor, params) -> None:
        super().set_dynamics(env_ids, params)
        for env in env_ids.to("cpu").tolist():
            m = self.models[env]
            for k in range(1, NUM_LEGS):
                m.geom_friction[self._leg_geoms[k]] = m.geom_friction[self._leg_geoms[0]]
                m.body_mass[self._leg_bodies[k]] = m.body_mass[self._leg_bodies[0]]
                m.body_inertia[self._leg_bodies[k]] = m.body_inertia[self._leg_bodies[0]]
            mujoco.mj_setConst(m, self._datas[0])  # as MujocoEngine.set_dynamics: derived constants


def make_four_leg_env(leg: str = "threaded", num_envs: int = 1, seed: int = 0, *, action_scale=None,
                      osc_gains: OscGains | None = None, randomization=None, leg_seconds: float | None = None,
                      nthread: int = 2):
    """The single-leg env (OmniResetEnv of LEG_TASK: its action path, law, rate, observations and
    success rule) on the four-leg scene, every world at leg 0 of a fresh table."""
    from .envs import vec_env
    from .mdp.events import RandomizationCfg
    from .tasks import get_task

    spec = leg_spec(leg)
    if _goal_fields(spec) != _goal_fields(get_task(LEG_TASK)):
        raise ValueError(f"leg {leg!r}: its goal or thresholds differ from the registered {LEG_TASK!r} task's")
    leg_seconds = spec.episode_length_s if leg_seconds is None else leg_seconds
    if not (math.isfinite(leg_seconds) and leg_seconds > 0):
        raise ValueError(f"leg_seconds must be a finite number > 0, got {leg_seconds!r}")

    def factory(cfg, task, kinematics):
        return FourLegEngine(spec, cfg.num_envs, cfg.scene, kinematics=kinematics, nthread=cfg.nthread)

    from .assets.arm import load_arm_kinematics

    base = vec_env.EnvCfg()
    sampler = FourLegResetSampler(table_task(spec), load_arm_kinematics(base.scene.arm))
    overrides = {"action_scale": tuple(action_scale)} if action_scale is not None else {}
    if osc_gains is not None:
        overrides["osc_gains"] = osc_gains
    # The env's own time-out must never end a turn (the script does, at leg_seconds; each turn starts
    # its episode clock at 0): twice the turn.
    name = "four_leg_table_mujoco"
    vec_env.ENGINES[name] = factory  # the env picks its engine by name; registered only while it is built
    try:
        cfg = dataclasses.replace(base, task=LEG_TASK, variant="easy", num_envs=int(num_envs), seed=int(seed),
                                  nthread=int(nthread), engine=name, episode_length_s=2.0 * leg_seconds,
                                  randomization=randomization or RandomizationCfg(), **overrides)
        env = vec_env.OmniResetEnv(cfg, reset_sampler=sampler)
    finally:
        del vec_env.ENGINES[name]
    return env


def begin_leg(env, env_ids, leg: int) -> None:
    """Make `leg` the target object of worlds `env_ids` and start its turn as the single-leg env
    starts an episode (OmniResetEnv._reset_envs): episode clock 0, last actions zero, the history
    filled with the first frame. The physics (arm, gripper, legs, OSC and delay state) runs on
    untouched; the other worlds' observations and histories stay as they are."""
    ids = torch.as_tensor(np.asarray(env_ids, dtype=np.int64))
    if ids.numel() == 0:
        return
    env.engine.set_active_leg(ids.numpy(), leg)
    env.episode_length_buf[ids] = 0
    env.actions[ids] = 0.0
    env.prev_actions[ids] = 0.0
    env.success[ids] = False
    env.success_any[ids] = False
    keep = torch.ones(env.num_envs, dtype=torch.bool)
    keep[ids] = False
    buffer, fill, old = env.history.buffer.clone(), env.history.fill.clone(), env.get_observations()
    env._history_needs_reset = ids
    obs = env._compute_observations()  # pushes a frame into every history: undo it for the others
    env.history.buffer[keep] = buffer[keep]
    env.history.fill[keep] = fill[keep]
    for key in obs.keys():
        obs[key][keep] = old[key][keep]
    env._obs = obs


def legs_seated(env) -> torch.Tensor:
    """[N,4] bool: each leg at its hole's goal by the task's success rule (the env's GoalFrame)."""
    leg_pos, leg_quat = env.engine.leg_poses()
    hole_pos, hole_quat = env.engine.hole_frames()
    n = env.num_envs
    leg_quat = leg_quat.reshape(n * NUM_LEGS, 4)
    leg_rot = quat_to_matrix(leg_quat / leg_quat.norm(dim=1, keepdim=True))
    errors = env.goal.errors(leg_pos.reshape(n * NUM_LEGS, 3), leg_rot, hole_pos.reshape(n * NUM_LEGS, 3),
                             quat_to_matrix(hole_quat.reshape(n * NUM_LEGS, 4)))
    return errors.success.reshape(n, NUM_LEGS)


def standing_top(spec: TaskSpec) -> float:
    """Height (m) of a seated leg's top above its hole frame."""
    from .tasks.spec import _geom_corners, _quat_matrix

    rot = _quat_matrix(spec.goal_quat)
    return spec.goal_pos[2] + max(sum(rot[2][k] * p[k] for k in range(3)) for g in spec.target.geoms
                                  for p in _geom_corners(g))


class Handover:
    """The script between two policies (per world): let go in place for OPEN_STEPS, back off
    BACK_OFF along the TCP's approach axis, rise to RISE_CLEARANCE above the
    standing legs' tops, then (when a leg is left) travel at that height to above the next leg while
    turning the hand to point down, so that the next policy starts clear of the standing legs, from
    a reaching-like pose. Over when there (or after `max_steps`). Actions in policy units through
    the env's own action path (base-frame deltas)."""

    def __init__(self, env, max_steps: int):
        self.env = env
        self.max_steps = int(max_steps)
        n = env.num_envs
        self.back_aim = torch.zeros(n, 3, dtype=torch.float64)
        self.next_xy = torch.full((n, 2), math.nan, dtype=torch.float64)
        self.stage = np.zeros(n, dtype=np.int64)  # 0 open, 1 back off, 2 rise, 3 travel, 4 there
        self.clear_z = float(env.engine.hole_frames()[0][:, 0, 2].max()) + standing_top(env.engine.leg_task) \
            + RISE_CLEARANCE

    def _tcp(self):
        return self.env.kin.forward(torch.nan_to_num(self.env.engine.state().joint_pos.clone()))

    def _turn_down(self) -> torch.Tensor:
        """[N,3] rotation vector (base frame) taking the TCP's approach axis onto straight down."""
        z = self._tcp()[1][:, :, 2]
        down = torch.tensor([0.0, 0.0, -1.0], dtype=z.dtype).expand_as(z)
        axis = torch.cross(z, down, dim=1)
        sin = axis.norm(dim=1, keepdim=True)
        angle = torch.atan2(sin, (z * down).sum(dim=1, keepdim=True))
        return axis / sin.clamp_min(1e-9) * angle

    def _tilt(self) -> np.ndarray:
        return self._turn_down().norm(dim=1).numpy()

    def start(self, rows: np.ndarray, next_leg: np.ndarray) -> None:
        """Begin the script in worlds `rows`; next_leg[i] is the leg to go to after it (-1: none)."""
        pos, rot = self._tcp()
        # Straight back out along the TCP's approach axis, the way the open pads came in: sideways for
        # the leg's side grasp, straight up for the threaded oracle's grasp from above (a sideways
        # move there drags a pad through the seated leg: 0/16 last legs still seated, measured).
        axis = rot[:, :, 2]
        self.back_aim[rows] = (pos - BACK_OFF * axis)[rows]
        legs = self.env.engine.leg_poses()[0]
        for r, k in zip(rows.tolist(), np.asarray(next_leg).tolist()):
            self.next_xy[r] = legs[r, k, :2] if k >= 0 else math.nan
        self.stage[rows] = 0

    def _advance(self, count: np.ndarray, pos: torch.Tensor) -> None:
        p = pos.numpy()
        back = np.linalg.norm(p - self.back_aim.numpy(), axis=1) < SCRIPT_TOL
        high = p[:, 2] >= self.clear_z - SCRIPT_TOL
        has_next = ~np.isnan(self.next_xy[:, 0].numpy())
        near_next = np.linalg.norm(p[:, :2] - np.nan_to_num(self.next_xy.numpy()), axis=1) < 2 * SCRIPT_TOL
        s = self.stage
        s[(s == 0) & (count >= OPEN_STEPS)] = 1
        s[(s == 1) & back] = 2
        s[(s == 2) & high] = 3
        s[(s == 3) & (~has_next | (near_next & (self._tilt() < SCRIPT_TURN_TOL)))] = 4

    def action(self, count: np.ndarray) -> torch.Tensor:
        pos, _ = self._tcp()
        self._advance(count, pos)
        aim = pos.clone()
        st = torch.from_numpy(self.stage)
        aim[st == 1] = self.back_aim[st == 1]
        rising = st == 2
        aim[rising, 2] = self.clear_z
        travel = st == 3
        aim[travel, :2] = self.next_xy[travel]
        aim[travel, 2] = self.clear_z
        delta = aim - pos
        delta = delta * (SCRIPT_MAX_STEP / delta.norm(dim=1, keepdim=True).clamp_min(SCRIPT_MAX_STEP))
        a = torch.zeros(self.env.num_envs, 7, dtype=torch.float64)
        a[:, :3] = delta / self.env.action_scale[:3].to(torch.float64)
        turn = self._turn_down()
        turn = turn * (SCRIPT_MAX_TURN / turn.norm(dim=1, keepdim=True).clamp_min(SCRIPT_MAX_TURN))
        a[travel, 3:6] = (turn / self.env.action_scale[3:6].to(torch.float64))[travel]
        a[:, 6] = 1.0  # >= 0 opens (observation_layout.gripper_closes)
        return a

    def over(self, count: np.ndarray) -> np.ndarray:
        self._advance(count, self._tcp()[0])
        return (count >= self.max_steps) | (self.stage == 4)


HANDOVER_STEPS = 120


@dataclass
class TableOutcome:
    turn_success: np.ndarray  # [T,4] bool: leg k seated by the success rule within its turn
    turn_steps: np.ndarray  # [T,4] policy steps leg k's turn took (-1: never started)
    seated_end: np.ndarray  # [T,4] bool: leg k seated when the table was done (after the last let-go)
    best_error: np.ndarray  # [T,4] m: leg k's smallest position error to its goal during its turn
    aborted: np.ndarray  # [T] bool: the env ended the world as abnormal (the table is lost)
    frames: list  # RGB frames of world 0 (when recorded)

    @property
    def table_success(self) -> np.ndarray:
        return self.seated_end.all(axis=1)


POLICY, HANDOVER, DONE = 0, 1, 2


def run_tables(env, policies, leg_steps: int, handover_steps: int = HANDOVER_STEPS, record_every: int = 0,
               frame_size: int = 160, progress=None, hold_steps: int = TURN_HOLD_STEPS) -> TableOutcome:
    """Reset every world and assemble its table: leg k by policies[k] (obs -> action), then the
    handover script, up to `leg_steps` policy steps per leg. A turn succeeds once the task's success
    has held for `hold_steps` consecutive policy steps (TURN_HOLD_S; 1: the first success step).
    `record_every` > 0 renders world 0 every that many steps (front camera)."""
    if len(policies) != NUM_LEGS:
        raise ValueError(f"need {NUM_LEGS} policies (one per leg), got {len(policies)}")
    if leg_steps < 1 or handover_steps < 0 or hold_steps < 1:
        raise ValueError("leg_steps must be >= 1, handover_steps >= 0 and hold_steps >= 1")
    n = env.num_envs
    phase = np.full(n, POLICY)
    leg = np.zeros(n, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    held = np.zeros(n, dtype=np.int64)  # consecutive success steps of the current turn
    turn_success = np.zeros((n, NUM_LEGS), dtype=bool)
    turn_steps = np.full((n, NUM_LEGS), -1, dtype=np.int64)
    seated_end = np.zeros((n, NUM_LEGS), dtype=bool)
    best_error = np.full((n, NUM_LEGS), np.inf)
    aborted = np.zeros(n, dtype=bool)
    frames = []
    script = Handover(env, handover_steps)

    def finish_turns(rows):
        """Rows whose leg's turn (and handover) is over: next leg, or the table is done."""
        last = rows[leg[rows] == NUM_LEGS - 1]
        if last.size:
            seated_end[last] = legs_seated(env).numpy()[last]
            phase[last] = DONE
        current = leg[rows].copy()
        for k in range(1, NUM_LEGS):
            nxt = rows[current == k - 1]
            if nxt.size:
                leg[nxt] = k
                phase[nxt] = POLICY
                count[nxt] = 0
                begin_leg(env, nxt, k)

    with torch.inference_mode():  # the reset too: an env run here before holds inference tensors
        obs, _ = env.reset()
        while not (phase == DONE).all():
            if record_every and phase[0] != DONE and count[0] % record_every == 0:
                frames.append(_annotate(env.render(0, "front", frame_size, frame_size), int(leg[0]),
                                        "policy" if phase[0] == POLICY else "let go",
                                        legs_seated(env)[0].numpy()))
            actions = torch.zeros(n, 7, dtype=torch.float64)
            actions[:, 6] = 1.0  # a finished world holds still, open
            hand = np.flatnonzero(phase == HANDOVER)
            if hand.size:
                actions[hand] = script.action(count)[hand]
            policy_obs = obs["policy"]
            for k in range(NUM_LEGS):
                rows = np.flatnonzero((phase == POLICY) & (leg == k))
                if rows.size:
                    actions[rows] = policies[k](policy_obs[rows]).to(torch.float64)
            obs, _, _, extras = env.step(actions)
            count += 1
            abnormal = extras["abnormal"].cpu().numpy() & (phase != DONE)
            if abnormal.any():
                aborted |= abnormal
                phase[abnormal] = DONE
            success = extras["success"].cpu().numpy()
            st = env.engine.state()
            target_rot = quat_to_matrix(st.target_quat / st.target_quat.norm(dim=1, keepdim=True))
            error = env.goal.errors(st.target_pos, target_rot, st.receptive_pos,
                                    quat_to_matrix(st.receptive_quat)).position.cpu().numpy()
            turn = np.flatnonzero(phase == POLICY)
            best_error[turn, leg[turn]] = np.minimum(best_error[turn, leg[turn]], error[turn])
            held = np.where(success & (phase == POLICY), held + 1, 0)
            seated = held >= hold_steps
            ended = np.flatnonzero((phase == POLICY) & (seated | (count >= leg_steps)))
            if ended.size:
                turn_success[ended, leg[ended]] = seated[ended]
                held[ended] = 0
                turn_steps[ended, leg[ended]] = count[ended]
                count[ended] = 0
                if handover_steps > 0:
                    phase[ended] = HANDOVER
                    script.start(ended, np.where(leg[ended] < NUM_LEGS - 1, leg[ended] + 1, -1))
                else:
                    finish_turns(ended)
                obs = env.get_observations()
            handed = np.flatnonzero((phase == HANDOVER) & script.over(count))
            if handed.size:
                finish_turns(handed)
                obs = env.get_observations()
            if progress is not None:
                progress(leg, phase)
    return TableOutcome(turn_success, turn_steps, seated_end, best_error, aborted, frames)


def _annotate(frame: np.ndarray, leg: int, what: str, seated: np.ndarray) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    text = f"leg {leg + 1}/4 {what}  seated {int(seated.sum())}"
    draw.rectangle((0, 0, img.width, 12), fill=(0, 0, 0))
    draw.text((3, 0), text, fill=(255, 255, 255))
    return np.asarray(img)


# ---- policies ---------------------------------------------------------------------------------------
def load_leg_policy(path, rate_hz: float):
    """An exported single-leg policy through the policy node's loader and checks: (actor, policy)."""
    from omnireset_policy.exported_policy import check_policy_matches, load_exported_policy

    policy = load_exported_policy(path)
    check_policy_matches(policy, where="the four-leg table", task=LEG_TASK, rate_hz=rate_hz)
    if policy.kind != "state":
        raise ValueError(f"{path}: a {policy.kind!r} policy; the four-leg table runs state policies")
    module = policy.modules["policy"]
    return (lambda obs: module(obs.to(torch.float32))), policy


def _policy_gains(policy) -> tuple[tuple[float, ...], OscGains]:
    gains = policy.metadata["control"].get("gains")
    if not gains:
        raise ValueError(f"{policy.path}: metadata has no control.gains (the OSC gains it was made for)")
    return policy.action_scale, OscGains(kp=tuple(gains["kp"]), zeta=tuple(gains["zeta"]))


# ---- reporting ----------------------------------------------------------------------------------------
def summarize(outcome: TableOutcome) -> dict:
    from .rl.evaluate import wilson_interval

    def rate(values: np.ndarray) -> dict:
        k, n = int(values.sum()), int(values.size)
        lo, hi = wilson_interval(k, n)
        return {"successes": k, "n": n, "rate": k / n, "ci95": [lo, hi]}

    return {
        "tables": int(outcome.aborted.size),
        "aborted": int(outcome.aborted.sum()),
        "per_leg_in_turn": [rate(outcome.turn_success[:, k]) for k in range(NUM_LEGS)],
        "per_leg_seated_at_end": [rate(outcome.seated_end[:, k]) for k in range(NUM_LEGS)],
        "all_legs_in_turn": rate(outcome.turn_success.reshape(-1)),
        "whole_table": rate(outcome.table_success),
        "median_best_error_mm": [float(np.median(outcome.best_error[:, k]) * 1e3) for k in range(NUM_LEGS)],
        "mean_turn_steps_of_successes": [float(outcome.turn_steps[outcome.turn_success[:, k], k].mean())
                                         if outcome.turn_success[:, k].any() else None for k in range(NUM_LEGS)],
    }


def _fmt(r: dict) -> str:
    return f"{r['successes']}/{r['n']} = {r['rate']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"


GIF_COLORS = 48  # per frame: keeps a whole table's GIF at a few hundred KB
GIF_FPS = 10


def write_gif_atomic(frames, path: Path, record: dict, fps: int) -> tuple[Path, Path]:
    """The GIF and a JSON of what made it, each written to a temporary sibling and renamed."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames recorded")
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f).quantize(colors=GIF_COLORS, method=Image.Quantize.MEDIANCUT) for f in frames]
    side = path.with_suffix(".json")
    for target, write in ((path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                                          duration=int(1000 / fps), loop=0, optimize=True)),
                          (side, lambda f: f.write(json.dumps(record, indent=2).encode()))):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600: publish it as any new file
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path, side


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="omnireset_sim.four_leg_table", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", nargs="+", default=[os.path.relpath(DEFAULT_POLICY)], metavar="DIR",
                   help="exported single-leg policy dir: one for every leg, or four (legs 1-4)")
    p.add_argument("--leg", default="threaded", help=f"one of {list(LEG_CHOICES)} (threaded: the registered leg task)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="env seeds (one batch of --tables each)")
    p.add_argument("--tables", type=int, default=4, help="tables (worlds) per seed")
    p.add_argument("--leg-seconds", type=float, default=None,
                   help="time limit of one leg's turn (default: the leg's episode, 40 s threaded, 16 s pin)")
    p.add_argument("--success-hold", type=float, default=TURN_HOLD_S,
                   help="s the task's success must hold before a turn counts as seated and the script moves on "
                        "(0: the first success step)")
    p.add_argument("--handover-steps", type=int, default=HANDOVER_STEPS,
                   help=f"most steps of the let-go script between legs (0: switch at once; it opens for "
                        f"{OPEN_STEPS} steps, backs off {BACK_OFF:g} m, rises, goes over the next leg pointing down)")
    p.add_argument("--randomization", default="train", help="train | finetune | none (rl/envs presets)")
    p.add_argument("--nthread", type=int, default=2)
    p.add_argument("--gif", default=None, help="write a GIF of the first seed's first table here (+ .json)")
    p.add_argument("--gif-every", type=int, default=8, help="record every k-th policy step")
    p.add_argument("--gif-size", type=int, default=128, help="square frame size, pixels")
    p.add_argument("--json", default=None, help="write the summary here")
    return p


def _check_args(args) -> None:
    if args.leg not in LEG_CHOICES:
        raise ValueError(f"--leg must be one of {list(LEG_CHOICES)}, got {args.leg!r}")
    if len(args.policy) not in (1, NUM_LEGS):
        raise ValueError(f"--policy takes one dir (every leg) or {NUM_LEGS}, got {len(args.policy)}")
    if args.tables < 1 or not args.seeds:
        raise ValueError("--tables must be >= 1 and --seeds non-empty")
    if args.leg_seconds is None:
        args.leg_seconds = leg_spec(args.leg).episode_length_s
    if not (math.isfinite(args.leg_seconds) and args.leg_seconds > 0):
        raise ValueError(f"--leg-seconds must be a finite number > 0, got {args.leg_seconds}")
    if not (math.isfinite(args.success_hold) and args.success_hold >= 0):
        raise ValueError(f"--success-hold must be a finite number >= 0, got {args.success_hold}")
    if args.handover_steps < 0 or args.gif_every < 1 or args.gif_size < 16 or args.nthread < 0:
        raise ValueError("--handover-steps >= 0, --gif-every >= 1, --gif-size >= 16 and --nthread >= 0")
    if args.gif and not args.gif.lower().endswith(".gif"):
        raise ValueError(f"--gif must end in .gif, got {args.gif!r}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_args(args)
        return _run(args)
    except (ValueError, OSError, mujoco.FatalError) as exc:  # ExportedPolicyError is a ValueError
        print(f"four_leg_table: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from tqdm import tqdm

    from .rl.envs import randomization_preset

    rate_hz = 1.0 / (PHYSICS_DT * DECIMATION)
    assert abs(rate_hz - POLICY_RATE_HZ) < 1e-9
    loaded = [load_leg_policy(p, rate_hz) for p in args.policy]
    settings = {_policy_gains(policy) for _, policy in loaded}
    if len(settings) != 1:
        raise ValueError("the policies were made for different action scales or OSC gains; one env runs one")
    action_scale, gains = settings.pop()
    actors = [a for a, _ in loaded] * (NUM_LEGS // len(loaded))
    leg_steps = int(math.ceil(args.leg_seconds * rate_hz - 1e-9))
    hold_steps = max(1, int(round(args.success_hold * rate_hz)))
    randomization = randomization_preset(args.randomization)
    parts = []
    bar = tqdm(total=len(args.seeds) * args.tables * NUM_LEGS, desc=f"{args.leg} legs", unit="leg", file=sys.stderr)
    for i, seed in enumerate(args.seeds):
        env = make_four_leg_env(args.leg, args.tables, seed, action_scale=action_scale, osc_gains=gains,
                                randomization=randomization, leg_seconds=args.leg_seconds, nthread=args.nthread)

        def progress(leg, phase, base=bar.n):
            done = base + int(leg.sum() + (phase == DONE).sum())  # legs whose turn is over
            if done != bar.n:
                bar.update(done - bar.n)

        record = args.gif_every if (args.gif and i == 0) else 0
        parts.append(run_tables(env, actors, leg_steps, args.handover_steps, record_every=record,
                                frame_size=args.gif_size, progress=progress, hold_steps=hold_steps))
        env.close()
    bar.close()
    outcome = TableOutcome(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                             ("turn_success", "turn_steps", "seated_end", "best_error", "aborted")),
                           frames=parts[0].frames)
    summary = summarize(outcome)
    summary.update(policy=[str(p) for p in args.policy], leg=args.leg, seeds=args.seeds, tables_per_seed=args.tables,
                   leg_seconds=args.leg_seconds, success_hold_s=args.success_hold, handover_steps=args.handover_steps,
                   randomization=args.randomization,
                   per_table=[{"seed": seed, "world": w, "turn_success": p.turn_success[w].tolist(),
                               "turn_steps": p.turn_steps[w].tolist(), "seated_end": p.seated_end[w].tolist(),
                               "best_error_mm": (1e3 * p.best_error[w]).round(2).tolist(),
                               "aborted": bool(p.aborted[w])}
                              for seed, p in zip(args.seeds, parts) for w in range(args.tables)])
    print(f"four-leg table, {args.leg} legs, {summary['tables']} tables (seeds {args.seeds} x {args.tables}), "
          f"{args.leg_seconds:g} s per leg, handover {args.handover_steps} steps, {summary['aborted']} aborted")
    for k in range(NUM_LEGS):
        print(f"  leg {k + 1}: seated in its turn {_fmt(summary['per_leg_in_turn'][k])}; "
              f"still seated at the end {_fmt(summary['per_leg_seated_at_end'][k])}")
    print(f"  whole table (all four seated at the end): {_fmt(summary['whole_table'])}")
    print("  median over tables of each leg's closest approach to its goal in its turn: "
          + ", ".join(f"{e:.1f} mm" for e in summary["median_best_error_mm"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2))
    if args.gif:
        import subprocess

        from omnireset_policy.exported_policy import git_revision

        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                text=True, cwd=Path(__file__).parent, timeout=10)

        first = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in
                 (("turn_success", outcome.turn_success[0]), ("turn_steps", outcome.turn_steps[0]),
                  ("seated_end", outcome.seated_end[0]), ("aborted", bool(outcome.aborted[0])))}
        made_by = {"command": "python -m omnireset_sim.four_leg_table", "args": vars(args),
                   "git_revision": git_revision(), "uncommitted_changes": bool(status.stdout.strip()),
                   "policy": summary["policy"],
                   "policy_sha256": [_sha256(Path(p) / "policy.pt") for p in args.policy], "leg": args.leg,
                   "seed": args.seeds[0], "table": 0, "camera": "front", "every_k_steps": args.gif_every,
                   "frame_size": args.gif_size, "frames": len(outcome.frames), "this_table": first}
        made_by["playback"] = f"{GIF_FPS} frames/s: {GIF_FPS * args.gif_every / rate_hz:g}x real time"
        gif, side = write_gif_atomic(outcome.frames, Path(args.gif), made_by, fps=GIF_FPS)
        print(f"wrote {gif} ({gif.stat().st_size // 1024} KiB, {len(outcome.frames)} frames) and {side}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
