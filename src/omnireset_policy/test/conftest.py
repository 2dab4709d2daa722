"""Fixtures of the node tests: an in-process rclpy harness and the node processes a test starts
(all stopped at the end). Both use the repository's ros_env fixture (unique ROS_DOMAIN_ID)."""

from __future__ import annotations

import pytest


@pytest.fixture
def harness(ros_env):
    from omnireset_policy.ros_testing import RosHarness

    h = RosHarness()
    yield h
    h.close()


@pytest.fixture
def processes():
    started: list = []  # omnireset_policy.ros_testing.NodeProcess instances
    yield started
    for p in started:
        p.stop()
