"""Sysid settings from config/sysid.yaml (validated key by key; unknown keys are errors)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from omnireset_control.constants import PHYSICS_DT

from .chirp import ChirpConfig, SafeWorkspace
from .fit import FitConfig
from .params import PER_JOINT_FIELDS, SearchSpace, SysidParams
from .replay import SensorNoise
from .safety import SafetyConfig

DEFAULT_START_JOINTS = (0.0, -1.9, 1.9, -1.57, -1.57, 0.0)


@dataclass
class SysidConfig:
    robot: str = "ur7e"
    calibration: str | None = None
    physics_dt: float = PHYSICS_DT
    nthread: int = 2
    start_joints: tuple[float, ...] = DEFAULT_START_JOINTS
    chirp: ChirpConfig = field(default_factory=ChirpConfig)
    space: SearchSpace = field(default_factory=SearchSpace)
    cma: FitConfig = field(default_factory=FitConfig)
    true_parameters: SysidParams = field(default_factory=SysidParams)
    sensor_noise: SensorNoise = field(default_factory=SensorNoise)
    held_out_phase: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 0.5)
    safety: SafetyConfig = field(default_factory=SafetyConfig)


SAFETY_KEYS = {"velocity_fraction", "torque_fraction", "workspace", "max_tcp_excursion", "oscillation_window",
               "oscillation_reversals", "oscillation_deadband", "debounce_samples", "hold_time"}


def _safety(d, path) -> SafetyConfig:
    s = dict(_take(d, SAFETY_KEYS, f"{path}: safety"))
    if "workspace" in s:
        w = _take(s.pop("workspace"), {"low", "high", "min_radius"}, f"{path}: safety.workspace")
        try:
            s["workspace"] = SafeWorkspace(**{k: tuple(v) if isinstance(v, list) else v for k, v in w.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: safety.workspace: {exc}") from None
    try:
        return SafetyConfig(**s)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def default_config_path() -> Path:
    """config/sysid.yaml of this package: the source tree or the ament share."""
    here = Path(__file__).resolve().parents[2] / "config" / "sysid.yaml"
    if here.is_file():
        return here
    for root in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(root) / "share" / "omnireset_sim" / "config" / "sysid.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("config/sysid.yaml of omnireset_sim not found (source tree or ament share)")


def _take(d: dict, allowed: set[str], where: str) -> dict:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid: {sorted(allowed)}")
    return d


def _params(d: dict, where: str) -> SysidParams:
    _take(d, set(PER_JOINT_FIELDS) | {"delay"}, where)
    return SysidParams(**{k: tuple(v) for k, v in d.items() if k != "delay"}, delay=d.get("delay", 0))


def load_sysid_config(path: str | Path | None = None) -> SysidConfig:
    path = Path(path) if path is not None else default_config_path()
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read sysid config ({exc})") from exc
    top = {"robot", "calibration", "physics_dt", "nthread", "start_joints", "chirp", "search", "cma", "validation",
           "safety"}
    _take(doc, top, str(path))
    cfg = SysidConfig()
    for key in ("robot", "calibration", "physics_dt", "nthread"):
        if key in doc:
            setattr(cfg, key, doc[key])
    cfg.physics_dt = float(cfg.physics_dt)
    cfg.nthread = int(cfg.nthread)
    if "start_joints" in doc:
        sj = tuple(float(v) for v in doc["start_joints"])
        if len(sj) != 6:
            raise ValueError(f"{path}: start_joints needs 6 values, got {len(sj)}")
        cfg.start_joints = sj
    if "chirp" in doc:
        c = dict(_take(doc["chirp"], {"amplitude", "phase", "f0", "f1", "sweep_time", "ramp_time", "hold_time",
                                      "rate", "wrist_only", "workspace"}, f"{path}: chirp"))
        if "workspace" in c:
            w = _take(c.pop("workspace"), {"low", "high", "min_radius"}, f"{path}: chirp.workspace")
            c["workspace"] = SafeWorkspace(**{k: tuple(v) if isinstance(v, list) else v for k, v in w.items()})
        cfg.chirp = ChirpConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()})
    if "search" in doc:
        s = _take(doc["search"], {"joints", "groups", "bounds", "delay_bounds", "nominal"}, f"{path}: search")
        kwargs = {}
        if "joints" in s:
            kwargs["joints"] = tuple(int(j) for j in s["joints"])
        if "groups" in s:
            kwargs["groups"] = tuple(s["groups"])
        if "delay_bounds" in s:
            kwargs["delay_bounds"] = tuple(int(v) for v in s["delay_bounds"])
        if "nominal" in s:
            kwargs["nominal"] = _params(s["nominal"], f"{path}: search.nominal")
        if "bounds" in s:
            b = _take(s["bounds"], set(PER_JOINT_FIELDS), f"{path}: search.bounds")
            bounds = dict(SearchSpace().bounds)
            for name, lohi in b.items():
                _take(lohi, {"low", "high"}, f"{path}: search.bounds.{name}")
                bounds[name] = (tuple(lohi["low"]), tuple(lohi["high"]))
            kwargs["bounds"] = bounds
        cfg.space = SearchSpace(**kwargs)
    if "cma" in doc:
        c = _take(doc["cma"], {"max_iterations", "population", "sigma0", "seed", "x0", "window_time"},
                  f"{path}: cma")
        try:
            cfg.cma = FitConfig(**c)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: cma: {exc}") from None
    if "safety" in doc:
        cfg.safety = _safety(doc["safety"], path)
    if "validation" in doc:
        v = _take(doc["validation"], {"true_parameters", "sensor_noise", "held_out_phase"}, f"{path}: validation")
        if "true_parameters" in v:
            cfg.true_parameters = _params(v["true_parameters"], f"{path}: validation.true_parameters")
        if "sensor_noise" in v:
            cfg.sensor_noise = SensorNoise(**_take(v["sensor_noise"], {"q", "qd", "tau"}, f"{path}: sensor_noise"))
        if "held_out_phase" in v:
            cfg.held_out_phase = tuple(float(x) for x in v["held_out_phase"])
    return cfg


__all__ = ["DEFAULT_START_JOINTS", "SysidConfig", "default_config_path", "load_sysid_config"]
