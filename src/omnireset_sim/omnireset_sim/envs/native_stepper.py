"""Build (g++, on first use) and load (ctypes) the native control-step kernel, native/osc_stepper.cpp.

The shared library lands in a cache directory ($OMNIRESET_CACHE/native, default
~/.cache/omnireset/native) under a name keyed by a hash of the sources, the omnireset_control
headers, the MuJoCo version and the compiler command, so an edit of any of them rebuilds and an
unchanged setup loads the cached file without compiling. The build writes a temporary file and
renames it into place, so concurrent first uses (several processes) never load a half-written file.

Anything that makes the build impossible (no compiler, no headers) raises NativeStepperUnavailable
with the reason; the env then falls back to the torch law (EnvCfg.law_backend).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import torch

SOURCE = Path(__file__).resolve().parent / "native" / "osc_stepper.cpp"
ABI_VERSION = 4
# The compiler; tests point it at a missing binary to exercise the fallback.
COMPILER = os.environ.get("CXX", "g++")
CXXFLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-DNDEBUG")
EIGEN_INCLUDE_DIRS = ("/usr/include/eigen3", "/usr/local/include/eigen3")
CONTROL_HEADER = Path("omnireset_control") / "osc_law.hpp"


class NativeStepperUnavailable(RuntimeError):
    """The native kernel cannot be built or loaded here; the message says why."""


class ControlStepArgs(ctypes.Structure):
    """Mirror of ControlStepArgs in native/osc_stepper.cpp (same field order and types)."""

    _fields_ = [
        ("nworld", ctypes.c_int),
        ("nstep", ctypes.c_int),
        ("models", ctypes.POINTER(ctypes.c_void_p)),
        ("datas", ctypes.POINTER(ctypes.c_void_p)),
        ("nthread", ctypes.c_int),
        ("chunk", ctypes.c_int),
        ("state", ctypes.c_void_p),
        ("nstate", ctypes.c_int),
        ("state_spec", ctypes.c_int),
        ("control", ctypes.c_void_p),
        ("ncontrol", ctypes.c_int),
        ("control_spec", ctypes.c_int),
        ("arm_actuator", ctypes.c_void_p),
        ("arm_qpos", ctypes.c_void_p),
        ("arm_dof", ctypes.c_void_p),
        ("kinematics", ctypes.c_void_p),
        ("target_pos", ctypes.c_void_p),
        ("target_rot", ctypes.c_void_p),
        ("kp", ctypes.c_void_p),
        ("kd", ctypes.c_void_p),
        ("pos_clip", ctypes.c_double),
        ("rot_clip", ctypes.c_double),
        ("delay_buffer", ctypes.c_void_p),
        ("max_delay", ctypes.c_int),
        ("delay", ctypes.c_void_p),
        ("friction_static", ctypes.c_void_p),
        ("friction_ratio", ctypes.c_void_p),
        ("stiction_velocity", ctypes.c_double),
        ("stribeck_velocity", ctypes.c_double),
        ("nonfinite_count", ctypes.c_void_p),
        ("warmstart", ctypes.c_void_p),
        ("failed", ctypes.c_void_p),
    ]


def cache_dir() -> Path:
    root = os.environ.get("OMNIRESET_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "omnireset"
    return base / "native"


def mujoco_dir() -> Path:
    return Path(mujoco.__file__).resolve().parent


def _mujoco_library() -> Path:
    lib = mujoco_dir() / f"libmujoco.so.{mujoco.__version__}"
    if not lib.is_file():
        found = sorted(mujoco_dir().glob("libmujoco.so*"))
        if not found:
            raise NativeStepperUnavailable(f"no libmujoco.so* in {mujoco_dir()}")
        lib = found[-1]
    return lib


def control_include_dir() -> Path:
    """The directory holding omnireset_control/osc_law.hpp: $OMNIRESET_CONTROL_INCLUDE, then the
    installed omnireset_control (ament index), then the source tree next to this package."""
    candidates: list[tuple[str, Path]] = []
    env = os.environ.get("OMNIRESET_CONTROL_INCLUDE")
    if env:
        candidates.append(("$OMNIRESET_CONTROL_INCLUDE", Path(env)))
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            share = Path(get_package_share_directory("omnireset_control"))
            candidates.append(("ament index", share.parent.parent / "include" / "omnireset_control"))
        except (PackageNotFoundError, ValueError, LookupError):
            pass
    except ImportError:
        pass
    candidates.append(("source tree", Path(__file__).resolve().parents[3] / "omnireset_control" / "include"))
    for _, path in candidates:
        if (path / CONTROL_HEADER).is_file():
            return path
    tried = ", ".join(f"{name}: {path}" for name, path in candidates)
    raise NativeStepperUnavailable(f"omnireset_control headers ({CONTROL_HEADER}) not found; tried {tried}")


def _eigen_include_dir() -> Path:
    for d in EIGEN_INCLUDE_DIRS:
        if (Path(d) / "Eigen" / "Core").is_file():
            return Path(d)
    raise NativeStepperUnavailable(f"Eigen headers not found in {EIGEN_INCLUDE_DIRS} (apt: libeigen3-dev)")


def _build_command(compiler: str, output: Path) -> list[str]:
    lib = _mujoco_library()
    return [compiler, *CXXFLAGS, "-I", str(_eigen_include_dir()), "-I", str(control_include_dir()),
            "-I", str(mujoco_dir() / "include"), str(SOURCE), "-o", str(output), str(lib),
            f"-Wl,-rpath,{lib.parent}", "-pthread"]


def library_path(compiler: str | None = None) -> Path:
    """Where the library for the current sources/headers/MuJoCo/compiler lives in the cache."""
    compiler = compiler or COMPILER
    digest = hashlib.sha256()
    digest.update(SOURCE.read_bytes())
    for header in sorted((control_include_dir() / "omnireset_control").glob("*.hpp")):
        digest.update(header.name.encode())
        digest.update(header.read_bytes())
    digest.update(mujoco.__version__.encode())
    digest.update(" ".join(_build_command(compiler, Path("OUT"))).encode())
    return cache_dir() / f"osc_stepper_{digest.hexdigest()[:16]}.so"


@dataclass
class BuildInfo:
    path: Path
    compiled: bool  # False: loaded from the cache


def build(compiler: str | None = None) -> BuildInfo:
    """Compile into the cache unless the keyed file is there already."""
    compiler = compiler or COMPILER
    if not SOURCE.is_file():
        raise NativeStepperUnavailable(f"kernel source {SOURCE} is missing (package data not installed?)")
    target = library_path(compiler)
    if target.is_file():
        return BuildInfo(target, compiled=False)
    if shutil.which(compiler) is None:
        raise NativeStepperUnavailable(f"C++ compiler {compiler!r} not found on PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp.so", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        result = subprocess.run(_build_command(compiler, tmp), capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise NativeStepperUnavailable(f"compiling {SOURCE.name} failed:\n{result.stderr.strip()[-4000:]}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return BuildInfo(target, compiled=True)


_LOADED: dict[Path, ctypes.CDLL] = {}


def load(compiler: str | None = None) -> tuple[ctypes.CDLL, BuildInfo]:
    """The loaded kernel library (built if needed) and how it was obtained."""
    info = build(compiler)
    lib = _LOADED.get(info.path)
    if lib is None:
        try:
            lib = ctypes.CDLL(str(info.path))
        except OSError as exc:
            raise NativeStepperUnavailable(f"cannot load {info.path}: {exc}") from None
        lib.omnireset_osc_stepper_abi_version.restype = ctypes.c_int
        version = lib.omnireset_osc_stepper_abi_version()
        if version != ABI_VERSION:
            raise NativeStepperUnavailable(f"{info.path} has ABI {version}, expected {ABI_VERSION}")
        lib.omnireset_osc_control_step.argtypes = [ctypes.POINTER(ControlStepArgs)]
        lib.omnireset_osc_control_step.restype = ctypes.c_int
        lib.omnireset_tcp_kinematics.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p] * 4
        lib.omnireset_tcp_kinematics.restype = ctypes.c_int
        lib.omnireset_compose_target.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 6
        lib.omnireset_compose_target.restype = ctypes.c_int
        lib.omnireset_unit_quat_to_matrix.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        lib.omnireset_unit_quat_to_matrix.restype = ctypes.c_int
        _LOADED[info.path] = lib
    return lib, info


@dataclass
class ControlInputs:
    """Per-policy-step inputs of the native law for N envs (float64 / int64, CPU, contiguous).
    `delay_buffer` and `nonfinite_count` are updated in place (they are the env's own state)."""

    kinematics: np.ndarray  # [7, 6] UrKinematicsParams.as_array(): joint origins, then TCP offset
    target_pos: torch.Tensor  # [N, 3] held TCP target, base_link
    target_rot: torch.Tensor  # [N, 3, 3]
    kp: torch.Tensor  # [N, 6]
    kd: torch.Tensor  # [N, 6]
    pos_clip: float
    rot_clip: float
    delay_buffer: torch.Tensor  # [max_delay + 1, N, 6], newest first (mdp.actions.MotorDelay.buffer)
    delay: torch.Tensor  # [N] int64 physics steps
    nonfinite_count: torch.Tensor  # [N] int64 (BatchedOsc.nonfinite_count)
    friction_static: torch.Tensor | None = None  # [N, 6]; None: no dynamic-friction torque
    friction_ratio: torch.Tensor | None = None  # [N, 6]
    stiction_velocity: float = 0.0
    stribeck_velocity: float = 1.0


_TORCH_DTYPES = {np.float64: torch.float64, np.int64: torch.int64}


def _pointer(name: str, t, shape: tuple[int, ...], dtype) -> int:
    """Address of a CPU, contiguous array of exactly this shape and dtype (anything else would
    make the kernel read the wrong memory, so it is an error, not a silent copy)."""
    if isinstance(t, torch.Tensor):
        ok = t.is_cpu and t.dtype is _TORCH_DTYPES[dtype] and t.is_contiguous()
        addr = t.data_ptr()
    else:
        ok = isinstance(t, np.ndarray) and t.dtype == dtype and t.flags.c_contiguous
        addr = t.ctypes.data if ok else 0
    if not ok or tuple(t.shape) != shape:
        raise ValueError(f"{name} must be a contiguous CPU {np.dtype(dtype).name} array of shape {shape}, "
                         f"got {tuple(getattr(t, 'shape', ()))} {getattr(t, 'dtype', type(t).__name__)}")
    return addr


class NativeStepper:
    """The loaded kernel bound to one engine's worlds (see MujocoEngine.control_step). The argument
    block is kept between calls; only what can change per policy step is rewritten."""

    def __init__(self, compiler: str | None = None):
        self.lib, self.build_info = load(compiler)
        self._step = self.lib.omnireset_osc_control_step
        self._layout_key = None
        self._keep: dict = {}  # arrays the argument block points into
        self._args = ControlStepArgs()
        self._args_ref = ctypes.byref(self._args)
        self._n = 0
        self._nv = 0
        self.last_call_seconds = 0.0  # wall time of the last kernel call (the engine's physics_seconds)

    def _bind_layout(self, layout: dict) -> None:
        n = len(layout["models"])
        keep = {
            "models": (ctypes.c_void_p * n)(*[int(m._address) for m in layout["models"]]),
            "datas": (ctypes.c_void_p * len(layout["datas"]))(*[int(d._address) for d in layout["datas"]]),
            "arm_actuator": np.ascontiguousarray(layout["arm_actuator"], dtype=np.int32),
            "arm_qpos": np.ascontiguousarray(layout["arm_qpos"], dtype=np.int32),
            "arm_dof": np.ascontiguousarray(layout["arm_dof"], dtype=np.int32),
            "failed": np.zeros(n, dtype=np.int32),
            "state": layout["state"], "control": layout["control"],
        }
        for name in ("arm_actuator", "arm_qpos", "arm_dof"):
            if keep[name].shape != (6,):
                raise ValueError(f"{name} must hold 6 indices, got {keep[name].shape}")
        a = self._args
        a.nworld = n
        a.models = ctypes.cast(keep["models"], ctypes.POINTER(ctypes.c_void_p))
        a.datas = ctypes.cast(keep["datas"], ctypes.POINTER(ctypes.c_void_p))
        a.state = _pointer("state", layout["state"], (n, 1, layout["nstate"]), np.float64)
        a.nstate, a.state_spec = layout["nstate"], layout["state_spec"]
        a.control = _pointer("control", layout["control"], (n, 1, layout["ncontrol"]), np.float64)
        a.ncontrol, a.control_spec = layout["ncontrol"], layout["control_spec"]
        a.arm_actuator = keep["arm_actuator"].ctypes.data
        a.arm_qpos = keep["arm_qpos"].ctypes.data
        a.arm_dof = keep["arm_dof"].ctypes.data
        a.failed = keep["failed"].ctypes.data
        self._keep, self._n, self._nv = keep, n, layout["nv"]
        self._ndata = len(layout["datas"])

    def run(self, layout, key, inputs: ControlInputs, nstep: int, nthread: int,
            warmstart: np.ndarray | None = None) -> np.ndarray | None:
        """Advance all worlds `nstep` physics steps. `layout()` gives the engine's worlds (models,
        scratch datas, state and control arrays, arm indices); it is read again only when `key`
        changes (per-world model copies). `warmstart` [N, nv]: the solver warm start, carried in
        place from call to call; None: cold start at every physics step (bit-for-bit the torch
        path's rollout(nstep=1) stepping). Returns None, or [N] bool where MuJoCo raised."""
        if key != self._layout_key:
            self._bind_layout(layout())
            self._layout_key = key
        a, n = self._args, self._n
        nthread = max(1, min(int(nthread), self._ndata))
        a.nstep = int(nstep)
        a.nthread = nthread
        a.chunk = max(1, n // (nthread * 10))  # as rollout: ~10 work items per thread
        a.kinematics = _pointer("kinematics", inputs.kinematics, (7, 6), np.float64)
        a.target_pos = _pointer("target_pos", inputs.target_pos, (n, 3), np.float64)
        a.target_rot = _pointer("target_rot", inputs.target_rot, (n, 3, 3), np.float64)
        a.kp = _pointer("kp", inputs.kp, (n, 6), np.float64)
        a.kd = _pointer("kd", inputs.kd, (n, 6), np.float64)
        a.pos_clip, a.rot_clip = inputs.pos_clip, inputs.rot_clip
        max_delay = int(inputs.delay_buffer.shape[0]) - 1
        a.delay_buffer = _pointer("delay_buffer", inputs.delay_buffer, (max_delay + 1, n, 6), np.float64)
        a.max_delay = max_delay
        a.delay = _pointer("delay", inputs.delay, (n,), np.int64)
        if inputs.friction_static is not None:
            a.friction_static = _pointer("friction_static", inputs.friction_static, (n, 6), np.float64)
            a.friction_ratio = _pointer("friction_ratio", inputs.friction_ratio, (n, 6), np.float64)
        else:
            a.friction_static = a.friction_ratio = None
        a.stiction_velocity, a.stribeck_velocity = inputs.stiction_velocity, inputs.stribeck_velocity
        if not inputs.stribeck_velocity > 0:
            raise ValueError(f"stribeck_velocity must be > 0, got {inputs.stribeck_velocity}")
        a.nonfinite_count = _pointer("nonfinite_count", inputs.nonfinite_count, (n,), np.int64)
        a.warmstart = None if warmstart is None else _pointer("warmstart", warmstart, (n, self._nv), np.float64)
        start = time.perf_counter()
        rc = self._step(self._args_ref)
        self.last_call_seconds = time.perf_counter() - start
        if rc < 0:
            raise ValueError("native control step rejected its arguments")
        return self._keep["failed"].astype(bool) if rc > 0 else None


class NativeControlMath:
    """The C++ core's TCP kinematics and target composition for the native backend, so that one
    implementation (omnireset_control's headers) does all control math of a native env: the law
    inside the physics steps, the held target and the TCP pose its observations report."""

    def __init__(self, kinematics: np.ndarray):
        self.lib, _ = load()
        self.kinematics = np.ascontiguousarray(kinematics, dtype=np.float64)
        _pointer("kinematics", self.kinematics, (7, 6), np.float64)

    def tcp_kinematics(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(pos [N,3], rot [N,3,3], jac [N,6,6]) of q [N,6], like BatchedKinematics.forward_with_jacobian."""
        q = q.to(torch.float64).contiguous()
        n = q.shape[0]
        pos, rot, jac = torch.empty(n, 3, dtype=torch.float64), torch.empty(n, 3, 3, dtype=torch.float64), \
            torch.empty(n, 6, 6, dtype=torch.float64)
        rc = self.lib.omnireset_tcp_kinematics(self.kinematics.ctypes.data, n, _pointer("q", q, (n, 6), np.float64),
                                               pos.data_ptr(), rot.data_ptr(), jac.data_ptr())
        if rc != 0:
            raise ValueError("native TCP kinematics rejected its arguments")
        return pos, rot, jac

    def unit_quat_to_matrix(self, quat: torch.Tensor) -> torch.Tensor:
        """[N,4] (w,x,y,z) -> [N,3,3] after scaling to unit norm (norm clamped at 1e-9)."""
        quat = quat.to(torch.float64).contiguous()
        n = quat.shape[0]
        rot = torch.empty(n, 3, 3, dtype=torch.float64)
        self.lib.omnireset_unit_quat_to_matrix(n, _pointer("quat", quat, (n, 4), np.float64), rot.data_ptr())
        return rot

    def compose_target(self, ee_pos: torch.Tensor, ee_rot: torch.Tensor, action: torch.Tensor,
                       scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """omnireset_control.composition.compose_target for finite inputs (non-finite rows raise)."""
        n = ee_pos.shape[0]
        action = action.to(torch.float64).contiguous()
        scale = scale.to(torch.float64).contiguous()
        ee_pos, ee_rot = ee_pos.contiguous(), ee_rot.contiguous()
        target_pos, target_rot = torch.empty(n, 3, dtype=torch.float64), torch.empty(n, 3, 3, dtype=torch.float64)
        bad = self.lib.omnireset_compose_target(
            n, _pointer("ee_pos", ee_pos, (n, 3), np.float64), _pointer("ee_rot", ee_rot, (n, 3, 3), np.float64),
            _pointer("action", action, (n, 6), np.float64), _pointer("scale", scale, (6,), np.float64),
            target_pos.data_ptr(), target_rot.data_ptr())
        if bad:
            raise ValueError(f"non-finite action/scale/pose in {bad} row(s) of the target composition")
        return target_pos, target_rot
