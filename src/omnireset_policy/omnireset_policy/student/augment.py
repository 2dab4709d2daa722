"""Training-time image augmentation in plain torch (Table 2, "Image Augmentation").

Colour jitter (brightness 0.1, contrast 0.1, saturation 0.1, hue 0.05), Gaussian blur (kernel 5,
sigma ~ U(0.1, 2.0)), random grayscale (p = 0.05), Gaussian noise (std 0.01). Parameters are
drawn per group of `group_size` consecutive images (the frame stack of one camera: a camera's
colour response and focus do not flicker from frame to frame, so neither does its augmentation);
the sensor noise is drawn per image. Input and output: float32 [N, 3, H, W] in [0, 1].
Hue is shifted by rotating the chroma plane in YIQ space (a cheap, differentiable stand-in
for an HSV round trip; equal for small shifts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_GRAY = torch.tensor([0.299, 0.587, 0.114])
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


@dataclass(frozen=True)
class AugmentCfg:
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1
    hue: float = 0.05  # fraction of a full turn
    blur_kernel: int = 5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    grayscale_p: float = 0.05
    noise_std: float = 0.01

    def __post_init__(self) -> None:
        if self.blur_kernel < 1 or self.blur_kernel % 2 == 0:
            raise ValueError(f"blur_kernel must be a positive odd number, got {self.blur_kernel}")
        if not 0.0 <= self.grayscale_p <= 1.0:
            raise ValueError(f"grayscale_p must be in [0, 1], got {self.grayscale_p}")


def _uniform(n: int, low: float, high: float, g, group: int = 1) -> torch.Tensor:
    """n values, one draw per group of `group` consecutive entries."""
    draws = torch.rand(n // group, generator=g) * (high - low) + low
    return draws.repeat_interleave(group)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (x * _GRAY.view(1, 3, 1, 1)).sum(1, keepdim=True)


def colour_jitter(x: torch.Tensor, cfg: AugmentCfg, g=None, group: int = 1) -> torch.Tensor:
    n = x.shape[0]
    b = _uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, g, group).view(n, 1, 1, 1)
    x = (x * b).clamp(0, 1)
    c = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, g, group).view(n, 1, 1, 1)
    mean = _gray(x).mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * c + mean).clamp(0, 1)
    s = _uniform(n, 1 - cfg.saturation, 1 + cfg.saturation, g, group).view(n, 1, 1, 1)
    gray = _gray(x)
    x = ((x - gray) * s + gray).clamp(0, 1)
    angle = _uniform(n, -cfg.hue, cfg.hue, g, group) * 2 * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(n, 3, 3)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = _YIQ_TO_RGB @ rot @ _RGB_TO_YIQ  # [n, 3, 3]
    return torch.einsum("nij,njhw->nihw", m, x).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, cfg: AugmentCfg, g=None, group: int = 1) -> torch.Tensor:
    n, ch, h, w = x.shape
    k = cfg.blur_kernel
    sigma = _uniform(n, *cfg.blur_sigma, g, group).view(n, 1)
    r = torch.arange(k, dtype=x.dtype) - (k - 1) / 2
    k1 = torch.exp(-(r.view(1, k) ** 2) / (2 * sigma**2))
    k1 = k1 / k1.sum(1, keepdim=True)  # [n, k]
    weight = k1.repeat_interleave(ch, 0)  # one kernel per (image, channel)
    y = F.pad(x.reshape(1, n * ch, h, w), (k // 2, k // 2, k // 2, k // 2), mode="reflect")
    y = F.conv2d(y, weight.view(n * ch, 1, 1, k), groups=n * ch)
    y = F.conv2d(y, weight.view(n * ch, 1, k, 1), groups=n * ch)
    return y.view(n, ch, h, w)


def random_grayscale(x: torch.Tensor, cfg: AugmentCfg, g=None, group: int = 1) -> torch.Tensor:
    pick = (_uniform(x.shape[0], 0.0, 1.0, g, group) < cfg.grayscale_p).view(-1, 1, 1, 1)
    return torch.where(pick, _gray(x).expand_as(x), x)


def augment_images(x: torch.Tensor, cfg: AugmentCfg | None = None, generator=None,
                   group_size: int = 1) -> torch.Tensor:
    """Apply the full augmentation chain to float images [N, 3, H, W] in [0, 1]; consecutive
    groups of `group_size` images (N divisible by it) share their augmentation parameters."""
    cfg = cfg or AugmentCfg()
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"augment_images needs [N, 3, H, W], got {tuple(x.shape)}")
    if group_size < 1 or x.shape[0] % group_size:
        raise ValueError(f"group_size must be >= 1 and divide the {x.shape[0]} images, got {group_size}")
    x = colour_jitter(x, cfg, generator, group_size)
    x = gaussian_blur(x, cfg, generator, group_size)
    x = random_grayscale(x, cfg, generator, group_size)
    x = x + torch.randn(x.shape, generator=generator) * cfg.noise_std
    return x.clamp(0, 1)
