"""Policy runners: state frames from FK + poses, history, NaN guard; rgb feature cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from omnireset_control.kinematics import BatchedKinematics, load_kinematics
from omnireset_policy.exported_policy import load_exported_policy, make_metadata, save_exported_policy
from omnireset_policy.export_scripted import export_scripted
from omnireset_policy.policy_runner import RgbPolicyRunner, StatePolicyRunner, make_runner
from omnireset_policy.student_network import make_random_rgb_policy

Q = [0.1, -1.4, 1.6, -1.7, -1.57, 0.3]
IDENTITY = [1.0, 0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def kinematics():
    return BatchedKinematics(load_kinematics("ur7e"))


class _EchoLastFrame(torch.nn.Module):
    """Returns 7 numbers of the observation so tests can see what the runner fed in."""

    def __init__(self, start: int):
        super().__init__()
        self.start = start

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, self.start:self.start + 7]


class _NanWhenFirstJointBig(torch.nn.Module):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        newest = obs[:, 4 * 49:]
        base = torch.full((obs.shape[0], 7), 0.1)
        return torch.where(newest[:, 0:1] > 5.0, torch.full_like(base, float("nan")), base)


def _save(module, tmp_path, name):
    meta = make_metadata(kind="state", task="t", variant=name, robot="ur7e", action_scale=[0.02] * 6,
                         gains_kp=[1.0] * 6, gains_zeta=[1.0] * 6, seed=0, made_by="test")
    return load_exported_policy(save_exported_policy(module, meta, tmp_path / name))


def test_state_frame_uses_fk_of_the_tcp_and_object_poses(kinematics, tmp_path):
    policy = _save(_EchoLastFrame(0), tmp_path, "echo")
    runner = StatePolicyRunner(policy, kinematics)
    ee_pos, ee_rot = kinematics.forward(torch.tensor([Q], dtype=torch.float64))
    target = ee_pos[0] + torch.tensor([0.0, 0.0, -0.1], dtype=torch.float64)
    frame = runner.build_frame(Q, (target.tolist(), IDENTITY), ([0.3, 0.2, 0.0], IDENTITY))
    torch.testing.assert_close(frame[0, :6], torch.tensor(Q, dtype=torch.float64))
    torch.testing.assert_close(frame[0, 6:9], ee_pos[0])
    # target 10 cm below the TCP in base_link, expressed in the TCP frame
    expected = ee_rot[0].T @ torch.tensor([0.0, 0.0, -0.1], dtype=torch.float64)
    torch.testing.assert_close(frame[0, 15:18], expected)


def test_history_fills_oldest_first_and_last_action_feeds_back(kinematics, tmp_path):
    # echo the newest frame's joint positions (6) + one: action = joints, so last_action = joints next step
    policy = _save(_EchoLastFrame(4 * 49), tmp_path, "echo_newest")
    runner = StatePolicyRunner(policy, kinematics)
    poses = (([0.5, 0.0, 0.1], IDENTITY), ([0.3, 0.2, 0.0], IDENTITY))
    fills = []
    for k in range(7):
        q = [0.01 * k] * 6
        result = runner.step(q, *poses)
        fills.append(result.history_fill)
        assert result.error == "" and result.action[0] == pytest.approx(0.01 * k)
    assert fills == [1, 2, 3, 4, 5, 5, 5]
    flat = runner.history.flat()[0].reshape(5, 49)
    np.testing.assert_allclose(flat[:, 0].numpy(), [0.02, 0.03, 0.04, 0.05, 0.06], atol=1e-6)  # oldest first
    np.testing.assert_allclose(flat[-1, 42:48].numpy(), [0.05] * 6, atol=1e-6)  # previous action
    runner.reset()
    assert runner.history_fill == 0 and runner.step([0.0] * 6, *poses).history_fill == 1
    assert torch.all(runner.history.flat()[0].reshape(5, 49)[:, 42:] == 0)  # last action forgotten


def test_nan_output_and_bad_inputs_command_nothing(kinematics, tmp_path):
    runner = StatePolicyRunner(_save(_NanWhenFirstJointBig(), tmp_path, "nan"), kinematics)
    poses = (([0.5, 0.0, 0.1], IDENTITY), ([0.3, 0.2, 0.0], IDENTITY))
    good = runner.step(Q, *poses)
    assert good.error == "" and good.action[0] == pytest.approx(0.1)
    bad = runner.step([6.0] + Q[1:], *poses)
    assert bad.action is None and "NaN" in bad.error
    torch.testing.assert_close(runner.last_action, torch.from_numpy(good.action).unsqueeze(0))  # not poisoned
    nan_q = runner.step([math.nan] + Q[1:], *poses)
    assert nan_q.action is None and "joint positions" in nan_q.error
    zero_quat = runner.step(Q, ([0.5, 0.0, 0.1], [0, 0, 0, 0]), poses[1])
    assert zero_quat.action is None and "zero quaternion" in zero_quat.error


def test_scripted_policy_closes_loop_on_fk(kinematics, tmp_path):
    """Integrating the scripted actions through FK-free kinematics of the TCP reaches the object."""
    runner = make_runner(load_exported_policy(export_scripted(tmp_path / "s")), kinematics)
    ee_pos, _ = kinematics.forward(torch.tensor([Q], dtype=torch.float64))
    result = runner.step(Q, ((ee_pos[0] + torch.tensor([0.0, 0.0, -0.004])).tolist(), IDENTITY),
                         ([0.3, 0.2, 0.0], IDENTITY))
    assert result.action[6] < 0  # 4 mm below the TCP: close (negative closes)
    assert result.action[2] == pytest.approx(-0.2, abs=1e-4)  # 4 mm / 0.02 scale, base frame down


def _images(cams, size, t, rng):
    return {c: (t, rng.integers(0, 256, (*size, 3), dtype=np.uint8)) for c in cams}


def test_rgb_feature_cache_encodes_each_frame_once_and_matches_reencoding(kinematics, tmp_path):
    policy = load_exported_policy(make_random_rgb_policy(tmp_path / "rgb", image_size=(32, 40)))
    cams = policy.cameras["names"]
    cached = RgbPolicyRunner(policy, kinematics, use_feature_cache=True)
    baseline = RgbPolicyRunner(policy, kinematics, use_feature_cache=False)
    rng = np.random.default_rng(1)
    frames = [_images(cams, (32, 40), t, rng) for t in range(4)]
    # the front camera repeats its frame at tick 2 (a slower camera): same key, no re-encode
    frames[2]["front"] = frames[1]["front"]
    encoded = []
    for images in frames + frames[3:]:
        a = cached.step(Q, images)
        b = baseline.step(Q, images)
        assert a.error == "" and b.error == ""
        np.testing.assert_allclose(a.action, b.action, rtol=1e-4, atol=1e-5)
        encoded.append(a.encoded_frames)
        assert b.encoded_frames == 15  # baseline: 3 cameras x 5 frames every tick
    assert encoded == [3, 3, 2, 3, 0]
    assert cached.total_encoded_frames == 11


def test_rgb_runner_refuses_missing_camera_and_wrong_size(kinematics, tmp_path):
    policy = load_exported_policy(make_random_rgb_policy(tmp_path / "rgb", image_size=(16, 16)))
    runner = RgbPolicyRunner(policy, kinematics)
    rng = np.random.default_rng(0)
    images = _images(policy.cameras["names"], (16, 16), 0, rng)
    del images["side"]
    assert "side" in runner.step(Q, images).error
    images = _images(policy.cameras["names"], (16, 20), 0, rng)
    assert "does not match" in runner.step(Q, images).error
    with pytest.raises(ValueError, match="kind 'state'"):
        StatePolicyRunner(policy, kinematics)
