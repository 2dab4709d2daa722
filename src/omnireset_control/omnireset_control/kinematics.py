"""UR e-Series kinematics: nominal DH-derived or factory-calibrated joint origins, FK of the flange
and of a tool-centre point (TCP), and the geometric Jacobian at the TCP.

Frames (the convention is shared with include/omnireset_control/ur_kinematics.hpp):
  * The kinematic chain is given, like ur_description / ur_calibration, as six fixed transforms
    ``JointOrigin(xyz, rpy)`` from the previous joint frame to the next; joint i rotates about its
    local +z. The chain starts in the DH base frame, which ur_description calls
    ``base_link_inertia``.
  * Every pose and Jacobian here is expressed in ROS ``base_link`` (REP-103: x forward), which is
    the DH base rotated by pi about z: ``T_base_link = Rz(pi) @ T_dh_base``.
  * The flange frame is ROS ``tool0`` (z out of the flange), which has the orientation of
    ``wrist_3_link``. The TCP is ``flange @ tcp_offset`` (default: Robotiq 2F-85 fingertip centre).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from omnireset_control.constants import ROBOTIQ_2F85_TCP_OFFSET
from omnireset_control.rotations import rpy_to_matrix

SUPPORTED_ROBOTS: tuple[str, ...] = ("ur3e", "ur5e", "ur7e", "ur10e")
# Keys of the six joints in a ur_calibration `kinematics_params` file, in chain order.
CALIBRATION_JOINT_KEYS: tuple[str, ...] = ("shoulder", "upper_arm", "forearm", "wrist_1", "wrist_2", "wrist_3")
_ORIGIN_FIELDS: tuple[str, ...] = ("x", "y", "z", "roll", "pitch", "yaw")
NOMINAL_PARAMS_DIR = Path(__file__).resolve().parent / "kinematics_params"

# Rotation from ROS base_link to the DH base frame (base_link_inertia): pi about z, exact.
BASE_LINK_FROM_DH_BASE = np.array([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class JointOrigin:
    """Fixed transform parent frame -> child frame: translation xyz (m), then URDF rpy (rad)."""

    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def matrix(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = rpy_to_matrix(torch.tensor(self.rpy, dtype=torch.float64)).numpy()
        T[:3, 3] = self.xyz
        return T


DEFAULT_TCP_OFFSET = JointOrigin((0.0, 0.0, ROBOTIQ_2F85_TCP_OFFSET), (0.0, 0.0, 0.0))
FLANGE = JointOrigin()  # tcp_offset that makes the TCP the flange (tool0) itself


@dataclass(frozen=True)
class UrKinematicsParams:
    robot: str
    joint_origins: tuple[JointOrigin, ...]  # 6, DH base -> shoulder ... wrist_2 -> wrist_3
    tcp_offset: JointOrigin = field(default_factory=lambda: DEFAULT_TCP_OFFSET)  # flange -> TCP
    source: str = ""  # file the joint origins came from
    calibration_hash: str = ""

    def __post_init__(self) -> None:
        if len(self.joint_origins) != 6:
            raise ValueError(f"UrKinematicsParams needs 6 joint origins, got {len(self.joint_origins)}")

    def as_array(self) -> np.ndarray:
        """[7,6] rows x y z roll pitch yaw: the six joint origins, then the TCP offset."""
        rows = [tuple(o.xyz) + tuple(o.rpy) for o in self.joint_origins + (self.tcp_offset,)]
        return np.asarray(rows, dtype=np.float64)


class CalibrationError(ValueError):
    """A kinematics_params file is unreadable or malformed; the message names the field."""


def _read_joint_origins(path: Path) -> tuple[tuple[JointOrigin, ...], str]:
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CalibrationError(f"{path}: calibration file not found") from None
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("kinematics"), dict):
        raise CalibrationError(f"{path}: field 'kinematics' is missing or not a mapping")
    kin = doc["kinematics"]
    origins = []
    for joint in CALIBRATION_JOINT_KEYS:
        entry = kin.get(joint)
        if not isinstance(entry, dict):
            raise CalibrationError(f"{path}: field 'kinematics.{joint}' is missing or not a mapping")
        values = []
        for name in _ORIGIN_FIELDS:
            if name not in entry:
                raise CalibrationError(f"{path}: field 'kinematics.{joint}.{name}' is missing")
            v = entry[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                raise CalibrationError(f"{path}: field 'kinematics.{joint}.{name}' must be a finite number, got {v!r}")
            values.append(float(v))
        origins.append(JointOrigin(tuple(values[:3]), tuple(values[3:])))
    calib_hash = kin.get("hash", "")
    return tuple(origins), str(calib_hash)


def load_kinematics(
    robot: str = "ur7e",
    calibration: str | Path | None = None,
    tcp_offset: JointOrigin | None = None,
) -> UrKinematicsParams:
    """Nominal kinematics of ``robot`` or, with ``calibration``, the joint origins of a factory
    calibration (ur_calibration's `kinematics_params` YAML). Poses come out in ``base_link``."""
    robot = robot.lower()
    if robot not in SUPPORTED_ROBOTS:
        raise ValueError(f"unknown robot {robot!r}; valid: {', '.join(SUPPORTED_ROBOTS)}")
    path = Path(calibration) if calibration is not None else NOMINAL_PARAMS_DIR / f"{robot}.yaml"
    origins, calib_hash = _read_joint_origins(path)
    return UrKinematicsParams(
        robot=robot,
        joint_origins=origins,
        tcp_offset=DEFAULT_TCP_OFFSET if tcp_offset is None else tcp_offset,
        source=str(path),
        calibration_hash=calib_hash,
    )


class BatchedKinematics:
    """FK and geometric Jacobian for N configurations at once (any device, float32/float64)."""

    def __init__(self, params: UrKinematicsParams, dtype: torch.dtype = torch.float64, device="cpu"):
        self.params = params
        self.dtype = dtype
        self.device = torch.device(device)
        arr = torch.as_tensor(params.as_array(), dtype=torch.float64)
        rot = rpy_to_matrix(arr[:, 3:])
        base = torch.as_tensor(BASE_LINK_FROM_DH_BASE, dtype=torch.float64)
        # Fold the base_link <- DH-base rotation into the first joint origin.
        rot[0] = base @ rot[0]
        trans = arr[:, :3].clone()
        trans[0] = base @ trans[0]
        self._rot = rot.to(dtype=dtype, device=self.device)  # [7,3,3]
        self._trans = trans.to(dtype=dtype, device=self.device)  # [7,3]

    def _check(self, q: torch.Tensor) -> torch.Tensor:
        if q.ndim != 2 or q.shape[-1] != 6:
            raise ValueError(f"q must have shape [N, 6], got {tuple(q.shape)}")
        return q.to(dtype=self.dtype, device=self.device)

    def _chain(self, q: torch.Tensor, want_axes: bool, want_links: bool):
        q = self._check(q)
        n = q.shape[0]
        R = torch.eye(3, dtype=self.dtype, device=self.device).expand(n, 3, 3)
        p = torch.zeros(n, 3, dtype=self.dtype, device=self.device)
        c, s = torch.cos(q), torch.sin(q)
        axes, origins, links = [], [], []
        for i in range(6):
            p = p + R @ self._trans[i]
            R = R @ self._rot[i]
            if want_axes:
                axes.append(R[:, :, 2])
                origins.append(p)
            # R @ Rz(q_i): only the x and y columns mix.
            cx, cy = R[:, :, 0], R[:, :, 1]
            ci, si = c[:, i : i + 1], s[:, i : i + 1]
            R = torch.stack((ci * cx + si * cy, ci * cy - si * cx, R[:, :, 2]), dim=-1)
            if want_links:
                links.append((R, p))
        flange = (R, p)
        tcp_p = p + R @ self._trans[6]
        tcp_R = R @ self._rot[6]
        return (tcp_p, tcp_R), flange, axes, origins, links

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """TCP position [N,3] and rotation [N,3,3] in base_link."""
        (p, R), _, _, _, _ = self._chain(q, False, False)
        return p, R

    def forward_flange(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flange (tool0) position [N,3] and rotation [N,3,3] in base_link."""
        _, (R, p), _, _, _ = self._chain(q, False, False)
        return p, R

    def forward_with_jacobian(self, q: torch.Tensor):
        """TCP pose and the geometric Jacobian [N,6,6] at the TCP (rows: linear xyz, angular xyz),
        both in base_link."""
        (p, R), _, axes, origins, _ = self._chain(q, True, False)
        z = torch.stack(axes, dim=-1)  # [N,3,6]
        o = torch.stack(origins, dim=-1)  # [N,3,6]
        lin = torch.linalg.cross(z, p[:, :, None] - o, dim=1)
        return p, R, torch.cat((lin, z), dim=1)

    def joint_frames(self, q: torch.Tensor) -> torch.Tensor:
        """[N,7,4,4]: base_link transforms of the six link frames (shoulder_link ... wrist_3_link,
        i.e. after each joint's rotation; joint i's axis is that frame's z) and of the TCP."""
        (tp, tR), _, _, _, links = self._chain(q, False, True)
        n = tp.shape[0]
        out = torch.zeros(n, 7, 4, 4, dtype=self.dtype, device=self.device)
        for i, (R, p) in enumerate(links + [(tR, tp)]):
            out[:, i, :3, :3] = R
            out[:, i, :3, 3] = p
        out[:, :, 3, 3] = 1.0
        return out


# ---- numpy single-configuration helpers (a plain, loop-based second implementation) ----------


def _rot_z(angle: float) -> np.ndarray:
    T = np.eye(4)
    c, s = math.cos(angle), math.sin(angle)
    T[:2, :2] = [[c, -s], [s, c]]
    return T


def _base_transform() -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = BASE_LINK_FROM_DH_BASE
    return T


def fk(params: UrKinematicsParams, q, frame: str = "tcp") -> np.ndarray:
    """4x4 base_link transform of the TCP (``frame="tcp"``) or flange (``frame="flange"``)."""
    if frame not in ("tcp", "flange"):
        raise ValueError(f"unknown frame {frame!r}; valid: tcp, flange")
    q = np.asarray(q, dtype=np.float64).reshape(6)
    T = _base_transform()
    for origin, angle in zip(params.joint_origins, q):
        T = T @ origin.matrix() @ _rot_z(float(angle))
    return T @ params.tcp_offset.matrix() if frame == "tcp" else T


def jacobian(params: UrKinematicsParams, q) -> np.ndarray:
    """6x6 geometric Jacobian at the TCP in base_link (rows: linear xyz, angular xyz)."""
    q = np.asarray(q, dtype=np.float64).reshape(6)
    T = _base_transform()
    axes, origins = [], []
    for origin, angle in zip(params.joint_origins, q):
        T = T @ origin.matrix()
        axes.append(T[:3, 2].copy())
        origins.append(T[:3, 3].copy())
        T = T @ _rot_z(float(angle))
    p = (T @ params.tcp_offset.matrix())[:3, 3]
    J = np.zeros((6, 6))
    for i, (z, o) in enumerate(zip(axes, origins)):
        J[:3, i] = np.cross(z, p - o)
        J[3:, i] = z
    return J
