"""The OSC law: formula, clipping (active and inactive), torque clip and rate limit, NaN/Inf
rejection, bounded torque at singular poses, float32/float64."""

import math

import numpy as np
import pytest
import torch

from omnireset_control.constants import (
    DEPLOY_GAINS,
    HARDWARE_TORQUE_LIMIT,
    POSE_ERROR_CLIP_POS,
    POSE_ERROR_CLIP_ROT,
    TRAIN_GAINS,
    OscGains,
)
from omnireset_control.kinematics import BatchedKinematics, load_kinematics
from omnireset_control.osc import BatchedOsc, pose_error
from omnireset_control.rotations import axis_angle_to_matrix

KIN = BatchedKinematics(load_kinematics("ur7e"))
HOME = torch.tensor([[0.0, -1.57, 1.57, -1.57, -1.57, 0.0]], dtype=torch.float64)


def _state(q, qd=None):
    pos, rot, jac = KIN.forward_with_jacobian(q)
    qd = torch.zeros_like(q) if qd is None else qd
    return jac, qd, pos, rot


def test_gain_sets_and_kd():
    assert TRAIN_GAINS.kd == pytest.approx(tuple(2 * z * math.sqrt(k) for k, z in zip(TRAIN_GAINS.kp, TRAIN_GAINS.zeta)))
    assert TRAIN_GAINS.kd[0] == pytest.approx(2 * 3 * math.sqrt(200))
    assert DEPLOY_GAINS.kd[3] == pytest.approx(2 * math.sqrt(50))
    with pytest.raises(ValueError):
        OscGains(kp=(1.0,) * 5, zeta=(1.0,) * 6)
    with pytest.raises(ValueError):
        OscGains(kp=(1.0,) * 5 + (float("nan"),), zeta=(1.0,) * 6)


def test_torque_matches_formula_without_clipping():
    gen = torch.Generator().manual_seed(0)
    q = HOME + 0.3 * torch.randn(4, 6, generator=gen, dtype=torch.float64)
    qd = 0.5 * torch.randn(4, 6, generator=gen, dtype=torch.float64)
    jac, qd, pos, rot = _state(q, qd)
    dpos = 0.01 * torch.randn(4, 3, generator=gen, dtype=torch.float64)  # < 5 cm: clip inactive
    drot = 0.1 * torch.randn(4, 3, generator=gen, dtype=torch.float64)  # < 0.3 rad
    osc = BatchedOsc(4, DEPLOY_GAINS, dtype=torch.float64)
    tau = osc.torque(jac, qd, pos, rot, pos + dpos, axis_angle_to_matrix(drot) @ rot)
    kp, kd = np.array(DEPLOY_GAINS.kp), np.array(DEPLOY_GAINS.kd)
    for i in range(4):
        J = jac[i].numpy()
        e = np.concatenate([dpos[i].numpy(), drot[i].numpy()])
        expected = J.T @ (kp * e - kd * (J @ qd[i].numpy()))
        assert np.allclose(osc.last_error[i].numpy(), e, atol=1e-12)
        assert np.allclose(tau[i].numpy(), expected, rtol=1e-10, atol=1e-9)


def test_pose_error_clipping_active_and_inactive():
    pos = torch.zeros(3, 3, dtype=torch.float64)
    rot = torch.eye(3, dtype=torch.float64).expand(3, 3, 3)
    target_pos = torch.tensor([[0.03, 0.0, 0.0], [0.3, 0.4, 0.0], [0.0, 0.0, -0.05]], dtype=torch.float64)
    rot_err = torch.tensor([[0.0, 0.2, 0.0], [1.2, 0.0, 1.6], [0.0, 0.0, 0.3]], dtype=torch.float64)
    e = pose_error(pos, rot, target_pos, axis_angle_to_matrix(rot_err))
    assert torch.allclose(e[0], torch.tensor([0.03, 0, 0, 0, 0.2, 0], dtype=torch.float64), atol=1e-14)  # inactive
    # Active: same direction, norm = clip.
    assert torch.allclose(e[1, :3], torch.tensor([0.03, 0.04, 0.0], dtype=torch.float64), atol=1e-14)
    assert torch.allclose(e[1, 3:], torch.tensor([0.18, 0.0, 0.24], dtype=torch.float64), atol=1e-12)
    assert e[1, :3].norm().item() == pytest.approx(POSE_ERROR_CLIP_POS)
    assert e[1, 3:].norm().item() == pytest.approx(POSE_ERROR_CLIP_ROT)
    # Exactly at the clip: unchanged.
    assert torch.allclose(e[2], torch.tensor([0, 0, -0.05, 0, 0, 0.3], dtype=torch.float64), atol=1e-14)
    # Custom clips are honoured.
    e2 = pose_error(pos, rot, target_pos, axis_angle_to_matrix(rot_err), pos_clip=0.01, rot_clip=0.1)
    assert e2[1, :3].norm().item() == pytest.approx(0.01) and e2[1, 3:].norm().item() == pytest.approx(0.1)


def test_rotation_error_is_in_base_frame_and_shortest_path():
    jac, qd, pos, rot = _state(HOME)
    about_base_z = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.1]], dtype=torch.float64))
    e = pose_error(pos, rot, pos, about_base_z @ rot)
    assert torch.allclose(e[0, 3:], torch.tensor([0.0, 0.0, 0.1], dtype=torch.float64), atol=1e-13)
    # 350 deg about z is -10 deg the short way.
    e = pose_error(pos, rot, pos, axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.radians(350)]], dtype=torch.float64)) @ rot)
    assert e[0, 5].item() == pytest.approx(-math.radians(10))


def test_torque_clip_and_its_absence():
    jac, qd, pos, rot = _state(HOME.expand(2, 6), torch.tensor([[3.0] * 6, [-3.0] * 6], dtype=torch.float64))
    target_pos = pos + torch.tensor([0.2, -0.2, 0.2], dtype=torch.float64)
    strong = OscGains(kp=(5000.0,) * 3 + (800.0,) * 3, zeta=(1.0,) * 6)
    free = BatchedOsc(2, strong, dtype=torch.float64).torque(jac, qd, pos, rot, target_pos, rot)
    limit = torch.tensor(HARDWARE_TORQUE_LIMIT, dtype=torch.float64)
    assert (free.abs() > limit).any()  # the law alone exceeds the hardware limits here
    clipped_osc = BatchedOsc(2, strong, torque_limit=HARDWARE_TORQUE_LIMIT, dtype=torch.float64)
    clipped = clipped_osc.torque(jac, qd, pos, rot, target_pos, rot)
    assert (clipped.abs() <= limit).all()
    assert torch.equal(clipped, torch.clamp(free, -limit, limit))


def test_torque_rate_limit():
    jac, qd, pos, rot = _state(HOME)
    osc = BatchedOsc(1, DEPLOY_GAINS, torque_rate_limit=1000.0, control_dt=0.002, dtype=torch.float64)
    target = pos + torch.tensor([0.05, 0.0, 0.0], dtype=torch.float64)
    unlimited = BatchedOsc(1, DEPLOY_GAINS, dtype=torch.float64).torque(jac, qd, pos, rot, target, rot)
    taus = [osc.torque(jac, qd, pos, rot, target, rot) for _ in range(40)]
    previous = torch.zeros(1, 6, dtype=torch.float64)
    for tau in taus:
        assert ((tau - previous).abs() <= 2.0 + 1e-12).all()  # 1000 N*m/s * 2 ms
        previous = tau
    assert torch.allclose(taus[-1], unlimited, atol=1e-12)  # converges to the law's torque
    assert (taus[0] - unlimited).abs().max() > 1.0
    osc.reset()
    assert ((osc.torque(jac, qd, pos, rot, target, rot)).abs() <= 2.0 + 1e-12).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["qd", "pos", "target_rot", "jac"])
def test_nonfinite_inputs_give_zero_torque_and_count(bad, where):
    jac, qd, pos, rot = _state(HOME.expand(3, 6), torch.full((3, 6), 0.1, dtype=torch.float64))
    inputs = dict(jac=jac.clone(), qd=qd.clone(), pos=pos.clone(), rot=rot.clone(),
                  target_pos=pos + 0.01, target_rot=rot.clone())
    inputs[where][1].view(-1)[2] = bad
    osc = BatchedOsc(3, DEPLOY_GAINS, torque_limit=HARDWARE_TORQUE_LIMIT, dtype=torch.float64)
    tau = osc.torque(**inputs)
    assert torch.isfinite(tau).all()
    assert torch.equal(tau[1], torch.zeros(6, dtype=torch.float64))
    assert tau[0].abs().sum() > 0 and tau[2].abs().sum() > 0
    assert osc.nonfinite_count.tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    "q",
    [
        [0.3, -1.2, 1.4, -1.0, 0.0, 0.5],  # wrist singularity: q5 = 0 aligns joints 4 and 6
        [0.3, -1.2, 0.0, -1.0, 1.2, 0.5],  # elbow singularity: arm stretched out
        [0.0, -math.pi / 2, 0.0, -math.pi / 2, 0.0, 0.0],  # both
    ],
)
def test_singular_jacobian_gives_bounded_torque(q):
    q = torch.tensor([q], dtype=torch.float64)
    jac, qd, pos, rot = _state(q)
    assert torch.linalg.matrix_rank(jac[0], atol=1e-9) < 6  # it really is singular
    target_pos = pos + torch.tensor([0.5, -0.4, 0.3], dtype=torch.float64)
    target_rot = axis_angle_to_matrix(torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64)) @ rot
    osc = BatchedOsc(1, DEPLOY_GAINS, dtype=torch.float64)
    tau = osc.torque(jac, qd, pos, rot, target_pos, target_rot)
    # With the error clipped, |F| <= |Kp_pos| clip_pos + |Kp_rot| clip_rot whatever the pose, and
    # |tau| <= sigma_max(J) |F|: no inverse of J appears anywhere in the law.
    f_bound = DEPLOY_GAINS.kp[0] * POSE_ERROR_CLIP_POS + DEPLOY_GAINS.kp[3] * POSE_ERROR_CLIP_ROT
    sigma_max = torch.linalg.matrix_norm(jac[0], ord=2).item()
    assert torch.isfinite(tau).all()
    assert tau.norm().item() <= sigma_max * f_bound + 1e-9
    assert tau.norm().item() < 200.0


def test_per_env_gains_and_randomization():
    osc = BatchedOsc(3, TRAIN_GAINS, dtype=torch.float64)
    osc.set_gains(DEPLOY_GAINS, env_ids=[1], kp_scale=torch.full((1, 6), 1.2, dtype=torch.float64))
    assert torch.allclose(osc.kp[0], torch.tensor(TRAIN_GAINS.kp, dtype=torch.float64))
    assert torch.allclose(osc.kp[1], 1.2 * torch.tensor(DEPLOY_GAINS.kp, dtype=torch.float64))
    assert torch.allclose(osc.kd[1], 2 * torch.sqrt(1.2 * torch.tensor(DEPLOY_GAINS.kp, dtype=torch.float64)))
    osc.kp = torch.tensor([10.0, 10, 10, 1, 1, 1], dtype=torch.float64)
    assert torch.allclose(osc.kp[2], torch.tensor([10.0, 10, 10, 1, 1, 1], dtype=torch.float64))


def test_float32_matches_float64():
    gen = torch.Generator().manual_seed(3)
    q = HOME + 0.3 * torch.randn(64, 6, generator=gen, dtype=torch.float64)
    qd = torch.randn(64, 6, generator=gen, dtype=torch.float64)
    jac, qd, pos, rot = _state(q, qd)
    tpos = pos + 0.03 * torch.randn(64, 3, generator=gen, dtype=torch.float64)
    trot = axis_angle_to_matrix(0.2 * torch.randn(64, 3, generator=gen, dtype=torch.float64)) @ rot
    t64 = BatchedOsc(64, TRAIN_GAINS, dtype=torch.float64).torque(jac, qd, pos, rot, tpos, trot)
    args32 = [x.float() for x in (jac, qd, pos, rot, tpos, trot)]
    t32 = BatchedOsc(64, TRAIN_GAINS, dtype=torch.float32).torque(*args32)
    assert t32.dtype == torch.float32
    assert torch.allclose(t32.double(), t64, atol=5e-3, rtol=1e-4)


def test_bad_construction_arguments():
    with pytest.raises(ValueError):
        BatchedOsc(0, TRAIN_GAINS)
    with pytest.raises(ValueError):
        BatchedOsc(1, TRAIN_GAINS, torque_limit=(1.0, 2.0))
    with pytest.raises(ValueError):
        BatchedOsc(1, TRAIN_GAINS, pos_clip=0.0)
    with pytest.raises(ValueError):
        BatchedOsc(1, TRAIN_GAINS, torque_rate_limit=-1.0)
