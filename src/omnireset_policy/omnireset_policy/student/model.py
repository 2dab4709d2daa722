"""The trainable RGB student: shared per-camera encoder + MLP head with Gaussian and aux outputs.

Network (A.3.11): every camera frame of the 5-frame stack goes through ONE encoder (weights
shared across cameras: the export format has a single ``encoder.pt`` that the policy runner
applies to each camera's frames; the head tells the cameras apart by position, camera-major), the
features of all cameras and frames plus the proprioception stack feed
``student_network.MlpHead`` (4 x 512, ELU). Its last hidden layer also feeds a log-std head and
the auxiliary pose-reconstruction head (target + receptive object poses, 18 values). Only the
encoder and the MlpHead (mean action) are exported; the deployed policy uses the mean.

Encoder: ``student_network.ResNet18Encoder`` in plain torch (torchvision is not installable next
to this project's CPU torch). ImageNet weights are used only when a local file is given
(``load_encoder_weights``: our key names or torchvision's resnet18 names); nothing is downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from omnireset_policy import observation_layout as layout
from omnireset_policy.artifact_errors import reading, verify_zip
from omnireset_policy.exported_policy import proprio_dim
from omnireset_policy.student_network import DEFAULT_PROPRIO_TERMS, MlpHead, ResNet18Encoder, TinyEncoder

from .shard_format import AUX_POSE_DIM

ENCODERS = {"resnet18": ResNet18Encoder, "tiny": TinyEncoder}
LOG_STD_RANGE = (-5.0, 2.0)


def make_encoder(name: str) -> nn.Module:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; valid: {sorted(ENCODERS)}")
    return ENCODERS[name]()


def _torchvision_key(key: str) -> str | None:
    """torchvision resnet18 state-dict key -> ResNet18Encoder key (None: not part of the encoder)."""
    if key.startswith("fc."):
        return None
    if key.startswith("conv1."):
        return "stem.0." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "stem.1." + key[len("bn1."):]
    if key.startswith("layer"):
        stage, block, rest = key[len("layer"):].split(".", 2)
        rest = rest.replace("downsample.", "down.")
        return f"stages.{(int(stage) - 1) * 2 + int(block)}.{rest}"
    return key


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> None:
    """Load a local state dict (ours or torchvision resnet18 names) into ``encoder``; strict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder weights {path} do not exist (weights are never downloaded)")
    # torch does not check a zip archive's CRCs itself; a legacy (non-zip) file is left to torch.load
    verify_zip(path, "not a readable torch state dict", required=False)
    with reading(path, "not a readable torch state dict"):
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    own = set(encoder.state_dict())
    if not (set(state) & own):
        state = {k2: v for k, v in state.items() if (k2 := _torchvision_key(k)) is not None}
    state = {k: v for k, v in state.items() if not k.startswith("normalize.")}
    missing = sorted(own - set(state) - {"normalize.mean", "normalize.std"})
    unexpected = sorted(set(state) - own)
    if missing or unexpected:
        raise ValueError(f"{path}: encoder weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    encoder.load_state_dict(state, strict=False)


class StudentPolicy(nn.Module):
    def __init__(self, cameras, encoder: str = "resnet18", frame_stack: int = layout.HISTORY_LENGTH,
                 proprio_terms=DEFAULT_PROPRIO_TERMS, hidden: int = 512, layers: int = 4):
        super().__init__()
        self.cameras = tuple(cameras)
        self.frame_stack = int(frame_stack)
        self.proprio_terms = tuple(proprio_terms)
        self.encoder_name = encoder
        self.encoder = make_encoder(encoder)
        self.feature_dim = int(self.encoder.feature_dim)
        self.proprio_frame_dim = proprio_dim(self.proprio_terms)
        self.head = MlpHead(len(self.cameras) * self.frame_stack * self.feature_dim,
                            self.frame_stack * self.proprio_frame_dim, hidden=hidden, layers=layers)
        self.log_std_head = nn.Linear(hidden, layout.ACTION_DIM)
        self.aux_head = nn.Linear(hidden, AUX_POSE_DIM)
        nn.init.zeros_(self.log_std_head.weight)
        nn.init.constant_(self.log_std_head.bias, math.log(0.3))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """float images [B, C, S, 3, H, W] in [0, 1] -> camera-major features [B, C*S*F]."""
        b = images.shape[0]
        feats = self.encoder(images.reshape(-1, *images.shape[-3:]))
        return feats.reshape(b, -1)

    def forward(self, images: torch.Tensor, proprio: torch.Tensor):
        """-> (mean [B, 7], log_std [B, 7], aux pose [B, 18])."""
        x = torch.cat((self.encode(images), proprio), dim=1)
        hidden = self.head.net[:-1](x)
        mean = self.head.net[-1](hidden)
        log_std = self.log_std_head(hidden).clamp(*LOG_STD_RANGE)
        return mean, log_std, self.aux_head(hidden)


def gaussian_kl(mean_p, std_p, mean_q, log_std_q) -> torch.Tensor:
    """KL(p || q) of diagonal Gaussians, summed over action dims -> [B]. p: expert, q: student."""
    var_q = torch.exp(2 * log_std_q)
    kl = log_std_q - torch.log(std_p) + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * var_q) - 0.5
    return kl.sum(-1)
