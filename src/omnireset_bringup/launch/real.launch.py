"""The deployment graph on the real robot: UR driver + OSC torque controller, three RealSense
cameras, Robotiq gripper, static camera extrinsics, policy and supervisor (respawned).

    ros2 launch omnireset_bringup real.launch.py robot_ip:=192.168.1.102 ur_type:=ur7e \
        kinematics_params_file:=/path/to/my_robot_calibration.yaml

Requires on the robot PC (docker/Dockerfile installs them): ur_robot_driver with effort command
interfaces (driver >= 3.5.0 and a ur_description whose joints declare them; robot software
>= 5.23.0 / PolyScope X >= 10.10.0 for torque control), realsense2_camera, robotiq_driver,
tf2_ros. Where one is missing, the launch stops before starting anything and names it.

The UR driver's ur_control.launch.py gets only arguments it declares (graph.ur_driver_launch;
checked against the driver's Jazzy sources by test_real_launch_matches_ur_driver.py): its own
scaled_joint_trajectory_controller as initial_joint_controller, not activated, and our
controllers file (every controller its spawners load, plus osc_torque_controller). A spawner of
our own then loads and activates osc_torque_controller; if that fails (old robot software, no
effort interfaces, controller error) the whole launch stops, naming the reason.
kinematics_params_file is an argument of ur_rsp.launch.py: it is set as a launch configuration
before the include, as the driver's docs pass it on the command line, and unset when empty so
ur_rsp's default (the nominal kinematics) applies.
"""

import shutil
import tempfile
from pathlib import Path

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction, RegisterEventHandler,
                            SetLaunchConfiguration, UnsetLaunchConfiguration)
from launch.event_handlers import OnShutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from omnireset_bringup.graph import (OSC_CONTROLLER, config_file, osc_controllers_config, osc_spawner_arguments,
                                     real_graph, ur_driver_launch)
from omnireset_bringup.launch_nodes import must_succeed, to_launch_nodes

HARDWARE_PACKAGES = ("ur_robot_driver", "controller_manager", "realsense2_camera", "robotiq_driver", "tf2_ros")

ARGS = {
    "ur_type": ("ur7e", "UR series the OSC controller has kinematics for: ur3e ur5e ur7e ur10e"),
    "robot_ip": ("192.168.1.102", "robot controller IP"),
    "kinematics_params_file": ("", "factory calibration (ur_calibration output); empty = nominal"),
    "policy_dir": ("", "exported policy directory; empty = shipped demo policy"),
    "camera_calibration": ("", "camera serials + extrinsics YAML; empty = config/cameras_extrinsics.yaml"),
    "launch_gripper": ("true", "start the Robotiq driver"),
    "headless_mode": ("true", "UR driver headless mode (no External Control URCap program needed)"),
    "use_mock_hardware": ("false", "UR driver: ros2_control mock hardware instead of the robot"),
}

OSC_SPAWN_HINT = ("osc_torque_controller needs the UR driver's <joint>/effort command interfaces: robot "
                  "software >= 5.23.0 (PolyScope X >= 10.10.0), ur_robot_driver >= 3.5.0 and a ur_description "
                  "that declares them")


def _require_hardware_packages():
    missing = []
    for pkg in HARDWARE_PACKAGES:
        try:
            get_package_share_directory(pkg)
        except PackageNotFoundError:
            missing.append(pkg)
    if missing:
        raise RuntimeError(
            "real.launch.py needs the hardware drivers, missing here: " + ", ".join(missing)
            + " (apt-get install " + " ".join(f"ros-jazzy-{p.replace('_', '-')}" for p in missing)
            + ", or use docker/Dockerfile); for simulation use sim.launch.py")


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


def _graph(context):
    _require_hardware_packages()
    value = {k: LaunchConfiguration(k).perform(context) for k in ARGS}
    calib_path = value["camera_calibration"] or config_file("cameras_extrinsics.yaml")
    calib = yaml.safe_load(Path(calib_path).read_text())
    serials = {name: str(cam.get("serial_no", "")) for name, cam in calib.get("cameras", {}).items()
               if cam.get("serial_no")}

    try:
        driver_args, description_cfg = ur_driver_launch(
            ur_type=value["ur_type"], robot_ip=value["robot_ip"], controllers_file="",  # written below
            headless_mode=value["headless_mode"], use_mock_hardware=value["use_mock_hardware"],
            kinematics_params_file=value["kinematics_params_file"])
        # Checked values only: the OSC controller gets the arm and calibration the driver gets.
        driver_args["controllers_file"] = _controllers_file(
            driver_args["ur_type"], description_cfg["kinematics_params_file"] or "")
    except ValueError as exc:
        raise RuntimeError(f"real.launch.py: {exc}") from None
    tmp = Path(driver_args["controllers_file"]).parent
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
    for name, cam in calib.get("cameras", {}).items():
        x, y, z = cam["position"]
        qx, qy, qz, qw = cam["orientation_xyzw"]
        actions.append(Node(
            package="tf2_ros", executable="static_transform_publisher", name=f"{name}_extrinsics",
            arguments=["--x", str(x), "--y", str(y), "--z", str(z), "--qx", str(qx), "--qy", str(qy),
                       "--qz", str(qz), "--qw", str(qw), "--frame-id", cam["parent_frame"],
                       "--child-frame-id", f"{name}_link"]))
    if value["launch_gripper"].lower() in ("1", "true", "yes"):
        actions.append(Node(package="robotiq_driver", executable="robotiq_driver_node", name="gripper",
                            parameters=[config_file("gripper.yaml")], respawn=True))
    # Policy and supervisor: a start-up error (exit 2, e.g. a policy made for another robot than
    # ur_type) stops the launch with the node's reason instead of a respawn loop.
    actions += to_launch_nodes(real_graph(policy_dir=value["policy_dir"] or None, camera_serials=serials,
                                          robot=value["ur_type"]))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(k, default_value=d, description=h) for k, (d, h) in ARGS.items()]
        + [OpaqueFunction(function=_graph)]
    )
