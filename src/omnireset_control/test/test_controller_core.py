"""The Python controller core follows the same safety rules as controller_core.hpp."""

import math

import pytest
import torch

from omnireset_control.constants import DEPLOY_GAINS, HARDWARE_TORQUE_LIMIT, TRAIN_ACTION_SCALE
from omnireset_control.controller_core import CommandStatus, OscControllerConfig, OscControllerCore
from omnireset_control.kinematics import BatchedKinematics, load_kinematics

Q = [0.1, -1.6, 1.7, -1.6, -1.57, 0.2]
QD0 = [0.0] * 6
DT = 1.0 / 500.0


@pytest.fixture
def core():
    params = load_kinematics("ur7e")
    c = OscControllerCore(params, OscControllerConfig(gains=DEPLOY_GAINS, torque_limit=HARDWARE_TORQUE_LIMIT,
                                                      command_timeout=0.5), control_dt=DT)
    c.reset(Q)
    return c


def test_holds_current_pose_before_any_command(core):
    out = core.update(Q, QD0, now_s=0.0)
    assert out.holding and out.state_valid
    assert float(out.torque.abs().max()) < 1e-9  # target == current pose, at rest


def test_command_composes_target_from_current_pose(core):
    assert core.on_command([1, 0, 0, 0, 0, 0], TRAIN_ACTION_SCALE, Q, now_s=1.0) is CommandStatus.ACCEPTED
    out = core.update(Q, QD0, now_s=1.002)
    assert not out.holding
    torch.testing.assert_close(out.target_pos - out.current_pos,
                               torch.tensor([0.02, 0.0, 0.0], dtype=torch.float64))
    assert out.error[0].item() == pytest.approx(0.02)
    assert float(out.torque.abs().max()) > 1.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nonfinite_command_is_rejected_and_previous_target_held(core, bad):
    core.on_command([1, 0, 0, 0, 0, 0], TRAIN_ACTION_SCALE, Q, now_s=1.0)
    held = core.target_pos.clone()
    assert core.on_command([bad, 0, 0, 0, 0, 0], TRAIN_ACTION_SCALE, Q, now_s=1.1) is CommandStatus.REJECTED_NONFINITE
    assert core.on_command([0] * 6, [0.02] * 5 + [bad], Q, now_s=1.1) is CommandStatus.REJECTED_NONFINITE
    assert core.rejected_commands == 2
    torch.testing.assert_close(core.target_pos, held)


def test_stale_stamp_and_missing_state_are_rejected(core):
    assert core.on_command([0] * 6, TRAIN_ACTION_SCALE, Q, now_s=10.0, stamp_s=9.0) is CommandStatus.REJECTED_STALE
    assert core.on_command([0] * 6, TRAIN_ACTION_SCALE, [math.nan] * 6, now_s=10.0) is CommandStatus.REJECTED_NO_STATE
    assert core.rejected_commands == 2 and core.accepted_commands == 0


def test_timeout_holds_the_pose_of_that_moment(core):
    core.on_command([1, 0, 0, 0, 0, 0], TRAIN_ACTION_SCALE, Q, now_s=1.0)
    moved = [q + 0.01 for q in Q]
    out = core.update(moved, QD0, now_s=1.6)
    assert out.holding and core.timeouts == 1
    pos, _ = BatchedKinematics(load_kinematics("ur7e"), dtype=torch.float64).forward(torch.tensor([moved]))
    torch.testing.assert_close(out.target_pos, pos[0])
    assert core.command_age(1.6) == pytest.approx(0.6)


def test_nonfinite_state_gives_zero_torque_and_is_counted(core):
    core.on_command([1, 0, 0, 0, 0, 0], TRAIN_ACTION_SCALE, Q, now_s=1.0)
    assert float(core.update(Q, QD0, now_s=1.001).torque.abs().max()) > 0
    out = core.update([math.nan] + Q[1:], QD0, now_s=1.002)
    assert not out.state_valid and out.holding
    assert float(out.torque.abs().max()) == 0.0 and core.nonfinite_states == 1


def test_rate_limit_ramps_torque_down_on_bad_state():
    params = load_kinematics("ur7e")
    c = OscControllerCore(params, OscControllerConfig(gains=DEPLOY_GAINS, torque_rate_limit=1000.0), control_dt=DT)
    c.reset(Q)
    c.on_command([1, 0, 0, 0, 0, 0], TRAIN_ACTION_SCALE, Q, now_s=0.0)
    for i in range(200):
        tau = c.update(Q, QD0, now_s=i * DT).torque
    peak = float(tau.abs().max())
    assert peak > 4.0
    after = float(c.update([math.nan] * 6, QD0, now_s=1.0).torque.abs().max())
    assert after == pytest.approx(max(peak - 1000.0 * DT, 0.0), abs=1e-9)


def test_delta_clamp_limits_the_composed_step():
    params = load_kinematics("ur7e")
    c = OscControllerCore(params, OscControllerConfig(gains=DEPLOY_GAINS, max_position_delta=0.005), control_dt=DT)
    c.reset(Q)
    c.on_command([1, -1, 0, 0, 0, 0], TRAIN_ACTION_SCALE, Q, now_s=0.0)
    out = c.update(Q, QD0, now_s=0.001)
    torch.testing.assert_close(out.target_pos - out.current_pos, torch.tensor([0.005, -0.005, 0.0], dtype=torch.float64))
