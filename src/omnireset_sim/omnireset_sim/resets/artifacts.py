"""On-disk artifacts of reset generation: self-describing .npz files, written atomically, checked on load.

Every artifact (grasp set, partial assemblies, reset dataset, and the chunks of a resumable run)
is one .npz holding plain numeric arrays plus a JSON metadata string (`__meta__`): what it is
(`format`, `format_version`), what made it (task, robot, seeds, code revision, engine, created)
and a SHA-256 over the arrays. Nothing is pickled (np.load(allow_pickle=False)), a truncated or
edited file fails the checksum, and a file of another kind, task, robot or version is refused
with the reason -- never silently used.

Atomic: the bytes go to a temporary file in the destination folder, are fsynced, then renamed
over the destination (os.replace), so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from omnireset_policy.artifact_errors import ArtifactError, reading

META_KEY = "__meta__"
TMP_MARK = ".tmp-"


# ArtifactError (imported above) is the one error of every artifact loader of the project: one line
# naming the file; the CLIs exit 2 on it.


def code_revision() -> str:
    """git HEAD of the checkout this code runs from ('+dirty' with local changes), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "."],
                               capture_output=True, text=True, timeout=20, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def engine_description() -> str:
    import mujoco

    return f"mujoco {mujoco.__version__}"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def arrays_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _check_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in arrays.items():
        if name == META_KEY:
            raise ValueError(f"array name {META_KEY!r} is reserved")
        a = np.asarray(value)
        if a.dtype == object:
            raise ValueError(f"array {name!r} has dtype object; only numeric/bool arrays are stored")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"array {name!r} holds NaN/Inf; refusing to write it")
        out[name] = a
    return out


def write_artifact(path: str | Path, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Write arrays + metadata atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _check_arrays(arrays)
    meta = dict(meta)
    meta["checksum"] = arrays_checksum(arrays)
    meta_text = json.dumps(meta, sort_keys=True, allow_nan=False)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays, **{META_KEY: np.array(meta_text)})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_artifact(path: str | Path, kind: str, version: int,
                  expect: Mapping[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load and check an artifact: readable, of `kind` and `version`, checksum intact, and every
    (key, value) of `expect` equal in its metadata. Raises ArtifactError with the reason."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    # zlib.error, BadZipFile (CRC), EOFError, pickled or foreign members...: all one ArtifactError
    with reading(path, "not a readable .npz artifact (corrupted or truncated?)"):
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    if META_KEY not in arrays:
        raise ArtifactError(f"{path}: no metadata ({META_KEY}); not an OmniReset artifact")
    with reading(path, "metadata is not valid JSON"):
        meta = json.loads(str(arrays.pop(META_KEY)))
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path}: metadata is not a JSON object; not an OmniReset artifact")
    if meta.get("format") != kind:
        raise ArtifactError(f"{path}: is a {meta.get('format')!r} file, expected {kind!r}")
    if meta.get("format_version") != version:
        raise ArtifactError(f"{path}: format version {meta.get('format_version')!r} is not supported "
                            f"(this code reads version {version}); regenerate it")
    if meta.get("checksum") != arrays_checksum(arrays):
        raise ArtifactError(f"{path}: checksum mismatch: the arrays were corrupted or edited after writing")
    for key, want in (expect or {}).items():
        if want is not None and meta.get(key) != want:
            raise ArtifactError(f"{path}: made for {key}={meta.get(key)!r}, but {key}={want!r} was asked for")
    return arrays, meta


def base_meta(kind: str, version: int, **fields) -> dict[str, Any]:
    return {"format": kind, "format_version": version, "code_revision": code_revision(),
            "engine": engine_description(), "created": now_iso(), **fields}


class ChunkedRun:
    """Resumable generation in chunks: each finished chunk is its own atomic artifact in
    `<out>.parts/`, so an interrupted run leaves only whole chunks and a rerun skips them.

    `settings` (JSON-able) is stored in every chunk; a parts folder made with other settings is
    refused rather than mixed in.
    """

    KIND = "omnireset.chunk"
    VERSION = 1

    def __init__(self, out: str | Path, settings: Mapping[str, Any]):
        self.out = Path(out)
        self.parts = self.out.with_name(self.out.name + ".parts")
        self.settings = json.loads(json.dumps(dict(settings), sort_keys=True))
        self.generated: list[str] = []  # chunk keys made by this process (the rest were resumed)

    def chunk_path(self, key: str) -> Path:
        return self.parts / f"{key}.npz"

    def load_done(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.chunk_path(key)
        if not path.exists():
            return None
        arrays, meta = read_artifact(path, self.KIND, self.VERSION)
        if meta.get("settings") != self.settings:
            raise ArtifactError(f"{self.parts}: chunks were made with other settings {meta.get('settings')} "
                                f"(now {self.settings}); delete the folder or rerun with the same settings")
        return arrays

    def run(self, keys: Iterable[str], make: Callable[[str], dict[str, np.ndarray]],
            on_chunk: Callable[[str, dict[str, np.ndarray], bool], None] | None = None) -> dict[str, dict]:
        """Return {key: arrays} for every key, generating (and saving) the missing chunks."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for key in keys:
            arrays = self.load_done(key)
            resumed = arrays is not None
            if arrays is None:
                arrays = make(key)
                write_artifact(self.chunk_path(key), arrays,
                               base_meta(self.KIND, self.VERSION, settings=self.settings, key=key))
                self.generated.append(key)
            out[key] = arrays
            if on_chunk is not None:
                on_chunk(key, arrays, resumed)
        return out

    def cleanup(self) -> None:
        if self.parts.is_dir():
            shutil.rmtree(self.parts)
