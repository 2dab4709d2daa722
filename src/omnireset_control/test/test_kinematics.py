"""Kinematics: nominal tables vs UR's published DH, FK vs ur-analytic-ik, FK + Jacobian vs
Pinocchio (built from a URDF of the same joint origins), Jacobian vs finite differences,
calibration YAML loading."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from omnireset_control.constants import ROBOTIQ_2F85_TCP_OFFSET
from omnireset_control.kinematics import (
    FLANGE,
    SUPPORTED_ROBOTS,
    BatchedKinematics,
    CalibrationError,
    JointOrigin,
    fk,
    jacobian,
    load_kinematics,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Universal Robots' published DH parameters (d, a; alpha = pi/2, 0, 0, pi/2, -pi/2, 0),
# written out here independently of the YAML files they were converted into.
PUBLISHED_DH = {
    "ur3e": ((0.15185, 0, 0, 0.13105, 0.08535, 0.0921), (0, -0.24355, -0.2132, 0, 0, 0)),
    "ur5e": ((0.1625, 0, 0, 0.1333, 0.0997, 0.0996), (0, -0.425, -0.3922, 0, 0, 0)),
    "ur7e": ((0.1625, 0, 0, 0.1333, 0.0997, 0.0996), (0, -0.425, -0.3922, 0, 0, 0)),
    "ur10e": ((0.1807, 0, 0, 0.17415, 0.11985, 0.11655), (0, -0.6127, -0.57155, 0, 0, 0)),
}
ALPHA = (math.pi / 2, 0, 0, math.pi / 2, -math.pi / 2, 0)


def dh_fk_in_dh_base(robot, q):
    d, a = PUBLISHED_DH[robot]
    T = np.eye(4)
    for i in range(6):
        ct, st, ca, sa = math.cos(q[i]), math.sin(q[i]), math.cos(ALPHA[i]), math.sin(ALPHA[i])
        T = T @ np.array([[ct, -st * ca, st * sa, a[i] * ct], [st, ct * ca, -ct * sa, a[i] * st], [0, sa, ca, d[i]], [0, 0, 0, 1]])
    return T


RZ_PI = np.diag([-1.0, -1.0, 1.0, 1.0])  # base_link <- DH base


def random_q(n, seed):
    return np.random.default_rng(seed).uniform(-math.pi, math.pi, size=(n, 6))


@pytest.mark.parametrize("robot", SUPPORTED_ROBOTS)
def test_nominal_tables_match_published_dh(robot):
    params = load_kinematics(robot, tcp_offset=FLANGE)
    for q in random_q(20, 1):
        assert np.allclose(fk(params, q, "flange"), RZ_PI @ dh_fk_in_dh_base(robot, q), atol=1e-12)


@pytest.mark.parametrize("robot", SUPPORTED_ROBOTS)
def test_fk_matches_ur_analytic_ik(robot):
    ur_analytic_ik = pytest.importorskip("ur_analytic_ik")
    solver = getattr(ur_analytic_ik, robot)
    params = load_kinematics(robot, tcp_offset=FLANGE)
    kin = BatchedKinematics(params)
    qs = random_q(50, 2)
    pos, rot = kin.forward(torch.from_numpy(qs))
    for i, q in enumerate(qs):
        # ur-analytic-ik works in the DH base frame (base_link_inertia): rotate by pi about z.
        ref = RZ_PI @ np.asarray(solver.forward_kinematics(*q))
        assert np.allclose(pos[i].numpy(), ref[:3, 3], atol=1e-12)
        assert np.allclose(rot[i].numpy(), ref[:3, :3], atol=1e-12)


def _urdf(params):
    """A URDF of the same chain (base_link -> base_link_inertia rotated pi about z, as ur_description)."""
    names = ["shoulder", "upper_arm", "forearm", "wrist_1", "wrist_2", "wrist_3"]
    joints = ["shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3"]
    parts = ['<robot name="ur"><link name="base_link"/><link name="base_link_inertia"/>',
             '<joint name="base_fixed" type="fixed"><parent link="base_link"/><child link="base_link_inertia"/>'
             '<origin xyz="0 0 0" rpy="0 0 3.141592653589793"/></joint>']
    parent = "base_link_inertia"
    for name, joint, o in zip(names, joints, params.joint_origins):
        parts.append(f'<link name="{name}_link"/>')
        parts.append(
            f'<joint name="{joint}_joint" type="revolute"><parent link="{parent}"/><child link="{name}_link"/>'
            f'<origin xyz="{o.xyz[0]!r} {o.xyz[1]!r} {o.xyz[2]!r}" rpy="{o.rpy[0]!r} {o.rpy[1]!r} {o.rpy[2]!r}"/>'
            f'<axis xyz="0 0 1"/><limit lower="-6.3" upper="6.3" effort="150" velocity="3"/></joint>'
        )
        parent = f"{name}_link"
    t = params.tcp_offset
    parts.append('<link name="tcp"/><joint name="tcp_fixed" type="fixed"><parent link="wrist_3_link"/><child link="tcp"/>'
                 f'<origin xyz="{t.xyz[0]!r} {t.xyz[1]!r} {t.xyz[2]!r}" rpy="{t.rpy[0]!r} {t.rpy[1]!r} {t.rpy[2]!r}"/></joint></robot>')
    return "".join(parts)


@pytest.mark.parametrize("calibrated", [False, True])
def test_fk_and_jacobian_match_pinocchio(calibrated):
    pin = pytest.importorskip("pinocchio")
    cal = FIXTURES / "ur7e_calibration.yaml" if calibrated else None
    params = load_kinematics("ur7e", calibration=cal, tcp_offset=JointOrigin((0.01, -0.02, 0.174), (0.1, -0.2, 0.3)))
    model = pin.buildModelFromXML(_urdf(params))
    data = model.createData()
    fid = model.getFrameId("tcp")
    kin = BatchedKinematics(params)
    qs = random_q(30, 3)
    pos, rot, jac = kin.forward_with_jacobian(torch.from_numpy(qs))
    for i, q in enumerate(qs):
        pin.forwardKinematics(model, data, q)
        pin.updateFramePlacements(model, data)
        placement = data.oMf[fid]
        assert np.allclose(pos[i].numpy(), placement.translation, atol=1e-12)
        assert np.allclose(rot[i].numpy(), placement.rotation, atol=1e-12)
        J_ref = pin.computeFrameJacobian(model, data, q, fid, pin.LOCAL_WORLD_ALIGNED)
        assert np.allclose(jac[i].numpy(), J_ref, atol=1e-12)


def test_jacobian_matches_finite_differences():
    params = load_kinematics("ur5e")  # default Robotiq TCP
    eps = 1e-6
    for q in random_q(10, 4):
        J = jacobian(params, q)
        T0 = fk(params, q)
        for j in range(6):
            dq = np.zeros(6)
            dq[j] = eps
            Tp, Tm = fk(params, q + dq), fk(params, q - dq)
            lin = (Tp[:3, 3] - Tm[:3, 3]) / (2 * eps)
            dR = (Tp[:3, :3] - Tm[:3, :3]) / (2 * eps) @ T0[:3, :3].T  # = skew(omega)
            ang = np.array([dR[2, 1], dR[0, 2], dR[1, 0]])
            assert np.allclose(J[:3, j], lin, atol=1e-8)
            assert np.allclose(J[3:, j], ang, atol=1e-8)


def test_batched_matches_numpy_helpers_and_frames():
    params = load_kinematics("ur10e")
    kin = BatchedKinematics(params)
    qs = random_q(8, 5)
    pos, rot, jac = kin.forward_with_jacobian(torch.from_numpy(qs))
    frames = kin.joint_frames(torch.from_numpy(qs))
    fpos, frot = kin.forward_flange(torch.from_numpy(qs))
    assert frames.shape == (8, 7, 4, 4)
    for i, q in enumerate(qs):
        T = fk(params, q)
        assert np.allclose(pos[i].numpy(), T[:3, 3], atol=1e-13)
        assert np.allclose(jac[i].numpy(), jacobian(params, q), atol=1e-13)
        assert np.allclose(frames[i, 6].numpy(), T, atol=1e-13)
        assert np.allclose(frames[i, 5, :3, 3].numpy(), fpos[i].numpy(), atol=1e-13)
        # Default TCP: the fingertip centre sits ROBOTIQ_2F85_TCP_OFFSET along the flange z axis.
        assert np.allclose(T[:3, 3] - fpos[i].numpy(), ROBOTIQ_2F85_TCP_OFFSET * frot[i, :, 2].numpy(), atol=1e-13)


def test_base_link_convention_at_zero():
    # base_link = DH base (ur_description `base_link_inertia`) rotated by pi about z: x and y flip.
    # At q = 0 the DH chain puts the flange at x = a2 + a3 < 0, so in base_link the stretched-out
    # arm points along +x, offset along +y by d4 + d6 and down by d5 from the shoulder height d1.
    params = load_kinematics("ur5e", tcp_offset=FLANGE)
    T = fk(params, np.zeros(6))
    T_dh = dh_fk_in_dh_base("ur5e", np.zeros(6))
    assert np.allclose(T[:3, 3], [-T_dh[0, 3], -T_dh[1, 3], T_dh[2, 3]], atol=1e-15)
    assert T[0, 3] == pytest.approx(0.425 + 0.3922)
    assert T[1, 3] == pytest.approx(0.1333 + 0.0996)
    assert T[2, 3] == pytest.approx(0.1625 - 0.0997)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float32_and_float64(dtype):
    params = load_kinematics("ur7e")
    qs = torch.from_numpy(random_q(16, 6))
    ref_pos, ref_rot, ref_jac = BatchedKinematics(params).forward_with_jacobian(qs)
    pos, rot, jac = BatchedKinematics(params, dtype=dtype).forward_with_jacobian(qs.to(dtype))
    assert pos.dtype == rot.dtype == jac.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-14
    assert torch.allclose(pos.double(), ref_pos, atol=tol)
    assert torch.allclose(jac.double(), ref_jac, atol=tol)


def test_unknown_robot_lists_valid_ones():
    with pytest.raises(ValueError, match="ur3e, ur5e, ur7e, ur10e"):
        load_kinematics("ur42")


def test_calibration_file_is_loaded_and_changes_fk():
    nominal = load_kinematics("ur7e")
    calibrated = load_kinematics("ur7e", calibration=FIXTURES / "ur7e_calibration.yaml")
    assert calibrated.calibration_hash == "calib_fixture_0001"
    assert calibrated.joint_origins[2].xyz == pytest.approx((-0.42523, 0.0, 0.0))
    assert calibrated.joint_origins[1].rpy[0] == pytest.approx(1.570408)
    q = np.array([0.3, -1.4, 1.6, -1.5, -1.57, 0.2])
    delta = np.linalg.norm(fk(calibrated, q)[:3, 3] - fk(nominal, q)[:3, 3])
    assert 1e-4 < delta < 1e-2  # a real calibration moves the TCP by tenths of a millimetre to mm


@pytest.mark.parametrize(
    "mutation, field",
    [
        (lambda t: t.replace("kinematics:", "kinematic:"), "'kinematics'"),
        (lambda t: t.replace("  forearm:", "  fore_arm:"), "'kinematics.forearm'"),
        (lambda t: t.replace("    roll: 1.570408", "    rol: 1.570408"), "'kinematics.upper_arm.roll'"),
        (lambda t: t.replace("    x: -0.42523", "    x: abc"), "'kinematics.forearm.x'"),
        (lambda t: t.replace("    z: 0.133276", "    z: .nan"), "'kinematics.wrist_1.z'"),
    ],
)
def test_malformed_calibration_names_the_field(tmp_path, mutation, field):
    text = (FIXTURES / "ur7e_calibration.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(mutation(text))
    with pytest.raises(CalibrationError, match=field.replace(".", r"\.")):
        load_kinematics("ur7e", calibration=bad)


def test_missing_and_unparsable_calibration(tmp_path):
    with pytest.raises(CalibrationError, match="not found"):
        load_kinematics("ur7e", calibration=tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kinematics: [unclosed\n")
    with pytest.raises(CalibrationError, match="not valid YAML"):
        load_kinematics("ur7e", calibration=bad)
