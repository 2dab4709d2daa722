"""The deployment graph against the MuJoCo sim node (no hardware).

    ros2 launch omnireset_bringup sim.launch.py task:=peg_insertion variant:=easy cameras:=true

The node list comes from omnireset_bringup.graph.sim_graph, the same one the plain-Python runner
(`python -m omnireset_bringup.run_graph`) starts. A policy that does not fit the sim (task, robot,
rate, cameras, image size) stops the launch before anything starts; a node that exits with its
start-up error (exit 2) stops it with that reason instead of being respawned (launch_nodes).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from omnireset_bringup.graph import check_policy_fits, sim_graph
from omnireset_bringup.launch_nodes import to_launch_nodes

ARGS = {
    "task": ("peg_insertion", "task name (omnireset_sim task registry)"),
    "variant": ("easy", "easy | hard"),
    "policy_dir": ("", "exported policy directory; empty = shipped demo policy"),
    "cameras": ("false", "render and publish the three camera topics (CPU rendering is slow)"),
    "real_time_factor": ("1.0", "sim speed relative to wall clock (upper bound)"),
    "seed": ("0", "sim seed"),
}


def _nodes(context):
    value = {k: LaunchConfiguration(k).perform(context) for k in ARGS}
    specs = sim_graph(
        task=value["task"],
        variant=value["variant"],
        policy_dir=value["policy_dir"] or None,
        cameras=value["cameras"].lower() in ("1", "true", "yes"),
        real_time_factor=float(value["real_time_factor"]),
        seed=int(value["seed"]),
    )
    check_policy_fits(specs)  # raises with the difference: launch logs it and exits non-zero
    return to_launch_nodes(specs)


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(k, default_value=d, description=h) for k, (d, h) in ARGS.items()]
        + [OpaqueFunction(function=_nodes)]
    )
