"""Reading expert shards (shard_format) as student training samples.

A sample is one step t of one episode: per camera the last ``frame_stack`` images (t-S+1 .. t,
oldest first; before the episode start the first frame repeats, as the env's and the policy
runner's histories do), the proprioception stack in the same order, the expert's action mean and
std at t, and the auxiliary pose targets at t.

A shard that cannot be opened or read, or whose layout is wrong (truncated file, missing arrays,
inconsistent lengths, a chunk failing its Fletcher-32 checksum: every array is read once when the
shards are indexed), is skipped with a warning and counted in ``skipped``; ``check_shard`` raises
the reason as a ``ShardError`` (an ``ArtifactError``: one line naming the file). A dataset whose
cameras or image size differ from what the student asks for is refused (``DatasetMismatchError``
naming the difference): training on the wrong views would silently produce a useless policy.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from omnireset_policy.artifact_errors import ArtifactError, describe, reading

from . import shard_format as fmt


class DatasetMismatchError(ArtifactError):
    """The dataset's cameras / image size / format disagree with the student configuration."""


class ShardError(ArtifactError):
    """An expert shard that cannot be used (unreadable, corrupted, truncated, of another kind)."""


class ShardSkippedWarning(UserWarning):
    pass


@dataclass
class _EpisodeRef:
    shard: int
    name: str
    length: int


@dataclass
class ShardIndex:
    shards: list[Path] = field(default_factory=list)
    episodes: list[_EpisodeRef] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    cameras: tuple[str, ...] = ()
    image_size: tuple[int, int] = (0, 0)
    attrs: dict = field(default_factory=dict)


def _attr_json(attrs, key, path):
    if key not in attrs:
        raise ValueError(f"missing root attribute {key!r}")
    value = attrs[key]
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _check_shard(path: Path) -> tuple[dict, list[_EpisodeRef], tuple[str, ...], tuple[int, int]]:
    """Open one shard and validate its whole layout (never reads image pixels)."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != fmt.FORMAT_NAME:
            raise ValueError(f"format is {f.attrs.get('format')!r}, expected {fmt.FORMAT_NAME!r}")
        if int(f.attrs.get("format_version", -1)) != fmt.FORMAT_VERSION:
            raise ValueError(f"format_version {f.attrs.get('format_version')!r} is not {fmt.FORMAT_VERSION}")
        cameras = tuple(_attr_json(f.attrs, "cameras", path))
        size = tuple(int(v) for v in _attr_json(f.attrs, "image_size", path))
        episodes = []
        group = f[fmt.EPISODES_GROUP]
        for name in sorted(group):
            ep = group[name]
            length = int(ep.attrs["length"])
            if length < 1:
                raise ValueError(f"episode {name} has length {length}")
            for key, shape in fmt.STEP_ARRAYS.items():
                if ep[key].shape != (length, *shape):
                    raise ValueError(f"episode {name}: {key} has shape {ep[key].shape}, expected {(length, *shape)}")
                if key != "contact" and not np.isfinite(ep[key][()]).all():
                    raise ValueError(f"episode {name}: {key} has NaN/Inf values")
            if (ep["action_std"][()] <= 0).any():
                raise ValueError(f"episode {name}: action_std has values <= 0")
            for cam in cameras:
                ds = ep[fmt.IMAGES_GROUP][cam]
                if ds.shape != (length, *size, 3) or ds.dtype != np.uint8:
                    raise ValueError(f"episode {name}: images/{cam} is {ds.dtype} {ds.shape}, expected uint8 "
                                     f"{(length, *size, 3)}")
            # read every frame once: a truncated file or a chunk failing its checksum shows here,
            # not in the middle of training
            for cam in cameras:
                ep[fmt.IMAGES_GROUP][cam][()]
            episodes.append(_EpisodeRef(-1, name, length))
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    return attrs, episodes, cameras, size


def check_shard(path) -> tuple[dict, list[_EpisodeRef], tuple[str, ...], tuple[int, int]]:
    """Validate one shard (root attributes, every episode's arrays and frames); ``ShardError`` names
    the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"{path}: no such shard")
    try:
        return _check_shard(path)
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError/KeyError/ValueError/... for broken files
        raise ShardError(f"{path}: not a usable expert shard ({describe(exc)})") from exc


def index_shards(paths, cameras=None, image_size=None) -> ShardIndex:
    """Index shard files (a directory, a file, or a list of them). ``cameras`` / ``image_size``
    (height, width): what the student expects; None accepts the dataset's."""
    files: list[Path] = []
    for p in [paths] if isinstance(paths, (str, Path)) else list(paths):
        p = Path(p)
        if p.is_dir():
            files += sorted(p.glob(fmt.SHARD_GLOB))
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"no shard file or directory {p}")
    index = ShardIndex()
    for path in files:
        try:
            attrs, episodes, cams, size = check_shard(path)
        except ShardError as exc:
            reason = describe(exc.__cause__) if exc.__cause__ is not None else str(exc)
            warnings.warn(f"skipping corrupted shard {path} ({reason})", ShardSkippedWarning, stacklevel=2)
            index.skipped.append((path, reason))
            continue
        if not index.cameras:
            index.cameras, index.image_size, index.attrs = cams, size, attrs
        elif cams != index.cameras or size != index.image_size:
            raise DatasetMismatchError(f"shard {path} has cameras {list(cams)} / image size {list(size)}, the "
                                       f"dataset's first shard {list(index.cameras)} / {list(index.image_size)}")
        shard_id = len(index.shards)
        index.shards.append(path)
        for ep in episodes:
            ep.shard = shard_id
            index.episodes.append(ep)
    if not index.episodes:
        first = f"; {index.skipped[0][0]}: {index.skipped[0][1]}" if index.skipped else ""
        raise ShardError(f"no readable episodes in {paths} ({len(index.skipped)} shard(s) skipped{first})")
    if cameras is not None and tuple(cameras) != index.cameras:
        missing = [c for c in cameras if c not in index.cameras]
        extra = [c for c in index.cameras if c not in cameras]
        detail = f"missing {missing}, extra {extra}" if missing or extra else "same names, different order"
        raise DatasetMismatchError(f"camera names differ: student expects {list(cameras)}, dataset has "
                                   f"{list(index.cameras)} ({detail})")
    if image_size is not None and tuple(int(v) for v in image_size) != index.image_size:
        raise DatasetMismatchError(f"image size differs: student expects [height, width] {list(image_size)}, "
                                   f"dataset has {list(index.image_size)}")
    return index


class ExpertDataset(torch.utils.data.Dataset):
    """Samples (images [C, S, 3, H, W] uint8, proprio [S*P], action mean [7], std [7], aux [18])."""

    def __init__(self, paths, cameras=None, image_size=None, frame_stack: int = 5):
        if frame_stack < 1:
            raise ValueError(f"frame_stack must be >= 1, got {frame_stack}")
        self.index = index_shards(paths, cameras, image_size)
        self.cameras = self.index.cameras
        self.image_size = self.index.image_size
        self.frame_stack = frame_stack
        lengths = np.array([ep.length for ep in self.index.episodes])
        self._starts = np.concatenate([[0], np.cumsum(lengths)])
        self._files: dict[int, h5py.File] = {}

    @property
    def skipped(self) -> int:
        return len(self.index.skipped)

    @property
    def num_episodes(self) -> int:
        return len(self.index.episodes)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _file(self, shard: int) -> h5py.File:
        f = self._files.get(shard)
        if f is None:
            f = self._files[shard] = h5py.File(self.index.shards[shard], "r")
        return f

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        e = int(np.searchsorted(self._starts, i, side="right") - 1)
        ep_ref = self.index.episodes[e]
        t = i - int(self._starts[e])
        # a shard changed or damaged since it was indexed: one ShardError naming it and the episode
        with reading(f"{self.index.shards[ep_ref.shard]} (episode {ep_ref.name}, step {t})",
                     "expert shard unreadable", ShardError):
            ep = self._file(ep_ref.shard)[fmt.EPISODES_GROUP][ep_ref.name]
            first = max(0, t - self.frame_stack + 1)
            # oldest first; indices before the episode start repeat frame 0
            rows = np.arange(t - self.frame_stack + 1, t + 1).clip(min=0) - first
            images = np.stack([ep[fmt.IMAGES_GROUP][c][first:t + 1][rows] for c in self.cameras])
            proprio = np.concatenate([ep[k][first:t + 1][rows] for k in fmt.PROPRIO_ARRAYS], axis=1)
            aux = np.concatenate([ep[k][t] for k in fmt.AUX_POSE_ARRAYS])
            return {
                "images": torch.from_numpy(np.ascontiguousarray(images.transpose(0, 1, 4, 2, 3))),
                "proprio": torch.from_numpy(proprio.astype(np.float32).reshape(-1)),
                "action_mean": torch.from_numpy(ep["action_mean"][t].astype(np.float32)),
                "action_std": torch.from_numpy(ep["action_std"][t].astype(np.float32)),
                "aux": torch.from_numpy(aux.astype(np.float32)),
            }

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __getstate__(self):  # DataLoader workers open their own handles
        state = self.__dict__.copy()
        state["_files"] = {}
        return state


def check_camera_config(cameras, image_size, config_path) -> None:
    """Refuse a dataset/student whose cameras or image size (height, width) differ from a camera
    configuration in the cameras.yaml format (``image_size: [width, height]`` and a ``cameras``
    mapping; omnireset_sim validates the poses in it, this only needs names and size)."""
    import yaml

    try:
        data = yaml.safe_load(Path(config_path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetMismatchError(f"camera config {config_path}: cannot be read ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), dict):
        raise DatasetMismatchError(f"camera config {config_path}: key 'cameras' (a mapping of camera names) missing")
    size = data.get("image_size", [224, 224])
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise DatasetMismatchError(f"camera config {config_path}: image_size must be [width, height], got {size!r}")
    names = set(data["cameras"])
    if set(cameras) != names:
        raise DatasetMismatchError(f"camera names differ: dataset/student {sorted(cameras)}, camera config "
                                   f"{config_path} {sorted(names)}")
    width, height = size
    if tuple(image_size) != (height, width):
        raise DatasetMismatchError(f"image size differs: dataset/student [height, width] {list(image_size)}, camera "
                                   f"config {config_path} {[height, width]}")
