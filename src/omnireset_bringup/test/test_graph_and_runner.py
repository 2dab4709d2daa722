"""The declarative graph and the plain-Python runner, with real processes over real DDS."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from omnireset_bringup import graph, runner as runner_mod

ECHO = Path(__file__).resolve().parents[3] / "tests" / "msg_echo_process.py"


def test_ros_arguments_carry_name_namespace_files_parameters_and_remaps():
    spec = graph.NodeSpec(package="p", executable="e", name="cam", namespace="cameras",
                          parameter_files=["a.yaml"], parameters={"flag": True, "rate": 10.0, "xs": [1, 2]},
                          remappings=[("in", "/out")])
    args = graph.ros_arguments(spec, resolve=lambda name: f"/cfg/{name}")
    assert args == ["--ros-args", "-r", "__node:=cam", "-r", "__ns:=/cameras", "--params-file", "/cfg/a.yaml",
                    "-p", "flag:=true", "-p", "rate:=10.0", "-p", "xs:=[1,2]", "-r", "in:=/out"]


def test_sim_graph_wires_policy_through_supervisor_to_the_sim():
    nodes = {n.name: n for n in graph.sim_graph(policy_dir="/tmp/p")}
    assert set(nodes) == {"sim", "policy", "supervisor"}
    assert nodes["policy"].parameters["command_topic"] == nodes["supervisor"].parameters["policy_command_topic"]
    assert nodes["supervisor"].parameters["command_topic"] == nodes["sim"].parameters["command_topic"]
    assert nodes["policy"].respawn and nodes["supervisor"].respawn
    assert all(n.parameters.get("use_sim_time", True) for n in nodes.values() if n.name != "sim")


def test_real_graph_names_cameras_like_realsense2_camera():
    nodes = graph.real_graph(policy_dir="/tmp/p", camera_serials={"front": "123"})
    cams = [n for n in nodes if n.package == "realsense2_camera"]
    assert [c.name for c in cams] == list(graph.CAMERAS)
    assert all(c.namespace == graph.CAMERA_NAMESPACE and c.needs_hardware for c in cams)
    assert cams[0].parameters == {"serial_no": "'123'"}
    assert graph.camera_topic("wrist") == "/camera/wrist/color/image_raw"
    supervisor = next(n for n in nodes if n.name == "supervisor")
    assert supervisor.parameters["command_topic"] == "/osc_torque_controller/command"


def test_missing_hardware_package_is_named():
    spec = graph.NodeSpec(package="realsense2_camera", executable="realsense2_camera_node", name="front",
                          needs_hardware=True)
    with pytest.raises(RuntimeError, match="realsense2_camera.*hardware driver"):
        graph.executable_path(spec)


@pytest.fixture
def echo_executable(tmp_path, monkeypatch):
    exe = tmp_path / "echo_node"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {ECHO} \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(runner_mod, "executable_path", lambda spec: str(exe))
    return exe


@pytest.mark.ros
def test_runner_starts_respawns_and_stops_real_nodes(ros_env, echo_executable, tmp_path):
    import rclpy
    from rclpy.node import Node

    specs = [graph.NodeSpec(package="x", executable="echo", name="echo_a", respawn=True, respawn_delay=0.2),
             graph.NodeSpec(package="x", executable="echo", name="echo_b", namespace="ns")]
    run = runner_mod.GraphRunner(specs, log_dir=tmp_path / "logs", env=ros_env)
    assert run.command("echo_b")[-4:] == ["-r", "__node:=echo_b", "-r", "__ns:=/ns"]
    rclpy.init()
    probe = Node("runner_probe")
    try:
        run.start()
        deadline = time.monotonic() + 20
        names = set()
        while time.monotonic() < deadline and not {("echo_a", "/"), ("echo_b", "/ns")} <= names:
            rclpy.spin_once(probe, timeout_sec=0.2)
            names = set(probe.get_node_names_and_namespaces())
        assert {("echo_a", "/"), ("echo_b", "/ns")} <= names, f"nodes seen: {names}"

        first_pid = run.pid("echo_a")
        os.killpg(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and run.restarts("echo_a") == 0:
            assert run.poll() == []  # echo_a respawns, echo_b still runs: nothing is down
            time.sleep(0.05)
        assert run.restarts("echo_a") == 1 and run.pid("echo_a") != first_pid
        assert run.exit_codes("echo_a") == [-signal.SIGKILL]

        os.killpg(run.pid("echo_b"), signal.SIGKILL)  # no respawn: reported down
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "echo_b" not in run.poll():
            time.sleep(0.05)
        assert "echo_b" in run.poll()
    finally:
        run.stop()
        probe.destroy_node()
        rclpy.try_shutdown()
    pid = run.pid("echo_a")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "echo ready" in (tmp_path / "logs" / "echo_a.log").read_text()  # output of the first run kept


def test_duplicate_node_names_are_refused(tmp_path):
    spec = graph.NodeSpec(package="x", executable="e", name="same")
    with pytest.raises(ValueError, match="duplicate node names"):
        runner_mod.GraphRunner([spec, spec], log_dir=tmp_path)


def test_rqt_perspective_names_real_topics_and_fields():
    """Every topic / field the rqt perspective plots or shows exists in the graph and messages."""
    import ast
    import json

    from omnireset_msgs.msg import PolicyStatus, SupervisorStatus

    doc = json.loads((graph.config_dir() / "omnireset.perspective").read_text())
    plugins = doc["groups"]["pluginmanager"]["groups"]
    fields = {graph.TOPICS["policy_status"]: PolicyStatus.get_fields_and_field_types(),
              graph.TOPICS["supervisor_status"]: SupervisorStatus.get_fields_and_field_types()}
    cameras = {graph.camera_topic(c) for c in graph.CAMERAS}
    seen_plots = seen_images = 0
    for name, group in plugins.items():
        keys = group["groups"]["plugin"]["keys"]
        if "rqt_plot" in name:
            for series in ast.literal_eval(keys["topics"]["repr"]):
                topic, field = series.rsplit("/", 1)
                assert topic in fields and field in fields[topic], series
                seen_plots += 1
        if "rqt_image_view" in name:
            assert ast.literal_eval(keys["topic"]["repr"]) in cameras
            seen_images += 1
    assert seen_plots >= 4 and seen_images == 3
