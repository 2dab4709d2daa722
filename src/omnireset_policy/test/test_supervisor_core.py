"""Supervisor core: A.4 stuck detection timing, watchdog, pause, counters, override priority."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnireset_policy.supervisor_core import (STATE_PAUSED, STATE_RUNNING, STATE_STUCK_OVERRIDE, STATE_WATCHDOG_HOLD,
                                              StuckDetector, SupervisorCore, SupervisorParams)

Q0 = np.array([0.1, -1.4, 1.6, -1.7, -1.57, 0.3])
CMD = [0.1] * 6 + [0.02] * 6


def run(core, t0, t1, q_of_t, dt=0.01, command_every=0.1):
    """Feed joint states at 1/dt Hz and policy commands every command_every s; return the trace."""
    trace = []
    next_cmd = t0
    for t in np.arange(t0, t1, dt):
        core.on_joint_state(t, q_of_t(t))
        if command_every and t >= next_cmd - 1e-9:
            decision = core.on_policy_command(t, CMD)
            next_cmd += command_every
            trace.append((t, core.state, decision))
        else:
            trace.append((t, core.update(t), None))
    return trace


def test_detector_needs_a_covered_window_and_fresh_samples():
    det = StuckDetector(window=2.0, threshold=0.002, sample_timeout=0.5)
    for t in np.arange(0.0, 1.9, 0.1):
        det.add(t, Q0)
    assert math.isnan(det.max_displacement(1.9)) and not det.is_stuck(1.9)
    det.add(2.0, Q0 + 0.001)
    assert det.max_displacement(2.0) == pytest.approx(0.001) and det.is_stuck(2.0)
    assert not det.is_stuck(2.6)  # samples stopped: unknown, not stuck
    det.add(2.7, Q0 + np.array([0, 0, 0, 0, 0.0025, 0]))  # one joint moved 2.5 mrad
    assert not det.is_stuck(2.7) and det.max_displacement(2.7) == pytest.approx(0.0025)
    with pytest.raises(ValueError, match="NaN"):
        det.add(3.0, [math.nan] * 6)


def test_still_arm_triggers_override_after_window_for_duration_then_rearms():
    core = SupervisorCore(SupervisorParams(), now=0.0)
    trace = run(core, 0.0, 6.05, lambda t: Q0)
    override = [t for t, s, _ in trace if s == STATE_STUCK_OVERRIDE]
    assert override[0] == pytest.approx(2.0, abs=0.011)  # window covered at 2 s
    # first override lasts 1 s, the window restarts, second one 2 s after the first ended
    first = [t for t in override if t < 3.5]
    assert first[-1] - first[0] == pytest.approx(1.0, abs=0.02)
    second = [t for t in override if t >= 3.5]
    assert second[0] == pytest.approx(5.0, abs=0.035)  # one sample period after the end
    relayed = [d for _, s, d in trace if d is not None and s == STATE_STUCK_OVERRIDE]
    assert relayed and all(d.relay and d.force_gripper_open for d in relayed)
    assert all(d.relay and not d.force_gripper_open for _, s, d in trace if d is not None and s == STATE_RUNNING)
    assert core.snapshot(6.05).overrides == 2


def test_moving_arm_never_triggers():
    core = SupervisorCore(SupervisorParams(), now=0.0)
    trace = run(core, 0.0, 5.0, lambda t: Q0 + 0.003 * math.sin(3 * t))  # 3 mrad sway, 2.1 s period
    assert STATE_STUCK_OVERRIDE not in {s for _, s, _ in trace}
    assert core.snapshot(5.0).max_joint_displacement > 0.002


def test_parameters_change_the_timing():
    core = SupervisorCore(SupervisorParams(stuck_window=0.5, override_duration=0.3, stuck_threshold=0.01))
    trace = run(core, 0.0, 1.0, lambda t: Q0 + 0.005 * t)  # 5 mrad/s < 10 mrad over 0.5 s
    override = [t for t, s, _ in trace if s == STATE_STUCK_OVERRIDE]
    assert override[0] == pytest.approx(0.5, abs=0.011) and override[-1] - override[0] == pytest.approx(0.3, abs=0.02)
    with pytest.raises(ValueError, match="stuck_window"):
        SupervisorParams(stuck_window=-1)


def test_watchdog_holds_without_commands_and_nan_commands_are_rejected():
    core = SupervisorCore(SupervisorParams(watchdog_timeout=0.5))
    assert core.update(0.0) == STATE_WATCHDOG_HOLD  # nothing received yet
    assert core.on_policy_command(0.1, CMD).relay
    assert core.update(0.55) == STATE_RUNNING
    assert core.update(0.65) == STATE_WATCHDOG_HOLD
    bad = core.on_policy_command(0.7, [math.nan] + CMD[1:])
    assert not bad.relay and "NaN" in bad.reason
    assert core.state == STATE_WATCHDOG_HOLD  # a rejected command does not feed the watchdog
    snap = core.snapshot(0.7)
    assert snap.rejected_commands == 1 and "NaN" in snap.last_error and snap.command_age == pytest.approx(0.6)
    # a still arm during watchdog hold is not "stuck": the window restarts when commands return
    trace = run(core, 0.7, 2.5, lambda t: Q0, command_every=0)
    assert {s for _, s, _ in trace} == {STATE_WATCHDOG_HOLD}
    trace = run(core, 2.5, 4.4, lambda t: Q0)
    assert STATE_STUCK_OVERRIDE not in {s for _, s, _ in trace}


def test_pause_has_priority_and_stops_the_clock():
    core = SupervisorCore(SupervisorParams())
    run(core, 0.0, 1.0, lambda t: Q0 + 0.01 * t)
    assert "paused" in core.set_paused(True, 1.0)
    assert not core.on_policy_command(1.1, CMD).relay and core.state == STATE_PAUSED
    run(core, 1.0, 4.0, lambda t: Q0)  # still arm while paused: no override
    assert core.state == STATE_PAUSED and core.overrides == 0
    core.set_paused(False, 4.0)
    core.record_outcome(True, True)
    core.record_outcome(True, False)
    core.record_outcome(False, False)
    snap = core.snapshot(4.0)
    assert snap.elapsed == pytest.approx(1.0, abs=0.02)  # 3 s paused do not count
    assert (snap.attempts, snap.successes, snap.first_try_successes) == (3, 2, 1)
    assert snap.throughput_per_minute == pytest.approx(2 / (snap.elapsed / 60.0))
    core.reset_counters(4.0)
    snap = core.snapshot(4.5)
    assert (snap.attempts, snap.successes, snap.elapsed) == (0, 0, pytest.approx(0.5))


def test_pause_during_override_wins_and_watchdog_beats_override():
    core = SupervisorCore(SupervisorParams())
    run(core, 0.0, 2.2, lambda t: Q0)
    assert core.state == STATE_STUCK_OVERRIDE
    core.set_paused(True, 2.2)
    assert core.update(2.3) == STATE_PAUSED
    core.set_paused(False, 2.3)
    core.on_policy_command(2.3, CMD)
    assert core.update(2.35) == STATE_STUCK_OVERRIDE  # override still running after resume
    assert core.update(2.9) == STATE_WATCHDOG_HOLD  # commands stopped: hold wins


def test_status_right_after_a_command_triggered_override_still_says_stuck():
    """The command that triggers the override restarts the detector; the status published right
    after it (no window yet) must still report the override's reason (seen under load in e2e)."""
    core = SupervisorCore(SupervisorParams(), now=0.0)
    t = 0.0
    while t < 2.0:
        core.on_joint_state(t, Q0)
        t = round(t + 0.01, 2)
    core.on_joint_state(2.0, Q0)
    assert core.on_policy_command(2.0, CMD).force_gripper_open  # the command path triggered it
    snap = core.snapshot(2.001)
    assert snap.override_active and snap.stuck and math.isnan(snap.max_joint_displacement)
    after = core.snapshot(3.1)  # override over, no new still window yet
    assert not after.override_active and not after.stuck
