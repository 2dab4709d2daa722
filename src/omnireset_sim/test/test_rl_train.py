"""Training: rsl-rl PPO on the real env with tiny sizes -- checkpoints with metadata, resume,
refusal of mismatching checkpoints, NaN stop with the last good checkpoint, Ctrl-C, the finetune
curricula, TensorBoard/metrics logs and the CLI's bad-input handling."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from omnireset_control.constants import DEPLOY_ACTION_SCALE, DEPLOY_GAINS, TRAIN_ACTION_SCALE, TRAIN_GAINS
from omnireset_sim.rl import train
from omnireset_sim.rl.checkpoint import CheckpointError, atomic_torch_save, list_checkpoints, read_checkpoint
from omnireset_sim.rl.config import make_agent_cfg
from omnireset_sim.rl.curriculum import FinetuneCurriculum, delay_buffer_steps
from omnireset_sim.rl.envs import build_env, randomization_preset
from omnireset_sim.rl.runner import METRICS_FILE, OmniResetRunner, SuccessTracker
from omnireset_sim.sysid import SysidParams, save_sysid_yaml

ROOT = Path(__file__).resolve().parents[3]
TINY = dict(num_steps_per_env=8, save_interval=1)


def _runner(log_dir, num_envs=8, seed=0, **kw):
    env = build_env("peg_insertion", "easy", num_envs, seed=seed, nthread=1)
    return OmniResetRunner(env, make_agent_cfg(**TINY), log_dir, seed=seed, print_every=100, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    runner = _runner(run_dir)
    result = runner.learn(2)
    return runner, result, run_dir


def test_training_writes_checkpoints_metadata_and_logs(trained):
    runner, result, run_dir = trained
    assert result.status == "finished" and result.iterations_done == 2
    assert [it for it, _ in list_checkpoints(run_dir)] == [1, 2]
    meta = read_checkpoint(run_dir / "model_2.pt")["infos"]["omnireset"]
    assert (meta["task"], meta["variant"], meta["robot"]) == ("peg_insertion", "easy", "ur7e")
    assert meta["observation_layout"]["history_length"] == 5 and meta["obs_dims"] == {"policy": 245, "critic": 101}
    assert meta["iteration"] == 2 and meta["env_steps"] == 2 * 8 * 8 and meta["wall_s"] > 0
    assert meta["action_scale"] == pytest.approx(TRAIN_ACTION_SCALE)
    lines = [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]
    assert [r["iteration"] for r in lines] == [1, 2]
    assert all(set(r["losses"]) == {"value", "surrogate", "entropy"} for r in lines)
    assert any(p.name.startswith("events.out.tfevents") for p in run_dir.iterdir())
    # the time split adds up to the measured total
    t = result.timing
    assert t["physics"] > 0 and t["update"] > 0 and t["inference"] > 0
    assert t["physics"] + t["env_other"] + t["inference"] + t["update"] == pytest.approx(t["total"], rel=0.05)


def test_success_tracker_weights_by_episode_and_reset_type():
    tracker = SuccessTracker(("reaching", "near_goal"))
    tracker.add(torch.tensor([0, 1, 1, 0]), torch.tensor([True, True, True, False]), torch.tensor([True, False, True, True]))
    tracker.add(torch.tensor([1, 1]), torch.tensor([True, False]), torch.tensor([True, True]))
    assert tracker.rates() == {"reaching": (1.0, 1), "near_goal": (2 / 3, 3)}
    assert tracker.overall() == pytest.approx(3 / 4)


def test_resume_continues_and_mismatching_checkpoints_are_refused(trained, tmp_path):
    _, _, run_dir = trained
    runner = _runner(tmp_path / "resumed")
    runner.load_checkpoint(run_dir / "model_2.pt")
    assert runner.current_learning_iteration == 2
    before = {k: v.clone() for k, v in runner.alg.get_policy().state_dict().items()}
    saved = read_checkpoint(run_dir / "model_2.pt")["actor_state_dict"]
    assert all(torch.equal(before[k], saved[k]) for k in saved)
    result = runner.learn(1)
    assert result.iterations_done == 3 and (tmp_path / "resumed" / "model_3.pt").exists()

    data = read_checkpoint(run_dir / "model_2.pt")
    data["infos"]["omnireset"]["task"] = "drawer_insertion"
    atomic_torch_save(data, tmp_path / "other_task.pt")
    with pytest.raises(CheckpointError, match="task 'drawer_insertion'"):
        runner.load_checkpoint(tmp_path / "other_task.pt")
    data = read_checkpoint(run_dir / "model_2.pt")
    data["infos"]["omnireset"]["observation_layout"]["history_length"] = 3
    atomic_torch_save(data, tmp_path / "other_layout.pt")
    with pytest.raises(CheckpointError, match="history_length"):
        runner.load_checkpoint(tmp_path / "other_layout.pt")
    torch.save({"actor_state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="no OmniReset metadata"):
        read_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable"):
        read_checkpoint(tmp_path / "garbage.pt")
    # the CLI refuses before building anything, with the reason and exit code 2
    rc = train.main(["--task", "drawer_insertion", "--resume", str(run_dir), "--num-envs", "2"])
    assert rc == train.EXIT_BAD_INPUT


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(trained, tmp_path):
    _, _, run_dir = trained
    runner = _runner(tmp_path / "nan")
    runner.load_checkpoint(run_dir / "model_2.pt")
    first = runner.learn(1)
    assert first.status == "finished" and first.iterations_done == 3
    # A fixed learning rate of 1e30: Adam's first step throws the weights to +-1e30 -> Inf/NaN losses.
    runner.alg.schedule = "fixed"
    runner.alg.learning_rate = 1e30
    for group in runner.alg.optimizer.param_groups:
        group["lr"] = 1e30
    result = runner.learn(2)
    assert result.status == "diverged" and "NaN" in result.message and "iteration 3" in result.message
    assert result.iterations_done == 3 and result.checkpoint == tmp_path / "nan" / "model_3.pt"
    kept = read_checkpoint(result.checkpoint)
    assert all(torch.isfinite(v).all() for v in kept["critic_state_dict"].values())
    assert not (tmp_path / "nan" / "model_4.pt").exists()
    assert all(torch.isfinite(p).all() for p in runner.alg.critic.parameters())  # the runner is back to good
    with torch.no_grad():
        runner.alg.critic.mlp[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="before training starts"):
        runner.learn(1)


def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "sigint"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        str(ROOT / "src" / p) for p in ("omnireset_sim", "omnireset_control", "omnireset_policy")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnireset_sim.rl.train", "--num-envs", "4", "--num-steps-per-env", "4",
         "--max-iterations", "100000", "--save-interval", "1000", "--print-every", "1000", "--nthread", "1",
         "--run-dir", str(run_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            metrics = run_dir / METRICS_FILE
            if metrics.exists() and len(metrics.read_text().splitlines()) >= 1:
                break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        else:
            pytest.fail("training did not complete an iteration in 90 s")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == train.EXIT_INTERRUPTED, out
    assert "interrupted" in out and "Traceback" not in out
    saved = list_checkpoints(run_dir)
    assert saved and saved[-1][0] >= 1
    assert read_checkpoint(saved[-1][1])["iter"] == saved[-1][0]


def test_finetune_curricula_move_parameters_toward_deployment_and_back_off(tmp_path):
    sysid = SysidParams(armature=(0.3,) * 6, static_friction=(2.0,) * 6, viscous_friction=(1.5,) * 6, delay=1)
    env = build_env("peg_insertion", "easy", 4, nthread=1,
                    randomization=randomization_preset("finetune", delay_buffer_steps(sysid)))
    start_friction = env.engine.nominal.joint_friction.clone()
    cur = FinetuneCurriculum(env, sysid, stages=4, min_episodes=8)
    assert env.action_scale.tolist() == pytest.approx(TRAIN_ACTION_SCALE)
    assert cur.update(0.99, 4, 1) is None  # too few episodes to decide
    assert "advanced" in cur.update(0.99, 64, 1)
    assert cur.levels == {"action_scale": 0.25, "dynamics": 0.25}
    expected = [t + 0.25 * (d - t) for t, d in zip(TRAIN_ACTION_SCALE, DEPLOY_ACTION_SCALE)]
    assert env.action_scale.tolist() == pytest.approx(expected)
    assert cur.update(0.92, 64, 2) is None  # between the thresholds: hold
    assert "backed off" in cur.update(0.5, 64, 3)
    assert cur.levels == {"action_scale": 0.0, "dynamics": 0.0}
    torch.testing.assert_close(env.engine.nominal.joint_friction, start_friction)
    for it in range(5):
        cur.update(0.97, 64, 10 + it)
    assert cur.finished
    assert env.action_scale.tolist() == pytest.approx(DEPLOY_ACTION_SCALE)
    assert env.cfg.osc_gains.kp == pytest.approx(DEPLOY_GAINS.kp) and env.cfg.osc_gains.kp != TRAIN_GAINS.kp
    assert env.cfg.randomization.motor_delay_steps == (1, 3)
    torch.testing.assert_close(env.engine.nominal.joint_friction, torch.full((1, 6), 2.0, dtype=torch.float64))
    # the next resets draw the new dynamics (x U(0.8, 1.2) around the identified values) and delays
    env.reset()
    friction = env.dynamics.joint_friction
    assert bool(((friction >= 1.6 - 1e-9) & (friction <= 2.4 + 1e-9)).all())
    assert bool(((env.delay.delay >= 1) & (env.delay.delay <= 3)).all())
    with pytest.raises(ValueError, match="motor-delay buffer"):
        FinetuneCurriculum(build_env("peg_insertion", "easy", 2, nthread=1), SysidParams(delay=3))


def test_finetune_cli_starts_from_a_checkpoint_with_the_sysid_goal(trained, tmp_path):
    _, _, run_dir = trained
    yaml_path = tmp_path / "sysid.yaml"
    save_sysid_yaml(yaml_path, SysidParams(static_friction=(1.0,) * 6, delay=1), physics_dt=1 / 120)
    out = tmp_path / "ft"
    rc = train.main(["--finetune", str(run_dir / "model_2.pt"), "--sysid", str(yaml_path), "--num-envs", "4",
                     "--num-steps-per-env", "4", "--max-iterations", "1", "--nthread", "1", "--run-dir", str(out),
                     "--print-every", "100"])
    assert rc == 0
    meta = read_checkpoint(out / "model_1.pt")["infos"]["omnireset"]
    assert meta["finetune"] and meta["curriculum"]["levels"] == {"action_scale": 0.0, "dynamics": 0.0}
    assert json.loads((out / "config.json").read_text())["randomization"] == "finetune"


def test_cli_rejects_bad_input(tmp_path, capsys):
    assert train.main(["--num-envs", "0"]) == train.EXIT_BAD_INPUT
    assert "num-envs" in capsys.readouterr().err
    assert train.main(["--max-time-s", "nan"]) == train.EXIT_BAD_INPUT
    assert train.main(["--resets", str(tmp_path / "missing.npz"), "--num-envs", "2"]) == train.EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err
    assert train.main(["--sysid", "x.yaml"]) == train.EXIT_BAD_INPUT
    assert train.main(["--action-clip", "0"]) == train.EXIT_BAD_INPUT
    assert "--action-clip must be a positive number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--task"])  # argparse: missing value


def test_resume_continues_a_run_exactly(tmp_path):
    """Stopped after iteration 2 and resumed, a run reaches the same weights, optimizer moments and
    normalizers at iteration 3 as the run that never stopped (env worlds, histories, RNG restored)."""
    straight = _runner(tmp_path / "straight")
    straight.learn(3)
    resumed = _runner(tmp_path / "resumed")
    resumed.load_checkpoint(tmp_path / "straight" / "model_2.pt")
    resumed.learn(1)
    a = read_checkpoint(tmp_path / "straight" / "model_3.pt")
    b = read_checkpoint(tmp_path / "resumed" / "model_3.pt")
    for key in ("actor_state_dict", "critic_state_dict"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs after resume"
    moments_a = a["optimizer_state_dict"]["state"]
    moments_b = b["optimizer_state_dict"]["state"]
    assert all(torch.equal(moments_a[k]["exp_avg"], moments_b[k]["exp_avg"]) for k in moments_a)
    assert np.array_equal(a["env_state"]["engine"]["state"], b["env_state"]["engine"]["state"])


def test_resume_refuses_a_different_run_naming_the_difference(tmp_path, capsys):
    run = tmp_path / "run"
    rc = train.main(["--task", "peg_insertion", "--variant", "easy", "--num-envs", "4", "--max-iterations", "1",
                     "--num-steps-per-env", "4", "--run-dir", str(run), "--nthread", "1", "--print-every", "100"])
    assert rc == 0
    capsys.readouterr()
    rc = train.main(["--task", "peg_insertion", "--variant", "easy", "--num-envs", "6", "--max-iterations", "1",
                     "--num-steps-per-env", "4", "--resume", str(run), "--nthread", "1"])
    err = capsys.readouterr().err
    assert rc == train.EXIT_BAD_INPUT and "env.num_envs: 4 -> 6" in err and err.count("\n") == 1
    rc = train.main(["--task", "peg_insertion", "--variant", "easy", "--num-envs", "4", "--max-iterations", "1",
                     "--num-steps-per-env", "4", "--noise", "gaussian", "--resume", str(run), "--nthread", "1"])
    err = capsys.readouterr().err
    assert rc == train.EXIT_BAD_INPUT and "agent.actor.distribution_cfg.class_name" in err
    # The action clamp (an ablation of the released no-clip) is part of the env: a resume keeps it.
    rc = train.main(["--task", "peg_insertion", "--variant", "easy", "--num-envs", "4", "--max-iterations", "1",
                     "--num-steps-per-env", "4", "--action-clip", "10", "--resume", str(run), "--nthread", "1"])
    err = capsys.readouterr().err
    assert rc == train.EXIT_BAD_INPUT and "env.action_clip: None -> 10.0" in err


def test_an_interrupt_during_learn_waits_for_a_safe_point():
    """Ctrl-C/SIGTERM inside learn() only sets a flag; the loop raises at its next check (after an env
    step or the update), never inside a writer or lock; a second signal interrupts at once; the
    caller's handlers come back afterwards."""
    from omnireset_sim.rl.runner import DeferredInterrupt

    before = signal.getsignal(signal.SIGINT)
    with DeferredInterrupt() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs in the main thread: no exception here
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second one: immediately
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before
