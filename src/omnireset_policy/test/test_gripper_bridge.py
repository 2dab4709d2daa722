"""The robot's gripper bridge: the relayed PoseDelta's gripper bit -> ParallelGripperCommand goals.

The tracker logic runs everywhere. The node needs control_msgs, which has no PyPI wheel: without
it the node must refuse to start (exit 2, one line); with it (a robot PC, or control_msgs built
from source beside the project) a DDS test drives it against a real rclpy action server of the
Robotiq controller's action type.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time

import pytest

from omnireset_policy.gripper_bridge_node import CLOSE, CLOSED_POSITION, OPEN, GripperCommandTracker

HAVE_CONTROL_MSGS = importlib.util.find_spec("control_msgs") is not None


def test_tracker_sends_on_change_and_retries_only_what_did_not_land():
    t = GripperCommandTracker(retry_s=1.0)
    assert t.on_command(OPEN, 0.0) == OPEN  # first command: sent
    assert t.on_command(OPEN, 0.1) is None  # repeated, goal pending: not resent
    t.on_result(OPEN, True)
    assert t.on_command(OPEN, 5.0) is None  # confirmed: never resent
    assert t.on_command(CLOSE, 5.1) == CLOSE  # change: sent at once
    t.on_result(OPEN, False)  # a late answer for the old state changes nothing
    assert t.on_command(CLOSE, 5.2) is None
    t.on_result(CLOSE, False)  # aborted / rejected: retried at the next command
    assert t.on_command(CLOSE, 5.3) == CLOSE
    assert t.on_command(CLOSE, 5.4) is None  # unanswered: retried only after retry_s
    assert t.on_command(CLOSE, 6.4) == CLOSE
    assert t.goals_sent == 4
    with pytest.raises(ValueError, match="neither GRIPPER_OPEN"):
        t.on_command(7, 7.0)


@pytest.mark.skipif(HAVE_CONTROL_MSGS, reason="control_msgs is installed here")
def test_node_without_control_msgs_exits_2_with_one_line(ros_env):
    proc = subprocess.run([sys.executable, "-m", "omnireset_policy.gripper_bridge_node"], env=ros_env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "control_msgs is not installed" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.ros
@pytest.mark.skipif(not HAVE_CONTROL_MSGS, reason="control_msgs not installed (robot PC or a ros2_control build)")
def test_bridge_follows_the_relayed_command_against_a_real_action_server(harness, processes, ros_env, tmp_path):
    from control_msgs.action import ParallelGripperCommand
    from omnireset_msgs.msg import PoseDelta
    from rclpy.action import ActionServer

    from omnireset_policy.ros_testing import NodeProcess, wait_for

    goals, lock, behaviour = [], threading.Lock(), {"abort": False}

    def execute(handle):
        with lock:
            goals.append((list(handle.request.command.name), list(handle.request.command.position)))
        if behaviour["abort"]:
            handle.abort()
        else:
            handle.succeed()
        return ParallelGripperCommand.Result()

    server = ActionServer(harness.node, ParallelGripperCommand, "/gripper/robotiq_gripper_controller/gripper_cmd",
                          execute)
    pub = harness.node.create_publisher(PoseDelta, "/osc_torque_controller/command", 10)
    node = NodeProcess("omnireset_policy.gripper_bridge_node", {"retry_s": 0.3}, ros_env, tmp_path / "logs")
    processes.append(node)

    def send(state, n, period=0.1):
        for _ in range(n):
            msg = PoseDelta()
            msg.header.frame_id = "base_link"
            msg.gripper = state
            pub.publish(msg)
            time.sleep(period)

    wait_for(lambda: pub.get_subscription_count() > 0, 30.0, what=f"the bridge subscribed; log:\n{node.log()}")
    send(OPEN, 5)
    wait_for(lambda: len(goals) >= 1, 10.0, what=f"the open goal; log:\n{node.log()}")
    send(CLOSE, 5)
    wait_for(lambda: len(goals) >= 2, 10.0, what="the close goal")
    time.sleep(0.5)
    with lock:
        assert goals == [(["robotiq_85_left_knuckle_joint"], [0.0]),
                         (["robotiq_85_left_knuckle_joint"], [CLOSED_POSITION])], "one goal per change"
    behaviour["abort"] = True  # the controller aborts the next goal: it is retried
    send(OPEN, 10)
    with lock:
        opens = [g for g in goals[2:] if g[1] == [0.0]]
    assert len(opens) >= 2, f"an aborted goal must be retried: {goals}"
    server.destroy()
