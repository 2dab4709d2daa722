"""The deployment graph on the real robot: UR driver + OSC torque controller, three RealSense
cameras, Robotiq gripper, static camera extrinsics, policy and supervisor (respawned).

    ros2 launch omnireset_bringup real.launch.py robot_ip:=192.168.1.102 ur_type:=ur7e \
        kinematics_params_file:=/path/to/my_robot_calibration.yaml

Requires on the robot PC (docker/Dockerfile installs them): ur_robot_driver (PolyScope >= 5.23 for
direct torque), realsense2_camera, robotiq_driver, tf2_ros. Where one is missing, the launch stops
before starting anything and names it.
"""

from pathlib import Path

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from omnireset_bringup.graph import CAMERA_NAMESPACE, config_file, real_graph
from omnireset_bringup.launch_nodes import to_launch_nodes

HARDWARE_PACKAGES = ("ur_robot_driver", "realsense2_camera", "robotiq_driver", "tf2_ros")

ARGS = {
    "ur_type": ("ur7e", "UR series: ur3e ur5e ur7e ur10e ..."),
    "robot_ip": ("192.168.1.102", "robot controller IP"),
    "kinematics_params_file": ("", "factory calibration (ur_calibration output); empty = nominal"),
    "policy_dir": ("", "exported policy directory; empty = shipped demo policy"),
    "camera_calibration": ("", "camera serials + extrinsics YAML; empty = config/cameras_extrinsics.yaml"),
    "launch_gripper": ("true", "start the Robotiq driver"),
    "headless_mode": ("true", "UR driver headless mode (no External Control URCap program needed)"),
}


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


def _graph(context):
    _require_hardware_packages()
    value = {k: LaunchConfiguration(k).perform(context) for k in ARGS}
    calib_path = value["camera_calibration"] or config_file("cameras_extrinsics.yaml")
    calib = yaml.safe_load(Path(calib_path).read_text())
    serials = {name: str(cam.get("serial_no", "")) for name, cam in calib.get("cameras", {}).items()
               if cam.get("serial_no")}

    ur_launch = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            str(Path(get_package_share_directory("ur_robot_driver")) / "launch" / "ur_control.launch.py")),
        launch_arguments={
            "ur_type": value["ur_type"],
            "robot_ip": value["robot_ip"],
            "controllers_file": str(Path(get_package_share_directory("omnireset_control"))
                                    / "config" / "ur_osc_controllers.yaml"),
            "initial_joint_controller": "osc_torque_controller",
            "activate_joint_controller": "true",
            "headless_mode": value["headless_mode"],
            "launch_rviz": "false",
            **({"kinematics_params_file": value["kinematics_params_file"]}
               if value["kinematics_params_file"] else {}),
        }.items(),
    )
    actions = [ur_launch]
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
