"""The vectorized environment: OSC actions, rewards (A.1), NaN handling, auto-reset, instability
isolation, observation shapes, rendering, and every task stepping."""

import math

import numpy as np
import pytest
import torch

from omnireset_control.composition import compose_target
from omnireset_policy.observation_layout import POLICY_OBS_DIM
from omnireset_sim.envs import EnvCfg, OmniResetEnv, make_env
from omnireset_sim.mdp.events import RandomizationCfg
from omnireset_sim.mdp.observations import CRITIC_PRIVILEGED_DIM
from omnireset_sim.mdp.rewards import RewardWeights, compute_reward

NO_RANDOM = RandomizationCfg(enabled=False)


def _tcp(env):
    return env.kin.forward(env.engine.state().joint_pos)


def test_delta_action_moves_tcp_by_scale_times_action():
    env = make_env("peg_insertion", "easy", 4, randomization=NO_RANDOM, nthread=0)
    pos0, rot0 = _tcp(env)
    action = torch.zeros(4, 7, dtype=torch.float64)
    action[0, 0] = 1.0  # +x
    action[1, 1] = -1.0  # -y
    action[2, 2] = 1.0  # +z
    action[3, 5] = 0.5  # yaw about base z
    action[:, 6] = 1.0
    env.step(action)
    pos1, rot1 = _tcp(env)
    moved = pos1 - pos0
    # One 0.1 s step with the (overdamped) training gains moves part of the way, in the commanded direction.
    for env_id, axis, sign in ((0, 0, 1), (1, 1, -1), (2, 2, 1)):
        along = sign * float(moved[env_id, axis])
        assert 0.002 < along < 0.02 * 1.05, (env_id, moved[env_id])
        off_axis = moved[env_id].abs().sum() - abs(moved[env_id, axis])
        assert off_axis < 0.5 * along
    # Holding the composed target (as the 10 Hz command is held), the OSC converges to it:
    # displacement = scale * action.
    tpos, trot = compose_target(pos1, rot1, action[:, :6], env.action_scale)
    for _ in range(24 * 12):  # 2.4 s of physics at 120 Hz
        s = env.engine.state()
        p, r, j = env.kin.forward_with_jacobian(s.joint_pos)
        env.engine.step(env.osc.torque(j, s.joint_vel, p, r, tpos, trot), torch.zeros(4, dtype=torch.bool))
    pos2, rot2 = _tcp(env)
    assert (pos2 - tpos).norm(dim=1).max() < 2e-3
    np.testing.assert_allclose((pos2 - pos1)[0, 0], 0.02, atol=2e-3)
    yaw = math.atan2(float((rot2[3] @ rot1[3].T)[1, 0]), float((rot2[3] @ rot1[3].T)[0, 0]))
    np.testing.assert_allclose(yaw, 0.5 * 0.2, atol=0.02)  # rotation gains are soft (kp 3): slower


def test_reward_terms_match_hand_computed_a1_values():
    a = torch.tensor([[1.0, 0, 0, 0, 0, 0, -1.0]], dtype=torch.float64)  # |a|^2 = 2
    a_prev = torch.tensor([[0.0, 0, 0, 0, 0, 0, 1.0]], dtype=torch.float64)  # |a - a_prev|^2 = 1 + 4 = 5
    qd = torch.tensor([[0.1, 0.2, 0, 0, 0, 0]], dtype=torch.float64)  # |qd|^2 = 0.05
    ee = torch.tensor([[0.5, 0.0, 0.3]], dtype=torch.float64)
    obj = torch.tensor([[0.5, 0.0, 0.0]], dtype=torch.float64)  # distance 0.3
    pos_err, ori_err = torch.tensor([0.1], dtype=torch.float64), torch.tensor([0.2], dtype=torch.float64)
    kwargs = dict(action=a, prev_action=a_prev, joint_vel=qd, ee_pos=ee, object_pos=obj, position_error=pos_err,
                  orientation_error=ori_err)
    total, terms = compute_reward(RewardWeights(scale_by_dt=False), 0.1, abnormal=torch.tensor([False]),
                                  success=torch.tensor([True]), **kwargs)
    expected = {
        "action": -1e-4 * 2.0,
        "action_rate": -1e-3 * 5.0,
        "joint_vel": -1e-2 * 0.05,
        "abnormal": 0.0,
        "reach": 0.1 * (1.0 - math.tanh(0.3 / 1.0)),
        "dist": 0.1 * 0.5 * (math.exp(-0.1) + math.exp(-0.2)),
        "success": 1.0,
    }
    for name, value in expected.items():
        assert float(terms[name][0]) == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert float(total[0]) == pytest.approx(sum(expected.values()), rel=1e-12)
    # Isaac Lab's manager scales every term by the policy dt; abnormal costs 100 (x dt).
    total_dt, terms_dt = compute_reward(RewardWeights(), 0.1, abnormal=torch.tensor([True]),
                                        success=torch.tensor([False]), **kwargs)
    assert float(terms_dt["abnormal"][0]) == pytest.approx(-100.0 * 0.1)
    assert float(terms_dt["reach"][0]) == pytest.approx(expected["reach"] * 0.1)


def test_env_reward_equals_sum_of_terms_and_obs_layout():
    env = make_env("cube_stacking", "hard", 4, nthread=0)
    obs = env.get_observations()
    assert obs["policy"].shape == (4, POLICY_OBS_DIM) and obs["policy"].dtype == torch.float32
    assert obs["critic"].shape == (4, 49 + CRITIC_PRIVILEGED_DIM)
    action = torch.rand(4, 7, generator=torch.Generator().manual_seed(1)) * 2 - 1
    obs, rew, dones, extras = env.step(action)
    assert rew.shape == (4,) and torch.isfinite(rew).all()
    # The policy history: newest frame last; its last 7 values are the action just taken.
    np.testing.assert_allclose(obs["policy"][:, -7:].numpy(), action.numpy(), atol=1e-6)
    # Critic carries the randomized masses: target mass within Table 2's 0.02..0.2 kg.
    assert torch.all((env.dynamics.target_mass >= 0.02) & (env.dynamics.target_mass <= 0.2))


def test_nan_actions_are_clamped_and_flagged_state_stays_finite():
    env = make_env("peg_insertion", "easy", 4, randomization=NO_RANDOM, nthread=0)
    action = torch.zeros(4, 7)
    action[1, 0] = float("nan")
    action[2, 3] = float("inf")
    action[3, :] = float("-inf")
    for _ in range(3):
        obs, rew, dones, extras = env.step(action)
        assert extras["nan_actions"].tolist() == [False, True, True, True]
        assert torch.isfinite(obs["policy"]).all() and torch.isfinite(obs["critic"]).all()
        assert torch.isfinite(rew).all()
        assert np.isfinite(env.engine.raw_state()).all()
    assert extras["log"]["Actions/nan_or_inf_rows"] == 3.0
    assert env.nan_action_count.tolist() == [0, 3, 3, 3]
    with pytest.raises(ValueError, match="actions must have shape"):
        env.step(torch.zeros(3, 7))


def test_auto_reset_at_time_out_and_success_logged_per_reset_type():
    env = make_env("peg_insertion", "hard", 4, episode_length_s=0.3, nthread=0)
    assert env.max_episode_length == 3
    first_targets = env.engine.state().target_pos.clone()
    for step in range(3):
        obs, rew, dones, extras = env.step(torch.zeros(4, 7))
    assert dones.all() and extras["time_outs"].all()
    assert (env.episode_length_buf == 0).all()
    log = extras["log"]
    assert log["Episode_Termination/time_out"] == 4.0 and log["Episode_Count/reaching"] == 4.0
    assert "Episode_Success/reaching" in log and "Episode_Reward/reach" in log
    # New reset states were drawn for every env (the object moved to a new random place).
    assert (env.engine.state().target_pos - first_targets).norm(dim=1).min() > 1e-4
    # The history was refilled with the first frame of the new episode.
    hist = obs["policy"].reshape(4, 5, -1)
    assert torch.allclose(hist[:, 0], hist[:, -1])


@pytest.mark.parametrize("kind", ["nan", "spin"])
def test_unstable_world_is_terminated_without_touching_the_others(kind):
    cfg = EnvCfg(task="peg_insertion", variant="hard", num_envs=4, seed=7, nthread=0)
    env, twin = OmniResetEnv(cfg), OmniResetEnv(cfg)
    action = torch.rand(4, 7, generator=torch.Generator().manual_seed(0)) * 2 - 1
    env.step(action)
    twin.step(action)
    env.engine.corrupt_world(2, kind)
    _, rew, dones, extras = env.step(action)
    _, _, twin_dones, _ = twin.step(action)
    assert dones.tolist() == [False, False, True, False]
    assert extras["abnormal"].tolist() == [False, False, True, False]
    assert not extras["time_outs"].any()
    assert torch.isfinite(rew).all() and float(rew[2]) < -9.0  # -100 x dt
    keep = [0, 1, 3]
    np.testing.assert_array_equal(env.engine.raw_state()[keep], twin.engine.raw_state()[keep])
    assert np.isfinite(env.engine.raw_state()).all()
    assert int(env.episode_length_buf[2]) == 0 and int(env.episode_length_buf[0]) == 2


def test_render_three_cameras_224():
    env = make_env("peg_insertion", "easy", 1, randomization=NO_RANDOM, nthread=0)
    for cam in ("front", "side", "wrist"):
        img = env.render(0, cam)
        assert img.shape == (224, 224, 3) and img.dtype == np.uint8
        assert img.std() > 5.0, f"{cam} image is (nearly) constant"
    with pytest.raises(ValueError, match="unknown camera 'top'; valid"):
        env.render(0, "top")


@pytest.mark.parametrize("task", ["peg_insertion", "leg_twisting", "drawer_insertion", "cube_stacking", "wall_slide",
                                  "cupcake_on_plate"])
def test_every_task_builds_and_steps(task):
    env = make_env(task, "hard", 2, nthread=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        obs, rew, dones, extras = env.step(torch.rand(2, 7, generator=gen) * 2 - 1)
        # Random actions can shoot a light object out of a squeezing grasp (leg twisting: 59 m/s in
        # one step); such a world must end as abnormal and restart, the others run on.
        assert bool((env.episode_length_buf[extras["abnormal"]] == 0).all())
    assert torch.isfinite(obs["policy"]).all() and torch.isfinite(rew).all()
    assert bool((env.episode_length_buf > 0).any()), "at least one world stepped through all three steps"


def test_make_env_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown task 'pegs'; valid"):
        make_env("pegs", "easy", 1)
    with pytest.raises(ValueError, match=r"unknown variant 'extreme'; valid: \['easy', 'hard'\]"):
        make_env("peg_insertion", "extreme", 1)
    with pytest.raises(ValueError, match="unknown EnvCfg field"):
        make_env("peg_insertion", "easy", 1, num_env=3)


def test_finetune_randomization_draws_actuation_rows():
    env = make_env("peg_insertion", "easy", 8, randomization=RandomizationCfg.finetune(), nthread=0)
    assert set(env.delay.delay.tolist()) <= {0, 1, 2}
    scale = env.osc_kp_scale
    assert bool(((scale >= 0.8) & (scale <= 1.2)).all()) and float(scale.std()) > 0.01
    nominal = env.engine.nominal.joint_armature
    ratio = env.dynamics.joint_armature / nominal
    assert bool(((ratio >= 0.8) & (ratio <= 1.2)).all())
    # ... and they reach the worlds' MuJoCo models.
    m = env.engine.models[3]
    np.testing.assert_allclose(m.dof_armature[:6], env.dynamics.joint_armature[3].numpy())
    np.testing.assert_allclose(env.osc.kp[3].numpy(), np.array(env.cfg.osc_gains.kp) * scale[3].numpy())


def test_dynamic_friction_term_is_added_to_the_applied_torque():
    """sysid's friction model: with a dynamic/static ratio != 1 the env adds its velocity term
    (undelayed) to the delayed OSC torque, every physics step."""
    from omnireset_sim.envs.vec_env import make_env
    from omnireset_sim.sysid.params import dynamic_friction_torque

    env = make_env("peg_insertion", "easy", num_envs=2, seed=1, law_backend="torch")  # spies on engine.step
    applied, delayed = [], []
    engine_step, delay_call = env.engine.step, env.delay.__class__.__call__

    def spy_engine(tau, close):
        applied.append((tau.clone(), env.engine.state().joint_vel.clone()))
        engine_step(tau, close)

    def spy_delay(self, tau):
        out = delay_call(self, tau)
        delayed.append(out.clone())
        return out

    env.engine.step = spy_engine
    env.delay.__class__.__call__ = spy_delay
    try:
        env.dynamics.joint_friction[:] = 3.0
        env.dynamic_friction_ratio[:] = 0.4
        actions = torch.zeros(2, 7, dtype=torch.float32)
        actions[:, 0] = 1.0
        actions[:, 2] = 1.0
        for _ in range(3):
            env.step(actions)
    finally:
        env.delay.__class__.__call__ = delay_call
    assert len(applied) == len(delayed) == 3 * env.cfg.decimation
    largest = 0.0
    for (tau, qd), osc in zip(applied, delayed):
        extra = dynamic_friction_torque(qd, env.dynamics.joint_friction, env.dynamic_friction_ratio)
        torch.testing.assert_close(tau, osc + extra)
        largest = max(largest, float(extra.abs().max()))
    assert largest > 0.1, "the arm slides, so the dynamic-friction term acts"
    env.close()


def test_escaped_object_terminates_only_its_world():
    """A target object shot away by unstable contacts ends that episode as abnormal."""
    from omnireset_sim.envs.vec_env import make_env
    from omnireset_sim.mdp.terminations import object_escaped

    assert object_escaped(torch.tensor([[0.5, 0.0, 0.1], [1e6, 0.0, 0.0], [0.4, 0.1, 0.0]]),
                          torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 80.0, 0.0]])).tolist() == [False, True, True]
    env = make_env("peg_insertion", "easy", num_envs=2, seed=3)
    state = env.engine.raw_state()
    target = env.engine._qpos0 + env.engine._target_qpos  # noqa: SLF001 - test reaches into the engine
    state[1, target:target + 3] = (50.0, 0.0, 0.5)  # far away, like the blow-ups seen in collection
    _, _, dones, extras = env.step(torch.zeros(2, 7))
    assert extras["abnormal"].tolist() == [False, True] and dones.tolist() == [False, True]
    assert float(env.engine.state().target_pos[1].norm()) < 3.0, "the escaped world was reset"
    env.close()


def test_extras_keep_the_final_step_success_of_episodes_that_auto_reset():
    # The runner, the evaluator and the expert collector count an episode as successful from
    # extras["success"] at its done step; the auto-reset must not clear that value in place.
    import dataclasses

    env = make_env("peg_insertion", "easy", 4, nthread=1, episode_length_s=0.3)
    real_errors = env.goal.errors
    succeed = torch.tensor([True, False, True, False])
    env.goal.errors = lambda *a: dataclasses.replace(real_errors(*a), success=succeed.clone())
    for _ in range(env.max_episode_length):
        _, _, dones, extras = env.step(torch.zeros(4, 7))
    assert bool(dones.all())
    assert extras["success"].tolist() == succeed.tolist()
    assert extras["log"]["Episode_Success/final"] == 0.5
    assert not bool(env.success.any())  # the env's own buffer was reset for the new episodes
    env.close()
