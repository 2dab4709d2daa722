"""NodeSpec (graph.py) -> launch_ros Node: the only place that imports launch_ros.

``to_launch_nodes`` adds the start-up contract to each node: a node that exits with
``graph.STARTUP_ERROR_EXIT`` (2: it could not start) stops the whole launch, which logs
``Caught exception in launch ...: node 'policy' could not start (exit 2, not respawned): <its
last error line>`` and exits non-zero; the pending respawn is cancelled by that shutdown. Any
other exit (a crash, a signal) is respawned as the spec says (launch's own respawn).
"""

from __future__ import annotations

from launch.actions import OpaqueFunction, RegisterEventHandler, TimerAction
from launch.event_handlers import OnProcessExit, OnProcessIO
from launch_ros.actions import Node

from .graph import (STARTUP_ERROR_EXIT, NodeSpec, config_file, failed_message, last_error_line,
                    refused_message)


class NodeStartupError(RuntimeError):
    """Raised inside the launch (an event handler) when a node exits with STARTUP_ERROR_EXIT."""


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


def startup_guard(action, name: str, delay: float = 0.5, fatal=None, describe=None) -> list:
    """Event handlers that end the launch when ``action`` (any launch process action) exits with
    STARTUP_ERROR_EXIT, naming the reason (the last error line of its output). The end comes
    ``delay`` s after the exit, so the node's last output (read from its pty after the exit event)
    is in; keep it below the node's respawn_delay: the launch's shutdown cancels the pending
    respawn. ``fatal(returncode)`` / ``describe(returncode, reason)`` replace the exit-2 rule and
    its message (``must_succeed``)."""
    output: list[str] = []
    fatal = fatal or (lambda returncode: returncode == STARTUP_ERROR_EXIT)
    describe = describe or (lambda returncode, reason: refused_message(name, reason))

    def on_output(event) -> None:
        output.append(event.text.decode(errors="replace"))
        del output[:-50]  # the reason is near the end

    def on_exit(event, context):
        returncode = event.returncode
        if fatal(returncode) and not getattr(context, "is_shutdown", False):
            def fail(context) -> None:
                raise NodeStartupError(describe(returncode, last_error_line("".join(output))))

            return [TimerAction(period=delay, actions=[OpaqueFunction(function=fail)])]
        output.clear()  # a crash: launch respawns it; the next run's output starts afresh
        return None

    return [RegisterEventHandler(OnProcessIO(target_action=action, on_stdout=on_output, on_stderr=on_output)),
            RegisterEventHandler(OnProcessExit(target_action=action, on_exit=on_exit))]


def to_launch_nodes(specs: list[NodeSpec]) -> list:
    """launch_ros Nodes of a graph, each with its start-up guard (handlers registered first)."""
    actions = []
    for spec in specs:
        node = to_launch_node(spec)
        delay = min(0.5, spec.respawn_delay / 2) if spec.respawn else 0.5
        actions += [*startup_guard(node, spec.name, delay), node]
    return actions


def must_succeed(action, name: str, hint: str = "", delay: float = 0.5) -> list:
    """Handlers that end the launch when a one-shot step (a controller spawner) exits non-zero,
    naming it, its last error line and ``hint``; the launch then stops everything it started
    (the UR driver included, so the arm is left to the robot's own stop)."""
    return startup_guard(action, name, delay, fatal=lambda returncode: returncode != 0,
                         describe=lambda returncode, reason: failed_message(name, returncode, reason, hint))
