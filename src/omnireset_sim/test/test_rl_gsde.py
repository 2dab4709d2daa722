"""gSDE exploration noise: density consistent with its samples, state dependence, temporal
correlation, PPO-compatible gradients, and a deterministic (mean) export."""

import math

import pytest
import torch
from tensordict import TensorDict

from rsl_rl.models import MLPModel
from omnireset_sim.rl.config import AGENT_DEFAULTS, GSDE_CLASS, make_agent_cfg
from omnireset_sim.rl.gsde import VARIANCE_FLOOR, GsdeDistribution

ACTIONS = 3


def _actor(obs_dim=5, sample_interval=4, init_std=0.7, hidden=(16, 8)):
    obs = TensorDict({"policy": torch.zeros(2, obs_dim)}, batch_size=[2])
    dist = {"class_name": GSDE_CLASS, "init_std": init_std, "sample_interval": sample_interval}
    torch.manual_seed(0)
    return MLPModel(obs, {"actor": ["policy"]}, "actor", ACTIONS, hidden_dims=list(hidden), distribution_cfg=dist)


def _obs(rows):
    rows = torch.as_tensor(rows, dtype=torch.float32)
    return TensorDict({"policy": rows}, batch_size=[rows.shape[0]])


def _features(actor, obs):
    return actor.mlp(actor.get_latent(obs))[:, ACTIONS:]


def test_samples_match_the_density_used_for_log_prob_and_entropy():
    actor = _actor(sample_interval=1)
    n = 40000
    obs = _obs(torch.tensor([[0.3, -1.0, 0.5, 2.0, -0.2]]).repeat(n, 1))  # one state, n independent noise draws
    with torch.no_grad():
        samples = actor(obs, stochastic_output=True)
        dist = actor.distribution
        mean, std = dist.mean[0], dist.std[0]
        phi = _features(actor, obs)[0]
        expected_var = (phi**2) @ (dist.sigma() ** 2) + VARIANCE_FLOOR
        torch.testing.assert_close(std**2, expected_var)  # variance phi^2 sigma^2
        torch.testing.assert_close(samples.mean(0), mean, atol=4 * float(std.max()) / math.sqrt(n), rtol=0)
        torch.testing.assert_close(samples.var(0), std**2, rtol=0.04, atol=0)
        # E[-log p(a)] over the policy's own samples is its entropy.
        neg_log_p = -dist.log_prob(samples)
        entropy = float(dist.entropy[0])
        assert abs(float(neg_log_p.mean()) - entropy) < 0.03 * abs(entropy) + 0.03
        # log_prob is the diagonal Gaussian density (checked at one point by hand).
        a = samples[:1]
        by_hand = (-0.5 * ((a[0] - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum()
        torch.testing.assert_close(dist.log_prob(a)[0], by_hand)


def test_noise_depends_on_the_state():
    actor = _actor()
    obs = _obs([[0.0, 0.0, 0.0, 0.0, 0.0], [3.0, -2.0, 1.0, 4.0, -3.0]])
    with torch.no_grad():
        actor(obs, stochastic_output=True)
        std = actor.distribution.std
    assert not torch.allclose(std[0], std[1], rtol=0.05)
    # Scaling sigma scales the state-dependent variance of every state alike (variance phi^2 sigma^2 + floor).
    with torch.no_grad():
        actor.distribution.log_std += math.log(2.0)
        actor(obs, stochastic_output=True)
    torch.testing.assert_close(actor.distribution.std**2 - VARIANCE_FLOOR, 4 * (std**2 - VARIANCE_FLOOR),
                               rtol=1e-4, atol=1e-7)


def test_std_cap_scales_noise_and_density_alike():
    actor = _actor(sample_interval=1, init_std=50.0)
    actor.distribution.max_std = 0.3
    n = 30000
    obs = _obs(torch.tensor([[1.0, -2.0, 0.5, 3.0, -1.0]]).repeat(n, 1))
    with torch.no_grad():
        samples = actor(obs, stochastic_output=True)
        std = actor.distribution.std[0]
    assert torch.allclose(std, torch.full_like(std, 0.3))  # the cap binds in every dimension
    torch.testing.assert_close(samples.std(0), std, rtol=0.04, atol=0)


def test_noise_is_held_for_sample_interval_rollout_steps_and_redrawn_after():
    actor = _actor(sample_interval=3)
    obs = _obs(torch.randn(4, 5, generator=torch.Generator().manual_seed(1)))
    with torch.inference_mode():
        actions = [actor(obs, stochastic_output=True) for _ in range(4)]
        mean = actor(obs)
    assert not torch.allclose(actions[0], mean)
    torch.testing.assert_close(actions[0], actions[1])  # same state, same noise matrix -> same action
    torch.testing.assert_close(actions[1], actions[2])
    assert (actions[3] - actions[2]).abs().max() > 1e-4  # fourth step: new matrix
    # An optimization pass (gradients on) draws throw-away noise and leaves the rollout matrices alone.
    actor.distribution.reset_noise()
    with torch.inference_mode():
        first = actor(obs, stochastic_output=True)
    actor(obs, stochastic_output=True)  # grad enabled
    with torch.inference_mode():
        second = actor(obs, stochastic_output=True)
    torch.testing.assert_close(first, second)


def test_log_prob_gradient_reaches_sigma_and_not_the_features_by_default():
    actor = _actor()
    obs = _obs(torch.randn(6, 5, generator=torch.Generator().manual_seed(2)))
    with torch.no_grad():
        actions = actor(obs, stochastic_output=True)
    actor(obs, stochastic_output=True)
    actor.distribution.log_std.grad = None
    actor.distribution.entropy.mean().backward()  # entropy depends on the features only through the std
    assert actor.distribution.log_std.grad is not None and actor.distribution.log_std.grad.abs().sum() > 0
    hidden = actor.mlp[0].weight
    assert hidden.grad is None or float(hidden.grad.abs().sum()) == 0.0
    assert torch.isfinite(actor.get_output_log_prob(actions)).all()


def test_exported_module_returns_the_mean_action():
    actor = _actor()
    obs = _obs(torch.randn(5, 5, generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        actor(obs, stochastic_output=True)
        mean = actor.distribution.mean.clone()
        deterministic = actor(obs)
        scripted = torch.jit.script(actor.as_jit())
        exported = scripted(obs["policy"])
    torch.testing.assert_close(deterministic, mean)
    torch.testing.assert_close(exported, mean)
    assert exported.shape == (5, ACTIONS)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="init_std"):
        GsdeDistribution(3, init_std=float("nan"))
    with pytest.raises(ValueError, match="sample_interval"):
        GsdeDistribution(3, sample_interval=-1)
    with pytest.raises(ValueError, match="variance_floor"):
        GsdeDistribution(3, variance_floor=0.0)
    with pytest.raises(ValueError, match="max_std"):
        GsdeDistribution(3, max_std=0.0)
    with pytest.raises(ValueError, match="std_range"):
        GsdeDistribution(3, std_range=(1.0, 0.5))


def test_agent_defaults_follow_the_official_config():
    cfg = make_agent_cfg()
    alg = cfg["algorithm"]
    assert cfg["actor"]["hidden_dims"] == [512, 256, 128, 64] == cfg["critic"]["hidden_dims"]
    assert cfg["actor"]["activation"] == "elu" and cfg["actor"]["obs_normalization"] and cfg["critic"]["obs_normalization"]
    assert (alg["clip_param"], alg["entropy_coef"], alg["num_learning_epochs"], alg["num_mini_batches"]) == (0.2, 0.006, 5, 4)
    assert (alg["learning_rate"], alg["schedule"], alg["desired_kl"]) == (1e-4, "adaptive", 0.01)
    assert (alg["gamma"], alg["lam"], alg["max_grad_norm"], alg["use_clipped_value_loss"]) == (0.99, 0.95, 1.0, True)
    assert cfg["num_steps_per_env"] == 32
    assert cfg["obs_groups"] == {"actor": ["policy"], "critic": ["critic"]}
    assert cfg["actor"]["distribution_cfg"]["class_name"] == GSDE_CLASS
    assert "Gaussian" in make_agent_cfg("gaussian")["actor"]["distribution_cfg"]["class_name"]
    assert AGENT_DEFAULTS["actor"]["distribution_cfg"] is None  # the defaults are not mutated
    with pytest.raises(ValueError, match="unknown noise"):
        make_agent_cfg("pink")
    with pytest.raises(ValueError, match="unknown PPO option"):
        make_agent_cfg(entropy=0.1)


def test_default_gsde_is_the_released_one():
    """UW-Lab/rsl_rl's gSDE: sigma = exp(log sigma) initialised at 1 with no clamp, variance
    phi^2 sigma^2 + 1e-6, gradients into phi, a fresh draw every step, no std cap."""
    from omnireset_sim.rl.gsde import RELEASED_GSDE

    cfg = make_agent_cfg()["actor"]["distribution_cfg"]
    assert cfg["class_name"].endswith("GsdeDistribution")
    assert {k: cfg[k] for k in RELEASED_GSDE} == RELEASED_GSDE
    dist = GsdeDistribution(2, **RELEASED_GSDE)
    mlp = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ELU(), torch.nn.Linear(4, 2))
    dist.init_mlp_weights(mlp)
    with torch.no_grad():
        dist.log_std.fill_(math.log(30.0))  # far outside the held variant's clamp: not clamped here
    x = torch.randn(5, 3)
    out = mlp(x)
    dist.update(out)
    phi = out[:, 2:]
    torch.testing.assert_close(dist.std ** 2, (phi ** 2) @ torch.full((4, 2), 900.0) + 1e-6)
    dist.log_prob(torch.zeros(5, 2)).sum().backward()
    assert mlp[0].weight.grad is not None and bool(mlp[0].weight.grad.abs().sum() > 0)  # through phi
    with torch.no_grad():
        dist.update(mlp(x))
        a, b = dist.sample(), dist.sample()
    assert not torch.allclose(a, b)  # fresh noise every step, not a held matrix
