"""supervisor_node over real DDS: A.4 stuck override timing, NaN rejection, pause/resume, counters,
diagnostics, and the watchdog hold after the policy node process is killed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="ROS 2 core not on the path: source env.sh")
pytest.importorskip("omnireset_msgs.msg", reason="workspace not built: run make setup")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from omnireset_msgs.msg import EpisodeOutcome, PoseDelta, SupervisorStatus  # noqa: E402
from omnireset_msgs.srv import ReportOutcome, ResetCounters, SetPaused  # noqa: E402

from omnireset_policy.ros_testing import FakeRobot, NodeProcess, wait_for  # noqa: E402

from omnireset_policy.export_scripted import export_scripted  # noqa: E402

pytestmark = pytest.mark.ros
POLICY_CMD = "/omnireset/policy/command"
CONTROLLER_CMD = "/omnireset/command"
NAN_STEP = 999_999


def _latest(received):
    return received[-1][1] if received else None


def test_supervisor_override_nan_pause_and_counters(harness, processes, ros_env, tmp_path):
    relayed = harness.collect(PoseDelta, CONTROLLER_CMD)
    status = harness.collect(SupervisorStatus, "/omnireset/supervisor/status")
    diagnostics = harness.collect(DiagnosticArray, "/diagnostics")
    robot = FakeRobot(harness, joint_rate=50.0)
    policy_pub = harness.node.create_publisher(PoseDelta, POLICY_CMD, 10)
    outcome_pub = harness.node.create_publisher(EpisodeOutcome, "/omnireset/episode_outcome", 10)
    step = [0]

    def publish_command():  # a stand-in policy: 10 Hz, gripper closed
        msg = PoseDelta()
        msg.header.stamp = harness.node.get_clock().now().to_msg()
        msg.header.frame_id = "base_link"
        msg.action = [0.1, 0.0, 0.0, 0.0, 0.0, 0.0]
        msg.scale = [0.02] * 5 + [0.2]
        msg.gripper = PoseDelta.GRIPPER_CLOSE
        msg.step_id = step[0]
        step[0] += 1
        policy_pub.publish(msg)
    harness.node.create_timer(0.1, publish_command)
    node = NodeProcess("omnireset_policy.supervisor_node", {}, ros_env, tmp_path / "logs")
    processes.append(node)
    wait_for(lambda: len(relayed) >= 3, 30.0, what=f"relayed commands; log:\n{node.log()}")

    # the arm moves (50 mrad/s) for 1 s, then stands still
    for _ in range(50):
        robot.q[0] += 0.001
        time.sleep(0.02)
    t_still = time.monotonic()
    assert all(m.gripper == PoseDelta.GRIPPER_CLOSE for _, m in relayed)
    first_open = wait_for(lambda: next((t for t, m in list(relayed) if m.gripper == PoseDelta.GRIPPER_OPEN), None),
                          4.0, what="gripper-open override")
    assert 1.9 <= first_open - t_still <= 2.5, f"override after {first_open - t_still:.3f} s"
    time.sleep(1.5)
    with harness.lock:
        active = [t for t, m in status if m.override_active and t > t_still]
        opened = [t for t, m in relayed if m.gripper == PoseDelta.GRIPPER_OPEN]
        closed_after = [t for t, m in relayed if t > opened[-1]]
        states = [m.state for t, m in status if t > t_still]
    assert 0.85 <= active[-1] - active[0] <= 1.15, f"override lasted {active[-1] - active[0]:.3f} s"
    assert 0.75 <= opened[-1] - opened[0] <= 1.15
    assert closed_after and all(m.gripper == PoseDelta.GRIPPER_CLOSE for t, m in relayed if t > opened[-1])
    assert SupervisorStatus.STATE_STUCK_OVERRIDE in states and _latest(status).overrides >= 1
    robot.q[1] += 0.01  # move again so no second override interferes with what follows

    # a NaN command is rejected, the ones around it are relayed
    bad = PoseDelta()
    bad.action = [float("nan")] + [0.0] * 5
    bad.scale = [0.02] * 6
    bad.step_id = NAN_STEP
    policy_pub.publish(bad)
    wait_for(lambda: any(kv.key == "rejected_commands" and kv.value == "1"
                         for _, d in list(diagnostics) for kv in d.status[0].values), 3.0,
             what="rejected_commands 1 in /diagnostics")
    assert not any(m.step_id == NAN_STEP for _, m in relayed)
    diag = _latest(diagnostics).status[0]
    assert diag.name == "omnireset: supervisor" and diag.hardware_id == "omnireset_arm"
    assert "NaN" in {kv.key: kv.value for kv in diag.values}["last_error"]

    # pause: nothing relayed, state PAUSED, running time frozen; resume: relayed again
    answer = harness.call(SetPaused, "/omnireset/supervisor/set_paused", SetPaused.Request(paused=True))
    assert answer.success and "paused" in answer.message
    wait_for(lambda: _latest(status).state == SupervisorStatus.STATE_PAUSED, 2.0, what="PAUSED")
    time.sleep(0.2)
    n, elapsed = len(relayed), _latest(status).elapsed
    time.sleep(1.0)
    assert len(relayed) == n and _latest(status).elapsed == pytest.approx(elapsed, abs=0.06)
    assert _latest(status).state_name == "paused"
    harness.call(SetPaused, "/omnireset/supervisor/set_paused", SetPaused.Request(paused=False))
    wait_for(lambda: len(relayed) > n + 2, 2.0, what="commands after resume")

    # counters: one success from the sim topic, one from the operator service
    outcome = EpisodeOutcome(success=True, first_try=True, duration=12.0, source="sim")
    outcome_pub.publish(outcome)
    wait_for(lambda: _latest(status).successes == 1, 3.0, what="success counted")
    reply = harness.call(ReportOutcome, "/omnireset/supervisor/report_outcome",
                         ReportOutcome.Request(success=True, first_try=False))
    assert reply.accepted and "successes 2" in reply.message
    wait_for(lambda: _latest(status).attempts == 2, 2.0, what="two attempts")
    s = _latest(status)
    assert (s.successes, s.first_try_successes) == (2, 1)
    assert s.throughput_per_minute == pytest.approx(2 / (s.elapsed / 60.0), rel=0.05)
    assert harness.call(ResetCounters, "/omnireset/supervisor/reset_counters", ResetCounters.Request()).success
    wait_for(lambda: _latest(status).attempts == 0 and _latest(status).elapsed < 0.5, 2.0, what="counters reset")


def test_killed_policy_node_leaves_the_arm_holding(harness, processes, ros_env, tmp_path):
    policy = export_scripted(tmp_path / "scripted")
    relayed = harness.collect(PoseDelta, CONTROLLER_CMD)
    status = harness.collect(SupervisorStatus, "/omnireset/supervisor/status")
    FakeRobot(harness)
    supervisor = NodeProcess("omnireset_policy.supervisor_node", {"watchdog_timeout": 0.3}, ros_env, tmp_path / "l")
    processes.append(supervisor)
    policy_node = NodeProcess("omnireset_policy.policy_node", {"policy_path": policy}, ros_env, tmp_path / "l")
    processes.append(policy_node)
    wait_for(lambda: len(relayed) >= 5, 40.0, what=f"relayed policy commands; logs:\n{policy_node.log()}\n"
                                                   f"{supervisor.log()}")
    assert _latest(status).state == SupervisorStatus.STATE_RUNNING
    policy_node.kill()
    t_kill = time.monotonic()
    hold = wait_for(lambda: next((t for t, m in list(status)
                                  if t > t_kill and m.state == SupervisorStatus.STATE_WATCHDOG_HOLD), None),
                    2.0, what="watchdog hold")
    assert hold - t_kill <= 0.3 + 0.1 + 0.1  # timeout + one policy period + one status period
    assert _latest(status).command_age > 0.3 and _latest(status).state_name == "watchdog_hold"
    n = len(relayed)
    time.sleep(0.5)
    assert len(relayed) == n and all(t <= hold for t, _ in relayed)


def test_supervisor_refuses_unknown_and_invalid_parameters(ros_env):
    base = [sys.executable, "-m", "omnireset_policy.supervisor_node", "--ros-args"]
    out = subprocess.run(base + ["-p", "stuck_windw:=2.0"], env=ros_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown parameter(s) ['stuck_windw']" in out.stderr
    out = subprocess.run(base + ["-p", "override_duration:=0.0"], env=ros_env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "override_duration must be a positive number" in out.stderr
