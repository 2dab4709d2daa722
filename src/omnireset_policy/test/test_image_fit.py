"""What an image policy sees of a camera frame (image_fit.py): the crop, the downscale, the field of view."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnireset_policy.image_fit import (ImageFitError, center_crop_box, fit_image, fitted_fovy_deg, pinhole_fy,
                                        pinhole_k)


def test_center_crop_box_keeps_the_optical_centre_and_the_policy_aspect():
    assert center_crop_box(480, 640, (224, 224)) == (0, 80, 480, 480)  # RealSense 640x480 -> square
    assert center_crop_box(640, 480, (224, 224)) == (80, 0, 480, 480)  # portrait
    assert center_crop_box(480, 640, (120, 160)) == (0, 0, 480, 640)  # same aspect: the whole frame
    assert center_crop_box(720, 1280, (224, 224)) == (0, 280, 720, 720)
    with pytest.raises(ImageFitError, match="positive"):
        center_crop_box(0, 640, (224, 224))


def test_fit_image_crops_the_centre_and_averages_areas():
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:, :80] = 255  # left margin: cropped away
    rgb[:, 560:] = 200  # right margin: cropped away
    rgb[:240, 80:560, 0] = 100  # top half of the crop red 100
    rgb[240:, 80:560, 2] = 60  # bottom half blue 60
    out = fit_image(rgb, (224, 224))
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    assert (out[:112, :, 0] == 100).all() and (out[:112, :, 2] == 0).all()
    assert (out[112:, :, 2] == 60).all() and (out[112:, :, 0] == 0).all()
    assert out[:, :, 1].max() == 0  # nothing of the margins leaks in
    # an exact 2x2 block average on a checkerboard: every output pixel is the mean of its block
    board = ((np.indices((448, 448)).sum(axis=0) % 2) * 255).astype(np.uint8)
    out = fit_image(np.repeat(board[:, :, None], 3, axis=2), (224, 224))
    assert np.abs(out.astype(int) - 128).max() <= 1  # 127.5 rounded either way, no aliasing


def test_fit_image_passes_the_policy_size_through_and_refuses_upsampling():
    rgb = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    assert fit_image(rgb, (224, 224)) is rgb
    with pytest.raises(ImageFitError, match=r"its centred 200x200 crop is smaller than the policy's 224x224"):
        fit_image(np.zeros((200, 300, 3), np.uint8), (224, 224))
    with pytest.raises(ImageFitError, match="expected an"):
        fit_image(np.zeros((480, 640), np.uint8), (224, 224))


def test_field_of_view_of_the_fitted_frame():
    # MuJoCo's pinhole round trip: a frame rendered at fovy, seen at its own size, has that fovy
    for fovy in (42.0, 50.0, 75.0):
        fy = pinhole_fy(fovy, 224)
        assert fitted_fovy_deg(224, 224, fy, (224, 224)) == pytest.approx(fovy, abs=1e-9)
        k = pinhole_k(fovy, 224, 224)
        assert k[0] == k[4] == pytest.approx(fy) and k[2] == k[5] == 112.0 and k[8] == 1.0
    # a D435 colour stream at 640x480 (fy ~ 615 px, vertical FOV ~ 42.6 deg): its centred square
    # crop keeps every row, so the policy sees the stream's own vertical FOV
    assert fitted_fovy_deg(480, 640, 615.0, (224, 224)) == pytest.approx(math.degrees(2 * math.atan(240 / 615)))
    assert fitted_fovy_deg(480, 640, 615.0, (224, 224)) == pytest.approx(42.6, abs=0.05)
    # the fy a 640x480 camera needs for a policy trained at the sim's default 50 deg
    assert fitted_fovy_deg(480, 640, pinhole_fy(50.0, 480), (224, 224)) == pytest.approx(50.0)
    with pytest.raises(ImageFitError, match="fy must be a positive"):
        fitted_fovy_deg(480, 640, float("nan"), (224, 224))
    with pytest.raises(ImageFitError, match="fovy must be in"):
        pinhole_fy(0.0, 224)
