"""The RGB student's network pieces in plain torch (torchvision is not a dependency).

Paper A.3.11: a ResNet-18 image encoder followed by a 4-layer MLP with 512 hidden units over a
stack of 5 frames. The export splits it into an ``encoder`` (one image -> features, ImageNet
normalization inside) and a ``head`` (features of every camera and frame + proprioception ->
mean action), so the policy node can encode each camera frame once (see policy_runner).
"""

from __future__ import annotations

import torch
from torch import nn

from omnireset_policy import observation_layout as layout
from omnireset_policy.exported_policy import make_metadata, proprio_dim, save_exported_policy

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CAMERAS = ("wrist", "front", "side")
DEFAULT_PROPRIO_TERMS = ("joint_pos", "ee_pose", "last_action")


class _BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.down = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.down(x))


class _Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ResNet18Encoder(nn.Module):
    """ResNet-18 layout (stem, 4 stages x 2 basic blocks, 64-512 channels, global pool) -> [B, 512]."""

    feature_dim = 512

    def __init__(self):
        super().__init__()
        self.normalize = _Normalize()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        blocks = []
        in_ch = 64
        for out_ch, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_BasicBlock(in_ch, out_ch, stride), _BasicBlock(out_ch, out_ch, 1)]
            in_ch = out_ch
        self.stages = nn.Sequential(*blocks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(self.normalize(images)))
        return torch.flatten(torch.mean(x, dim=(2, 3)), 1)


class TinyEncoder(nn.Module):
    """A two-convolution encoder for tests: same interface as ResNet18Encoder, a fraction of the cost."""

    def __init__(self, feature_dim: int = 16):
        super().__init__()
        self.feature_dim = feature_dim
        self.normalize = _Normalize()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 5, 4, 2), nn.ReLU(), nn.Conv2d(8, feature_dim, 3, 2, 1), nn.ReLU())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.flatten(torch.mean(self.net(self.normalize(images)), dim=(2, 3)), 1)


class MlpHead(nn.Module):
    """4 hidden layers (512 by default) over [features, proprio] -> mean action [B, 7]."""

    def __init__(self, features_in: int, proprio_in: int, hidden: int = 512, layers: int = 4):
        super().__init__()
        dims = [features_in + proprio_in] + [hidden] * layers
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.ELU()]
        mods.append(nn.Linear(dims[-1], layout.ACTION_DIM))
        self.net = nn.Sequential(*mods)

    def forward(self, features: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((features, proprio), dim=1))


def export_rgb_policy(encoder: nn.Module, head: nn.Module, out_dir, *, feature_dim: int, image_size=(224, 224),
                      cameras=DEFAULT_CAMERAS, frame_stack: int = layout.HISTORY_LENGTH,
                      proprio_terms=DEFAULT_PROPRIO_TERMS, task: str = "any", variant: str = "rgb_student",
                      robot: str = "ur7e", action_scale=(0.02, 0.02, 0.02, 0.02, 0.02, 0.2),
                      seed: int | None = None, made_by: str = "omnireset_policy.student_network", overwrite=False,
                      fovy_deg: dict | None = None):
    """Write a kind "rgb" export of ``encoder`` + ``head`` (both put in eval mode first). ``fovy_deg``:
    camera name -> the vertical field of view its training images were rendered at (image_fit.py)."""
    from omnireset_control.constants import TRAIN_GAINS

    meta = make_metadata(
        kind="rgb", task=task, variant=variant, robot=robot, action_scale=action_scale,
        gains_kp=TRAIN_GAINS.kp, gains_zeta=TRAIN_GAINS.zeta, seed=seed, made_by=made_by,
        cameras={"names": list(cameras), "image_size": [int(image_size[0]), int(image_size[1])],
                 "normalization": {"input": "rgb float32 in [0, 1], NCHW", "applied": "inside encoder",
                                   "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
                 "frame_stack": int(frame_stack), "feature_dim": int(feature_dim),
                 **({"fovy_deg": {str(k): float(v) for k, v in fovy_deg.items()}} if fovy_deg else {})},
        proprio_terms=tuple(proprio_terms))
    return save_exported_policy({"encoder": encoder.eval(), "head": head.eval()}, meta, out_dir, overwrite=overwrite)


def make_random_rgb_policy(out_dir, encoder: str = "tiny", image_size=(224, 224), cameras=DEFAULT_CAMERAS,
                           frame_stack: int = layout.HISTORY_LENGTH, hidden: int = 512, seed: int = 0, overwrite=False,
                           fovy_deg: dict | None = None):
    """A random-weight rgb export (tests, benchmarks): encoder "tiny" or "resnet18"."""
    torch.manual_seed(seed)
    enc = TinyEncoder() if encoder == "tiny" else ResNet18Encoder()
    head = MlpHead(len(cameras) * frame_stack * enc.feature_dim,
                   frame_stack * proprio_dim(DEFAULT_PROPRIO_TERMS), hidden=hidden)
    return export_rgb_policy(enc, head, out_dir, feature_dim=enc.feature_dim, image_size=image_size,
                             cameras=cameras, frame_stack=frame_stack, seed=seed,
                             variant=f"random_{encoder}", overwrite=overwrite, fovy_deg=fovy_deg)
