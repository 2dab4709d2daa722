"""Helpers shared by the policy and supervisor nodes: parameters, start-up errors, time."""

from __future__ import annotations

import math
import sys

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.parameter import Parameter

# Parameters every rclpy node accepts without declaring them itself.
_BUILTIN_PARAMETERS = ("use_sim_time", "start_type_description_service")
_BUILTIN_PREFIXES = ("qos_overrides.",)


# Exit status of a node that cannot start (bad parameter, missing or mismatched policy...): final,
# the node is not respawned. Crashes (any other status, signals) are.
STARTUP_ERROR_EXIT = 2


class StartupError(RuntimeError):
    """A node cannot start (bad parameter, missing policy...); main() prints it and exits 2."""


def declare(node, name: str, default, description: str):
    """Declare a parameter with a description; ``default`` may be a ``Parameter.Type`` (no default)."""
    value = node.declare_parameter(name, default, ParameterDescriptor(description=description)).value
    return value


def check_no_unknown_parameters(node) -> None:
    """Parameters given on the command line or in a YAML file that the node never declared are a
    typo or a stale config: refuse them rather than run with a silently ignored setting."""
    declared = set(node._parameters)  # noqa: SLF001 (rclpy has no public listing of the overrides)
    unknown = sorted(name for name in node._parameter_overrides  # noqa: SLF001
                     if name not in declared and name not in _BUILTIN_PARAMETERS
                     and not name.startswith(_BUILTIN_PREFIXES))
    if unknown:
        raise StartupError(f"unknown parameter(s) {unknown}; this node accepts {sorted(declared)}")


def require_positive(name: str, value) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise StartupError(f"parameter {name} must be a positive number, got {value!r}")
    return float(value)


def stamp_to_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int, stamp) -> None:
    stamp.sec, stamp.nanosec = divmod(int(ns), 1_000_000_000)


def startup_error_line(prog: str, exc: BaseException) -> str:
    """The one line a node prints when it cannot start: ``<prog>: error: <reason>``."""
    if isinstance(exc, StartupError):
        reason = str(exc)
    else:  # unexpected: keep where it happened, still on one line
        import traceback

        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
        reason = f"{type(exc).__name__}: {exc}{where}"
    return f"{prog}: error: {' '.join(reason.split())}"


def run_node(prog: str, make_node, args=None) -> int:
    """rclpy main loop with the start-up contract: any failure to construct the node (or to parse
    its ROS arguments) prints one line, ``<prog>: error: <reason>``, and returns
    ``STARTUP_ERROR_EXIT`` (2), never a traceback; a launcher must not respawn a node that exited
    so (omnireset_bringup's runner and launch files stop the graph instead)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    node = None
    try:
        try:
            rclpy.init(args=args)
            node = make_node()
        except Exception as exc:  # noqa: BLE001 - anything at start-up is fatal, with its reason
            print(startup_error_line(prog, exc), file=sys.stderr, flush=True)
            return STARTUP_ERROR_EXIT
        try:
            rclpy.spin(node)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except Exception:  # noqa: BLE001
            # A SIGINT/SIGTERM that lands while the executor builds its wait set: rclpy's signal
            # handler has already shut the context down, and spin raises RCLError ("the given
            # context is not valid") instead of ExternalShutdownException (seen under ros2 launch,
            # which then counted the node as crashed and respawned it during shutdown). A shut-down
            # context is a clean stop; anything else is a real crash.
            if rclpy.ok():
                raise
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


__all__ = ["Parameter", "STARTUP_ERROR_EXIT", "StartupError", "startup_error_line", "declare",
           "check_no_unknown_parameters", "require_positive", "stamp_to_ns", "ns_to_stamp", "run_node"]
