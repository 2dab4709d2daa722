"""Repository-wide pytest fixtures.

Every test that starts ROS nodes uses ``ros_env``: DDS stays on loopback
(``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``) and each test gets its own ``ROS_DOMAIN_ID`` so
concurrent test runs on one machine never hear each other.
"""

from __future__ import annotations

import itertools
import os
import random

import pytest

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

# Domain ids 1..100 keep Fast DDS' port arithmetic in range; start at a per-process random
# offset so two pytest runs side by side rarely share one, and never within one run.
_domain_ids = itertools.count(random.Random(os.getpid()).randrange(100))


def next_domain_id() -> int:
    return next(_domain_ids) % 100 + 1


@pytest.fixture
def ros_env(monkeypatch):
    """Environment for a test that starts ROS nodes (in-process or as subprocesses).

    Returns a dict to pass as ``env=`` to subprocesses; it is also applied to ``os.environ``
    for in-process rclpy contexts (call ``rclpy.init`` after requesting this fixture).
    """
    domain = str(next_domain_id())
    monkeypatch.setenv("ROS_DOMAIN_ID", domain)
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    return dict(os.environ)
