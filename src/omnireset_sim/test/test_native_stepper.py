"""The native control step (envs/native/osc_stepper.cpp) against the torch law it replaces.

Tolerances: with the solver warm start NOT carried (engine.carry_warmstart = False) the native
kernel performs exactly the torch path's physics (each physics step starts the solver cold, like
rollout from state rows) and only the law's arithmetic order differs (Eigen vs batched torch), so
joint trajectories agree to ~1e-12 rad (asserted: 1e-9). With the warm start carried (the default:
a continuous mj_step loop), every physics step's constraint solve (joint frictionloss, limits,
contacts) starts elsewhere and converges to the solver tolerance, a difference of ~1e-11 rad after
10 policy steps of free-space reaching (asserted: 1e-6 rad).
"""

from __future__ import annotations

import dataclasses
import subprocess
import warnings

import numpy as np
import pytest
import torch

from omnireset_sim.envs import native_stepper
from omnireset_sim.envs.vec_env import LAW_BACKENDS, EnvCfg, RowMemo, make_env
from omnireset_sim.mdp.events import RandomizationCfg

# Every actuation row on: per-env Kp scale, motor delay 0..2 (forced to 2 below), joint dynamics.
FINETUNE = RandomizationCfg.finetune()


def _pair(n=4, seed=3, randomization=FINETUNE, **kw):
    return [make_env("peg_insertion", "hard", n, seed=seed, randomization=randomization, law_backend=b, **kw)
            for b in LAW_BACKENDS]


def _run(envs, steps=10, seed=0, prepare=None):
    gen = torch.Generator().manual_seed(seed)
    q = {id(e): [] for e in envs}
    for _ in range(steps):
        action = torch.rand(envs[0].num_envs, 7, generator=gen) * 2 - 1
        for e in envs:
            if prepare is not None:
                prepare(e)
            e.step(action)
            q[id(e)].append(e.engine.state().joint_pos.clone())
    return [torch.stack(q[id(e)]) for e in envs]


def _force_delay_two(env):
    """Every env on the longest motor delay (the ring buffer's full depth)."""
    env.delay.delay[:] = 2


@pytest.mark.parametrize("carry_warmstart, tol", [(False, 1e-9), (True, 1e-6)])
def test_native_matches_torch_with_delay_and_kp_randomization(carry_warmstart, tol):
    native, torch_env = _pair()
    assert native.law_backend == "native" and torch_env.law_backend == "torch"
    native.engine.carry_warmstart = carry_warmstart
    for e in (native, torch_env):
        _force_delay_two(e)
    assert native.delay.max_delay == 2 and not torch.allclose(native.osc.kp, native.osc.kp[:1])  # randomized Kp
    q_native, q_torch = _run([native, torch_env])
    moved = float((q_native[-1] - q_native[0]).abs().max())
    assert moved > 0.02, "the arm must actually move for the comparison to mean anything"
    err = float((q_native - q_torch).abs().max())
    assert err < tol, f"native vs torch joint trajectories differ by {err:.3g} rad"
    assert native.osc.nonfinite_count.sum() == torch_env.osc.nonfinite_count.sum() == 0
    # The kernel used the delay buffer in place: same newest torques as the torch MotorDelay.
    torch.testing.assert_close(native.delay.buffer, torch_env.delay.buffer, atol=1e-5 if carry_warmstart else 1e-8,
                               rtol=0)


def test_native_matches_torch_with_dynamic_friction():
    native, torch_env = _pair(n=3, seed=5)
    native.engine.carry_warmstart = False
    for e in (native, torch_env):
        e.dynamics.joint_friction[:] = 3.0
        e.dynamic_friction_ratio[:] = 0.4
    q_native, q_torch = _run([native, torch_env], steps=8, seed=1)
    err = float((q_native - q_torch).abs().max())
    assert err < 1e-9, err
    # And the friction term matters: without it the trajectory is visibly different.
    plain = make_env("peg_insertion", "hard", 3, seed=5, randomization=FINETUNE, law_backend="native")
    plain.engine.carry_warmstart = False
    plain.dynamics.joint_friction[:] = 3.0
    (q_plain,) = _run([plain], steps=8, seed=1)
    assert float((q_plain - q_native).abs().max()) > 1e-4


def test_one_and_two_threads_are_bit_identical():
    envs = [make_env("peg_insertion", "hard", 12, seed=2, randomization=FINETUNE, nthread=t) for t in (1, 2)]
    for e in envs:
        e.dynamic_friction_ratio[:] = 0.5
    _run(envs, steps=6)
    np.testing.assert_array_equal(envs[0].engine.raw_state(), envs[1].engine.raw_state())
    np.testing.assert_array_equal(envs[0].engine._warmstart, envs[1].engine._warmstart)  # noqa: SLF001


def test_nan_world_is_flagged_reset_and_leaves_the_others_alone():
    env, twin = (make_env("peg_insertion", "hard", 4, seed=7, randomization=FINETUNE) for _ in range(2))
    action = torch.rand(4, 7, generator=torch.Generator().manual_seed(0)) * 2 - 1
    env.step(action)
    twin.step(action)
    env.engine.corrupt_world(2, "nan")
    _, reward, dones, extras = env.step(action)
    twin.step(action)
    assert extras["abnormal"].tolist() == [False, False, True, False] and dones.tolist() == [False, False, True, False]
    assert torch.isfinite(reward).all()
    # The NaN state gave zero torque once (counted), then MuJoCo reset the world inside mj_step.
    assert env.osc.nonfinite_count.tolist() == [0, 0, 1, 0]
    keep = [0, 1, 3]
    np.testing.assert_array_equal(env.engine.raw_state()[keep], twin.engine.raw_state()[keep])
    assert np.isfinite(env.engine.raw_state()).all() and int(env.episode_length_buf[2]) == 0
    for _ in range(2):
        env.step(action)
        twin.step(action)
    np.testing.assert_array_equal(env.engine.raw_state()[keep], twin.engine.raw_state()[keep])


def test_unknown_law_backend_is_rejected():
    with pytest.raises(ValueError, match=r"unknown law_backend 'cuda'; valid: \['native', 'torch'\]"):
        EnvCfg(law_backend="cuda")


def test_missing_compiler_falls_back_to_torch_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNIRESET_CACHE", str(tmp_path))
    monkeypatch.setattr(native_stepper, "COMPILER", "g++-that-does-not-exist")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = make_env("peg_insertion", "hard", 2, seed=0)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "g++-that-does-not-exist" in messages[0] and "torch" in messages[0]
    assert env.law_backend == "torch"
    _, reward, _, _ = env.step(torch.zeros(2, 7))
    assert torch.isfinite(reward).all()
    assert list(tmp_path.rglob("*.so")) == []


def test_missing_headers_raise_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNIRESET_CONTROL_INCLUDE", str(tmp_path / "nowhere"))
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))  # no installed omnireset_control
    monkeypatch.setattr(native_stepper, "__file__", str(tmp_path / "a" / "b" / "c" / "native_stepper.py"))
    with pytest.raises(native_stepper.NativeStepperUnavailable, match="osc_law.hpp.*not found") as info:
        native_stepper.control_include_dir()
    assert str(tmp_path / "nowhere") in str(info.value)
    real = native_stepper.SOURCE.parents[4] / "omnireset_control" / "include"
    monkeypatch.setenv("OMNIRESET_CONTROL_INCLUDE", str(real))
    assert native_stepper.control_include_dir() == real


def test_cache_hit_does_not_recompile(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNIRESET_CACHE", str(tmp_path))
    first = native_stepper.build()
    assert first.compiled and first.path.parent == tmp_path / "native" and first.path.is_file()
    mtime = first.path.stat().st_mtime_ns

    def no_compiler(*args, **kwargs):
        raise AssertionError(f"compiler run on a cache hit: {args}")

    monkeypatch.setattr(subprocess, "run", no_compiler)
    second = native_stepper.build()
    assert not second.compiled and second.path == first.path and first.path.stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "native").iterdir()] == [first.path.name], "no temporary files left"
    lib, info = native_stepper.load()
    assert info.path == first.path and lib.omnireset_osc_stepper_abi_version() == native_stepper.ABI_VERSION


def test_bad_inputs_are_rejected_not_read():
    env = make_env("peg_insertion", "hard", 2, seed=0)
    inputs = native_stepper.ControlInputs(
        kinematics=env.kinematics_params.as_array(), target_pos=torch.zeros(2, 3, dtype=torch.float32),
        target_rot=torch.eye(3, dtype=torch.float64).repeat(2, 1, 1), kp=env.osc.kp, kd=env.osc.kd,
        pos_clip=0.05, rot_clip=0.3, delay_buffer=env.delay.buffer, delay=env.delay.delay,
        nonfinite_count=env.osc.nonfinite_count)
    with pytest.raises(ValueError, match="target_pos must be a contiguous CPU float64 array of shape"):
        env.engine.control_step(inputs, torch.zeros(2, dtype=torch.bool), 12)
    bad = dataclasses.replace(inputs, target_pos=torch.zeros(2, 3, dtype=torch.float64), kp=env.osc.kp.t())
    with pytest.raises(ValueError, match="kp must be"):
        env.engine.control_step(bad, torch.zeros(2, dtype=torch.bool), 12)


def test_row_memo_recomputes_only_changed_rows_with_identical_numbers():
    env = make_env("peg_insertion", "hard", 2, seed=0, law_backend="torch")
    calls = []

    def fk(q):
        calls.append(q.shape[0])
        return env.kin.forward_with_jacobian(q)

    memo = RowMemo(fk)
    q = torch.rand(64, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 4 - 2
    first = memo(q)
    assert memo(q.clone()) is first and calls == [64]
    q2 = q.clone()
    q2[[3, 40]] += 0.1
    second = memo(q2)
    assert calls == [64, 2]
    for got, want in zip(second, env.kin.forward_with_jacobian(q2)):
        assert torch.equal(got, want)  # bit-identical to the full batch
    for old, want in zip(first, env.kin.forward_with_jacobian(q)):
        assert torch.equal(old, want)  # earlier results were not overwritten
    third = memo(q2 + 0.01)  # every row moved: one plain call of the whole batch
    assert calls == [64, 2, 64] and torch.equal(third[0], env.kin.forward_with_jacobian(q2 + 0.01)[0])


def test_native_control_math_matches_the_torch_functions():
    """The native env's FK, held-target composition and object rotation: same numbers as the torch
    ones to double rounding (one implementation per backend, see vec_env)."""
    from omnireset_control.composition import compose_target
    from omnireset_sim.envs.vec_env import _unit_quat_to_matrix

    env = make_env("peg_insertion", "hard", 2, seed=0, law_backend="torch")
    native = native_stepper.NativeControlMath(env.kinematics_params.as_array())
    gen = torch.Generator().manual_seed(4)
    q = torch.rand(64, 6, dtype=torch.float64, generator=gen) * 6 - 3
    for got, want in zip(native.tcp_kinematics(q), env.kin.forward_with_jacobian(q)):
        torch.testing.assert_close(got, want, atol=1e-13, rtol=0)
    pos, rot, _ = env.kin.forward_with_jacobian(q)
    action = torch.rand(64, 6, dtype=torch.float64, generator=gen) * 4 - 2
    for got, want in zip(native.compose_target(pos, rot, action, env.action_scale),
                         compose_target(pos, rot, action, env.action_scale)):
        torch.testing.assert_close(got, want, atol=1e-13, rtol=0)
    quat = torch.randn(64, 4, dtype=torch.float64, generator=gen) * 3
    torch.testing.assert_close(native.unit_quat_to_matrix(quat), _unit_quat_to_matrix(quat), atol=1e-14, rtol=0)
    action[5, 2] = float("nan")
    with pytest.raises(ValueError, match="non-finite action/scale/pose in 1 row"):
        native.compose_target(pos, rot, action, env.action_scale)
