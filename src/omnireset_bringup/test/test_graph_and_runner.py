"""The declarative graph and the plain-Python runner, with real processes over real DDS."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
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
    # the gripper bit of what the supervisor relays goes to the Robotiq controller's action
    bridge = next(n for n in nodes if n.name == "gripper_bridge")
    assert bridge.executable == "gripper_bridge_node" and bridge.respawn
    assert bridge.parameters == {"command_topic": supervisor.parameters["command_topic"],
                                 "action_name": "/gripper/robotiq_gripper_controller/gripper_cmd",
                                 "joint_name": "robotiq_85_left_knuckle_joint"}


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


# rqt reads a perspective's values back with eval() (qt_gui perspective_manager._import_value):
# "repr" values are Python literals, Qt state blobs are QByteArray hex.
_QBYTEARRAY_HEX = re.compile(r"^QtCore\.QByteArray\(b'([0-9a-f]*)'\)$")
# Python rqt plugins the main perspective may use. qt_gui restores no plugin's settings at all
# (no plot topics, no layout) when one plugin of a perspective is missing: its load callback is
# never called (plugin_manager._load_plugin_load). The C++ rqt_image_view is missing wherever
# rqt_gui_cpp is (rqt built without its C++ part, as scripts/rqt_check.sh does), so the cameras
# have their own perspective.
_MAIN_PLUGINS = {"rqt_plot/Plot", "rqt_runtime_monitor/RuntimeMonitor", "rqt_topic/TopicPlugin"}


def _perspective(name):
    # The source file: a new config file reaches share/ only at the next colcon build.
    doc = json.loads((Path(__file__).resolve().parents[1] / "config" / name).read_text())

    def values(group):
        for key, value in group["keys"].items():
            yield key, value
        for sub in group["groups"].values():
            yield from values(sub)
    for key, value in values(doc):
        if value["type"] == "repr":
            ast.literal_eval(value["repr"])
        else:
            assert value["type"] == "repr(QByteArray.hex)", (name, key)
            assert _QBYTEARRAY_HEX.match(value["repr(QByteArray.hex)"]), (name, key)
        if key in ("geometry", "state") or key.endswith("_state"):  # Qt restoreState() wants bytes
            assert value["type"] == "repr(QByteArray.hex)", (name, key)
    manager = doc["groups"]["pluginmanager"]
    running = ast.literal_eval(manager["keys"]["running-plugins"]["repr"])
    instances = {f"plugin__{pid.replace('/', '__')}__{n}" for pid, serials in running.items() for n in serials}
    assert instances == set(manager["groups"]), name  # every running plugin has its settings, no strays
    return running, manager["groups"]


def test_rqt_perspective_names_real_topics_and_fields():
    """The perspective rqt opens: plots of real topics / fields, diagnostics from the topic the
    supervisor publishes, values rqt can read back, Python plugins only."""
    from omnireset_msgs.msg import PolicyStatus, SupervisorStatus

    running, plugins = _perspective("omnireset.perspective")
    assert set(running) <= _MAIN_PLUGINS, set(running) - _MAIN_PLUGINS
    # /diagnostics, not rqt_robot_monitor's /diagnostics_agg: the graph runs no aggregator.
    assert "rqt_runtime_monitor/RuntimeMonitor" in running
    fields = {graph.TOPICS["policy_status"]: PolicyStatus.get_fields_and_field_types(),
              graph.TOPICS["supervisor_status"]: SupervisorStatus.get_fields_and_field_types()}
    seen_plots = 0
    for name, group in plugins.items():
        if "rqt_plot" in name:
            keys = group["groups"]["plugin"]["keys"]
            for series in ast.literal_eval(keys["topics"]["repr"]):
                topic, field = series.rsplit("/", 1)
                assert topic in fields and field in fields[topic], series
                assert fields[topic][field] in ("double", "float", "uint32", "int32", "uint64"), series
                seen_plots += 1
    assert seen_plots >= 4


def test_rqt_camera_perspective_names_the_three_cameras():
    running, plugins = _perspective("omnireset_cameras.perspective")
    assert running == {"rqt_image_view/ImageView": [1, 2, 3]}
    cameras = {graph.camera_topic(c) for c in graph.CAMERAS}
    shown = {ast.literal_eval(g["groups"]["plugin"]["keys"]["topic"]["repr"]) for g in plugins.values()}
    assert shown == cameras


# ---- start-up errors are final (exit 2), a policy must fit the sim ---------------------------------
@pytest.fixture
def fake_executable(tmp_path, monkeypatch):
    """A stand-in node: prints a line, then '<name>: error: ...' and exits with the status in
    $FAKE_EXIT_<name> (2: a start-up error; anything else: a crash)."""
    exe = tmp_path / "fake_node"
    exe.write_text("#!/bin/sh\necho starting\nname=$3\nname=${name#__node:=}\n"
                   "echo \"${name}_node: error: parameter x must be positive, got -1\" >&2\n"
                   "eval \"exit \\${FAKE_EXIT_$name}\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(runner_mod, "executable_path", lambda spec: str(exe))
    return exe


def test_node_exiting_2_is_not_respawned_and_its_reason_is_kept(fake_executable, tmp_path):
    specs = [graph.NodeSpec(package="x", executable="e", name="refuses", respawn=True, respawn_delay=0.1),
             graph.NodeSpec(package="x", executable="e", name="crashes", respawn=True, respawn_delay=0.1)]
    env = dict(os.environ, FAKE_EXIT_refuses="2", FAKE_EXIT_crashes="1")
    run = runner_mod.GraphRunner(specs, log_dir=tmp_path / "logs", env=env)
    run.start()
    try:
        deadline = time.monotonic() + 20
        down = []
        while time.monotonic() < deadline and (not down or run.restarts("crashes") < 2):
            down = run.poll() or down
            time.sleep(0.05)
        assert down == ["refuses"], down
        assert run.refused("refuses") and run.restarts("refuses") == 0 and run.exit_codes("refuses") == [2]
        assert run.reason("refuses") == "refuses_node: error: parameter x must be positive, got -1"
        # a crash is still respawned, again and again, and never reported as refused
        assert run.restarts("crashes") >= 2 and not run.refused("crashes")
        assert set(run.exit_codes("crashes")) == {1}
        time.sleep(0.3)
        assert run.poll() == ["refuses"] and run.restarts("refuses") == 0
    finally:
        run.stop()


def test_last_error_line_is_the_reason():
    log = ("[INFO] [policy]: loading\n\x1b[31m[ERROR] [policy]: early\x1b[0m\n"
           "policy_node: error: cannot load policy: /p/policy.pt: truncated\nshutting down\n")
    assert graph.last_error_line(log) == "policy_node: error: cannot load policy: /p/policy.pt: truncated"
    assert graph.last_error_line("just output\n\n") == "just output"
    assert graph.last_error_line("") == "(no output)"


def test_sim_graph_tells_the_policy_node_what_the_sim_runs():
    nodes = {n.name: n for n in graph.sim_graph(task="cube_stacking", policy_dir="/tmp/p", robot="ur5e")}
    p = nodes["policy"].parameters
    assert (p["task"], p["robot"], p["rate_hz"], p["available_cameras"]) == ("cube_stacking", "ur5e", 10.0, [""])
    assert nodes["sim"].parameters["robot"] == "ur5e"
    # [''] stays a one-element list on the command line ([] would read as "unset")
    assert "available_cameras:=['']" in graph.ros_arguments(nodes["policy"], resolve=lambda n: n)
    with_cams = {n.name: n for n in graph.sim_graph(policy_dir="/tmp/p", cameras=True)}
    assert with_cams["policy"].parameters["available_cameras"] == list(graph.CAMERAS)
    real = {n.name: n for n in graph.real_graph(policy_dir="/tmp/p", robot="ur10e")}
    assert real["policy"].parameters["robot"] == "ur10e" and real["policy"].parameters["rate_hz"] == 10.0


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    from omnireset_policy.export_scripted import export_scripted
    from omnireset_policy.student_network import make_random_rgb_policy

    root = tmp_path_factory.mktemp("policies")
    rgb = root / "rgb"
    make_random_rgb_policy(rgb, encoder="tiny", image_size=(96, 96))
    return {"peg": export_scripted(root / "peg", task="peg_insertion"),
            "cube": export_scripted(root / "cube", task="cube_stacking"),
            "ur5e": export_scripted(root / "ur5e", task="peg_insertion", robot="ur5e"), "rgb": rgb}


def test_policy_that_does_not_fit_the_sim_is_refused_naming_the_difference(policies):
    from omnireset_policy.artifact_errors import ArtifactError

    assert graph.check_policy_fits(graph.sim_graph(policy_dir=str(policies["peg"]))) is not None
    cases = [
        (graph.sim_graph(policy_dir=str(policies["cube"])), "made for task 'cube_stacking', the sim runs 'peg_insertion'"),
        (graph.sim_graph(policy_dir=str(policies["ur5e"])), "made for robot 'ur5e', the sim has a 'ur7e'"),
        (graph.sim_graph(policy_dir=str(policies["rgb"])), "the sim publishes no cameras"),
        (graph.sim_graph(policy_dir=str(policies["rgb"]), cameras=True), "expects 96x96 images, the sim renders 224x224"),
    ]
    for nodes, reason in cases:
        with pytest.raises(ArtifactError) as caught:
            graph.check_policy_fits(nodes)
        assert reason in str(caught.value) and "\n" not in str(caught.value)
        assert "task" not in str(caught.value) or "cube" in reason  # the rgb policy's task "any" fits every task
    nodes = graph.sim_graph(policy_dir=str(policies["rgb"]), cameras=True)
    nodes[0].parameters.update({"image_width": 96, "image_height": 96})
    assert graph.check_policy_fits(nodes) is not None


def _run_graph(args, env, tmp_path):
    import subprocess

    return subprocess.run([sys.executable, "-m", "omnireset_bringup.run_graph", "--out", str(tmp_path / "run"),
                           "--duration", "2", "--no-cameras", *args], env=env, capture_output=True, text=True,
                          timeout=240)


@pytest.mark.ros
def test_run_graph_refuses_a_mismatched_or_broken_policy_before_starting(ros_env, policies, tmp_path):
    out = _run_graph(["--policy", str(policies["cube"])], ros_env, tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "made for task 'cube_stacking', the sim runs 'peg_insertion'" in out.stderr.splitlines()[-1]
    broken = tmp_path / "broken"
    shutil.copytree(policies["peg"], broken)
    data = (broken / "policy.pt").read_bytes()
    (broken / "policy.pt").write_bytes(data[: len(data) // 2])
    out = _run_graph(["--policy", str(broken)], ros_env, tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{broken / 'policy.pt'}: not a loadable TorchScript module" in out.stderr.splitlines()[-1]
    assert not (tmp_path / "run" / "logs").exists()  # nothing was started


@pytest.mark.ros
def test_run_graph_stops_with_the_reason_of_a_node_that_cannot_start(ros_env, tmp_path):
    """The sim node refuses an unknown variant (exit 2): run_graph stops, exit 2, its reason last."""
    out = _run_graph(["--variant", "impossible"], ros_env, tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("omnireset: error: node 'sim' could not start (exit 2, not respawned): sim_node: error:")
    assert "impossible" in last and "Traceback" not in (tmp_path / "run" / "logs" / "sim.log").read_text()
