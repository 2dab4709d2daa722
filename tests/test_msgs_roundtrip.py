"""Every omnireset_msgs interface crosses a process boundary over real Fast DDS, field by field."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="ROS 2 core not on the path: source env.sh")
M = pytest.importorskip("omnireset_msgs.msg", reason="workspace not built: run make setup")
S = pytest.importorskip("omnireset_msgs.srv")

from rclpy.node import Node  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from msg_echo_process import MESSAGE_TYPES, QOS, SERVICE_TYPES, service_answer  # noqa: E402

pytestmark = pytest.mark.ros

_INT_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767),
               "uint32": (0, 2**32 - 1), "int32": (-(2**31), 2**31 - 1), "uint64": (0, 2**64 - 1),
               "int64": (-(2**63), 2**63 - 1)}


def _scalar(kind: str, rng: random.Random):
    if kind == "boolean":
        return rng.random() < 0.5 or True  # never the default False, so a dropped field shows
    if kind in ("double", "float64"):
        return rng.uniform(-1e6, 1e6)
    if kind in ("float", "float32"):
        return float(np.float32(rng.uniform(-1e3, 1e3)))
    if kind in _INT_RANGES:
        lo, hi = _INT_RANGES[kind]
        return rng.randint(max(lo, 1), hi)
    if kind == "string":
        return "".join(rng.choice("abcxyz_/0123 é") for _ in range(rng.randint(1, 24)))
    return None


def _import_type(kind: str):
    pkg, name = kind.split("/")
    module = __import__(f"{pkg}.msg", fromlist=[name])
    return getattr(module, name)


def fill(msg, rng: random.Random):
    """Set every field of ``msg`` (recursively) to a random non-default value."""
    for field, kind in msg.get_fields_and_field_types().items():
        if kind.startswith("sequence<"):
            inner = kind[len("sequence<"):-1]
            n = rng.randint(1, 4)
            values = [_scalar(inner, rng) for _ in range(n)]
            if values[0] is None:
                values = [fill(_import_type(inner)(), rng) for _ in range(n)]
            setattr(msg, field, values)
        elif kind.endswith("]"):
            inner, size = kind[:-1].split("[")
            values = [_scalar(inner, rng) for _ in range(int(size))]
            setattr(msg, field, values)
        elif _scalar(kind, rng) is not None:
            setattr(msg, field, _scalar(kind, rng))
        else:
            sub = getattr(msg, field)
            fill(sub, rng)
    return msg


def as_plain(msg):
    """Nested plain-Python view of a message for exact comparison."""
    out = {}
    for field in msg.get_fields_and_field_types():
        value = getattr(msg, field)
        if hasattr(value, "get_fields_and_field_types"):
            out[field] = as_plain(value)
        elif isinstance(value, (list, tuple)) and value and hasattr(value[0], "get_fields_and_field_types"):
            out[field] = [as_plain(v) for v in value]
        elif isinstance(value, np.ndarray) or hasattr(value, "tolist"):
            out[field] = list(np.asarray(value).tolist())
        else:
            out[field] = value
    return out


@pytest.fixture
def echo_process(ros_env):
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "msg_echo_process.py")],
                            env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "echo ready" in line, f"echo process failed to start: {line}{proc.stdout.read() if proc.poll() is not None else ''}"
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_every_message_and_service_round_trips(echo_process):
    rclpy.init()
    node = Node("omnireset_msgs_roundtrip_test")
    try:
        rng = random.Random(7)
        received = {}
        pubs = {}
        for msg_type in MESSAGE_TYPES:
            name = msg_type.__name__
            pubs[name] = node.create_publisher(msg_type, f"/roundtrip/{name}/in", QOS)
            node.create_subscription(msg_type, f"/roundtrip/{name}/out",
                                     lambda m, n=name: received.setdefault(n, m), QOS)
        sent = {t.__name__: fill(t(), rng) for t in MESSAGE_TYPES}

        # Discovery takes a moment: republish until every echo has come back.
        deadline = time.monotonic() + 30.0
        while len(received) < len(MESSAGE_TYPES) and time.monotonic() < deadline:
            for name, msg in sent.items():
                if name not in received:
                    pubs[name].publish(msg)
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.05)
        assert set(received) == set(sent), f"no echo for {set(sent) - set(received)}"
        for name, msg in sent.items():
            assert as_plain(received[name]) == as_plain(msg), f"{name} changed on the way"

        for srv_type in SERVICE_TYPES:
            client = node.create_client(srv_type, f"/roundtrip/{srv_type.__name__}")
            assert client.wait_for_service(timeout_sec=20.0), f"{srv_type.__name__} not served"
            request = fill(srv_type.Request(), rng)
            future = client.call_async(request)
            rclpy.spin_until_future_complete(node, future, timeout_sec=20.0)
            assert future.done(), f"{srv_type.__name__} call timed out"
            assert as_plain(future.result()) == as_plain(service_answer(srv_type, request))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def test_constants_are_generated():
    assert M.PoseDelta.GRIPPER_CLOSE == 1 and M.PoseDelta.GRIPPER_OPEN == 0
    assert [M.SupervisorStatus.STATE_RUNNING, M.SupervisorStatus.STATE_PAUSED,
            M.SupervisorStatus.STATE_WATCHDOG_HOLD, M.SupervisorStatus.STATE_STUCK_OVERRIDE] == [0, 1, 2, 3]
    assert len(M.PoseDelta().action) == 6 and len(M.PoseDelta().scale) == 6
