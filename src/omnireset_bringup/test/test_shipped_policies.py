"""The policies shipped in the repository load the way the policy node loads them and say what made them."""

import torch

from omnireset_bringup import graph
from omnireset_policy import observation_layout as layout
from omnireset_policy.exported_policy import load_exported_policy


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


def test_demo_policy_is_the_scripted_stand_in():
    policy = load_exported_policy(graph.default_policy_dir())
    assert policy.kind == "state" and policy.metadata["variant"] == "scripted_reach"
    assert "action_std" not in policy.modules
