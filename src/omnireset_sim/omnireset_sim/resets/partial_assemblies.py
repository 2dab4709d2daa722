"""Partial assemblies: near-goal offsets of the target relative to the receptive object (§3.2, Tang et al.).

As the released code does (constants in released.py): the target starts at its goal pose in the
receptive object (fixed at the origin), gravity off, zero friction; every physics step a random
force and torque (each component U(-0.005, 0.005) N / N m, in the target's frame) pushes it. The
target keeps the task's mass (the released 1 g object is ejected at once in MuJoCo; `target_mass`).
Every step its pose relative to the receptive object is recorded if no contact penetrates deeper
than `penetration_tol` and it is more than `min_position_gap` AND more than `min_quat_gap` (Euclidean quaternion distance, sign-free)
from every pose kept so far. An episode ends after 4 s or when the target's bounding box no longer
overlaps its box at the goal pose (dislodged); episodes repeat until `num_poses` are kept. For a peg
this yields partially inserted, tilted and off-centre pegs, and (the box overlaps until the peg is
out by its own length) pegs lifted out above the hole.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import mujoco
import numpy as np

from ..assets.scene import TARGET_BODY, TARGET_JOINT
from ..tasks.spec import TaskSpec
from . import geometry as geo
from . import released as R
from .artifacts import ArtifactError, ChunkedRun, base_meta, read_artifact, write_artifact
from .models import assembly_model

ASSEMBLY_FORMAT = "omnireset.partial_assemblies"
# v2: the released procedure (zero friction, wrench every step, 4 s, both gaps, box-overlap dislodge).
ASSEMBLY_FORMAT_VERSION = 2


@dataclass(frozen=True)
class PartialAssemblyConfig:
    num_poses: int = 500
    max_episodes: int = 400
    episodes_per_chunk: int = 50
    max_episode_steps: int = R.ASSEMBLY_EPISODE_STEPS  # 4 s at 120 Hz
    wrench: float = R.ASSEMBLY_WRENCH  # N and N m per component, redrawn every physics step
    target_mass: float | None = R.ASSEMBLY_TARGET_MASS  # kg; None: the task's own mass
    friction: float = R.ASSEMBLY_FRICTION
    penetration_tol: float = R.ASSEMBLY_PENETRATION_TOL  # m
    min_position_gap: float = R.ASSEMBLY_MIN_POSITION_GAP  # m
    min_quat_gap: float = R.ASSEMBLY_MIN_QUAT_GAP  # Euclidean distance of unit quaternions

    def __post_init__(self) -> None:
        if self.num_poses <= 0 or self.max_episodes <= 0 or self.episodes_per_chunk <= 0 or self.max_episode_steps <= 0:
            raise ValueError("num_poses, max_episodes, episodes_per_chunk and max_episode_steps must be positive")
        if self.target_mass is not None and not self.target_mass > 0:
            raise ValueError(f"target_mass must be > 0 (or None for the task's mass), got {self.target_mass}")
        if not (self.wrench >= 0 and self.friction >= 0 and self.min_position_gap >= 0 and self.min_quat_gap >= 0):
            raise ValueError("wrench, friction and the gaps must be >= 0")


@dataclass
class PartialAssemblies:
    task: str
    rel_pos: np.ndarray  # [P,3] target in the receptive frame
    rel_quat: np.ndarray  # [P,4]
    meta: dict

    def __len__(self) -> int:
        return int(self.rel_pos.shape[0])


def quat_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of unit quaternions, the smaller of q and -q (both are the same rotation)."""
    return np.minimum(np.linalg.norm(a - b, axis=-1), np.linalg.norm(a + b, axis=-1))


def _is_new(pos, quat, kept_pos, kept_quat, n, cfg) -> bool:
    """More than both gaps from every kept pose (the released rule: min position distance AND min
    orientation distance over the kept set both above their thresholds)."""
    if n == 0:
        return True
    dp = np.linalg.norm(kept_pos[:n] - pos, axis=1)
    if dp.min() <= cfg.min_position_gap:
        return False
    return bool(quat_distance(kept_quat[:n], quat).min() > cfg.min_quat_gap)


def configure_assembly_model(task: TaskSpec, cfg: PartialAssemblyConfig) -> mujoco.MjModel:
    """assembly_model (gravity off) with the released friction and target mass."""
    model = assembly_model(task)
    model.geom_friction[:, :] = cfg.friction
    if cfg.friction == 0.0:
        model.geom_condim[:] = 1  # frictionless contacts
    body = model.body(TARGET_BODY).id
    if cfg.target_mass is not None:
        scale = cfg.target_mass / float(model.body_mass[body])
        model.body_mass[body] = cfg.target_mass
        model.body_inertia[body] *= scale
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


def run_episodes(task: TaskSpec, cfg: PartialAssemblyConfig, n_episodes: int, rng: np.random.Generator,
                 prior_pos=None, prior_quat=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Run episodes; returns new distinct poses (also distinct from the prior ones) and stats."""
    model = configure_assembly_model(task, cfg)
    data = mujoco.MjData(model)
    body = model.body(TARGET_BODY).id
    qadr = int(model.jnt_qposadr[model.joint(TARGET_JOINT).id])
    goal_pos, goal_quat = np.asarray(task.goal_pos, float), np.asarray(task.goal_quat, float)
    box_c, box_h = geo.bounding_box(task.target.geoms)
    goal_rot = geo.quat_to_mat(goal_quat)
    goal_box_c = goal_pos + goal_rot @ box_c
    # Cheap exits from the box test: centres closer than this always overlap.
    always_overlap = float(box_h.min())
    cap = cfg.num_poses + (0 if prior_pos is None else len(prior_pos))
    kept_pos, kept_quat = np.zeros((cap + 1, 3)), np.zeros((cap + 1, 4))
    n = 0
    if prior_pos is not None and len(prior_pos):
        n = len(prior_pos)
        kept_pos[:n], kept_quat[:n] = prior_pos, prior_quat
    first_new = n
    stats = {"episodes": 0, "steps": 0, "penetrating": 0, "dislodged": 0}
    for _ in range(n_episodes):
        if n >= cap:
            break
        stats["episodes"] += 1
        mujoco.mj_resetData(model, data)
        data.qpos[qadr: qadr + 3] = goal_pos
        data.qpos[qadr + 3: qadr + 7] = goal_quat
        mujoco.mj_forward(model, data)
        for _k in range(cfg.max_episode_steps):
            rot = data.xmat[body].reshape(3, 3)
            wrench = rng.uniform(-cfg.wrench, cfg.wrench, 6)
            data.xfrc_applied[body, :3] = rot @ wrench[:3]  # drawn in the target's frame, as released
            data.xfrc_applied[body, 3:] = rot @ wrench[3:]
            mujoco.mj_step(model, data)
            stats["steps"] += 1
            pos = data.qpos[qadr: qadr + 3].copy()
            quat = data.qpos[qadr + 3: qadr + 7].copy()
            if not np.isfinite(pos).all() or not np.isfinite(quat).all():
                break
            quat /= np.linalg.norm(quat)
            rot = geo.quat_to_mat(quat)
            centre = pos + rot @ box_c
            if np.linalg.norm(centre - goal_box_c) > always_overlap and not geo.obb_overlap(
                    goal_box_c, goal_rot, box_h, centre, rot, box_h):
                stats["dislodged"] += 1
                break
            if any(data.contact[i].dist < -cfg.penetration_tol for i in range(data.ncon)):
                stats["penetrating"] += 1
                continue
            quat = np.where(quat[0] < 0, -quat, quat)
            if _is_new(pos, quat, kept_pos, kept_quat, n, cfg):
                kept_pos[n], kept_quat[n] = pos, quat
                n += 1
                if n >= cap:
                    break
    return kept_pos[first_new:n].copy(), kept_quat[first_new:n].copy(), stats


def generate_partial_assemblies(task: TaskSpec, cfg: PartialAssemblyConfig | None = None, seed: int = 0, out=None,
                                progress=None, keep_parts: bool = False) -> PartialAssemblies:
    cfg = cfg or PartialAssemblyConfig()
    settings = {"task": task.name, "seed": seed, "config": asdict(cfg), "kind": "partial_assemblies"}
    n_chunks = math.ceil(cfg.max_episodes / cfg.episodes_per_chunk)
    state = {"pos": np.zeros((0, 3)), "quat": np.zeros((0, 4)), "episodes": 0, "penetrating": 0, "dislodged": 0}

    def keys():
        for i in range(n_chunks):
            if len(state["pos"]) >= cfg.num_poses:
                return
            yield f"assemblies_{i:05d}"

    def make(key):
        i = int(key.split("_")[1])
        episodes = min(cfg.episodes_per_chunk, cfg.max_episodes - i * cfg.episodes_per_chunk)
        sub_cfg = PartialAssemblyConfig(**{**asdict(cfg), "num_poses": cfg.num_poses - len(state["pos"])})
        pos, quat, stats = run_episodes(task, sub_cfg, episodes, np.random.default_rng([seed, i]), state["pos"],
                                        state["quat"])
        return {"rel_pos": pos, "rel_quat": quat,
                "stats": np.array([stats["episodes"], stats["penetrating"], stats["dislodged"]], dtype=np.int64)}

    def on_chunk(key, arrays, resumed):
        state["pos"] = np.concatenate([state["pos"], arrays["rel_pos"]])
        state["quat"] = np.concatenate([state["quat"], arrays["rel_quat"]])
        for j, name in enumerate(("episodes", "penetrating", "dislodged")):
            state[name] += int(arrays["stats"][j])
        if progress is not None:
            progress(int(arrays["stats"][0]), len(arrays["rel_pos"]), resumed)

    run = ChunkedRun(out, settings) if out is not None else None
    if run is not None:
        run.run(keys(), make, on_chunk)
    else:
        for key in keys():
            on_chunk(key, make(key), False)
    pos, quat = state["pos"][: cfg.num_poses], state["quat"][: cfg.num_poses]
    if len(pos) == 0:
        raise RuntimeError(f"task {task.name!r}: no collision-free partial assembly found in {state['episodes']} "
                           f"episodes ({state['penetrating']} penetrating steps); is the goal pose collision-free?")
    meta = base_meta(ASSEMBLY_FORMAT, ASSEMBLY_FORMAT_VERSION, task=task.name, seed=seed, count=int(len(pos)),
                     episodes=state["episodes"], dislodged=state["dislodged"], config=asdict(cfg))
    result = PartialAssemblies(task.name, pos, quat, meta)
    if out is not None:
        write_artifact(out, {"rel_pos": pos, "rel_quat": quat}, meta)
        if not keep_parts:
            run.cleanup()
    return result


def load_partial_assemblies(path, task: str | None = None) -> PartialAssemblies:
    arrays, meta = read_artifact(path, ASSEMBLY_FORMAT, ASSEMBLY_FORMAT_VERSION, {"task": task})
    pos, quat = arrays.get("rel_pos"), arrays.get("rel_quat")
    if pos is None or quat is None or pos.ndim != 2 or pos.shape[1] != 3 or quat.shape != (pos.shape[0], 4):
        raise ArtifactError(f"{path}: arrays rel_pos [P,3] / rel_quat [P,4] missing or malformed")
    if len(pos) == 0:
        raise ArtifactError(f"{path}: holds no partial assemblies")
    return PartialAssemblies(meta["task"], pos, quat, meta)
