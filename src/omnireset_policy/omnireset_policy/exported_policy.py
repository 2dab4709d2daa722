"""The exported-policy format: what training writes and what the policy node loads.

An exported policy is a directory::

    <name>/
      metadata.yaml     what the policy is and what it expects (see below)
      policy.pt         kind "state": TorchScript, forward(obs: Tensor[B, POLICY_OBS_DIM]) -> Tensor[B, 7]
      encoder.pt        kind "rgb":   TorchScript, forward(images: Tensor[B, 3, H, W]) -> Tensor[B, F]
      head.pt           kind "rgb":   TorchScript, forward(features: Tensor[B, C*S*F],
                                                           proprio: Tensor[B, S*P]) -> Tensor[B, 7]

Actions: ``action[:, :6]`` is the raw relative Cartesian delta (policy units, scaled by the
receiver with ``action.scale``), ``action[:, 6]`` the gripper (< 0 means close, observation_layout.gripper_closes). Observation
normalization lives inside the modules; they return the deterministic mean action.

For kind "rgb", images are RGB float32 in [0, 1], NCHW, of ``observation.cameras.image_size``
(height, width); any mean/std normalization happens inside the encoder and is recorded in
``observation.cameras.normalization``. ``features`` are the encoder outputs of every camera
(``observation.cameras.names`` order) and every frame of the stack (oldest first), camera-major:
``features.view(B, C, S, F)``. ``proprio`` stacks ``S`` frames (oldest first) of the
``observation.proprio_terms`` of the observation layout, in layout order.

metadata.yaml::

    format: omnireset-policy
    format_version: 1
    kind: state | rgb
    task, variant, robot: strings
    observation: observation_layout.layout_metadata()
                 (+ for rgb: cameras {names, image_size [H, W], normalization, frame_stack,
                    feature_dim}, proprio_terms [names])
    action: {dim: 7, scale: [6 floats], gripper: {close_when: negative}}
    control: {rate_hz: 10, gains: {kp: [6], zeta: [6]}}
    provenance: {git_revision, created_utc, torch_version, seed, made_by}

``save_exported_policy`` writes a directory atomically (temporary sibling, then rename);
``load_exported_policy`` validates everything and raises ``ExportedPolicyError`` naming the reason.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from omnireset_policy import observation_layout as layout
from omnireset_policy.artifact_errors import ArtifactError, load_yaml, reading, verify_zip

FORMAT_NAME = "omnireset-policy"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.yaml"
STATE_MODULE_FILE = "policy.pt"
ENCODER_MODULE_FILE = "encoder.pt"
HEAD_MODULE_FILE = "head.pt"
# Optional, kind "state": obs -> the expert's action std [B, 7] (its exploration distribution, which
# the student's KL loss needs; state-dependent for gSDE). The policy node never uses it.
ACTION_STD_MODULE_FILE = "action_std.pt"
KINDS = ("state", "rgb")
# metadata task of a task-agnostic policy (export_scripted's default): it fits every task.
ANY_TASK = "any"
# Gripper channel convention: close when the raw output is greater than this threshold.
# Layout terms an RGB student may take as proprioception (no object poses: it sees those in images).
PROPRIO_TERM_CHOICES = ("joint_pos", "ee_pose", "last_action")


class ExportedPolicyError(ArtifactError):
    """An exported policy is missing, malformed or inconsistent; the message says what and where."""


class PolicyMismatchError(ExportedPolicyError):
    """A valid policy made for another cell: task, robot, cameras, image size or control rate differ."""


@dataclass
class ExportedPolicy:
    """A loaded, validated policy. ``modules`` maps "policy" (state) or "encoder"/"head" (rgb)."""

    path: Path
    metadata: dict
    modules: dict[str, torch.jit.ScriptModule] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.metadata["kind"]

    @property
    def action_scale(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.metadata["action"]["scale"])

    @property
    def cameras(self) -> dict:
        return self.metadata["observation"].get("cameras", {})

    @property
    def proprio_terms(self) -> tuple[str, ...]:
        return tuple(self.metadata["observation"].get("proprio_terms", ()))


def git_revision(start: Path | None = None) -> str:
    """Current git revision of the source tree ("unknown" outside a checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=start or Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def make_metadata(*, kind: str, task: str, variant: str, robot: str, action_scale, gains_kp, gains_zeta,
                  seed: int | None, made_by: str, cameras: dict | None = None,
                  proprio_terms: tuple[str, ...] | None = None) -> dict:
    """Build a complete metadata dict (training code calls this, then ``save_exported_policy``)."""
    observation = layout.layout_metadata()
    if kind == "rgb":
        observation["cameras"] = dict(cameras or {})
        observation["proprio_terms"] = list(proprio_terms or ())
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "task": task,
        "variant": variant,
        "robot": robot,
        "observation": observation,
        "action": {
            "dim": layout.ACTION_DIM,
            "scale": [float(v) for v in action_scale],
            "gripper": {"close_when": layout.GRIPPER_CLOSE_WHEN},
        },
        "control": {"rate_hz": 10, "gains": {"kp": [float(v) for v in gains_kp],
                                              "zeta": [float(v) for v in gains_zeta]}},
        "provenance": {
            "git_revision": git_revision(),
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "torch_version": str(torch.__version__),
            "seed": seed,
            "made_by": made_by,
        },
    }


def _module_files(kind: str) -> dict[str, str]:
    return {"policy": STATE_MODULE_FILE} if kind == "state" else {"encoder": ENCODER_MODULE_FILE,
                                                                   "head": HEAD_MODULE_FILE}


def _optional_module_files(kind: str) -> dict[str, str]:
    return {"action_std": ACTION_STD_MODULE_FILE} if kind == "state" else {}


@contextlib.contextmanager
def quiet_torchscript():
    """TorchScript is the format of this contract; recent torch warns on every jit call that it is
    deprecated in favour of torch.export, which would drown real warnings in the node logs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*deprecated")
        yield


def _as_script(module) -> torch.jit.ScriptModule:
    if isinstance(module, torch.jit.ScriptModule):
        return module
    with quiet_torchscript():
        return torch.jit.script(module)


def save_exported_policy(modules, metadata: dict, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write an exported policy directory atomically and return its path.

    ``modules``: for kind "state" a torch module (or a dict {"policy": module}); for kind "rgb" a
    dict {"encoder": module, "head": module}. Modules that are not TorchScript yet are scripted.
    The written directory is loaded back and validated before it replaces ``out_dir``.
    """
    out_dir = Path(out_dir)
    _check_metadata(metadata, out_dir)
    kind = metadata["kind"]
    if not isinstance(modules, dict):
        modules = {"policy": modules}
    files = _module_files(kind)
    optional = _optional_module_files(kind)
    if not set(files) <= set(modules) or set(modules) - set(files) - set(optional):
        raise ExportedPolicyError(f"kind {kind!r} needs modules {sorted(files)} (optional: {sorted(optional)}), "
                                  f"got {sorted(modules)}")
    files = {**files, **{role: optional[role] for role in modules if role in optional}}
    if out_dir.exists() and not overwrite:
        raise ExportedPolicyError(f"{out_dir} exists (pass overwrite=True to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for role, filename in files.items():
            scripted = _as_script(modules[role])
            with quiet_torchscript():
                torch.jit.save(scripted, str(tmp / filename))
        (tmp / METADATA_FILE).write_text(yaml.safe_dump(metadata, sort_keys=False))
        load_exported_policy(tmp)  # never publish a policy the node would refuse
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old.{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _require(mapping: dict, key: str, where: str, path: Path):
    if not isinstance(mapping, dict) or key not in mapping:
        raise ExportedPolicyError(f"{path / METADATA_FILE}: missing {where}{key}")
    return mapping[key]


def _check_floats(values, n: int, what: str, path: Path) -> None:
    if not isinstance(values, (list, tuple)) or len(values) != n:
        raise ExportedPolicyError(f"{path / METADATA_FILE}: {what} must be a list of {n} numbers, got {values!r}")
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ExportedPolicyError(f"{path / METADATA_FILE}: {what} has a non-finite or non-number value {v!r}")


def _check_metadata(meta: Any, path: Path) -> None:
    if not isinstance(meta, dict):
        raise ExportedPolicyError(f"{path / METADATA_FILE}: not a mapping")
    fmt = _require(meta, "format", "", path)
    if fmt != FORMAT_NAME:
        raise ExportedPolicyError(f"{path / METADATA_FILE}: format is {fmt!r}, expected {FORMAT_NAME!r}")
    version = _require(meta, "format_version", "", path)
    if version != FORMAT_VERSION:
        raise ExportedPolicyError(
            f"{path / METADATA_FILE}: format_version {version!r} is not supported (this loader reads {FORMAT_VERSION})")
    kind = _require(meta, "kind", "", path)
    if kind not in KINDS:
        raise ExportedPolicyError(f"{path / METADATA_FILE}: kind {kind!r} is not one of {KINDS}")
    for key in ("task", "variant", "robot", "provenance", "control"):
        _require(meta, key, "", path)
    observation = _require(meta, "observation", "", path)
    try:
        layout.check_layout(observation)
    except (ValueError, AttributeError, TypeError) as exc:
        raise ExportedPolicyError(f"{path / METADATA_FILE}: {exc}") from None
    action = _require(meta, "action", "", path)
    dim = _require(action, "dim", "action.", path)
    if dim != layout.ACTION_DIM:
        raise ExportedPolicyError(f"{path / METADATA_FILE}: action.dim is {dim!r}, expected {layout.ACTION_DIM}")
    _check_floats(_require(action, "scale", "action.", path), 6, "action.scale", path)
    rate = _require(meta["control"], "rate_hz", "control.", path)
    if not isinstance(rate, (int, float)) or not rate > 0:
        raise ExportedPolicyError(f"{path / METADATA_FILE}: control.rate_hz must be > 0, got {rate!r}")
    if kind == "rgb":
        cams = _require(observation, "cameras", "observation.", path)
        names = _require(cams, "names", "observation.cameras.", path)
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names) \
                or len(set(names)) != len(names):
            raise ExportedPolicyError(f"{path / METADATA_FILE}: observation.cameras.names must be unique non-empty "
                                      f"strings, got {names!r}")
        size = _require(cams, "image_size", "observation.cameras.", path)
        if not isinstance(size, list) or len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ExportedPolicyError(f"{path / METADATA_FILE}: observation.cameras.image_size must be [height, width], "
                                      f"got {size!r}")
        for key in ("frame_stack", "feature_dim"):
            value = _require(cams, key, "observation.cameras.", path)
            if not isinstance(value, int) or value < 1:
                raise ExportedPolicyError(f"{path / METADATA_FILE}: observation.cameras.{key} must be a positive "
                                          f"integer, got {value!r}")
        _require(cams, "normalization", "observation.cameras.", path)
        fovy = cams.get("fovy_deg")  # optional: the trained cameras' vertical field of view (image_fit.py)
        if fovy is not None and (not isinstance(fovy, dict) or set(fovy) != set(names) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v < 180.0 for v in fovy.values())):
            raise ExportedPolicyError(f"{path / METADATA_FILE}: observation.cameras.fovy_deg must map each of "
                                      f"{names} to degrees in (0, 180), got {fovy!r}")
        terms = _require(observation, "proprio_terms", "observation.", path)
        if not isinstance(terms, list) or any(t not in PROPRIO_TERM_CHOICES for t in terms):
            raise ExportedPolicyError(f"{path / METADATA_FILE}: observation.proprio_terms {terms!r} must be a subset "
                                      f"of {PROPRIO_TERM_CHOICES}")


def proprio_dim(terms) -> int:
    dims = dict(layout.POLICY_TERMS)
    return sum(dims[t] for t in terms)


def probe_frame(dtype=torch.float32) -> torch.Tensor:
    """A plausible single observation frame [1, FRAME_DIM] (valid rotations) for load-time checks."""
    eye = torch.eye(3, dtype=torch.float64).unsqueeze(0)
    frame = layout.policy_frame(
        torch.tensor([[0.0, -1.57, 1.57, -1.57, -1.57, 0.0]], dtype=torch.float64),
        torch.tensor([[0.5, 0.0, 0.3]], dtype=torch.float64), eye,
        torch.tensor([[0.5, 0.1, 0.05]], dtype=torch.float64), eye,
        torch.tensor([[0.4, -0.1, 0.0]], dtype=torch.float64), eye,
        torch.zeros(1, layout.ACTION_DIM, dtype=torch.float64))
    return frame.to(dtype)


def _check_output(out, path: Path, what: str) -> None:
    if not isinstance(out, torch.Tensor) or out.shape != (1, layout.ACTION_DIM):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ExportedPolicyError(f"{path}: {what} returned {shape} on the probe input, expected (1, {layout.ACTION_DIM})")
    if not torch.isfinite(out).all():
        raise ExportedPolicyError(f"{path}: {what} returned NaN/Inf on the probe input")


def load_exported_policy(path: str | Path) -> ExportedPolicy:
    """Load and validate an exported policy directory; raise ``ExportedPolicyError`` with the reason."""
    path = Path(path)
    if not path.is_dir():
        raise ExportedPolicyError(f"exported policy {path} does not exist or is not a directory")
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise ExportedPolicyError(f"{meta_path} is missing")
    meta = load_yaml(meta_path, "not valid YAML", ExportedPolicyError)
    _check_metadata(meta, path)
    modules = {}
    wanted = dict(_module_files(meta["kind"]))
    wanted.update({role: f for role, f in _optional_module_files(meta["kind"]).items() if (path / f).is_file()})
    for role, filename in wanted.items():
        file = path / filename
        if not file.is_file():
            raise ExportedPolicyError(f"{file} is missing (kind {meta['kind']!r} needs it)")
        # torch reads a TorchScript archive without checking its CRCs: check them first, so a flipped
        # byte in a weight is refused instead of running as a different policy.
        verify_zip(file, "not a loadable TorchScript module", ExportedPolicyError)
        with reading(file, "not a loadable TorchScript module", ExportedPolicyError), quiet_torchscript():
            module = torch.jit.load(str(file), map_location="cpu")
        module.eval()
        modules[role] = module
    policy = ExportedPolicy(path=path, metadata=meta, modules=modules)
    _probe(policy)
    return policy


def policy_mismatches(policy: ExportedPolicy, *, task: str | None = None, robot: str | None = None,
                      rate_hz: float | None = None, cameras=None, image_size=None, camera_names=None,
                      where: str = "this cell") -> list[str]:
    """What keeps ``policy`` from running where it is asked to, one phrase per difference (empty:
    it matches). ``None`` leaves a property unchecked; a policy whose task is ``ANY_TASK`` ("any",
    e.g. the scripted stand-in) runs in every task. ``cameras``: the camera names the cell
    publishes (an empty list: none); ``camera_names``: the names the policy's cameras are read
    under there (default: the policy's own); ``image_size``: (height, width) the cell renders."""
    meta = policy.metadata
    diffs = []
    if task is not None and meta.get("task") not in (task, ANY_TASK):
        diffs.append(f"made for task {meta.get('task')!r}, {where} runs {task!r}")
    if robot is not None and meta.get("robot") != robot:
        diffs.append(f"made for robot {meta.get('robot')!r}, {where} has a {robot!r}")
    rate = meta["control"]["rate_hz"]
    if rate_hz is not None and abs(float(rate) - float(rate_hz)) > 1e-6 * float(rate_hz):
        diffs.append(f"made for {rate:g} Hz (control.rate_hz), {where} steps it at {float(rate_hz):g} Hz")
    if policy.kind == "rgb":
        needed = list(camera_names) if camera_names is not None else list(policy.cameras["names"])
        if cameras is not None:
            have = [c for c in cameras if c]
            missing = [c for c in needed if c not in have]
            if missing:
                diffs.append(f"needs camera(s) {missing}, {where} publishes {have if have else 'no cameras'}")
        if image_size is not None and tuple(int(v) for v in image_size) != tuple(policy.cameras["image_size"]):
            h, w = policy.cameras["image_size"]
            diffs.append(f"expects {h}x{w} images, {where} renders {int(image_size[0])}x{int(image_size[1])}")
    return diffs


def check_policy_matches(policy: ExportedPolicy, where: str = "this cell", **expect) -> None:
    """Raise ``PolicyMismatchError`` (one line naming every difference) unless ``policy`` matches
    ``expect`` (the keywords of ``policy_mismatches``)."""
    diffs = policy_mismatches(policy, where=where, **expect)
    if diffs:
        raise PolicyMismatchError(f"{policy.path}: the policy does not fit {where}: " + "; ".join(diffs))


def _probe(policy: ExportedPolicy) -> None:
    frame = probe_frame()
    with torch.inference_mode():
        try:
            if policy.kind == "state":
                obs = frame.repeat(1, layout.HISTORY_LENGTH)
                out = policy.modules["policy"](obs)
                _check_output(out, policy.path / STATE_MODULE_FILE, "policy")
                if "action_std" in policy.modules:
                    std = policy.modules["action_std"](obs)
                    if not isinstance(std, torch.Tensor) or std.shape != (1, layout.ACTION_DIM) \
                            or not bool(torch.isfinite(std).all()) or not bool((std > 0).all()):
                        raise ExportedPolicyError(f"{policy.path / ACTION_STD_MODULE_FILE}: must return a finite "
                                                  f"positive std [1, {layout.ACTION_DIM}] on the probe observation")
                return
            cams = policy.cameras
            height, width = cams["image_size"]
            images = torch.full((1, 3, height, width), 0.5)
            feat = policy.modules["encoder"](images)
            if not isinstance(feat, torch.Tensor) or feat.shape != (1, cams["feature_dim"]):
                shape = tuple(feat.shape) if isinstance(feat, torch.Tensor) else type(feat).__name__
                raise ExportedPolicyError(f"{policy.path / ENCODER_MODULE_FILE}: returned {shape} for one image, "
                                          f"metadata says feature_dim {cams['feature_dim']}")
            if not torch.isfinite(feat).all():
                raise ExportedPolicyError(f"{policy.path / ENCODER_MODULE_FILE}: NaN/Inf features on the probe image")
            stack = cams["frame_stack"]
            features = feat.repeat(1, len(cams["names"]) * stack)
            proprio = torch.zeros(1, stack * proprio_dim(policy.proprio_terms))
            out = policy.modules["head"](features, proprio)
            _check_output(out, policy.path / HEAD_MODULE_FILE, "head")
        except ExportedPolicyError:
            raise
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportedPolicyError(f"{policy.path}: the module failed on the probe input ({first_line})") from None
