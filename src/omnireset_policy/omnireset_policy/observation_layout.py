"""The one definition of the actor ("policy") observation layout.

The simulator (batched, N environments) and the policy node (batch of one, from ROS topics) both
build observations with these functions, and the exported policy's metadata records
``layout_metadata()`` so a node refuses a policy trained on another layout.

One frame holds, in this order (all poses in the arm's ``base_link`` frame unless stated):

==========================  ===  ==========================================================
term                        dim  meaning
==========================  ===  ==========================================================
joint_pos                     6  arm joint positions, rad, in ``ARM_JOINT_NAMES`` order
ee_pose                       9  TCP position (m) + first two columns of its rotation matrix
target_object_in_ee           9  target (insertive) object pose in the TCP frame
receptive_object_in_ee        9  receptive object pose in the TCP frame
target_in_receptive           9  target object pose in the receptive object's frame
last_action                   7  previous raw action (6-D delta + gripper), policy units
==========================  ===  ==========================================================

Orientations use the continuous 6-D encoding (two rotation-matrix columns) rather than
quaternions, whose sign flip would be a discontinuity the policy has to learn around.
The history stacks ``HISTORY_LENGTH`` frames, oldest first.
"""

from __future__ import annotations

import torch

LAYOUT_VERSION = 1
HISTORY_LENGTH = 5
ACTION_DIM = 7

# The action's gripper entry (index 6) is binary: negative closes, zero or positive opens -- Isaac
# Lab's BinaryJointAction convention, which the official agents were trained with. The simulator and
# the policy node both decide through gripper_closes().
GRIPPER_CLOSE_WHEN = "negative"


def gripper_closes(gripper_action):
    """True where the gripper entry of an action commands "close" (works on floats and tensors)."""
    return gripper_action < 0.0

POLICY_TERMS: tuple[tuple[str, int], ...] = (
    ("joint_pos", 6),
    ("ee_pose", 9),
    ("target_object_in_ee", 9),
    ("receptive_object_in_ee", 9),
    ("target_in_receptive", 9),
    ("last_action", ACTION_DIM),
)
TERM_FRAMES = {
    "joint_pos": "joint space",
    "ee_pose": "base_link",
    "target_object_in_ee": "tcp",
    "receptive_object_in_ee": "tcp",
    "target_in_receptive": "receptive_object",
    "last_action": "policy units",
}
FRAME_DIM = sum(dim for _, dim in POLICY_TERMS)


def term_offset(name: str) -> int:
    """Where term ``name`` starts inside one frame."""
    offset = 0
    for term, dim in POLICY_TERMS:
        if term == name:
            return offset
        offset += dim
    raise KeyError(f"observation layout has no term {name!r}")
POLICY_OBS_DIM = FRAME_DIM * HISTORY_LENGTH


def pose_to_features(pos: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """[N,3] position and [N,3,3] rotation -> [N,9]: position, then columns 0 and 1 of R."""
    return torch.cat((pos, rot[..., :, 0], rot[..., :, 1]), dim=-1)


def relative_pose(parent_pos, parent_rot, child_pos, child_rot):
    """Pose of ``child`` expressed in ``parent``'s frame (both given in a common frame)."""
    rot_t = parent_rot.transpose(-1, -2)
    pos = (rot_t @ (child_pos - parent_pos).unsqueeze(-1)).squeeze(-1)
    return pos, rot_t @ child_rot


def policy_frame(
    joint_pos: torch.Tensor,
    ee_pos: torch.Tensor,
    ee_rot: torch.Tensor,
    target_pos: torch.Tensor,
    target_rot: torch.Tensor,
    receptive_pos: torch.Tensor,
    receptive_rot: torch.Tensor,
    last_action: torch.Tensor,
) -> torch.Tensor:
    """One observation frame [N, FRAME_DIM] in the order of ``POLICY_TERMS``."""
    t_in_ee = relative_pose(ee_pos, ee_rot, target_pos, target_rot)
    r_in_ee = relative_pose(ee_pos, ee_rot, receptive_pos, receptive_rot)
    t_in_r = relative_pose(receptive_pos, receptive_rot, target_pos, target_rot)
    frame = torch.cat(
        (
            joint_pos,
            pose_to_features(ee_pos, ee_rot),
            pose_to_features(*t_in_ee),
            pose_to_features(*r_in_ee),
            pose_to_features(*t_in_r),
            last_action,
        ),
        dim=-1,
    )
    if frame.shape[-1] != FRAME_DIM:
        raise ValueError(f"observation frame has {frame.shape[-1]} values, layout needs {FRAME_DIM}")
    return frame


class ObservationHistory:
    """Fixed-length frame history per environment, stored as a ring-free shifted buffer.

    ``flat()`` returns ``[N, history_length * frame_dim]`` with the oldest frame first.
    After ``reset`` the whole history of an environment holds its first frame (the policy never
    sees zeros it was not trained on).
    """

    def __init__(self, num_envs: int, history_length: int = HISTORY_LENGTH, frame_dim: int = FRAME_DIM,
                 dtype=torch.float32, device="cpu"):
        if history_length < 1:
            raise ValueError("history_length must be >= 1")
        self.history_length = history_length
        self.frame_dim = frame_dim
        self.buffer = torch.zeros(num_envs, history_length, frame_dim, dtype=dtype, device=device)
        self.fill = torch.zeros(num_envs, dtype=torch.long, device=device)

    def reset(self, env_ids, frame: torch.Tensor) -> None:
        self._check(frame)
        self.buffer[env_ids] = frame.to(self.buffer.dtype).unsqueeze(1).expand(-1, self.history_length, -1)
        self.fill[env_ids] = 1

    def push(self, frame: torch.Tensor) -> None:
        self._check(frame)
        self.buffer = torch.roll(self.buffer, shifts=-1, dims=1)
        self.buffer[:, -1] = frame.to(self.buffer.dtype)
        self.fill = torch.clamp(self.fill + 1, max=self.history_length)

    def flat(self) -> torch.Tensor:
        return self.buffer.reshape(self.buffer.shape[0], -1)

    def _check(self, frame: torch.Tensor) -> None:
        if frame.shape[-1] != self.frame_dim:
            raise ValueError(f"frame has {frame.shape[-1]} values, history expects {self.frame_dim}")


def layout_metadata() -> dict:
    """What an exported policy records about its observation, compared by the policy node."""
    return {
        "version": LAYOUT_VERSION,
        "history_length": HISTORY_LENGTH,
        "order": "oldest_first",
        "frame_dim": FRAME_DIM,
        "terms": [{"name": n, "dim": d, "frame": TERM_FRAMES[n]} for n, d in POLICY_TERMS],
        "rotation_encoding": "matrix_columns_0_1",
    }


def check_layout(metadata: dict) -> None:
    """Raise ValueError naming the first difference between ``metadata`` and this layout."""
    ours = layout_metadata()
    for key in ("version", "history_length", "order", "frame_dim", "rotation_encoding"):
        if metadata.get(key) != ours[key]:
            raise ValueError(f"observation layout mismatch: {key} is {metadata.get(key)!r}, node expects {ours[key]!r}")
    theirs = [(t.get("name"), t.get("dim")) for t in metadata.get("terms", [])]
    mine = [(t["name"], t["dim"]) for t in ours["terms"]]
    if theirs != mine:
        raise ValueError(f"observation layout mismatch: terms {theirs} != {mine}")
