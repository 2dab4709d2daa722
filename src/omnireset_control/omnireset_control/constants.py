"""The one definition of the constants shared by simulation and the real robot.

Values follow the OmniReset paper (appendix A.3.5, A.3.6, A.3.9) and the official configs.
The C++ core (include/omnireset_control/constants.hpp) repeats the numeric defaults it needs;
test/test_constants.py keeps the two in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ARM_JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
)

# Per-axis scale of the 6-D relative action (x, y, z in m; rx, ry, rz in rad per unit), A.3.6.
TRAIN_ACTION_SCALE: tuple[float, ...] = (0.02, 0.02, 0.02, 0.02, 0.02, 0.2)
DEPLOY_ACTION_SCALE: tuple[float, ...] = (0.01, 0.01, 0.002, 0.02, 0.02, 0.2)


@dataclass(frozen=True)
class OscGains:
    """Diagonal task-space stiffness Kp and damping ratio zeta; Kd = 2 * zeta * sqrt(Kp) per axis."""

    kp: tuple[float, ...]
    zeta: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.kp) != 6 or len(self.zeta) != 6:
            raise ValueError(f"OscGains needs 6 kp and 6 zeta values, got {len(self.kp)} and {len(self.zeta)}")
        for name, values in (("kp", self.kp), ("zeta", self.zeta)):
            for v in values:
                if not math.isfinite(v) or v < 0.0:
                    raise ValueError(f"OscGains.{name} must be finite and >= 0, got {values}")

    @property
    def kd(self) -> tuple[float, ...]:
        return tuple(2.0 * z * math.sqrt(k) for k, z in zip(self.kp, self.zeta))


# Gain sets of the official configs: training (RL) and deployment / system identification.
TRAIN_GAINS = OscGains(kp=(200.0, 200.0, 200.0, 3.0, 3.0, 3.0), zeta=(3.0, 3.0, 3.0, 1.0, 1.0, 1.0))
DEPLOY_GAINS = OscGains(kp=(1000.0, 1000.0, 1000.0, 50.0, 50.0, 50.0), zeta=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0))

# Pose-error clip (by norm) that bounds the task-space force, A.3.5.
POSE_ERROR_CLIP_POS = 0.05  # m
POSE_ERROR_CLIP_ROT = 0.3  # rad

# Joint torque clip applied on hardware only (training runs unclipped, A.3.5), N*m.
HARDWARE_TORQUE_LIMIT: tuple[float, ...] = (150.0, 150.0, 150.0, 28.0, 28.0, 28.0)

POLICY_RATE_HZ = 10
PHYSICS_DT = 1.0 / 120.0
DECIMATION = 12  # physics steps per policy step: 120 Hz / 10 Hz
CONTROLLER_RATE_HZ = 500  # ros2_control loop on hardware
HISTORY_LENGTH = 5  # observation frames stacked by the policy
WRIST_JOINT_LIMIT = math.pi  # simulated wrists are limited to +-180 deg (A.3.1)

# Flange (ROS `tool0`, z out of the flange) -> Robotiq 2F-85 fingertip centre (fingers closed):
# a pure translation of this many metres along the flange z axis, Robotiq's TCP figure for the 2F-85 on its
# standard UR coupling. Measure it on the real gripper and override it (tcp_offset) if it differs.
# Note: the official OmniReset code tracks `wrist_3_link` itself (offset 0); pass
# JointOrigin((0, 0, 0), (0, 0, 0)) as tcp_offset to reproduce that.
ROBOTIQ_2F85_TCP_OFFSET = 0.174  # m along flange z
