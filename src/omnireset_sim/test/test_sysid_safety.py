"""Sysid on the robot, safe and robust (issue 17 item 7): the chirp recorder's safety monitor and
hold, aborted recordings, and the windowed (re-seeded) replay that keeps the fit accurate."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from omnireset_control.constants import ARM_JOINT_NAMES, DEPLOY_GAINS, HARDWARE_TORQUE_LIMIT, OscGains
from omnireset_sim.sysid.chirp import ChirpConfig, chirp_targets
from omnireset_sim.sysid.params import SearchSpace, SysidParams
from omnireset_sim.sysid.recording import Recording, RecordingError
from omnireset_sim.sysid.safety import SafetyConfig, SafetyMonitor, SafetyStop, simulate_monitored_chirp

START = np.array([0.0, -1.9, 1.9, -1.57, -1.57, 0.0])
TRUTH = SysidParams(armature=(0.45, 0.55, 0.35, 0.15, 0.15, 0.12), static_friction=(4, 5, 3, 1.2, 1, 0.8),
                    dynamic_friction_ratio=(0.6, 0.5, 0.7, 0.6, 0.5, 0.7), viscous_friction=(3, 4, 2, 0.6, 0.5, 0.4),
                    delay=1)
RATE = 500.0


@pytest.fixture(scope="module")
def replay():
    from omnireset_sim.sysid.replay import ClosedLoopReplay

    torch.set_num_threads(1)
    with ClosedLoopReplay(nthread=2) as r:
        yield r


# ---- the monitor's plain core ----------------------------------------------------------------------


def _feed(monitor, qd_fn, n=500, q=START, tau=None, tcp=(0.4, 0.1, 0.3)):
    for k in range(n):
        t = k / RATE
        trip = monitor.update(t, q, qd_fn(t), tau if tau is None or not callable(tau) else tau(t), tcp)
        if trip is not None:
            return trip
    return None


def test_monitor_stays_quiet_on_chirp_like_motion_with_noise():
    rng = np.random.default_rng(0)
    mon = SafetyMonitor()
    # 3 Hz (the chirp's top frequency) at 1.5 rad/s on every joint, sensor noise, torques at 80 %.
    trip = _feed(mon, lambda t: 1.5 * np.sin(2 * math.pi * 3 * t) * np.ones(6) + rng.normal(0, 5e-3, 6), n=2000,
                 tau=0.8 * np.asarray(HARDWARE_TORQUE_LIMIT))
    assert trip is None and mon.samples == 2000
    # Noise around rest never counts as reversals (the dead band).
    assert _feed(SafetyMonitor(), lambda t: rng.normal(0, 0.02, 6), n=2000) is None


@pytest.mark.parametrize("case, kind, words", [
    ("velocity", "velocity", "wrist_2_joint at +3.100 rad/s exceeds 2.827"),
    ("torque", "torque", "elbow_joint at -149.00 N m reaches 142.50"),
    ("box", "workspace", "left the workspace box"),
    ("excursion", "workspace", "from the chirp's start (max 0.2)"),
    ("chatter", "oscillation", "shoulder_lift_joint reversed direction 8 times in 0.25 s"),
    ("nan", "nonfinite", "qd holds NaN/Inf"),
])
def test_monitor_trips_once_with_one_line_reason(case, kind, words):
    mon = SafetyMonitor()
    tau = None
    tcp = lambda t: (0.4, 0.1, 0.3)  # noqa: E731
    qd = lambda t: np.zeros(6)  # noqa: E731
    if case == "velocity":
        qd = lambda t: np.array([0, 0, 0, 0, 3.1 if t > 0.1 else 0.0, 0])  # noqa: E731
    elif case == "torque":
        tau = lambda t: np.array([0, 0, -149.0 if t > 0.1 else 0.0, 0, 0, 0])  # noqa: E731
    elif case == "box":
        tcp = lambda t: (0.4, 0.1, 0.3 if t < 0.1 else 0.02)  # noqa: E731
    elif case == "excursion":
        tcp = lambda t: (0.4 + (0.25 if t > 0.1 else 0.0), 0.1, 0.3)  # noqa: E731
    elif case == "chatter":  # 20 Hz, 0.3 rad/s on one joint
        qd = lambda t: np.array([0, 0.3 * math.sin(2 * math.pi * 20 * t), 0, 0, 0, 0])  # noqa: E731
    elif case == "nan":
        qd = lambda t: np.array([0, 0, 0, math.nan if t > 0.1 else 0.0, 0, 0])  # noqa: E731
    trip = None
    for k in range(500):
        t = k / RATE
        trip = mon.update(t, START, qd(t), tau(t) if tau else None, tcp(t))
        if trip is not None:
            break
    assert trip is not None and trip.kind == kind, trip
    assert words in trip.message and "\n" not in trip.message and trip.message.endswith("chirp stopped, holding")
    assert mon.tripped and mon.update(1.0, START, np.zeros(6)) is None  # once
    if case in ("velocity", "torque", "box", "excursion"):  # debounced: 3 samples after t = 0.1 s
        assert trip.time == pytest.approx(0.1 + 3 / RATE, abs=1.5 / RATE)
    if case == "chatter":  # 8 reversals of a 20 Hz oscillation: within 0.25 s
        assert trip.time < 0.25


def test_safety_config_is_validated_and_bad_yaml_exits_2_naming_the_field(tmp_path, capsys):
    from omnireset_sim.sysid.cli import main
    from omnireset_sim.sysid.config import default_config_path, load_sysid_config

    for kwargs, field in [({"velocity_fraction": 1.5}, "safety.velocity_fraction"),
                          ({"torque_fraction": 0}, "safety.torque_fraction"),
                          ({"oscillation_reversals": 2.5}, "safety.oscillation_reversals"),
                          ({"max_tcp_excursion": -1.0}, "safety.max_tcp_excursion"),
                          ({"hold_time": math.inf}, "safety.hold_time")]:
        with pytest.raises(ValueError, match=field):
            SafetyConfig(**kwargs)
    assert load_sysid_config().safety == SafetyConfig()  # the shipped file = the safe defaults
    text = default_config_path().read_text()
    for old, new, field in [("velocity_fraction: 0.9", "velocity_fraction: 2.0", "safety.velocity_fraction"),
                            ("oscillation_window: 0.25", "oscillation_window: fast", "safety.oscillation_window"),
                            ("min_radius: 0.25\n  max_tcp", "min_radius: -3\n  max_tcp", "safety.workspace"),
                            ("debounce_samples: 3", "debounce_samples: 3\n  enabled: false", "unknown keys"),
                            ("window_time: 0.5", "window_time: -1", "cma: window_time")]:
        assert old in text, old
        bad = tmp_path / "bad.yaml"
        bad.write_text(text.replace(old, new, 1))
        code = main(["ros-record", "--config", str(bad), "--out", str(tmp_path / "r.npz")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and field in err and len(err.splitlines()) == 1, err
        assert "Traceback" not in err


# ---- the chirp in simulation under the monitor: chatter trips, the hold ----------------------------


def test_nominal_chirp_runs_to_the_end_without_a_trip(replay):
    pos, quat = replay.tcp_pose(START)
    targets = chirp_targets(pos, quat, ChirpConfig(sweep_time=4.0, f0=0.5))
    run = simulate_monitored_chirp(replay, targets, START, TRUTH, SafetyMonitor())
    assert run.trip is None and not run.holding.any()
    assert len(run.t) == int(round(4.5 / replay.physics_dt)) + 1


def test_chattering_closed_loop_trips_within_a_bounded_time_and_ends_in_hold(replay):
    """Twice the deployment stiffness with one step of motor delay: the loop chatters from the
    start. The monitor must stop the chirp within 1 s, and from then on the target is the TCP pose
    measured at the trip (the controller core's hold), never a chirp target."""
    pos, quat = replay.tcp_pose(START)
    targets = chirp_targets(pos, quat, ChirpConfig())
    chatter = OscGains(kp=tuple(2 * k for k in DEPLOY_GAINS.kp), zeta=DEPLOY_GAINS.zeta)
    run = simulate_monitored_chirp(replay, targets, START, TRUTH, SafetyMonitor(), gains=chatter, hold_time=0.5)
    assert run.trip is not None and run.trip.kind == "oscillation", run.trip
    assert run.trip.time < 1.0
    k_trip = int(np.argmax(run.holding))
    assert run.holding[k_trip:].all() and not run.holding[:k_trip].any()
    assert k_trip * replay.physics_dt == pytest.approx(run.trip.time, abs=replay.physics_dt)
    assert len(run.holding) - k_trip == int(round(0.5 / replay.physics_dt))  # held for hold_time, then stopped
    want, _ = replay.tcp_pose(run.q[k_trip])
    np.testing.assert_allclose(run.hold_pos, want, atol=1e-12)


def test_resonant_oscillation_trips_and_the_hold_brings_the_arm_to_rest(replay):
    """Twice the stiffness at a fifth of the damping: stable at rest, but the chirp sweeps into the
    loop's resonance. The monitor stops it, and under the hold the arm comes to rest."""
    pos, quat = replay.tcp_pose(START)
    targets = chirp_targets(pos, quat, ChirpConfig())
    resonant = OscGains(kp=tuple(2 * k for k in DEPLOY_GAINS.kp), zeta=(0.2,) * 6)
    run = simulate_monitored_chirp(replay, targets, START, TRUTH, SafetyMonitor(), gains=resonant, hold_time=1.5)
    assert run.trip is not None and run.trip.kind in ("velocity", "oscillation", "torque"), run.trip
    assert run.trip.time < 8.5  # before the chirp's end
    assert np.abs(run.qd[-12:]).max() < 0.05  # at rest after 1.5 s of hold


# ---- aborted recordings are refused by the fit ---------------------------------------------------------


def _aborted_recording(n=60):
    from omnireset_sim.sysid.safety import SafetyTrip, aborted_metadata

    t = np.arange(n) / 120.0
    trip = SafetyTrip("oscillation", 0.4, "safety stop (oscillation) at t=0.400 s: wrist_3_joint reversed ...")
    return Recording(t=t, q=np.tile(START, (n, 1)), qd=np.zeros((n, 6)), tau=np.zeros((n, 6)),
                     target_pos=np.tile([0.4, 0.1, 0.3], (n, 1)), target_quat=np.tile([1.0, 0, 0, 0], (n, 1)),
                     rate=120.0, metadata={"source": "real", **aborted_metadata(trip)})


def test_fit_refuses_an_aborted_recording_with_its_reason(replay, tmp_path, capsys):
    from omnireset_sim.sysid.cli import main
    from omnireset_sim.sysid.fit import Objective

    rec = _aborted_recording()
    with pytest.raises(RecordingError, match=r"stopped by the safety monitor \(safety stop \(oscillation\)"):
        Objective(replay, [rec])
    path = tmp_path / "rec.aborted.npz"
    rec.save(path)
    assert main(["fit", str(path), "--out-dir", str(tmp_path / "fit"), "--no-progress", "--nthread", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(path) in err and "stopped by the safety monitor" in err and len(err.splitlines()) == 1


# ---- the recorder over DDS: a chattering robot -> hold -> SafetyStop -> aborted file -----------------------


def test_ros_recorder_stops_a_chattering_robot_to_a_hold(ros_env, tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from omnireset_control.composition import compose_target
    from omnireset_control.kinematics import BatchedKinematics, load_kinematics
    from omnireset_msgs.msg import PoseDelta
    from omnireset_sim.sysid.fit import require_complete
    from omnireset_sim.sysid.recording import load_recording
    from omnireset_sim.sysid.ros_recorder import (
        COMMAND_TOPIC,
        JOINT_STATES_TOPIC,
        aborted_path,
        make_recorder_node,
        record_chirp,
        save_aborted,
    )

    kin = BatchedKinematics(load_kinematics("ur7e"), dtype=torch.float64)
    pos0, rot0 = kin.forward(torch.as_tensor(START)[None])
    from omnireset_control.rotations import matrix_to_quat

    targets = chirp_targets(pos0[0].numpy(), matrix_to_quat(rot0)[0].numpy(), ChirpConfig(sweep_time=4.0))
    rclpy.init()
    try:
        robot = rclpy.create_node("fake_chattering_robot")
        received = []
        robot.create_subscription(PoseDelta, COMMAND_TOPIC, received.append, 200)
        js_pub = robot.create_publisher(JointState, JOINT_STATES_TOPIC, 50)
        q_now = [START.copy()]
        t_start = [None]

        def publish():
            now = robot.get_clock().now()
            t = now.nanoseconds * 1e-9
            t_start[0] = t_start[0] or t
            # wrist_3 chatters at 25 Hz (0.4 rad/s) after 0.3 s of quiet streaming.
            w = 0.4 * math.sin(2 * math.pi * 25 * (t - t_start[0])) if t - t_start[0] > 0.3 else 0.0
            q_now[0] = START + np.array([0, 0, 0, 0, 0, w / (2 * math.pi * 25)])  # small: ~2.5 mrad
            msg = JointState()
            msg.header.stamp = now.to_msg()
            msg.name = list(ARM_JOINT_NAMES)
            msg.position = [float(v) for v in q_now[0]]
            msg.velocity = [0.0, 0.0, 0.0, 0.0, 0.0, w]
            msg.effort = [0.0, 30.0, 10.0, 1.0, 1.0, 0.5]
            js_pub.publish(msg)

        robot.create_timer(1 / 250, publish)
        node = make_recorder_node(targets, load_kinematics("ur7e"), record_rate=250.0,
                                  safety=SafetyConfig(hold_time=0.3))
        node.assembler.max_gap_samples = 25  # a loaded CI box may stall a Python timer
        executor = SingleThreadedExecutor()
        executor.add_node(robot)
        executor.add_node(node)
        with pytest.raises(SafetyStop, match=r"safety stop \(oscillation\).*wrist_3_joint") as info:
            record_chirp(node, timeout=10.0, executor=executor)
        for _ in range(20):  # deliver the last hold messages
            executor.spin_once(timeout_sec=0.01)
        out = tmp_path / "rec.npz"
        saved = save_aborted(node, 250.0, {"source": "real"}, out)
        executor.shutdown()
        node.destroy_node()
        robot.destroy_node()
    finally:
        rclpy.try_shutdown()
    trip = info.value.trip
    assert 0.3 < trip.time < 1.0  # chatter starts at 0.3 s; 8 reversals of 25 Hz take 0.16 s
    assert node.hold_sent >= 5 and node.hold_pose is not None
    # The hold: every command after the trip composes (as the controller does) to the hold pose.
    holds = received[-node.hold_sent // 2:]
    hold_pos = torch.as_tensor(node.hold_pose[0])[None]
    for m in holds:
        p, _ = compose_target(*kin.forward(torch.as_tensor(q_now[0])[None]),
                              torch.as_tensor(list(m.action))[None], torch.ones(6, dtype=torch.float64))
        np.testing.assert_allclose(p.numpy(), hold_pos.numpy(), atol=2e-3)
    assert saved == aborted_path(out) and saved.name == "rec.aborted.npz" and not out.exists()
    rec = load_recording(saved)
    assert rec.metadata["aborted"] and rec.metadata["abort_kind"] == "oscillation"
    with pytest.raises(RecordingError, match="stopped by the safety monitor"):
        require_complete(rec, str(saved))


# ---- windowed replay ------------------------------------------------------------------------------------


def test_windowed_replay_is_exact_at_the_truth_and_primes_the_delay_fifo(replay):
    from omnireset_sim.sysid.replay import plan_replay, simulate_recording, tracking_loss

    pos, quat = replay.tcp_pose(START)
    truth = dataclasses.replace(TRUTH, delay=3)
    rec = simulate_recording(replay, chirp_targets(pos, quat, ChirpConfig(sweep_time=2.0, f0=0.5, ramp_time=0.3)),
                             START, truth, noise=None)
    plan = plan_replay(rec, replay.physics_dt)
    cands = [dataclasses.replace(truth, delay=d) for d in range(5)]
    res = replay.run_windows(plan, cands, 30)
    assert res.starts[0] == 0 and res.starts[-1] == plan.num_steps - 30 and res.q.shape[2] == 31
    loss = res.loss()
    # Re-seeded from the recorded state with the recorded torque history in the FIFO, the true
    # parameters reproduce every window up to what the recording does not hold (the gripper
    # fingers' state and the solver's warm start: <= 0.01 deg at stick-slip), and the delay FIFO
    # makes the true delay stand out by orders of magnitude.
    assert loss[3] < 1e-7 and np.nanmax(res.rmse_deg()[3]) < 0.05
    assert (np.delete(loss, 3) > 1e3 * loss[3]).all() and np.argmin(loss) == 3
    # One window as long as the recording is the plain closed-loop replay.
    whole = replay.run_windows(plan, cands, plan.num_steps).loss()
    np.testing.assert_allclose(whole, tracking_loss(replay.run(plan, cands), plan), rtol=1e-6, atol=1e-13)


def _draw_parameter_sets(replay, targets, n, seed, delays):
    """Parameter sets drawn uniformly in the default search box (seeded), keeping those whose chirp
    the safety monitor lets run to the end (the others would be stopped on the robot too)."""
    rng = np.random.default_rng(seed)
    space = SearchSpace()
    drawn, rejected = [], 0
    while len(drawn) < n:
        p = space.decode(rng.uniform(0.0, 1.0, space.dim))
        p = dataclasses.replace(p, delay=delays[len(drawn)] if delays[len(drawn)] is not None
                                else int(rng.integers(space.delay_bounds[0], space.delay_bounds[1] + 1)))
        if simulate_monitored_chirp(replay, targets, START, p, SafetyMonitor(), hold_time=0.0).trip is None:
            drawn.append(p)
        else:
            rejected += 1
    return drawn, rejected


FIT_CHIRP = ChirpConfig(sweep_time=3.0, f0=0.3, ramp_time=0.3, amplitude=(0.08, 0.08, 0.08, 0.2, 0.2, 0.2))
HELD_OUT_PHASE = (1.0, 2.0, 3.0, 4.0, 5.0, 0.5)
DRAW_SEED = 1717  # not a seed any parameter or threshold here was tuned on


@pytest.fixture(scope="module")
def drawn_sets(replay):
    pos, quat = replay.tcp_pose(START)
    sets, rejected = _draw_parameter_sets(replay, chirp_targets(pos, quat, FIT_CHIRP), 3, DRAW_SEED, (2, None, None))
    assert sets[0].delay == 2 and rejected < 20
    return sets


@pytest.mark.parametrize("which", [0, 1, 2])
def test_windowed_fit_recovers_untuned_parameter_sets(replay, drawn_sets, which):
    """Parameter sets drawn in the search box (seeded, untuned; the first with delay 2, the others'
    delays drawn too): noisy sim recordings (3 s chirp), CMA-ES over all six joints' armature and
    viscous friction (12 coordinates from the box centre; static friction and its ratio known) and
    the delay (profiled over 0..4, the fit starts from delay 0), replayed in 0.5 s windows
    re-seeded from the recording. Judged on a held-out chirp (other phases) replayed closed-loop
    over its whole length: RMSE < 1 deg per joint, and the delay exactly."""
    from omnireset_sim.sysid.fit import FitConfig, Objective, fit
    from omnireset_sim.sysid.replay import SensorNoise, simulate_recording

    truth = drawn_sets[which]
    pos, quat = replay.tcp_pose(START)
    noise = SensorNoise()
    fit_rec = simulate_recording(replay, chirp_targets(pos, quat, FIT_CHIRP), START, truth, noise=noise, seed=1)
    held = dataclasses.replace(FIT_CHIRP, phase=HELD_OUT_PHASE)
    held_rec = simulate_recording(replay, chirp_targets(pos, quat, held), START, truth, noise=noise, seed=2)
    space = SearchSpace(nominal=dataclasses.replace(truth, delay=0),
                        groups=("armature", "viscous_friction", "delay"))
    cfg = FitConfig(max_iterations=40, population=10, window_time=0.5)
    result = fit(Objective(replay, [fit_rec], window_time=cfg.window_time), space, cfg, progress=False)
    held_obj = Objective(replay, [held_rec])
    rmse = held_obj.rmse_deg(result.params)
    print(f"set {which}: delay {result.params.delay} (true {truth.delay}); held-out RMSE deg "
          f"{np.round(rmse, 3).tolist()}; start {np.round(held_obj.rmse_deg(space.decode(np.full(space.dim, 0.5))), 2).tolist()}; "
          f"{result.elapsed:.1f} s")
    assert result.params.delay == truth.delay
    assert rmse.max() < 1.0, rmse
