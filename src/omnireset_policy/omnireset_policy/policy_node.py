"""policy_node: the 10 Hz deployment loop over an exported policy (thin adapter over the cores).

At every tick of a timer on the ROS clock (``use_sim_time`` honoured) it samples, per input, the
newest message stamped at or before the tick (``InputSampler``), refuses the tick when an input is
missing or older than ``max_input_age`` (publishing which one in PolicyStatus), builds the
observation, runs the policy (``policy_runner``) and publishes an ``omnireset_msgs/PoseDelta``.

Inputs: ``/joint_states`` (arm joints by name) and, when ``gripper_joint_name`` is set, that
joint's state as an input of its own (``/joint_states:<joint>``: on the robot the arm's and the
gripper's controller managers each run a joint_state_broadcaster, so the two arrive in separate
messages on the same topic; in sim one message carries both), for kind "state" two ``geometry_msgs/PoseStamped`` object poses in
``base_frame``, for kind "rgb" one ``sensor_msgs/Image`` per camera at
``/<camera_namespace>/<name>/color/image_raw`` (realsense2_camera naming) with its
``.../color/camera_info``. ``image_fit`` says how a frame becomes what the policy sees
(``image_fit.py``: "exact" in the sim graph, which renders at the policy's size;
"center_crop_resize" on the robot), and a frame whose fitted field of view differs from the one
the policy was trained with by more than ``max_fov_mismatch_deg`` is refused. While the supervisor
reports PAUSED the node commands nothing; the history restarts after a pause or a refused tick.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from omnireset_msgs.msg import PolicyStatus, PoseDelta, SupervisorStatus
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState

from omnireset_control.constants import ARM_JOINT_NAMES
from omnireset_control.kinematics import BatchedKinematics, load_kinematics
from omnireset_policy.exported_policy import check_policy_matches, load_exported_policy
from omnireset_policy.image_fit import IMAGE_FIT_MODES, ImageFitError, fit_image, fitted_fovy_deg
from omnireset_policy.observation_layout import gripper_closes
from omnireset_policy.input_sampling import DEFAULT_MAX_AGE, ImageConversionError, InputSampler, image_msg_to_rgb
from omnireset_policy.node_common import (Parameter, StartupError, check_no_unknown_parameters, declare,
                                          ns_to_stamp, require_positive, run_node, stamp_to_ns)
from omnireset_policy.policy_runner import make_runner

DEFAULT_COMMAND_TOPIC = "/omnireset/policy/command"
DEFAULT_STATUS_TOPIC = "/omnireset/policy/status"
DEFAULT_SUPERVISOR_STATUS_TOPIC = "/omnireset/supervisor/status"
DEFAULT_TARGET_POSE_TOPIC = "/omnireset/object_pose/target"
DEFAULT_RECEPTIVE_POSE_TOPIC = "/omnireset/object_pose/receptive"
DEFAULT_GRIPPER_JOINT = "robotiq_85_left_knuckle_joint"
ARM_JOINT_SET = frozenset(ARM_JOINT_NAMES)


class RefusedInput(ValueError):
    """One input's newest message is unusable (bad encoding, missing joint, wrong frame)."""

    def __init__(self, topic: str, reason: str):
        super().__init__(reason)
        self.topic = topic


def camera_topic(namespace: str, name: str, stream: str = "image_raw") -> str:
    """realsense2_camera names its color stream /<camera_namespace>/<camera_name>/color/image_raw
    (and its intrinsics .../color/camera_info)."""
    parts = [p.strip("/") for p in (namespace, name) if p.strip("/")]
    return "/" + "/".join(parts + ["color", stream])


class PolicyNode(Node):
    def __init__(self):
        super().__init__("policy_node", allow_undeclared_parameters=False,
                         automatically_declare_parameters_from_overrides=False)
        p = {}
        p["policy_path"] = declare(self, "policy_path", "", "Directory of an exported policy (metadata.yaml + modules).")
        p["task"] = declare(self, "task", "", "Task of the cell this node runs in; a policy made for another task is "
                            "refused. Empty: not checked.")
        p["robot"] = declare(self, "robot", "", "UR model of the arm (TCP kinematics); a policy made for another robot "
                             "is refused. Empty: the policy metadata's robot.")
        p["kinematics_calibration"] = declare(self, "kinematics_calibration", "",
                                              "ur_calibration kinematics_params YAML; empty: nominal kinematics.")
        p["joint_states_topic"] = declare(self, "joint_states_topic", "/joint_states", "sensor_msgs/JointState input.")
        p["gripper_joint_name"] = declare(self, "gripper_joint_name", DEFAULT_GRIPPER_JOINT,
                                          "Gripper joint that must be published on joint_states_topic (in the arm's "
                                          "message or its own): the gripper driver is alive; empty: not required.")
        p["target_pose_topic"] = declare(self, "target_pose_topic", DEFAULT_TARGET_POSE_TOPIC,
                                         "PoseStamped of the target (insertive) object, state policies.")
        p["receptive_pose_topic"] = declare(self, "receptive_pose_topic", DEFAULT_RECEPTIVE_POSE_TOPIC,
                                            "PoseStamped of the receptive object, state policies.")
        p["camera_namespace"] = declare(self, "camera_namespace", "camera",
                                        "realsense2_camera namespace: images at /<ns>/<name>/color/image_raw.")
        p["camera_names"] = declare(self, "camera_names", Parameter.Type.STRING_ARRAY,
                                    "Camera names in the policy's camera order; unset: the policy metadata's names.")
        p["available_cameras"] = declare(self, "available_cameras", Parameter.Type.STRING_ARRAY,
                                         "Cameras the cell publishes; an image policy that needs another is refused. "
                                         "Empty strings are ignored ([''] = none); unset: not checked.")
        p["image_fit"] = declare(self, "image_fit", "exact",
                                 "How a camera frame becomes the policy's image: 'exact' (the frame must have the "
                                 "policy's size) or 'center_crop_resize' (centred crop to its aspect, area "
                                 "downscale; the robot's RealSense frames).")
        p["max_fov_mismatch_deg"] = declare(self, "max_fov_mismatch_deg", 3.0,
                                            "Image policies trained at a recorded fovy: frames whose fitted "
                                            "vertical field of view (CameraInfo fy) differs by more are refused. "
                                            "0: not checked.")
        p["base_frame"] = declare(self, "base_frame", "base_link",
                                  "Frame of object poses and of the published delta.")
        p["max_input_age"] = declare(self, "max_input_age", DEFAULT_MAX_AGE,
                                     "Inputs older than this at a tick (s, ROS clock) are refused: no command.")
        p["rate_hz"] = declare(self, "rate_hz", 0.0, "Policy rate (Hz, ROS clock); a policy made for another rate is "
                               "refused. 0: the policy metadata's rate.")
        p["torch_threads"] = declare(self, "torch_threads", 1, "torch intra-op threads for inference.")
        p["action_scale"] = declare(self, "action_scale", Parameter.Type.DOUBLE_ARRAY,
                                    "6 per-axis scales sent with each delta; unset: the policy metadata's scale.")
        p["use_feature_cache"] = declare(self, "use_feature_cache", True,
                                         "Image policies: encode each camera frame once and keep its features.")
        p["command_topic"] = declare(self, "command_topic", DEFAULT_COMMAND_TOPIC, "PoseDelta output.")
        p["status_topic"] = declare(self, "status_topic", DEFAULT_STATUS_TOPIC, "PolicyStatus output (every tick).")
        p["supervisor_status_topic"] = declare(self, "supervisor_status_topic", DEFAULT_SUPERVISOR_STATUS_TOPIC,
                                               "SupervisorStatus input: the node commands nothing while PAUSED.")
        check_no_unknown_parameters(self)
        self._configure(p)

    def _configure(self, p: dict) -> None:
        if not p["policy_path"]:
            raise StartupError("parameter policy_path is required (a directory written by the policy exporter)")
        try:
            self.policy = load_exported_policy(p["policy_path"])
        except ValueError as exc:
            raise StartupError(f"cannot load policy: {exc}") from None
        max_age = require_positive("max_input_age", p["max_input_age"])
        rate = p["rate_hz"] or self.policy.metadata["control"]["rate_hz"]
        rate = require_positive("rate_hz", rate)
        # The policy must have been made for where it runs (parameters set by the graph: the sim
        # node's task/robot/cameras in the sim graph; the robot's model and cameras on the robot).
        try:
            check_policy_matches(
                self.policy, where="this cell", task=p["task"] or None, robot=p["robot"] or None,
                rate_hz=p["rate_hz"] or None, cameras=p["available_cameras"],
                camera_names=p["camera_names"] if self.policy.kind == "rgb" else None)
        except ValueError as exc:
            raise StartupError("refusing the policy (parameters task, robot, rate_hz, available_cameras): "
                               f"{exc}") from None
        if p["image_fit"] not in IMAGE_FIT_MODES:
            raise StartupError(f"parameter image_fit must be one of {list(IMAGE_FIT_MODES)}, got {p['image_fit']!r}")
        if not (math.isfinite(p["max_fov_mismatch_deg"]) and p["max_fov_mismatch_deg"] >= 0.0):
            raise StartupError(f"parameter max_fov_mismatch_deg must be >= 0, got {p['max_fov_mismatch_deg']}")
        self.image_fit = p["image_fit"]
        self.max_fov_mismatch = float(p["max_fov_mismatch_deg"])
        if not isinstance(p["torch_threads"], int) or p["torch_threads"] < 1:
            raise StartupError(f"parameter torch_threads must be an integer >= 1, got {p['torch_threads']!r}")
        scale = p["action_scale"] if p["action_scale"] is not None else self.policy.action_scale
        scale = [float(v) for v in scale]
        if len(scale) != 6 or not all(math.isfinite(v) and v > 0 for v in scale):
            raise StartupError(f"parameter action_scale must be 6 positive numbers, got {scale}")
        self.action_scale = scale
        robot = p["robot"] or self.policy.metadata["robot"]
        try:
            params = load_kinematics(robot, calibration=p["kinematics_calibration"] or None)
        except (ValueError, OSError) as exc:
            raise StartupError(f"cannot load kinematics for robot {robot!r}: {exc}") from None
        self.runner = make_runner(self.policy, BatchedKinematics(params), torch_threads=p["torch_threads"],
                                  use_feature_cache=p["use_feature_cache"])
        self.base_frame = p["base_frame"]
        self.gripper_joint = p["gripper_joint_name"]
        self.kind = self.policy.kind

        sensor_qos = qos_profile_sensor_data  # best effort: compatible with reliable and best-effort drivers
        self.joint_topic = p["joint_states_topic"]
        self.gripper_input = f"{self.joint_topic}:{self.gripper_joint}" if self.gripper_joint else None
        inputs = [self.joint_topic] + ([self.gripper_input] if self.gripper_input else [])
        self.create_subscription(JointState, self.joint_topic, self._on_joint_state, sensor_qos)
        self.camera_topics: dict[str, str] = {}
        self.camera_info_topics: dict[str, str] = {}
        self.camera_info: dict[str, CameraInfo] = {}
        if self.kind == "state":
            self.pose_topics = (p["target_pose_topic"], p["receptive_pose_topic"])
            if self.pose_topics[0] == self.pose_topics[1]:
                raise StartupError(f"target_pose_topic and receptive_pose_topic are both {self.pose_topics[0]!r}")
            for topic in self.pose_topics:
                inputs.append(topic)
                self.create_subscription(PoseStamped, topic, self._store(topic), sensor_qos)
        else:
            names = p["camera_names"] if p["camera_names"] is not None else self.policy.cameras["names"]
            if len(names) != len(self.policy.cameras["names"]):
                raise StartupError(f"camera_names {names} must name {len(self.policy.cameras['names'])} cameras "
                                   f"(the policy's {self.policy.cameras['names']}, in that order)")
            for policy_name, name in zip(self.policy.cameras["names"], names):
                topic = camera_topic(p["camera_namespace"], name)
                self.camera_topics[policy_name] = topic
                inputs.append(topic)
                self.create_subscription(Image, topic, self._store(topic), sensor_qos)
                info_topic = camera_topic(p["camera_namespace"], name, "camera_info")
                self.camera_info_topics[policy_name] = info_topic
                self.create_subscription(CameraInfo, info_topic, self._store_info(policy_name), sensor_qos)
            self.trained_fovy = self.policy.cameras.get("fovy_deg") or {}
        self.sampler = InputSampler(inputs, max_age=max_age)

        self.command_pub = self.create_publisher(PoseDelta, p["command_topic"], QoSProfile(depth=10))
        self.status_pub = self.create_publisher(PolicyStatus, p["status_topic"], QoSProfile(depth=10))
        self.create_subscription(SupervisorStatus, p["supervisor_status_topic"], self._on_supervisor, QoSProfile(depth=5))
        self.enabled = True
        self.step_id = 0
        self.timer = self.create_timer(1.0 / rate, self._tick)  # node clock: ROS time, sim time honoured
        self.get_logger().info(
            f"policy {self.policy.path} (kind {self.kind}, {self.policy.metadata['variant']}) at {rate:g} Hz; "
            f"inputs {inputs}; max age {max_age * 1e3:.0f} ms")

    # --- callbacks ----------------------------------------------------------------------------
    def _store(self, topic: str):
        def callback(msg):
            self.sampler.add(topic, stamp_to_ns(msg.header.stamp), msg)
        return callback

    def _on_joint_state(self, msg: JointState) -> None:
        """Route a JointState by content: arm joints -> the arm input, the gripper joint -> its own."""
        stamp = stamp_to_ns(msg.header.stamp)
        names = set(msg.name)
        has_gripper = self.gripper_input is not None and self.gripper_joint in names
        if has_gripper:
            self.sampler.add(self.gripper_input, stamp, msg)
        # a message without arm joints feeds the arm input only when it is not the gripper's: it is
        # then refused there, naming the joints it lacks
        if not has_gripper or not ARM_JOINT_SET.isdisjoint(names):
            self.sampler.add(self.joint_topic, stamp, msg)

    def _store_info(self, policy_name: str):
        def callback(msg):
            self.camera_info[policy_name] = msg
        return callback

    def _check_fov(self, policy_name: str, topic: str, height: int, width: int) -> None:
        """Refuse a frame whose fitted vertical field of view is not the one the policy was trained at."""
        trained = self.trained_fovy.get(policy_name)
        if trained is None or self.max_fov_mismatch == 0.0:
            return
        info_topic = self.camera_info_topics[policy_name]
        info = self.camera_info.get(policy_name)
        if info is None:
            raise RefusedInput(info_topic, f"no CameraInfo yet: the field of view cannot be checked against the "
                                           f"policy's {trained:.1f} deg")
        if (info.height, info.width) != (height, width):
            raise RefusedInput(info_topic, f"CameraInfo is for {info.height}x{info.width}, the image is {height}x{width}")
        try:
            seen = fitted_fovy_deg(height, width, float(info.k[4]), self.runner.image_size)
        except ImageFitError as exc:
            raise RefusedInput(info_topic, str(exc)) from None
        if abs(seen - trained) > self.max_fov_mismatch:
            raise RefusedInput(topic, f"the policy would see a {seen:.1f} deg vertical field of view (fy "
                                      f"{info.k[4]:.1f} px, {self.image_fit}), it was trained at {trained:.1f} deg "
                                      f"(tolerance {self.max_fov_mismatch:g} deg): set the sim camera's fovy from "
                                      f"this camera's calibration and retrain")

    def _on_supervisor(self, msg: SupervisorStatus) -> None:
        enabled = msg.state != SupervisorStatus.STATE_PAUSED
        if enabled and not self.enabled:
            self.runner.reset()  # frames from before the pause are not this episode's history
        self.enabled = enabled

    def _joint_positions(self, msg: JointState) -> np.ndarray:
        index = {name: i for i, name in enumerate(msg.name)}
        missing = [n for n in ARM_JOINT_NAMES if n not in index]
        if missing:
            raise ValueError(f"lacks joint(s) {missing}")
        if len(msg.position) != len(msg.name):
            raise ValueError(f"has {len(msg.name)} names but {len(msg.position)} positions")
        return np.array([msg.position[index[n]] for n in ARM_JOINT_NAMES], dtype=np.float64)

    def _pose(self, topic: str, msg: PoseStamped):
        if msg.header.frame_id and msg.header.frame_id != self.base_frame:
            raise ValueError(f"pose is in frame {msg.header.frame_id!r}, expected {self.base_frame!r}")
        p, o = msg.pose.position, msg.pose.orientation
        return [p.x, p.y, p.z], [o.w, o.x, o.y, o.z]

    def _tick(self) -> None:
        start = time.perf_counter()
        now_ns = self.get_clock().now().nanoseconds
        status = PolicyStatus()
        ns_to_stamp(now_ns, status.header.stamp)
        status.header.frame_id = self.base_frame
        status.enabled = self.enabled
        status.step_id = self.step_id
        status.history_length = self.runner.history_length
        status.inference_time = math.nan
        status.input_to_command_latency = math.nan
        sample = self.sampler.sample(now_ns)
        status.input_names = list(self.sampler.names)
        status.input_ages = [float(sample.ages[n]) for n in self.sampler.names]
        result = None
        refused_input = False
        if not self.enabled:
            status.last_error = "paused by the supervisor"
        elif not sample.ok:
            refused_input = True
            status.stale_inputs = list(sample.refused)
            status.last_error = "refused input: " + sample.describe_refused()
        else:
            try:
                result = self._step(sample)
            except RefusedInput as exc:
                refused_input = True
                status.stale_inputs = [exc.topic]
                status.last_error = f"refused input: {exc.topic}: {exc}"
            if result is not None:
                status.inference_time = result.inference_time
                if result.action is None:
                    status.last_error = result.error
                    result = None
        if refused_input:
            self.runner.reset()  # a gap in the inputs: the history restarts when they return
        if result is not None:
            cmd = PoseDelta()
            ns_to_stamp(now_ns, cmd.header.stamp)
            cmd.header.frame_id = self.base_frame
            cmd.action = [float(v) for v in result.action[:6]]
            cmd.scale = self.action_scale
            cmd.gripper = PoseDelta.GRIPPER_CLOSE if gripper_closes(float(result.action[6])) else PoseDelta.GRIPPER_OPEN
            cmd.step_id = self.step_id
            oldest = sample.oldest_stamp_ns
            ns_to_stamp(oldest, cmd.oldest_input_stamp)
            self.command_pub.publish(cmd)
            status.commanded = True
            status.input_to_command_latency = (self.get_clock().now().nanoseconds - oldest) * 1e-9
        status.history_fill = self.runner.history_fill
        status.tick_time = time.perf_counter() - start
        self.status_pub.publish(status)
        self.step_id += 1

    def _step(self, sample):
        try:
            joints = self._joint_positions(sample.messages[self.joint_topic].value)
        except ValueError as exc:
            raise RefusedInput(self.joint_topic, str(exc)) from None
        if self.kind == "state":
            poses = []
            for topic in self.pose_topics:
                try:
                    poses.append(self._pose(topic, sample.messages[topic].value))
                except ValueError as exc:
                    raise RefusedInput(topic, str(exc)) from None
            return self.runner.step(joints, *poses)
        images = {}
        for name, topic in self.camera_topics.items():
            item = sample.messages[topic]
            exact = self.image_fit == "exact"
            try:
                rgb = image_msg_to_rgb(item.value, expected_size=self.runner.image_size if exact else None)
                self._check_fov(name, topic, rgb.shape[0], rgb.shape[1])
                if not exact:
                    rgb = fit_image(rgb, self.runner.image_size)
            except (ImageConversionError, ImageFitError) as exc:
                raise RefusedInput(topic, str(exc)) from None
            images[name] = (item.stamp_ns, rgb)
        return self.runner.step(joints, images)


def main(args=None) -> int:
    return run_node("policy_node", PolicyNode, args)


if __name__ == "__main__":
    sys.exit(main())
