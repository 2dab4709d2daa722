"""System identification: chirp, recording format, parameters/friction model, closed-loop replay, CMA-ES fit, CLI."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from omnireset_control.constants import ARM_JOINT_NAMES, PHYSICS_DT
from omnireset_sim.sysid.chirp import ChirpConfig, SafeWorkspace, chirp_offsets, chirp_targets
from omnireset_sim.sysid.params import (
    STICTION_VELOCITY,
    STRIBECK_VELOCITY,
    SearchSpace,
    SysidParams,
    dynamic_friction_torque,
    load_sysid_yaml,
    save_sysid_yaml,
)
from omnireset_sim.sysid.recording import Recording, RecordingError, load_recording

START = np.array([0.0, -1.9, 1.9, -1.57, -1.57, 0.0])
TRUTH = SysidParams(armature=(0.45, 0.55, 0.35, 0.15, 0.15, 0.12), static_friction=(4, 5, 3, 1.2, 1, 0.8),
                    dynamic_friction_ratio=(0.6, 0.5, 0.7, 0.6, 0.5, 0.7), viscous_friction=(3, 4, 2, 0.6, 0.5, 0.4),
                    delay=1)


@pytest.fixture(scope="module")
def replay():
    from omnireset_sim.sysid.replay import ClosedLoopReplay

    torch.set_num_threads(1)
    with ClosedLoopReplay(nthread=2) as r:
        yield r


@pytest.fixture(scope="module")
def short_recording(replay):
    from omnireset_sim.sysid.replay import simulate_recording

    pos, quat = replay.tcp_pose(START)
    targets = chirp_targets(pos, quat, ChirpConfig(sweep_time=1.5, f0=0.5, ramp_time=0.3))
    return simulate_recording(replay, targets, START, TRUTH, noise=None)


# ---- chirp ----------------------------------------------------------------------------------------


def test_chirp_targets_sweep_rate_amplitude_and_rest_at_both_ends():
    cfg = ChirpConfig()
    pos0, quat0 = np.array([0.35, 0.13, 0.29]), np.array([0.0, 0.7071068, -0.7071068, 0.0])
    tg = chirp_targets(pos0, quat0, cfg)
    assert tg.rate == 500.0
    assert len(tg.t) == int(round((8.0 + 0.5) * 500)) + 1
    np.testing.assert_allclose(np.diff(tg.t), 1 / 500, atol=1e-12)
    off = tg.target_pos - pos0
    # Amplitudes respected, holds exactly at the start pose.
    assert np.abs(off).max() <= 0.05 + 1e-12 and np.abs(off).max() > 0.045
    hold = int(0.25 * 500)
    np.testing.assert_allclose(tg.target_pos[: hold + 1], np.tile(pos0, (hold + 1, 1)), atol=1e-12)
    np.testing.assert_allclose(tg.target_pos[-hold:], np.tile(pos0, (hold, 1)), atol=1e-12)
    # Rotation offset = axis-angle of target_rot @ start_rot^T, bounded by 0.15 rad per axis.
    _, offsets = chirp_offsets(cfg)
    assert np.abs(offsets[:, 3:]).max() <= 0.15 + 1e-12
    # Frequency sweeps up: zero crossings of the x offset are denser in the last second than the first.
    x = offsets[:, 0]
    sweep = (tg.t > 0.25) & (tg.t < 8.25)
    xs, ts = x[sweep], tg.t[sweep]
    crossings = ts[1:][np.diff(np.sign(xs)) != 0]
    assert ((crossings > 7.0) & (crossings < 8.0)).sum() > 3 * ((crossings > 1.0) & (crossings < 2.0)).sum()
    # Per-axis phase offsets make the axes differ.
    assert np.abs(offsets[:, 0] - offsets[:, 1]).max() > 0.01


def test_chirp_wrist_only_keeps_position_and_workspace_clips():
    pos0, quat0 = np.array([0.35, 0.13, 0.29]), np.array([1.0, 0.0, 0.0, 0.0])
    tg = chirp_targets(pos0, quat0, ChirpConfig(wrist_only=True, sweep_time=2.0))
    np.testing.assert_allclose(tg.target_pos, np.tile(pos0, (len(tg.t), 1)), atol=1e-12)
    assert np.abs(tg.target_quat[:, 1:]).max() > 0.03  # it does turn
    tight = SafeWorkspace(low=(-0.9, -0.9, 0.27), high=(0.9, 0.9, 0.31), min_radius=0.25)
    tg = chirp_targets(pos0, quat0, ChirpConfig(sweep_time=2.0, workspace=tight))
    assert tg.clipped_samples > 0
    assert tight.contains(tg.target_pos).all()
    assert tg.target_pos[:, 2].min() >= 0.27 - 1e-12 and tg.target_pos[:, 2].max() <= 0.31 + 1e-12


def test_chirp_rejects_unsafe_settings():
    with pytest.raises(ValueError, match="exceeds the safe limits"):
        ChirpConfig(amplitude=(0.11, 0, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="exceeds the safe limits"):
        ChirpConfig(amplitude=(0, 0, 0, 0.3, 0, 0))
    with pytest.raises(ValueError, match="f1"):
        ChirpConfig(f0=2.0, f1=1.0)
    with pytest.raises(ValueError, match="outside the safe workspace"):
        chirp_targets([0.0, 0.05, 0.3], [1, 0, 0, 0])  # inside the keep-out cylinder
    with pytest.raises(ValueError, match="finite"):
        chirp_targets([np.nan, 0.3, 0.3], [1, 0, 0, 0])


# ---- recording format -------------------------------------------------------------------------------


def _recording(n=50, rate=500.0, joints=ARM_JOINT_NAMES):
    t = np.arange(n) / rate
    j = len(joints)
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    return dict(t=t, q=np.sin(t)[:, None] * np.ones((n, j)), qd=np.cos(t)[:, None] * np.ones((n, j)),
                tau=np.zeros((n, j)), target_pos=np.ones((n, 3)), target_quat=quat, rate=rate, joint_names=joints)


def test_recording_roundtrip_keeps_arrays_and_metadata(tmp_path):
    rec = Recording(**_recording(), metadata={"robot": "ur7e", "source": "real"})
    path = tmp_path / "rec.npz"
    rec.save(path)
    back = load_recording(path, expected_rate=500.0)
    for name in ("t", "q", "qd", "tau", "target_pos", "target_quat"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rec, name))
    assert back.joint_names == ARM_JOINT_NAMES and back.metadata["robot"] == "ur7e"
    assert back.metadata["format_version"] == 1


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["q"].__setitem__((7, 2), np.nan), "q holds NaN/Inf .*sample 7"),
        (lambda d: d["target_pos"].__setitem__((3, 0), np.inf), "target_pos holds NaN/Inf .*sample 3"),
        (lambda d: d.update(joint_names=ARM_JOINT_NAMES[:5], q=d["q"][:, :5], qd=d["qd"][:, :5],
                            tau=d["tau"][:, :5]), "5 joints"),
        (lambda d: d.update(q=d["q"][:, :5]), "wrong joint count"),
        (lambda d: d.update(joint_names=("a",) + ARM_JOINT_NAMES[1:]), "joint names"),
        (lambda d: d.update(rate=120.0), "declared rate 120.0 Hz does not match"),
        (lambda d: d["target_quat"].__setitem__((4, 0), 2.0), "not unit at sample 4"),
    ],
)
def test_recording_rejects_bad_content(mutate, message):
    d = _recording()
    mutate(d)
    with pytest.raises(RecordingError, match=message):
        Recording(**d)


def test_recording_rejects_time_gap_and_rate_mismatch_on_load(tmp_path):
    d = _recording(n=60)
    keep = np.r_[0:20, 25:60]  # 5 samples lost
    with pytest.raises(RecordingError, match="gap in time at sample 20"):
        Recording(**{**d, **{k: d[k][keep] for k in ("t", "q", "qd", "tau", "target_pos", "target_quat")}})
    Recording(**d).save(tmp_path / "ok.npz")
    with pytest.raises(RecordingError, match="recorded at 500.0 Hz, expected 120.0 Hz"):
        load_recording(tmp_path / "ok.npz", expected_rate=120.0)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(RecordingError, match="cannot read"):
        load_recording(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(RecordingError, match="missing arrays"):
        load_recording(tmp_path / "other.npz")


# ---- parameters, search box, YAML, friction model ----------------------------------------------------


def test_search_space_roundtrip_and_bound_flags():
    space = SearchSpace(nominal=TRUTH)
    assert space.dim == 6 * 4 + 1
    x = space.encode(TRUTH)
    back = space.decode(x)
    for name in ("armature", "static_friction", "dynamic_friction_ratio", "viscous_friction"):
        np.testing.assert_allclose(getattr(back, name), getattr(TRUTH, name), atol=1e-12)
    assert back.delay == TRUTH.delay and space.at_bounds(TRUTH) == []
    edge = dataclasses.replace(TRUTH, viscous_friction=(3, 4, 2, 0.6, 0.5, 5.0), static_friction=(0, 5, 3, 1.2, 1, 0.8),
                               delay=4)
    flags = space.at_bounds(edge)
    assert "viscous_friction[wrist_3_joint] (at upper bound)" in flags
    assert "static_friction[shoulder_pan_joint] (at lower bound)" in flags
    assert "delay (at upper bound)" in flags and len(flags) == 3
    small = SearchSpace(nominal=TRUTH, joints=(4,), groups=("armature", "delay"))
    assert small.entry_names() == ["armature[wrist_2_joint]", "delay"]
    p = small.decode([1.0, 0.0])
    assert p.armature[4] == pytest.approx(0.5) and p.delay == 0 and p.armature[3] == TRUTH.armature[3]
    with pytest.raises(ValueError, match="unknown parameter groups"):
        SearchSpace(groups=("mass",))
    with pytest.raises(ValueError, match="distinct indices"):
        SearchSpace(joints=(6,))
    with pytest.raises(ValueError, match=r"dynamic_friction_ratio must be in \[0, 1\]"):
        dataclasses.replace(TRUTH, dynamic_friction_ratio=(1.5,) * 6)
    with pytest.raises(ValueError, match="finite"):
        dataclasses.replace(TRUTH, armature=(math.nan,) * 6)


def test_sysid_yaml_roundtrip_and_physics_dt_check(tmp_path):
    path = tmp_path / "out" / "sysid.yaml"
    save_sysid_yaml(path, TRUTH, PHYSICS_DT, report={"rmse_deg_after": [0.1] * 6}, provenance={"git_rev": "x"})
    assert load_sysid_yaml(path) == TRUTH
    assert [p.name for p in path.parent.iterdir()] == ["sysid.yaml"]  # no temporary left behind
    dyn = TRUTH.joint_dynamics()
    assert dyn.friction == TRUTH.static_friction and dyn.damping == TRUTH.viscous_friction
    with pytest.raises(ValueError, match="physics_dt=0.002"):
        save_sysid_yaml(path, TRUTH, 0.002)
        load_sysid_yaml(path)
    path.write_text("parameters: {armature: [1, 2]}\n")
    with pytest.raises(ValueError, match="lack"):
        load_sysid_yaml(path)


def test_dynamic_friction_torque_numpy_and_torch_agree():
    qd = np.array([-1.0, -0.01, 0.0, 0.01, 1.0, 5.0])
    fs, ratio = np.full(6, 2.0), np.full(6, 0.25)
    out = dynamic_friction_torque(qd, fs, ratio)
    expected = 1.5 * np.sign(qd) * np.tanh(np.maximum(np.abs(qd) - STICTION_VELOCITY, 0) / STRIBECK_VELOCITY)
    np.testing.assert_allclose(out, expected)
    assert out[1] == out[2] == out[3] == 0.0  # within the stiction band: MuJoCo's frictionloss alone
    assert out[5] == pytest.approx(1.5, abs=1e-6) and out[0] < -1.4  # Fs - Fd while sliding fast
    t = dynamic_friction_torque(torch.as_tensor(qd)[None], fs, ratio)
    np.testing.assert_allclose(t[0].numpy(), out)


def test_friction_model_holds_below_static_and_slides_at_dynamic_level(replay):
    """In the sysid scene with gravity compensated: a torque below Fs never starts wrist_3; a joint
    spinning under a torque between Fd and Fs keeps accelerating (the sliding level is Fd < Fs)."""
    import mujoco

    params = dataclasses.replace(TRUTH, static_friction=(4, 5, 3, 1.2, 1.0, 2.0),
                                 dynamic_friction_ratio=(0.6, 0.5, 0.7, 0.6, 0.5, 0.25), viscous_friction=(0.0,) * 6)
    j = 5
    dof = replay._arm_dof[j]

    def spin(torque, qd0, steps=120, ratio=0.25):
        model = replay.model_for(dataclasses.replace(params, dynamic_friction_ratio=(0.6, 0.5, 0.7, 0.6, 0.5, ratio)))
        data = mujoco.MjData(model)
        data.qpos[replay._arm_qpos] = START
        data.qvel[dof] = qd0
        for _ in range(steps):
            tau = np.zeros(6)
            tau[j] = torque
            tau += dynamic_friction_torque(data.qvel[replay._arm_dof], params.static_friction,
                                           (0.6, 0.5, 0.7, 0.6, 0.5, ratio))
            data.ctrl[replay._arm_act] = tau
            mujoco.mj_step(model, data)
        return data.qpos[replay._arm_qpos[j]] - START[j], data.qvel[dof]

    # wrist_3's axis carries no gravity load. Held below Fs: only the soft constraint's creep.
    moved, _ = spin(1.5, 0.0)  # 1.5 < Fs = 2
    assert abs(moved) < 0.03
    # Sliding at 1 rad/s under 1.5 N m: with Fd = 0.5 it speeds up, with Fd = Fs = 2 it slows down.
    _, v_low_fd = spin(1.5, 1.0, steps=30)
    _, v_high_fd = spin(1.5, 1.0, steps=30, ratio=1.0)
    assert v_low_fd > 1.2 and v_high_fd < 0.9
    _, v_stop = spin(0.0, 1.0)  # no torque: friction stops it
    assert abs(v_stop) < 0.05


# ---- closed-loop replay ------------------------------------------------------------------------------


def test_replay_reproduces_a_noise_free_recording_exactly_and_separates_delays(replay, short_recording):
    from omnireset_sim.sysid.replay import per_joint_rmse_deg, plan_replay, tracking_loss

    rec = short_recording
    assert rec.rate == pytest.approx(1 / PHYSICS_DT) and rec.metadata["source"] == "sim"
    plan = plan_replay(rec, PHYSICS_DT)
    cands = [TRUTH] + [dataclasses.replace(TRUTH, delay=d) for d in (0, 2)] + [SysidParams()]
    res = replay.run(plan, cands)
    rmse = per_joint_rmse_deg(res, plan)
    assert rmse[0].max() < 1e-9  # same law, same model, same parameters: identical trajectory
    assert (rmse[1:].max(axis=1) > 0.01).all()
    loss = tracking_loss(res, plan)
    assert loss[0] < 1e-15 and (loss[1:] > 1e-8).all()
    assert not res.diverged.any()
    # The chirp moved every joint.
    assert (np.degrees(np.ptp(rec.q, axis=0)) > 0.5).all()


def test_replay_rejects_too_coarse_recordings(replay):
    from omnireset_sim.sysid.replay import plan_replay

    rec = Recording(**_recording(n=40, rate=50.0))
    with pytest.raises(RecordingError, match="below the replay physics rate"):
        plan_replay(rec, PHYSICS_DT)


# ---- CMA-ES fit: the small validation (known parameters + sensor noise) -------------------------------


def test_fit_recovers_known_wrist_parameters_and_exact_delay_from_noisy_sim_recordings(replay, tmp_path):
    """Small version of `sysid validate`: 3 s chirp, the wrists' armature + viscous friction started
    far off, the delay searched too; sensor noise on the recordings; held-out chirp RMSE judged."""
    from omnireset_sim.sysid.cli import quick_problem
    from omnireset_sim.sysid.fit import FitConfig, Objective, fit
    from omnireset_sim.sysid.replay import SensorNoise, simulate_recording

    chirp, space = quick_problem(ChirpConfig(), TRUTH)
    pos, quat = replay.tcp_pose(START)
    noise = SensorNoise(q=2e-4, qd=5e-3, tau=0.2)
    fit_rec = simulate_recording(replay, chirp_targets(pos, quat, chirp), START, TRUTH, noise=noise, seed=1)
    held = dataclasses.replace(chirp, phase=(1.0, 2.0, 3.0, 4.0, 5.0, 0.5))
    held_rec = simulate_recording(replay, chirp_targets(pos, quat, held), START, TRUTH, noise=noise, seed=2)

    objective = Objective(replay, [fit_rec])
    state = tmp_path / "cma.pkl"
    result = fit(objective, space, FitConfig(max_iterations=12, population=8), state_path=state, progress=False)
    assert result.params.delay == TRUTH.delay
    assert result.iterations == 12 and state.is_file()
    held_obj = Objective(replay, [held_rec])
    before, after = held_obj.rmse_deg(space.nominal), held_obj.rmse_deg(result.params)
    assert after.max() < 2.0
    assert after.mean() < 0.5 * before.mean()
    assert objective.losses([result.params])[0] < 0.2 * objective.losses([space.nominal])[0]
    # The searched wrist parameters moved from the nominal towards the truth.
    for name in ("armature", "viscous_friction"):
        err_before = np.abs(np.subtract(getattr(space.nominal, name), getattr(TRUTH, name)))[3:].sum()
        err_after = np.abs(np.subtract(getattr(result.params, name), getattr(TRUTH, name)))[3:].sum()
        assert err_after < err_before, name
    # Unsearched parameters are untouched.
    assert result.params.static_friction == TRUTH.static_friction

    # Resume: continues the same CMA-ES run for more generations.
    resumed = fit(objective, space, FitConfig(max_iterations=14, population=8), state_path=state, resume=True,
                  progress=False)
    assert resumed.iterations == 14 and resumed.loss <= result.loss + 1e-12
    other = dataclasses.replace(space, joints=(4, 5))
    with pytest.raises(ValueError, match="different search space"):
        fit(objective, other, FitConfig(max_iterations=13), state_path=state, resume=True, progress=False)


def test_fit_enumerates_delay_alone(replay, short_recording):
    from omnireset_sim.sysid.fit import FitConfig, Objective, fit

    space = SearchSpace(nominal=dataclasses.replace(TRUTH, delay=3), groups=("delay",))
    result = fit(Objective(replay, [short_recording]), space, FitConfig(), progress=False)
    assert result.params == TRUTH and result.loss < 1e-15


# ---- CLI ---------------------------------------------------------------------------------------------


def test_cli_record_fit_outputs_yaml_plot_and_flags(tmp_path, capsys):
    from omnireset_sim.sysid.cli import main

    rec_path = tmp_path / "rec.npz"
    assert main(["record-sim", "--out", str(rec_path), "--nthread", "0"]) == 0
    rec = load_recording(rec_path)
    assert rec.metadata["source"] == "sim" and rec.metadata["true_parameters"]["delay"] == 1
    short = rec.slice_time(0.0, 1.5)
    short.save(tmp_path / "short.npz")
    out = tmp_path / "fit"
    code = main(["fit", str(tmp_path / "short.npz"), "--out-dir", str(out), "--joints", "5", "--groups",
                 "viscous_friction,delay", "--iterations", "3", "--population", "4", "--no-progress", "--nthread", "0"])
    assert code == 0
    text = capsys.readouterr().out
    assert "per-joint RMSE (deg)" in text and "delay:" in text
    params = load_sysid_yaml(out / "sysid_params.yaml")
    assert 0 <= params.delay <= 4
    import yaml

    doc = yaml.safe_load((out / "sysid_params.yaml").read_text())
    assert len(doc["report"]["rmse_deg_before"]) == 6 and len(doc["report"]["rmse_deg_after"]) == 6
    assert doc["report"]["searched"] == ["viscous_friction[wrist_3_joint]", "delay"]
    assert doc["provenance"]["recordings"][0]["source"] == "sim"
    assert (out / "fit_plot.png").stat().st_size > 10_000 and (out / "cma_state.pkl").is_file()
    # Bad input: a NaN recording is a clear error, exit code 2.
    d = np.load(rec_path)
    arrays = {k: d[k] for k in d.files}
    arrays["qd"][10, 3] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    assert main(["fit", str(tmp_path / "nan.npz"), "--out-dir", str(out), "--no-progress"]) == 2
    assert "qd holds NaN/Inf (first at sample 10" in capsys.readouterr().err
    summary_missing = not (out / "validation_summary.json").exists()
    assert summary_missing
    json.dumps(doc["report"])  # the report is plain data


# ---- robot-side recorder cores (no DDS) ----------------------------------------------------------------


def test_streamed_delta_composes_back_to_the_absolute_chirp_target():
    """The unit-scale delta sent to the controller, composed the controller's way, is the target."""
    from omnireset_control.composition import compose_target
    from omnireset_control.kinematics import BatchedKinematics, load_kinematics
    from omnireset_control.rotations import matrix_to_quat, quat_to_matrix
    from omnireset_sim.sysid.ros_recorder import ChirpStreamer

    kin = BatchedKinematics(load_kinematics("ur7e"))
    pos0, rot0 = kin.forward(torch.as_tensor(START)[None])
    targets = chirp_targets(pos0[0].numpy(), matrix_to_quat(rot0)[0].numpy(), ChirpConfig(sweep_time=2.0))
    streamer = ChirpStreamer(targets)
    q_now = torch.as_tensor(START + 0.02)[None]  # the arm lags somewhere else
    pos, rot = kin.forward(q_now)
    for elapsed in (0.0, 0.7, 1.3, 2.49, 10.0):
        action, i = streamer.command(elapsed, pos[0].numpy(), rot[0].numpy())
        assert i == min(int(elapsed * 500 + 1e-9), len(targets.t) - 1)
        tp, tr = compose_target(pos, rot, torch.as_tensor(action)[None], torch.ones(6, dtype=torch.float64))
        np.testing.assert_allclose(tp[0].numpy(), targets.target_pos[i], atol=1e-12)
        want = quat_to_matrix(torch.as_tensor(targets.target_quat[i])[None])
        np.testing.assert_allclose(tr.numpy(), want.numpy(), atol=1e-9)


def test_recording_assembler_resamples_jittered_streams_and_refuses_gaps():
    from omnireset_sim.sysid.ros_recorder import RecordingAssembler

    rng = np.random.default_rng(0)
    names = list(reversed(ARM_JOINT_NAMES)) + ["finger_joint"]  # any order, extra joints ignored

    def fill(drop=None):
        asm = RecordingAssembler()
        for k in range(600):
            if drop is not None and drop[0] <= k < drop[1]:
                continue
            stamp = 100.0 + k / 500 + rng.uniform(-2e-4, 2e-4)
            q = [0.1 * (i + 1) * stamp for i in range(6)]
            values = list(reversed(q)) + [0.5]
            asm.add_joint_state(stamp, names, values, values, [])
            if k % 2 == 0:
                asm.add_controller_torque(stamp, list(ARM_JOINT_NAMES), [float(k)] * 6)
            asm.add_target(stamp + 1e-4, [0.3, 0.1, 0.2 + k * 1e-4], [1.0, 0.0, 0.0, 0.0])
        return asm

    rec = fill().build(500.0, {"source": "real"})
    assert rec.rate == 500.0 and rec.metadata["torque_source"] == "controller_state.torque (held)"
    np.testing.assert_allclose(np.diff(rec.t), 1 / 500, atol=1e-9)
    # q_i = 0.1 (i+1) t: linear in time, so interpolation is exact up to float error.
    t_abs = rec.t + 100.0 + (rec.q[0, 0] / 0.1 - 100.0)
    np.testing.assert_allclose(rec.q[:, 2], 0.3 * t_abs, atol=1e-6)
    assert rec.target_pos[-1, 2] > rec.target_pos[0, 2]
    with pytest.raises(RecordingError, match="gap of .* messages were lost"):
        fill(drop=(200, 210)).build(500.0)
    asm = RecordingAssembler()
    with pytest.raises(RecordingError, match="lacks joints"):
        asm.add_joint_state(0.0, ["shoulder_pan_joint"], [0.0], [0.0], [])


def test_ros_recorder_streams_unit_scale_deltas_and_records_over_dds(ros_env):
    """Real rclpy/DDS: a fake robot publishes /joint_states (250 Hz) and controller state, and counts
    the PoseDelta commands; the recorder streams a short chirp and assembles a valid recording."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from omnireset_control.kinematics import load_kinematics
    from omnireset_msgs.msg import OscControllerState, PoseDelta
    from omnireset_sim.sysid.ros_recorder import (
        COMMAND_TOPIC,
        CONTROLLER_STATE_TOPIC,
        JOINT_STATES_TOPIC,
        make_recorder_node,
        record_chirp,
    )
    from omnireset_sim.sysid.replay import ClosedLoopReplay

    with ClosedLoopReplay(nthread=0) as r:
        pos, quat = r.tcp_pose(START)
    targets = chirp_targets(pos, quat, ChirpConfig(sweep_time=0.6, ramp_time=0.1, hold_time=0.1, f0=1.0))
    rclpy.init()
    try:
        robot = rclpy.create_node("fake_robot")
        received = []
        robot.create_subscription(PoseDelta, COMMAND_TOPIC, received.append, 50)
        js_pub = robot.create_publisher(JointState, JOINT_STATES_TOPIC, 50)
        st_pub = robot.create_publisher(OscControllerState, CONTROLLER_STATE_TOPIC, 10)
        ticks = [0]

        def publish():
            now = robot.get_clock().now()
            t = now.nanoseconds * 1e-9
            msg = JointState()
            msg.header.stamp = now.to_msg()
            msg.name = list(ARM_JOINT_NAMES)
            msg.position = [float(v) for v in START + 0.01 * math.sin(2 * math.pi * t)]
            msg.velocity = [0.02 * math.pi * math.cos(2 * math.pi * t)] * 6
            js_pub.publish(msg)
            ticks[0] += 1
            if ticks[0] % 5 == 0:
                st = OscControllerState()
                st.header.stamp = now.to_msg()
                st.joint_names = list(ARM_JOINT_NAMES)
                st.torque = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
                st_pub.publish(st)

        robot.create_timer(1 / 250, publish)
        node = make_recorder_node(targets, load_kinematics("ur7e"), record_rate=250.0)
        node.assembler.max_gap_samples = 25  # a loaded CI box may stall a Python timer; real runs use 5
        executor = SingleThreadedExecutor()
        executor.add_node(robot)
        executor.add_node(node)
        record_chirp(node, timeout=10.0, executor=executor)
        rec = node.assembler.build(250.0, {"source": "sim"})
        executor.shutdown()
        node.destroy_node()
        robot.destroy_node()
    finally:
        rclpy.try_shutdown()
    assert node.sent > 50 and len(received) > 50
    assert all(list(m.scale) == [1.0] * 6 and m.header.frame_id == "base_link" for m in received)
    assert rec.rate == 250.0 and 0.6 < rec.duration <= 0.85
    assert rec.metadata["torque_source"] == "controller_state.torque (held)"
    np.testing.assert_allclose(rec.tau[-1], [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(rec.q.mean(axis=0), START, atol=0.011)
    # Every recorded target is one of the chirp's targets.
    d = np.linalg.norm(rec.target_pos[:, None, :] - targets.target_pos[None, ::5, :], axis=-1).min(axis=1)
    assert d.max() < 5e-3
