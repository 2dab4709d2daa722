"""The MCAP recorder writes a rosbag2 bag that rosbags reads back, with our own message types."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.ros


def test_recorded_bag_reads_back_with_every_field(ros_env, tmp_path):
    import rclpy
    from rclpy.node import Node
    from rosbags.rosbag2 import Reader

    from omnireset_bringup.recorder import BagRecorder, _typestore
    from omnireset_msgs.msg import PoseDelta
    from sensor_msgs.msg import JointState

    rclpy.init()
    node = Node("recorder_test")
    try:
        bag = tmp_path / "bag"
        rec = BagRecorder(node, bag, {"/cmd": PoseDelta, "/js": JointState})
        assert not bag.exists()  # only the partial directory exists while recording
        pub_cmd = node.create_publisher(PoseDelta, "/cmd", 10)
        pub_js = node.create_publisher(JointState, "/js", 10)
        deadline = time.monotonic() + 10
        i = 0
        while time.monotonic() < deadline and (rec.counts["/cmd"] < 5 or rec.counts["/js"] < 5):
            msg = PoseDelta(step_id=i, gripper=PoseDelta.GRIPPER_CLOSE)
            msg.action = [0.1 * i, 0, 0, 0, 0, -1.0]
            msg.header.frame_id = "base_link"
            pub_cmd.publish(msg)
            pub_js.publish(JointState(name=["a"], position=[float(i)]))
            i += 1
            rclpy.spin_once(node, timeout_sec=0.05)
        path = rec.close()
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    assert path == bag and (bag / "metadata.yaml").exists() and (bag / "bag.mcap").exists()
    assert not (tmp_path / ".bag.partial").exists()
    store = _typestore()
    with Reader(bag) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == {
            "/cmd": "omnireset_msgs/msg/PoseDelta", "/js": "sensor_msgs/msg/JointState"}
        cmds = [store.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages() if c.topic == "/cmd"]
    assert len(cmds) >= 5
    first = cmds[0]
    assert first.header.frame_id == "base_link" and first.gripper == 1 and first.action[5] == -1.0
    assert [c.step_id for c in cmds] == sorted(c.step_id for c in cmds)


def test_existing_recording_is_not_overwritten(ros_env, tmp_path):
    import rclpy
    from rclpy.node import Node

    from omnireset_bringup.recorder import BagRecorder
    from omnireset_msgs.msg import PoseDelta

    (tmp_path / "bag").mkdir()
    rclpy.init()
    node = Node("recorder_test2")
    try:
        with pytest.raises(FileExistsError):
            BagRecorder(node, tmp_path / "bag", {"/cmd": PoseDelta})
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
