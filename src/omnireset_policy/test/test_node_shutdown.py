"""run_node's stop contract: a signal that shuts the context down mid-spin is a clean stop (exit
0, no traceback, so a launcher does not count it as a crash and respawn the node during
shutdown); an exception while the context is still up is a crash and propagates."""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy")

from omnireset_policy import node_common  # noqa: E402


def _node():
    return rclpy.create_node("run_node_shutdown_probe")


def _spin_raising_after_shutdown(node):
    # What rclpy does when SIGINT lands while the executor builds its wait set: the signal handler
    # has shut the context down, and WaitSet() raises RCLError ("the given context is not valid").
    rclpy.shutdown()
    raise rclpy._rclpy_pybind11.RCLError("failed to initialize wait set: the given context is not valid")


def test_a_signal_during_spin_is_a_clean_stop(ros_env, monkeypatch):
    monkeypatch.setattr(rclpy, "spin", _spin_raising_after_shutdown)
    assert node_common.run_node("probe", _node) == 0
    assert not rclpy.ok()


def test_an_error_while_the_context_is_up_is_a_crash(ros_env, monkeypatch):
    def spin(node):
        raise RuntimeError("callback failed")

    monkeypatch.setattr(rclpy, "spin", spin)
    with pytest.raises(RuntimeError, match="callback failed"):
        node_common.run_node("probe", _node)
    assert not rclpy.ok()  # run_node still shut the context down
