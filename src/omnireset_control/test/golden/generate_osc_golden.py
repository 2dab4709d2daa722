#!/usr/bin/env python3
"""Generate osc_golden.txt: inputs -> outputs of the torch OSC law in float64.

Run from the repository root after sourcing env.sh:
    python src/omnireset_control/test/golden/generate_osc_golden.py
The file is committed; test_golden.py (pytest) and test_golden.cpp (gtest) both check it, so the
torch law, the C++ core and the ros2_control controller are pinned to the same numbers.

Each case: the TCP pose at command time (from q_cmd) composed with action * scale gives the held
target; the arm has since moved to (q, qd); the law gives the error and torque. Cases cover
nominal and calibrated kinematics, several TCPs, training/deployment/randomized gains, pose-error
clipping active and inactive, torque clipping on and off, and near-singular poses.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from omnireset_control.composition import compose_target
from omnireset_control.constants import (
    DEPLOY_ACTION_SCALE,
    DEPLOY_GAINS,
    HARDWARE_TORQUE_LIMIT,
    TRAIN_ACTION_SCALE,
    TRAIN_GAINS,
)
from omnireset_control.kinematics import FLANGE, BatchedKinematics, JointOrigin, load_kinematics
from omnireset_control.osc import BatchedOsc
from omnireset_control.rotations import matrix_to_axis_angle

HERE = Path(__file__).resolve().parent
FIELDS = (
    # inputs
    ("q_cmd", 6), ("action", 6), ("scale", 6), ("q", 6), ("qd", 6), ("kp", 6), ("zeta", 6),
    ("pos_clip", 1), ("rot_clip", 1), ("torque_limit", 6),
    # outputs
    ("tcp_pos", 3), ("tcp_rot", 9), ("jacobian", 36), ("target_pos", 3), ("target_rot", 9),
    ("error", 6), ("torque", 6),
)


def kinematics_sets():
    fixture = HERE.parent / "fixtures" / "ur7e_calibration.yaml"
    return [
        load_kinematics("ur5e"),
        load_kinematics("ur7e", calibration=fixture),
        load_kinematics("ur10e", tcp_offset=FLANGE),
        load_kinematics("ur3e", tcp_offset=JointOrigin((0.01, -0.005, 0.15), (0.0, 0.1, 1.5707963267948966))),
    ]


def fmt(values) -> str:
    return " ".join(repr(float(v)) for v in np.asarray(values, dtype=np.float64).reshape(-1))


def make_case(rng: np.random.Generator, index: int, kin: BatchedKinematics) -> dict | None:
    home = np.array([0.0, -1.57, 1.57, -1.57, -1.57, 0.0])
    q_cmd = home + rng.uniform(-1.2, 1.2, 6)
    kind = index % 6
    if kind == 4:  # near wrist singularity (q5 ~ 0)
        q_cmd[4] = rng.uniform(-1e-3, 1e-3)
    elif kind == 5:  # near elbow singularity (arm stretched out)
        q_cmd[2] = rng.uniform(-1e-3, 1e-3)
    action = rng.uniform(-1.5, 1.5, 6)
    scale = (np.array(TRAIN_ACTION_SCALE), np.array(DEPLOY_ACTION_SCALE), rng.uniform(0.0, 0.05, 6))[index % 3]
    # The arm has moved since the command: small motion keeps the error below the clips, large
    # motion drives it into them.
    motion = 0.01 if index % 2 == 0 else 0.4
    q = q_cmd + rng.uniform(-motion, motion, 6)
    qd = rng.uniform(-1.0, 1.0, 6) * (0.2 if index % 4 == 0 else 2.0)
    gains = (TRAIN_GAINS, DEPLOY_GAINS)[index % 2]
    kp = np.array(gains.kp) * (rng.uniform(0.8, 1.2, 6) if index % 5 == 0 else 1.0)
    zeta = np.array(gains.zeta)
    pos_clip, rot_clip = (0.05, 0.3) if index % 7 else (rng.uniform(0.01, 0.1), rng.uniform(0.1, 0.5))
    torque_limit = np.array(HARDWARE_TORQUE_LIMIT) if index % 3 == 1 else np.full(6, math.inf)
    if index % 11 == 3:  # tight limits so the clip is certainly active
        torque_limit = np.full(6, 5.0)

    t = lambda x: torch.tensor(np.asarray(x)[None], dtype=torch.float64)  # noqa: E731
    cmd_pos, cmd_rot = kin.forward(t(q_cmd))
    target_pos, target_rot = compose_target(cmd_pos, cmd_rot, t(action), t(scale))
    pos, rot, jac = kin.forward_with_jacobian(t(q))
    # The axis-angle of a rotation error near pi has no well-defined sign; keep clear of it.
    if matrix_to_axis_angle(target_rot @ rot.transpose(-1, -2)).norm().item() > math.pi - 0.05:
        return None
    osc = BatchedOsc(1, gains, pos_clip=pos_clip, rot_clip=rot_clip,
                     torque_limit=None if math.isinf(torque_limit[0]) else torque_limit, dtype=torch.float64)
    osc.kp = t(kp)
    osc.kd = t(2.0 * zeta * np.sqrt(kp))
    tau = osc.torque(jac, t(qd), pos, rot, target_pos, target_rot)
    return dict(
        q_cmd=q_cmd, action=action, scale=scale, q=q, qd=qd, kp=kp, zeta=zeta, pos_clip=pos_clip,
        rot_clip=rot_clip, torque_limit=torque_limit, tcp_pos=pos, tcp_rot=rot, jacobian=jac,
        target_pos=target_pos, target_rot=target_rot, error=osc.last_error, torque=tau,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=240)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--out", type=Path, default=HERE / "osc_golden.txt")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    kin_sets = kinematics_sets()
    kins = [BatchedKinematics(p, dtype=torch.float64) for p in kin_sets]
    lines = [
        "# OmniReset OSC golden vectors: inputs -> outputs of the torch law (omnireset_control.osc) in float64.",
        "# Generated by generate_osc_golden.py; checked by test_golden.py and test_golden.cpp. Do not edit.",
        "# 'kinematics <id> <7 rows of x y z roll pitch yaw>': six joint origins (DH base -> wrist_3) + TCP offset.",
        "# 'fields' lists the per-case columns after '<kinematics id>'; inf torque_limit = no torque clip.",
        "# Rotations are row-major 3x3, the Jacobian row-major 6x6 (rows: linear xyz, angular xyz).",
    ]
    for k, p in enumerate(kin_sets):
        lines.append(f"kinematics {k} {fmt(p.as_array())}")
    lines.append("fields " + " ".join(f"{name}:{size}" for name, size in FIELDS))
    index = 0
    written = 0
    while written < args.cases:
        k = index % len(kins)
        case = make_case(rng, index, kins[k])
        index += 1
        if case is None:
            continue
        lines.append(f"case {k} " + " ".join(fmt(case[name]) for name, _ in FIELDS))
        written += 1
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {written} cases to {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
