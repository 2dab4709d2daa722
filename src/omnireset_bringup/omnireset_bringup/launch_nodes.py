"""NodeSpec (graph.py) -> launch_ros Node: the only place that imports launch_ros."""

from __future__ import annotations

from launch_ros.actions import Node

from .graph import NodeSpec, config_file


def to_launch_node(spec: NodeSpec, extra_parameters: dict | None = None) -> Node:
    params = [config_file(name) for name in spec.parameter_files]
    params.append({**spec.parameters, **(extra_parameters or {})})
    return Node(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        namespace=spec.namespace or None,
        parameters=params,
        remappings=spec.remappings,
        respawn=spec.respawn,
        respawn_delay=spec.respawn_delay if spec.respawn else None,
        output="screen",
        emulate_tty=True,
    )
