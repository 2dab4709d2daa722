"""real.launch.py's gripper side (graph.robotiq_gripper_launch, config/gripper.yaml) against what
the Robotiq driver, its description and controllers and ros2_controllers' parallel gripper
controller declare (fixtures/robotiq_gripper_jazzy.yaml: data written down from their sources,
with the commits). Plain Python: neither ``launch`` nor the driver is needed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from omnireset_bringup import graph

HERE = Path(__file__).resolve().parent
REAL_LAUNCH = HERE.parent / "launch" / "real.launch.py"
GRIPPER_YAML = HERE.parent / "config" / "gripper.yaml"
POLICY_NODE = HERE.parents[1] / "omnireset_policy" / "omnireset_policy" / "policy_node.py"
FIX = yaml.safe_load((HERE / "fixtures" / "robotiq_gripper_jazzy.yaml").read_text())
DESC, HW, PGC = FIX["description"], FIX["hardware_interface"], FIX["parallel_gripper_controller"]
JOINT = DESC["joint"]


@pytest.fixture(scope="module")
def ours():
    return yaml.safe_load(GRIPPER_YAML.read_text())


def _exported_command_interfaces(mock: bool) -> set[str]:
    """What the gripper's controller manager offers: the real hardware's export list, or on mock
    hardware (GenericSystem) exactly what the description declares (joint + gpio)."""
    if mock:
        names = {f"{JOINT}/{i}" for i in DESC["joint_command_interfaces"]}
    else:
        names = {i.replace("<joint>", JOINT) for i in HW["command_interfaces"] if i.startswith("<joint>")}
    return names | {f"{gpio}/{i}" for gpio, ifaces in DESC["gpio"].items() for i in ifaces}


def _claimed_by_gripper_controller(params: dict) -> list[str]:
    """parallel_gripper_controller's command_interface_configuration() for these parameters."""
    return [f"{params['joint']}/position"] + [params[k] for k in ("max_effort_interface", "max_velocity_interface")
                                             if params.get(k)]


@pytest.mark.parametrize("mock", ["true", "false"])
def test_xacro_gets_only_the_arguments_the_description_declares(mock):
    xacro_args, _ = graph.robotiq_gripper_launch("/dev/ttyUSB0", mock)
    assert set(xacro_args) == set(DESC["xacro_arguments"])
    assert set(FIX["control_launch"]["xacro_arguments_passed"]) == set(xacro_args)
    assert xacro_args["use_fake_hardware"] == mock and xacro_args["com_port"] == "/dev/ttyUSB0"
    assert graph.GRIPPER_DESCRIPTION == (DESC["package"], DESC["file"])


def test_controllers_file_declares_the_upstream_controllers_with_their_types(ours):
    declared = ours["/**/controller_manager"]["ros__parameters"]
    upstream = FIX["controllers_yaml"]["controllers"]
    assert {n: declared[n]["type"] for n in upstream} == upstream
    assert list(graph.GRIPPER_CONTROLLERS) == FIX["control_launch"]["spawners"]  # upstream's spawn order
    assert upstream[graph.GRIPPER_CONTROLLER] == PGC["plugin"]
    assert upstream[graph.GRIPPER_ACTIVATION_CONTROLLER] == FIX["activation_controller"]["plugin"]
    # Upstream's launch reads its update rate from a file it does not ship: ours is in the file.
    assert FIX["control_launch"]["missing_files"] == ["config/robotiq_update_rate.yaml"]
    assert 0 < declared["update_rate"] <= FIX["controllers_yaml"]["update_rate"]


def test_gripper_controller_parameters_are_the_controllers_own(ours):
    params = ours[f"/**/{graph.GRIPPER_CONTROLLER}"]["ros__parameters"]
    assert set(params) <= set(PGC["parameters"]), set(params) - set(PGC["parameters"])
    assert params["joint"] == JOINT == graph.GRIPPER_JOINT
    assert set(params["state_interfaces"]) <= set(DESC["joint_state_interfaces"])
    assert set(ours[f"/**/{graph.GRIPPER_ACTIVATION_CONTROLLER}"]["ros__parameters"]) == \
        set(FIX["controllers_yaml"]["robotiq_activation_controller"])
    # What the driver accepts: speed <= 0.150 m/s, force <= 235 N.
    assert 0 < params["max_velocity"] <= HW["max_speed"]
    assert 0 < params["max_effort"] <= HW["max_force"]


@pytest.mark.parametrize("mock", [True, False])
def test_every_claimed_interface_is_exported_by_that_hardware(ours, mock):
    _, overrides = graph.robotiq_gripper_launch("/tmp/ttyUR", "true" if mock else "false")
    doc = graph.gripper_controllers_config(ours, overrides)
    params = doc[f"/**/{graph.GRIPPER_CONTROLLER}"]["ros__parameters"]
    exported = _exported_command_interfaces(mock)
    claimed = _claimed_by_gripper_controller(params) + FIX["activation_controller"]["command_interfaces"]
    assert set(claimed) <= exported, set(claimed) - exported
    if not mock:  # the real gripper's speed and force are set through the controller
        assert len(_claimed_by_gripper_controller(params)) == 3
    assert ours[f"/**/{graph.GRIPPER_CONTROLLER}"]["ros__parameters"]["max_effort_interface"] == ""  # file untouched


def test_upstream_controllers_file_would_not_activate_on_the_real_gripper():
    """Why ours differs from robotiq_controllers.yaml: it claims interfaces the hardware lacks."""
    upstream = dict(FIX["controllers_yaml"]["robotiq_gripper_controller"])
    missing = set(_claimed_by_gripper_controller(upstream)) - _exported_command_interfaces(mock=False)
    assert missing == {f"{JOINT}/effort", f"{JOINT}/velocity"}


def test_spawners_aim_at_the_gripper_controller_manager_and_publish_on_joint_states():
    spawners = graph.gripper_spawner_arguments("/tmp/gripper_controllers.yaml")
    assert [s[0] for s in spawners] == list(graph.GRIPPER_CONTROLLERS)
    allowed = set(FIX["ros2_control"]["spawner_arguments"])
    for args in spawners:
        flags = [a for a in args[1:] if a.startswith("--")]
        assert set(flags) <= allowed, set(flags) - allowed
        assert args[args.index("--controller-manager") + 1] == graph.GRIPPER_CONTROLLER_MANAGER
        assert args[args.index("--param-file") + 1] == "/tmp/gripper_controllers.yaml"
    jsb = spawners[0]
    ros_args = jsb[jsb.index("--controller-ros-args") + 1].split()  # the spawner splits it on whitespace
    assert ros_args == ["-r", f"{FIX['ros2_control']['joint_state_broadcaster_topic']}:={graph.TOPICS['joint_states']}"]
    assert all("--controller-ros-args" not in s for s in spawners[1:])
    assert graph.GRIPPER_CONTROLLER_MANAGER == f"/{graph.GRIPPER_NAMESPACE}/controller_manager"


def test_param_file_keys_are_found_by_the_spawner_and_node(ours):
    keys = {k for k in ours if k != "/**/controller_manager"}
    assert keys == {f"/**/{graph.GRIPPER_CONTROLLER}", f"/**/{graph.GRIPPER_ACTIVATION_CONTROLLER}"}
    assert "/**/<name>" in FIX["ros2_control"]["param_file_keys"]


def test_gripper_action_is_the_controllers():
    assert PGC["action"]["name"].startswith("~/")
    assert graph.GRIPPER_ACTION == f"/{graph.GRIPPER_NAMESPACE}/{graph.GRIPPER_CONTROLLER}/{PGC['action']['name'][2:]}"
    assert PGC["action"]["type"] == "control_msgs/action/ParallelGripperCommand"


def test_gripper_joint_is_the_one_the_policy_node_requires():
    """policy_node refuses joint states without its gripper joint: the gripper's broadcaster must
    publish that joint, on the topic the policy reads."""
    tree = ast.parse(POLICY_NODE.read_text())
    (value,) = [ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                and any(getattr(t, "id", "") == "DEFAULT_GRIPPER_JOINT" for t in n.targets)]
    assert value == graph.GRIPPER_JOINT == JOINT


def test_real_launch_starts_the_gripper_under_a_controller_manager():
    """No robotiq_driver node (there is none); ros2_control_node and robot_state_publisher in the
    gripper namespace, the spawners from graph.gripper_spawner_arguments."""
    text = REAL_LAUNCH.read_text()
    tree = ast.parse(text)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Node"]
    packages = {ast.literal_eval(k.value) for n in nodes for k in n.keywords
                if k.arg == "package" and isinstance(k.value, ast.Constant)}
    assert "robotiq_driver" not in packages
    executables = {ast.literal_eval(k.value) for n in nodes for k in n.keywords
                   if k.arg == "executable" and isinstance(k.value, ast.Constant)}
    assert {"ros2_control_node", "robot_state_publisher", "spawner"} <= executables
    assert "robotiq_driver_node" not in text
    assert "gripper_spawner_arguments(" in text and "robotiq_gripper_launch(" in text
    # The driver plugin is required only where it is loaded (not on mock hardware).
    assert 'GRIPPER_HARDWARE_PACKAGE = "robotiq_driver"' in text


@pytest.mark.parametrize("kw, message", [
    ({"com_port": " "}, "gripper_com_port is empty"),
    ({"use_mock_hardware": "maybe"}, "use_mock_hardware must be true or false"),
])
def test_bad_gripper_values_are_one_line_errors(kw, message):
    args = {"com_port": "/dev/ttyUSB0", "use_mock_hardware": "false", **kw}
    with pytest.raises(ValueError, match=message):
        graph.robotiq_gripper_launch(**args)


def test_a_gripper_file_without_the_controllers_is_refused():
    with pytest.raises(ValueError, match="does not declare"):
        graph.gripper_controllers_config({"/**/controller_manager": {"ros__parameters": {}}}, {})
