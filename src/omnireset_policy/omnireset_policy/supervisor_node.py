"""supervisor_node: the single command source for the controller (thin adapter over supervisor_core).

It relays the policy's PoseDelta commands to the controller topic, forcing the gripper open while
the stuck override (paper A.4) is active and relaying nothing while paused or when the policy's
commands stopped (watchdog hold: the controller keeps its last target). Commands with NaN/Inf are
rejected. It counts evaluation outcomes (``EpisodeOutcome`` from the sim, or the ReportOutcome
service on hardware) and publishes SupervisorStatus and /diagnostics (rqt_runtime_monitor).
"""

from __future__ import annotations

import math
import sys

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from omnireset_msgs.msg import EpisodeOutcome, PoseDelta, SupervisorStatus
from omnireset_msgs.srv import ReportOutcome, ResetCounters, SetPaused
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import JointState

from omnireset_control.constants import ARM_JOINT_NAMES
from omnireset_policy.node_common import (StartupError, check_no_unknown_parameters, declare, ns_to_stamp,
                                          require_positive, run_node, stamp_to_ns)
from omnireset_policy.policy_node import DEFAULT_COMMAND_TOPIC as DEFAULT_POLICY_COMMAND_TOPIC
from omnireset_policy.policy_node import DEFAULT_SUPERVISOR_STATUS_TOPIC
from omnireset_policy.supervisor_core import (STATE_PAUSED, STATE_RUNNING, STATE_STUCK_OVERRIDE, SupervisorCore,
                                              SupervisorParams)

DEFAULT_CONTROLLER_COMMAND_TOPIC = "/omnireset/command"
DEFAULT_OUTCOME_TOPIC = "/omnireset/episode_outcome"
SET_PAUSED_SERVICE = "/omnireset/supervisor/set_paused"
RESET_COUNTERS_SERVICE = "/omnireset/supervisor/reset_counters"
REPORT_OUTCOME_SERVICE = "/omnireset/supervisor/report_outcome"


class SupervisorNode(Node):
    def __init__(self):
        super().__init__("supervisor_node", allow_undeclared_parameters=False,
                         automatically_declare_parameters_from_overrides=False)
        defaults = SupervisorParams()
        p = {
            "policy_command_topic": declare(self, "policy_command_topic", DEFAULT_POLICY_COMMAND_TOPIC,
                                            "PoseDelta input from the policy node."),
            "command_topic": declare(self, "command_topic", DEFAULT_CONTROLLER_COMMAND_TOPIC,
                                     "PoseDelta output to the controller (this node is its only source)."),
            "joint_states_topic": declare(self, "joint_states_topic", "/joint_states",
                                          "sensor_msgs/JointState for stuck detection (arm joints by name)."),
            "episode_outcome_topic": declare(self, "episode_outcome_topic", DEFAULT_OUTCOME_TOPIC,
                                             "omnireset_msgs/EpisodeOutcome (the sim's success ground truth)."),
            "status_topic": declare(self, "status_topic", DEFAULT_SUPERVISOR_STATUS_TOPIC, "SupervisorStatus output."),
            "stuck_window": declare(self, "stuck_window", defaults.stuck_window,
                                    "Stuck if every arm joint moved less than stuck_threshold over this many s (A.4)."),
            "stuck_threshold": declare(self, "stuck_threshold", defaults.stuck_threshold,
                                       "Largest joint displacement (rad) over the window that still counts as stuck."),
            "override_duration": declare(self, "override_duration", defaults.override_duration,
                                         "Seconds the gripper is forced open after a stuck detection."),
            "watchdog_timeout": declare(self, "watchdog_timeout", defaults.watchdog_timeout,
                                        "No valid policy command for this many s: hold (relay nothing)."),
            "joint_state_timeout": declare(self, "joint_state_timeout", defaults.joint_state_timeout,
                                           "Joint states older than this (s) make the stuck test undecided."),
            "status_rate_hz": declare(self, "status_rate_hz", 20.0, "SupervisorStatus rate (ROS clock)."),
            "diagnostics_period": declare(self, "diagnostics_period", 1.0, "Seconds between /diagnostics messages."),
            "hardware_id": declare(self, "hardware_id", "omnireset_arm", "hardware_id in /diagnostics."),
        }
        check_no_unknown_parameters(self)
        try:
            params = SupervisorParams(**{k: p[k] for k in ("stuck_window", "stuck_threshold", "override_duration",
                                                           "watchdog_timeout", "joint_state_timeout")})
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        status_rate = require_positive("status_rate_hz", p["status_rate_hz"])
        self.diagnostics_period = require_positive("diagnostics_period", p["diagnostics_period"])
        self.hardware_id = p["hardware_id"]
        self.core = SupervisorCore(params, now=self._now())
        self.joint_error = ""
        self.command_pub = self.create_publisher(PoseDelta, p["command_topic"], QoSProfile(depth=10))
        self.status_pub = self.create_publisher(SupervisorStatus, p["status_topic"], QoSProfile(depth=10))
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", QoSProfile(depth=10))
        self.create_subscription(PoseDelta, p["policy_command_topic"], self._on_command, QoSProfile(depth=10))
        self.create_subscription(JointState, p["joint_states_topic"], self._on_joints, qos_profile_sensor_data)
        self.create_subscription(EpisodeOutcome, p["episode_outcome_topic"], self._on_outcome, QoSProfile(depth=50))
        self.create_service(SetPaused, SET_PAUSED_SERVICE, self._on_set_paused)
        self.create_service(ResetCounters, RESET_COUNTERS_SERVICE, self._on_reset_counters)
        self.create_service(ReportOutcome, REPORT_OUTCOME_SERVICE, self._on_report_outcome)
        self.create_timer(1.0 / status_rate, self._publish_status)
        self._last_diag = -math.inf
        self.get_logger().info(f"relaying {p['policy_command_topic']} -> {p['command_topic']}; {params}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- callbacks ----------------------------------------------------------------------------
    def _on_joints(self, msg: JointState) -> None:
        index = {name: i for i, name in enumerate(msg.name)}
        if any(n not in index for n in ARM_JOINT_NAMES) or len(msg.position) != len(msg.name):
            self.joint_error = f"joint_states without all arm joints {list(ARM_JOINT_NAMES)}"
            return
        t = stamp_to_ns(msg.header.stamp) * 1e-9 or self._now()
        try:
            self.core.on_joint_state(t, [msg.position[index[n]] for n in ARM_JOINT_NAMES])
            self.joint_error = ""
        except ValueError as exc:
            self.joint_error = str(exc)

    def _on_command(self, msg: PoseDelta) -> None:
        decision = self.core.on_policy_command(self._now(), np.concatenate((msg.action, msg.scale)))
        if decision.relay:
            if decision.force_gripper_open:
                msg.gripper = PoseDelta.GRIPPER_OPEN
            self.command_pub.publish(msg)
        elif decision.reason.startswith("rejected"):
            self.get_logger().warning(decision.reason, throttle_duration_sec=1.0)

    def _on_outcome(self, msg: EpisodeOutcome) -> None:
        self.core.record_outcome(msg.success, msg.first_try)

    def _on_set_paused(self, request, response):
        response.message = self.core.set_paused(request.paused, self._now())
        response.success = True
        self._publish_status()  # the policy node sees the new state at once
        return response

    def _on_reset_counters(self, request, response):
        self.core.reset_counters(self._now())
        response.success = True
        response.message = "counters reset"
        return response

    def _on_report_outcome(self, request, response):
        self.core.record_outcome(request.success, request.first_try)
        snap = self.core.snapshot(self._now())
        response.accepted = True
        response.message = f"attempts {snap.attempts}, successes {snap.successes}, first-try {snap.first_try_successes}"
        return response

    # --- outputs ------------------------------------------------------------------------------
    def _publish_status(self) -> None:
        now = self._now()
        snap = self.core.snapshot(now)
        msg = SupervisorStatus()
        ns_to_stamp(int(now * 1e9), msg.header.stamp)
        msg.state = snap.state
        msg.state_name = snap.state_name
        msg.stuck = snap.stuck
        msg.override_active = snap.override_active
        msg.override_remaining = snap.override_remaining
        msg.max_joint_displacement = snap.max_joint_displacement
        msg.command_age = snap.command_age
        msg.overrides = snap.overrides
        msg.attempts = snap.attempts
        msg.successes = snap.successes
        msg.first_try_successes = snap.first_try_successes
        msg.throughput_per_minute = snap.throughput_per_minute
        msg.elapsed = snap.elapsed
        self.status_pub.publish(msg)
        if now - self._last_diag >= self.diagnostics_period or now < self._last_diag:
            self._last_diag = now
            self._publish_diagnostics(msg, snap)

    def _publish_diagnostics(self, msg: SupervisorStatus, snap) -> None:
        status = DiagnosticStatus(name="omnireset: supervisor", hardware_id=self.hardware_id)
        if snap.state == STATE_RUNNING and not self.joint_error:
            status.level, status.message = DiagnosticStatus.OK, "running"
        elif snap.state in (STATE_PAUSED, STATE_STUCK_OVERRIDE):
            status.level, status.message = DiagnosticStatus.WARN, snap.state_name
        elif snap.state == STATE_RUNNING:
            status.level, status.message = DiagnosticStatus.WARN, self.joint_error
        else:
            status.level = DiagnosticStatus.ERROR
            status.message = ("watchdog hold: no policy command received yet" if math.isnan(snap.command_age)
                              else f"watchdog hold: last policy command {snap.command_age:.2f} s ago")
        values = {"state": snap.state_name, "command_age": f"{snap.command_age:.3f}",
                  "max_joint_displacement": f"{snap.max_joint_displacement:.5f}", "overrides": snap.overrides,
                  "attempts": snap.attempts, "successes": snap.successes,
                  "first_try_successes": snap.first_try_successes,
                  "throughput_per_minute": f"{snap.throughput_per_minute:.3f}", "elapsed": f"{snap.elapsed:.1f}",
                  "relayed_commands": snap.relayed_commands, "rejected_commands": snap.rejected_commands,
                  "last_error": snap.last_error or self.joint_error}
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = msg.header.stamp
        array.status = [status]
        self.diag_pub.publish(array)


def main(args=None) -> int:
    return run_node("supervisor_node", SupervisorNode, args)


if __name__ == "__main__":
    sys.exit(main())
