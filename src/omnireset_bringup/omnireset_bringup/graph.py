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


def default_policy_dir() -> str:
    """The shipped demo policy (installed share/omnireset_bringup/policies/demo)."""
    return str(config_dir().parent / "policies" / "demo")


def trained_policy_dir() -> str:
    """The shipped PPO policy (peg insertion Easy, 70 min of this CPU; README "Learning result")."""
    return str(config_dir().parent / "policies" / "peg_easy_ppo")


def _policy_spec(policy_dir: str, parameter_files: list[str], extra: dict | None = None) -> NodeSpec:
    """The policy node of both graphs: it publishes to the supervisor, never to the controller."""
    return NodeSpec(package="omnireset_policy", executable="policy_node", name="policy",
                    parameter_files=parameter_files,
                    parameters={**(extra or {}), "policy_path": policy_dir, "command_topic": TOPICS["policy_command"]},
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
) -> list[NodeSpec]:
    """The graph that runs against the MuJoCo sim node instead of the robot."""
    policy_dir = policy_dir or default_policy_dir()
    common = {"use_sim_time": True}
    return [
        NodeSpec(
            package="omnireset_sim",
            executable="sim_node",
            name="sim",
            parameter_files=["sim.yaml"],
            parameters={
                "task": task,
                "variant": variant,
                "publish_cameras": cameras,
                "real_time_factor": float(real_time_factor),
                "seed": int(seed),
                "command_topic": TOPICS["command"],
            },
        ),
        _policy_spec(policy_dir, ["policy.yaml"], common),
        _supervisor_spec(TOPICS["command"], common),
    ]


def real_graph(policy_dir: str | None = None, camera_serials: dict[str, str] | None = None) -> list[NodeSpec]:
    """The robot-side nodes of real.launch.py besides ur_robot_driver's own launch.

    The UR driver (with the OSC controller) is included by the launch file itself, since it is a
    launch description, not a node.
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
        for cam in CAMERAS
    ]
    nodes += [
        _policy_spec(policy_dir, ["policy.yaml", "policy_real.yaml"]),
        _supervisor_spec(TOPICS["controller_command"]),
    ]
    return nodes


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
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_param_literal(v) for v in value) + "]"
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
