"""constants.py is the one definition; the C++ defaults header must repeat it exactly, and the
nominal kinematics data must be installed next to the module."""

import math
import re
from pathlib import Path

import pytest

from omnireset_control import constants as c

HEADER = Path(__file__).resolve().parents[1] / "include" / "omnireset_control" / "constants.hpp"


def _cpp_value(name):
    text = HEADER.read_text()
    m = re.search(rf"\b{name}\b(?:\{{([^}}]*)\}}| = ([^;]+);)", text)
    assert m, f"{name} not in {HEADER.name}"
    raw = m.group(1) if m.group(1) is not None else m.group(2)
    values = [float(v) for v in raw.split(",")]
    return values if m.group(1) is not None else values[0]


@pytest.mark.parametrize(
    "cpp, py",
    [
        ("kDeployKp", c.DEPLOY_GAINS.kp),
        ("kDeployZeta", c.DEPLOY_GAINS.zeta),
        ("kTrainKp", c.TRAIN_GAINS.kp),
        ("kTrainZeta", c.TRAIN_GAINS.zeta),
        ("kDeployActionScale", c.DEPLOY_ACTION_SCALE),
        ("kTrainActionScale", c.TRAIN_ACTION_SCALE),
        ("kHardwareTorqueLimit", c.HARDWARE_TORQUE_LIMIT),
        ("kPoseErrorClipPos", c.POSE_ERROR_CLIP_POS),
        ("kPoseErrorClipRot", c.POSE_ERROR_CLIP_ROT),
        ("kControllerRateHz", c.CONTROLLER_RATE_HZ),
        ("kPolicyRateHz", c.POLICY_RATE_HZ),
        ("kRobotiq2F85TcpOffset", c.ROBOTIQ_2F85_TCP_OFFSET),
    ],
)
def test_cpp_defaults_match_python(cpp, py):
    value = _cpp_value(cpp)
    assert value == (list(py) if isinstance(py, tuple) else py)


def test_rates_are_consistent():
    assert c.DECIMATION * c.PHYSICS_DT == pytest.approx(1.0 / c.POLICY_RATE_HZ)
    assert c.WRIST_JOINT_LIMIT == math.pi
    assert len(c.ARM_JOINT_NAMES) == 6
