"""Generalized state-dependent exploration (gSDE, Raffin et al. 2022) for rsl-rl's `distribution_cfg`.

The exploration noise of action dimension j is a linear function of the actor's last hidden
features phi(s) (the input of its output layer):

    a = mu(s) + phi(s) @ W,    W[l, j] ~ N(0, sigma[l, j]^2),

with the noise matrix W drawn per environment and kept for `sample_interval` rollout steps, so the
noise is smooth in time and its size depends on the state. For a fixed phi the marginal over W is
Gaussian with variance sum_l phi_l^2 sigma_lj^2 (the variance of the official implementation),
which is what `log_prob`, `entropy` and the KL of the adaptive learning rate use.

How it plugs into rsl-rl 5.5: `MLPModel` builds the distribution before its MLP and then calls
`init_mlp_weights(mlp)`; there the output layer is wrapped so the MLP returns [mu, phi] and the
learnable `log_std` matrix [latent_dim, action_dim] is created. The deterministic output (and so
every export) is mu alone.

During PPO's optimization passes (gradients enabled) `sample` returns the mean: rsl-rl discards
that sample (it only needs the density), and the rollout noise matrices stay untouched.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Normal

from rsl_rl.modules.distribution import Distribution

# Added to the variance so a state with phi ~ 0 still has a proper density: a std of at least 0.01
# (policy units) keeps PPO's probability ratios finite when the features of a state shrink.
VARIANCE_FLOOR = 1e-4


class _MeanAndFeatures(nn.Module):
    """The actor's output layer, returning [mu, phi] (phi detached unless the features learn from the noise)."""

    def __init__(self, linear: nn.Linear, learn_features: bool):
        super().__init__()
        self.linear = linear
        self.learn_features = learn_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        phi = features if self.learn_features else features.detach()
        return torch.cat((self.linear(features), phi), dim=-1)


class _MeanSlice(nn.Module):
    """Export-side: keep mu, drop phi."""

    def __init__(self, output_dim: int):
        super().__init__()
        self.output_dim = output_dim

    def forward(self, mlp_output: torch.Tensor) -> torch.Tensor:
        return mlp_output[..., : self.output_dim]


# The paper's released rsl_rl fork (UW-Lab/rsl_rl, gSDE since cae6402): sigma initialised at 1.0 with
# no clamp, variance phi^2 sigma^2 + 1e-6, phi not detached, a fresh draw every step, no std cap.
RELEASED_GSDE = {"init_std": 1.0, "std_range": None, "sample_interval": 0, "learn_features": True,
                 "max_std": None, "variance_floor": 1e-6}
# This project's earlier variant (kept as ``--noise gsde_held``): detached features, sigma clamped to
# [1e-4, 10], floor 1e-4, std capped at 2, the noise matrix held for 8 steps.
HELD_GSDE = {"init_std": 1.0, "std_range": [1e-4, 10.0], "sample_interval": 8, "learn_features": False,
             "max_std": 2.0, "variance_floor": VARIANCE_FLOOR}


class GsdeDistribution(Distribution):
    """Gaussian policy noise from the last hidden features (see the module docstring).

    Args:
        output_dim: action dimension.
        init_std: initial sigma of every noise weight (the initial action std is about
            init_std * |phi(s)|).
        std_range: clamp of sigma.
        sample_interval: rollout steps between draws of the per-environment noise matrices; 0 draws
            the marginal Gaussian afresh every step (the released code).
        learn_features: let the log-prob gradient flow into the features (SB3's `learn_features`).
        variance_floor: added to the variance (1e-6 released).
        max_std: cap of the action std (None: none, as released). ELU features are unbounded, so phi(s) can grow while the
            mean learns and inflate the noise with it (measured here: action std 0.6 -> 10 in 60
            iterations); where the cap binds, the noise of that state and dimension is scaled down
            by the same factor, so samples and density stay consistent.
    """

    def __init__(self, output_dim: int, init_std: float = 0.5, std_range: tuple[float, float] | None = (1e-4, 10.0),
                 sample_interval: int = 8, learn_features: bool = False, max_std: float | None = 2.0,
                 variance_floor: float = VARIANCE_FLOOR) -> None:
        super().__init__(output_dim)
        if not (math.isfinite(init_std) and init_std > 0):
            raise ValueError(f"gSDE init_std must be finite and > 0, got {init_std}")
        if int(sample_interval) < 0:
            raise ValueError(f"gSDE sample_interval must be >= 0 (0: a fresh draw every step), got {sample_interval}")
        if max_std is not None and not (math.isfinite(max_std) and max_std > 0):
            raise ValueError(f"gSDE max_std must be finite and > 0 (or None: no cap), got {max_std}")
        if not (math.isfinite(variance_floor) and variance_floor > 0):
            raise ValueError(f"gSDE variance_floor must be finite and > 0, got {variance_floor}")
        self.max_std = None if max_std is None else float(max_std)
        self.variance_floor = float(variance_floor)
        if std_range is not None:
            lo, hi = float(std_range[0]), float(std_range[1])
            if not (0 < lo < hi):
                raise ValueError(f"gSDE std_range must satisfy 0 < low < high (or None: no clamp), got {std_range}")
        self.init_std = float(init_std)
        self.log_std_range = None if std_range is None else (math.log(lo), math.log(hi))
        self.sample_interval = int(sample_interval)
        self.learn_features = bool(learn_features)
        self.latent_dim: int | None = None
        self.log_std: nn.Parameter | None = None  # created in init_mlp_weights
        self._distribution: Normal | None = None
        self._features: torch.Tensor | None = None
        self._noise: torch.Tensor | None = None  # [N, latent, action] standard-normal draws
        self._steps_since_draw = 0
        Normal.set_default_validate_args(False)

    # ---- construction --------------------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        return self.output_dim

    def init_mlp_weights(self, mlp: nn.Module) -> None:
        last_index = len(mlp) - 1
        last = mlp[last_index]
        if not isinstance(last, nn.Linear) or last.out_features != self.output_dim:
            raise TypeError(f"gSDE expects the MLP to end in Linear(*, {self.output_dim}), found {last}")
        self.latent_dim = last.in_features
        mlp._modules[str(last_index)] = _MeanAndFeatures(last, self.learn_features)
        self.log_std = nn.Parameter(torch.full((self.latent_dim, self.output_dim), math.log(self.init_std),
                                               device=last.weight.device))

    # ---- distribution --------------------------------------------------------------------------
    def sigma(self) -> torch.Tensor:
        if self.log_std_range is None:
            return self.log_std.exp()
        return self.log_std.clamp(*self.log_std_range).exp()

    def _split(self, mlp_output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mlp_output[..., : self.output_dim], mlp_output[..., self.output_dim:]

    def update(self, mlp_output: torch.Tensor) -> None:
        mean, phi = self._split(mlp_output)
        raw_std = ((phi * phi) @ (self.sigma() ** 2) + self.variance_floor).sqrt()
        std = raw_std if self.max_std is None else raw_std.clamp(max=self.max_std)
        self._noise_scale = std / raw_std  # 1 where the cap does not bind
        self._features = phi
        self._distribution = Normal(mean, std)

    def reset_noise(self, num_envs: int | None = None) -> None:
        """Draw new noise matrices at the next rollout sample (every env at once)."""
        self._noise = None if num_envs is None else self._draw(num_envs)
        self._steps_since_draw = 0

    def _draw(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, self.output_dim, device=self.log_std.device)

    def sample(self) -> torch.Tensor:
        mean = self._distribution.mean
        if torch.is_grad_enabled():
            # An optimization pass: rsl-rl discards this sample (it only needs the density), so skip
            # the draw and leave the rollout noise matrices untouched.
            return mean.detach()
        if mean.dim() != 2 or self.sample_interval == 0:
            # sample_interval 0 is the released code's sampling: a fresh draw of the marginal every
            # step (its exploration matrix is drawn once and never used), i.e. a Gaussian with the
            # state-dependent std above and no temporal correlation.
            return self._distribution.sample()
        n = mean.shape[0]
        if self._noise is None or self._noise.shape[0] != n or self._steps_since_draw >= self.sample_interval:
            self._noise = self._draw(n)
            self._steps_since_draw = 0
        self._steps_since_draw += 1
        weights = self._noise * self.sigma()
        return mean + self._noise_scale * torch.einsum("bl,bla->ba", self._features, weights)

    def deterministic_output(self, mlp_output: torch.Tensor) -> torch.Tensor:
        return mlp_output[..., : self.output_dim]

    def as_deterministic_output_module(self) -> nn.Module:
        return _MeanSlice(self.output_dim)

    @property
    def mean(self) -> torch.Tensor:
        return self._distribution.mean

    @property
    def std(self) -> torch.Tensor:
        return self._distribution.stddev

    @property
    def entropy(self) -> torch.Tensor:
        return self._distribution.entropy().sum(dim=-1)

    @property
    def params(self) -> tuple[torch.Tensor, ...]:
        return (self.mean, self.std)

    def log_prob(self, outputs: torch.Tensor) -> torch.Tensor:
        return self._distribution.log_prob(outputs).sum(dim=-1)

    def kl_divergence(self, old_params, new_params) -> torch.Tensor:
        old_mean, old_std = old_params
        new_mean, new_std = new_params
        return torch.distributions.kl_divergence(Normal(old_mean, old_std), Normal(new_mean, new_std)).sum(dim=-1)


__all__ = ["GsdeDistribution", "HELD_GSDE", "RELEASED_GSDE", "VARIANCE_FLOOR"]
