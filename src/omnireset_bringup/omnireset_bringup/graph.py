"""One declarative description of the deployment graph.

``sim.launch.py``, ``real.launch.py`` and the plain-Python runner (``run_graph``) all read the node
list from here, so a parameter or remapping is written once. A :class:`NodeSpec` says which
executable runs, under which name, with which parameter files and overrides, remappings, and
whether it is respawned; nothing here imports ``launch`` so it is usable (and tested) where
``ros2 launch`` is not installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "omnireset_bringup"

# Topic names shared by the nodes of the graph (one definition).
TOPICS = {
    "joint_states": "/joint_states",
    "policy_command": "/omnireset/policy/command",
    "command": "/omnireset/command",
    "policy_status": "/omnireset/policy/status",
    "supervisor_status": "/omnireset/supervisor/status",
    "episode_outcome": "/omnireset/episode_outcome",
    "target_pose": "/omnireset/object_pose/target",
    "receptive_pose": "/omnireset/object_pose/receptive",
    # On the robot the supervisor relays straight into the ros2_control OSC controller
    # (omnireset_control/OscTorqueController subscribes ~/command).
    "controller_command": "/osc_torque_controller/command",
}

# A node that exits with this status could not start (bad parameter, missing or mismatched policy;
# omnireset_policy.node_common.STARTUP_ERROR_EXIT): that is final, it is not respawned and the graph
# stops with the node's reason. Any other exit (a crash, a signal) is respawned where the spec asks.
STARTUP_ERROR_EXIT = 2

# The rate the policy runs at in both graphs: the training env's (physics 120 Hz / decimation 12);
# omnireset_control.constants.POLICY_RATE_HZ, not imported so this module needs nothing but Python.
POLICY_RATE_HZ = 10.0

# The three cameras, named and namespaced as realsense2_camera names its topics:
# /<namespace>/<name>/color/image_raw
CAMERAS = ("front", "side", "wrist")
CAMERA_NAMESPACE = "camera"


def camera_topic(name: str, namespace: str = CAMERA_NAMESPACE) -> str:
    return f"/{namespace}/{name}/color/image_raw"


@dataclass
class NodeSpec:
    package: str
    executable: str
    name: str
    namespace: str = ""
    parameter_files: list[str] = field(default_factory=list)  # names in this package's config/
    parameters: dict[str, Any] = field(default_factory=dict)  # overrides, applied after the files
    remappings: list[tuple[str, str]] = field(default_factory=list)
    respawn: bool = False
    respawn_delay: float = 2.0
    # Only the plain-Python runner honours this: where the node cannot exist on a machine
    # without the hardware drivers, the runner refuses the graph instead of half-starting it.
    needs_hardware: bool = False


def config_dir() -> Path:
    """The installed config directory (share/omnireset_bringup/config), or the source one."""
    try:
        from ament_index_python.packages import get_package_share_directory

        path = Path(get_package_share_directory(PACKAGE)) / "config"
        if path.is_dir():
            return path
    except Exception:  # noqa: BLE001 - not installed: fall back to the source tree
        pass
    return Path(__file__).resolve().parents[1] / "config"


def config_file(name: str) -> str:
    path = config_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{PACKAGE}: config file {name!r} not found in {path.parent}")
    return str(path)


def scripted_policy_dir() -> str:
    """The scripted reach-and-close stand-in (share/omnireset_bringup/policies/demo)."""
    return str(config_dir().parent / "policies" / "demo")


def oracle_policy_dir(task: str) -> str:
    """The privileged scripted oracle of ``task`` (share/omnireset_bringup/policies/oracle_<task>),
    made by ``python -m omnireset_sim.oracle``: the whole task from any start (README "Oracle")."""
    return str(config_dir().parent / "policies" / f"oracle_{task}")


def default_policy_dir(task: str = "peg_insertion") -> str:
    """What a graph runs without --policy: the task's oracle until a trained policy beats it from the
    sim node's starts (README "Oracle"); the scripted stand-in for a task without an oracle."""
    oracle = Path(oracle_policy_dir(task))
    return str(oracle) if oracle.is_dir() else scripted_policy_dir()


def trained_policy_dir() -> str:
    """The shipped PPO policy (peg insertion Easy, 70 min of this CPU; README "Learning result")."""
    return str(config_dir().parent / "policies" / "peg_easy_ppo")


def _policy_spec(policy_dir: str, parameter_files: list[str], extra: dict | None = None,
                 cell: dict | None = None) -> NodeSpec:
    """The policy node of both graphs: it publishes to the supervisor, never to the controller.
    ``cell``: what the policy must have been made for (task, robot, rate_hz, available_cameras),
    checked by the node itself at start-up."""
    return NodeSpec(package="omnireset_policy", executable="policy_node", name="policy",
                    parameter_files=parameter_files,
                    parameters={**(extra or {}), **(cell or {}), "policy_path": policy_dir,
                                "command_topic": TOPICS["policy_command"]},
                    respawn=True)


def _supervisor_spec(command_topic: str, extra: dict | None = None) -> NodeSpec:
    """The supervisor of both graphs: the single source of the controller's commands."""
    return NodeSpec(package="omnireset_policy", executable="supervisor_node", name="supervisor",
                    parameter_files=["supervisor.yaml"],
                    parameters={**(extra or {}), "policy_command_topic": TOPICS["policy_command"],
                                "command_topic": command_topic},
                    respawn=True)


def sim_graph(
    task: str = "peg_insertion",
    variant: str = "easy",
    policy_dir: str | None = None,
    cameras: bool = False,
    real_time_factor: float = 1.0,
    seed: int = 0,
    robot: str = "ur7e",
) -> list[NodeSpec]:
    """The graph that runs against the MuJoCo sim node instead of the robot. The policy node is
    told the sim's task, robot, rate and cameras and refuses a policy made for anything else."""
    policy_dir = policy_dir or default_policy_dir(task)
    common = {"use_sim_time": True}
    sim = NodeSpec(
        package="omnireset_sim",
        executable="sim_node",
        name="sim",
        parameter_files=["sim.yaml"],
        parameters={
            "task": task,
            "variant": variant,
            "robot": robot,
            "publish_cameras": cameras,
            "real_time_factor": float(real_time_factor),
            "seed": int(seed),
            "command_topic": TOPICS["command"],
        },
    )
    cell = sim_cell(sim)
    policy_cell = {"task": cell["task"], "robot": cell["robot"], "rate_hz": cell["rate_hz"],
                   "available_cameras": list(cell["cameras"]) or [""]}  # [""]: publishes none
    return [sim, _policy_spec(policy_dir, ["policy.yaml"], common, policy_cell),
            _supervisor_spec(TOPICS["command"], common)]


def _file_parameters(name: str, resolve=config_file) -> dict:
    """The ``ros__parameters`` of a parameter file of this package (all ``/**`` sections)."""
    import yaml

    doc = yaml.safe_load(Path(resolve(name)).read_text()) or {}
    out = {}
    for section in doc.values():
        if isinstance(section, dict):
            out.update(section.get("ros__parameters") or {})
    return out


def sim_cell(sim: NodeSpec, resolve=config_file) -> dict:
    """What the sim node of a graph runs (its parameter files, then its overrides): task, robot,
    policy rate, published cameras ([] when off) and image size (height, width)."""
    params = {}
    for name in sim.parameter_files:
        params.update(_file_parameters(name, resolve))
    params.update(sim.parameters)
    on = bool(params.get("publish_cameras", False))
    return {"task": params.get("task", "peg_insertion"), "robot": params.get("robot", "ur7e"),
            "rate_hz": POLICY_RATE_HZ,
            "cameras": [c for c in params.get("camera_names", CAMERAS) if c] if on else [],
            "image_size": (int(params.get("image_height", 224)), int(params.get("image_width", 224)))}


def check_policy_fits(nodes: list[NodeSpec], resolve=config_file):
    """Load the graph's policy (as the policy node will) and check it against the sim node's
    configuration: task, robot, rate, cameras, image size. Raises ``ValueError`` (an
    ``ArtifactError``: one line naming the policy and every difference) before anything starts.
    Returns the loaded policy. Graphs without a sim node are checked by the policy node alone."""
    by_name = {n.name: n for n in nodes}
    if "sim" not in by_name or "policy" not in by_name:
        return None
    from omnireset_policy.exported_policy import check_policy_matches, load_exported_policy

    cell = sim_cell(by_name["sim"], resolve)
    policy = load_exported_policy(by_name["policy"].parameters["policy_path"])
    check_policy_matches(policy, where="the sim", task=cell["task"],
                         robot=cell["robot"], rate_hz=cell["rate_hz"], cameras=cell["cameras"],
                         image_size=cell["image_size"])
    return policy


def last_error_line(text: str) -> str:
    """The reason a node gave for stopping: the last line of its output that reports an error
    (``<node>: error: ...``, an rclpy ``[ERROR]``/``[FATAL]`` log line), else its last line."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    for line in reversed(lines):
        if re.search(r"\berror\b|\[FATAL\]", line, flags=re.IGNORECASE):
            return line
    return lines[-1] if lines else "(no output)"


def refused_message(name: str, reason: str) -> str:
    """How the runner and the launch files report a node that exited with STARTUP_ERROR_EXIT."""
    return f"node {name!r} could not start (exit {STARTUP_ERROR_EXIT}, not respawned): {reason}"


def real_graph(policy_dir: str | None = None, camera_serials: dict[str, str] | None = None,
               robot: str | None = None, cameras: bool = True) -> list[NodeSpec]:
    """The robot-side nodes of real.launch.py besides ur_robot_driver's own launch.

    The UR driver (with the OSC controller) is included by the launch file itself, since it is a
    launch description, not a node. The policy node checks the policy against the arm's model
    (``robot``, real.launch.py's ``ur_type``), the launched cameras and the 10 Hz rate.
    ``cameras=False`` (real.launch.py ``launch_cameras:=false``) starts no camera node and tells
    the policy node the cell publishes none, so an image policy is refused with that reason.
    """
    policy_dir = policy_dir or default_policy_dir()
    serials = camera_serials or {}
    nodes = [
        NodeSpec(
            package="realsense2_camera",
            executable="realsense2_camera_node",
            name=cam,
            namespace=CAMERA_NAMESPACE,
            parameter_files=["cameras.yaml"],
            parameters={"serial_no": f"'{serials[cam]}'"} if cam in serials else {},
            respawn=True,
            needs_hardware=True,
        )
        for cam in (CAMERAS if cameras else ())
    ]
    nodes += [
        _policy_spec(policy_dir, ["policy.yaml", "policy_real.yaml"],
                     cell={**({"robot": robot} if robot else {}), "rate_hz": POLICY_RATE_HZ,
                           "available_cameras": list(CAMERAS) if cameras else [""]}),  # [""]: none
        _supervisor_spec(TOPICS["controller_command"]),
        # The gripper bit of the relayed command, to the Robotiq controller's action (the OSC
        # controller takes only the arm's part); needs control_msgs, hence the robot PC.
        NodeSpec(package="omnireset_policy", executable="gripper_bridge_node", name="gripper_bridge",
                 parameters={"command_topic": TOPICS["controller_command"], "action_name": GRIPPER_ACTION,
                             "joint_name": GRIPPER_JOINT},
                 respawn=True, needs_hardware=True),
    ]
    return nodes


# --- The UR driver as real.launch.py includes it ---------------------------------------------
# Checked against Universal_Robots_ROS2_Driver, branch jazzy, commit a16a2687 (3.8.0+27) and its
# 3.8.0 release; the driver's side, written down as data, is test/fixtures/ur_robot_driver_jazzy.yaml
# and test_real_launch_matches_ur_driver.py compares this section with it.

OSC_CONTROLLER = "osc_torque_controller"
UR_JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint",
             "wrist_3_joint")
# The arms the OSC controller has kinematics for (omnireset_control.kinematics.SUPPORTED_ROBOTS; not
# imported so this module needs nothing but Python; a test keeps the two equal).
OSC_ROBOTS = ("ur3e", "ur5e", "ur7e", "ur10e")
# What the driver's launch is told to load as its joint controller: one of its own (its
# `initial_joint_controller` accepts only its choices, and with activate_joint_controller:=true it
# calls controllers_inactive.remove() on the name). It is loaded inactive and never activated here;
# osc_torque_controller is loaded and activated by real.launch.py's own spawner instead.
UR_DRIVER_JOINT_CONTROLLER = "scaled_joint_trajectory_controller"
CONTROLLER_MANAGER = "/controller_manager"
OSC_SPAWNER_TIMEOUT_S = 30  # s the spawner waits for the controller manager (the driver's own: 10)


def _bool_text(name: str, value) -> str:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return "true"
    if text in ("0", "false", "no"):
        return "false"
    raise ValueError(f"{name} must be true or false, got {value!r}")


def ur_driver_launch(ur_type: str, robot_ip: str, controllers_file: str, headless_mode="true",
                     use_mock_hardware="false", kinematics_params_file: str = "",
                     ) -> tuple[dict[str, str], dict[str, str | None]]:
    """What real.launch.py hands ur_robot_driver's ``ur_control.launch.py``.

    Returns ``(arguments, description_configurations)``: ``arguments`` are the include's
    launch_arguments, all declared by ur_control.launch.py; ``description_configurations`` are
    arguments of ``ur_rsp.launch.py`` that ur_control.launch.py does not declare and only forwards
    through the launch configurations (the driver's documented ``kinematics_params_file:=...``);
    real.launch.py sets them before the include, and ``None`` means unset, i.e. ur_rsp's default
    (ur_description's ``config/<ur_type>/default_kinematics.yaml``). Raises ``ValueError`` (one
    line) for a value the driver or the OSC controller cannot take.
    """
    if ur_type not in OSC_ROBOTS:
        raise ValueError(f"ur_type {ur_type!r}: the OSC torque controller has kinematics for "
                         + ", ".join(OSC_ROBOTS) + " only")
    if not str(robot_ip).strip():
        raise ValueError("robot_ip is empty")
    if kinematics_params_file:
        if not Path(kinematics_params_file).is_file():
            raise ValueError(f"kinematics_params_file {kinematics_params_file!r} does not exist")
        kinematics_params_file = str(Path(kinematics_params_file).resolve())
    arguments = {
        "ur_type": ur_type,
        "robot_ip": str(robot_ip).strip(),
        "controllers_file": str(controllers_file),
        "headless_mode": _bool_text("headless_mode", headless_mode),
        "use_mock_hardware": _bool_text("use_mock_hardware", use_mock_hardware),
        "initial_joint_controller": UR_DRIVER_JOINT_CONTROLLER,
        "activate_joint_controller": "false",
        "launch_rviz": "false",
    }
    return arguments, {"kinematics_params_file": kinematics_params_file or None}


def osc_spawner_arguments() -> list[str]:
    """controller_manager's ``spawner`` arguments that load, configure and activate the OSC
    controller (its type and parameters come from the controllers file ros2_control_node was
    started with). It waits for the controller manager the driver starts; activation is refused
    by the UR hardware where the robot software cannot do torque control (< 5.23.0 / 10.10.0)."""
    return [OSC_CONTROLLER, "--controller-manager", CONTROLLER_MANAGER,
            "--controller-manager-timeout", str(OSC_SPAWNER_TIMEOUT_S)]


def effort_interfaces(joints) -> list[str]:
    """The command interfaces OscTorqueController claims (command_interface_configuration())."""
    return [f"{joint}/effort" for joint in joints]


def osc_controllers_config(doc: dict, robot: str, calibration_file: str = "") -> dict:
    """The controllers file handed to the driver: ``doc`` (omnireset_control's
    ur_osc_controllers.yaml) with the OSC controller set to the launched arm (``robot`` =
    ``ur_type``) and its calibration (the same kinematics_params file the driver gets; empty =
    nominal), so the controller's kinematics are those of the arm it drives."""
    import copy

    if robot not in OSC_ROBOTS:
        raise ValueError(f"ur_type {robot!r}: the OSC torque controller has kinematics for "
                         + ", ".join(OSC_ROBOTS) + " only")
    out = copy.deepcopy(doc)
    try:
        params = out[OSC_CONTROLLER]["ros__parameters"]
        declared = out["controller_manager"]["ros__parameters"][OSC_CONTROLLER]["type"]
    except (KeyError, TypeError):
        raise ValueError(f"the controllers file does not declare {OSC_CONTROLLER} with its parameters") from None
    if declared != "omnireset_control/OscTorqueController":
        raise ValueError(f"{OSC_CONTROLLER} has type {declared!r}, not omnireset_control/OscTorqueController")
    params["robot"] = robot
    params["calibration_file"] = calibration_file or ""
    return out



# --- Mock hardware that takes the OSC controller's torques -------------------------------------
# The driver's mock hardware (ur_robot_driver/urdf/ur.ros2_control.xacro with use_mock_hardware) is
# mock_components/GenericSystem with calculate_dynamics true. With that flag, GenericSystem's
# prepare_command_mode_switch (ros2_control 4.46.0, hardware_interface/src/mock_components/
# generic_system.cpp) refuses any joint started without a position, velocity or acceleration
# command, so an effort-only controller such as osc_torque_controller can never be activated on
# it (measured: "Joint 'shoulder_pan_joint' has to have 'position', 'velocity', or 'acceleration'
# interface!"). Without calculate_dynamics the mock takes the effort commands (mirrored to the
# effort state; the joints stay where they are), which is what a graph check needs. real.launch.py
# therefore renders the driver's own description with ur_rsp.launch.py's defaults, turns the flag
# off, and hands the result to ur_rsp.launch.py as its description_file. Never on the robot.
MOCK_HARDWARE_PLUGIN = "mock_components/GenericSystem"
# ur_rsp.launch.py's own defaults for the xacro arguments that shape the ros2_control block and
# the limits (checked against the driver fixture's ur_rsp_launch table by the tests).
UR_RSP_DESCRIPTION_DEFAULTS = {"tf_prefix": "", "mock_sensor_commands": "false", "safety_limits": "true",
                               "safety_pos_margin": "0.15", "safety_k_position": "20"}
MOCK_DESCRIPTION_FILE = "ur_mock_effort.urdf"


def ur_mock_description_xacro_args(ur_type: str, kinematics_params_file: str | None = None) -> list[str]:
    """The ``name:=value`` arguments real.launch.py gives xacro for the driver's ur.urdf.xacro on
    mock hardware: what ur_rsp.launch.py would pass (its name is ur_type), mock hardware on, and the
    calibration when one is given (else the xacro's default kinematics for ur_type)."""
    args = {"name": ur_type, "ur_type": ur_type, **UR_RSP_DESCRIPTION_DEFAULTS, "use_mock_hardware": "true"}
    if kinematics_params_file:
        args["kinematics_params"] = kinematics_params_file
    return [f"{k}:={v}" for k, v in args.items()]


def effort_capable_mock_description(urdf: str, joints=UR_JOINTS) -> str:
    """``urdf`` with every mock_components/GenericSystem hardware's calculate_dynamics set to
    false (see above). Raises ``ValueError`` (one line) for a description that is not XML, has no
    such hardware (the real robot's description must never be changed), or whose joints declare no
    effort command interface (ur_description older than 3.5.0: no torque control at all)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(urdf)
    except ET.ParseError as exc:
        raise ValueError(f"the robot description is not XML ({exc})") from None
    patched = 0
    for block in root.iter("ros2_control"):
        hardware = block.find("hardware")
        plugin = hardware.findtext("plugin", "").strip() if hardware is not None else ""
        if plugin != MOCK_HARDWARE_PLUGIN:
            continue
        effort = {j.get("name") for j in block.iter("joint")
                  if any(c.get("name") == "effort" for c in j.findall("command_interface"))}
        missing = [j for j in joints if not any(name.endswith(j) for name in effort)]
        if missing:
            raise ValueError("the mock description's joints " + ", ".join(missing) + " declare no effort command "
                             "interface (ur_description >= 3.5.0 declares it)")
        params = [p for p in hardware.findall("param") if p.get("name") == "calculate_dynamics"]
        if not params:
            params = [ET.SubElement(hardware, "param", name="calculate_dynamics")]
        for param in params:
            param.text = "false"
        patched += 1
    if not patched:
        raise ValueError(f"the robot description has no {MOCK_HARDWARE_PLUGIN} hardware; only mock hardware is "
                         "changed")
    return ET.tostring(root, encoding="unicode")

# --- The Robotiq 2F-85 as real.launch.py starts it -------------------------------------------
# Checked against PickNikRobotics/ros2_robotiq_gripper main 3b6cf8ff (robotiq_description's
# robotiq_control.launch.py, config/robotiq_controllers.yaml and urdf/2f_85.ros2_control.xacro,
# robotiq_driver's hardware_interface.cpp, robotiq_controllers) and ros2_controllers jazzy
# (parallel_gripper_controller). Jazzy's apt carries only robotiq_description and
# robotiq_controllers 0.0.1 (2024: no control launch, no controllers file) and no robotiq_driver,
# so the robot PC builds that repository from source. The driver is a ros2_control hardware
# plugin (robotiq_driver/RobotiqGripperHardwareInterface): it runs under a controller manager of
# its own, in GRIPPER_NAMESPACE, as its robotiq_control.launch.py runs it. The driver's side, as
# data: test/fixtures/robotiq_gripper_jazzy.yaml (test_real_launch_matches_robotiq_driver.py).

GRIPPER_NAMESPACE = "gripper"
GRIPPER_CONTROLLER_MANAGER = f"/{GRIPPER_NAMESPACE}/controller_manager"
GRIPPER_JOINT = "robotiq_85_left_knuckle_joint"  # omnireset_policy.policy_node.DEFAULT_GRIPPER_JOINT
GRIPPER_CONTROLLER = "robotiq_gripper_controller"  # parallel_gripper_action_controller/GripperActionController
GRIPPER_ACTIVATION_CONTROLLER = "robotiq_activation_controller"
# control_msgs/action/ParallelGripperCommand, served by the gripper controller ("~/gripper_cmd").
GRIPPER_ACTION = f"/{GRIPPER_NAMESPACE}/{GRIPPER_CONTROLLER}/gripper_cmd"
GRIPPER_CONTROLLERS = ("joint_state_broadcaster", GRIPPER_CONTROLLER, GRIPPER_ACTIVATION_CONTROLLER)
# The description that robotiq_control.launch.py runs xacro on, and the arguments it passes.
GRIPPER_DESCRIPTION = ("robotiq_description", "urdf/robotiq_2f_85_gripper.urdf.xacro")
GRIPPER_SPAWNER_TIMEOUT_S = 30


def robotiq_gripper_launch(com_port: str, use_mock_hardware="false") -> tuple[dict[str, str], dict[str, Any]]:
    """What real.launch.py starts the gripper with: ``(xacro_arguments, controller_parameters)``.

    ``xacro_arguments`` go to robotiq_2f_85_gripper.urdf.xacro (the two it declares);
    ``controller_parameters`` override ``robotiq_gripper_controller``'s parameters in the gripper's
    controllers file (config/gripper.yaml). The real hardware exports the speed and force command
    interfaces as ``<joint>/set_gripper_max_velocity`` and ``<joint>/set_gripper_max_effort``
    (upstream's robotiq_controllers.yaml names ``<joint>/velocity`` and ``<joint>/effort``, which
    the hardware does not export: activation would fail); mock hardware exports only the
    description's ``<joint>/position`` command, so there the controller claims no speed/force
    interface. Raises ValueError (one line) for an empty port or a non-boolean flag.
    """
    mock = _bool_text("use_mock_hardware", use_mock_hardware)
    if not str(com_port).strip():
        raise ValueError("gripper_com_port is empty")
    xacro_arguments = {"use_fake_hardware": mock, "com_port": str(com_port).strip()}
    if mock == "true":
        params = {"max_effort_interface": "", "max_velocity_interface": ""}
    else:
        params = {"max_effort_interface": f"{GRIPPER_JOINT}/set_gripper_max_effort",
                  "max_velocity_interface": f"{GRIPPER_JOINT}/set_gripper_max_velocity"}
    return xacro_arguments, params


def gripper_spawner_arguments(controllers_file: str) -> list[list[str]]:
    """One spawner per gripper controller, as robotiq_control.launch.py has them, aimed at the
    gripper's controller manager. Its joint_state_broadcaster publishes on the graph's
    /joint_states (not /gripper/joint_states), where the policy node looks for GRIPPER_JOINT."""
    common = ["--controller-manager", GRIPPER_CONTROLLER_MANAGER,
              "--controller-manager-timeout", str(GRIPPER_SPAWNER_TIMEOUT_S), "--param-file", controllers_file]
    out = []
    for name in GRIPPER_CONTROLLERS:
        extra = (["--controller-ros-args", f"-r joint_states:={TOPICS['joint_states']}"]
                 if name == "joint_state_broadcaster" else [])
        out.append([name, *common, *extra])
    return out


def gripper_controllers_config(doc: dict, controller_parameters: dict[str, Any]) -> dict:
    """config/gripper.yaml with ``controller_parameters`` set on the gripper controller."""
    import copy

    out = copy.deepcopy(doc)
    try:
        declared = {name: out["/**/controller_manager"]["ros__parameters"][name]["type"] for name in GRIPPER_CONTROLLERS}
        params = out[f"/**/{GRIPPER_CONTROLLER}"]["ros__parameters"]
    except (KeyError, TypeError):
        raise ValueError("the gripper controllers file does not declare " + ", ".join(GRIPPER_CONTROLLERS)
                         + " with the gripper controller's parameters") from None
    if declared[GRIPPER_CONTROLLER] != "parallel_gripper_action_controller/GripperActionController":
        raise ValueError(f"{GRIPPER_CONTROLLER} has type {declared[GRIPPER_CONTROLLER]!r}")
    params.update(controller_parameters)
    return out


def failed_message(name: str, returncode: int, reason: str, hint: str = "") -> str:
    """How real.launch.py reports a step that must succeed (the OSC spawner) and did not."""
    return f"{name} failed (exit {returncode}): {reason}" + (f"; {hint}" if hint else "")


def ros_arguments(spec: NodeSpec, resolve=config_file) -> list[str]:
    """``--ros-args`` for a node started by command line (the runner)."""
    args = ["--ros-args", "-r", f"__node:={spec.name}"]
    if spec.namespace:
        args += ["-r", f"__ns:=/{spec.namespace.strip('/')}"]
    for name in spec.parameter_files:
        args += ["--params-file", resolve(name)]
    for key, value in spec.parameters.items():
        args += ["-p", f"{key}:={_param_literal(value)}"]
    for src, dst in spec.remappings:
        args += ["-r", f"{src}:={dst}"]
    return args


def _param_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):  # '' keeps an empty string an element ([] would be "unset")
        return "[" + ",".join("''" if v == "" else _param_literal(v) for v in value) + "]"
    return str(value)


def executable_path(spec: NodeSpec) -> str:
    """Where ``ros2 run <package> <executable>`` would find the program."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = get_package_prefix(spec.package)
    except PackageNotFoundError as exc:
        raise RuntimeError(
            f"package {spec.package!r} (node {spec.name!r}) is not installed; "
            + ("it is a hardware driver, present only on the robot PC" if spec.needs_hardware
               else "run `make setup` (colcon build) and `source env.sh`")
        ) from exc
    path = Path(prefix) / "lib" / spec.package / spec.executable
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{spec.package} has no executable {spec.executable!r} at {path}")
    return str(path)
