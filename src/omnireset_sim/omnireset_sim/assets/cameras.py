"""Camera poses from a calibration YAML (config/cameras.yaml), validated key by key."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .mjcf import matrix_to_quat, sub

CAMERA_NAMES = ("front", "side", "wrist")
_TOP_KEYS = {"image_size", "cameras"}
_CAMERA_KEYS = {"parent", "pos", "lookat", "up", "fovy"}


class ConfigError(ValueError):
    """A configuration file is malformed; the message names the offending key."""


@dataclass(frozen=True)
class CameraSpec:
    name: str
    parent: str
    pos: tuple[float, float, float]
    lookat: tuple[float, float, float]
    up: tuple[float, float, float]
    fovy: float

    def quat(self) -> np.ndarray:
        """MuJoCo camera orientation: the camera looks along its -z with +y up in the image."""
        forward = np.asarray(self.lookat, dtype=np.float64) - np.asarray(self.pos, dtype=np.float64)
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, np.asarray(self.up, dtype=np.float64))
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        return matrix_to_quat(np.stack([right, up, -forward], axis=1))


@dataclass(frozen=True)
class CameraConfig:
    width: int
    height: int
    cameras: dict[str, CameraSpec]


def default_cameras_path() -> Path:
    """config/cameras.yaml of this package: the source tree (symlink/develop install) or the ament share."""
    here = Path(__file__).resolve().parents[2] / "config" / "cameras.yaml"
    if here.is_file():
        return here
    prefix = os.environ.get("AMENT_PREFIX_PATH", "")
    for root in prefix.split(os.pathsep):
        candidate = Path(root) / "share" / "omnireset_sim" / "config" / "cameras.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("config/cameras.yaml of omnireset_sim not found (source tree or ament share)")


def _vec3(value, key: str) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ConfigError(f"{key}: expected a list of 3 numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{key}: expected finite numbers, got {value!r}")
        out.append(float(v))
    return tuple(out)  # type: ignore[return-value]


def parse_cameras(data, source: str = "<cameras>") -> CameraConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping with keys {sorted(_TOP_KEYS)}")
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{source}: unknown key {key!r}; valid: {sorted(_TOP_KEYS)}")
    size = data.get("image_size", [224, 224])
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 4096 for v in size)):
        raise ConfigError(f"{source}: image_size: expected [width, height] integers in 16..4096, got {size!r}")
    cams = data.get("cameras")
    if not isinstance(cams, dict):
        raise ConfigError(f"{source}: cameras: expected a mapping of camera name -> pose")
    specs: dict[str, CameraSpec] = {}
    for name, cam in cams.items():
        prefix = f"{source}: cameras.{name}"
        if name not in CAMERA_NAMES:
            raise ConfigError(f"{prefix}: unknown camera; valid: {list(CAMERA_NAMES)}")
        if not isinstance(cam, dict):
            raise ConfigError(f"{prefix}: expected a mapping with keys {sorted(_CAMERA_KEYS)}")
        for key in cam:
            if key not in _CAMERA_KEYS:
                raise ConfigError(f"{prefix}.{key}: unknown key; valid: {sorted(_CAMERA_KEYS)}")
        for key in ("parent", "pos", "lookat", "fovy"):
            if key not in cam:
                raise ConfigError(f"{prefix}.{key}: missing")
        if not isinstance(cam["parent"], str) or not cam["parent"]:
            raise ConfigError(f"{prefix}.parent: expected a body name or 'world'")
        fovy = cam["fovy"]
        if isinstance(fovy, bool) or not isinstance(fovy, (int, float)) or not (1.0 <= fovy <= 170.0):
            raise ConfigError(f"{prefix}.fovy: expected degrees in 1..170, got {fovy!r}")
        pos = _vec3(cam["pos"], f"{prefix}.pos")
        lookat = _vec3(cam["lookat"], f"{prefix}.lookat")
        up = _vec3(cam.get("up", [0.0, 0.0, 1.0]), f"{prefix}.up")
        forward = np.subtract(lookat, pos)
        if np.linalg.norm(forward) < 1e-6:
            raise ConfigError(f"{prefix}.lookat: must differ from pos")
        if np.linalg.norm(np.cross(forward, up)) < 1e-6 * np.linalg.norm(forward) * max(np.linalg.norm(up), 1e-12):
            raise ConfigError(f"{prefix}.up: must not be parallel to the viewing direction")
        specs[name] = CameraSpec(name, cam["parent"], pos, lookat, up, float(fovy))
    missing = [n for n in CAMERA_NAMES if n not in specs]
    if missing:
        raise ConfigError(f"{source}: cameras: missing {missing}")
    return CameraConfig(int(size[0]), int(size[1]), specs)


def load_cameras(path: str | Path | None = None) -> CameraConfig:
    path = Path(path) if path is not None else default_cameras_path()
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    return parse_cameras(data, str(path))


def add_cameras(root: ET.Element, cfg: CameraConfig) -> None:
    """Add <camera> elements to the world body or to their parent bodies."""
    bodies = {b.get("name"): b for b in root.iter("body")}
    worldbody = root.find("worldbody")
    for spec in cfg.cameras.values():
        parent = worldbody if spec.parent == "world" else bodies.get(spec.parent)
        if parent is None:
            raise ConfigError(f"cameras.{spec.name}.parent: no body named {spec.parent!r}; valid: "
                              f"{['world'] + sorted(n for n in bodies if n)}")
        sub(parent, "camera", name=spec.name, pos=spec.pos, quat=spec.quat(), fovy=spec.fovy)
