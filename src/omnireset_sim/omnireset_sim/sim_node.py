"""The MuJoCo scene of a task standing in for the robot cell, speaking the drivers' topics.

Publishes (sim time, on /clock): ``/joint_states`` (arm joints + the Robotiq knuckle joint, every
physics step = 120 Hz), the object poses (``geometry_msgs/PoseStamped``, ``base_link``), the three
camera images ``/<camera_namespace>/<name>/color/image_raw`` (rgb8, 224x224 at 30 Hz by default,
optional), the controller state (``omnireset_msgs/OscControllerState``) and an
``omnireset_msgs/EpisodeOutcome`` per finished attempt (the success ground truth).
Consumes ``omnireset_msgs/PoseDelta`` on ``command_topic`` through omnireset_control's controller
core (same rules as the C++ controller) and law, applied at every physics step.
Services: ``~/reset_episode`` (omnireset_msgs/ResetEpisode), ``~/pin_arm`` (std_srvs/SetBool:
fault injection, holds every arm joint still as if blocked).

Physics runs in its own thread, paced to at most ``real_time_factor`` x wall time; with cameras on,
CPU rendering (~20-40 ms a frame) makes it slower than real time and every node follows /clock.
"""

from __future__ import annotations

import array
import math
import sys
import threading
import time

import rclpy
from builtin_interfaces.msg import Time
from rclpy.executors import ExternalShutdownException
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import SetBool

from omnireset_msgs.msg import EpisodeOutcome, OscControllerState, PoseDelta
from omnireset_msgs.srv import ResetEpisode

from omnireset_control.constants import OscGains
from omnireset_control.controller_core import CommandStatus
from omnireset_control.rotations import matrix_to_quat
from omnireset_policy.image_fit import pinhole_k
from omnireset_policy.node_common import (STARTUP_ERROR_EXIT, StartupError, check_no_unknown_parameters, declare,
                                          ns_to_stamp, stamp_to_ns, startup_error_line)

from .assets.arm import ArmConfig
from .assets.scene import SceneConfig
from .sim_core import SUCCESS_HOLD_S, SimCore, SimCoreConfig

_KNOWN = {
    "task": ("peg_insertion", "Task name (python -m omnireset_sim.list_tasks)."),
    "variant": ("easy", "Task variant: easy | hard."),
    "robot": ("ur7e", "UR model of the simulated arm (ur3e, ur5e, ur7e, ur10e ...)."),
    "seed": (0, "Seed of the reset sampler."),
    "real_time_factor": (1.0, "Upper bound of sim speed relative to wall time (<= 0: as fast as possible)."),
    "base_frame": ("base_link", "Frame of every published pose; commands in another frame are rejected."),
    "command_topic": ("/omnireset/command", "PoseDelta input (the supervisor's relay)."),
    "controller_state_topic": ("/omnireset/controller/state", "OscControllerState output."),
    "controller_state_rate_hz": (50.0, "OscControllerState rate (sim time)."),
    "joint_states_topic": ("/joint_states", "JointState output."),
    "joint_state_rate_hz": (120.0, "JointState rate (sim time; at most the physics rate, 120 Hz)."),
    "target_pose_topic": ("/omnireset/object_pose/target", "Target object PoseStamped output."),
    "receptive_pose_topic": ("/omnireset/object_pose/receptive", "Receptive object PoseStamped output."),
    "object_pose_rate_hz": (30.0, "Object pose rate (sim time)."),
    "episode_outcome_topic": ("/omnireset/episode_outcome", "EpisodeOutcome output."),
    "publish_cameras": (False, "Render and publish the camera images."),
    "camera_namespace": ("camera", "Camera topics: /<namespace>/<name>/color/image_raw."),
    "camera_names": (["front", "side", "wrist"], "Cameras (names of the scene's cameras)."),
    "camera_rate_hz": (30.0, "Camera rate (sim time)."),
    "image_width": (224, "Image width, px."),
    "image_height": (224, "Image height, px."),
    "muted_cameras": ([""], "Fault injection: cameras rendered but not published (settable at run time)."),
    "osc_kp": ([200.0, 200.0, 200.0, 3.0, 3.0, 3.0], "OSC stiffness per axis (training gains by default)."),
    "osc_zeta": ([3.0, 3.0, 3.0, 1.0, 1.0, 1.0], "OSC damping ratio per axis."),
    "command_timeout": (0.5, "s without a command before the arm holds its pose."),
    "attempt_timeout": (0.0, "s of sim time before an attempt counts as failed and the scene resets "
                             "(0: the task's training episode, 16 s; the threaded leg's 40 s)."),
    "success_hold": (SUCCESS_HOLD_S, "s the success condition must hold before the attempt counts as a success."),
}


class SimNode(Node):
    def __init__(self):
        super().__init__("sim_node", allow_undeclared_parameters=False,
                         automatically_declare_parameters_from_overrides=False)
        self.p = self._read_parameters()
        cfg = SimCoreConfig(task=self.p["task"], variant=self.p["variant"], seed=int(self.p["seed"]),
                            gains=OscGains(kp=tuple(self.p["osc_kp"]), zeta=tuple(self.p["osc_zeta"])),
                            command_timeout=self.p["command_timeout"], attempt_timeout=self.p["attempt_timeout"],
                            success_hold=self.p["success_hold"], robot=self.p["robot"],
                            scene=SceneConfig(arm=ArmConfig(robot=self.p["robot"])))
        try:
            self.core = SimCore(cfg)
        except (ValueError, KeyError) as exc:
            raise StartupError(str(exc)) from exc
        if self.p["publish_cameras"]:
            scene_cams = {self.core.engine.model.camera(i).name for i in range(self.core.engine.model.ncam)}
            unknown = sorted(set(self.p["camera_names"]) - scene_cams)
            if unknown:
                raise StartupError(f"unknown camera(s) {unknown}; the scene has {sorted(scene_cams)}")
        self.lock = threading.Lock()
        self.pending: PoseDelta | None = None
        self.wrong_frame = 0
        self.outcome_count = 0
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_clock = self.create_publisher(Clock, "/clock", 10)
        self.pub_js = self.create_publisher(JointState, self.p["joint_states_topic"], 10)
        self.pub_target = self.create_publisher(PoseStamped, self.p["target_pose_topic"], 10)
        self.pub_receptive = self.create_publisher(PoseStamped, self.p["receptive_pose_topic"], 10)
        self.pub_state = self.create_publisher(OscControllerState, self.p["controller_state_topic"], 10)
        self.pub_outcome = self.create_publisher(EpisodeOutcome, self.p["episode_outcome_topic"], reliable)
        self.pub_cams, self.pub_cam_info, self.cam_k = {}, {}, {}
        if self.p["publish_cameras"]:
            ns = self.p["camera_namespace"].strip("/")
            model = self.core.engine.model
            for cam in self.p["camera_names"]:
                self.pub_cams[cam] = self.create_publisher(Image, f"/{ns}/{cam}/color/image_raw",
                                                           qos_profile_sensor_data)
                # realsense2_camera publishes each stream's intrinsics beside it; so does the sim:
                # MuJoCo's pinhole at the rendered size (the policy node checks its field of view)
                self.pub_cam_info[cam] = self.create_publisher(CameraInfo, f"/{ns}/{cam}/color/camera_info",
                                                               qos_profile_sensor_data)
                self.cam_k[cam] = pinhole_k(float(model.cam_fovy[model.camera(cam).id]),
                                            self.p["image_width"], self.p["image_height"])
        self.create_subscription(PoseDelta, self.p["command_topic"], self._on_command, reliable)
        self.create_service(ResetEpisode, "~/reset_episode", self._on_reset)
        self.create_service(SetBool, "~/pin_arm", self._on_pin)
        self.muted = {c for c in self.p["muted_cameras"] if c}
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.running = True
        self.thread = threading.Thread(target=self._physics_loop, name="physics", daemon=True)
        self.get_logger().info(
            f"sim: task {self.p['task']}/{self.p['variant']}, cameras {'on' if self.pub_cams else 'off'}, "
            f"real-time factor {self.p['real_time_factor']}")

    # ---- parameters ----------------------------------------------------------------------------
    def _read_parameters(self) -> dict:
        values = {name: declare(self, name, default, description)
                  for name, (default, description) in _KNOWN.items()}
        check_no_unknown_parameters(self)
        for name in ("osc_kp", "osc_zeta"):
            v = list(values[name])
            if len(v) != 6 or not all(math.isfinite(x) and x > 0 for x in v):
                raise StartupError(f"{name} needs 6 finite positive values, got {v}")
        for name in ("joint_state_rate_hz", "object_pose_rate_hz", "camera_rate_hz", "controller_state_rate_hz",
                     "command_timeout"):
            if not (isinstance(values[name], (int, float)) and values[name] > 0):
                raise StartupError(f"{name} must be > 0, got {values[name]!r}")
        timeout = values["attempt_timeout"]
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout >= 0):
            raise StartupError(f"attempt_timeout must be >= 0 (0: the task's episode), got {timeout!r}")
        if self.get_parameter("use_sim_time").value:
            raise StartupError("the sim node publishes /clock itself; do not set use_sim_time on it")
        return values

    # ---- callbacks (executor thread) -----------------------------------------------------------
    def _on_command(self, msg: PoseDelta) -> None:
        with self.lock:
            self.pending = msg

    def _on_reset(self, request, response):
        if request.reset_type not in ("", "reaching", "default"):
            response.success = False
            response.message = (f"reset type {request.reset_type!r} needs a reset dataset; this sim node samples "
                                f"{self.core.sampler.reset_type_names} (reaching/default)")
            return response
        with self.lock:
            self.core.reset(seed=int(request.seed))
            self.pending = None
        response.success = True
        response.message = f"reset ({self.core.reset_type}) at sim time {self.core.time:.3f} s"
        return response

    def _on_pin(self, request, response):
        with self.lock:
            self.core.pin_arm(bool(request.data))
        response.success = True
        response.message = "arm pinned" if request.data else "arm released"
        return response

    def _on_set_parameters(self, params):
        from rcl_interfaces.msg import SetParametersResult

        for param in params:
            if param.name == "muted_cameras":
                self.muted = {c for c in param.value if c}
            elif param.name != "use_sim_time":
                return SetParametersResult(successful=False, reason=f"{param.name} is fixed after start-up")
        return SetParametersResult(successful=True)

    # ---- physics thread ------------------------------------------------------------------------
    def _every(self, rate_hz: float) -> int:
        return max(1, round(1.0 / (rate_hz * self.core.dt)))

    def _physics_loop(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - a dead physics thread must take the node down
            self.get_logger().fatal(f"physics loop failed: {exc!r}")
            self.running = False
            self.failed = exc

    def _run(self) -> None:
        p = self.p
        n_js, n_obj = self._every(p["joint_state_rate_hz"]), self._every(p["object_pose_rate_hz"])
        n_cam, n_state = self._every(p["camera_rate_hz"]), self._every(p["controller_state_rate_hz"])
        rtf = float(p["real_time_factor"])
        wall0, sim0 = time.monotonic(), self.core.time
        while self.running and rclpy.ok():
            with self.lock:
                cmd, self.pending = self.pending, None
                if cmd is not None:
                    self._apply(cmd)
                outcome = self.core.step()
                steps, now = self.core.steps, self.core.time
                stamp = Time()
                ns_to_stamp(int(round(now * 1e9)), stamp)
                self.pub_clock.publish(Clock(clock=stamp))
                if steps % n_js == 0:
                    self._publish_joint_states(stamp)
                if steps % n_obj == 0:
                    self._publish_objects(stamp)
                if steps % n_state == 0:
                    self._publish_controller_state(stamp)
                images = {cam: self.core.render(cam, p["image_width"], p["image_height"])
                          for cam in self.pub_cams} if self.pub_cams and steps % n_cam == 0 else {}
            for cam, img in images.items():
                if cam not in self.muted:
                    self._publish_image(cam, img, stamp)
            if outcome is not None:
                self.outcome_count += 1
                self.pub_outcome.publish(EpisodeOutcome(
                    header=self._header(stamp), success=outcome.success, first_try=outcome.first_try,
                    duration=outcome.duration, source="sim"))
            if rtf > 0:
                ahead = (now - sim0) / rtf - (time.monotonic() - wall0)
                if ahead > 0:
                    time.sleep(ahead)
                elif ahead < -1.0:  # far behind (rendering): do not try to catch up later
                    wall0, sim0 = time.monotonic(), now

    def _apply(self, cmd: PoseDelta) -> None:
        if cmd.header.frame_id not in ("", self.p["base_frame"]):
            self.wrong_frame += 1
            self.get_logger().warn(f"command in frame {cmd.header.frame_id!r} rejected (expected "
                                   f"{self.p['base_frame']!r})", throttle_duration_sec=5.0)
            return
        status = self.core.command(list(cmd.action), list(cmd.scale), cmd.gripper == PoseDelta.GRIPPER_CLOSE,
                                   stamp=stamp_to_ns(cmd.header.stamp) * 1e-9)
        if status is not CommandStatus.ACCEPTED:
            self.get_logger().warn(f"command {cmd.step_id} {status.value}", throttle_duration_sec=5.0)

    def _header(self, stamp: Time):
        from std_msgs.msg import Header

        return Header(stamp=stamp, frame_id=self.p["base_frame"])

    def _publish_joint_states(self, stamp: Time) -> None:
        q, qd = self.core.joint_pos(), self.core.joint_vel()
        tau = self.core.last_tick.torque.numpy()
        msg = JointState(header=self._header(stamp))
        msg.name = list(self.core.joint_names())
        msg.position = [*map(float, q), self.core.gripper_knuckle()]
        msg.velocity = [*map(float, qd), 0.0]
        msg.effort = [*map(float, tau), 0.0]
        self.pub_js.publish(msg)

    def _publish_objects(self, stamp: Time) -> None:
        poses = self.core.object_poses()
        for key, pub in (("target", self.pub_target), ("receptive", self.pub_receptive)):
            pos, quat = poses[key]
            msg = PoseStamped(header=self._header(stamp))
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = map(float, pos)
            msg.pose.orientation.w, msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z = map(
                float, quat)
            pub.publish(msg)

    def _publish_controller_state(self, stamp: Time) -> None:
        out, ctl = self.core.last_tick, self.core.controller
        msg = OscControllerState(header=self._header(stamp))
        for pose, pos, rot in ((msg.current, out.current_pos, out.current_rot),
                               (msg.target, out.target_pos, out.target_rot)):
            pose.position.x, pose.position.y, pose.position.z = map(float, pos)
            w, x, y, z = matrix_to_quat(rot[None])[0].tolist()
            pose.orientation.w, pose.orientation.x, pose.orientation.y, pose.orientation.z = w, x, y, z
        msg.error = [float(v) for v in out.error]
        msg.joint_names = list(self.core.joint_names()[:6])
        msg.torque = [float(v) for v in out.torque]
        msg.holding = bool(out.holding)
        msg.rejected_commands = ctl.rejected_commands + self.wrong_frame
        msg.rejected_states = ctl.nonfinite_states
        msg.timeouts = ctl.timeouts
        msg.torque_clipped_samples = 0
        msg.command_age = float(ctl.command_age(self.core.time))
        self.pub_state.publish(msg)

    def _publish_image(self, cam: str, img, stamp: Time) -> None:
        msg = Image()
        msg.header.stamp = stamp
        msg.header.frame_id = f"{cam}_color_optical_frame"
        msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
        msg.encoding = "rgb8"
        msg.is_bigendian = 0
        msg.step = msg.width * 3
        msg.data = array.array("B", img.tobytes())  # the fast path of rclpy's sequence<uint8> setter
        self.pub_cams[cam].publish(msg)
        info = CameraInfo()
        info.header = msg.header
        info.height, info.width = msg.height, msg.width
        info.distortion_model = "plumb_bob"
        info.d = [0.0] * 5
        info.k = self.cam_k[cam]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = self.cam_k[cam][:3] + [0.0] + self.cam_k[cam][3:6] + [0.0] + [0.0, 0.0, 1.0, 0.0]
        self.pub_cam_info[cam].publish(info)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.running = False
        if self.thread.is_alive():
            self.thread.join(timeout=5.0)
        self.core.close()


def main(argv: list[str] | None = None) -> int:
    node = None
    try:
        try:
            rclpy.init(args=argv)
            node = SimNode()
        except Exception as exc:  # noqa: BLE001 - start-up errors are final: one line, exit 2
            print(startup_error_line("sim_node", exc), file=sys.stderr, flush=True)
            return STARTUP_ERROR_EXIT
        node.start()
        while rclpy.ok() and node.running:
            rclpy.spin_once(node, timeout_sec=0.1)
        if getattr(node, "failed", None) is not None:
            return 1
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
