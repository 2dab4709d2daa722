"""gripper_bridge_node: the policy's binary gripper command on the robot, sent to the Robotiq driver.

In sim the sim node reads ``PoseDelta.gripper`` itself. On the robot the OSC torque controller
takes only the arm's part of the supervisor's relayed ``PoseDelta``; this node takes the gripper
bit of the same relayed stream (so the supervisor's watchdog hold and its gripper-open override
reach the gripper exactly as they reach the arm) and sends it to the gripper controller of
PickNikRobotics/ros2_robotiq_gripper, a ``parallel_gripper_action_controller`` serving
``control_msgs/action/ParallelGripperCommand`` (``graph.GRIPPER_ACTION``).

A goal goes out when the commanded state changes, and again (at most every ``retry_s``) while the
last goal for the current state was rejected, aborted or never answered; nothing is sent while no
command arrives (the supervisor relays nothing when it holds), so the gripper keeps its state:
a closed gripper does not drop the object when the policy stops. ``GripperCommandTracker`` is that
logic without ROS (unit-tested); the node is a thin adapter. control_msgs has no PyPI wheel: the
node needs a ROS install that has it (the robot PC) and otherwise exits 2 naming it.
"""

from __future__ import annotations

import math
import sys
import time

from omnireset_policy.node_common import (StartupError, check_no_unknown_parameters, declare, require_positive,
                                          run_node)

DEFAULT_COMMAND_TOPIC = "/osc_torque_controller/command"  # what the supervisor relays on the robot
DEFAULT_ACTION = "/gripper/robotiq_gripper_controller/gripper_cmd"  # omnireset_bringup.graph.GRIPPER_ACTION
DEFAULT_JOINT = "robotiq_85_left_knuckle_joint"
# robotiq_85_left_knuckle_joint: 0 open, 0.7929 rad closed (robotiq_description's
# gripper_closed_position, PickNikRobotics/ros2_robotiq_gripper main 3b6cf8ff); closing on an object
# stalls before that, which the controller reports as a success (allow_stalling in gripper.yaml).
OPEN_POSITION, CLOSED_POSITION = 0.0, 0.7929

OPEN, CLOSE = 0, 1  # omnireset_msgs/PoseDelta.GRIPPER_OPEN / GRIPPER_CLOSE


class GripperCommandTracker:
    """When to send a goal: on a change of the commanded state, or to retry one that did not land."""

    def __init__(self, retry_s: float = 1.0):
        self.retry_s = float(retry_s)
        self.wanted: int | None = None  # last commanded state
        self.sent_at: float | None = None  # time the goal for `wanted` was sent
        self.confirmed = False  # the controller accepted and finished the goal for `wanted`
        self.goals_sent = 0

    def on_command(self, gripper: int, now: float) -> int | None:
        """The state to send now (OPEN/CLOSE), or None. Unknown values raise ValueError."""
        if gripper not in (OPEN, CLOSE):
            raise ValueError(f"gripper command {gripper} is neither GRIPPER_OPEN (0) nor GRIPPER_CLOSE (1)")
        if gripper != self.wanted:
            self.wanted, self.confirmed = gripper, False
        elif self.confirmed or (self.sent_at is not None and now - self.sent_at < self.retry_s):
            return None
        self.sent_at = now
        self.goals_sent += 1
        return gripper

    def on_result(self, gripper: int, succeeded: bool) -> None:
        """The controller's answer for a goal sent for ``gripper`` (a stale answer is ignored)."""
        if gripper == self.wanted:
            self.confirmed = bool(succeeded)
            if not succeeded:
                self.sent_at = None  # retry at the next command


def main(args=None) -> int:
    return run_node("gripper_bridge_node", _make_node, args)


def _make_node():
    try:
        from control_msgs.action import ParallelGripperCommand
    except ImportError:
        raise StartupError("control_msgs is not installed (ros-jazzy-control-msgs, a dependency of the "
                           "Robotiq driver); the gripper bridge runs on the robot PC") from None
    from omnireset_msgs.msg import PoseDelta
    from rclpy.action import ActionClient
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    class GripperBridgeNode(Node):
        def __init__(self):
            super().__init__("gripper_bridge_node", allow_undeclared_parameters=False,
                             automatically_declare_parameters_from_overrides=False)
            p = {
                "command_topic": declare(self, "command_topic", DEFAULT_COMMAND_TOPIC,
                                         "PoseDelta relayed by the supervisor (its gripper bit is used)."),
                "action_name": declare(self, "action_name", DEFAULT_ACTION,
                                       "control_msgs/action/ParallelGripperCommand server of the gripper."),
                "joint_name": declare(self, "joint_name", DEFAULT_JOINT, "Gripper joint of the goal."),
                "open_position": declare(self, "open_position", OPEN_POSITION, "Joint position for open (rad)."),
                "closed_position": declare(self, "closed_position", CLOSED_POSITION,
                                           "Joint position for closed (rad)."),
                "retry_s": declare(self, "retry_s", 1.0, "Resend an unconfirmed goal after this long (s)."),
            }
            check_no_unknown_parameters(self)
            for key in ("open_position", "closed_position"):
                if not math.isfinite(p[key]):
                    raise StartupError(f"parameter {key} must be a finite number, got {p[key]}")
            self.positions = {OPEN: float(p["open_position"]), CLOSE: float(p["closed_position"])}
            self.joint = p["joint_name"]
            self.tracker = GripperCommandTracker(require_positive("retry_s", p["retry_s"]))
            self.goal_type = ParallelGripperCommand.Goal
            self.client = ActionClient(self, ParallelGripperCommand, p["action_name"])
            self.refused = 0
            self.create_subscription(PoseDelta, p["command_topic"], self._on_command,
                                     QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
            self.get_logger().info(f"gripper bridge: {p['command_topic']} -> {p['action_name']} "
                                   f"({self.joint}: open {self.positions[OPEN]}, closed {self.positions[CLOSE]})")

        def _on_command(self, msg) -> None:
            try:
                state = self.tracker.on_command(int(msg.gripper), time.monotonic())
            except ValueError as exc:
                self.refused += 1
                self.get_logger().warning(f"refused: {exc}", throttle_duration_sec=5.0)
                return
            if state is None:
                return
            if not self.client.server_is_ready():
                self.tracker.on_result(state, False)
                self.get_logger().warning("gripper action server not available; the gripper keeps its state",
                                          throttle_duration_sec=5.0)
                return
            goal = self.goal_type()
            goal.command.name = [self.joint]
            goal.command.position = [self.positions[state]]
            future = self.client.send_goal_async(goal)
            future.add_done_callback(lambda f, s=state: self._on_goal_response(s, f))

        def _on_goal_response(self, state: int, future) -> None:
            handle = future.result()
            if handle is None or not handle.accepted:
                self.tracker.on_result(state, False)
                self.get_logger().warning(f"gripper goal {'close' if state else 'open'} rejected")
                return
            handle.get_result_async().add_done_callback(lambda f, s=state: self._on_result(s, f))

        def _on_result(self, state: int, future) -> None:
            from action_msgs.msg import GoalStatus

            response = future.result()
            self.tracker.on_result(state, response is not None and response.status == GoalStatus.STATUS_SUCCEEDED)

    return GripperBridgeNode()


if __name__ == "__main__":
    sys.exit(main())
