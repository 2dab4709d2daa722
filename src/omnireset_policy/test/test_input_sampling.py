"""Tick sampling (newest at or before the tick, max age, missing inputs) and Image conversion."""

from __future__ import annotations

import array
import math

import numpy as np
import pytest

from omnireset_policy.input_sampling import ImageConversionError, InputBuffer, InputSampler, image_to_rgb

MS = 1_000_000


def test_newest_at_or_before_tick_ignores_later_and_out_of_order_messages():
    buf = InputBuffer(depth=4)
    for stamp in (100, 300, 200, 500):
        buf.add(stamp * MS, stamp)
    assert buf.newest_at_or_before(450 * MS).value == 300
    assert buf.newest_at_or_before(500 * MS).value == 500
    assert buf.newest_at_or_before(99 * MS) is None
    buf.add(600 * MS, 600)  # depth 4: the oldest (100) is dropped
    assert buf.newest_at_or_before(150 * MS) is None


def test_sampler_reports_ages_and_refuses_stale_and_missing_inputs():
    sampler = InputSampler(["joints", "cam", "pose"], max_age=0.2)
    sampler.add("joints", 990 * MS, "j")
    sampler.add("cam", 750 * MS, "c")
    sampler.add("pose", 1200 * MS, "future")
    result = sampler.sample(1000 * MS)
    assert not result.ok
    assert result.ages["joints"] == pytest.approx(0.010)
    assert result.ages["cam"] == pytest.approx(0.250)
    assert math.isnan(result.ages["pose"])
    assert set(result.refused) == {"cam", "pose"}
    assert "250 ms old" in result.refused["cam"] and "before the tick" in result.refused["pose"]
    assert list(result.messages) == ["joints"]
    sampler.add("cam", 950 * MS, "c2")
    sampler.add("pose", 999 * MS, "p")
    result = sampler.sample(1000 * MS)
    assert result.ok and result.messages["cam"].value == "c2"
    assert result.oldest_stamp_ns == 950 * MS
    assert "no message received" in InputSampler(["x"]).sample(0).refused["x"]


def test_sampler_rejects_bad_configuration():
    with pytest.raises(ValueError, match="max_age"):
        InputSampler(["a"], max_age=0.0)
    with pytest.raises(ValueError, match="unique"):
        InputSampler(["a", "a"])
    with pytest.raises(KeyError, match="unknown input 'b'"):
        InputSampler(["a"]).add("b", 0, None)


def _image_bytes(rgb: np.ndarray, encoding: str, pad: int = 0):
    h, w, _ = rgb.shape
    pixels = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
    rows = np.zeros((h, 3 * w + pad), dtype=np.uint8)
    rows[:, : 3 * w] = pixels.reshape(h, 3 * w)
    return array.array("B", rows.tobytes()), 3 * w + pad


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
@pytest.mark.parametrize("pad", [0, 5])
def test_image_conversion_is_a_view_in_rgb_order(encoding, pad):
    rgb = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    data, step = _image_bytes(rgb, encoding, pad)
    out = image_to_rgb(4, 6, encoding, step, data, expected_size=(4, 6))
    np.testing.assert_array_equal(out, rgb)
    assert np.shares_memory(out, np.frombuffer(data, dtype=np.uint8))  # no copy


@pytest.mark.parametrize("args, reason", [
    ((4, 6, "mono8", 6), "encoding 'mono8' is not supported"),
    ((4, 6, "rgba8", 24), "not supported"),
    ((4, 6, "rgb8", 10), "step 10 is smaller"),
    ((5, 6, "rgb8", 18), "data has 72 bytes"),
])
def test_bad_images_are_refused_with_reason(args, reason):
    data = array.array("B", bytes(72))
    with pytest.raises(ImageConversionError, match=reason):
        image_to_rgb(*args, data)


def test_image_of_wrong_size_is_refused():
    data = array.array("B", bytes(72))
    with pytest.raises(ImageConversionError, match="expects 8x8"):
        image_to_rgb(4, 6, "rgb8", 18, data, expected_size=(8, 8))
