import math

import pytest
import torch

from omnireset_policy import observation_layout as L


def rot_z(angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def test_dimensions_follow_terms():
    assert L.FRAME_DIM == 49
    assert L.POLICY_OBS_DIM == 245
    assert [n for n, _ in L.POLICY_TERMS][0] == "joint_pos"


def test_relative_pose_inverts_composition():
    parent_pos = torch.tensor([[0.4, -0.1, 0.3]], dtype=torch.float64)
    parent_rot = rot_z(0.7).unsqueeze(0)
    local_pos = torch.tensor([[0.05, 0.02, -0.01]], dtype=torch.float64)
    local_rot = rot_z(-0.2).unsqueeze(0)
    child_pos = parent_pos + (parent_rot @ local_pos.unsqueeze(-1)).squeeze(-1)
    child_rot = parent_rot @ local_rot
    pos, rot = L.relative_pose(parent_pos, parent_rot, child_pos, child_rot)
    torch.testing.assert_close(pos, local_pos)
    torch.testing.assert_close(rot, local_rot)


def test_policy_frame_places_terms_in_order():
    n = 2
    eye = torch.eye(3, dtype=torch.float64).expand(n, 3, 3)
    joint = torch.arange(6, dtype=torch.float64).expand(n, 6)
    ee = torch.tensor([[0.5, 0.0, 0.2]] * n, dtype=torch.float64)
    target = ee + torch.tensor([0.0, 0.0, -0.1], dtype=torch.float64)
    receptive = torch.tensor([[0.3, 0.2, 0.0]] * n, dtype=torch.float64)
    action = torch.full((n, 7), 0.5, dtype=torch.float64)
    frame = L.policy_frame(joint, ee, eye, target, eye, receptive, eye, action)
    assert frame.shape == (n, 49)
    torch.testing.assert_close(frame[:, :6], joint)
    torch.testing.assert_close(frame[:, 6:9], ee)
    # target 10 cm below the TCP, expressed in the TCP frame (identity orientation)
    torch.testing.assert_close(frame[:, 15:18], torch.tensor([[0.0, 0.0, -0.1]] * n, dtype=torch.float64))
    torch.testing.assert_close(frame[:, 42:], action)


def test_history_reset_fills_then_shifts_oldest_first():
    hist = L.ObservationHistory(num_envs=2, history_length=3, frame_dim=2)
    hist.reset([0, 1], torch.tensor([[1.0, 1.0], [2.0, 2.0]]))
    hist.push(torch.tensor([[3.0, 3.0], [4.0, 4.0]]))
    assert hist.flat()[0].tolist() == [1, 1, 1, 1, 3, 3]
    assert hist.fill.tolist() == [2, 2]
    hist.reset([1], torch.tensor([[9.0, 9.0]]))
    assert hist.flat()[1].tolist() == [9] * 6
    assert hist.flat()[0].tolist() == [1, 1, 1, 1, 3, 3]
    with pytest.raises(ValueError, match="expects 2"):
        hist.push(torch.zeros(2, 5))


def test_check_layout_names_the_difference():
    meta = L.layout_metadata()
    L.check_layout(meta)
    bad = dict(meta, history_length=3)
    with pytest.raises(ValueError, match="history_length"):
        L.check_layout(bad)
    bad_terms = dict(meta, terms=meta["terms"][:-1])
    with pytest.raises(ValueError, match="terms"):
        L.check_layout(bad_terms)
