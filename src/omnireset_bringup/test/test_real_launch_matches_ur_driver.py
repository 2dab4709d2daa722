"""real.launch.py and omnireset_control's controllers file against what ur_robot_driver's launch
declares (fixtures/ur_robot_driver_jazzy.yaml: data written down from the driver's Jazzy sources,
with the commit). Plain Python: neither ``launch`` nor the driver is needed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from omnireset_bringup import graph

HERE = Path(__file__).resolve().parent
REAL_LAUNCH = HERE.parent / "launch" / "real.launch.py"
CONTROLLERS = HERE.parents[1] / "omnireset_control" / "config" / "ur_osc_controllers.yaml"
DRIVER = yaml.safe_load((HERE / "fixtures" / "ur_robot_driver_jazzy.yaml").read_text())
CONTROL = DRIVER["ur_control_launch"]
RSP = DRIVER["ur_rsp_launch"]


@pytest.fixture(scope="module")
def ours():
    return yaml.safe_load(CONTROLLERS.read_text())


def _launch(**kw):
    values = dict(ur_type="ur7e", robot_ip="192.168.1.102", controllers_file="/x/ur_osc_controllers.yaml")
    values.update(kw)
    return graph.ur_driver_launch(**values)


def _declared_in_real_launch() -> dict:
    """real.launch.py's ARGS table (its DeclareLaunchArguments), read without importing launch."""
    for node in ast.parse(REAL_LAUNCH.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ARGS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("real.launch.py has no ARGS table")


def _simulate_driver_spawners(arguments: dict) -> tuple[list[str], list[str]]:
    """ur_control.launch.py's launch_setup(), on the fixture's lists: (active, inactive)."""
    for name, choices in CONTROL["choices"].items():
        value = arguments.get(name, CONTROL["arguments"][name])
        assert value in choices, f"{name}={value!r} is not one of the driver's choices"
    active, inactive = list(CONTROL["controllers_active"]), list(CONTROL["controllers_inactive"])
    initial = arguments.get("initial_joint_controller", CONTROL["arguments"]["initial_joint_controller"])
    if arguments.get("activate_joint_controller", CONTROL["arguments"]["activate_joint_controller"]) == "true":
        active.append(initial)
        inactive.remove(initial)  # the driver's own call: ValueError for a name it does not list
    if arguments.get("use_mock_hardware", "false") == "true":
        for name in CONTROL["removed_with_mock_hardware"]:
            active.remove(name)
    return active, inactive


@pytest.mark.parametrize("kw", [{}, {"use_mock_hardware": "true", "headless_mode": "false"},
                                {"ur_type": "ur10e"}])
def test_every_argument_we_pass_is_declared_by_the_driver_launch(kw):
    arguments, description = _launch(**kw)
    assert set(arguments) <= set(CONTROL["arguments"])
    required = {name for name, default in CONTROL["arguments"].items() if default is None}
    assert required <= set(arguments)
    for name in set(arguments) & set(CONTROL["boolean_arguments"]):
        assert arguments[name] in ("true", "false"), name
    # What goes to ur_rsp.launch.py through the launch configurations: declared there, not by
    # ur_control.launch.py, and not one of the two it passes itself.
    assert set(description) <= set(RSP["arguments"]) - set(CONTROL["arguments"])
    assert not set(description) & set(CONTROL["description_include_arguments"])
    assert "kinematics_params_file" not in CONTROL["arguments"]  # the point, in the data


def test_the_driver_launch_never_reaches_its_remove_crash():
    arguments, _ = _launch()
    assert arguments["initial_joint_controller"] in CONTROL["choices"]["initial_joint_controller"]
    assert arguments["initial_joint_controller"] in CONTROL["controllers_inactive"]
    active, inactive = _simulate_driver_spawners(arguments)
    # Nothing of the driver's moves the arm: its joint controller stays inactive, ours is the
    # only one activated (by our own spawner, a name the driver's lists do not hold).
    assert arguments["activate_joint_controller"] == "false" and graph.UR_DRIVER_JOINT_CONTROLLER in inactive
    assert graph.OSC_CONTROLLER not in active + inactive
    assert graph.OSC_CONTROLLER not in CONTROL["choices"]["initial_joint_controller"]
    # The old arguments are what the issue describes: refused by the driver.
    with pytest.raises(AssertionError, match="not one of the driver's choices"):
        _simulate_driver_spawners({"initial_joint_controller": graph.OSC_CONTROLLER,
                                   "activate_joint_controller": "true"})


def test_osc_spawner_targets_the_driver_controller_manager():
    args = graph.osc_spawner_arguments()
    assert args[0] == graph.OSC_CONTROLLER and "--inactive" not in args
    assert args[args.index("--controller-manager") + 1] == CONTROL["controller_manager"]
    assert float(args[args.index("--controller-manager-timeout") + 1]) >= float(
        CONTROL["arguments"]["controller_spawner_timeout"])


def test_real_launch_passes_only_the_checked_table():
    """The include's launch_arguments are graph.ur_driver_launch's (no literal dict beside it), and
    every name real.launch.py declares that the driver's launch files also declare is one we set
    on purpose: declared launch configurations are global and would reach the driver as they are."""
    tree = ast.parse(REAL_LAUNCH.read_text())
    includes = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "IncludeLaunchDescription"]
    assert len(includes) == 1
    (kw,) = [k for k in includes[0].keywords if k.arg == "launch_arguments"]
    assert ast.unparse(kw.value) == "driver_args.items()"
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "ur_driver_launch"]
    assert len(calls) == 1
    declared = _declared_in_real_launch()
    arguments, description = _launch()
    shared = set(declared) & (set(CONTROL["arguments"]) | set(RSP["arguments"]))
    assert shared <= set(arguments) | set(description), shared - set(arguments) - set(description)
    # An empty kinematics_params_file of ours is unset, so ur_rsp's own default applies.
    assert declared["kinematics_params_file"][0] == "" and description["kinematics_params_file"] is None


def test_our_controllers_file_declares_every_controller_the_driver_spawns(ours):
    declared = ours["controller_manager"]["ros__parameters"]
    driver_types = DRIVER["ur_controllers_yaml"]["controllers"]
    spawned = CONTROL["controllers_active"] + CONTROL["controllers_inactive"]
    for name in spawned:
        assert name in declared, f"{name} (spawned by the driver) is not in {CONTROLLERS.name}"
        assert declared[name]["type"] == driver_types[name]["type"], name
        wanted = set(driver_types[name]["parameters"])
        got = set((ours.get(name) or {}).get("ros__parameters") or {})
        assert wanted <= got, f"{name}: missing parameters {sorted(wanted - got)}"
    assert declared[graph.OSC_CONTROLLER]["type"] == "omnireset_control/OscTorqueController"


def test_osc_controller_claims_exactly_the_six_effort_interfaces(ours):
    joints = ours[graph.OSC_CONTROLLER]["ros__parameters"]["joints"]
    hw = DRIVER["hardware_interface"]
    assert "effort" in hw["command_interfaces"]
    assert tuple(joints) == tuple(hw["joints"]) == graph.UR_JOINTS
    claimed = graph.effort_interfaces(joints)
    assert claimed == [f"{j}/effort" for j in hw["joints"]] and len(set(claimed)) == 6
    assert hw["torque_control_min_software"] == {"polyscope_5": "5.23.0", "polyscope_x": "10.10.0"}


def test_osc_plugin_builds_its_command_interfaces_as_the_test_assumes():
    src = (HERE.parents[1] / "omnireset_control" / "src" / "osc_torque_controller.cpp").read_text()
    assert 'config.names.push_back(j + "/effort")' in src


def test_controllers_file_for_the_launch_sets_robot_and_calibration(ours, tmp_path):
    calib = tmp_path / "calib.yaml"
    calib.write_text("kinematics: {}\n")
    out = graph.osc_controllers_config(ours, robot="ur10e", calibration_file=str(calib))
    assert out[graph.OSC_CONTROLLER]["ros__parameters"]["robot"] == "ur10e"
    assert out[graph.OSC_CONTROLLER]["ros__parameters"]["calibration_file"] == str(calib)
    assert ours[graph.OSC_CONTROLLER]["ros__parameters"]["robot"] == "ur7e"  # the source is untouched
    # every other OSC parameter is the file's, unchanged
    rest = {k: v for k, v in out[graph.OSC_CONTROLLER]["ros__parameters"].items()
            if k not in ("robot", "calibration_file")}
    assert rest == {k: v for k, v in ours[graph.OSC_CONTROLLER]["ros__parameters"].items()
                    if k not in ("robot", "calibration_file")}
    _, description = _launch(kinematics_params_file=str(calib))
    assert description == {"kinematics_params_file": str(calib.resolve())}


@pytest.mark.parametrize("kw, message", [
    ({"ur_type": "ur5"}, "kinematics for ur3e, ur5e, ur7e, ur10e only"),
    ({"robot_ip": " "}, "robot_ip is empty"),
    ({"headless_mode": "maybe"}, "headless_mode must be true or false"),
    ({"kinematics_params_file": "/nonexistent/calib.yaml"}, "does not exist"),
])
def test_bad_values_are_one_line_errors(kw, message):
    with pytest.raises(ValueError, match=message) as info:
        _launch(**kw)
    assert "\n" not in str(info.value)


def test_bad_controllers_file_is_refused(ours):
    with pytest.raises(ValueError, match="does not declare osc_torque_controller"):
        graph.osc_controllers_config({"controller_manager": {"ros__parameters": {}}}, robot="ur7e")
    with pytest.raises(ValueError, match="kinematics for"):
        graph.osc_controllers_config(ours, robot="ur30")


def test_osc_robots_are_the_kinematics_tables():
    kinematics = pytest.importorskip("omnireset_control.kinematics")
    assert graph.OSC_ROBOTS == tuple(kinematics.SUPPORTED_ROBOTS)
    assert set(graph.OSC_ROBOTS) <= set(CONTROL["choices"]["ur_type"])


def test_failed_step_message_names_step_code_reason_and_hint():
    assert graph.failed_message("osc_torque_controller spawner", 1, "switch failed", "needs 5.23") == (
        "osc_torque_controller spawner failed (exit 1): switch failed; needs 5.23")


# --- mock hardware that takes the OSC controller's torques ------------------------------------
MOCK = DRIVER["mock_hardware"]
GENERIC = DRIVER["mock_components_generic_system"]


def _mock_urdf(plugin=MOCK["plugin"], params=None, command_interfaces=tuple(MOCK["command_interfaces"]),
               prefix="") -> str:
    """A description shaped as ur.ros2_control.xacro renders it (hardware block, six joints)."""
    params = MOCK["params"] if params is None else params
    hw = "".join(f'<param name="{k}">{v}</param>' for k, v in params.items())
    joints = "".join(
        f'<joint name="{prefix}{j}">' + "".join(f'<command_interface name="{c}"/>' for c in command_interfaces)
        + "".join(f'<state_interface name="{s}"/>' for s in MOCK["state_interfaces"]) + "</joint>"
        for j in graph.UR_JOINTS)
    return (f'<robot name="ur7e"><link name="base_link"/><ros2_control name="ur7e" type="system">'
            f"<hardware><plugin>{plugin}</plugin>{hw}</hardware>{joints}</ros2_control></robot>")


def _generic_system_accepts(urdf: str, start_interfaces: list[str]) -> bool:
    """GenericSystem::prepare_command_mode_switch's rule (fixture), on a rendered description."""
    import xml.etree.ElementTree as ET

    hardware = ET.fromstring(urdf).find("ros2_control/hardware")
    dynamics = {p.get("name"): p.text for p in hardware.findall("param")}.get("calculate_dynamics") == "true"
    if not dynamics:
        return True
    for joint in graph.UR_JOINTS:
        started = [i for i in start_interfaces if i.startswith(joint + "/")]
        if started and sum(i.split("/")[-1] in GENERIC["calculate_dynamics_modes"] for i in started) != 1:
            return False
    return True


def test_the_drivers_mock_hardware_refuses_the_osc_controller_and_ours_takes_it():
    effort = graph.effort_interfaces(graph.UR_JOINTS)
    upstream = _mock_urdf()
    assert not _generic_system_accepts(upstream, effort)  # why real.launch.py changes the mock description
    assert _generic_system_accepts(upstream, [f"{j}/position" for j in graph.UR_JOINTS])
    ours = graph.effort_capable_mock_description(upstream)
    assert _generic_system_accepts(ours, effort)


def test_the_mock_description_changes_only_calculate_dynamics():
    import xml.etree.ElementTree as ET

    before, after = _mock_urdf(prefix="left_"), graph.effort_capable_mock_description(_mock_urdf(prefix="left_"))
    params = {p.get("name"): p.text for p in ET.fromstring(after).find("ros2_control/hardware").findall("param")}
    assert params == {**MOCK["params"], "calculate_dynamics": "false"}
    strip = lambda x: [(e.tag, e.get("name"), (e.text or "").strip()) for e in ET.fromstring(x).iter()  # noqa: E731
                       if e.get("name") != "calculate_dynamics"]
    assert strip(before) == strip(after)  # every joint, interface and link kept, with its tf_prefix
    # A mock block without the flag gets it, off.
    added = graph.effort_capable_mock_description(_mock_urdf(params={"mock_sensor_commands": "false"}))
    assert '<param name="calculate_dynamics">false</param>' in added


@pytest.mark.parametrize("urdf, message", [
    ("<robot><ros2_control", "not XML"),
    (_mock_urdf(plugin="ur_robot_driver/URPositionHardwareInterface"), "no mock_components/GenericSystem"),
    (_mock_urdf(command_interfaces=("position", "velocity")), "shoulder_pan_joint, shoulder_lift_joint"),
])
def test_the_mock_description_refuses_what_it_must_not_change(urdf, message):
    with pytest.raises(ValueError, match=message) as err:
        graph.effort_capable_mock_description(urdf)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kinematics", [None, "/cal/my_robot_calibration.yaml"])
def test_the_mock_description_is_rendered_with_ur_rsps_arguments(kinematics):
    args = dict(a.split(":=", 1) for a in graph.ur_mock_description_xacro_args("ur10e", kinematics))
    assert args.pop("name") == args["ur_type"] == "ur10e"  # ur_rsp passes name:=<ur_type>
    assert MOCK["ur_rsp_xacro_name"] == "ur_type"
    assert args.pop("use_mock_hardware") == "true"
    assert args.pop("kinematics_params", None) == kinematics
    args.pop("ur_type")
    for name, value in args.items():  # everything else is ur_rsp.launch.py's own default
        assert RSP["arguments"][name] == value, name


def test_real_launch_uses_the_mock_description_only_on_mock_hardware():
    source = REAL_LAUNCH.read_text()
    assert 'if driver_args["use_mock_hardware"] == "true":' in source
    assert 'description_cfg["description_file"] = _mock_description_file(' in source
    assert "description_file" in RSP["arguments"]  # an argument of ur_rsp.launch.py, set as a configuration


@pytest.mark.skipif(not __import__("shutil").which("xacro"), reason="xacro and ur_robot_driver not installed")
def test_the_drivers_own_mock_description_renders_and_converts():
    """Where the driver is installed (the local ros2_control build, a robot PC): the real xacro."""
    import subprocess

    from ament_index_python.packages import get_package_share_directory

    xacro_file = Path(get_package_share_directory("ur_robot_driver")) / "urdf" / "ur.urdf.xacro"
    urdf = subprocess.run(["xacro", str(xacro_file), *graph.ur_mock_description_xacro_args("ur7e")],
                          capture_output=True, text=True, check=True).stdout
    assert not _generic_system_accepts(urdf, graph.effort_interfaces(graph.UR_JOINTS))
    assert _generic_system_accepts(graph.effort_capable_mock_description(urdf), graph.effort_interfaces(graph.UR_JOINTS))
