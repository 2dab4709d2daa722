"""Per-input message buffers sampled at policy ticks, and Image conversion without cv_bridge.

Paper A.3.12: sensors stream at their own rates; at each control step the policy takes, from
every sensor, the newest observation that precedes the step. ``InputSampler`` keeps a few recent
messages per input (messages can arrive out of stamp order), and at a tick returns for each input
the newest one stamped at or before the tick, its age, and which inputs are refused because they
are missing or older than ``max_age``. The caller commands nothing when any input is refused.

Times are integer nanoseconds of the ROS clock (sim time when ``use_sim_time`` is on).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

DEFAULT_MAX_AGE = 0.2  # s, the default for refusing an input
DEFAULT_BUFFER_DEPTH = 8  # messages kept per input: a 30 Hz camera fills ~3 per 10 Hz tick
SUPPORTED_ENCODINGS = ("rgb8", "bgr8")


@dataclass(frozen=True)
class StampedMessage:
    stamp_ns: int
    value: Any


@dataclass
class SampleResult:
    """What one tick sampled. ``ages`` is NaN for an input that has no usable message."""

    tick_ns: int
    messages: dict[str, StampedMessage] = field(default_factory=dict)
    ages: dict[str, float] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # input name -> reason

    @property
    def ok(self) -> bool:
        return not self.refused

    @property
    def oldest_stamp_ns(self) -> int | None:
        return min((m.stamp_ns for m in self.messages.values()), default=None)

    def describe_refused(self) -> str:
        return "; ".join(f"{name}: {reason}" for name, reason in self.refused.items())


class InputBuffer:
    """The last ``depth`` messages of one input, by header stamp."""

    def __init__(self, depth: int = DEFAULT_BUFFER_DEPTH):
        if depth < 1:
            raise ValueError(f"buffer depth must be >= 1, got {depth}")
        self._items: deque[StampedMessage] = deque(maxlen=depth)

    def add(self, stamp_ns: int, value: Any) -> None:
        self._items.append(StampedMessage(int(stamp_ns), value))

    def newest_at_or_before(self, tick_ns: int) -> StampedMessage | None:
        best = None
        for item in self._items:
            if item.stamp_ns <= tick_ns and (best is None or item.stamp_ns >= best.stamp_ns):
                best = item
        return best

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class InputSampler:
    """Buffers for a fixed set of named inputs, sampled at ticks with an age limit."""

    def __init__(self, names: Iterable[str], max_age: float = DEFAULT_MAX_AGE, depth: int = DEFAULT_BUFFER_DEPTH):
        self.names = tuple(names)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"input names must be unique: {self.names}")
        if not (math.isfinite(max_age) and max_age > 0):
            raise ValueError(f"max_age must be a positive number of seconds, got {max_age}")
        self.max_age = float(max_age)
        self._buffers = {name: InputBuffer(depth) for name in self.names}

    def add(self, name: str, stamp_ns: int, value: Any) -> None:
        try:
            self._buffers[name].add(stamp_ns, value)
        except KeyError:
            raise KeyError(f"unknown input {name!r}; inputs are {self.names}") from None

    def clear(self) -> None:
        for buffer in self._buffers.values():
            buffer.clear()

    def sample(self, tick_ns: int) -> SampleResult:
        result = SampleResult(tick_ns=int(tick_ns))
        for name, buffer in self._buffers.items():
            item = buffer.newest_at_or_before(tick_ns)
            if item is None:
                result.ages[name] = math.nan
                result.refused[name] = "no message received" if len(buffer) == 0 else \
                    "no message stamped at or before the tick"
                continue
            age = (tick_ns - item.stamp_ns) * 1e-9
            result.ages[name] = age
            if age > self.max_age:
                result.refused[name] = f"stale: newest message is {age * 1e3:.0f} ms old (max {self.max_age * 1e3:.0f} ms)"
            else:
                result.messages[name] = item
        return result


class ImageConversionError(ValueError):
    """An Image message cannot be used; the message says why (encoding, size, step)."""


def image_to_rgb(height: int, width: int, encoding: str, step: int, data, expected_size=None) -> np.ndarray:
    """View the pixels of a sensor_msgs/Image as an [H, W, 3] uint8 RGB array, without copying.

    ``data`` is the message's ``data`` field (array.array or bytes); rows may be padded
    (``step`` > 3 * width). bgr8 is returned as a channel-reversed view. Other encodings, a
    too-short buffer, or a size other than ``expected_size`` (height, width) raise
    ``ImageConversionError``.
    """
    if encoding not in SUPPORTED_ENCODINGS:
        raise ImageConversionError(f"encoding {encoding!r} is not supported (accepted: {', '.join(SUPPORTED_ENCODINGS)})")
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"image has no pixels ({height}x{width})")
    if expected_size is not None and (height, width) != tuple(expected_size):
        raise ImageConversionError(f"image is {height}x{width}, the policy expects {expected_size[0]}x{expected_size[1]}")
    if step < 3 * width:
        raise ImageConversionError(f"step {step} is smaller than 3 * width ({3 * width})")
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ImageConversionError(f"data has {buffer.size} bytes, step * height needs {step * height}")
    rows = buffer[: step * height].reshape(height, step)
    pixels = rows[:, : 3 * width].reshape(height, width, 3)
    return pixels[:, :, ::-1] if encoding == "bgr8" else pixels


def image_msg_to_rgb(msg, expected_size=None) -> np.ndarray:
    """``image_to_rgb`` over the fields of a sensor_msgs/Image message."""
    return image_to_rgb(msg.height, msg.width, msg.encoding, msg.step, msg.data, expected_size)
