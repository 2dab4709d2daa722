"""Robot-side recording: stream the chirp to the OSC controller over ROS and record the response.

The controller consumes `omnireset_msgs/PoseDelta` (target = its current TCP pose (+) action*scale,
composed on arrival, left composition for rotation). To command ABSOLUTE chirp targets, every
message carries scale = 1 and the delta from the newest measured TCP pose (FK of the newest
/joint_states, the same kinematics as the controller) to the target:
    action[:3] = target_pos - pos,   action[3:] = axis_angle(target_rot @ rot^T).
The residual is the pose change between our joint sample and the controller's (one 2 ms tick at
most speeds ~1 mm / a few mrad); it is the reason the recording keeps the targets we *intended*.
(A controller input for absolute targets would remove it: see the sysid notes in the report.)

Recorded: /joint_states (q, qd, effort = measured joint torque when the driver fills it, else the
controller's commanded torque from OscControllerState, held between its 50 Hz messages) and the
streamed targets, resampled onto a uniform grid at `record_rate`. Raw gaps longer than
`max_gap_samples` samples (lost messages) abort the recording instead of being interpolated over.

Safety (safety.py): every joint sample of the chirp goes through a `SafetyMonitor` (joint speed
and torque against the limits, TCP workspace, oscillation). On a trip the node stops the chirp and
streams a hold -- the TCP pose measured at the trip, the controller core's own hold -- for
`safety.hold_time` seconds, then `record_chirp` raises `SafetyStop` with the one-line reason; the
CLI writes what was recorded as `<out>.aborted.npz` (metadata `aborted`, which `fit` refuses) and
exits 3. Any other failure while the chirp runs (lost messages, timeout, Ctrl-C) also commands the
hold before the error propagates.

Pure-Python cores (`ChirpStreamer`, `RecordingAssembler`, `SafetyMonitor`) carry the logic; the node
wires them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from omnireset_control.constants import PHYSICS_DT, ARM_JOINT_NAMES, CONTROLLER_RATE_HZ
from omnireset_control.rotations import matrix_to_axis_angle, quat_to_matrix

from .chirp import ChirpTargets
from .recording import Recording, RecordingError, git_revision
from .safety import SafetyConfig, SafetyMonitor, SafetyStop, SafetyTrip, aborted_metadata, default_velocity_limits

COMMAND_TOPIC = "/omnireset/command"  # omnireset_bringup.graph.TOPICS["command"]
JOINT_STATES_TOPIC = "/joint_states"
CONTROLLER_STATE_TOPIC = "/osc_torque_controller/state"
# Where each source listens / reports: the ros2_control controller on the robot, the sim node
# (omnireset_sim.sim_node) in simulation.
SOURCE_TOPICS = {
    "real": {"command_topic": "/osc_torque_controller/command", "controller_state_topic": CONTROLLER_STATE_TOPIC},
    "sim": {"command_topic": COMMAND_TOPIC, "controller_state_topic": "/omnireset/controller/state"},
}
BASE_FRAME = "base_link"
MAX_GAP_SAMPLES = 5


class ChirpStreamer:
    """Which chirp target is due at a given elapsed time, and the unit-scale delta that commands it."""

    def __init__(self, targets: ChirpTargets):
        self.targets = targets
        self._rot = quat_to_matrix(torch.as_tensor(targets.target_quat, dtype=torch.float64))

    @property
    def duration(self) -> float:
        return float(self.targets.t[-1] - self.targets.t[0])

    def index_at(self, elapsed: float) -> int:
        return int(np.clip(math.floor(elapsed * self.targets.rate + 1e-9), 0, len(self.targets.t) - 1))

    def command(self, elapsed: float, pos, rot) -> tuple[np.ndarray, int]:
        """action [6] (to send with scale 1) for the target due at `elapsed`, and that target's index."""
        i = self.index_at(elapsed)
        pos = torch.as_tensor(np.asarray(pos, dtype=np.float64)).reshape(1, 3)
        rot = torch.as_tensor(np.asarray(rot, dtype=np.float64)).reshape(1, 3, 3)
        dpos = torch.as_tensor(self.targets.target_pos[i])[None] - pos
        drot = matrix_to_axis_angle(self._rot[i][None] @ rot.transpose(-1, -2))
        return torch.cat((dpos, drot), dim=-1)[0].numpy(), i


def hold_command(hold_pos, hold_rot, pos, rot) -> np.ndarray:
    """Unit-scale action [6] that commands the absolute pose (hold_pos, hold_rot) from the measured
    TCP pose (pos, rot): the hold target, streamed the same way as the chirp's targets."""
    hold_pos = torch.as_tensor(np.asarray(hold_pos, dtype=np.float64)).reshape(1, 3)
    hold_rot = torch.as_tensor(np.asarray(hold_rot, dtype=np.float64)).reshape(1, 3, 3)
    pos = torch.as_tensor(np.asarray(pos, dtype=np.float64)).reshape(1, 3)
    rot = torch.as_tensor(np.asarray(rot, dtype=np.float64)).reshape(1, 3, 3)
    drot = matrix_to_axis_angle(hold_rot @ rot.transpose(-1, -2))
    return torch.cat((hold_pos - pos, drot), dim=-1)[0].numpy()


class RecordingAssembler:
    """Collects time-stamped samples (seconds, one clock) and builds a uniform-rate Recording."""

    def __init__(self, joint_names=ARM_JOINT_NAMES, max_gap_samples: int = MAX_GAP_SAMPLES):
        self.joint_names = tuple(joint_names)
        self.max_gap_samples = max_gap_samples
        self.joints: list[tuple[float, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.targets: list[tuple[float, np.ndarray, np.ndarray]] = []
        self.torques: list[tuple[float, np.ndarray]] = []

    def _order(self, names, values, what: str) -> np.ndarray:
        index = {n: i for i, n in enumerate(names)}
        missing = [n for n in self.joint_names if n not in index]
        if missing:
            raise RecordingError(f"{what} lacks joints {missing}")
        if len(values) != len(names):
            raise RecordingError(f"{what}: {len(values)} values for {len(names)} names")
        return np.array([values[index[n]] for n in self.joint_names], dtype=np.float64)

    def add_joint_state(self, stamp: float, names, position, velocity, effort) -> None:
        q = self._order(names, list(position), "joint_states position")
        qd = self._order(names, list(velocity), "joint_states velocity") if len(velocity) else None
        if qd is None:
            raise RecordingError("joint_states carry no velocities; the recording needs them")
        tau = self._order(names, list(effort), "joint_states effort") if len(effort) else None
        self.joints.append((float(stamp), q, qd, tau))

    def add_target(self, stamp: float, pos, quat) -> None:
        self.targets.append((float(stamp), np.asarray(pos, float).copy(), np.asarray(quat, float).copy()))

    def add_controller_torque(self, stamp: float, names, torque) -> None:
        self.torques.append((float(stamp), self._order(names, list(torque), "controller state torque")))

    def build(self, rate: float, metadata: dict | None = None) -> Recording:
        """Uniform grid from the first target to the last joint sample, at `rate` Hz."""
        if len(self.joints) < 3 or not self.targets:
            raise RecordingError(f"too little data: {len(self.joints)} joint samples, {len(self.targets)} targets")
        js_t = np.array([s[0] for s in self.joints])
        order = np.argsort(js_t, kind="stable")
        js_t = js_t[order]
        gaps = np.diff(js_t)
        if (gaps <= 0).any():
            keep = np.concatenate([[True], gaps > 0])  # duplicate stamps: keep the first
            order, js_t = order[keep], js_t[keep]
            gaps = np.diff(js_t)
        limit = self.max_gap_samples / rate
        if (gaps > limit).any():
            i = int(np.argmax(gaps > limit))
            raise RecordingError(f"joint_states gap of {gaps[i] * 1e3:.1f} ms at t={js_t[i] - js_t[0]:.3f} s "
                                 f"(more than {self.max_gap_samples} samples at {rate} Hz): messages were lost")
        q = np.stack([self.joints[i][1] for i in order])
        qd = np.stack([self.joints[i][2] for i in order])
        tg_t = np.array([s[0] for s in self.targets])
        start = max(tg_t[0], js_t[0])
        n = int(math.floor((js_t[-1] - start) * rate + 1e-9)) + 1
        if n < 3:
            raise RecordingError("the joint samples do not overlap the streamed targets")
        t = start + np.arange(n) / rate

        def interp(stamps, values):
            return np.stack([np.interp(t, stamps, values[:, j]) for j in range(values.shape[1])], axis=1)

        efforts = [self.joints[i][3] for i in order]
        if all(e is not None for e in efforts):
            tau, tau_source = interp(js_t, np.stack(efforts)), "joint_states.effort"
        elif self.torques:
            tt = np.array([s[0] for s in self.torques])
            held = np.clip(np.searchsorted(tt, t, side="right") - 1, 0, len(tt) - 1)
            tau, tau_source = np.stack([s[1] for s in self.torques])[held], "controller_state.torque (held)"
        else:
            tau, tau_source = np.zeros((n, len(self.joint_names))), "none"
        idx = np.clip(np.searchsorted(tg_t, t + 1e-9, side="right") - 1, 0, len(tg_t) - 1)
        meta = {"torque_source": tau_source, "raw_joint_samples": int(len(js_t)), "git_rev": git_revision(),
                **(metadata or {})}
        return Recording(t=t - t[0], q=interp(js_t, q), qd=interp(js_t, qd), tau=tau,
                         target_pos=np.stack([self.targets[i][1] for i in idx]),
                         target_quat=np.stack([self.targets[i][2] for i in idx]), rate=rate,
                         joint_names=self.joint_names, metadata=meta)


def _stamp(msg_stamp) -> float:
    return float(msg_stamp.sec) + 1e-9 * float(msg_stamp.nanosec)


def make_recorder_node(targets: ChirpTargets, kinematics_params, record_rate: float = float(CONTROLLER_RATE_HZ),
                       command_topic: str = COMMAND_TOPIC, joint_states_topic: str = JOINT_STATES_TOPIC,
                       controller_state_topic: str = CONTROLLER_STATE_TOPIC, stream_rate: float | None = None,
                       use_sim_time: bool = False, safety: SafetyConfig | None = None, velocity_limits=None):
    """An rclpy node that streams `targets` once started (`node.start()`) and fills an assembler.
    ``use_sim_time``: follow /clock (the sim node stamps its joint states in sim time).
    ``safety`` / ``velocity_limits``: the monitor's thresholds (default SafetyConfig(), the UR7e's
    joint speed limits)."""
    from rclpy.parameter import Parameter
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState

    from omnireset_control.kinematics import BatchedKinematics
    from omnireset_msgs.msg import OscControllerState, PoseDelta

    class SysidRecorderNode(Node):
        def __init__(self):
            super().__init__("sysid_recorder",
                             parameter_overrides=[Parameter("use_sim_time", value=bool(use_sim_time))])
            self.assembler = RecordingAssembler()
            self.streamer = ChirpStreamer(targets)
            self.kin = BatchedKinematics(kinematics_params, dtype=torch.float64)
            self.latest_q: np.ndarray | None = None
            self.started_at: float | None = None
            self.finished = False
            self.error: str | None = None
            self.sent = 0
            self.monitor = SafetyMonitor(safety or SafetyConfig(), velocity_limits)
            self.trip: SafetyTrip | None = None
            self.hold_pose: tuple[np.ndarray, np.ndarray] | None = None
            self.hold_until: float | None = None
            self.hold_sent = 0
            self.latest_torque: np.ndarray | None = None
            self.pub = self.create_publisher(PoseDelta, command_topic, QoSProfile(depth=10))
            # Best effort like the drivers, but a deep queue: a busy recorder must not drop samples.
            deep = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
            self.create_subscription(JointState, joint_states_topic, self._on_joints, deep)
            self.create_subscription(OscControllerState, controller_state_topic, self._on_state, QoSProfile(depth=50))
            self.timer = self.create_timer(1.0 / (stream_rate or targets.rate), self._tick)

        def now(self) -> float:
            return self.get_clock().now().nanoseconds * 1e-9

        def _on_joints(self, msg) -> None:
            try:
                self.latest_q = self.assembler._order(list(msg.name), list(msg.position), "joint_states position")
            except RecordingError as exc:
                self.error = str(exc)
                return
            if self.started_at is not None and not self.finished and self.trip is None:
                try:
                    stamp = _stamp(msg.header.stamp)
                    self.assembler.add_joint_state(stamp, msg.name, msg.position, msg.velocity, msg.effort)
                except RecordingError as exc:
                    self.error = str(exc)
                    return
                _, q, qd, effort = self.assembler.joints[-1]
                tau = effort if effort is not None else self.latest_torque
                tcp, _ = self.kin.forward(torch.as_tensor(q)[None])
                trip = self.monitor.update(stamp, q, qd, tau, tcp[0].numpy())
                if trip is not None:
                    self.stop_to_hold(trip)

        def _on_state(self, msg) -> None:
            if self.started_at is not None and not self.finished and len(msg.torque):
                try:
                    self.assembler.add_controller_torque(_stamp(msg.header.stamp), msg.joint_names, msg.torque)
                    self.latest_torque = self.assembler.torques[-1][1]
                except RecordingError as exc:
                    self.error = str(exc)

        def stop_to_hold(self, trip: SafetyTrip) -> None:
            """Stop the chirp: from now on stream the TCP pose measured now, for hold_time seconds."""
            if self.trip is not None:
                return
            self.trip = trip
            self.get_logger().error(trip.message)
            self.command_hold()
            self.hold_until = self.now() + self.monitor.config.hold_time

        def command_hold(self) -> None:
            """Publish the hold (the pose measured at the first call; nothing if no joint state yet)."""
            if self.latest_q is None:
                return
            pos, rot = self.kin.forward(torch.as_tensor(self.latest_q)[None])
            if self.hold_pose is None:
                self.hold_pose = (pos[0].numpy(), rot[0].numpy())
            self._publish(hold_command(*self.hold_pose, pos[0].numpy(), rot[0].numpy()))
            self.hold_sent += 1

        def _publish(self, action):
            """Send one pose-delta command (scale 1: the action is already in metres / radians); returns its stamp."""
            msg = PoseDelta()
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = BASE_FRAME
            msg.action = [float(a) for a in action]
            msg.scale = [1.0] * 6
            msg.gripper = PoseDelta.GRIPPER_CLOSE
            msg.step_id = self.sent
            self.pub.publish(msg)
            self.sent += 1
            return msg.header.stamp

        def start(self) -> None:
            self.started_at = self.now()

        def _tick(self) -> None:
            if self.started_at is None or self.finished or self.latest_q is None:
                return
            if self.trip is not None:
                self.command_hold()
                if self.now() >= self.hold_until:
                    self.finished = True
                return
            elapsed = self.now() - self.started_at
            if elapsed > self.streamer.duration:
                self.finished = True
                return
            pos, rot = self.kin.forward(torch.as_tensor(self.latest_q)[None])
            action, i = self.streamer.command(elapsed, pos[0].numpy(), rot[0].numpy())
            stamp = self._publish(action)
            self.assembler.add_target(_stamp(stamp), targets.target_pos[i], targets.target_quat[i])

    return SysidRecorderNode()


def record_chirp(node, timeout: float, executor=None) -> None:
    """Spin `node` until the joint states arrive, then stream the chirp to the end (or raise).
    A safety trip ends in `SafetyStop` after the hold; any other failure once the chirp has started
    commands the hold first, then propagates."""
    import rclpy

    deadline = time.monotonic() + timeout
    while node.latest_q is None:
        rclpy.spin_once(node, timeout_sec=0.05) if executor is None else executor.spin_once(timeout_sec=0.05)
        if node.error:
            raise RecordingError(node.error)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no joint states within {timeout} s")
    node.start()
    end = time.monotonic() + node.streamer.duration + node.monitor.config.hold_time + timeout
    try:
        while not node.finished:
            rclpy.spin_once(node, timeout_sec=0.01) if executor is None else executor.spin_once(timeout_sec=0.01)
            if node.error:
                raise RecordingError(node.error)
            if time.monotonic() > end:
                raise TimeoutError("chirp did not finish in time (is the clock running?)")
    except BaseException:
        try:
            node.command_hold()
        except Exception:  # noqa: BLE001 -- the original failure is the one to report
            pass
        raise
    if node.trip is not None:
        raise SafetyStop(node.trip)


def main(args) -> int:
    """`sysid ros-record`: chirp around the robot's current pose, record, write the .npz."""
    import rclpy

    from ..assets.arm import ArmConfig, load_arm_kinematics
    from .chirp import chirp_targets
    from .config import load_sysid_config

    cfg = load_sysid_config(args.config)
    params = load_arm_kinematics(ArmConfig(robot=cfg.robot, calibration=cfg.calibration))
    rclpy.init()
    try:
        # Start pose is where the robot stands now: the first joint sample decides it.
        topics = dict(SOURCE_TOPICS[args.source])
        topics.update({k: v for k, v in (("command_topic", getattr(args, "command_topic", None)),
                                         ("controller_state_topic", getattr(args, "controller_state_topic", None)))
                       if v})
        topics["use_sim_time"] = args.source == "sim"
        probe = make_recorder_node(chirp_targets(*_home(params, cfg.start_joints), cfg.chirp), params, **topics)
        deadline = time.monotonic() + args.settle_timeout
        while probe.latest_q is None and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.05)
        if probe.latest_q is None:
            raise TimeoutError(f"no {JOINT_STATES_TOPIC} within {args.settle_timeout} s")
        q_now = probe.latest_q
        probe.destroy_node()
        targets = chirp_targets(*_home(params, q_now), cfg.chirp)
        # The robot streams joint states at the controller rate (500 Hz); the sim node at its physics
        # rate (120 Hz): record on that grid so a gap means lost messages, not the source's rate.
        record_rate = cfg.chirp.rate if args.source == "real" else 1.0 / PHYSICS_DT
        node = make_recorder_node(targets, params, record_rate=record_rate, stream_rate=args.rate, safety=cfg.safety,
                                  velocity_limits=default_velocity_limits(cfg.robot), **topics)
        print(f"streaming a {targets.t[-1]:.1f} s chirp from q={np.round(q_now, 3).tolist()} ...")
        meta = {"robot": cfg.robot, "source": args.source, "calibration": cfg.calibration,
                "start_joints": q_now.tolist()}
        try:
            record_chirp(node, args.settle_timeout)
        except SafetyStop as stop:
            save_aborted(node, record_rate, {**meta, "targets_sent": node.sent}, args.out)
            raise stop
        except TimeoutError as exc:
            raise SafetyStop(SafetyTrip("failure", 0.0, f"recording failed ({exc}); the hold was commanded")) from None
        rec = node.assembler.build(record_rate, {**meta, "targets_sent": node.sent,
                                                 "safety": node.monitor.summary()})
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    rec.save(args.out)
    print(f"wrote {args.out}: {rec.num_samples} samples at {rec.rate} Hz")
    return 0


def aborted_path(out) -> Path:
    """Where a stopped recording goes: rec.npz -> rec.aborted.npz (never the requested name)."""
    out = Path(out)
    return out.with_name(out.stem + ".aborted" + (out.suffix or ".npz"))


def save_aborted(node, record_rate: float, metadata: dict, out) -> Path | None:
    """Write what was recorded before the trip, marked aborted (for diagnosis; `fit` refuses it)."""
    path = aborted_path(out)
    try:
        rec = node.assembler.build(record_rate, {**metadata, **aborted_metadata(node.trip),
                                                 "safety": node.monitor.summary()})
    except RecordingError as exc:
        print(f"no aborted recording written ({exc})")
        return None
    rec.save(path)
    print(f"wrote {path} (aborted: {rec.num_samples} samples; fit refuses it)")
    return path


def _home(params, q):
    from omnireset_control.kinematics import BatchedKinematics
    from omnireset_control.rotations import matrix_to_quat

    pos, rot = BatchedKinematics(params).forward(torch.as_tensor(np.asarray(q, dtype=np.float64))[None])
    return pos[0].numpy(), matrix_to_quat(rot)[0].numpy()


__all__ = ["COMMAND_TOPIC", "CONTROLLER_STATE_TOPIC", "ChirpStreamer", "JOINT_STATES_TOPIC", "RecordingAssembler",
           "aborted_path", "hold_command", "make_recorder_node", "record_chirp", "save_aborted"]
