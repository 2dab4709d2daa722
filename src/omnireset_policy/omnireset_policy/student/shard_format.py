"""The expert-demonstration shard format (HDF5), shared by the writer (omnireset_sim.collect) and
the reader (omnireset_policy.student.dataset).

One shard is one HDF5 file ``shard_XXXXX.h5`` holding whole episodes::

    /                      attrs: format, format_version, cameras (JSON list, render order),
                                  image_size (JSON [height, width]), proprio_terms (JSON list),
                                  task, variant, expert (path), expert_std_source,
                                  visual_randomization (JSON), provenance (JSON)
    /episodes/<NNNNNN>/    attrs: length T, success (bool), reset_type (int), reset_type_name
        images/<camera>    uint8 [T, H, W, 3] RGB, chunked one frame per chunk (lzf)
        joint_pos          float32 [T, 6]   arm joint positions (rad)
        ee_pose            float32 [T, 9]   TCP pose in base_link (position + 2 rotation columns)
        last_action        float32 [T, 7]   the action applied before this step (policy units)
        action_mean        float32 [T, 7]   expert mean action at this step
        action_std         float32 [T, 7]   expert action std at this step
        target_pose        float32 [T, 9]   target object pose in base_link (aux target)
        receptive_pose     float32 [T, 9]   receptive object pose in base_link (aux target)
        contact            bool    [T]      a gripper geom touches the target object (aux)

Step t pairs the observation at t (images, proprioception) with the expert's action at t.
Files are written to a temporary sibling and renamed, so a shard either exists whole or not. Every
dataset carries a Fletcher-32 checksum per chunk (HDF5's filter), so a corrupted byte is refused
when read instead of becoming a wrong pixel or action (shards written before it are read unchecked).
"""

from __future__ import annotations

FORMAT_NAME = "omnireset.expert_shards"
FORMAT_VERSION = 1
SHARD_GLOB = "shard_*.h5"
EPISODES_GROUP = "episodes"
IMAGES_GROUP = "images"

# name -> per-step shape (all float32 but "contact")
STEP_ARRAYS: dict[str, tuple[int, ...]] = {
    "joint_pos": (6,),
    "ee_pose": (9,),
    "last_action": (7,),
    "action_mean": (7,),
    "action_std": (7,),
    "target_pose": (9,),
    "receptive_pose": (9,),
    "contact": (),
}
# The student's proprioception, in observation-layout order (see observation_layout.POLICY_TERMS).
PROPRIO_ARRAYS = ("joint_pos", "ee_pose", "last_action")
# Auxiliary pose-reconstruction targets, concatenated in this order.
AUX_POSE_ARRAYS = ("target_pose", "receptive_pose")
AUX_POSE_DIM = 18


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.h5"


def episode_name(index: int) -> str:
    return f"{index:06d}"
