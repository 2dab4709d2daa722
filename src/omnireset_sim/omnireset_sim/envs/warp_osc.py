"""The OSC law of one physics step as a Warp kernel (float32), for MuJoCo Warp's captured policy step.

One thread per world computes what the env's torch path computes between two physics steps
(vec_env._torch_physics_steps) and the C++ stepper computes in native/osc_stepper.cpp:

    q, qd <- the world's arm joints;  TCP pose and geometric Jacobian (omnireset_control.kinematics)
    e   = [clip_norm(target_pos - pos), clip_norm(axis_angle(target_rot @ rot^T))]   (osc.pose_error)
    tau = J^T (Kp e - Kd J qd), per-joint |tau| clip (inf: none)                      (BatchedOsc.torque)
    non-finite inputs -> zero torque, counted per world
    motor delay: shift the world's slots, newest first, apply the torque of `delay` steps ago (MotorDelay)
    + the dynamic-friction torque, undelayed (sysid.params.dynamic_friction_torque)
    -> ctrl of the arm actuators

The algorithms are line-for-line those of omnireset_control (Shepperd's matrix -> quaternion with
the first maximum winning, the small-angle branch of the axis-angle), so that the kernel agrees
with the torch law in float32 to rounding and with the float64 golden vectors to float32 precision
(test_warp_osc). The kernel reads and writes MuJoCo Warp's qpos / qvel / ctrl in place and its
other inputs from fixed device buffers, so `decimation` launches of it interleaved with
`mjw.step` can be captured in one Warp graph (MujocoWarpEngine.control_step) and replayed with no
Python, and no host synchronisation, inside a policy step.
"""

from __future__ import annotations

import numpy as np
import torch
import warp as wp

from omnireset_control.rotations import SMALL_ANGLE

mat36 = wp.types.matrix(shape=(3, 6), dtype=wp.float32)
mat66 = wp.types.matrix(shape=(6, 6), dtype=wp.float32)
vec6 = wp.types.vector(length=6, dtype=wp.float32)

_SMALL_ANGLE = wp.constant(float(SMALL_ANGLE))
_TINY = wp.constant(float(np.finfo(np.float32).tiny))  # torch.finfo(float32).tiny, as matrix_to_quat


@wp.func
def _clip_norm(v: wp.vec3, max_norm: float) -> wp.vec3:
    n = wp.length(v)
    if n > max_norm:
        return v * (max_norm / n)
    return v


@wp.func
def _matrix_to_quat(R: wp.mat33) -> wp.vec4:
    """rotations.matrix_to_quat: (w, x, y, z), w >= 0, Shepperd's branch on the first maximum."""
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    choice = int(0)
    best = float(trace)
    if R[0, 0] > best:
        choice = 1
        best = R[0, 0]
    if R[1, 1] > best:
        choice = 2
        best = R[1, 1]
    if R[2, 2] > best:
        choice = 3
    q = wp.vec4(0.0)
    if choice == 0:
        s = 2.0 * wp.sqrt(wp.max(1.0 + trace, _TINY))
        q = wp.vec4(0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s)
    elif choice == 1:
        s = 2.0 * wp.sqrt(wp.max(1.0 + R[0, 0] - R[1, 1] - R[2, 2], _TINY))
        q = wp.vec4((R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s)
    elif choice == 2:
        s = 2.0 * wp.sqrt(wp.max(1.0 - R[0, 0] + R[1, 1] - R[2, 2], _TINY))
        q = wp.vec4((R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s)
    else:
        s = 2.0 * wp.sqrt(wp.max(1.0 - R[0, 0] - R[1, 1] + R[2, 2], _TINY))
        q = wp.vec4((R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s)
    q = q / wp.length(q)
    if q[0] < 0.0:
        q = -q
    return q


@wp.func
def _axis_angle(R: wp.mat33) -> wp.vec3:
    """rotations.matrix_to_axis_angle (via the quaternion, shortest path)."""
    q = _matrix_to_quat(R)
    v = wp.vec3(q[1], q[2], q[3])
    s = wp.length(v)
    factor = float(0.0)
    if s < _SMALL_ANGLE:
        factor = 2.0 / q[0]
    else:
        factor = 2.0 * wp.atan2(s, q[0]) / s
    return v * factor


@wp.func
def _finite3(v: wp.vec3) -> bool:
    return wp.isfinite(v[0]) and wp.isfinite(v[1]) and wp.isfinite(v[2])


@wp.func
def _finite33(m: wp.mat33) -> bool:
    return _finite3(m[0]) and _finite3(m[1]) and _finite3(m[2])


@wp.func
def _sign(v: float) -> float:
    if v > 0.0:
        return 1.0
    if v < 0.0:
        return -1.0
    return 0.0


@wp.func
def tcp_kinematics(q: vec6, rots: wp.array(dtype=wp.mat33), trans: wp.array(dtype=wp.vec3)):
    """BatchedKinematics.forward_with_jacobian for one configuration: TCP position, rotation and the
    geometric Jacobian (rows linear xyz, angular xyz). `rots`/`trans` [7]: the joint origins with the
    base_link <- DH-base rotation folded into the first, then the TCP offset."""
    R = wp.identity(n=3, dtype=wp.float32)
    p = wp.vec3(0.0)
    axes = mat36()
    origins = mat36()
    for i in range(6):
        p = p + R * trans[i]
        R = R * rots[i]
        for k in range(3):
            axes[k, i] = R[k, 2]
            origins[k, i] = p[k]
        c = wp.cos(q[i])
        s = wp.sin(q[i])
        # R @ Rz(q_i): only the x and y columns mix (as _chain).
        R = wp.mat33(c * R[0, 0] + s * R[0, 1], c * R[0, 1] - s * R[0, 0], R[0, 2],
                     c * R[1, 0] + s * R[1, 1], c * R[1, 1] - s * R[1, 0], R[1, 2],
                     c * R[2, 0] + s * R[2, 1], c * R[2, 1] - s * R[2, 0], R[2, 2])
    tcp_p = p + R * trans[6]
    tcp_R = R * rots[6]
    J = mat66()
    for i in range(6):
        z = wp.vec3(axes[0, i], axes[1, i], axes[2, i])
        o = wp.vec3(origins[0, i], origins[1, i], origins[2, i])
        lin = wp.cross(z, tcp_p - o)
        for k in range(3):
            J[k, i] = lin[k]
            J[k + 3, i] = z[k]
    return tcp_p, tcp_R, J


@wp.func
def osc_torque(q: vec6, qd: vec6, rots: wp.array(dtype=wp.mat33), trans: wp.array(dtype=wp.vec3),
               target_pos: wp.vec3, target_rot: wp.mat33, kp: vec6, kd: vec6, pos_clip: float, rot_clip: float,
               torque_limit: vec6):
    """(torque, pose error, inputs finite) of the law for one world."""
    pos, rot, J = tcp_kinematics(q, rots, trans)
    finite = _finite3(target_pos) and _finite33(target_rot) and _finite3(pos) and _finite33(rot)
    for i in range(6):
        finite = finite and wp.isfinite(qd[i])
        for k in range(6):
            finite = finite and wp.isfinite(J[i, k])
    e_pos = _clip_norm(target_pos - pos, pos_clip)
    e_rot = _clip_norm(_axis_angle(target_rot * wp.transpose(rot)), rot_clip)
    e = vec6(e_pos[0], e_pos[1], e_pos[2], e_rot[0], e_rot[1], e_rot[2])
    xdot = J * qd
    force = vec6()
    for k in range(6):
        force[k] = kp[k] * e[k] - kd[k] * xdot[k]
    tau = wp.transpose(J) * force
    for k in range(6):
        tau[k] = wp.max(wp.min(tau[k], torque_limit[k]), -torque_limit[k])
    if not finite:
        tau = vec6()
    return tau, e, finite


@wp.func
def _world_gains(kp: wp.array2d(dtype=wp.float32), kd: wp.array2d(dtype=wp.float32),
                 torque_limit: wp.array(dtype=wp.float32), w: int):
    """World w's joint gains and the shared torque limits as vec6 (kp, kd, limit)."""
    kpv = vec6()
    kdv = vec6()
    lim = vec6()
    for j in range(6):
        kpv[j] = kp[w, j]
        kdv[j] = kd[w, j]
        lim[j] = torque_limit[j]
    return kpv, kdv, lim


@wp.kernel
def law_kernel(q: wp.array2d(dtype=wp.float32), qd: wp.array2d(dtype=wp.float32),
               rots: wp.array(dtype=wp.mat33), trans: wp.array(dtype=wp.vec3),
               target_pos: wp.array(dtype=wp.vec3), target_rot: wp.array(dtype=wp.mat33),
               kp: wp.array2d(dtype=wp.float32), kd: wp.array2d(dtype=wp.float32), pos_clip: float, rot_clip: float,
               torque_limit: wp.array(dtype=wp.float32),
               pos_out: wp.array(dtype=wp.vec3), rot_out: wp.array(dtype=wp.mat33),
               jac_out: wp.array(dtype=mat66), err_out: wp.array2d(dtype=wp.float32),
               tau_out: wp.array2d(dtype=wp.float32)):
    """The law alone on [N, 6] joint states (for the agreement tests against the torch law and the
    golden vectors)."""
    w = wp.tid()
    qv = vec6()
    qdv = vec6()
    for j in range(6):
        qv[j] = q[w, j]
        qdv[j] = qd[w, j]
    kpv, kdv, lim = _world_gains(kp, kd, torque_limit, w)
    pos, rot, J = tcp_kinematics(qv, rots, trans)
    tau, e, finite = osc_torque(qv, qdv, rots, trans, target_pos[w], target_rot[w], kpv, kdv, pos_clip, rot_clip,
                                lim)
    pos_out[w] = pos
    rot_out[w] = rot
    jac_out[w] = J
    for j in range(6):
        err_out[w, j] = e[j]
        tau_out[w, j] = tau[j]


@wp.kernel
def control_substep_kernel(
        qpos: wp.array2d(dtype=wp.float32), qvel: wp.array2d(dtype=wp.float32), ctrl: wp.array2d(dtype=wp.float32),
        arm_qpos: wp.array(dtype=wp.int32), arm_dof: wp.array(dtype=wp.int32), arm_act: wp.array(dtype=wp.int32),
        rots: wp.array(dtype=wp.mat33), trans: wp.array(dtype=wp.vec3),
        target_pos: wp.array(dtype=wp.vec3), target_rot: wp.array(dtype=wp.mat33),
        kp: wp.array2d(dtype=wp.float32), kd: wp.array2d(dtype=wp.float32), pos_clip: float, rot_clip: float,
        torque_limit: wp.array(dtype=wp.float32),
        delay_buffer: wp.array3d(dtype=wp.float32), delay: wp.array(dtype=wp.int64), max_delay: int,
        friction_on: wp.array(dtype=wp.int32), friction_static: wp.array2d(dtype=wp.float32),
        friction_ratio: wp.array2d(dtype=wp.float32), stiction_velocity: float, stribeck_velocity: float,
        nonfinite_count: wp.array(dtype=wp.int64)):
    """One world's law between two physics steps, written into its arm actuators' ctrl."""
    w = wp.tid()
    qv = vec6()
    qdv = vec6()
    for j in range(6):
        qv[j] = qpos[w, arm_qpos[j]]
        qdv[j] = qvel[w, arm_dof[j]]
    kpv, kdv, lim = _world_gains(kp, kd, torque_limit, w)
    tau, e, finite = osc_torque(qv, qdv, rots, trans, target_pos[w], target_rot[w], kpv, kdv, pos_clip, rot_clip,
                                lim)
    if not finite:
        nonfinite_count[w] = nonfinite_count[w] + wp.int64(1)
    # Motor delay: this world's slots shift by one, the newest in slot 0.
    k = max_delay
    while k > 0:
        for j in range(6):
            delay_buffer[k, w, j] = delay_buffer[k - 1, w, j]
        k -= 1
    for j in range(6):
        delay_buffer[0, w, j] = tau[j]
    d = wp.min(wp.max(int(delay[w]), 0), max_delay)
    use_friction = friction_on[0] != 0
    for j in range(6):
        applied = delay_buffer[d, w, j]
        if use_friction:
            v = qdv[j]
            slide = wp.tanh(wp.max(wp.abs(v) - stiction_velocity, 0.0) / stribeck_velocity)
            applied = applied + friction_static[w, j] * (1.0 - friction_ratio[w, j]) * _sign(v) * slide
        ctrl[w, arm_act[j]] = applied


def chain_constants(kinematics_array: np.ndarray, device) -> tuple:
    """(rots [7] mat33, trans [7] vec3) Warp arrays for UrKinematicsParams.as_array() rows, folded as
    BatchedKinematics folds them (one definition: its float64 tables, rounded once to float32)."""
    from omnireset_control.kinematics import BatchedKinematics, JointOrigin, UrKinematicsParams

    rows = np.asarray(kinematics_array, dtype=np.float64).reshape(7, 6)
    origins = tuple(JointOrigin(tuple(r[:3]), tuple(r[3:])) for r in rows)
    kin = BatchedKinematics(UrKinematicsParams("warp", origins[:6], origins[6]), dtype=torch.float64)
    rots = wp.array(kin._rot.to(torch.float32).numpy(), dtype=wp.mat33, device=device)
    trans = wp.array(kin._trans.to(torch.float32).numpy(), dtype=wp.vec3, device=device)
    return rots, trans


def evaluate_law(kinematics_array, q, qd, target_pos, target_rot, kp, kd, pos_clip, rot_clip, torque_limit=None,
                 device="cpu") -> dict:
    """The kernel's law on [N, 6] torch inputs (any dtype; computed in float32): dict of pos [N,3],
    rot [N,3,3], jac [N,6,6], error [N,6], torque [N,6] as float32 torch tensors on `device`."""
    dev = str(device)
    f32 = torch.float32
    n = q.shape[0]

    def t(x, shape):
        return torch.as_tensor(x).to(dev, f32).reshape(shape).contiguous()

    lim = torch.full((6,), float("inf")) if torque_limit is None else torch.as_tensor(torque_limit)
    ins = dict(q=t(q, (n, 6)), qd=t(qd, (n, 6)), tp=t(target_pos, (n, 3)), tr=t(target_rot, (n, 3, 3)),
               kp=t(kp, (n, 6)), kd=t(kd, (n, 6)), lim=t(lim, (6,)))
    out = dict(pos=torch.zeros(n, 3, dtype=f32, device=dev), rot=torch.zeros(n, 3, 3, dtype=f32, device=dev),
               jac=torch.zeros(n, 6, 6, dtype=f32, device=dev), error=torch.zeros(n, 6, dtype=f32, device=dev),
               torque=torch.zeros(n, 6, dtype=f32, device=dev))
    rots, trans = chain_constants(kinematics_array, dev)
    wp.launch(law_kernel, dim=n, device=dev, inputs=[
        wp.from_torch(ins["q"]), wp.from_torch(ins["qd"]), rots, trans,
        wp.from_torch(ins["tp"], dtype=wp.vec3), wp.from_torch(ins["tr"], dtype=wp.mat33),
        wp.from_torch(ins["kp"]), wp.from_torch(ins["kd"]), float(pos_clip), float(rot_clip), wp.from_torch(ins["lim"]),
        wp.from_torch(out["pos"], dtype=wp.vec3), wp.from_torch(out["rot"], dtype=wp.mat33),
        wp.from_torch(out["jac"], dtype=mat66), wp.from_torch(out["error"]), wp.from_torch(out["torque"])])
    wp.synchronize_device(dev)
    return out


__all__ = ["chain_constants", "control_substep_kernel", "evaluate_law", "law_kernel", "mat66", "osc_torque",
           "tcp_kinematics", "vec6"]
