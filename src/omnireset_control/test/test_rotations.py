"""Rotation helpers: round trips, shortest path, and the edge cases near 0 and pi."""

import math

import pytest
import torch

from omnireset_control.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_conjugate,
    quat_multiply,
    quat_to_matrix,
    rpy_to_matrix,
)


def _random_axis_angle(n, max_angle, gen, dtype=torch.float64):
    axis = torch.randn(n, 3, generator=gen, dtype=dtype)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    angle = torch.rand(n, 1, generator=gen, dtype=dtype) * max_angle
    return axis * angle


def test_axis_angle_matrix_round_trip():
    gen = torch.Generator().manual_seed(0)
    v = _random_axis_angle(500, math.pi - 1e-6, gen)
    R = axis_angle_to_matrix(v)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(R @ R.transpose(-1, -2), eye.expand_as(R), atol=1e-14)
    assert torch.allclose(torch.linalg.det(R), torch.ones(500, dtype=torch.float64), atol=1e-14)
    assert torch.allclose(matrix_to_axis_angle(R), v, atol=1e-9)


def test_small_angles_are_exact_to_rounding():
    v = torch.tensor([[1e-9, -2e-9, 3e-10], [0.0, 0.0, 0.0], [1e-7, 0.0, 0.0]], dtype=torch.float64)
    R = axis_angle_to_matrix(v)
    assert torch.allclose(matrix_to_axis_angle(R), v, atol=1e-16, rtol=1e-9)
    assert torch.equal(matrix_to_axis_angle(torch.eye(3, dtype=torch.float64)[None]), torch.zeros(1, 3, dtype=torch.float64))


def test_near_pi_is_shortest_path_and_finite():
    # Rotations just past pi come back as the shorter rotation the other way round.
    axis = torch.tensor([[0.0, 0.6, 0.8]], dtype=torch.float64)
    for angle in (math.pi - 1e-9, math.pi, math.pi + 0.1, 2 * math.pi - 0.2):
        aa = matrix_to_axis_angle(axis_angle_to_matrix(axis * angle))
        assert torch.isfinite(aa).all()
        norm = aa.norm().item()
        assert norm <= math.pi + 1e-12
        expected = angle if angle <= math.pi else 2 * math.pi - angle
        assert norm == pytest.approx(expected, abs=1e-7)
        assert torch.allclose(axis_angle_to_matrix(aa), axis_angle_to_matrix(axis * angle), atol=1e-9)


def test_quaternion_helpers_agree_with_matrices():
    gen = torch.Generator().manual_seed(1)
    a = _random_axis_angle(100, 3.0, gen)
    b = _random_axis_angle(100, 3.0, gen)
    qa, qb = axis_angle_to_quat(a), axis_angle_to_quat(b)
    Ra, Rb = axis_angle_to_matrix(a), axis_angle_to_matrix(b)
    assert torch.allclose(quat_to_matrix(qa), Ra, atol=1e-14)
    assert torch.allclose(quat_to_matrix(quat_multiply(qa, qb)), Ra @ Rb, atol=1e-13)
    assert torch.allclose(quat_to_matrix(quat_conjugate(qa)), Ra.transpose(-1, -2), atol=1e-14)
    q = matrix_to_quat(Ra @ Rb)
    assert (q[:, 0] >= 0).all()
    assert torch.allclose(q.norm(dim=-1), torch.ones(100, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(quat_to_matrix(q), Ra @ Rb, atol=1e-13)


def test_rpy_is_urdf_fixed_axis_convention():
    r, p, y = 0.3, -0.2, 1.1
    R = rpy_to_matrix(torch.tensor([r, p, y], dtype=torch.float64))
    Rx = axis_angle_to_matrix(torch.tensor([[r, 0.0, 0.0]], dtype=torch.float64))[0]
    Ry = axis_angle_to_matrix(torch.tensor([[0.0, p, 0.0]], dtype=torch.float64))[0]
    Rz = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, y]], dtype=torch.float64))[0]
    assert torch.allclose(R, Rz @ Ry @ Rx, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes_are_preserved(dtype):
    v = torch.tensor([[0.1, 0.2, 0.3]], dtype=dtype)
    R = axis_angle_to_matrix(v)
    assert R.dtype == dtype and matrix_to_axis_angle(R).dtype == dtype and matrix_to_quat(R).dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    assert torch.allclose(matrix_to_axis_angle(R), v, atol=tol)
