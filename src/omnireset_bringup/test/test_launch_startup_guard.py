"""The launch files' start-up contract (launch_nodes.startup_guard) under the real `launch` package:
a process that exits 2 stops the launch (non-zero return code, its reason in the log) and is not
respawned; one that crashes keeps being respawned. Needs ros2 `launch` (robot PC / docker; here it
runs with the jazzy sources on PYTHONPATH); launch_ros is stubbed when absent, the guard works on any
launch process action."""

from __future__ import annotations

import stat
import sys
import types

import pytest

launch_actions = pytest.importorskip("launch.actions", reason="ros2 launch is not installed here (robot PC / docker only)")


@pytest.fixture
def launch_nodes(monkeypatch):
    try:
        import launch_ros.actions  # noqa: F401
    except ImportError:
        stub, actions = types.ModuleType("launch_ros"), types.ModuleType("launch_ros.actions")
        actions.Node = object
        stub.actions = actions
        monkeypatch.setitem(sys.modules, "launch_ros", stub)
        monkeypatch.setitem(sys.modules, "launch_ros.actions", actions)
    monkeypatch.delitem(sys.modules, "omnireset_bringup.launch_nodes", raising=False)
    from omnireset_bringup import launch_nodes

    return launch_nodes


def _launch(launch_nodes, tmp_path, status: int, caplog=None):
    from launch import LaunchDescription, LaunchService
    from launch.actions import ExecuteProcess, Shutdown, TimerAction

    exe = tmp_path / "fake_node"
    starts = tmp_path / "starts"
    exe.write_text(f"#!/bin/sh\necho start >> {starts}\necho 'fake_node: some output'\n"
                   f"echo 'fake_node: error: parameter x must be positive' >&2\nexit {status}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    proc = ExecuteProcess(cmd=[str(exe)], name="policy", respawn=True, respawn_delay=1.0, output="screen",
                          emulate_tty=True)
    ld = LaunchDescription([*launch_nodes.startup_guard(proc, "policy", delay=0.3), proc,
                            TimerAction(period=4.0, actions=[Shutdown(reason="test over")])])
    service = LaunchService()
    service.include_launch_description(ld)
    rc = service.run()
    return rc, len(starts.read_text().split())


def test_exit_2_stops_the_launch_with_the_reason_and_no_respawn(launch_nodes, tmp_path, capsys):
    rc, starts = _launch(launch_nodes, tmp_path, 2)
    assert rc != 0 and starts == 1
    out = capsys.readouterr()
    assert ("node 'policy' could not start (exit 2, not respawned): fake_node: error: parameter x must be positive"
            in out.out + out.err)


def test_a_crash_is_still_respawned(launch_nodes, tmp_path):
    rc, starts = _launch(launch_nodes, tmp_path, 1)
    assert rc == 0 and starts >= 3


def _one_shot(launch_nodes, tmp_path, status: int):
    """A one-shot step (like the OSC controller spawner) under must_succeed."""
    from launch import LaunchDescription, LaunchService
    from launch.actions import ExecuteProcess, Shutdown, TimerAction

    exe = tmp_path / "fake_spawner"
    exe.write_text(f"#!/bin/sh\necho 'fake_spawner: error: Failed to activate controller'\nexit {status}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    proc = ExecuteProcess(cmd=[str(exe)], name="spawner", output="screen", emulate_tty=True)
    ld = LaunchDescription([*launch_nodes.must_succeed(proc, "osc_torque_controller spawner", "needs 5.23.0",
                                                       delay=0.3), proc,
                            TimerAction(period=3.0, actions=[Shutdown(reason="test over")])])
    service = LaunchService()
    service.include_launch_description(ld)
    return service.run()


def test_a_failed_one_shot_step_stops_the_launch_naming_it(launch_nodes, tmp_path, capsys):
    assert _one_shot(launch_nodes, tmp_path, 1) != 0
    out = capsys.readouterr()
    assert ("osc_torque_controller spawner failed (exit 1): fake_spawner: error: Failed to activate controller; "
            "needs 5.23.0") in out.out + out.err


def test_a_successful_one_shot_step_leaves_the_launch_running(launch_nodes, tmp_path):
    assert _one_shot(launch_nodes, tmp_path, 0) == 0
