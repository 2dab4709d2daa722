"""Antipodal grasp sampling on the target object, validated with the gripper alone in MuJoCo.

Candidates (§3.2, after Mittal et al. 2023): a seed point and outward normal are drawn uniformly
by area on the object's primitive geoms; the closing line runs along that normal (jittered inside
a cone). Two rays cast from outside the object along the line give the outermost surface points
the two pads would touch -- a parallel gripper closes on those, whatever lies between. The pair
is kept if it fits the 2F-85 stroke and both surface normals lie within a cone of the closing
line (antipodal, friction cone). The gripper frame (TCP: z = approach, y = finger motion) is then
turned about the closing line by a random approach angle and moved along its approach axis by a
random standoff, which spreads grasps over the broad range of Fig. 3a.

Validation, per candidate, in a model of the gripper on a mocap hand and the free object:
 1. open gripper at the grasp: no contact deeper than `open_penetration_tol` (collision-free);
 2. close with gravity off (the object may be pushed while the pads meet it), the fingers must
    stop on the object (opening > `min_opening`);
 3. gravity on, shake: a random wrench on the object, redrawn every `shake_period` steps;
 4. keep it if the object moved less than `slip_position_tol` / `slip_rotation_tol` relative to
    the hand during the shake and no contact is deeper than `closed_penetration_tol`.
The kept grasp is the TCP pose in the object frame *after* closing, with the finger opening it
closed to, so a reset that places the closed gripper there starts in equilibrium.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import mujoco
import numpy as np

from omnireset_control.constants import ROBOTIQ_2F85_TCP_OFFSET

from ..assets.gripper import FINGER_JOINTS, FINGER_STROKE, GRIPPER_ACTUATOR, GripperConfig
from ..assets.scene import TARGET_BODY, TARGET_JOINT
from ..tasks.spec import TaskSpec
from . import geometry as geo
from .artifacts import ArtifactError, ChunkedRun, base_meta, read_artifact, write_artifact
from .models import HAND_BODY, floating_gripper_model, object_only_model

GRASP_FORMAT = "omnireset.grasps"
GRASP_FORMAT_VERSION = 1
GRASP_REJECT_REASONS = ("no_pair", "too_wide", "too_narrow", "not_antipodal", "collision_open", "missed",
                        "slipped", "penetration")


class NoValidGraspError(RuntimeError):
    """The object's geometry gave no grasp that passed validation."""


@dataclass(frozen=True)
class GraspConfig:
    num_grasps: int = 1000
    max_candidates: int = 20000
    chunk_candidates: int = 500  # candidates per resumable chunk
    friction_cone_deg: float = 20.0  # antipodal test: normal within this angle of the closing line
    axis_jitter_deg: float = 10.0  # closing line = seed normal jittered by up to this
    standoff: tuple[float, float] = (-0.015, 0.015)  # m along approach; >0 = fingertip grasp, <0 = deep
    width_margin: float = 0.003  # m of stroke kept free on each side when opened
    min_width: float = 0.002  # m
    open_penetration_tol: float = 0.0005  # m
    closed_penetration_tol: float = 0.003  # m
    min_opening: float = 0.0005  # m: below this the fingers closed past the object
    close_steps: int = 60  # 0.5 s at 120 Hz: the full stroke takes 0.43 s at the default speed
    shake_steps: int = 60
    shake_period: int = 10
    shake_force: float = 1.0  # N, max magnitude of the random force on the object
    shake_torque: float = 0.02  # N m
    slip_position_tol: float = 0.01  # m
    slip_rotation_tol: float = 0.2  # rad
    gripper: GripperConfig = field(default_factory=GripperConfig)

    def __post_init__(self) -> None:
        if self.num_grasps <= 0 or self.max_candidates <= 0 or self.chunk_candidates <= 0:
            raise ValueError("num_grasps, max_candidates and chunk_candidates must be positive")
        if self.standoff[0] > self.standoff[1]:
            raise ValueError(f"standoff range {self.standoff} is empty")


@dataclass
class GraspSet:
    """Grasps on one object: TCP pose in the object frame after closing, and the finger opening."""

    task: str
    tcp_pos: np.ndarray  # [G,3]
    tcp_quat: np.ndarray  # [G,4]
    opening: np.ndarray  # [G] m, one finger
    width: np.ndarray  # [G] m, antipodal width of the candidate
    meta: dict

    def __len__(self) -> int:
        return int(self.tcp_pos.shape[0])


class _GripperSim:
    """The floating-gripper validation model and the indices it needs."""

    def __init__(self, task: TaskSpec, cfg: GraspConfig):
        self.cfg = cfg
        self.model = floating_gripper_model(task, cfg.gripper)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.mocap = int(m.body_mocapid[m.body(HAND_BODY).id])
        self.obj_body = m.body(TARGET_BODY).id
        self.obj_qpos = int(m.jnt_qposadr[m.joint(TARGET_JOINT).id])
        self.fingers = [int(m.jnt_qposadr[m.joint(n).id]) for n in FINGER_JOINTS]
        act = m.actuator(GRIPPER_ACTUATOR).id
        self.act = act
        self.act_adr = int(m.actuator_actadr[act])
        self.speed = float(m.actuator_ctrlrange[act, 1])
        self.gravity = np.array(m.opt.gravity)
        self.tcp_offset = np.array([0.0, 0.0, ROBOTIQ_2F85_TCP_OFFSET])

    def _object_pose(self):
        q = self.data.qpos[self.obj_qpos: self.obj_qpos + 7]
        return q[:3].copy(), q[3:].copy() / np.linalg.norm(q[3:])

    def _tcp_in_object(self, hand_pos, hand_quat):
        tcp_pos, tcp_quat = geo.pose_mul(hand_pos, hand_quat, self.tcp_offset, np.array([1.0, 0, 0, 0]))
        op, oq = self._object_pose()
        ip, iq = geo.pose_inv(op, oq)
        return geo.pose_mul(ip, iq, tcp_pos, tcp_quat)

    def _min_contact_dist(self) -> float:
        d = self.data
        return min((float(d.contact[i].dist) for i in range(d.ncon)), default=math.inf)

    def validate(self, tcp_pos, tcp_quat, rng: np.random.Generator):
        """Returns (reason or None, tcp_pos, tcp_quat, opening) of the grasp after closing."""
        m, d, cfg = self.model, self.data, self.cfg
        mujoco.mj_resetData(m, d)
        # Object at the origin, hand where the TCP is at the grasp: hand = tcp * offset^-1.
        d.qpos[self.obj_qpos: self.obj_qpos + 7] = [0, 0, 0, 1, 0, 0, 0]
        hand_quat = np.asarray(tcp_quat, dtype=np.float64)
        hand_pos = np.asarray(tcp_pos) - geo.quat_to_mat(hand_quat) @ self.tcp_offset
        d.mocap_pos[self.mocap] = hand_pos
        d.mocap_quat[self.mocap] = hand_quat
        for j in self.fingers:
            d.qpos[j] = FINGER_STROKE
        d.act[self.act_adr] = FINGER_STROKE
        mujoco.mj_forward(m, d)
        if self._min_contact_dist() < -cfg.open_penetration_tol:
            return "collision_open", None, None, None
        m.opt.gravity[:] = 0.0
        try:
            d.ctrl[self.act] = -self.speed
            for _ in range(cfg.close_steps):
                mujoco.mj_step(m, d)
            opening = float(d.qpos[self.fingers[0]])
            if opening < cfg.min_opening:
                return "missed", None, None, None
            held_pos, held_quat = self._tcp_in_object(hand_pos, hand_quat)
            m.opt.gravity[:] = self.gravity
            for k in range(cfg.shake_steps):
                if k % cfg.shake_period == 0:
                    f = rng.normal(size=3)
                    t = rng.normal(size=3)
                    d.xfrc_applied[self.obj_body, :3] = f / np.linalg.norm(f) * rng.uniform(0, cfg.shake_force)
                    d.xfrc_applied[self.obj_body, 3:] = t / np.linalg.norm(t) * rng.uniform(0, cfg.shake_torque)
                mujoco.mj_step(m, d)
            if not np.isfinite(d.qpos).all():
                return "slipped", None, None, None
            pos, quat = self._tcp_in_object(hand_pos, hand_quat)
            if (np.linalg.norm(pos - held_pos) > cfg.slip_position_tol
                    or geo.quat_angle(quat, held_quat) > cfg.slip_rotation_tol):
                return "slipped", None, None, None
            if self._min_contact_dist() < -cfg.closed_penetration_tol:
                return "penetration", None, None, None
            return None, held_pos, held_quat, opening
        finally:
            m.opt.gravity[:] = self.gravity
            d.xfrc_applied[:] = 0.0


class GraspSampler:
    def __init__(self, task: TaskSpec, cfg: GraspConfig | None = None):
        self.task = task
        self.cfg = cfg or GraspConfig()
        self.ray_model = object_only_model(task)
        self.ray_data = mujoco.MjData(self.ray_model)
        mujoco.mj_forward(self.ray_model, self.ray_data)
        self.ray_length = 2.0 * geo.bounding_radius(task.target.geoms) + 0.1
        self.sim = _GripperSim(task, self.cfg)

    def _ray(self, start, direction):
        geomid = np.zeros((1, 1), dtype=np.int32)
        normal = np.zeros(3)
        dist = mujoco.mj_ray(self.ray_model, self.ray_data, start, direction, None, 1, -1, geomid, normal)
        if dist < 0:
            return None, None
        return start + dist * direction, normal

    def candidate(self, point, normal, rng: np.random.Generator):
        """One antipodal candidate from a seed surface point: (reason or None, tcp_pos, tcp_quat, width)."""
        cfg = self.cfg
        e1, e2 = geo.perpendicular_basis(normal)
        tilt = math.tan(math.radians(cfg.axis_jitter_deg)) * math.sqrt(rng.uniform())
        phi = rng.uniform(0, 2 * math.pi)
        axis = normal + tilt * (math.cos(phi) * e1 + math.sin(phi) * e2)
        axis /= np.linalg.norm(axis)
        L = self.ray_length
        hit_a, n_a = self._ray(point + L * axis, -axis)  # outer surface on the +axis side
        hit_b, n_b = self._ray(point - L * axis, axis)  # outer surface on the -axis side
        if hit_a is None or hit_b is None:
            return "no_pair", None, None, 0.0
        width = float((hit_a - hit_b) @ axis)
        if width > 2 * (FINGER_STROKE - cfg.width_margin):
            return "too_wide", None, None, width
        if width < cfg.min_width:
            return "too_narrow", None, None, width
        cos_cone = math.cos(math.radians(cfg.friction_cone_deg))
        if float(n_a @ axis) < cos_cone or float(n_b @ -axis) < cos_cone:
            return "not_antipodal", None, None, width
        # TCP frame: y along the closing line, z (approach) at a random angle about it, then standoff.
        y = axis
        u, v = geo.perpendicular_basis(y)
        ang = rng.uniform(0, 2 * math.pi)
        z = math.cos(ang) * u + math.sin(ang) * v
        x = np.cross(y, z)
        rot = np.stack([x, y, z], axis=1)
        mid = 0.5 * (hit_a + hit_b)
        tcp_pos = mid - z * rng.uniform(*cfg.standoff)
        return None, tcp_pos, geo.mat_to_quat(rot), width

    def run_chunk(self, n_candidates: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], Counter]:
        rejects: Counter = Counter()
        kept_pos, kept_quat, kept_open, kept_width = [], [], [], []
        points, normals = geo.sample_surface(self.task.target.geoms, n_candidates, rng)
        for i in range(n_candidates):
            reason, tcp_pos, tcp_quat, width = self.candidate(points[i], normals[i], rng)
            if reason is None:
                reason, tcp_pos, tcp_quat, opening = self.sim.validate(tcp_pos, tcp_quat, rng)
            if reason is not None:
                rejects[reason] += 1
                continue
            kept_pos.append(tcp_pos)
            kept_quat.append(tcp_quat)
            kept_open.append(opening)
            kept_width.append(width)
        arrays = {
            "tcp_pos": np.array(kept_pos, dtype=np.float64).reshape(-1, 3),
            "tcp_quat": np.array(kept_quat, dtype=np.float64).reshape(-1, 4),
            "opening": np.array(kept_open, dtype=np.float64),
            "width": np.array(kept_width, dtype=np.float64),
            "rejects": np.array([rejects[r] for r in GRASP_REJECT_REASONS], dtype=np.int64),
            "candidates": np.array(n_candidates, dtype=np.int64),
        }
        return arrays, rejects


def generate_grasps(task: TaskSpec, cfg: GraspConfig | None = None, seed: int = 0, out=None, progress=None,
                    keep_parts: bool = False) -> GraspSet:
    """Sample and validate grasps until cfg.num_grasps are kept or cfg.max_candidates are spent.

    With `out`, chunks go to `<out>.parts/` (resumable) and the grasp set to `out` (atomically).
    Raises NoValidGraspError when no candidate passes.
    """
    cfg = cfg or GraspConfig()
    sampler = GraspSampler(task, cfg)
    settings = {"task": task.name, "seed": seed, "config": asdict(cfg), "kind": "grasps"}
    n_chunks = math.ceil(cfg.max_candidates / cfg.chunk_candidates)
    kept = {"n": 0}

    def keys():
        for i in range(n_chunks):
            if kept["n"] >= cfg.num_grasps:
                return
            yield f"grasps_{i:05d}"

    def make(key):
        i = int(key.split("_")[1])
        n = min(cfg.chunk_candidates, cfg.max_candidates - i * cfg.chunk_candidates)
        arrays, _ = sampler.run_chunk(n, np.random.default_rng([seed, i]))
        return arrays

    def on_chunk(key, arrays, resumed):
        kept["n"] += int(arrays["tcp_pos"].shape[0])
        if progress is not None:
            progress(int(arrays["candidates"]), int(arrays["tcp_pos"].shape[0]), resumed)

    if out is not None:
        run = ChunkedRun(out, settings)
        chunks = run.run(keys(), make, on_chunk)
    else:
        run = None
        chunks = {}
        for key in keys():
            chunks[key] = make(key)
            on_chunk(key, chunks[key], False)
    parts = list(chunks.values())
    rejects = sum((p["rejects"] for p in parts), np.zeros(len(GRASP_REJECT_REASONS), dtype=np.int64))
    candidates = int(sum(int(p["candidates"]) for p in parts))
    accepted = int(sum(len(p["tcp_pos"]) for p in parts))  # may exceed num_grasps (the last chunk runs whole)
    cat = {k: np.concatenate([p[k] for p in parts])[: cfg.num_grasps] for k in ("tcp_pos", "tcp_quat", "opening",
                                                                                  "width")}
    n = int(cat["tcp_pos"].shape[0])
    reasons = {r: int(c) for r, c in zip(GRASP_REJECT_REASONS, rejects)}
    if n == 0:
        hint = ""
        if reasons["too_wide"] > 0.5 * candidates:
            hint = f" (most closing lines are wider than the {2 * FINGER_STROKE * 1000:.0f} mm stroke)"
        raise NoValidGraspError(f"task {task.name!r}: no valid grasp on {task.target.name!r} out of {candidates} "
                                f"candidates{hint}; rejections: {reasons}")
    meta = base_meta(GRASP_FORMAT, GRASP_FORMAT_VERSION, task=task.name, object=task.target.name, seed=seed,
                     count=n, candidates=candidates, accepted=accepted, rejections=reasons, config=asdict(cfg))
    grasp_set = GraspSet(task.name, cat["tcp_pos"], cat["tcp_quat"], cat["opening"], cat["width"], meta)
    if out is not None:
        write_artifact(out, cat, meta)
        if not keep_parts:
            run.cleanup()
    return grasp_set


def load_grasps(path, task: str | None = None) -> GraspSet:
    arrays, meta = read_artifact(path, GRASP_FORMAT, GRASP_FORMAT_VERSION, {"task": task})
    for key, cols in (("tcp_pos", 3), ("tcp_quat", 4)):
        a = arrays.get(key)
        if a is None or a.ndim != 2 or a.shape[1] != cols:
            raise ArtifactError(f"{path}: array {key!r} missing or malformed")
    if arrays["tcp_pos"].shape[0] == 0:
        raise ArtifactError(f"{path}: holds no grasps")
    return GraspSet(meta["task"], arrays["tcp_pos"], arrays["tcp_quat"], arrays["opening"], arrays["width"], meta)
