"""What an image policy sees of a camera frame: one definition for the sim and the robot.

The simulator renders each camera directly at the policy's size (224 x 224) with a pinhole of
vertical field of view ``fovy`` and square pixels (MuJoCo's camera model). A RealSense colour
stream has its own size (640 x 480 at the profile the bringup uses) and its own focal length.
On the robot the policy node therefore takes the largest centred crop of the frame with the
policy's aspect ratio and averages it down to the policy's size ("center_crop_resize"); the
crop keeps the optical centre, so it is again a pinhole whose vertical field of view follows
from the frame's ``fy`` (CameraInfo K[4]): ``2 atan(crop_height / 2 / fy)``. That angle must
equal the ``fovy`` the policy was trained with (recorded in its metadata by the collector), or
the policy sees the scene magnified or shrunk; the node refuses frames whose angle differs by
more than a tolerance. Upsampling a smaller frame is refused too: it would hide a wrong camera
profile behind blur.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_FIT_MODES = ("exact", "center_crop_resize")


class ImageFitError(ValueError):
    """A frame cannot be brought to the policy's size; the message says why."""


def pinhole_fy(fovy_deg: float, height: int) -> float:
    """Focal length in pixels of a pinhole with vertical field of view ``fovy_deg`` over ``height`` rows."""
    if not (0.0 < fovy_deg < 180.0) or height <= 0:
        raise ImageFitError(f"fovy must be in (0, 180) degrees and height positive, got {fovy_deg}, {height}")
    return 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)


def pinhole_k(fovy_deg: float, width: int, height: int) -> list[float]:
    """Row-major 3 x 3 intrinsics (sensor_msgs/CameraInfo ``k``) of MuJoCo's camera: square pixels,
    principal point at the image centre."""
    f = pinhole_fy(fovy_deg, height)
    return [f, 0.0, width / 2.0, 0.0, f, height / 2.0, 0.0, 0.0, 1.0]


def center_crop_box(height: int, width: int, size) -> tuple[int, int, int, int]:
    """(top, left, crop_height, crop_width): the largest centred crop with the aspect of ``size`` (h, w)."""
    th, tw = int(size[0]), int(size[1])
    if height <= 0 or width <= 0 or th <= 0 or tw <= 0:
        raise ImageFitError(f"sizes must be positive, got frame {height}x{width}, policy {th}x{tw}")
    if width * th >= height * tw:  # frame wider than the policy's aspect: keep every row
        ch, cw = height, int(round(height * tw / th))
    else:
        ch, cw = int(round(width * th / tw)), width
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def fitted_fovy_deg(height: int, width: int, fy: float, size) -> float:
    """Vertical field of view (degrees) of what the policy sees of a frame with focal length ``fy``."""
    if not (math.isfinite(fy) and fy > 0.0):
        raise ImageFitError(f"focal length fy must be a positive number, got {fy}")
    _, _, ch, _ = center_crop_box(height, width, size)
    return math.degrees(2.0 * math.atan(0.5 * ch / fy))


def fit_image(rgb: np.ndarray, size) -> np.ndarray:
    """[H, W, 3] uint8 -> the policy's [h, w, 3] uint8: centred crop to its aspect, then an area average.

    A frame of exactly the policy's size is returned as it is (no copy). A crop smaller than the
    policy's size in either direction is refused (``ImageFitError``)."""
    th, tw = int(size[0]), int(size[1])
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageFitError(f"expected an [H, W, 3] image, got shape {tuple(rgb.shape)}")
    height, width = rgb.shape[:2]
    if (height, width) == (th, tw):
        return rgb
    top, left, ch, cw = center_crop_box(height, width, (th, tw))
    if ch < th or cw < tw:
        raise ImageFitError(f"image is {height}x{width}: its centred {ch}x{cw} crop is smaller than the policy's "
                            f"{th}x{tw} (upsampling refused; use a larger camera profile)")
    crop = np.ascontiguousarray(rgb[top:top + ch, left:left + cw])
    x = torch.from_numpy(crop).permute(2, 0, 1).unsqueeze(0).to(torch.float32)
    # area averaging (adaptive average pooling): each output pixel is the mean of the input pixels it
    # covers, the antialiased downscale; bilinear would alias fine texture at a 2x+ reduction.
    y = F.adaptive_avg_pool2d(x, (th, tw))
    return y.squeeze(0).permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8).numpy()
