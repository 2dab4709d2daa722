"""The four OmniReset reset distributions (§3.2), proposed, solved by IK and validated in the task scene.

Proposals (all poses in base_link; object ranges = Table 2's sizes centred on our workspace):
  reaching     object resting on the table (random yaw) or, with `reaching_air_fraction`, anywhere
               in the air with a uniform SO(3) orientation (it falls and settles during validation);
               TCP anywhere in Table 2's end-effector workspace (envs.reset.EeWorkspace); gripper
               closed or open at random.
  near_object  object resting; TCP at a sampled grasp perturbed in the gripper base's frame by
               U(+-0.02 m) and U(+-pi/16) per axis; gripper closed.
  stable_grasp object in the air; TCP exactly at a grasp; gripper closed. The object's orientation is
               uniform on SO(3) conditioned on the gripper pointing within 60 deg of down (sampled
               directly: the gripper orientation uniform in that cone, the object's from the grasp),
               which is the released rejection filter without the 3 in 4 wasted proposals.
  near_goal    receptive object from the variant's goal sampler, target at a partial assembly
               relative to it; TCP at a grasp perturbed by U(+-0.01 m) and U(+-pi/32) per axis;
               gripper closed or open at random; half the kept states end within 1.5x the task's
               success thresholds, half outside (per chunk, exactly).
The receptive object is placed by the variant's goal sampler in every type; resting / airborne
targets keep `min_reset_separation` from it. Grasp-based types start with the fingers at the
grasp's opening and then the gripper command acts, as released.

Each proposal: cheap checks (separation, flange above the table, approach within 60 deg of down),
multi-seed DLS IK (unsolved: `ik`), no contact deeper than `penetration_tol` in the full task scene
(arm, gripper, table, both objects); then 2 s of physics (240 steps) with the released zero action (OSC with the
training gains holding the TCP pose; the arm is gravity compensated) and the gripper servo holding
its command. Every 12 steps (the released
env step) the state is sampled: finite, no arm joint beyond twice its velocity limit (`abnormal`),
and "stable" (robot joint speeds sum < 5, object linear / angular velocity components sum < 0.1 m/s
/ 1 rad/s). Kept only if the last 5 samples were stable (`unstable`), the gripper base moved
< 0.1 m (`ee_drift`), the object moved less than its type's limit (`object_drift`: reaching none,
near-object 0.01 m, stable grasp 0.05 m, near-goal 0.025 m), nothing ended below z = -0.02 m
(`below_table`), the gripper still points within 60 deg of down (`not_down`), no contact penetrates
deeper than `end_penetration_tol` (`penetration`), a stable grasp still holds something between
its fingers (`dropped`) and a near-goal state fills its half of the split (`assembly_split`).
What is stored is the settled state at the end of validation (arm, fingers and object positions
and velocities), as the released code stores it. Constants: released.py.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import mujoco
import numpy as np
import torch

from omnireset_control.constants import ARM_JOINT_NAMES, HARDWARE_TORQUE_LIMIT, ROBOTIQ_2F85_TCP_OFFSET, TRAIN_GAINS

from ..assets.arm import TCP_SITE, UR_PHYSICAL, load_arm_kinematics
from ..assets.gripper import CLOSE_SETPOINT, FINGER_JOINTS, FINGER_STROKE, GRIPPER_ACTUATOR, GRIPPER_BODIES
from ..assets.scene import RECEPTIVE_BODY, TABLE_GEOM, TARGET_BODY, TARGET_JOINT, SceneConfig, build_scene_xml
from ..envs.reset import EeWorkspace
from ..mdp.task_metrics import GoalFrame
from ..tasks.spec import WORKSPACE_ORIGIN, TaskSpec, VariantSpec, sample_goal
from . import geometry as geo
from . import released as R
from .grasps import GraspSet
from .ik import MultiSeedIk
from .models import HAND_BODY, gripper_probe_model
from .partial_assemblies import PartialAssemblies

RESET_TYPES: tuple[str, ...] = ("reaching", "near_object", "stable_grasp", "near_goal")
STATE_REJECT_REASONS = ("no_separation", "below_table", "not_down", "ik", "penetration", "abnormal", "unstable",
                        "ee_drift", "object_drift", "dropped", "assembly_split")
# The settled state of one kept proposal (what a dataset row stores): name -> trailing shape.
SETTLED_ARRAYS = {"joint_pos": (6,), "joint_vel": (6,), "gripper_closed": (), "gripper_opening": (),
                  "finger_pos": (2,), "finger_vel": (2,), "target_pos": (3,), "target_quat": (4,),
                  "target_vel": (6,), "receptive_pos": (3,), "receptive_quat": (4,)}


@dataclass(frozen=True)
class ObjectRanges:
    """Table 2: object x U(0.3,0.55), y U(-0.1,0.5), z U(0,0.3), SO(3) in the official robot frame.
    Here the same extents (0.25 x 0.6 m, 0.3 m high) centred on WORKSPACE_ORIGIN so they cover the
    target area and the receptive object of every task."""

    x: tuple[float, float] = (WORKSPACE_ORIGIN[0] - 0.125, WORKSPACE_ORIGIN[0] + 0.125)
    y: tuple[float, float] = (WORKSPACE_ORIGIN[1] - 0.3, WORKSPACE_ORIGIN[1] + 0.3)
    air_z: tuple[float, float] = (0.05, 0.3)  # object origin height when in the air
    reaching_air_fraction: float = 0.5


def _per_type(values: dict) -> dict:
    return {name: values[name] for name in RESET_TYPES}


@dataclass(frozen=True)
class ResetGenConfig:
    """Defaults from the released code (released.py) unless marked ours."""

    objects: ObjectRanges = field(default_factory=ObjectRanges)
    ee: EeWorkspace = field(default_factory=EeWorkspace)
    near_object_pos_noise: float = R.NEAR_OBJECT_POS_NOISE  # m per gripper-base axis
    near_object_rot_noise: float = R.NEAR_OBJECT_ROT_NOISE  # rad per Euler axis
    near_goal_pos_noise: float = R.NEAR_GOAL_POS_NOISE
    near_goal_rot_noise: float = R.NEAR_GOAL_ROT_NOISE
    closed_fraction: dict = field(default_factory=lambda: _per_type(R.CLOSED_FRACTION))  # P(gripper closed)
    near_goal_success_fraction: float = R.NEAR_GOAL_SUCCESS_FRACTION
    near_goal_threshold_scale: float = R.NEAR_GOAL_THRESHOLD_SCALE
    min_flange_height: float = 0.02  # ours: m above the table (cheap pre-filter before IK)
    penetration_tol: float = 0.002  # ours: m, proposals deeper in contact are not simulated
    end_penetration_tol: float = R.END_PENETRATION_TOL  # m, the settled state
    validation_steps: int = R.VALIDATION_STEPS
    stability_sample_steps: int = R.STABILITY_SAMPLE_STEPS
    stable_samples: int = R.STABLE_SAMPLES
    stable_robot_joint_speed_sum: float = R.STABLE_ROBOT_JOINT_SPEED_SUM
    stable_object_lin_speed_sum: float = R.STABLE_OBJECT_LIN_SPEED_SUM
    stable_object_ang_speed_sum: float = R.STABLE_OBJECT_ANG_SPEED_SUM
    abnormal_joint_speed_factor: float = R.ABNORMAL_JOINT_SPEED_FACTOR
    max_ee_drift: float = R.MAX_EE_DRIFT  # m, gripper base
    max_object_drift: dict = field(default_factory=lambda: _per_type(R.MAX_OBJECT_DRIFT))  # m, None: no limit
    min_end_height: float = R.MIN_END_HEIGHT  # m
    gripper_down_cos: float = R.GRIPPER_DOWN_COS  # approach axis z must be below -this
    min_held_opening: float = 0.0005  # ours: m; a stable grasp whose fingers closed past this holds nothing
    batch: int = 64  # proposals per IK call
    max_attempts_per_state: int = 1000  # cheap checks reject most near-goal proposals in ~0.1 ms each

    def __post_init__(self) -> None:
        for name in ("closed_fraction", "max_object_drift"):
            value = getattr(self, name)
            if not isinstance(value, dict) or set(value) != set(RESET_TYPES):
                raise ValueError(f"{name} must map every reset type {RESET_TYPES} to a value, got {value}")
        fractions = [*map(float, self.closed_fraction.values()), self.objects.reaching_air_fraction,
                     self.near_goal_success_fraction]
        if not all(0.0 <= v <= 1.0 for v in fractions):
            raise ValueError("closed_fraction, reaching_air_fraction and near_goal_success_fraction must be in [0, 1]")
        if any(v is not None and not float(v) > 0 for v in self.max_object_drift.values()):
            raise ValueError(f"max_object_drift values must be > 0 or None, got {self.max_object_drift}")
        if self.validation_steps < 1 or self.stability_sample_steps < 1 or self.stable_samples < 1 or \
                self.batch < 1 or self.max_attempts_per_state < 1:
            raise ValueError("validation_steps, stability_sample_steps, stable_samples, batch and "
                             "max_attempts_per_state must be >= 1")
        if self.stable_samples * self.stability_sample_steps > self.validation_steps:
            raise ValueError(f"{self.stable_samples} stable samples every {self.stability_sample_steps} steps do "
                             f"not fit in {self.validation_steps} validation steps")
        if not -1.0 <= self.gripper_down_cos <= 1.0:
            raise ValueError(f"gripper_down_cos must be in [-1, 1], got {self.gripper_down_cos}")


@dataclass
class Proposals:
    """Candidate states [B, ...] (float64) before IK."""

    tcp_pos: np.ndarray
    tcp_rot: np.ndarray  # [B,3,3]
    closed: np.ndarray  # [B] bool
    opening: np.ndarray  # [B] m, the fingers' opening at the start of validation
    target_pos: np.ndarray
    target_quat: np.ndarray
    receptive_pos: np.ndarray
    receptive_quat: np.ndarray


def euler_xyz_quat(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rz(yaw) Ry(pitch) Rx(roll) as a quaternion (Isaac Lab's quat_from_euler_xyz)."""
    return geo.quat_mul(geo.axis_angle_quat([0, 0, 1], yaw),
                        geo.quat_mul(geo.axis_angle_quat([0, 1, 0], pitch), geo.axis_angle_quat([1, 0, 0], roll)))


def down_cone_rotations(rng: np.random.Generator, n: int, cos_max: float) -> np.ndarray:
    """[n,3,3] rotations uniform on SO(3) conditioned on the z axis' world z <= -cos_max (the z axis
    uniform on that spherical cap, the rotation about it uniform)."""
    z = rng.uniform(-1.0, -cos_max, n)
    phi = rng.uniform(0.0, 2 * math.pi, n)
    psi = rng.uniform(0.0, 2 * math.pi, n)
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, 1.0))
    out = np.zeros((n, 3, 3))
    for i in range(n):
        a = np.array([r[i] * math.cos(phi[i]), r[i] * math.sin(phi[i]), z[i]])
        e1, e2 = geo.perpendicular_basis(a)
        x = math.cos(psi[i]) * e1 + math.sin(psi[i]) * e2
        out[i] = np.stack([x, np.cross(a, x), a], axis=1)
    return out


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
        self.arm_dof = np.array([m.jnt_dofadr[m.joint(n).id] for n in ARM_JOINT_NAMES])
        self.fingers = [int(m.jnt_qposadr[m.joint(n).id]) for n in FINGER_JOINTS]
        self.finger_dof = np.array([int(m.jnt_dofadr[m.joint(n).id]) for n in FINGER_JOINTS])
        self.robot_dof = np.concatenate([self.arm_dof, self.finger_dof])
        self.obj_qpos = int(m.jnt_qposadr[m.joint(TARGET_JOINT).id])
        self.obj_dof = int(m.jnt_dofadr[m.joint(TARGET_JOINT).id])
        self.act = int(m.actuator(GRIPPER_ACTUATOR).id)
        self.act_adr = int(m.actuator_actadr[self.act])
        self.speed = float(m.actuator_ctrlrange[self.act, 1])
        self.tcp_site = m.site(TCP_SITE).id
        self.obj_body = m.body(TARGET_BODY).id
        self.gripper_base = m.body(GRIPPER_BODIES[0]).id
        self.finger_bodies = {int(m.body(b).id) for b in GRIPPER_BODIES[1:]}
        self.arm_speed_limit = np.asarray(UR_PHYSICAL[self.scene.arm.robot].velocity_limits, dtype=np.float64)
        self.goal_frame = GoalFrame(task)
        # The gripper alone in the scene (no arm): a proposal whose gripper penetrates the table or an
        # object is dropped before IK, the expensive step (the full scene is checked again after IK).
        self.probe = gripper_probe_model(task, self.scene)
        self.probe_data = mujoco.MjData(self.probe)
        pm = self.probe
        self._probe_mocap = {name: int(pm.body_mocapid[pm.body(name).id]) for name in
                             (RECEPTIVE_BODY, TARGET_BODY, HAND_BODY)}
        self._probe_fingers = [int(pm.jnt_qposadr[pm.joint(n).id]) for n in FINGER_JOINTS]
        # The probe's objects are mocap bodies, which MuJoCo's collision filter treats as static like
        # the table: mj_collision never reports an object in the table (a drawer 10 mm deep gave no
        # contact). The target's geoms are measured against the table geom directly instead.
        target_id = pm.body(TARGET_BODY).id
        self._probe_target_geoms = [g for g in range(pm.ngeom) if int(pm.geom_bodyid[g]) == target_id]
        self._probe_table_geom = int(pm.geom(TABLE_GEOM).id)
        self.arm_act = np.array([m.actuator(f"{n}_motor").id for n in ARM_JOINT_NAMES])
        self._jacp, self._jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        self._hold_kp = np.asarray(TRAIN_GAINS.kp, dtype=np.float64)
        self._hold_kd = np.asarray(TRAIN_GAINS.kd, dtype=np.float64)
        self._torque_limit = np.asarray(HARDWARE_TORQUE_LIMIT, dtype=np.float64)
        self._jac, self._rel = np.zeros((6, 6)), np.zeros((3, 3))
        self._quat, self._err = np.zeros(4), np.zeros(6)
        # Grasp pools: the flange height of a grasp on a resting object does not depend on the
        # object's yaw or x-y, so grasps that would put the wrist into the table are left out up front.
        self.grasp_pools: dict[str, np.ndarray] = {}
        if grasps is not None:
            rest = (np.array([0.0, 0.0, task.target_rest_height]), np.asarray(task.target_rest_quat, dtype=np.float64))
            goal = geo.pose_mul(np.array([0.0, 0.0, task.receptive_height]), np.array([1.0, 0, 0, 0]),
                                np.asarray(task.goal_pos, dtype=np.float64),
                                np.asarray(task.goal_quat, dtype=np.float64))
            all_idx = np.arange(len(grasps))
            margins = {"near_object": self.cfg.near_object_pos_noise, "near_goal": self.cfg.near_goal_pos_noise}
            for name, pose in (("near_object", rest), ("near_goal", goal)):
                z = self._flange_heights(*pose)
                pool = all_idx[z >= self.cfg.min_flange_height + margins[name]]
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

    def _pick_grasps(self, reset_type, n, rng):
        pool = self.grasp_pools[reset_type]
        return pool[rng.integers(len(pool), size=n)]

    def _grasp_tcp(self, obj_pos, obj_quat, idx, rng, pos_noise: float, rot_noise: float):
        """TCP at grasp idx on the object, perturbed in the gripper base's (flange) frame by
        U(+-pos_noise) per axis and Euler angles U(+-rot_noise) per axis (as released, where the noise
        is applied to robotiq_base_link)."""
        gs = self.grasps
        n = len(obj_pos)
        to_flange = np.array([0.0, 0.0, -ROBOTIQ_2F85_TCP_OFFSET])
        ident = np.array([1.0, 0.0, 0.0, 0.0])
        tcp_pos, tcp_rot = np.zeros((n, 3)), np.zeros((n, 3, 3))
        for i in range(n):
            p, q = geo.pose_mul(obj_pos[i], obj_quat[i], gs.tcp_pos[idx[i]], gs.tcp_quat[idx[i]])
            if pos_noise > 0 or rot_noise > 0:
                fp, fq = geo.pose_mul(p, q, to_flange, ident)
                fp, fq = geo.pose_mul(fp, fq, rng.uniform(-pos_noise, pos_noise, 3),
                                      euler_xyz_quat(*rng.uniform(-rot_noise, rot_noise, 3)))
                p, q = geo.pose_mul(fp, fq, -to_flange, ident)
            tcp_pos[i], tcp_rot[i] = p, geo.quat_to_mat(q)
        return tcp_pos, tcp_rot

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
        if reset_type not in RESET_TYPES:
            raise ValueError(f"unknown reset type {reset_type!r}; valid: {RESET_TYPES}")
        cfg = self.cfg
        if reset_type != "reaching" and self.grasps is None:
            raise ValueError(f"{reset_type} resets need a grasp set")
        rec_pos, rec_quat = self._receptive(n, rng)
        closed = rng.uniform(size=n) < float(cfg.closed_fraction[reset_type])
        ok = np.ones(n, dtype=bool)
        if reset_type == "reaching":
            xy, ok = self._object_xy(n, rec_pos, rng)
            obj_pos, obj_quat = self._resting_pose(xy, rng)
            air = rng.uniform(size=n) < cfg.objects.reaching_air_fraction
            if air.any():
                obj_pos[air], obj_quat[air] = self._air_pose(xy[air], rng)
            tcp_pos, tcp_rot = self._ee_workspace(n, rng)
            opening = np.full(n, FINGER_STROKE)
        else:
            idx = self._pick_grasps(reset_type, n, rng)
            opening = self.grasps.opening[idx].astype(np.float64)
            if reset_type == "stable_grasp":
                xy, ok = self._object_xy(n, rec_pos, rng)
                obj_pos, _ = self._air_pose(xy, rng)
                # Gripper orientation uniform within the down cone, the object's following from the grasp.
                tcp_rot = down_cone_rotations(rng, n, cfg.gripper_down_cos)
                obj_quat = np.zeros((n, 4))
                tcp_pos = np.zeros((n, 3))
                for i in range(n):
                    g_rot = geo.quat_to_mat(self.grasps.tcp_quat[idx[i]])
                    obj_rot = tcp_rot[i] @ g_rot.T
                    obj_quat[i] = geo.mat_to_quat(obj_rot)
                    tcp_pos[i] = obj_pos[i] + obj_rot @ self.grasps.tcp_pos[idx[i]]
            elif reset_type == "near_object":
                xy, ok = self._object_xy(n, rec_pos, rng)
                obj_pos, obj_quat = self._resting_pose(xy, rng)
                tcp_pos, tcp_rot = self._grasp_tcp(obj_pos, obj_quat, idx, rng, cfg.near_object_pos_noise,
                                                   cfg.near_object_rot_noise)
            else:  # near_goal
                if self.assemblies is None:
                    raise ValueError("near_goal resets need grasps and partial assemblies")
                k = rng.integers(len(self.assemblies), size=n)
                pa = self.assemblies
                pairs = [geo.pose_mul(rec_pos[i], rec_quat[i], pa.rel_pos[k[i]], pa.rel_quat[k[i]]) for i in range(n)]
                obj_pos = np.stack([p for p, _ in pairs])
                obj_quat = np.stack([q for _, q in pairs])
                tcp_pos, tcp_rot = self._grasp_tcp(obj_pos, obj_quat, idx, rng, cfg.near_goal_pos_noise,
                                                   cfg.near_goal_rot_noise)
        return Proposals(tcp_pos, tcp_rot, closed, opening, obj_pos, obj_quat, rec_pos, rec_quat), ok

    # ---- validation ----------------------------------------------------------------------------
    def set_state(self, q, closed, opening, obj_pos, obj_quat, rec_pos, rec_quat, joint_vel=None,
                  finger_vel=None, target_vel=None) -> None:
        """Put the task scene in a state (velocities zero unless given) with the gripper servo
        commanding closed / open, as the env's engine does at reset."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[self.arm_qpos] = q
        for j in self.fingers:
            d.qpos[j] = opening
        d.qpos[self.obj_qpos: self.obj_qpos + 3] = obj_pos
        d.qpos[self.obj_qpos + 3: self.obj_qpos + 7] = obj_quat
        if joint_vel is not None:
            d.qvel[self.arm_dof] = joint_vel
        if finger_vel is not None:
            d.qvel[self.finger_dof] = finger_vel
        if target_vel is not None:
            d.qvel[self.obj_dof: self.obj_dof + 6] = target_vel
        d.mocap_pos[0] = rec_pos
        d.mocap_quat[0] = rec_quat
        d.act[self.act_adr] = CLOSE_SETPOINT if closed else FINGER_STROKE
        d.ctrl[:] = 0.0
        d.ctrl[self.act] = -self.speed if closed else self.speed
        mujoco.mj_forward(m, d)

    _set_state = set_state  # older name

    def probe_penetration(self, tcp_pos, tcp_rot, opening, obj_pos, obj_quat, rec_pos, rec_quat) -> float:
        """Deepest contact (m, 0 if none) of the gripper alone at this TCP pose with the table and both
        objects, and of the target with the table. The target-receptive contact is not seen here (two
        mocap bodies); the full scene checks it after IK."""
        m, d = self.probe, self.probe_data
        hand_quat = geo.mat_to_quat(np.asarray(tcp_rot))
        d.mocap_pos[self._probe_mocap[HAND_BODY]] = tcp_pos - ROBOTIQ_2F85_TCP_OFFSET * np.asarray(tcp_rot)[:, 2]
        d.mocap_quat[self._probe_mocap[HAND_BODY]] = hand_quat
        d.mocap_pos[self._probe_mocap[TARGET_BODY]] = obj_pos
        d.mocap_quat[self._probe_mocap[TARGET_BODY]] = obj_quat
        d.mocap_pos[self._probe_mocap[RECEPTIVE_BODY]] = rec_pos
        d.mocap_quat[self._probe_mocap[RECEPTIVE_BODY]] = rec_quat
        for j in self._probe_fingers:
            d.qpos[j] = opening
        mujoco.mj_kinematics(m, d)
        mujoco.mj_collision(m, d)
        deepest = max((-d.contact[i].dist for i in range(d.ncon)), default=0.0)
        for g in self._probe_target_geoms:  # distmax 0: a separated geom reads 0
            deepest = max(deepest, -mujoco.mj_geomDistance(m, d, g, self._probe_table_geom, 0.0, None))
        return deepest

    def _hold_torque(self, target_pos, target_rot) -> np.ndarray:
        """The released zero action: OSC (training gains, torques clamped to the UR limits, no pose
        error clip) holding the TCP at its pose at the start of validation (target_rot: [9] row-major)."""
        m, d = self.model, self.data
        mujoco.mj_jacSite(m, d, self._jacp, self._jacr, self.tcp_site)
        jac = self._jac
        jac[:3] = self._jacp[:, self.arm_dof]
        jac[3:] = self._jacr[:, self.arm_dof]
        mujoco.mju_mulMatMatT(self._rel, target_rot.reshape(3, 3), d.site_xmat[self.tcp_site].reshape(3, 3))
        mujoco.mju_mat2Quat(self._quat, self._rel.ravel())
        mujoco.mju_quat2Vel(self._err[3:], self._quat, 1.0)  # axis * angle of target @ current^T
        self._err[:3] = target_pos - d.site_xpos[self.tcp_site]
        force = self._hold_kp * self._err - self._hold_kd * (jac @ d.qvel[self.arm_dof])
        return np.clip(jac.T @ force, -self._torque_limit, self._torque_limit)

    def _approach_z(self) -> float:
        """World z of the gripper's approach axis (the TCP z axis, flange -> fingertips)."""
        return float(self.data.site_xmat[self.tcp_site][8])

    def _max_penetration(self) -> float:
        d = self.data
        return max((-d.contact[i].dist for i in range(d.ncon)), default=0.0)

    def _stable_now(self) -> bool:
        cfg, d = self.cfg, self.data
        if np.abs(d.qvel[self.robot_dof]).sum() >= cfg.stable_robot_joint_speed_sum:
            return False
        v = d.qvel[self.obj_dof: self.obj_dof + 6]
        w_world = d.xmat[self.obj_body].reshape(3, 3) @ v[3:]  # free joint: angular velocity in the body frame
        return bool(np.abs(v[:3]).sum() < cfg.stable_object_lin_speed_sum and
                    np.abs(w_world).sum() < cfg.stable_object_ang_speed_sum)

    def hold(self, steps: int) -> None:
        """Step the current state `steps` physics steps with the validation's hold (the released zero
        action) towards the TCP pose it starts from."""
        d = self.data
        pos, rot = d.site_xpos[self.tcp_site].copy(), d.site_xmat[self.tcp_site].copy()
        for _ in range(steps):
            d.ctrl[self.arm_act] = self._hold_torque(pos, rot)
            mujoco.mj_step(self.model, d)

    def _object_in_fingers(self) -> bool:
        d, m = self.data, self.model
        for i in range(d.ncon):
            b1, b2 = m.geom_bodyid[d.contact[i].geom1], m.geom_bodyid[d.contact[i].geom2]
            if (b1 == self.obj_body and b2 in self.finger_bodies) or (b2 == self.obj_body and b1 in self.finger_bodies):
                return True
        return False

    def settled_state(self) -> dict[str, np.ndarray]:
        """The current state as a dataset row. The env's engine restores both fingers at one opening
        (their mean); a held object sits off the gripper's centre by half the fingers' asymmetry, so its
        stored position is shifted by that (along the finger axis, a fraction of a millimetre) and the
        symmetric restore reproduces the settled contacts. `finger_pos` keeps the raw fingers."""
        d = self.data
        quat = d.qpos[self.obj_qpos + 3: self.obj_qpos + 7].copy()
        finger_pos = d.qpos[self.fingers].copy()
        target_pos = d.qpos[self.obj_qpos: self.obj_qpos + 3].copy()
        if self._object_in_fingers():
            # Left finger opens along +y of the gripper base, the right one along -y: setting both to the
            # mean moves both pads by (right - left) / 2 along +y.
            y_axis = d.xmat[self.gripper_base].reshape(3, 3)[:, 1]
            target_pos += 0.5 * (finger_pos[1] - finger_pos[0]) * y_axis
        return {"joint_pos": d.qpos[self.arm_qpos].copy(), "joint_vel": d.qvel[self.arm_dof].copy(),
                "gripper_opening": np.float64(finger_pos.mean()), "finger_pos": finger_pos,
                "finger_vel": d.qvel[self.finger_dof].copy(),
                "target_pos": target_pos, "target_quat": quat / np.linalg.norm(quat),
                "target_vel": d.qvel[self.obj_dof: self.obj_dof + 6].copy()}

    def assembled_within(self, target_pos, target_quat, rec_pos, rec_quat) -> bool:
        """Whether the target is within near_goal_threshold_scale x the task's success thresholds."""
        f64 = torch.float64
        rot = torch.from_numpy(geo.quat_to_mat(np.asarray(target_quat, dtype=np.float64)))[None].to(f64)
        rrot = torch.from_numpy(geo.quat_to_mat(np.asarray(rec_quat, dtype=np.float64)))[None].to(f64)
        err = self.goal_frame.errors(torch.from_numpy(np.asarray(target_pos, dtype=np.float64))[None], rot,
                                     torch.from_numpy(np.asarray(rec_pos, dtype=np.float64))[None], rrot)
        k = self.cfg.near_goal_threshold_scale
        return bool(float(err.position[0]) < k * self.task.success_position_threshold and
                    float(err.orientation[0]) < k * self.task.success_orientation_threshold)

    def validate(self, reset_type: str, q, closed, opening, obj_pos, obj_quat, rec_pos, rec_quat,
                 airborne=None) -> tuple[str | None, dict[str, np.ndarray] | None]:
        """(None, settled state) if the proposal is valid, else (rejection reason, None); the reason is
        one of STATE_REJECT_REASONS. `airborne` is accepted for old callers and ignored (the drift limit
        is per type)."""
        cfg, m, d = self.cfg, self.model, self.data
        self.set_state(q, closed, opening, obj_pos, obj_quat, rec_pos, rec_quat)
        if self._max_penetration() > cfg.penetration_tol:
            return "penetration", None
        ee0 = d.xpos[self.gripper_base].copy()
        obj0 = d.xpos[self.obj_body].copy()
        hold_pos, hold_rot = d.site_xpos[self.tcp_site].copy(), d.site_xmat[self.tcp_site].copy()
        abnormal = cfg.abnormal_joint_speed_factor * self.arm_speed_limit
        stable_run = 0
        for k in range(1, cfg.validation_steps + 1):
            d.ctrl[self.arm_act] = self._hold_torque(hold_pos, hold_rot)
            mujoco.mj_step(m, d)
            if k % cfg.stability_sample_steps and k != cfg.validation_steps:
                continue
            if not (np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all()):
                return "unstable", None
            if (np.abs(d.qvel[self.arm_dof]) > abnormal).any():
                return "abnormal", None
            stable_run = stable_run + 1 if self._stable_now() else 0
            # Cannot reach the required run before the time-out any more: stop early.
            left = (cfg.validation_steps - k) // cfg.stability_sample_steps
            if stable_run + left < cfg.stable_samples:
                return "unstable", None
        if d.time < 0.5 * cfg.validation_steps * m.opt.timestep:  # MuJoCo reset the data (divergence)
            return "unstable", None
        if stable_run < cfg.stable_samples:
            return "unstable", None
        if np.linalg.norm(d.xpos[self.gripper_base] - ee0) > cfg.max_ee_drift:
            return "ee_drift", None
        limit = cfg.max_object_drift[reset_type]
        if limit is not None and np.linalg.norm(d.xpos[self.obj_body] - obj0) > limit:
            return "object_drift", None
        if min(d.xpos[self.gripper_base][2], d.xpos[self.obj_body][2]) < cfg.min_end_height:
            return "below_table", None
        if self._approach_z() > -cfg.gripper_down_cos:
            return "not_down", None
        if self._max_penetration() > cfg.end_penetration_tol:
            return "penetration", None
        state = self.settled_state()
        if reset_type == "stable_grasp" and state["gripper_opening"] < cfg.min_held_opening:
            return "dropped", None
        return None, state

    # ---- generation ----------------------------------------------------------------------------
    def generate(self, reset_type: str, n: int, rng: np.random.Generator, progress=None):
        """Up to n valid settled states of one type: (arrays, {"attempts": int, "rejects": Counter})."""
        if reset_type not in RESET_TYPES:
            raise ValueError(f"unknown reset type {reset_type!r}; valid: {RESET_TYPES}")
        cfg = self.cfg
        rejects: Counter = Counter()
        keep = {k: [] for k in SETTLED_ARRAYS}
        # near_goal: exactly this many kept states within the scaled thresholds, the rest outside.
        quota = None
        if reset_type == "near_goal":
            want = n * cfg.near_goal_success_fraction
            n_in = int(math.floor(want)) + int(rng.uniform() < want - math.floor(want))
            quota = {True: n_in, False: n - n_in}
        decided, kept = 0, 0
        max_proposals = n * cfg.max_attempts_per_state
        pass_rate = 1.0  # running fraction of proposals that survive the cheap checks
        while kept < n and decided < max_proposals:
            # Enough proposals for about one full IK batch after the cheap checks.
            b = int(min(max_proposals - decided, 4096,
                        max(8, math.ceil(min(cfg.batch, 2 * (n - kept)) / max(pass_rate, 1.0 / 64)))))
            prop, ok = self.propose(reset_type, b, rng)
            cheap = np.where(ok, None, "no_separation").astype(object)
            flange_z = prop.tcp_pos[:, 2] - ROBOTIQ_2F85_TCP_OFFSET * prop.tcp_rot[:, 2, 2]
            cheap[(cheap == None) & (flange_z < cfg.min_flange_height)] = "below_table"  # noqa: E711
            # The approach axis barely turns in validation: proposals outside the down cone are dropped
            # before IK (the settled state is checked again).
            cheap[(cheap == None) & (prop.tcp_rot[:, 2, 2] > -cfg.gripper_down_cos)] = "not_down"  # noqa: E711
            for i in np.nonzero(cheap == None)[0]:  # noqa: E711
                if self.probe_penetration(prop.tcp_pos[i], prop.tcp_rot[i], prop.opening[i], prop.target_pos[i],
                                          prop.target_quat[i], prop.receptive_pos[i],
                                          prop.receptive_quat[i]) > cfg.penetration_tol:
                    cheap[i] = "penetration"
            survivors = np.nonzero(cheap == None)[0]  # noqa: E711
            pass_rate = 0.5 * pass_rate + 0.5 * len(survivors) / b
            solved_q: dict[int, tuple[np.ndarray, bool]] = {}
            next_ik = 0  # position in survivors of the next IK batch
            # Walk the proposals in order so that the counts cover exactly the proposals decided.
            for i in range(b):
                if kept >= n or decided >= max_proposals:
                    break
                decided += 1
                if cheap[i] is not None:
                    rejects[cheap[i]] += 1
                    continue
                if i not in solved_q:
                    chunk = survivors[next_ik: next_ik + cfg.batch]
                    next_ik += len(chunk)
                    q, solved = self.ik.solve(torch.from_numpy(prop.tcp_pos[chunk]),
                                              torch.from_numpy(prop.tcp_rot[chunk]))
                    for j, c in enumerate(chunk):
                        solved_q[int(c)] = (q[j].numpy(), bool(solved[j]))
                qi, solved_i = solved_q[i]
                if not solved_i:
                    rejects["ik"] += 1
                    continue
                reason, state = self.validate(reset_type, qi, prop.closed[i], prop.opening[i],
                                              prop.target_pos[i], prop.target_quat[i], prop.receptive_pos[i],
                                              prop.receptive_quat[i])
                if reason is None and quota is not None:
                    within = self.assembled_within(state["target_pos"], state["target_quat"], prop.receptive_pos[i],
                                                   prop.receptive_quat[i])
                    if quota[within] <= 0:
                        reason = "assembly_split"
                    else:
                        quota[within] -= 1
                if reason is not None:
                    rejects[reason] += 1
                    continue
                kept += 1
                state["gripper_closed"] = bool(prop.closed[i])
                state["receptive_pos"] = prop.receptive_pos[i]
                state["receptive_quat"] = prop.receptive_quat[i]
                for key in SETTLED_ARRAYS:
                    keep[key].append(state[key])
                if progress is not None:
                    progress(1)
        arrays = {}
        for k, tail in SETTLED_ARRAYS.items():
            if k == "gripper_closed":
                arrays[k] = np.array(keep[k], dtype=bool)
            else:
                arrays[k] = np.array(keep[k], dtype=np.float32).reshape(-1, *tail)
        # Attempts = proposals that were decided (kept or rejected); the rest of the last batch was unused.
        return arrays, {"attempts": decided, "rejects": rejects}

    def settings(self) -> dict:
        return {"config": asdict(self.cfg), "gripper": asdict(self.scene.gripper), "robot": self.scene.arm.robot,
                "calibration": self.kin_params.calibration_hash}
