"""Plain-Python policy stepping: observation frames, the 5-frame history, inference, NaN guard.

``StatePolicyRunner`` drives a kind "state" export from joint positions and the two object poses;
``RgbPolicyRunner`` drives a kind "rgb" export from joint positions and one image per camera. The
policy node is a thin adapter over these; tests and benchmarks call them directly.

Image policies: each camera frame is encoded once. The runner keeps, per camera, the features of
the last ``frame_stack`` ticks; at a tick only frames that differ from the previous tick's frame
(by the caller-given key, e.g. the header stamp) go through the encoder, in one batch. With
``use_feature_cache=False`` it keeps the images and re-encodes the whole stack every tick — the
baseline the benchmark compares against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

import numpy as np
import torch

from omnireset_control.rotations import quat_to_matrix
from omnireset_policy import observation_layout as layout
from omnireset_policy.exported_policy import ExportedPolicy, proprio_dim


@dataclass
class StepResult:
    """One policy step. ``action`` is None when nothing must be commanded (see ``error``)."""

    action: np.ndarray | None
    inference_time: float  # s, wall clock of the forward pass (encoder + head for rgb)
    history_fill: int
    error: str = ""
    encoded_frames: int = 0  # images that went through the encoder this step (rgb)


def set_torch_threads(num_threads: int) -> None:
    """Intra-op threads for inference (process-wide); 1 keeps a 10 Hz loop predictable on small CPUs."""
    if num_threads < 1:
        raise ValueError(f"torch threads must be >= 1, got {num_threads}")
    torch.set_num_threads(int(num_threads))


def _finite_vector(values, n: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(values, dtype=np.float64).reshape(-1))
    if t.numel() != n:
        raise ValueError(f"{what} needs {n} values, got {t.numel()}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} has NaN/Inf: {t.tolist()}")
    return t.unsqueeze(0)


def pose_to_matrix(position, quaternion_wxyz, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(position[3], quaternion (w,x,y,z)) -> ([1,3], [1,3,3]) float64; rejects NaN and zero quaternions."""
    pos = _finite_vector(position, 3, f"{what} position")
    quat = _finite_vector(quaternion_wxyz, 4, f"{what} orientation")
    if float(torch.linalg.vector_norm(quat)) < 1e-6:
        raise ValueError(f"{what} orientation is a zero quaternion")
    return pos, quat_to_matrix(quat)


class _RunnerBase:
    def __init__(self, policy: ExportedPolicy, kinematics, torch_threads: int = 1):
        set_torch_threads(torch_threads)
        self.policy = policy
        self.kinematics = kinematics
        self.history_length = layout.HISTORY_LENGTH
        self.last_action = torch.zeros(1, layout.ACTION_DIM, dtype=torch.float64)

    def _tcp(self, joint_pos) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q = _finite_vector(joint_pos, 6, "joint positions")
        pos, rot = self.kinematics.forward(q)
        return q, pos.to(torch.float64), rot.to(torch.float64)

    def _finish(self, out: torch.Tensor, inference_time: float, fill: int, encoded: int = 0) -> StepResult:
        action = out.detach().to(torch.float64).reshape(-1)
        if action.numel() != layout.ACTION_DIM:
            return StepResult(None, inference_time, fill, f"policy returned {action.numel()} values, expected "
                              f"{layout.ACTION_DIM}", encoded)
        if not torch.isfinite(action).all():
            # The previous action stays the observation's last_action: a NaN must not poison the next step.
            return StepResult(None, inference_time, fill, f"policy output has NaN/Inf: {action.tolist()}", encoded)
        self.last_action = action.unsqueeze(0)
        return StepResult(action.numpy().copy(), inference_time, fill, "", encoded)


class StatePolicyRunner(_RunnerBase):
    """Kind "state": frame = observation_layout.policy_frame(...) from FK and the object poses."""

    def __init__(self, policy: ExportedPolicy, kinematics, torch_threads: int = 1):
        if policy.kind != "state":
            raise ValueError(f"StatePolicyRunner needs a kind 'state' policy, got {policy.kind!r}")
        super().__init__(policy, kinematics, torch_threads)
        self.module = policy.modules["policy"]
        self.history = layout.ObservationHistory(1, self.history_length, layout.FRAME_DIM, dtype=torch.float32)
        self._fresh = True

    def reset(self) -> None:
        """Start a new history (after a pause or an input gap) and forget the last action."""
        self._fresh = True
        self.last_action = torch.zeros(1, layout.ACTION_DIM, dtype=torch.float64)

    @property
    def history_fill(self) -> int:
        return 0 if self._fresh else int(self.history.fill[0])

    def build_frame(self, joint_pos, target_pose, receptive_pose) -> torch.Tensor:
        """``target_pose`` / ``receptive_pose``: (position[3], quaternion wxyz[4]) in base_link."""
        q, ee_pos, ee_rot = self._tcp(joint_pos)
        t_pos, t_rot = pose_to_matrix(*target_pose, what="target object pose")
        r_pos, r_rot = pose_to_matrix(*receptive_pose, what="receptive object pose")
        return layout.policy_frame(q, ee_pos, ee_rot, t_pos, t_rot, r_pos, r_rot, self.last_action)

    def step(self, joint_pos, target_pose, receptive_pose) -> StepResult:
        try:
            frame = self.build_frame(joint_pos, target_pose, receptive_pose).to(torch.float32)
        except ValueError as exc:
            return StepResult(None, 0.0, self.history_fill, f"bad input: {exc}")
        if self._fresh:
            self.history.reset([0], frame)
            self._fresh = False
        else:
            self.history.push(frame)
        obs = self.history.flat()
        start = time.perf_counter()
        with torch.inference_mode():
            out = self.module(obs)
        return self._finish(out, time.perf_counter() - start, self.history_fill)


def proprio_frame(terms: Sequence[str], joint_pos: torch.Tensor, ee_pos, ee_rot, last_action) -> torch.Tensor:
    """The RGB student's proprioceptive frame: the chosen layout terms, in layout order."""
    values = {"joint_pos": joint_pos, "ee_pose": layout.pose_to_features(ee_pos, ee_rot), "last_action": last_action}
    chosen = [name for name, _ in layout.POLICY_TERMS if name in terms]
    return torch.cat([values[name] for name in chosen], dim=-1)


def image_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """[H, W, 3] uint8 RGB (any strides, read-only views fine) -> [3, H, W] float32 in [0, 1]."""
    return torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1).mul_(1.0 / 255.0)


class RgbPolicyRunner(_RunnerBase):
    """Kind "rgb": encoder per camera frame (cached) + head over the feature and proprio stacks."""

    def __init__(self, policy: ExportedPolicy, kinematics, torch_threads: int = 1, use_feature_cache: bool = True):
        if policy.kind != "rgb":
            raise ValueError(f"RgbPolicyRunner needs a kind 'rgb' policy, got {policy.kind!r}")
        super().__init__(policy, kinematics, torch_threads)
        cams = policy.cameras
        self.camera_names = tuple(cams["names"])
        self.image_size = tuple(cams["image_size"])
        self.frame_stack = int(cams["frame_stack"])
        self.feature_dim = int(cams["feature_dim"])
        self.proprio_terms = policy.proprio_terms
        self.encoder = policy.modules["encoder"]
        self.head = policy.modules["head"]
        self.use_feature_cache = use_feature_cache
        self.proprio_history = layout.ObservationHistory(1, self.frame_stack, proprio_dim(self.proprio_terms))
        num_cams = len(self.camera_names)
        self.features = torch.zeros(num_cams, self.frame_stack, self.feature_dim)
        self.images = torch.zeros(num_cams, self.frame_stack, 3, *self.image_size)  # baseline only
        self.total_encoded_frames = 0
        self._last_keys: dict[str, Hashable] = {}
        self._fresh = True

    def reset(self) -> None:
        self._fresh = True
        self._last_keys.clear()
        self.last_action = torch.zeros(1, layout.ACTION_DIM, dtype=torch.float64)

    @property
    def history_fill(self) -> int:
        return 0 if self._fresh else int(self.proprio_history.fill[0])

    def step(self, joint_pos, images: Mapping[str, tuple[Hashable, np.ndarray]]) -> StepResult:
        """``images``: camera name -> (frame key, [H, W, 3] uint8 RGB). Same key = same frame."""
        missing = [c for c in self.camera_names if c not in images]
        if missing:
            return StepResult(None, 0.0, self.history_fill, f"no image from camera(s) {missing}")
        try:
            q, ee_pos, ee_rot = self._tcp(joint_pos)
        except ValueError as exc:
            return StepResult(None, 0.0, self.history_fill, f"bad input: {exc}")
        for name in self.camera_names:
            shape = tuple(images[name][1].shape)
            if shape != (*self.image_size, 3):
                return StepResult(None, 0.0, self.history_fill,
                                  f"camera {name}: image {shape} does not match the policy's {(*self.image_size, 3)}")
        proprio = proprio_frame(self.proprio_terms, q, ee_pos, ee_rot, self.last_action).to(torch.float32)
        fresh = self._fresh
        start = time.perf_counter()
        with torch.inference_mode():
            if self.use_feature_cache:
                encoded = self._update_cached_features(images, fresh)
                features = self.features
            else:
                encoded = self._update_images_and_encode_all(images, fresh)
                features = self._all_features
            if fresh:
                self.proprio_history.reset([0], proprio)
            else:
                self.proprio_history.push(proprio)
            self._fresh = False
            out = self.head(features.reshape(1, -1), self.proprio_history.flat())
        self.total_encoded_frames += encoded
        return self._finish(out, time.perf_counter() - start, self.history_fill, encoded)

    def _update_cached_features(self, images, fresh: bool) -> int:
        changed = [i for i, name in enumerate(self.camera_names)
                   if fresh or self._last_keys.get(name) != images[name][0]]
        new = {}
        if changed:
            batch = torch.stack([image_to_tensor(images[self.camera_names[i]][1]) for i in changed])
            for i, feat in zip(changed, self.encoder(batch)):
                new[i] = feat
        for i, name in enumerate(self.camera_names):
            # an unchanged frame repeats the previous tick's features (the same frame seen again)
            latest = new[i] if i in new else self.features[i, -1].clone()
            if fresh:
                self.features[i] = latest.unsqueeze(0).expand(self.frame_stack, -1)
            else:
                self.features[i] = torch.roll(self.features[i], shifts=-1, dims=0)
                self.features[i, -1] = latest
            self._last_keys[name] = images[name][0]
        return len(changed)

    def _update_images_and_encode_all(self, images, fresh: bool) -> int:
        for i, name in enumerate(self.camera_names):
            img = image_to_tensor(images[name][1])
            if fresh:
                self.images[i] = img.unsqueeze(0).expand(self.frame_stack, -1, -1, -1)
            else:
                self.images[i] = torch.roll(self.images[i], shifts=-1, dims=0)
                self.images[i, -1] = img
        flat = self.images.reshape(-1, 3, *self.image_size)
        self._all_features = self.encoder(flat).reshape(len(self.camera_names), self.frame_stack, -1)
        return flat.shape[0]


def make_runner(policy: ExportedPolicy, kinematics, torch_threads: int = 1, use_feature_cache: bool = True):
    if policy.kind == "state":
        return StatePolicyRunner(policy, kinematics, torch_threads)
    return RgbPolicyRunner(policy, kinematics, torch_threads, use_feature_cache)

