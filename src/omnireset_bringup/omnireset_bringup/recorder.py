"""Record topics of a running graph into a rosbag2 MCAP bag, without ros2 bag.

Messages are taken from ``raw=True`` subscriptions (the CDR bytes as they came over DDS: rclpy's
``serialize_message`` adds trailing bytes for some types that readers reject) and written with
``rosbags`` in rosbag2 layout (``metadata.yaml`` + ``.mcap``), readable by ``ros2 bag`` and Foxglove.
The bag is written into a temporary directory and renamed into place when closed, so an interrupted
run never leaves a half-written bag under the final name.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

_OWN_PACKAGES = ("omnireset_msgs",)


def _typestore():
    """Jazzy's standard types plus this workspace's own interfaces (from the installed .msg files)."""
    from ament_index_python.packages import get_package_share_directory
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    extra = {}
    for pkg in _OWN_PACKAGES:
        msg_dir = Path(get_package_share_directory(pkg)) / "msg"
        for path in sorted(msg_dir.glob("*.msg")):
            extra.update(get_types_from_msg(path.read_text(), f"{pkg}/msg/{path.stem}"))
    store.register(extra)
    return store


def _ros_type_name(msg_class) -> str:
    module = msg_class.__module__.split(".")[0]
    return f"{module}/msg/{msg_class.__name__}"


class BagRecorder:
    """Subscribes ``topics`` ({name: message class}) on ``node`` and writes them to ``path``."""

    def __init__(self, node: Node, path: str | os.PathLike, topics: dict[str, type]):
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"recording {self.path} exists already")
        # rosbag2 names the .mcap after the bag directory: write <parent>/.<name>.partial/<name>
        # and move that directory into place on close.
        self._tmp_parent = self.path.with_name(f".{self.path.name}.partial")
        shutil.rmtree(self._tmp_parent, ignore_errors=True)
        self._tmp_parent.mkdir(parents=True)
        self._tmp = self._tmp_parent / self.path.name
        store = _typestore()
        self._writer = Writer(self._tmp, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._lock = threading.Lock()
        self._closed = False
        self.counts: dict[str, int] = {}
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self._subs = []
        for topic, msg_class in topics.items():
            conn = self._writer.add_connection(topic, _ros_type_name(msg_class), typestore=store)
            self.counts[topic] = 0
            self._subs.append(node.create_subscription(
                msg_class, topic, lambda data, c=conn, t=topic: self._write(c, t, data), qos, raw=True))
        self._node = node

    def _write(self, connection, topic: str, data: bytes) -> None:
        stamp = self._node.get_clock().now().nanoseconds
        with self._lock:
            if self._closed:
                return
            self._writer.write(connection, stamp, data)
            self.counts[topic] += 1

    def close(self) -> Path:
        with self._lock:
            if self._closed:
                return self.path
            self._closed = True
        for sub in self._subs:
            self._node.destroy_subscription(sub)
        self._writer.close()
        os.replace(self._tmp, self.path)
        self._tmp_parent.rmdir()
        return self.path
