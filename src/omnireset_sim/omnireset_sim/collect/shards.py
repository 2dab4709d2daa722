"""Atomic HDF5 shard writing in the format of omnireset_policy.student.shard_format."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from omnireset_policy.student import shard_format as fmt


@dataclass
class Episode:
    """One finished episode: per-step arrays (``fmt.STEP_ARRAYS``) and images per camera."""

    images: dict[str, np.ndarray]  # camera -> uint8 [T, H, W, 3]
    arrays: dict[str, np.ndarray]
    success: bool
    reset_type: int
    reset_type_name: str

    @property
    def length(self) -> int:
        return int(self.arrays["action_mean"].shape[0])


@dataclass
class ShardWriter:
    """Buffers episodes and writes ``episodes_per_shard`` of them per file (tmp file, then rename)."""

    out_dir: Path
    attrs: dict
    cameras: tuple[str, ...]
    episodes_per_shard: int = 8
    compression: str | None = "lzf"
    _pending: list[Episode] = field(default_factory=list)
    shards_written: int = 0
    episodes_written: int = 0
    steps_written: int = 0

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.episodes_per_shard < 1:
            raise ValueError(f"episodes_per_shard must be >= 1, got {self.episodes_per_shard}")
        existing = sorted(self.out_dir.glob(fmt.SHARD_GLOB))
        if existing:
            # continue numbering after what is there (a second run adds shards, never overwrites)
            self.first_index = max(int(p.stem.split("_")[1]) for p in existing) + 1
        else:
            self.first_index = 0

    def add(self, episode: Episode) -> None:
        self._pending.append(episode)
        if len(self._pending) >= self.episodes_per_shard:
            self.flush()

    def flush(self) -> Path | None:
        if not self._pending:
            return None
        path = self.out_dir / fmt.shard_name(self.first_index + self.shards_written)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            with h5py.File(tmp, "w") as f:
                for key, value in self.attrs.items():
                    f.attrs[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
                f.attrs["format"] = fmt.FORMAT_NAME
                f.attrs["format_version"] = fmt.FORMAT_VERSION
                group = f.create_group(fmt.EPISODES_GROUP)
                for i, ep in enumerate(self._pending):
                    self._write_episode(group.create_group(fmt.episode_name(i)), ep)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.shards_written += 1
        self.episodes_written += len(self._pending)
        self.steps_written += sum(ep.length for ep in self._pending)
        self._pending.clear()
        return path

    def _write_episode(self, g: h5py.Group, ep: Episode) -> None:
        g.attrs["length"] = ep.length
        g.attrs["success"] = bool(ep.success)
        g.attrs["reset_type"] = int(ep.reset_type)
        g.attrs["reset_type_name"] = ep.reset_type_name
        images = g.create_group(fmt.IMAGES_GROUP)
        for cam in self.cameras:
            arr = np.ascontiguousarray(ep.images[cam], dtype=np.uint8)
            # Fletcher-32 per chunk: a flipped byte is refused on read (the reader checks every chunk)
            images.create_dataset(cam, data=arr, chunks=(1, *arr.shape[1:]), compression=self.compression,
                                  fletcher32=True)
        for name, shape in fmt.STEP_ARRAYS.items():
            arr = ep.arrays[name]
            dtype = bool if name == "contact" else np.float32
            if arr.shape != (ep.length, *shape):
                raise ValueError(f"episode array {name} has shape {arr.shape}, expected {(ep.length, *shape)}")
            g.create_dataset(name, data=arr.astype(dtype), fletcher32=True)
