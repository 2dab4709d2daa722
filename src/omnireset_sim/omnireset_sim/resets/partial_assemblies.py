"""Partial assemblies: near-goal offsets of the target relative to the receptive object (§3.2, Tang et al.).

The target starts at its goal pose in the receptive object (fixed at the origin), gravity off. A
small random force and torque (redrawn every `period` steps, scaled by the object's mass so every
task sees similar accelerations) pushes it around; every step, its pose relative to the receptive
object is recorded if no contact penetrates deeper than `penetration_tol` and it is farther than
`min_position_gap` or `min_rotation_gap` from every pose already kept (deduplication). An episode
ends when the target is dislodged (more than `dislodge_distance` or `dislodge_angle` from the
goal) or after `max_episode_steps`; episodes repeat until `num_poses` are kept. For a peg this
yields partially inserted, tilted and off-centre pegs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import mujoco
import numpy as np

from ..assets.scene import TARGET_BODY, TARGET_JOINT
from ..tasks.spec import TaskSpec
from . import geometry as geo
from .artifacts import ArtifactError, ChunkedRun, base_meta, read_artifact, write_artifact
from .models import assembly_model

ASSEMBLY_FORMAT = "omnireset.partial_assemblies"
ASSEMBLY_FORMAT_VERSION = 1


@dataclass(frozen=True)
class PartialAssemblyConfig:
    num_poses: int = 500
    max_episodes: int = 400
    episodes_per_chunk: int = 50
    max_episode_steps: int = 240  # 2 s at 120 Hz
    period: int = 6  # steps between wrench redraws
    accel: float = 3.0  # m/s^2: force magnitude up to accel * mass
    angular_accel: float = 30.0  # rad/s^2 (times the largest principal inertia)
    penetration_tol: float = 0.001  # m
    min_position_gap: float = 0.002  # m
    min_rotation_gap: float = 0.05  # rad
    dislodge_distance: float = 0.03  # m
    dislodge_angle: float = 0.6  # rad

    def __post_init__(self) -> None:
        if self.num_poses <= 0 or self.max_episodes <= 0 or self.episodes_per_chunk <= 0:
            raise ValueError("num_poses, max_episodes and episodes_per_chunk must be positive")


@dataclass
class PartialAssemblies:
    task: str
    rel_pos: np.ndarray  # [P,3] target in the receptive frame
    rel_quat: np.ndarray  # [P,4]
    meta: dict

    def __len__(self) -> int:
        return int(self.rel_pos.shape[0])


def _is_new(pos, quat, kept_pos, kept_quat, n, cfg) -> bool:
    if n == 0:
        return True
    dp = np.linalg.norm(kept_pos[:n] - pos, axis=1)
    dr = geo.quat_angle(kept_quat[:n], quat)
    return not bool(np.any((dp < cfg.min_position_gap) & (dr < cfg.min_rotation_gap)))


def run_episodes(task: TaskSpec, cfg: PartialAssemblyConfig, n_episodes: int, rng: np.random.Generator,
                 prior_pos=None, prior_quat=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Run episodes; returns new distinct poses (also distinct from the prior ones) and stats."""
    model = assembly_model(task)
    data = mujoco.MjData(model)
    body = model.body(TARGET_BODY).id
    qadr = int(model.jnt_qposadr[model.joint(TARGET_JOINT).id])
    mass = float(model.body_mass[body])
    inertia = float(model.body_inertia[body].max())
    goal_pos, goal_quat = np.asarray(task.goal_pos, float), np.asarray(task.goal_quat, float)
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
        for k in range(cfg.max_episode_steps):
            if k % cfg.period == 0:
                f, t = rng.normal(size=3), rng.normal(size=3)
                data.xfrc_applied[body, :3] = f / np.linalg.norm(f) * rng.uniform(0, cfg.accel * mass)
                data.xfrc_applied[body, 3:] = t / np.linalg.norm(t) * rng.uniform(0, cfg.angular_accel * inertia)
            mujoco.mj_step(model, data)
            stats["steps"] += 1
            pos = data.qpos[qadr: qadr + 3].copy()
            quat = data.qpos[qadr + 3: qadr + 7].copy()
            if not np.isfinite(pos).all():
                break
            quat /= np.linalg.norm(quat)
            if np.linalg.norm(pos - goal_pos) > cfg.dislodge_distance or geo.quat_angle(quat, goal_quat) > \
                    cfg.dislodge_angle:
                stats["dislodged"] += 1
                break
            if any(data.contact[i].dist < -cfg.penetration_tol for i in range(data.ncon)):
                stats["penetrating"] += 1
                continue
            if _is_new(pos, quat, kept_pos, kept_quat, n, cfg):
                kept_pos[n], kept_quat[n] = pos, np.where(quat[0] < 0, -quat, quat)
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
