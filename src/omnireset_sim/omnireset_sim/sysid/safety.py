"""Safety monitor of a sysid chirp: stop to a hold when the arm misbehaves.

A plain-Python core (numpy only) fed with every joint sample of the recording. It trips, once, on

* ``nonfinite``   -- q, q̇ or the torque holds NaN/Inf;
* ``velocity``    -- |q̇_j| > velocity_fraction x the robot's joint speed limit
                     (omnireset_sim.assets.arm.UR_PHYSICAL, the figures the environment uses);
* ``torque``      -- |tau_j| >= torque_fraction x HARDWARE_TORQUE_LIMIT (omnireset_control.constants,
                     the clip the controller applies: a chirp that saturates it is not tracking);
* ``workspace``   -- the TCP (FK of q) outside the workspace box / keep-out cylinder, or farther
                     than ``max_tcp_excursion`` from where the chirp started (it moves <= 0.10 m);
* ``oscillation`` -- some joint's velocity reversed direction ``oscillation_reversals`` times within
                     ``oscillation_window`` seconds. A reversal counts only when q̇ crosses from beyond
                     +deadband to beyond -deadband (or back), so sensor noise around rest does not
                     count; the chirp's highest frequency (3 Hz) makes ~1.5 reversals per 0.25 s, a
                     chattering closed loop (tens of Hz) many more.

The velocity, torque and workspace checks trip after ``debounce_samples`` consecutive violating
samples (one noisy sample is not a fault); non-finite data trips at once.

On a trip the caller stops the chirp and holds: the target becomes the TCP pose measured at the
trip, as the controller core's own hold (omnireset_control.controller_core: target = current
pose, the OSC damping brings the arm to rest). The trip's one-line reason goes into the
recording's metadata (``aborted``), and `fit` refuses such a recording.

`simulate_monitored_chirp` runs the same monitor and hold in the sysid MuJoCo scene (one world,
the replay's closed loop), so the trip-and-hold behaviour is tested without a robot.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from omnireset_control.constants import ARM_JOINT_NAMES, HARDWARE_TORQUE_LIMIT

from .chirp import SafeWorkspace


@dataclass(frozen=True)
class SafetyConfig:
    """Thresholds of the monitor (config/sysid.yaml, `safety:`). Every check is always on."""

    velocity_fraction: float = 0.9  # of the robot's joint speed limits
    torque_fraction: float = 0.95  # of HARDWARE_TORQUE_LIMIT
    workspace: SafeWorkspace = field(default_factory=SafeWorkspace)
    max_tcp_excursion: float = 0.2  # m from the TCP position at the start of the chirp
    oscillation_window: float = 0.25  # s
    oscillation_reversals: int = 8  # velocity reversals of one joint within the window
    oscillation_deadband: float = 0.05  # rad/s
    debounce_samples: int = 3
    hold_time: float = 1.0  # s the recorder keeps commanding the hold before it exits

    def __post_init__(self) -> None:
        def bad(name, want):
            raise ValueError(f"safety.{name} must be {want}, got {getattr(self, name)!r}")

        for name in ("velocity_fraction", "torque_fraction"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v <= 1):
                bad(name, "a number in (0, 1]")
        for name in ("max_tcp_excursion", "oscillation_window", "oscillation_deadband"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                bad(name, "a finite number > 0")
        v = self.hold_time
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
            bad("hold_time", "a finite number >= 0")
        for name in ("oscillation_reversals", "debounce_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(name, "an integer >= 1")
        if not isinstance(self.workspace, SafeWorkspace):
            bad("workspace", "a SafeWorkspace")


@dataclass(frozen=True)
class SafetyTrip:
    kind: str  # nonfinite | velocity | torque | workspace | oscillation
    time: float  # s since the first monitored sample
    message: str  # one line

    def __str__(self) -> str:
        return self.message


class SafetyStop(RuntimeError):
    """The chirp was stopped to a hold by the safety monitor (or by a failure on the robot path)."""

    def __init__(self, trip: SafetyTrip):
        super().__init__(trip.message)
        self.trip = trip


def default_velocity_limits(robot: str = "ur7e") -> tuple[float, ...]:
    from ..assets.arm import UR_PHYSICAL

    if robot not in UR_PHYSICAL:
        raise ValueError(f"unknown robot {robot!r}; valid: {sorted(UR_PHYSICAL)}")
    return tuple(UR_PHYSICAL[robot].velocity_limits)


class SafetyMonitor:
    """Feed every joint sample to `update`; it returns the trip (once) or None."""

    def __init__(self, config: SafetyConfig | None = None, velocity_limits=None, torque_limits=HARDWARE_TORQUE_LIMIT,
                 joint_names=ARM_JOINT_NAMES):
        self.config = config or SafetyConfig()
        self.joint_names = tuple(joint_names)
        vl = np.asarray(velocity_limits if velocity_limits is not None else default_velocity_limits(), float)
        tl = np.asarray(torque_limits, float)
        if vl.shape != (len(self.joint_names),) or tl.shape != vl.shape or (vl <= 0).any() or (tl <= 0).any():
            raise ValueError(f"need {len(self.joint_names)} positive velocity and torque limits, got {vl}, {tl}")
        self.velocity_max = self.config.velocity_fraction * vl
        self.torque_max = self.config.torque_fraction * tl
        self.trip: SafetyTrip | None = None
        self.samples = 0
        self.t0: float | None = None
        self.start_tcp: np.ndarray | None = None
        self._streak = {"velocity": 0, "torque": 0, "workspace": 0}
        self._sign = np.zeros(len(self.joint_names), dtype=np.int8)  # last side beyond the deadband
        self._reversals: list[deque] = [deque() for _ in self.joint_names]
        self.max_abs_qd = np.zeros(len(self.joint_names))
        self.max_abs_tau = np.zeros(len(self.joint_names))

    @property
    def tripped(self) -> bool:
        return self.trip is not None

    def _fire(self, kind: str, t: float, what: str) -> SafetyTrip:
        self.trip = SafetyTrip(kind, t, f"safety stop ({kind}) at t={t:.3f} s: {what}; chirp stopped, holding")
        return self.trip

    def _debounced(self, kind: str, violated: bool) -> bool:
        self._streak[kind] = self._streak[kind] + 1 if violated else 0
        return self._streak[kind] >= self.config.debounce_samples

    def update(self, stamp: float, q, qd, tau=None, tcp_pos=None) -> SafetyTrip | None:
        """One sample (stamp in s, any clock; q, q̇ [J]; tau [J] or None; TCP position [3] or None)."""
        if self.trip is not None:
            return None
        if self.t0 is None:
            self.t0 = float(stamp)
        t = float(stamp) - self.t0
        self.samples += 1
        q = np.asarray(q, float).reshape(-1)
        qd = np.asarray(qd, float).reshape(-1)
        arrays = [("q", q), ("qd", qd)]
        if tau is not None:
            tau = np.asarray(tau, float).reshape(-1)
            arrays.append(("tau", tau))
        if tcp_pos is not None:
            tcp_pos = np.asarray(tcp_pos, float).reshape(3)
            arrays.append(("tcp", tcp_pos))
        for name, arr in arrays:
            if not np.isfinite(arr).all():
                return self._fire("nonfinite", t, f"{name} holds NaN/Inf")
        if not math.isfinite(t):
            return self._fire("nonfinite", 0.0, "the time stamp is not finite")
        cfg = self.config
        aqd = np.abs(qd)
        np.maximum(self.max_abs_qd, aqd, out=self.max_abs_qd)
        over = aqd > self.velocity_max
        if self._debounced("velocity", bool(over.any())):
            j = int(np.argmax(aqd / self.velocity_max))
            return self._fire("velocity", t, f"{self.joint_names[j]} at {qd[j]:+.3f} rad/s exceeds "
                                             f"{self.velocity_max[j]:.3f} rad/s ({cfg.velocity_fraction:g} x limit)")
        if tau is not None:
            atau = np.abs(tau)
            np.maximum(self.max_abs_tau, atau, out=self.max_abs_tau)
            if self._debounced("torque", bool((atau >= self.torque_max).any())):
                j = int(np.argmax(atau / self.torque_max))
                return self._fire("torque", t, f"{self.joint_names[j]} at {tau[j]:+.2f} N m reaches "
                                               f"{self.torque_max[j]:.2f} N m ({cfg.torque_fraction:g} x limit)")
        if tcp_pos is not None:
            if self.start_tcp is None:
                self.start_tcp = tcp_pos.copy()
            excursion = float(np.linalg.norm(tcp_pos - self.start_tcp))
            inside = bool(cfg.workspace.contains(tcp_pos))
            if self._debounced("workspace", (not inside) or excursion > cfg.max_tcp_excursion):
                where = np.round(tcp_pos, 4).tolist()
                what = (f"TCP {where} m left the workspace box {list(cfg.workspace.low)}..{list(cfg.workspace.high)}"
                        f" / radius >= {cfg.workspace.min_radius}") if not inside else \
                    f"TCP {where} m is {excursion:.3f} m from the chirp's start (max {cfg.max_tcp_excursion})"
                return self._fire("workspace", t, what)
        band = cfg.oscillation_deadband
        side = np.where(qd > band, 1, np.where(qd < -band, -1, 0)).astype(np.int8)
        for j in np.flatnonzero(side != 0):
            if self._sign[j] != 0 and side[j] != self._sign[j]:
                rev = self._reversals[j]
                rev.append(t)
                while rev and rev[0] < t - cfg.oscillation_window:
                    rev.popleft()
                if len(rev) >= cfg.oscillation_reversals:
                    return self._fire("oscillation", t, f"{self.joint_names[j]} reversed direction {len(rev)} times "
                                                        f"in {cfg.oscillation_window:g} s (|qd| > {band:g} rad/s): "
                                                        "the closed loop chatters")
            self._sign[j] = side[j]
        return None

    def summary(self) -> dict:
        return {"samples": self.samples, "tripped": self.trip.kind if self.trip else None,
                "max_abs_qd": [round(float(v), 4) for v in self.max_abs_qd],
                "max_abs_tau": [round(float(v), 3) for v in self.max_abs_tau]}


def aborted_metadata(trip: SafetyTrip) -> dict:
    """What a stopped recording carries in its metadata (fit refuses it)."""
    return {"aborted": True, "abort_reason": trip.message, "abort_kind": trip.kind, "abort_time": round(trip.time, 4)}


@dataclass
class MonitoredRun:
    """A chirp run in simulation under the monitor: physics grid t [K+1], q, qd [K+1,6], tau [K,6]
    commanded, holding [K] (True once the hold is commanded), the trip (None: completed)."""

    t: np.ndarray
    q: np.ndarray
    qd: np.ndarray
    tau: np.ndarray
    holding: np.ndarray
    hold_pos: np.ndarray | None
    trip: SafetyTrip | None
    monitor: SafetyMonitor


def simulate_monitored_chirp(replay, targets, q0, params, monitor: SafetyMonitor, gains=None,
                             hold_time: float | None = None) -> MonitoredRun:
    """The recorder's behaviour in the sysid scene: stream `targets` (ChirpTargets) through the
    replay's closed loop (OSC with `gains`, default the replay's; the motor delay of `params`), feed
    every physics step to `monitor`; on a trip switch the target to the TCP pose measured then (the
    controller core's hold) and simulate `hold_time` more seconds (default: the monitor config's)."""
    import mujoco
    import torch

    from omnireset_control.osc import BatchedOsc

    from .params import dynamic_friction_torque

    dt = replay.physics_dt
    hold_time = monitor.config.hold_time if hold_time is None else float(hold_time)
    model = replay.model_for(params)
    data = mujoco.MjData(model)
    data.qpos[replay._arm_qpos] = np.asarray(q0, float)
    mujoco.mj_forward(model, data)
    osc = BatchedOsc(1, gains or replay.gains, torque_limit=replay.torque_limit, dtype=torch.float64,
                     control_dt=dt)
    chirp_steps = int(math.floor((targets.t[-1] - targets.t[0]) / dt + 1e-9))
    t_grid = targets.t[0] + np.arange(chirp_steps + 1) * dt
    idx = np.clip(np.searchsorted(targets.t, t_grid + 1e-9, side="right") - 1, 0, len(targets.t) - 1)
    from omnireset_control.rotations import quat_to_matrix

    tg_pos = torch.as_tensor(targets.target_pos[idx], dtype=torch.float64)
    tg_rot = quat_to_matrix(torch.as_tensor(targets.target_quat[idx], dtype=torch.float64))
    fifo: deque = deque([torch.zeros(1, 6, dtype=torch.float64)] * params.delay, maxlen=params.delay + 1)
    hold_pos = hold_rot = None
    qs, qds, taus, holding = [], [], [], []
    k, end = 0, chirp_steps
    while k < end:
        q = torch.as_tensor(data.qpos[replay._arm_qpos].copy())[None]
        qd = torch.as_tensor(data.qvel[replay._arm_dof].copy())[None]
        pos, rot, jac = replay.kin.forward_with_jacobian(q)
        if k == 0:
            qs.append(q[0].numpy())
            qds.append(qd[0].numpy())
        if hold_pos is None:
            tp, tr = tg_pos[k][None], tg_rot[k][None]
        else:
            tp, tr = hold_pos, hold_rot
        tau = osc.torque(jac, qd, pos, rot, tp, tr)
        fifo.append(tau)
        applied = fifo[0] + dynamic_friction_torque(qd, params.static_friction, params.dynamic_friction_ratio,
                                                    replay.stribeck_velocity)
        data.ctrl[replay._arm_act] = applied[0].numpy()
        mujoco.mj_step(model, data)
        taus.append(tau[0].numpy())
        holding.append(hold_pos is not None)
        q_new = data.qpos[replay._arm_qpos].copy()
        qd_new = data.qvel[replay._arm_dof].copy()
        qs.append(q_new)
        qds.append(qd_new)
        k += 1
        if hold_pos is None:
            tcp, _ = replay.kin.forward(torch.as_tensor(q_new)[None])
            if monitor.update(k * dt, q_new, qd_new, tau[0].numpy(), tcp[0].numpy()) is not None:
                # The controller core's hold: the target becomes the pose measured now.
                hold_pos, hold_rot = replay.kin.forward(torch.as_tensor(q_new)[None])
                end = k + int(round(hold_time / dt))
    t = np.arange(len(qs)) * dt
    return MonitoredRun(t=t, q=np.array(qs), qd=np.array(qds), tau=np.array(taus), holding=np.array(holding),
                        hold_pos=None if hold_pos is None else hold_pos[0].numpy(), trip=monitor.trip,
                        monitor=monitor)


__all__ = ["MonitoredRun", "SafetyConfig", "SafetyMonitor", "SafetyStop", "SafetyTrip", "aborted_metadata",
           "default_velocity_limits", "simulate_monitored_chirp"]
