"""The four OmniReset reset distributions (§3.2), proposed, solved by IK and validated in the task scene.

Proposals (all poses in base_link; object ranges = Table 2's sizes centred on our workspace):
  reaching     object resting on the table (random yaw) or, with `reaching_air_fraction`, anywhere
               in the air with a uniform SO(3) orientation (it falls when the episode starts);
               TCP anywhere in Table 2's end-effector workspace (envs.reset.EeWorkspace); gripper open.
  near_object  object resting; TCP at a sampled grasp composed with a small random offset
               (position and rotation); gripper open or closed (to the grasp's opening) at random.
  stable_grasp object in the air with a uniform SO(3) orientation; TCP exactly at a grasp; closed.
  near_goal    receptive object from the variant's goal sampler, target at a partial assembly
               relative to it; TCP at a grasp with the near-object noise, open or closed.
The receptive object is placed by the variant's goal sampler in every type; resting / airborne
targets keep `min_reset_separation` from it.

Each proposal: TCP pose -> multi-seed DLS IK (unsolved: dropped as `ik`); then, in the full task
scene (arm, gripper, table, both objects): no contact deeper than `penetration_tol`; `settle_steps`
physics steps with zero arm torque (the arm is gravity compensated, so it only moves if pushed),
the gripper servo holding its command; then finite state, arm joint drift, object drift (resting
and near-goal objects), and for stable grasps the object's pose relative to the TCP. What is
stored is the proposed (pre-settle) state, so the dataset keeps the designed distribution.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import mujoco
import numpy as np
import torch

from omnireset_control.constants import ARM_JOINT_NAMES, ROBOTIQ_2F85_TCP_OFFSET

from ..assets.arm import TCP_SITE, load_arm_kinematics
from ..assets.gripper import CLOSE_SETPOINT, FINGER_JOINTS, FINGER_STROKE, GRIPPER_ACTUATOR
from ..assets.scene import TARGET_BODY, TARGET_JOINT, SceneConfig, build_scene_xml
from ..envs.reset import EeWorkspace
from ..tasks.spec import WORKSPACE_ORIGIN, TaskSpec, VariantSpec, sample_goal
from . import geometry as geo
from .grasps import GraspSet
from .ik import MultiSeedIk
from .partial_assemblies import PartialAssemblies

RESET_TYPES: tuple[str, ...] = ("reaching", "near_object", "stable_grasp", "near_goal")
STATE_REJECT_REASONS = ("no_separation", "below_table", "ik", "penetration", "unstable", "arm_drift",
                        "object_drift", "dropped")


@dataclass(frozen=True)
class ObjectRanges:
    """Table 2: object x U(0.3,0.55), y U(-0.1,0.5), z U(0,0.3), SO(3) in the official robot frame.
    Here the same extents (0.25 x 0.6 m, 0.3 m high) centred on WORKSPACE_ORIGIN so they cover the
    target area and the receptive object of every task."""

    x: tuple[float, float] = (WORKSPACE_ORIGIN[0] - 0.125, WORKSPACE_ORIGIN[0] + 0.125)
    y: tuple[float, float] = (WORKSPACE_ORIGIN[1] - 0.3, WORKSPACE_ORIGIN[1] + 0.3)
    air_z: tuple[float, float] = (0.05, 0.3)  # object origin height when in the air
    reaching_air_fraction: float = 0.5


@dataclass(frozen=True)
class ResetGenConfig:
    objects: ObjectRanges = field(default_factory=ObjectRanges)
    ee: EeWorkspace = field(default_factory=EeWorkspace)
    grasp_pos_noise: float = 0.015  # m, per TCP axis (near-object / near-goal)
    grasp_rot_noise: float = 0.15  # rad, about a random axis
    closed_fraction: float = 0.5  # near-object / near-goal: probability the gripper is closed
    min_flange_height: float = 0.02  # m above the table (cheap pre-filter before IK)
    penetration_tol: float = 0.002  # m
    settle_steps: int = 10
    max_joint_drift: float = 0.05  # rad
    max_object_drift: float = 0.01  # m (resting / near-goal objects)
    max_object_rotation_drift: float = 0.2  # rad
    max_grasp_drift: float = 0.01  # m, object relative to the TCP (stable grasps)
    max_grasp_rotation_drift: float = 0.2  # rad
    batch: int = 64  # proposals per IK call
    max_attempts_per_state: int = 50

    def __post_init__(self) -> None:
        if not 0.0 <= self.closed_fraction <= 1.0 or not 0.0 <= self.objects.reaching_air_fraction <= 1.0:
            raise ValueError("closed_fraction and reaching_air_fraction must be in [0, 1]")
        if self.settle_steps < 1 or self.batch < 1 or self.max_attempts_per_state < 1:
            raise ValueError("settle_steps, batch and max_attempts_per_state must be >= 1")


@dataclass
class Proposals:
    """Candidate states [B, ...] (float64) before IK."""

    tcp_pos: np.ndarray
    tcp_rot: np.ndarray  # [B,3,3]
    closed: np.ndarray  # [B] bool
    opening: np.ndarray  # [B] m
    target_pos: np.ndarray
    target_quat: np.ndarray
    receptive_pos: np.ndarray
    receptive_quat: np.ndarray
    airborne: np.ndarray  # [B] bool: the object is meant to fall (no drift check)


class ResetStateGenerator:
    def __init__(self, task: TaskSpec, variant: VariantSpec, grasps: GraspSet | None,
                 assemblies: PartialAssemblies | None, cfg: ResetGenConfig | None = None,
                 scene: SceneConfig | None = None):
        self.task, self.variant = task, variant
        self.cfg = cfg or ResetGenConfig()
        self.scene = scene or SceneConfig()
        self.grasps, self.assemblies = grasps, assemblies
        self.kin_params = load_arm_kinematics(self.scene.arm)
        self.ik = MultiSeedIk(self.kin_params)
        self.model = mujoco.MjModel.from_xml_string(build_scene_xml(task, self.kin_params, self.scene))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.arm_qpos = np.array([m.jnt_qposadr[m.joint(n).id] for n in ARM_JOINT_NAMES])
        self.fingers = [int(m.jnt_qposadr[m.joint(n).id]) for n in FINGER_JOINTS]
        self.obj_qpos = int(m.jnt_qposadr[m.joint(TARGET_JOINT).id])
        self.act = int(m.actuator(GRIPPER_ACTUATOR).id)
        self.act_adr = int(m.actuator_actadr[self.act])
        self.speed = float(m.actuator_ctrlrange[self.act, 1])
        self.tcp_site = m.site(TCP_SITE).id
        self.obj_body = m.body(TARGET_BODY).id
        # Grasp pools: the flange height of a grasp on a resting object does not depend on the
        # object's yaw or x-y, so grasps that would put the wrist into the table are left out up front.
        self.grasp_pools: dict[str, np.ndarray] = {}
        if grasps is not None:
            rest = (np.array([0.0, 0.0, task.target_rest_height]), np.asarray(task.target_rest_quat, dtype=np.float64))
            goal = geo.pose_mul(np.array([0.0, 0.0, task.receptive_height]), np.array([1.0, 0, 0, 0]),
                                np.asarray(task.goal_pos, dtype=np.float64),
                                np.asarray(task.goal_quat, dtype=np.float64))
            all_idx = np.arange(len(grasps))
            for name, pose in (("near_object", rest), ("near_goal", goal)):
                z = self._flange_heights(*pose)
                pool = all_idx[z >= self.cfg.min_flange_height + self.cfg.grasp_pos_noise]
                self.grasp_pools[name] = pool if len(pool) else all_idx
            self.grasp_pools["stable_grasp"] = all_idx

    def _flange_heights(self, obj_pos, obj_quat) -> np.ndarray:
        out = np.zeros(len(self.grasps))
        for i in range(len(self.grasps)):
            p, q = geo.pose_mul(obj_pos, obj_quat, self.grasps.tcp_pos[i], self.grasps.tcp_quat[i])
            out[i] = p[2] - ROBOTIQ_2F85_TCP_OFFSET * geo.quat_to_mat(q)[2, 2]
        return out

    # ---- proposals -----------------------------------------------------------------------------
    def _receptive(self, n, rng):
        g = torch.Generator().manual_seed(int(rng.integers(2**62)))
        pos, quat = sample_goal(self.task, self.variant, n, g)
        return pos.numpy(), quat.numpy()

    def _object_xy(self, n, rec_pos, rng):
        o = self.cfg.objects
        xy = np.stack([rng.uniform(*o.x, n), rng.uniform(*o.y, n)], 1)
        ok = np.linalg.norm(xy - rec_pos[:, :2], axis=1) >= self.task.min_reset_separation
        return xy, ok

    def _resting_pose(self, xy, rng):
        n = len(xy)
        rest = np.asarray(self.task.target_rest_quat, dtype=np.float64)
        quat = np.stack([geo.quat_mul(geo.yaw_quat(rng.uniform(-math.pi, math.pi)), rest) for _ in range(n)])
        pos = np.concatenate([xy, np.full((n, 1), self.task.target_rest_height)], 1)
        return pos, quat

    def _air_pose(self, xy, rng):
        n = len(xy)
        pos = np.concatenate([xy, rng.uniform(*self.cfg.objects.air_z, (n, 1))], 1)
        return pos, geo.random_quat(rng, n)

    def _grasp_tcp(self, obj_pos, obj_quat, rng, reset_type: str):
        gs = self.grasps
        n = len(obj_pos)
        pool = self.grasp_pools[reset_type]
        idx = pool[rng.integers(len(pool), size=n)]
        noise = reset_type != "stable_grasp"
        tcp_pos, tcp_rot = np.zeros((n, 3)), np.zeros((n, 3, 3))
        for i in range(n):
            gp, gq = gs.tcp_pos[idx[i]], gs.tcp_quat[idx[i]]
            if noise:
                gp, gq = geo.pose_mul(gp, gq, rng.uniform(-1, 1, 3) * self.cfg.grasp_pos_noise,
                                      geo.random_small_rotation(rng, self.cfg.grasp_rot_noise))
            p, q = geo.pose_mul(obj_pos[i], obj_quat[i], gp, gq)
            tcp_pos[i], tcp_rot[i] = p, geo.quat_to_mat(q)
        return tcp_pos, tcp_rot, gs.opening[idx]

    def _ee_workspace(self, n, rng):
        w = self.cfg.ee
        pos = np.stack([rng.uniform(*w.x, n), rng.uniform(*w.y, n), rng.uniform(*w.z, n)], 1)
        down = np.diag([1.0, -1.0, -1.0])
        rot = np.zeros((n, 3, 3))
        for i in range(n):
            tilt = rng.uniform(*w.pitch) - math.pi / 2
            yaw = rng.uniform(*w.yaw)
            rot[i] = geo.quat_to_mat(geo.quat_mul(geo.yaw_quat(yaw), geo.axis_angle_quat([0, 1, 0], tilt))) @ down
        return pos, rot

    def propose(self, reset_type: str, n: int, rng: np.random.Generator) -> tuple[Proposals, np.ndarray]:
        """n proposals and a mask of those that passed the separation pre-check."""
        cfg = self.cfg
        rec_pos, rec_quat = self._receptive(n, rng)
        closed = np.zeros(n, dtype=bool)
        opening = np.full(n, FINGER_STROKE)
        airborne = np.zeros(n, dtype=bool)
        ok = np.ones(n, dtype=bool)
        if reset_type == "near_goal":
            if self.assemblies is None or self.grasps is None:
                raise ValueError("near_goal resets need grasps and partial assemblies")
            k = rng.integers(len(self.assemblies), size=n)
            pa = self.assemblies
            pairs = [geo.pose_mul(rec_pos[i], rec_quat[i], pa.rel_pos[k[i]], pa.rel_quat[k[i]]) for i in range(n)]
            obj_pos = np.stack([p for p, _ in pairs])
            obj_quat = np.stack([q for _, q in pairs])
        else:
            xy, ok = self._object_xy(n, rec_pos, rng)
            if reset_type == "stable_grasp":
                obj_pos, obj_quat = self._air_pose(xy, rng)
            elif reset_type == "reaching":
                obj_pos, obj_quat = self._resting_pose(xy, rng)
                air = rng.uniform(size=n) < cfg.objects.reaching_air_fraction
                if air.any():
                    obj_pos[air], obj_quat[air] = self._air_pose(xy[air], rng)
                airborne = air
            elif reset_type == "near_object":
                obj_pos, obj_quat = self._resting_pose(xy, rng)
            else:
                raise ValueError(f"unknown reset type {reset_type!r}; valid: {RESET_TYPES}")
        if reset_type == "reaching":
            tcp_pos, tcp_rot = self._ee_workspace(n, rng)
        else:
            if self.grasps is None:
                raise ValueError(f"{reset_type} resets need a grasp set")
            tcp_pos, tcp_rot, grasp_opening = self._grasp_tcp(obj_pos, obj_quat, rng, reset_type)
            if reset_type == "stable_grasp":
                closed[:] = True
            else:
                closed = rng.uniform(size=n) < cfg.closed_fraction
            opening = np.where(closed, grasp_opening, FINGER_STROKE)
        return Proposals(tcp_pos, tcp_rot, closed, opening, obj_pos, obj_quat, rec_pos, rec_quat, airborne), ok

    # ---- validation ----------------------------------------------------------------------------
    def _set_state(self, q, closed, opening, obj_pos, obj_quat, rec_pos, rec_quat) -> None:
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[self.arm_qpos] = q
        for j in self.fingers:
            d.qpos[j] = opening
        d.qpos[self.obj_qpos: self.obj_qpos + 3] = obj_pos
        d.qpos[self.obj_qpos + 3: self.obj_qpos + 7] = obj_quat
        d.mocap_pos[0] = rec_pos
        d.mocap_quat[0] = rec_quat
        d.act[self.act_adr] = CLOSE_SETPOINT if closed else FINGER_STROKE
        d.ctrl[:] = 0.0
        d.ctrl[self.act] = -self.speed if closed else self.speed
        mujoco.mj_forward(m, d)

    def _object_in_tcp(self):
        d = self.data
        tcp_pos, tcp_rot = d.site_xpos[self.tcp_site].copy(), d.site_xmat[self.tcp_site].reshape(3, 3).copy()
        return tcp_rot.T @ (d.xpos[self.obj_body] - tcp_pos), tcp_rot.T @ d.xmat[self.obj_body].reshape(3, 3)

    def validate(self, reset_type: str, q, closed, opening, obj_pos, obj_quat, rec_pos, rec_quat,
                 airborne) -> str | None:
        """None if the state is valid, else the rejection reason (one of STATE_REJECT_REASONS)."""
        cfg, m, d = self.cfg, self.model, self.data
        self._set_state(q, closed, opening, obj_pos, obj_quat, rec_pos, rec_quat)
        if any(d.contact[i].dist < -cfg.penetration_tol for i in range(d.ncon)):
            return "penetration"
        rel0 = self._object_in_tcp()
        for _ in range(cfg.settle_steps):
            mujoco.mj_step(m, d)
        if not np.isfinite(d.qpos).all() or d.time < 0.5 * cfg.settle_steps * m.opt.timestep:
            return "unstable"
        if np.abs(d.qpos[self.arm_qpos] - q).max() > cfg.max_joint_drift:
            return "arm_drift"
        pos = d.qpos[self.obj_qpos: self.obj_qpos + 3]
        quat = d.qpos[self.obj_qpos + 3: self.obj_qpos + 7]
        quat = quat / np.linalg.norm(quat)
        if reset_type == "stable_grasp":
            rel = self._object_in_tcp()
            rot_drift = math.acos(np.clip((np.trace(rel[1] @ rel0[1].T) - 1) / 2, -1, 1))
            if np.linalg.norm(rel[0] - rel0[0]) > cfg.max_grasp_drift or rot_drift > cfg.max_grasp_rotation_drift \
                    or d.qpos[self.fingers[0]] < 0.0005:
                return "dropped"
        elif not airborne:
            if np.linalg.norm(pos - obj_pos) > cfg.max_object_drift or \
                    geo.quat_angle(quat, obj_quat) > cfg.max_object_rotation_drift:
                return "object_drift"
        return None

    # ---- generation ----------------------------------------------------------------------------
    def generate(self, reset_type: str, n: int, rng: np.random.Generator, progress=None):
        """Up to n valid states of one type: (arrays, {"attempts": int, "rejects": Counter})."""
        if reset_type not in RESET_TYPES:
            raise ValueError(f"unknown reset type {reset_type!r}; valid: {RESET_TYPES}")
        cfg = self.cfg
        rejects: Counter = Counter()
        keep = {k: [] for k in ("joint_pos", "gripper_closed", "gripper_opening", "target_pos", "target_quat",
                                "receptive_pos", "receptive_quat")}
        proposed, kept = 0, 0
        max_proposals = n * cfg.max_attempts_per_state
        while kept < n and proposed < max_proposals:
            b = min(cfg.batch, max_proposals - proposed, max(8, 2 * (n - kept)))
            prop, ok = self.propose(reset_type, b, rng)
            proposed += b
            rejects["no_separation"] += int((~ok).sum())
            flange_z = prop.tcp_pos[:, 2] - ROBOTIQ_2F85_TCP_OFFSET * prop.tcp_rot[:, 2, 2]
            low = ok & (flange_z < cfg.min_flange_height)
            rejects["below_table"] += int(low.sum())
            ok &= ~low
            idx = np.nonzero(ok)[0]
            q, solved = self.ik.solve(torch.from_numpy(prop.tcp_pos[idx]), torch.from_numpy(prop.tcp_rot[idx]))
            for j, i in enumerate(idx):
                if kept >= n:
                    break
                if not bool(solved[j]):
                    rejects["ik"] += 1
                    continue
                qi = q[j].numpy()
                reason = self.validate(reset_type, qi, prop.closed[i], prop.opening[i], prop.target_pos[i],
                                       prop.target_quat[i], prop.receptive_pos[i], prop.receptive_quat[i],
                                       prop.airborne[i])
                if reason is not None:
                    rejects[reason] += 1
                    continue
                kept += 1
                keep["joint_pos"].append(qi)
                keep["gripper_closed"].append(bool(prop.closed[i]))
                keep["gripper_opening"].append(prop.opening[i])
                keep["target_pos"].append(prop.target_pos[i])
                keep["target_quat"].append(prop.target_quat[i])
                keep["receptive_pos"].append(prop.receptive_pos[i])
                keep["receptive_quat"].append(prop.receptive_quat[i])
                if progress is not None:
                    progress(1)
        cols = {"joint_pos": 6, "target_pos": 3, "target_quat": 4, "receptive_pos": 3, "receptive_quat": 4}
        arrays = {}
        for k, v in keep.items():
            if k == "gripper_closed":
                arrays[k] = np.array(v, dtype=bool)
            elif k in cols:
                arrays[k] = np.array(v, dtype=np.float32).reshape(-1, cols[k])
            else:
                arrays[k] = np.array(v, dtype=np.float32)
        # Attempts = proposals that were decided (kept or rejected); the rest of the last batch was unused.
        return arrays, {"attempts": kept + sum(rejects.values()), "rejects": rejects}

    def settings(self) -> dict:
        return {"config": asdict(self.cfg), "gripper": asdict(self.scene.gripper), "robot": self.scene.arm.robot,
                "calibration": self.kin_params.calibration_hash}
