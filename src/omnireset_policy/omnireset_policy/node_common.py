"""Helpers shared by the policy and supervisor nodes: parameters, start-up errors, time."""

from __future__ import annotations

import math
import sys
import traceback

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.parameter import Parameter

# Parameters every rclpy node accepts without declaring them itself.
_BUILTIN_PARAMETERS = ("use_sim_time", "start_type_description_service")
_BUILTIN_PREFIXES = ("qos_overrides.",)


class StartupError(RuntimeError):
    """A node cannot start (bad parameter, missing policy...); main() prints it and exits non-zero."""


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


def run_node(prog: str, make_node, args=None) -> int:
    """rclpy main loop with the start-up contract: any failure to construct the node prints
    ``<prog>: error: <reason>`` and returns 2, so a launch file sees a dead node, never a half one."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    try:
        try:
            node = make_node()
        except StartupError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
            return 2
        except Exception as exc:  # anything else at start-up is also fatal, with its reason
            print(f"{prog}: error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            traceback.print_exc()
            return 2
        try:
            rclpy.spin(node)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


__all__ = ["Parameter", "StartupError", "declare", "check_no_unknown_parameters", "require_positive",
           "stamp_to_ns", "ns_to_stamp", "run_node"]
