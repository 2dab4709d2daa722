"""ROS test helpers (tests and bench/): an in-process rclpy node spun in a thread, node subprocesses that are
cleaned up, and a fake robot that speaks the drivers' topic names and message types."""

from __future__ import annotations

import array
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, JointState

from omnireset_control.constants import ARM_JOINT_NAMES
from omnireset_policy.policy_node import DEFAULT_GRIPPER_JOINT

Q_HOME = [0.1, -1.4, 1.6, -1.7, -1.57, 0.3]


class RosHarness:
    """One rclpy context + node for the test process, spun by a background thread."""

    def __init__(self, name: str = "test_harness", use_sim_time: bool = False):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        overrides = [Parameter("use_sim_time", Parameter.Type.BOOL, True)] if use_sim_time else []
        self.node = rclpy.create_node(name, context=self.context, parameter_overrides=overrides)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self._subscriptions: dict = {}
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down while spinning
                break

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def collect(self, msg_type, topic: str, qos=None):
        """Subscribe and append (receive time s, msg) to the returned list."""
        received: list = []

        def cb(msg):
            with self.lock:
                received.append((time.monotonic(), msg))
        self._subscriptions[id(received)] = self.node.create_subscription(msg_type, topic, cb,
                                                                          qos or QoSProfile(depth=50))
        return received

    def stop_collecting(self, received) -> None:
        self.node.destroy_subscription(self._subscriptions.pop(id(received)))

    def call(self, srv_type, name: str, request, timeout: float = 10.0):
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} not available")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"service {name} did not answer")
            time.sleep(0.01)
        return future.result()

    def close(self):
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        self._thread.join(timeout=2.0)


class SimClock:
    """Publishes /clock from a thread: sim time advances ``step`` s every ``step / real_time_factor``
    s of wall time (a simulator running slower or faster than real time)."""

    def __init__(self, harness: RosHarness, real_time_factor: float = 0.5, step: float = 0.005, start: float = 100.0):
        self.pub = harness.node.create_publisher(Clock, "/clock", 10)
        self.sim_time = start
        self.step = step
        self.period = step / real_time_factor
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        next_wall = time.monotonic()
        while not self._stop.is_set():
            msg = Clock()
            sec, frac = divmod(self.sim_time, 1.0)
            msg.clock.sec, msg.clock.nanosec = int(sec), int(round(frac * 1e9))
            self.pub.publish(msg)
            self.sim_time += self.step
            next_wall += self.period
            time.sleep(max(0.0, next_wall - time.monotonic()))

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2.0)


def wait_for(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class NodeProcess:
    """A node in its own process (``python -m module --ros-args ...``); stop() always reaps it."""

    def __init__(self, module: str, params: dict, env: dict, log_dir: Path):
        args = [sys.executable, "-m", module, "--ros-args"]
        for key, value in params.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (list, tuple)):
                value = "[" + ",".join(str(v) for v in value) + "]"
            args += ["-p", f"{key}:={value}"]
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{module.rsplit('.', 1)[-1]}.{os.getpid()}.{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def kill(self):
        """SIGKILL, as a crash: no chance to say goodbye."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()


class FakeRobot:
    """Publishes what the arm driver, object tracker and cameras would: /joint_states (with the
    gripper joint), object PoseStamped, and realsense2_camera-named Images, stamped with the ROS clock."""

    def __init__(self, harness: RosHarness, joint_rate: float = 100.0, pose_rate: float = 30.0,
                 camera_topics=(), camera_rate: float = 30.0, image_size=(32, 32),
                 target_topic="/omnireset/object_pose/target", receptive_topic="/omnireset/object_pose/receptive",
                 camera_fy: float | None = None, split_gripper: bool = False):
        node = harness.node
        self.harness = harness
        self.q = list(Q_HOME)
        self.encodings = {t: "rgb8" for t in camera_topics}
        self.enabled = {"joints": True, "gripper": True, "target": True, "receptive": True,
                        **{t: True for t in camera_topics}}
        # The robot: the arm's and the gripper's joint_state_broadcasters publish separate messages
        # on /joint_states (two controller managers); the sim: one message with both.
        self.split_gripper = split_gripper
        self.joint_pub = node.create_publisher(JointState, "/joint_states", 10)
        self.pose_pubs = {"target": node.create_publisher(PoseStamped, target_topic, 10),
                          "receptive": node.create_publisher(PoseStamped, receptive_topic, 10)}
        self.image_pubs = {t: node.create_publisher(Image, t, 10) for t in camera_topics}
        # realsense2_camera's CameraInfo beside each image (.../color/camera_info); fy settable at run time
        self.camera_fy = camera_fy
        self.info_pubs = {t: node.create_publisher(CameraInfo, t.rsplit("/", 1)[0] + "/camera_info", 10)
                          for t in camera_topics} if camera_fy is not None else {}
        self.image_size = image_size
        self._frame = 0
        self.timers = [node.create_timer(1.0 / joint_rate, self._joints),
                       node.create_timer(1.0 / pose_rate, self._poses)]
        if camera_topics:
            self.timers.append(node.create_timer(1.0 / camera_rate, self._images))

    def _stamp(self, msg):
        msg.header.stamp = self.harness.node.get_clock().now().to_msg()

    def _joints(self):
        gripper = self.enabled["gripper"]
        if self.enabled["joints"]:
            msg = JointState()
            self._stamp(msg)
            msg.name = list(ARM_JOINT_NAMES) + ([] if self.split_gripper or not gripper else [DEFAULT_GRIPPER_JOINT])
            msg.position = [float(v) for v in self.q] + [0.0] * (len(msg.name) - len(ARM_JOINT_NAMES))
            self.joint_pub.publish(msg)
        if self.split_gripper and gripper:
            msg = JointState()
            self._stamp(msg)
            msg.name, msg.position = [DEFAULT_GRIPPER_JOINT], [0.0]
            self.joint_pub.publish(msg)

    def _poses(self):
        for key, position in (("target", (0.45, 0.1, 0.02)), ("receptive", (0.35, -0.15, 0.0))):
            if not self.enabled[key]:
                continue
            msg = PoseStamped()
            self._stamp(msg)
            msg.header.frame_id = "base_link"
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = position
            msg.pose.orientation.w = 1.0
            self.pose_pubs[key].publish(msg)

    def _images(self):
        self._frame += 1
        h, w = self.image_size
        pixels = np.full((h, w, 3), self._frame % 256, dtype=np.uint8).tobytes()
        for topic, pub in self.image_pubs.items():
            if not self.enabled[topic]:
                continue
            msg = Image()
            self._stamp(msg)
            msg.height, msg.width = h, w
            msg.encoding = self.encodings[topic]
            msg.step = 3 * w if msg.encoding in ("rgb8", "bgr8") else w
            msg.data = array.array("B", pixels[: msg.step * h])
            pub.publish(msg)
            if topic in self.info_pubs:
                info = CameraInfo()
                info.header = msg.header
                info.height, info.width = h, w
                f = float(self.camera_fy)
                info.k = [f, 0.0, w / 2.0, 0.0, f, h / 2.0, 0.0, 0.0, 1.0]
                self.info_pubs[topic].publish(info)
