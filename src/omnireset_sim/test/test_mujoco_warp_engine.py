"""MuJoCo Warp engine (envs/mujoco_warp_engine.py) on Warp's CPU device against MuJoCo C.

The first run compiles MuJoCo Warp's kernels (~25-45 s on a 2-core CPU, cached in ~/.cache/warp
afterwards); every env here is small (N <= 8). Skipped where mujoco-warp is not installed,
except the tests of what a user without it is told.
"""

from __future__ import annotations

import functools
import sys

import mujoco
import numpy as np
import pytest
import torch

from omnireset_sim.envs import EnvCfg, make_env
from omnireset_sim.envs.mujoco_warp_engine import EngineUnavailable, check_device, import_warp
from omnireset_sim.mdp.events import RandomizationCfg

NO_RANDOM = RandomizationCfg(enabled=False)

try:
    import_warp()
    HAVE_WARP = True
except EngineUnavailable:
    HAVE_WARP = False
needs_warp = pytest.mark.skipif(not HAVE_WARP, reason="mujoco-warp not installed")


def _pair(task="peg_insertion", variant="easy", n=4, **kw):
    """The same env on both engines (the C one with the same torch law), same seed: same resets."""
    c = make_env(task, variant, n, engine="mujoco", law_backend="torch", nthread=0, **kw)
    w = make_env(task, variant, n, engine="mujoco_warp", **kw)
    return c, w


def _smooth_actions(n, steps, seed, amp=0.6):
    g = torch.Generator().manual_seed(seed)
    base = (torch.rand(n, 7, generator=g) * 2 - 1) * amp
    base[:, 6] = 1.0  # gripper open: free motion
    return [base * (0.5 + 0.5 * np.cos(k / 3.0)) for k in range(steps)]


# ---- free motion -----------------------------------------------------------------------------
@needs_warp
def test_free_motion_joint_trajectories_match_mujoco_c_for_one_second():
    c, w = _pair(randomization=NO_RANDOM, seed=3)
    assert w.engine.state().joint_pos.dtype == torch.float32 and w.device.type == "cpu"
    # Same reset states were written into both engines.
    torch.testing.assert_close(w.engine.state().joint_pos.double(), c.engine.state().joint_pos, atol=1e-6, rtol=0)
    q0 = c.engine.state().joint_pos.clone()
    worst = 0.0
    for a in _smooth_actions(4, 10, seed=0):  # 10 policy steps = 1 s, 120 physics steps
        c.step(a)
        w.step(a)
        err = (w.engine.state().joint_pos.double() - c.engine.state().joint_pos).abs().max()
        worst = max(worst, float(err))
    assert float((c.engine.state().joint_pos - q0).abs().max()) > 0.05, "the arm moved"
    assert worst <= 1e-4, f"max |q_warp - q_C| over 1 s = {worst:.2e} rad"
    c.close(), w.close()


@needs_warp
def test_same_observation_layout_and_values_after_the_same_reset():
    c, w = _pair(task="cube_stacking", variant="hard", seed=1)  # randomized dynamics on
    oc, ow = c.get_observations(), w.get_observations()
    for group in ("policy", "critic"):
        assert ow[group].shape == oc[group].shape and ow[group].dtype == oc[group].dtype == torch.float32
        torch.testing.assert_close(ow[group], oc[group], atol=2e-5, rtol=1e-5)
    a = _smooth_actions(4, 1, seed=2)[0]
    (oc, rc, dc, _), (ow, rw, dw, _) = c.step(a), w.step(a)
    assert rw.dtype == rc.dtype == torch.float32 and dw.tolist() == dc.tolist()
    torch.testing.assert_close(ow["policy"], oc["policy"], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(rw, rc, atol=1e-4, rtol=1e-3)
    c.close(), w.close()


# ---- per-world dynamics --------------------------------------------------------------------------
@needs_warp
def test_randomized_dynamics_reach_each_world_with_fresh_derived_constants():
    env = make_env("peg_insertion", "easy", 4, engine="mujoco_warp", randomization=RandomizationCfg.finetune(), seed=0)
    eng, dyn = env.engine, env.dynamics
    mv = eng._mv  # noqa: SLF001 - the batched model fields
    tb = int(eng._ids["target_body"][0])
    np.testing.assert_allclose(mv["body_mass"][:, tb].numpy(), dyn.target_mass.numpy(), rtol=1e-6)
    np.testing.assert_allclose(mv["dof_armature"][:, :6].numpy(), dyn.joint_armature.numpy(), rtol=1e-6)
    np.testing.assert_allclose(mv["dof_damping"][:, :6].numpy(), dyn.joint_damping.numpy(), rtol=1e-6)
    g = eng._gripper_act
    np.testing.assert_allclose(mv["actuator_gainprm"][:, g, 0].numpy(),
                               eng.model.actuator_gainprm[g, 0] * dyn.gripper_stiffness_scale.numpy(), rtol=1e-6)
    geom = int(eng._ids["target_geoms"][0])
    np.testing.assert_allclose(mv["geom_friction"][:, geom, 0].numpy(), dyn.target_friction[:, 0].numpy(), rtol=1e-6)
    assert float(dyn.target_mass.std()) > 0 and float(mv["body_invweight0"][:, tb, 0].std()) > 0
    # The derived constants of world 2 are MuJoCo C's mj_setConst for its parameters.
    ref = mujoco.MjModel.from_xml_string(eng.xml)
    for f in ("body_mass", "dof_armature"):
        getattr(ref, f)[:] = mv[f][2].numpy()
    ref.body_inertia[:] = mv["body_inertia"][2].numpy()
    mujoco.mj_setConst(ref, mujoco.MjData(ref))
    # (One known difference: where C's translational weight is exactly 0 -- the shoulder link, whose
    # COM sits on its joint axis -- mjw.set_const 4.0 writes the rotational one; other entries agree.)
    warp_w, c_w = mv["body_invweight0"][2].numpy(), ref.body_invweight0
    nonzero = c_w > 0
    np.testing.assert_allclose(warp_w[nonzero], c_w[nonzero], rtol=2e-3)
    assert int((~nonzero & (warp_w > 0)).sum()) <= 1
    np.testing.assert_allclose(mv["dof_invweight0"][2].numpy(), ref.dof_invweight0, rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(mv["body_subtreemass"][2].numpy(), ref.body_subtreemass, rtol=1e-5)
    env.close()


# ---- buffer overflow ---------------------------------------------------------------------------
@needs_warp
def test_constraint_buffer_overflow_terminates_that_world_and_is_counted():
    from omnireset_sim.envs.mujoco_warp_engine import MujocoWarpEngine
    from omnireset_sim.envs import vec_env

    # Room for the arm's joint-friction rows and the finger coupling but not for the object's
    # contacts with the table: a world whose object rests on the table overflows, one whose
    # object is lifted off it does not.
    make = vec_env.ENGINES["mujoco_warp"]
    vec_env.ENGINES["mujoco_warp"] = lambda cfg, task, kin: MujocoWarpEngine(task, cfg.num_envs, cfg.scene,
                                                                            kinematics=kin, njmax=12)
    try:
        env = make_env("peg_insertion", "easy", 2, engine="mujoco_warp", randomization=NO_RANDOM, seed=0)
    finally:
        vec_env.ENGINES["mujoco_warp"] = make
    eng = env.engine
    q = eng._qpos[1].clone()  # noqa: SLF001
    q[eng._tq + 2] += 0.3  # world 1's object floats 30 cm up (falls ~1 cm in a step): no contact
    eng._qpos[1] = q
    _, rew, dones, extras = env.step(torch.zeros(2, 7))
    assert extras["abnormal"].tolist() == [True, False] and dones.tolist() == [True, False]
    assert extras["log"]["Episode_Termination/buffer_overflow"] == 1.0
    assert eng.overflow_count.tolist() == [1, 0]  # counted when the world was reset
    env.close()


# ---- graph capture -----------------------------------------------------------------------------
@needs_warp
def test_captured_physics_step_equals_the_uncaptured_one():
    a = _smooth_actions(2, 3, seed=5)
    runs = []
    for graph in (True, False):
        env = make_env("peg_insertion", "easy", 2, engine="mujoco_warp", seed=4)
        env.engine.use_graph = graph
        for act in a:
            env.step(act)
        runs.append(env.engine.raw_state())
        env.close()
    np.testing.assert_array_equal(runs[0], runs[1])


# ---- existing env tests with the engine switched (small N) -------------------------------------
# (test_delta_action_moves_tcp_by_scale_times_action composes float64 targets from the env's
# TCP pose, float32 on this engine; the free-motion agreement test above covers that motion.)
ENV_TESTS = [
    "test_env_reward_equals_sum_of_terms_and_obs_layout",
    "test_nan_actions_are_clamped_and_flagged_state_stays_finite",
    "test_auto_reset_at_time_out_and_success_logged_per_reset_type",
    "test_unstable_world_is_terminated_without_touching_the_others",
    "test_extras_keep_the_final_step_success_of_episodes_that_auto_reset",
    "test_make_env_rejects_unknown_names",
]


def _load_test_env():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_test_env_on_warp", Path(__file__).with_name("test_env.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_warp
@pytest.mark.parametrize("name", ENV_TESTS)
def test_env_test_passes_on_mujoco_warp(name, monkeypatch):
    test_env = _load_test_env()  # a private copy whose make_env / EnvCfg build MuJoCo Warp envs
    monkeypatch.setattr(test_env, "make_env", functools.partial(make_env, engine="mujoco_warp"))
    monkeypatch.setattr(test_env, "EnvCfg", functools.partial(EnvCfg, engine="mujoco_warp"))
    fn = getattr(test_env, name)
    if name == "test_unstable_world_is_terminated_without_touching_the_others":
        for kind in ("nan", "spin"):
            fn(kind)
    else:
        fn()


@needs_warp
@pytest.mark.slow
@pytest.mark.parametrize("task", ["leg_twisting", "drawer_insertion", "wall_slide"])
def test_other_tasks_step_on_mujoco_warp(task):
    env = make_env(task, "hard", 2, engine="mujoco_warp")
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        obs, rew, dones, extras = env.step(torch.rand(2, 7, generator=gen) * 2 - 1)
        assert bool((env.episode_length_buf[extras["abnormal"]] == 0).all())
    assert torch.isfinite(obs["policy"]).all() and torch.isfinite(rew).all()
    env.close()


@needs_warp
def test_render_from_the_warp_state():
    env = make_env("peg_insertion", "easy", 1, engine="mujoco_warp", randomization=NO_RANDOM)
    img = env.render(0, "front")
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8 and img.std() > 5.0
    ref = make_env("peg_insertion", "easy", 1, engine="mujoco", randomization=NO_RANDOM, nthread=0).render(0, "front")
    assert np.abs(img.astype(int) - ref.astype(int)).mean() < 1.0  # same state, same renderer
    env.close()


# ---- with contacts: reward and success statistics -----------------------------------------------
@needs_warp
@pytest.mark.slow
def test_contact_rich_resets_give_matching_reward_and_success_statistics(tiny_reset_dataset):
    """From the dataset's grasp and near-goal states (contacts from the first step), the two engines
    are not bitwise alike (float32, solver tolerance, contact order), so the statistics are compared:
    mean reward per step within 5 % + 2e-3 and the per-step success fraction within one world."""
    from omnireset_sim.resets import DatasetResetSampler

    n, steps = 8, 10
    stats = []
    for engine in ("mujoco", "mujoco_warp"):
        sampler = DatasetResetSampler(tiny_reset_dataset, weights={"stable_grasp": 1.0, "near_goal": 1.0})
        kw = dict(law_backend="torch", nthread=0) if engine == "mujoco" else {}
        env = make_env("peg_insertion", "easy", n, reset_sampler=sampler, engine=engine, randomization=NO_RANDOM,
                       seed=2, **kw)
        types = env.reset_type.clone()
        rewards, success = [], []
        for a in _smooth_actions(n, steps, seed=7, amp=0.3):
            a[:, 6] = torch.where(env.engine.state().gripper_opening < 0.04, -1.0, 1.0)  # keep grasps closed
            _, r, _, ex = env.step(a)
            rewards.append(r.double())
            success.append(ex["success"].double())
        stats.append((types, torch.stack(rewards), torch.stack(success), env.engine.state().target_pos.double()))
        env.close()
    (tc, rc, sc, pc), (tw, rw, sw, pw) = stats
    assert tc.tolist() == tw.tolist()
    mean_c, mean_w = float(rc.mean()), float(rw.mean())
    assert abs(mean_w - mean_c) <= 0.05 * abs(mean_c) + 2e-3, (mean_c, mean_w)
    assert float((sw.mean(1) - sc.mean(1)).abs().max()) <= 1.0 / n + 1e-9
    assert float((pw - pc).norm(dim=1).median()) < 5e-3  # objects end up in the same places


# ---- bad input -------------------------------------------------------------------------------------
def test_missing_mujoco_warp_is_one_line_naming_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco_warp", None)  # import now fails as if not installed
    with pytest.raises(EngineUnavailable, match=r"needs the Python package 'mujoco_warp'.*pip install mujoco-warp==4.0.0"):
        make_env("peg_insertion", "easy", 1, engine="mujoco_warp")


def test_cuda_without_a_gpu_is_refused_with_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EngineUnavailable, match=r"'cuda:0' needs an NVIDIA GPU.*--device cpu"):
        check_device("cuda:0")
    with pytest.raises(EngineUnavailable, match="unknown device 'tpu'"):
        check_device("tpu")
    with pytest.raises(ValueError, match="engine 'mujoco' runs on the CPU only"):
        make_env("peg_insertion", "easy", 1, engine="mujoco", device="cuda:0")


def _one_line_exit_2(capsys, fn, argv):
    with pytest.raises(SystemExit) as exc:
        fn(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_clis_refuse_a_missing_engine_or_gpu_in_one_line(monkeypatch, capsys, engine_defaults):
    from omnireset_sim.collect.cli import main as collect_main
    from omnireset_sim.rl import evaluate, train

    monkeypatch.setitem(sys.modules, "mujoco_warp", None)
    err = _one_line_exit_2(capsys, train.main, ["--engine", "mujoco_warp", "--num-envs", "2"])
    assert err.startswith("train: error:") and "'mujoco_warp'" in err and "pip install mujoco-warp==4.0.0" in err
    monkeypatch.delitem(sys.modules, "mujoco_warp")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if HAVE_WARP:
        err = _one_line_exit_2(capsys, evaluate.main, ["policy.pt", "--engine", "mujoco_warp", "--device", "cuda:0"])
        assert err.startswith("evaluate: error:") and "NVIDIA GPU" in err and "--device cpu" in err
    err = _one_line_exit_2(capsys, collect_main, ["--expert", "x", "--out", "y", "--device", "cuda"])
    assert "--engine mujoco runs on the CPU only" in err
    assert engine_defaults == {"engine": "mujoco", "device": "cpu"}


@needs_warp
@pytest.mark.slow
def test_train_cli_runs_on_mujoco_warp(tmp_path, engine_defaults):
    from omnireset_sim.rl import train

    rc = train.main(["--engine", "mujoco_warp", "--device", "cpu", "--num-envs", "4", "--max-iterations", "1",
                     "--num-steps-per-env", "4", "--run-dir", str(tmp_path), "--print-every", "1"])
    assert rc == 0 and list(tmp_path.glob("model_*.pt"))
    assert engine_defaults["engine"] == "mujoco_warp"
