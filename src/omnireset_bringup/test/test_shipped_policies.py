"""The policies shipped in the repository load the way the policy node loads them and say what made them."""

import pytest
import torch

from omnireset_bringup import graph
from omnireset_policy import observation_layout as layout
from omnireset_policy.exported_policy import load_exported_policy
from omnireset_sim.oracle import build_oracle
from omnireset_sim.tasks import task_names


def test_trained_policy_is_a_ppo_policy_from_the_omnireset_resets():
    policy = load_exported_policy(graph.trained_policy_dir())
    meta = policy.metadata
    assert policy.kind == "state" and meta["task"] == "peg_insertion" and meta["variant"] == "easy"
    training = meta["training"]
    assert training["reset_source"].endswith("easy.npz") and training["iteration"] > 0
    assert training["export_check_max_abs_diff"] <= 1e-5
    obs = torch.randn(4, layout.POLICY_OBS_DIM)
    with torch.inference_mode():
        action = policy.modules["policy"](obs)
        std = policy.modules["action_std"](obs)
    assert action.shape == (4, layout.ACTION_DIM) and bool(torch.isfinite(action).all())
    assert std.shape == (4, layout.ACTION_DIM) and bool((std > 0).all())


def test_scripted_stand_in_is_shipped():
    policy = load_exported_policy(graph.scripted_policy_dir())
    assert policy.kind == "state" and policy.metadata["variant"] == "scripted_reach"
    assert "action_std" not in policy.modules


@pytest.mark.parametrize("task", task_names())
def test_default_policy_of_every_task_is_its_oracle_and_matches_the_code(task):
    """What the demo runs is the oracle of the sim's task, and the shipped file is what
    ``python -m omnireset_sim.oracle`` builds today (re-export after changing the oracle)."""
    path = graph.default_policy_dir(task)
    assert path == graph.oracle_policy_dir(task)
    policy = load_exported_policy(path)
    assert policy.metadata["task"] == task and policy.metadata["policy_type"] == "oracle"
    fresh = build_oracle(task)
    obs = torch.randn(16, layout.POLICY_OBS_DIM)
    obs[:, layout.FRAME_DIM * (layout.HISTORY_LENGTH - 1):][:, :3] *= 0.1
    with torch.inference_mode():
        torch.testing.assert_close(policy.modules["policy"](obs), fresh(obs), atol=1e-5, rtol=1e-5)
