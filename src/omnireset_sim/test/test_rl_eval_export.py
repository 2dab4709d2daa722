"""Evaluation (Wilson CI, reaching-reset success, perturbation pushes, seed selection, plots) and
export (TorchScript + metadata in the deployment format; same actions as the in-process policy)."""

import json
import math

import numpy as np

import pytest
import torch

from omnireset_control.constants import TRAIN_ACTION_SCALE, TRAIN_GAINS
from omnireset_policy.exported_policy import load_exported_policy
from omnireset_policy.observation_layout import POLICY_OBS_DIM
from omnireset_sim.rl import evaluate, export
from omnireset_sim.rl.checkpoint import CheckpointError, atomic_torch_save, read_checkpoint
from omnireset_sim.rl.config import make_agent_cfg
from omnireset_sim.rl.envs import build_env
from omnireset_sim.rl.policy import load_actor
from omnireset_sim.rl.runner import OmniResetRunner

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    paths = []
    for seed in (0, 1):
        run_dir = tmp_path_factory.mktemp(f"seed{seed}")
        env = build_env("peg_insertion", "easy", 4, seed=seed, nthread=1)
        runner = OmniResetRunner(env, make_agent_cfg(num_steps_per_env=4, save_interval=100), run_dir, seed=seed,
                                 print_every=100)
        paths.append(runner.learn(1).checkpoint)
    return paths


def test_wilson_interval_matches_reference_values():
    lo, hi = evaluate.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = evaluate.wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    lo, hi = evaluate.wilson_interval(100, 100)
    assert hi == 1.0 and lo == pytest.approx(0.9630, abs=1e-4)
    with pytest.raises(ValueError):
        evaluate.wilson_interval(3, 2)
    with pytest.raises(ValueError):
        evaluate.wilson_interval(0, 0)


def test_export_gives_the_in_process_actions_and_the_deployment_metadata(checkpoints, tmp_path):
    out = export.export_checkpoint(checkpoints[0], tmp_path / "policy", check_steps=3)
    policy = load_exported_policy(out)  # the policy node's loader
    meta = policy.metadata
    assert policy.kind == "state" and meta["task"] == "peg_insertion" and meta["variant"] == "easy"
    assert policy.action_scale == pytest.approx(TRAIN_ACTION_SCALE)
    assert meta["control"]["gains"]["kp"] == pytest.approx(TRAIN_GAINS.kp)
    assert meta["observation"]["history_length"] == 5 and meta["training"]["iteration"] == 1
    assert meta["training"]["export_check_max_abs_diff"] <= export.EXPORT_TOLERANCE
    # Same actions as the in-process (rsl-rl) actor on real env observations, several steps in.
    env = build_env("peg_insertion", "easy", 6, seed=7, nthread=1)
    actor, _ = load_actor(checkpoints[0], env.get_observations())
    module = policy.modules["policy"]
    with torch.inference_mode():
        obs = env.get_observations()
        for _ in range(4):
            reference = actor(obs)
            exported = module(obs["policy"])
            assert exported.shape == (6, 7)
            torch.testing.assert_close(exported, reference, rtol=0, atol=1e-6)
            obs, _, _, _ = env.step(reference + 0.3 * torch.randn(reference.shape))
        # the exported action is the mean: the stochastic policy scatters around it
        actor(obs, stochastic_output=True)
        torch.testing.assert_close(module(obs["policy"]), actor.distribution.mean, rtol=0, atol=1e-6)
        # the exploration std travels along (gSDE: state-dependent) for the expert-data collector
        _, reference_std = actor.output_distribution_params
        exported_std = policy.modules["action_std"](obs["policy"])
        torch.testing.assert_close(exported_std, reference_std, rtol=1e-5, atol=1e-6)
        assert float((exported_std - exported_std[0]).abs().max()) > 0  # differs between states
    assert sum(f.stat().st_size for f in out.iterdir()) < 3_000_000
    with pytest.raises(Exception, match="exists"):
        export.export_checkpoint(checkpoints[0], out, check_steps=0)
    assert export.main([str(checkpoints[0]), "--out", str(out), "--overwrite", "--check-steps", "0"]) == 0


def test_export_refuses_checkpoints_it_cannot_deploy(checkpoints, tmp_path):
    data = read_checkpoint(checkpoints[0])
    data["infos"]["omnireset"]["agent_cfg"]["obs_groups"]["actor"] = ["policy", "critic"]
    atomic_torch_save(data, tmp_path / "asym.pt")
    with pytest.raises(ValueError, match="deployment provides only 'policy'"):
        export.export_checkpoint(tmp_path / "asym.pt", tmp_path / "x", check_steps=0)
    torch.save({"actor_state_dict": {}}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError):
        export.export_checkpoint(tmp_path / "bare.pt", tmp_path / "y", check_steps=0)
    assert export.main([str(tmp_path / "bare.pt"), "--out", str(tmp_path / "z")]) == 2


def test_push_changes_the_object_velocity_by_force_times_duration_over_mass():
    env = build_env("peg_insertion", "easy", 3, seed=3, nthread=1)
    sl = evaluate.target_dof_slice(env)
    before = env.engine.raw_state()[:, sl].copy()
    evaluate.push_target(env, 0.5, 0.1, torch.Generator().manual_seed(0))
    dv = env.engine.raw_state()[:, sl] - before
    speed = (dv[:, 0] ** 2 + dv[:, 1] ** 2) ** 0.5
    expected = 0.5 * 0.1 / env.dynamics.target_mass.numpy()
    assert speed == pytest.approx(expected, rel=1e-9)
    assert abs(dv[:, 2]).max() == 0.0
    # the pushed object actually moves in the simulation
    with torch.inference_mode():
        pos0 = env.engine.state().target_pos.clone()
        env.step(torch.zeros(3, 7))
        moved = (env.engine.state().target_pos - pos0)[:, :2].norm(dim=1)
    assert bool((moved > 1e-3).all())


def test_evaluate_cli_writes_success_ci_scatter_and_robustness(checkpoints, tmp_path):
    out = tmp_path / "eval"
    rc = evaluate.main([str(checkpoints[0]), "--episodes", "4", "--num-envs", "4", "--out", str(out), "--robustness",
                        "--forces", "0", "1.0", "--nthread", "1", "--episode-length-s", "1.0"])
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    r = results["reaching"]
    assert r["episodes"] == 4 and 0 <= r["successes"] <= 4
    assert r["ci95"][0] <= r["success_rate"] <= r["ci95"][1]
    assert [row["force_n"] for row in results["robustness"]] == [0.0, 1.0]
    for name in ("scatter.png", "robustness.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert evaluate.main([str(checkpoints[0]), "--episodes", "0"]) == 2
    assert evaluate.main([str(tmp_path / "missing.pt")]) == 2


def test_episodes_count_first_episodes_and_record_their_start(checkpoints):
    env = build_env("peg_insertion", "easy", 3, seed=5, nthread=1, episode_length_s=1.5)
    assert env.max_episode_length == 15
    actor, _ = load_actor(checkpoints[0], env.get_observations())
    batch = evaluate.evaluate_success(env, actor, 5, seed=2)
    assert batch.success.shape == (5,) and batch.initial_xy.shape == (5, 2)
    # Easy: the target starts in a 2 cm square
    span = batch.initial_xy.max(0) - batch.initial_xy.min(0)
    assert (span <= 0.02 + 1e-9).all()
    with pytest.raises(ValueError, match="action noise"):
        evaluate.run_episodes(env, actor, action_noise=math.nan)


def test_seed_selection_ranks_checkpoints_by_success_under_action_noise(checkpoints, tmp_path):
    rows = evaluate.select_seeds(checkpoints, episodes=3, action_noise=0.5, num_envs=3, nthread=1,
                                 episode_length_s=1.0)
    assert sorted(r["checkpoint"] for r in rows) == sorted(str(p) for p in checkpoints)
    assert [r["seed"] for r in rows] != [None, None] and {r["seed"] for r in rows} == {0, 1}
    rates = [r["success_rate"] for r in rows]
    assert rates == sorted(rates, reverse=True) and all(r["action_noise"] == 0.5 for r in rows)
    assert POLICY_OBS_DIM == 245


def test_by_reset_type_evaluates_every_type_of_the_dataset_side_by_side(checkpoints, tiny_reset_dataset, tmp_path):
    meta = read_checkpoint(checkpoints[0])["infos"]["omnireset"]
    sampler = evaluate.dataset_sampler(tiny_reset_dataset, "near_goal", meta)
    drawn = sampler.sample(torch.arange(6), torch.Generator().manual_seed(0))
    assert drawn.reset_type.tolist() == [sampler.reset_type_names.index("near_goal")] * 6
    with pytest.raises(ValueError, match="valid"):
        evaluate.dataset_sampler(tiny_reset_dataset, "flying", meta)
    out = tmp_path / "by_type"
    rc = evaluate.main([str(checkpoints[0]), "--by-reset-type", "--resets", str(tiny_reset_dataset), "--compare",
                        str(checkpoints[1]), "--episodes", "2", "--num-envs", "2", "--out", str(out), "--nthread", "1",
                        "--episode-length-s", "0.5"])
    assert rc == 0
    report = json.loads((out / "by_reset_type.json").read_text())
    assert len(report["results"]) == 2
    for rows in report["results"].values():
        assert list(rows) == ["reaching (default sampler)", "reaching", "near_object", "stable_grasp", "near_goal"]
        assert all(r["episodes"] == 2 and r["ci95"][0] <= r["success_rate"] <= r["ci95"][1] for r in rows.values())
    assert (out / "by_reset_type.png").read_bytes()[:8] == PNG
    # --resets alone (or --by-reset-type alone) is refused with exit code 2
    assert evaluate.main([str(checkpoints[0]), "--resets", str(tiny_reset_dataset)]) == 2
    assert evaluate.main([str(checkpoints[0]), "--by-reset-type"]) == 2


def test_curve_from_one_reset_type(checkpoints, tiny_reset_dataset, tmp_path):
    out = tmp_path / "curve"
    rc = evaluate.main(["--curve", str(checkpoints[0].parent), "--resets", str(tiny_reset_dataset), "--reset-type",
                        "stable_grasp", "--episodes", "2", "--num-envs", "2", "--out", str(out), "--nthread", "1",
                        "--episode-length-s", "0.5"])
    assert rc == 0
    report = json.loads((out / "learning_curves_stable_grasp.json").read_text())
    assert report["start"] == "stable_grasp"
    (points,) = report["curves"].values()
    assert points and all(p["episodes"] == 2 for p in points)
    assert (out / "learning_curves_stable_grasp.png").read_bytes()[:8] == PNG


def test_collector_records_the_exported_experts_own_action_std(checkpoints, tmp_path):
    import h5py

    from omnireset_policy.student import shard_format as fmt
    from omnireset_sim.collect.collector import CollectConfig, collect

    expert = export.export_checkpoint(checkpoints[0], tmp_path / "expert", check_steps=0)
    std_module = load_exported_policy(expert).modules["action_std"]
    cfg = CollectConfig(expert=str(expert), out_dir=str(tmp_path / "shards"), num_envs=2, num_episodes=1,
                        episode_seconds=0.3, width=16, height=16, cameras=("wrist",), keep_all=True, seed=1)
    assert collect(cfg).episodes_kept == 1
    (shard,) = (tmp_path / "shards").glob(fmt.SHARD_GLOB)
    with h5py.File(shard, "r") as f:
        assert "action_std.pt" in f.attrs["expert_std_source"]
        ep = f[fmt.EPISODES_GROUP][fmt.episode_name(0)]
        stds = ep["action_std"][()]
        assert stds.shape == (3, 7) and (stds > 0).all()
        assert np.abs(stds - stds[0]).max() > 0  # gSDE: one std per visited state


def test_a_checkpoint_trained_with_an_action_clamp_is_evaluated_with_it():
    from omnireset_control.constants import TRAIN_ACTION_SCALE, TRAIN_GAINS
    from omnireset_sim.rl.evaluate import env_for_checkpoint

    meta = {"task": "peg_insertion", "variant": "easy", "action_scale": list(TRAIN_ACTION_SCALE),
            "osc_gains": {"kp": list(TRAIN_GAINS.kp), "zeta": list(TRAIN_GAINS.zeta)}}
    clamped = env_for_checkpoint({**meta, "env_cfg": {"action_clip": 10.0}}, 1, 0, nthread=0)
    released = env_for_checkpoint({**meta, "env_cfg": {"action_clip": None}}, 1, 0, nthread=0)
    try:
        assert clamped.cfg.action_clip == 10.0 and released.cfg.action_clip is None
    finally:
        clamped.close()
        released.close()
