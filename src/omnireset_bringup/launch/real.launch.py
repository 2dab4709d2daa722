"""The deployment graph on the real robot: UR driver + OSC torque controller, three RealSense
cameras, Robotiq gripper, static camera extrinsics, policy and supervisor (respawned).

    ros2 launch omnireset_bringup real.launch.py robot_ip:=192.168.1.102 ur_type:=ur7e \
        kinematics_params_file:=/path/to/my_robot_calibration.yaml

Requires on the robot PC (docker/Dockerfile installs them): ur_robot_driver with effort command
interfaces (driver >= 3.5.0 and a ur_description whose joints declare them; robot software
>= 5.23.0 / PolyScope X >= 10.10.0 for torque control), realsense2_camera, tf2_ros, and for the
gripper PickNikRobotics/ros2_robotiq_gripper (robotiq_description, robotiq_controllers,
robotiq_driver: not in Jazzy's apt, built from source) with ros2_controllers'
parallel_gripper_controller, robot_state_publisher and xacro. Where one is missing, the launch
stops before starting anything and names it.

The UR driver's ur_control.launch.py gets only arguments it declares (graph.ur_driver_launch;
checked against the driver's Jazzy sources by test_real_launch_matches_ur_driver.py): its own
scaled_joint_trajectory_controller as initial_joint_controller, not activated, and our
controllers file (every controller its spawners load, plus osc_torque_controller). A spawner of
our own then loads and activates osc_torque_controller; if that fails (old robot software, no
effort interfaces, controller error) the whole launch stops, naming the reason.
kinematics_params_file is an argument of ur_rsp.launch.py: it is set as a launch configuration
before the include, as the driver's docs pass it on the command line, and unset when empty so
ur_rsp's default (the nominal kinematics) applies.

The Robotiq driver is a ros2_control hardware plugin, so the gripper runs as its
robotiq_control.launch.py runs it (graph.robotiq_gripper_launch; checked against its sources by
test_real_launch_matches_robotiq_driver.py): a controller manager of its own in the `gripper`
namespace, a robot_state_publisher there serving it robotiq_2f_85_gripper.urdf.xacro, and
spawners for joint_state_broadcaster (publishing on /joint_states), robotiq_gripper_controller
(action /gripper/robotiq_gripper_controller/gripper_cmd, control_msgs/ParallelGripperCommand) and
robotiq_activation_controller. With use_mock_hardware:=true the gripper is mock hardware too.

With use_mock_hardware:=true the arm's description is the driver's own ur.urdf.xacro rendered as
ur_rsp.launch.py would, with the mock's calculate_dynamics turned off: upstream's mock hardware
(calculate_dynamics true) refuses effort-only controllers, so osc_torque_controller could never
be activated on it (graph.effort_capable_mock_description). The joints then stay where they are.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction, RegisterEventHandler,
                            SetLaunchConfiguration, UnsetLaunchConfiguration)
from launch.event_handlers import OnShutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import Command, FindExecutable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from omnireset_bringup.graph import (GRIPPER_DESCRIPTION, GRIPPER_NAMESPACE, MOCK_DESCRIPTION_FILE, OSC_CONTROLLER,
                                     TOPICS, config_file, effort_capable_mock_description, gripper_controllers_config,
                                     gripper_spawner_arguments, osc_controllers_config, osc_spawner_arguments,
                                     real_graph, robotiq_gripper_launch, ur_driver_launch,
                                     ur_mock_description_xacro_args)
from omnireset_bringup.launch_nodes import must_succeed, to_launch_nodes

HARDWARE_PACKAGES = ("ur_robot_driver", "controller_manager", "tf2_ros")
CAMERA_PACKAGES = ("realsense2_camera",)
# ros2_robotiq_gripper's packages are not in Jazzy's apt (only robotiq_description/robotiq_controllers
# 0.0.1, without the controllers the launch needs): built from source on the robot PC.
GRIPPER_SOURCE_PACKAGES = ("robotiq_description", "robotiq_controllers")
GRIPPER_APT_PACKAGES = ("parallel_gripper_controller", "robot_state_publisher", "xacro")
GRIPPER_HARDWARE_PACKAGE = "robotiq_driver"  # the hardware plugin; not loaded on mock hardware

ARGS = {
    "ur_type": ("ur7e", "UR series the OSC controller has kinematics for: ur3e ur5e ur7e ur10e"),
    "robot_ip": ("192.168.1.102", "robot controller IP"),
    "kinematics_params_file": ("", "factory calibration (ur_calibration output); empty = nominal"),
    "policy_dir": ("", "exported policy directory; empty = shipped demo policy"),
    "camera_calibration": ("", "camera serials + extrinsics YAML; empty = config/cameras_extrinsics.yaml"),
    "launch_gripper": ("true", "start the Robotiq gripper (its own controller manager in /gripper)"),
    "gripper_com_port": ("/dev/ttyUSB0", "Robotiq serial port (/tmp/ttyUR with the UR tool communication)"),
    "launch_cameras": ("true", "start the three RealSense cameras (false: the policy is told none is published)"),
    "headless_mode": ("true", "UR driver headless mode (no External Control URCap program needed)"),
    "use_mock_hardware": ("false", "UR driver: ros2_control mock hardware instead of the robot"),
}

GRIPPER_SPAWN_HINT = ("the Robotiq controllers need the gripper on gripper_com_port (robotiq_driver from "
                      "PickNikRobotics/ros2_robotiq_gripper) and ros2_controllers' parallel_gripper_controller")
OSC_SPAWN_HINT = ("osc_torque_controller needs the UR driver's <joint>/effort command interfaces: robot "
                  "software >= 5.23.0 (PolyScope X >= 10.10.0), ur_robot_driver >= 3.5.0 and a ur_description "
                  "that declares them")


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes")


def _require_hardware_packages(value: dict):
    apt = list(HARDWARE_PACKAGES) + (list(CAMERA_PACKAGES) if _truthy(value["launch_cameras"]) else [])
    source = []
    if _truthy(value["launch_gripper"]):
        apt += GRIPPER_APT_PACKAGES
        source += GRIPPER_SOURCE_PACKAGES
        if not _truthy(value["use_mock_hardware"]):
            source.append(GRIPPER_HARDWARE_PACKAGE)

    def missing(pkgs):
        out = []
        for pkg in pkgs:
            try:
                get_package_share_directory(pkg)
            except PackageNotFoundError:
                out.append(pkg)
        return out

    missing_apt, missing_source = missing(apt), missing(source)
    if missing_apt or missing_source:
        how = []
        if missing_apt:
            how.append("apt-get install " + " ".join(f"ros-jazzy-{p.replace('_', '-')}" for p in missing_apt))
        if missing_source:
            how.append("build PickNikRobotics/ros2_robotiq_gripper (main) from source")
        raise RuntimeError(
            "real.launch.py needs the hardware drivers, missing here: " + ", ".join(missing_apt + missing_source)
            + " (" + "; ".join(how) + ", or use docker/Dockerfile); for simulation use sim.launch.py")


def _controllers_file(ur_type: str, kinematics_params_file: str) -> str:
    """omnireset_control's ur_osc_controllers.yaml with the OSC controller set to ``ur_type`` and
    the calibration, written to a temporary folder that _graph removes at shutdown."""
    base = Path(get_package_share_directory("omnireset_control")) / "config" / "ur_osc_controllers.yaml"
    try:
        doc = yaml.safe_load(base.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RuntimeError(f"real.launch.py: {base}: {exc}") from None
    doc = osc_controllers_config(doc, robot=ur_type, calibration_file=kinematics_params_file)
    out = Path(tempfile.mkdtemp(prefix="omnireset_real_")) / "ur_osc_controllers.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(out)


def _mock_description_file(ur_type: str, kinematics_params_file: str | None, tmp: Path) -> str:
    """The driver's own ur.urdf.xacro rendered as ur_rsp.launch.py would on mock hardware, with
    the mock's calculate_dynamics off so that it takes the OSC controller's torques
    (graph.effort_capable_mock_description says why), written to ``tmp``."""
    xacro_file = Path(get_package_share_directory("ur_robot_driver")) / "urdf" / "ur.urdf.xacro"
    xacro = shutil.which("xacro")
    if xacro is None:
        raise RuntimeError("real.launch.py: use_mock_hardware needs the xacro executable (package xacro)")
    try:
        run = subprocess.run([xacro, str(xacro_file), *ur_mock_description_xacro_args(ur_type, kinematics_params_file)],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"real.launch.py: xacro {xacro_file}: {exc}") from None
    if run.returncode != 0:
        reason = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"real.launch.py: xacro {xacro_file} failed: {reason}")
    try:
        urdf = effort_capable_mock_description(run.stdout)
    except ValueError as exc:
        raise RuntimeError(f"real.launch.py: {xacro_file}: {exc}") from None
    out = tmp / MOCK_DESCRIPTION_FILE
    out.write_text(urdf)
    return str(out)


def _gripper_actions(xacro_args: dict, controller_params: dict, tmp: Path) -> list:
    """The Robotiq 2F-85 under its own controller manager, as its robotiq_control.launch.py runs
    it (module docstring): the controllers file gets the speed/force interfaces of the hardware."""
    base = Path(config_file("gripper.yaml"))
    try:
        doc = gripper_controllers_config(yaml.safe_load(base.read_text()) or {}, controller_params)
    except (OSError, yaml.YAMLError) as exc:
        raise RuntimeError(f"real.launch.py: {base}: {exc}") from None
    controllers = tmp / "gripper_controllers.yaml"
    controllers.write_text(yaml.safe_dump(doc, sort_keys=False))
    package, relative = GRIPPER_DESCRIPTION
    xacro_file = str(Path(get_package_share_directory(package)) / relative)
    command = [FindExecutable(name="xacro"), " ", xacro_file]
    for name, v in xacro_args.items():
        command += [" ", f"{name}:={v}"]
    description = {"robot_description": ParameterValue(Command(command), value_type=str)}
    # Both read the gripper's joints from /joint_states (its broadcaster publishes there): the
    # description on /gripper/robot_description feeds this controller manager only, never the arm's.
    actions = [
        Node(package="robot_state_publisher", executable="robot_state_publisher", namespace=GRIPPER_NAMESPACE,
             parameters=[description], remappings=[("joint_states", TOPICS["joint_states"])], output="screen"),
        Node(package="controller_manager", executable="ros2_control_node", namespace=GRIPPER_NAMESPACE,
             parameters=[str(controllers)], output="screen", emulate_tty=True),
    ]
    for arguments in gripper_spawner_arguments(str(controllers)):
        spawner = Node(package="controller_manager", executable="spawner", name=f"gripper_{arguments[0]}_spawner",
                       arguments=arguments, output="screen", emulate_tty=True)
        actions += [*must_succeed(spawner, f"gripper {arguments[0]} spawner", GRIPPER_SPAWN_HINT), spawner]
    return actions


def _graph(context):
    value = {k: LaunchConfiguration(k).perform(context) for k in ARGS}
    _require_hardware_packages(value)
    calib_path = value["camera_calibration"] or config_file("cameras_extrinsics.yaml")
    calib = yaml.safe_load(Path(calib_path).read_text())
    serials = {name: str(cam.get("serial_no", "")) for name, cam in calib.get("cameras", {}).items()
               if cam.get("serial_no")}

    try:
        driver_args, description_cfg = ur_driver_launch(
            ur_type=value["ur_type"], robot_ip=value["robot_ip"], controllers_file="",  # written below
            headless_mode=value["headless_mode"], use_mock_hardware=value["use_mock_hardware"],
            kinematics_params_file=value["kinematics_params_file"])
        gripper = (robotiq_gripper_launch(value["gripper_com_port"], value["use_mock_hardware"])
                   if _truthy(value["launch_gripper"]) else None)
        # Checked values only: the OSC controller gets the arm and calibration the driver gets.
        driver_args["controllers_file"] = _controllers_file(
            driver_args["ur_type"], description_cfg["kinematics_params_file"] or "")
    except ValueError as exc:
        raise RuntimeError(f"real.launch.py: {exc}") from None
    tmp = Path(driver_args["controllers_file"]).parent
    if driver_args["use_mock_hardware"] == "true":  # ur_rsp.launch.py renders this file instead of its default
        try:
            description_cfg["description_file"] = _mock_description_file(
                driver_args["ur_type"], description_cfg["kinematics_params_file"], tmp)
        except RuntimeError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    actions = [RegisterEventHandler(OnShutdown(
        on_shutdown=lambda event, context: shutil.rmtree(tmp, ignore_errors=True)))]
    # ur_rsp.launch.py's arguments that ur_control.launch.py only forwards: set (or unset, so that
    # ur_rsp's default applies) before the include; our own declaration of kinematics_params_file
    # would otherwise hand it an empty path.
    actions += [SetLaunchConfiguration(name, v) if v is not None else UnsetLaunchConfiguration(name)
                for name, v in description_cfg.items()]
    actions.append(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            str(Path(get_package_share_directory("ur_robot_driver")) / "launch" / "ur_control.launch.py")),
        launch_arguments=driver_args.items(),
    ))
    spawner = Node(package="controller_manager", executable="spawner", name=f"{OSC_CONTROLLER}_spawner",
                   arguments=osc_spawner_arguments(), output="screen", emulate_tty=True)
    actions += [*must_succeed(spawner, f"{OSC_CONTROLLER} spawner", OSC_SPAWN_HINT), spawner]
    # Static extrinsics of the third-person cameras (the wrist camera rides on the flange).
    for name, cam in (calib.get("cameras", {}) if _truthy(value["launch_cameras"]) else {}).items():
        x, y, z = cam["position"]
        qx, qy, qz, qw = cam["orientation_xyzw"]
        actions.append(Node(
            package="tf2_ros", executable="static_transform_publisher", name=f"{name}_extrinsics",
            arguments=["--x", str(x), "--y", str(y), "--z", str(z), "--qx", str(qx), "--qy", str(qy),
                       "--qz", str(qz), "--qw", str(qw), "--frame-id", cam["parent_frame"],
                       "--child-frame-id", f"{name}_link"]))
    if gripper is not None:
        try:
            actions += _gripper_actions(*gripper, tmp)
        except ValueError as exc:  # a gripper.yaml without the controllers
            raise RuntimeError(f"real.launch.py: {exc}") from None
    # Policy and supervisor: a start-up error (exit 2, e.g. a policy made for another robot than
    # ur_type) stops the launch with the node's reason instead of a respawn loop.
    actions += to_launch_nodes(real_graph(policy_dir=value["policy_dir"] or None, camera_serials=serials,
                                          robot=value["ur_type"], cameras=_truthy(value["launch_cameras"])))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(k, default_value=d, description=h) for k, (d, h) in ARGS.items()]
        + [OpaqueFunction(function=_graph)]
    )
