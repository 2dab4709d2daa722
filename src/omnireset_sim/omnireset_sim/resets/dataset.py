"""The reset dataset: format, resumable generation, loading, and the env's DatasetResetSampler.

File (.npz, see artifacts.py): arrays over all N states, grouped by type, each the *settled* state
at the end of the 2 s validation (states.py), as the released code stores it --
  reset_type [N] int8 (index into `reset_type_names`), joint_pos [N,6], joint_vel [N,6],
  gripper_closed [N] bool (the command), gripper_opening [N] (m, one finger: the mean of finger_pos),
  finger_pos [N,2], finger_vel [N,2], target_pos [N,3], target_quat [N,4], target_vel [N,6] (MuJoCo
  free-joint velocity: linear in base_link, angular in the target's frame), receptive_pos [N,3],
  receptive_quat [N,4] (float32, base_link, quaternions (w,x,y,z)) --
and metadata: format "omnireset.reset_dataset" v2, task, variant, robot, reset_type_names,
counts, attempts and rejections per type, seed, gripper config, kinematics calibration hash,
grasp / partial-assembly file checksums, the generation config, code revision, engine, created.
Version 1 stored the proposed (pre-settle) states and is refused. The sampler hands the env the
positions (ResetState has no velocities; the settled ones are below the stability thresholds).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Mapping

import numpy as np
import torch

from ..assets.scene import SceneConfig
from ..envs.engine import ResetState
from ..tasks import get_variant
from .artifacts import ArtifactError, ChunkedRun, base_meta, read_artifact, write_artifact
from .grasps import GraspSet
from .partial_assemblies import PartialAssemblies
from .states import RESET_TYPES, SETTLED_ARRAYS, STATE_REJECT_REASONS, ResetGenConfig, ResetStateGenerator

DATASET_FORMAT = "omnireset.reset_dataset"
# v2: the settled state at the end of validation (v1: the proposed, pre-settle state).
DATASET_FORMAT_VERSION = 2
STATE_ARRAYS = dict(SETTLED_ARRAYS)


@dataclass
class ResetDataset:
    arrays: dict[str, np.ndarray]
    meta: dict

    @property
    def reset_type_names(self) -> tuple[str, ...]:
        return tuple(self.meta["reset_type_names"])

    def count(self, name: str) -> int:
        return int(self.meta["counts"].get(name, 0))

    def of_type(self, name: str) -> dict[str, np.ndarray]:
        t = self.reset_type_names.index(name)
        sel = self.arrays["reset_type"] == t
        return {k: v[sel] for k, v in self.arrays.items()}

    def __len__(self) -> int:
        return int(self.arrays["reset_type"].shape[0])


# The engine's ResetState carries the finger opening of each state (a stable grasp closes on the
# object, not at 0); kept under this name for the sampler's callers.
DatasetResetState = ResetState


def _check_shapes(path, arrays: Mapping[str, np.ndarray]) -> int:
    if "reset_type" not in arrays or arrays["reset_type"].ndim != 1:
        raise ArtifactError(f"{path}: array 'reset_type' [N] missing")
    n = arrays["reset_type"].shape[0]
    for name, tail in STATE_ARRAYS.items():
        a = arrays.get(name)
        if a is None or a.shape != (n, *tail):
            got = None if a is None else a.shape
            raise ArtifactError(f"{path}: array {name!r} has shape {got}, expected {(n, *tail)}")
    return n


def _dataset_version(path):
    """format_version of a reset dataset file, or None if it is not a readable one."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["__meta__"]))
        return meta.get("format_version") if meta.get("format") == DATASET_FORMAT else None
    except Exception:  # noqa: BLE001 -- any unreadable file: let read_artifact's reason stand
        return None


def load_reset_dataset(path, task: str | None = None, robot: str | None = None, variant: str | None = None,
                       scene: SceneConfig | None = None) -> ResetDataset:
    """Load and check a dataset; refuses (ArtifactError, with the reason) another task, robot,
    variant, format version, a corrupted file, or a gripper config other than `scene`'s."""
    try:
        arrays, meta = read_artifact(path, DATASET_FORMAT, DATASET_FORMAT_VERSION,
                                     {"task": task, "robot": robot, "variant": variant})
    except ArtifactError:
        old = _dataset_version(path)
        if isinstance(old, int) and old < DATASET_FORMAT_VERSION:
            raise ArtifactError(f"{path}: reset dataset format version {old} stores the proposed (pre-settle) "
                                f"states; this code reads version {DATASET_FORMAT_VERSION} (the settled states) -- "
                                f"regenerate it with `resets`") from None
        raise
    n = _check_shapes(path, arrays)
    names = meta.get("reset_type_names")
    if not isinstance(names, list) or not names:
        raise ArtifactError(f"{path}: metadata lacks reset_type_names")
    types = arrays["reset_type"]
    if n and (types.min() < 0 or types.max() >= len(names)):
        raise ArtifactError(f"{path}: reset_type values outside 0..{len(names) - 1}")
    counts = {name: int((types == i).sum()) for i, name in enumerate(names)}
    if counts != {k: int(v) for k, v in meta.get("counts", {}).items()}:
        raise ArtifactError(f"{path}: counts in the metadata {meta.get('counts')} do not match the arrays {counts}")
    if scene is not None:
        want = asdict(scene.gripper)
        if meta.get("gripper") != want:
            raise ArtifactError(f"{path}: made with gripper {meta.get('gripper')}, but the env uses {want}")
        if meta.get("robot") != scene.arm.robot:
            raise ArtifactError(f"{path}: made for robot {meta.get('robot')!r}, the env uses {scene.arm.robot!r}")
    return ResetDataset(arrays, meta)


class DatasetResetSampler:
    """envs.reset.ResetSampler over a reset dataset: per env, a reset type drawn by `weights`
    (uniform over the four types by default), then a state of that type uniformly -- O(1) per
    sample, all from tensors built once at load.

    `to(device, dtype)` gives the same sampler with every tensor on `device` (the env moves its
    sampler to the engine's device and precision): sampling is then a multinomial, a uniform draw
    and gathers on that device, from a generator on that device, with no host synchronisation
    (no value is read back; test_reset_sampler_device runs it on torch's data-less meta device).
    For a generator seeded alike it draws the rows the CPU sampler draws on the CPU."""

    reset_type_names = RESET_TYPES
    # The state tensors (float ones take `to`'s dtype) and the sampling tables.
    _STATE_FIELDS = ("joint_pos", "gripper_closed", "gripper_opening", "target_pos", "target_quat", "receptive_pos",
                     "receptive_quat", "types")
    _TABLE_FIELDS = ("weights", "counts", "offsets")

    def __init__(self, dataset: ResetDataset | str, weights: Mapping[str, float] | None = None,
                 task: str | None = None, robot: str | None = None, variant: str | None = None,
                 scene: SceneConfig | None = None):
        if not isinstance(dataset, ResetDataset):
            dataset = load_reset_dataset(dataset, task, robot, variant, scene)
        self.dataset = dataset
        file_names = dataset.reset_type_names
        unknown = sorted(set(file_names) - set(RESET_TYPES))
        if unknown:
            raise ArtifactError(f"dataset has unknown reset types {unknown}; valid: {RESET_TYPES}")
        explicit = weights is not None
        weights = dict(weights) if explicit else {name: 1.0 for name in RESET_TYPES}
        bad = sorted(set(weights) - set(RESET_TYPES))
        if bad:
            raise ValueError(f"unknown reset type(s) {bad} in weights; valid: {RESET_TYPES}")
        w = torch.tensor([float(weights.get(name, 0.0)) for name in RESET_TYPES], dtype=torch.float64)
        if not torch.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"reset type weights must be finite and >= 0, got {weights}")
        a = dataset.arrays
        # Re-index the file's types onto RESET_TYPES and sort rows by type: type t owns rows
        # offsets[t] .. offsets[t] + counts[t].
        remap = np.array([RESET_TYPES.index(name) for name in file_names], dtype=np.int64)
        types = remap[a["reset_type"].astype(np.int64)]
        order = np.argsort(types, kind="stable")
        counts = np.bincount(types, minlength=len(RESET_TYPES))
        empty = [name for name, c, wt in zip(RESET_TYPES, counts, w.tolist()) if c == 0 and wt > 0]
        if empty and explicit:
            raise ValueError(f"weights ask for reset types with no states in the dataset: {empty}")
        w = torch.where(torch.from_numpy(counts) > 0, w, torch.zeros_like(w))
        if float(w.sum()) <= 0:
            raise ValueError(f"no reset type with states and positive weight (counts "
                             f"{dict(zip(RESET_TYPES, counts.tolist()))}, weights {weights})")
        self.weights = w / w.sum()
        self.counts = torch.from_numpy(counts)
        self.offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]]))
        f64 = torch.float64
        self.joint_pos = torch.from_numpy(a["joint_pos"][order]).to(f64)
        self.gripper_closed = torch.from_numpy(a["gripper_closed"][order])
        self.gripper_opening = torch.from_numpy(a["gripper_opening"][order]).to(f64)
        self.target_pos = torch.from_numpy(a["target_pos"][order]).to(f64)
        self.target_quat = _unit(torch.from_numpy(a["target_quat"][order]).to(f64))
        self.receptive_pos = torch.from_numpy(a["receptive_pos"][order]).to(f64)
        self.receptive_quat = _unit(torch.from_numpy(a["receptive_quat"][order]).to(f64))
        self.types = torch.from_numpy(types[order])
        self.device = torch.device("cpu")
        self.dtype = f64

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> "DatasetResetSampler":
        """This sampler with its tensors on `device` (float states in `dtype`, default float64); the
        sampler itself when nothing changes. The dataset's numpy arrays stay where they are."""
        device, dtype = torch.device(device), dtype or self.dtype
        if device == self.device and dtype == self.dtype:
            return self
        moved = copy.copy(self)
        for name in self._STATE_FIELDS:
            t = getattr(self, name)
            setattr(moved, name, t.to(device, dtype) if t.is_floating_point() else t.to(device))
        for name in self._TABLE_FIELDS:  # the sampling math stays in float64 / int64
            setattr(moved, name, getattr(self, name).to(device))
        moved.device, moved.dtype = device, dtype
        return moved

    def sample(self, env_ids: torch.Tensor, generator: torch.Generator | None = None) -> DatasetResetState:
        """States for `env_ids` (only their count matters), drawn on the sampler's device from
        `generator` (which must live there too)."""
        m = int(env_ids.numel())  # a shape, not a value: no synchronisation
        t = torch.multinomial(self.weights, m, replacement=True, generator=generator)
        u = torch.rand(m, dtype=torch.float64, device=self.device, generator=generator)
        row = self.offsets[t] + torch.clamp((u * self.counts[t]).long(), max=self.counts[t] - 1)
        return self.states(row)

    def states(self, rows: torch.Tensor) -> DatasetResetState:
        rows = rows.to(self.device)
        return DatasetResetState(
            joint_pos=self.joint_pos[rows].clone(), gripper_closed=self.gripper_closed[rows].clone(),
            target_pos=self.target_pos[rows].clone(), target_quat=self.target_quat[rows].clone(),
            receptive_pos=self.receptive_pos[rows].clone(), receptive_quat=self.receptive_quat[rows].clone(),
            reset_type=self.types[rows].clone(), gripper_opening=self.gripper_opening[rows].clone())


def _unit(q: torch.Tensor) -> torch.Tensor:
    return q / q.norm(dim=1, keepdim=True)


@dataclass(frozen=True)
class DatasetRequest:
    task: str
    variant: str
    per_type: Mapping[str, int]  # states wanted per reset type
    seed: int = 0
    chunk_size: int = 250
    gen: ResetGenConfig = field(default_factory=ResetGenConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)

    def __post_init__(self) -> None:
        bad = sorted(set(self.per_type) - set(RESET_TYPES))
        if bad:
            raise ValueError(f"unknown reset type(s) {bad}; valid: {RESET_TYPES}")
        if any(int(v) < 0 for v in self.per_type.values()) or self.chunk_size <= 0:
            raise ValueError("per-type counts must be >= 0 and chunk_size > 0")


def generate_dataset(req: DatasetRequest, grasps: GraspSet | None, assemblies: PartialAssemblies | None, out,
                     progress=None, keep_parts: bool = False, stop_after_chunks: int | None = None) -> ResetDataset:
    """Generate (or resume) a dataset into `out`. Chunks of `chunk_size` states per type are saved
    atomically in `<out>.parts/`; the final file is written atomically at the end.
    `stop_after_chunks` (tests, benchmarks) interrupts the run like Ctrl-C after that many new chunks."""
    task, variant = get_variant(req.task, req.variant)
    needs_grasps = any(req.per_type.get(t, 0) > 0 for t in ("near_object", "stable_grasp", "near_goal"))
    if needs_grasps and (grasps is None or len(grasps) == 0):
        raise ValueError("near_object / stable_grasp / near_goal states need a non-empty grasp set")
    if req.per_type.get("near_goal", 0) > 0 and (assemblies is None or len(assemblies) == 0):
        raise ValueError("near_goal states need partial assemblies")
    for name, art in (("grasps", grasps), ("partial assemblies", assemblies)):
        if art is not None and art.task != req.task:
            raise ArtifactError(f"{name} were made for task {art.task!r}, not {req.task!r}")
    gen = ResetStateGenerator(task, variant, grasps, assemblies, req.gen, req.scene)
    settings = {"task": req.task, "variant": req.variant, "seed": req.seed, "chunk_size": req.chunk_size,
                "per_type": {k: int(v) for k, v in req.per_type.items()}, **gen.settings(),
                "grasps": None if grasps is None else grasps.meta.get("checksum"),
                "assemblies": None if assemblies is None else assemblies.meta.get("checksum")}
    run = ChunkedRun(out, settings)
    plan = []
    for t_index, name in enumerate(RESET_TYPES):
        want = int(req.per_type.get(name, 0))
        for c in range(math.ceil(want / req.chunk_size)):
            plan.append((f"{name}_{c:05d}", name, t_index, c, min(req.chunk_size, want - c * req.chunk_size)))
    by_key = {p[0]: p for p in plan}

    def make(key):
        if stop_after_chunks is not None and len(run.generated) >= stop_after_chunks:
            raise KeyboardInterrupt(f"stopped after {stop_after_chunks} chunks (requested)")
        _, name, t_index, c, n = by_key[key]
        arrays, stats = gen.generate(name, n, np.random.default_rng([req.seed, t_index, c]), progress=progress)
        arrays["attempts"] = np.array(stats["attempts"], dtype=np.int64)
        arrays["rejects"] = np.array([stats["rejects"][r] for r in STATE_REJECT_REASONS], dtype=np.int64)
        return arrays

    def on_chunk(key, arrays, resumed):
        if resumed and progress is not None:
            progress(len(arrays["joint_pos"]))

    chunks = run.run([p[0] for p in plan], make, on_chunk)
    merged = {k: [] for k in STATE_ARRAYS}
    merged["reset_type"] = []
    counts, attempts, rejections = {}, {}, {}
    for key, name, t_index, _, _ in plan:
        a = chunks[key]
        for k in STATE_ARRAYS:
            merged[k].append(a[k])
        merged["reset_type"].append(np.full(len(a["joint_pos"]), t_index, dtype=np.int8))
        counts[name] = counts.get(name, 0) + int(len(a["joint_pos"]))
        attempts[name] = attempts.get(name, 0) + int(a["attempts"])
        rej = rejections.setdefault(name, {r: 0 for r in STATE_REJECT_REASONS})
        for r, v in zip(STATE_REJECT_REASONS, a["rejects"].tolist()):
            rej[r] += int(v)
    arrays = {}
    for k, parts in merged.items():
        if parts:
            arrays[k] = np.concatenate(parts)
        else:
            tail = STATE_ARRAYS.get(k, ())
            dtype = np.int8 if k == "reset_type" else bool if k == "gripper_closed" else np.float32
            arrays[k] = np.zeros((0, *tail), dtype=dtype)
    counts = {name: counts.get(name, 0) for name in RESET_TYPES}
    short = {name: (counts[name], int(req.per_type.get(name, 0))) for name in RESET_TYPES
             if counts[name] < int(req.per_type.get(name, 0))}
    meta = base_meta(DATASET_FORMAT, DATASET_FORMAT_VERSION, task=req.task, variant=req.variant,
                     robot=req.scene.arm.robot, reset_type_names=list(RESET_TYPES), counts=counts,
                     requested={k: int(v) for k, v in req.per_type.items()}, attempts=attempts,
                     rejections=rejections, seed=req.seed, gripper=settings["gripper"],
                     calibration=settings["calibration"], generation=settings["config"],
                     grasps_checksum=settings["grasps"], assemblies_checksum=settings["assemblies"],
                     short_of_request={k: list(v) for k, v in short.items()})
    write_artifact(out, arrays, meta)
    if not keep_parts:
        run.cleanup()
    return ResetDataset(arrays, meta)
