"""Delta -> target composition: base-frame position, LEFT rotation composition, held targets."""

import pytest
import torch

from omnireset_control.composition import compose_target
from omnireset_control.constants import DEPLOY_ACTION_SCALE, TRAIN_ACTION_SCALE
from omnireset_control.rotations import axis_angle_to_matrix

GEN = torch.Generator().manual_seed(0)
EE_POS = torch.randn(5, 3, generator=GEN, dtype=torch.float64)
EE_ROT = axis_angle_to_matrix(torch.randn(5, 3, generator=GEN, dtype=torch.float64))


def test_zero_action_targets_current_pose():
    tp, tr = compose_target(EE_POS, EE_ROT, torch.zeros(5, 6, dtype=torch.float64), TRAIN_ACTION_SCALE)
    assert torch.equal(tp, EE_POS)
    assert torch.allclose(tr, EE_ROT, atol=1e-15)


def test_position_is_added_in_base_frame_with_scale():
    action = torch.tensor([[1.0, -0.5, 0.25, 0, 0, 0]], dtype=torch.float64).expand(5, 6)
    tp, _ = compose_target(EE_POS, EE_ROT, action, DEPLOY_ACTION_SCALE)
    assert torch.allclose(tp - EE_POS, torch.tensor([0.01, -0.005, 0.0005], dtype=torch.float64).expand(5, 3))


def test_rotation_is_left_composed_in_base_frame():
    action = torch.tensor([[0, 0, 0, 0.0, 0.0, 1.0]], dtype=torch.float64).expand(5, 6)
    _, tr = compose_target(EE_POS, EE_ROT, action, TRAIN_ACTION_SCALE)
    rz = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.2]], dtype=torch.float64))
    assert torch.allclose(tr, rz @ EE_ROT, atol=1e-14)
    assert not torch.allclose(tr, EE_ROT @ rz, atol=1e-3)  # right composition would differ


def test_per_env_scale():
    action = torch.ones(5, 6, dtype=torch.float64)
    scale = torch.linspace(0.0, 0.04, 5, dtype=torch.float64)[:, None].expand(5, 6)
    tp, _ = compose_target(EE_POS, EE_ROT, action, scale)
    assert torch.allclose(tp - EE_POS, scale[:, :3])


def test_nonfinite_action_holds_previous_target_or_raises():
    action = torch.zeros(5, 6, dtype=torch.float64)
    action[3, 4] = float("nan")
    previous = (EE_POS + 1.0, EE_ROT.flip(0))
    tp, tr, rejected = compose_target(EE_POS, EE_ROT, action, TRAIN_ACTION_SCALE, previous, return_rejected=True)
    assert rejected.tolist() == [False, False, False, True, False]
    assert torch.equal(tp[3], previous[0][3]) and torch.equal(tr[3], previous[1][3])
    assert torch.equal(tp[0], EE_POS[0])
    with pytest.raises(ValueError, match=r"rows \[3\]"):
        compose_target(EE_POS, EE_ROT, action, TRAIN_ACTION_SCALE)
    with pytest.raises(ValueError, match="shape"):
        compose_target(EE_POS, EE_ROT, torch.zeros(5, 7, dtype=torch.float64), TRAIN_ACTION_SCALE)
