"""OmniReset operational-space control: UR kinematics, the OSC torque law, delta->target composition.

One law, three bodies: this batched torch module (used by every simulator), the header-only C++
core (include/omnireset_control/*.hpp) and the ros2_control plugin built on it. Golden vectors in
test/golden/ pin all of them to the same numbers.
"""

from omnireset_control.constants import (  # noqa: F401
    ARM_JOINT_NAMES,
    CONTROLLER_RATE_HZ,
    DECIMATION,
    DEPLOY_ACTION_SCALE,
    DEPLOY_GAINS,
    HARDWARE_TORQUE_LIMIT,
    HISTORY_LENGTH,
    PHYSICS_DT,
    POLICY_RATE_HZ,
    POSE_ERROR_CLIP_POS,
    POSE_ERROR_CLIP_ROT,
    ROBOTIQ_2F85_TCP_OFFSET,
    TRAIN_ACTION_SCALE,
    TRAIN_GAINS,
    WRIST_JOINT_LIMIT,
    OscGains,
)

__all__ = [
    "ARM_JOINT_NAMES",
    "CONTROLLER_RATE_HZ",
    "DECIMATION",
    "DEPLOY_ACTION_SCALE",
    "DEPLOY_GAINS",
    "HARDWARE_TORQUE_LIMIT",
    "HISTORY_LENGTH",
    "PHYSICS_DT",
    "POLICY_RATE_HZ",
    "POSE_ERROR_CLIP_POS",
    "POSE_ERROR_CLIP_ROT",
    "ROBOTIQ_2F85_TCP_OFFSET",
    "TRAIN_ACTION_SCALE",
    "TRAIN_GAINS",
    "WRIST_JOINT_LIMIT",
    "OscGains",
]
