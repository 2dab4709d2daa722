"""Supervisor logic without ROS: stuck detection (paper A.4), command watchdog, pause, counters.

States, highest priority first (the first that applies wins):
  PAUSED          an operator paused; nothing is relayed, the controller holds its last target.
  WATCHDOG_HOLD   no valid policy command for longer than ``watchdog_timeout`` (or none yet).
  STUCK_OVERRIDE  stuck detected: commands are relayed with the gripper forced open for
                  ``override_duration`` seconds (the override has priority over the policy).
  RUNNING         policy commands pass through unchanged.

Stuck detection (A.4): if every arm joint moved less than ``stuck_threshold`` rad over the last
``stuck_window`` seconds, open the gripper for ``override_duration`` seconds. "Moved" is the range
(max - min) of each joint's samples inside the window, so a joint that oscillates counts as
moving. The window must be fully covered by joint samples and the newest sample must be recent
(``joint_state_timeout``): a dead joint-state stream is not evidence of a still arm. The window
restarts after an override and while paused or holding (the arm is still on purpose then).

Times are float seconds of one clock (the ROS clock in the node, sim time honoured).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

STATE_RUNNING, STATE_PAUSED, STATE_WATCHDOG_HOLD, STATE_STUCK_OVERRIDE = 0, 1, 2, 3  # SupervisorStatus.STATE_*
STATE_NAMES = {STATE_RUNNING: "running", STATE_PAUSED: "paused", STATE_WATCHDOG_HOLD: "watchdog_hold",
               STATE_STUCK_OVERRIDE: "stuck_override"}

# Paper A.4 numbers.
DEFAULT_STUCK_WINDOW = 2.0  # s
DEFAULT_STUCK_THRESHOLD = 0.002  # rad
DEFAULT_OVERRIDE_DURATION = 1.0  # s
DEFAULT_WATCHDOG_TIMEOUT = 0.5  # s: five missed 10 Hz policy ticks
DEFAULT_JOINT_STATE_TIMEOUT = 0.5  # s


@dataclass(frozen=True)
class SupervisorParams:
    stuck_window: float = DEFAULT_STUCK_WINDOW
    stuck_threshold: float = DEFAULT_STUCK_THRESHOLD
    override_duration: float = DEFAULT_OVERRIDE_DURATION
    watchdog_timeout: float = DEFAULT_WATCHDOG_TIMEOUT
    joint_state_timeout: float = DEFAULT_JOINT_STATE_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("stuck_window", "stuck_threshold", "override_duration", "watchdog_timeout",
                     "joint_state_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"supervisor parameter {name} must be a positive number, got {value!r}")


class StuckDetector:
    """Joint samples over a sliding window; ``max_displacement`` is NaN until the window is covered."""

    def __init__(self, window: float, threshold: float, sample_timeout: float = DEFAULT_JOINT_STATE_TIMEOUT):
        self.window = window
        self.threshold = threshold
        self.sample_timeout = sample_timeout
        self._times: deque[float] = deque()
        self._positions: deque[np.ndarray] = deque()

    def add(self, t: float, positions) -> None:
        q = np.asarray(positions, dtype=np.float64).reshape(-1)
        if not np.isfinite(q).all():
            raise ValueError(f"joint positions have NaN/Inf: {q.tolist()}")
        if self._times and t < self._times[-1]:
            self.clear()  # time jumped back (sim reset, bag loop): start over
        self._times.append(float(t))
        self._positions.append(q)
        self._prune(t)

    def _prune(self, now: float) -> None:
        # keep exactly one sample at or before the window start, so coverage can be checked
        while len(self._times) >= 2 and self._times[1] <= now - self.window:
            self._times.popleft()
            self._positions.popleft()

    def clear(self) -> None:
        self._times.clear()
        self._positions.clear()

    def max_displacement(self, now: float) -> float:
        self._prune(now)
        if not self._times or self._times[0] > now - self.window or now - self._times[-1] > self.sample_timeout:
            return math.nan
        stacked = np.stack(self._positions)
        return float(np.max(stacked.max(axis=0) - stacked.min(axis=0)))

    def is_stuck(self, now: float) -> bool:
        d = self.max_displacement(now)
        return math.isfinite(d) and d < self.threshold


@dataclass
class SupervisorSnapshot:
    """Everything SupervisorStatus and /diagnostics show."""

    state: int
    state_name: str
    stuck: bool
    override_active: bool
    override_remaining: float
    max_joint_displacement: float
    command_age: float
    overrides: int
    attempts: int
    successes: int
    first_try_successes: int
    throughput_per_minute: float
    elapsed: float
    rejected_commands: int
    relayed_commands: int
    last_error: str


@dataclass(frozen=True)
class RelayDecision:
    relay: bool  # publish the command to the controller
    force_gripper_open: bool  # replace the policy's gripper with "open"
    reason: str = ""


class SupervisorCore:
    def __init__(self, params: SupervisorParams = SupervisorParams(), now: float = 0.0):
        self.params = params
        self.detector = StuckDetector(params.stuck_window, params.stuck_threshold, params.joint_state_timeout)
        self.paused = False
        self.last_command_time: float | None = None
        self.override_end: float | None = None
        self.rejected_commands = 0
        self.relayed_commands = 0
        self.last_error = ""
        self._last_update = now
        self._stuck_now = False
        self._override_stuck = False  # the running override was triggered by a stuck detection
        self._displacement = math.nan
        self.reset_counters(now)
        self.state = STATE_WATCHDOG_HOLD

    # --- inputs -------------------------------------------------------------------------------
    def on_joint_state(self, t: float, positions) -> None:
        self.detector.add(t, positions)

    def on_policy_command(self, now: float, values) -> RelayDecision:
        """A command from the policy; ``values`` are all its numbers (action, scale)."""
        arr = np.asarray(values, dtype=np.float64)
        if not np.isfinite(arr).all():
            self.rejected_commands += 1
            self.last_error = f"rejected a policy command with NaN/Inf: {arr.tolist()}"
            self.update(now)
            return RelayDecision(False, False, self.last_error)
        self.last_command_time = now
        state = self.update(now)
        if state == STATE_RUNNING:
            decision = RelayDecision(True, False)
        elif state == STATE_STUCK_OVERRIDE:
            decision = RelayDecision(True, True, "stuck override: gripper forced open")
        else:
            decision = RelayDecision(False, False, f"not relayed: {STATE_NAMES[state]}")
        if decision.relay:
            self.relayed_commands += 1
        return decision

    def set_paused(self, paused: bool, now: float) -> str:
        self.update(now)
        self.paused = bool(paused)
        self.detector.clear()
        return f"{'paused' if self.paused else 'resumed'}; state {STATE_NAMES[self.update(now)]}"

    def reset_counters(self, now: float) -> None:
        self.attempts = 0
        self.successes = 0
        self.first_try_successes = 0
        self.overrides = 0
        self.elapsed = 0.0
        self._last_update = now

    def record_outcome(self, success: bool, first_try: bool) -> None:
        """One finished attempt (the sim's success ground truth or an operator's verdict)."""
        self.attempts += 1
        if success:
            self.successes += 1
            if first_try:
                self.first_try_successes += 1

    # --- time ---------------------------------------------------------------------------------
    def update(self, now: float) -> int:
        dt = now - self._last_update
        if dt > 0 and not self.paused:
            self.elapsed += dt
        self._last_update = now
        if self.override_end is not None and now >= self.override_end:
            self.override_end = None
            self._override_stuck = False
            self.detector.clear()  # a new full window must show the arm still again
        watchdog = self.last_command_time is None or now - self.last_command_time > self.params.watchdog_timeout
        if self.paused or watchdog:
            self.detector.clear()
        self._displacement = self.detector.max_displacement(now)
        self._stuck_now = math.isfinite(self._displacement) and self._displacement < self.params.stuck_threshold
        if not (self.paused or watchdog) and self.override_end is None and self._stuck_now:
            self.override_end = now + self.params.override_duration
            self.overrides += 1
            # The detector restarts here, so the next update (a status published right after the
            # command that triggered it) finds no window yet: the override keeps its reason.
            self._override_stuck = True
            self.detector.clear()
        if self.paused:
            self.state = STATE_PAUSED
        elif watchdog:
            self.state = STATE_WATCHDOG_HOLD
        elif self.override_end is not None:
            self.state = STATE_STUCK_OVERRIDE
        else:
            self.state = STATE_RUNNING
        return self.state

    def snapshot(self, now: float) -> SupervisorSnapshot:
        state = self.update(now)
        remaining = max(0.0, self.override_end - now) if self.override_end is not None else 0.0
        minutes = self.elapsed / 60.0
        return SupervisorSnapshot(
            state=state, state_name=STATE_NAMES[state], stuck=self._stuck_now or self._override_stuck,
            override_active=self.override_end is not None, override_remaining=remaining,
            max_joint_displacement=self._displacement,
            command_age=(now - self.last_command_time) if self.last_command_time is not None else math.nan,
            overrides=self.overrides, attempts=self.attempts, successes=self.successes,
            first_try_successes=self.first_try_successes,
            throughput_per_minute=self.successes / minutes if minutes > 0 else 0.0,
            elapsed=self.elapsed, rejected_commands=self.rejected_commands,
            relayed_commands=self.relayed_commands, last_error=self.last_error)
