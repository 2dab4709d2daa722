"""policy_node over real DDS, in its own process, fed by a fake robot speaking the real topics."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="ROS 2 core not on the path: source env.sh")
pytest.importorskip("omnireset_msgs.msg", reason="workspace not built: run make setup")

from omnireset_msgs.msg import PolicyStatus, PoseDelta  # noqa: E402

from omnireset_policy.ros_testing import FakeRobot, NodeProcess, RosHarness, wait_for  # noqa: E402

from omnireset_policy.export_scripted import export_scripted  # noqa: E402
from omnireset_policy.policy_node import camera_topic  # noqa: E402
from omnireset_policy.student_network import make_random_rgb_policy  # noqa: E402

pytestmark = pytest.mark.ros
TARGET = "/omnireset/object_pose/target"
GRIPPER_INPUT = "/joint_states:robotiq_85_left_knuckle_joint"  # the gripper joint's own input


def _start(processes, module, params, ros_env, tmp_path):
    proc = NodeProcess(module, params, ros_env, tmp_path / "logs")
    processes.append(proc)
    return proc


def test_state_policy_ticks_at_10hz_and_stops_on_a_stale_input(harness, processes, ros_env, tmp_path):
    policy = export_scripted(tmp_path / "scripted")
    commands = harness.collect(PoseDelta, "/omnireset/policy/command")
    statuses = harness.collect(PolicyStatus, "/omnireset/policy/status")
    robot = FakeRobot(harness)
    node = _start(processes, "omnireset_policy.policy_node", {"policy_path": policy}, ros_env, tmp_path)
    wait_for(lambda: len(commands) >= 3, 30.0, what=f"first commands; log:\n{node.log()}")
    t0 = time.monotonic()
    time.sleep(3.0)
    with harness.lock:
        window = [m for t, m in commands if t0 <= t < t0 + 3.0]
        status_window = [m for t, m in statuses if t0 <= t < t0 + 3.0]
    rate = len(window) / 3.0
    assert 9.0 <= rate <= 11.0, f"{rate} Hz"
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in window])
    assert abs(np.median(np.diff(stamps)) - 0.1) < 0.01
    last = window[-1]
    assert last.header.frame_id == "base_link" and list(last.scale) == pytest.approx([0.02] * 5 + [0.2])
    # the fake object sits away from the TCP: the scripted policy steps towards it, gripper open
    assert max(abs(v) for v in last.action[:3]) > 0.1 and last.gripper == PoseDelta.GRIPPER_OPEN
    steps = [m.step_id for m in window]
    assert steps == list(range(steps[0], steps[0] + len(steps)))
    assert all(s.commanded and s.history_fill == 5 and s.history_length == 5 for s in status_window[-5:])
    s = status_window[-1]
    assert s.input_names == ["/joint_states", GRIPPER_INPUT, TARGET, "/omnireset/object_pose/receptive"]
    assert all(0.0 <= a < 0.1 for a in s.input_ages) and s.stale_inputs == [] and s.last_error == ""
    assert 0.0 < s.inference_time < 0.05 and 0.0 <= s.input_to_command_latency < 0.2

    robot.enabled["target"] = False  # the object tracker stops
    stale = wait_for(lambda: next((m for _, m in list(statuses)[-3:] if m.stale_inputs), None), 2.0,
                     what="a status naming the stale input")
    assert stale.stale_inputs == [TARGET] and not stale.commanded and TARGET in stale.last_error
    time.sleep(0.3)
    n_before = len(commands)
    time.sleep(0.5)
    assert len(commands) == n_before, "commanded with a stale input"
    assert math.isnan(stale.input_to_command_latency)
    age = stale.input_ages[stale.input_names.index(TARGET)]
    assert age > 0.2 or math.isnan(age)

    robot.enabled["target"] = True  # back: commands resume with a fresh history
    wait_for(lambda: len(commands) > n_before, 2.0, what="commands after the input returned")
    fresh = wait_for(lambda: next((m for _, m in list(statuses)[-3:] if m.commanded), None), 2.0, what="status")
    assert fresh.history_fill < 5


def test_arm_and_gripper_joint_states_in_separate_messages(harness, processes, ros_env, tmp_path):
    """The robot publishes the arm's and the gripper's joint states from two broadcasters: the node
    commands from the pair, and refuses, naming the gripper's input, when the gripper goes quiet."""
    policy = export_scripted(tmp_path / "scripted")
    commands = harness.collect(PoseDelta, "/omnireset/policy/command")
    statuses = harness.collect(PolicyStatus, "/omnireset/policy/status")
    robot = FakeRobot(harness, split_gripper=True)
    node = _start(processes, "omnireset_policy.policy_node", {"policy_path": policy}, ros_env, tmp_path)
    wait_for(lambda: len(commands) >= 3, 30.0, what=f"commands from split joint states; log:\n{node.log()}")
    assert list(statuses)[-1][1].last_error == ""
    robot.enabled["gripper"] = False  # the gripper's driver stops; the arm's goes on
    stale = wait_for(lambda: next((m for _, m in list(statuses)[-3:] if m.stale_inputs), None), 2.0,
                     what="a status naming the gripper input")
    assert stale.stale_inputs == [GRIPPER_INPUT] and not stale.commanded
    time.sleep(0.3)
    n_before = len(commands)
    time.sleep(0.5)
    assert len(commands) == n_before, "commanded without the gripper's state"


def test_rgb_policy_refuses_bad_encoding_and_accepts_bgr8(harness, processes, ros_env, tmp_path):
    policy = make_random_rgb_policy(tmp_path / "rgb", image_size=(32, 32))
    cams = ["wrist", "front", "side"]
    topics = [camera_topic("camera", c) for c in cams]
    assert topics[0] == "/camera/wrist/color/image_raw"
    commands = harness.collect(PoseDelta, "/omnireset/policy/command")
    statuses = harness.collect(PolicyStatus, "/omnireset/policy/status")
    robot = FakeRobot(harness, camera_topics=topics, image_size=(32, 32))
    robot.encodings[topics[1]] = "bgr8"
    node = _start(processes, "omnireset_policy.policy_node", {"policy_path": policy}, ros_env, tmp_path)
    wait_for(lambda: len(commands) >= 3, 30.0, what=f"first commands; log:\n{node.log()}")
    ok = list(statuses)[-1][1]
    assert ok.input_names == ["/joint_states", GRIPPER_INPUT] + topics and ok.commanded

    robot.encodings[topics[2]] = "mono8"
    bad = wait_for(lambda: next((m for _, m in list(statuses)[-3:] if "mono8" in m.last_error), None), 2.0,
                   what="a status refusing mono8")
    assert bad.stale_inputs == [topics[2]] and not bad.commanded and "not supported" in bad.last_error
    time.sleep(0.3)
    n_before = len(commands)
    time.sleep(0.5)
    assert len(commands) == n_before, "commanded from an image it could not read"


def test_rgb_policy_fits_realsense_frames_and_refuses_a_wrong_field_of_view(harness, processes, ros_env, tmp_path):
    """The robot's path: 640x480 frames with their CameraInfo; the node crops and downscales them to
    the policy's 32x32 and checks the fitted field of view against the one recorded at training."""
    from omnireset_policy.image_fit import pinhole_fy

    cams = ["wrist", "front", "side"]
    policy = make_random_rgb_policy(tmp_path / "rgb", image_size=(32, 32), fovy_deg={c: 50.0 for c in cams})
    topics = [camera_topic("camera", c) for c in cams]
    info_topic = camera_topic("camera", "front", "camera_info")
    assert info_topic == "/camera/front/color/camera_info"
    commands = harness.collect(PoseDelta, "/omnireset/policy/command")
    statuses = harness.collect(PolicyStatus, "/omnireset/policy/status")
    robot = FakeRobot(harness, camera_topics=topics, image_size=(480, 640), camera_fy=pinhole_fy(50.0, 480))
    node = _start(processes, "omnireset_policy.policy_node",
                  {"policy_path": policy, "image_fit": "center_crop_resize"}, ros_env, tmp_path)
    wait_for(lambda: len(commands) >= 3, 30.0, what=f"first commands from fitted frames; log:\n{node.log()}")
    assert list(statuses)[-1][1].last_error == ""

    robot.camera_fy = 615.0  # a D435's colour stream: 42.6 deg, not the trained 50
    bad = wait_for(lambda: next((m for _, m in list(statuses)[-3:] if "field of view" in m.last_error), None), 3.0,
                   what="a status refusing the field of view")
    assert not bad.commanded and "42.6 deg" in bad.last_error and "trained at 50.0 deg" in bad.last_error
    time.sleep(0.3)
    n_before = len(commands)
    time.sleep(0.5)
    assert len(commands) == n_before, "commanded with a field of view it was not trained for"


def test_rgb_policy_exact_fit_refuses_a_frame_of_another_size(harness, processes, ros_env, tmp_path):
    policy = make_random_rgb_policy(tmp_path / "rgb", image_size=(32, 32))  # no recorded fovy: not checked
    topics = [camera_topic("camera", c) for c in ["wrist", "front", "side"]]
    statuses = harness.collect(PolicyStatus, "/omnireset/policy/status")
    FakeRobot(harness, camera_topics=topics, image_size=(480, 640))
    node = _start(processes, "omnireset_policy.policy_node", {"policy_path": policy}, ros_env, tmp_path)
    bad = wait_for(lambda: next((m for _, m in list(statuses)[-3:] if "480x640" in m.last_error), None), 30.0,
                   what=f"a status refusing the size; log:\n{node.log()}")
    assert not bad.commanded and "the policy expects 32x32" in bad.last_error


@pytest.mark.parametrize("params, reason", [
    ({}, "policy_path is required"),
    ({"policy_path": "/nonexistent/policy"}, "does not exist"),
    ({"policy_path": "POLICY", "max_input_age": 0.0}, "max_input_age must be a positive"),
    ({"policy_path": "POLICY", "not_a_parameter": 1}, "unknown parameter(s) ['not_a_parameter']"),
    # a policy must fit where it runs (the sim graph sets these from the sim node; the robot from ur_type)
    ({"policy_path": "POLICY", "task": "cube_stacking"}, "made for task 'peg_insertion', this cell runs 'cube_stacking'"),
    ({"policy_path": "POLICY", "robot": "ur5e"}, "made for robot 'ur7e', this cell has a 'ur5e'"),
    ({"policy_path": "POLICY", "rate_hz": 20.0}, "made for 10 Hz (control.rate_hz), this cell steps it at 20 Hz"),
    ({"policy_path": "RGB", "available_cameras": "['front','side']"},
     "needs camera(s) ['wrist'], this cell publishes ['front', 'side']"),
    ({"policy_path": "RGB", "available_cameras": "['']"}, "this cell publishes no cameras"),
    ({"policy_path": "/nonexistent/policy", "rate_hz": "fast"}, "rate_hz"),  # rclpy's own type error: one line
    ({"policy_path": "RGB", "image_fit": "stretch"}, "image_fit must be one of ['exact', 'center_crop_resize']"),
    ({"policy_path": "RGB", "max_fov_mismatch_deg": -1.0}, "max_fov_mismatch_deg must be >= 0"),
])
def test_policy_node_exits_nonzero_with_reason_at_startup(ros_env, tmp_path, params, reason):
    from omnireset_policy.student_network import make_random_rgb_policy

    policy = export_scripted(tmp_path / "p", task="peg_insertion")
    if params.get("policy_path") == "RGB":
        make_random_rgb_policy(tmp_path / "rgb", encoder="tiny", image_size=(32, 32))
    paths = {"POLICY": str(policy), "RGB": str(tmp_path / "rgb")}
    params = {k: paths.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    args = [sys.executable, "-m", "omnireset_policy.policy_node", "--ros-args"]
    for k, v in params.items():
        args += ["-p", f"{k}:={v}"]
    out = subprocess.run(args, env=ros_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert reason in out.stderr and "policy_node: error:" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_policy_node_follows_sim_time(ros_env, processes, tmp_path):
    """With use_sim_time the 10 Hz timer runs on /clock: at half real time, 5 ticks per wall second,
    stamped 0.1 s of sim time apart."""
    from omnireset_policy.ros_testing import SimClock

    harness = RosHarness(use_sim_time=True)
    clock = SimClock(harness, real_time_factor=0.5)
    try:
        policy = export_scripted(tmp_path / "scripted")
        commands = harness.collect(PoseDelta, "/omnireset/policy/command")
        FakeRobot(harness)
        node = _start(processes, "omnireset_policy.policy_node", {"policy_path": policy, "use_sim_time": True},
                      ros_env, tmp_path)
        wait_for(lambda: len(commands) >= 3, 30.0, what=f"first commands; log:\n{node.log()}")
        t0 = time.monotonic()
        time.sleep(2.0)
        with harness.lock:
            window = [m for t, m in commands if t0 <= t < t0 + 2.0]
        assert 4 <= len(window) / 2.0 <= 6, f"{len(window) / 2.0} Hz of wall time"
        stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in window])
        assert stamps[0] > 100.0  # sim time, not wall time
        assert np.median(np.diff(stamps)) == pytest.approx(0.1, abs=0.006)
    finally:
        clock.stop()
        harness.close()


@pytest.mark.parametrize("script", ["policy_node", "supervisor_node"])
def test_installed_console_scripts_resolve(ros_env, script):
    """The colcon-installed entry points (what a launch file runs) import and reach start-up checks."""
    exe = Path(__file__).resolve().parents[3] / "install" / "omnireset_policy" / "lib" / "omnireset_policy" / script
    if not exe.exists():
        pytest.skip(f"{exe} not built: bash scripts/build.sh --packages-select omnireset_policy")
    out = subprocess.run([str(exe), "--ros-args", "-p", "no_such_parameter:=1"], env=ros_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and f"{script}: error: unknown parameter(s) ['no_such_parameter']" in out.stderr
