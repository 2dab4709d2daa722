"""Every artifact loader answers a corrupt, truncated or foreign file with one ArtifactError: one
line naming the file and the problem (never a zlib.error, a pickle error, a torch RuntimeError...),
and the command-line tools that load them exit 2 with that line, never a traceback.

One table: each kind of artifact is written small and valid, loaded once (the loader accepts it),
then damaged four ways -- 16 bytes flipped at the start and in the middle of its payload, cut to
half its length, replaced by a valid file of the next kind in the table -- and loaded again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from omnireset_policy.artifact_errors import ArtifactError

REPO = Path(__file__).resolve().parents[3]
TASK = "peg_insertion"


# ---- valid artifacts, small ------------------------------------------------------------------------
def _reset_dataset(root: Path) -> Path:
    from omnireset_sim.resets.artifacts import base_meta, write_artifact
    from omnireset_sim.resets.dataset import DATASET_FORMAT, DATASET_FORMAT_VERSION, STATE_ARRAYS
    from omnireset_sim.resets.states import RESET_TYPES

    rng = np.random.default_rng(0)
    n = 64
    arrays = {name: rng.normal(size=(n, *tail)) for name, tail in STATE_ARRAYS.items()}
    arrays["reset_type"] = np.arange(n) % len(RESET_TYPES)
    counts = {name: int((arrays["reset_type"] == i).sum()) for i, name in enumerate(RESET_TYPES)}
    meta = base_meta(DATASET_FORMAT, DATASET_FORMAT_VERSION, task=TASK, variant="easy", robot="ur7e",
                     reset_type_names=list(RESET_TYPES), counts=counts)
    return write_artifact(root / "dataset.npz", arrays, meta)


def _grasps(root: Path) -> Path:
    from omnireset_sim.resets.artifacts import base_meta, write_artifact
    from omnireset_sim.resets.grasps import GRASP_FORMAT, GRASP_FORMAT_VERSION

    rng = np.random.default_rng(1)
    n = 200
    quat = rng.normal(size=(n, 4))
    arrays = {"tcp_pos": rng.normal(size=(n, 3)) * 0.01, "tcp_quat": quat / np.linalg.norm(quat, axis=1, keepdims=True),
              "opening": np.full(n, 0.01), "width": np.full(n, 0.02)}
    return write_artifact(root / "grasps.npz", arrays, base_meta(GRASP_FORMAT, GRASP_FORMAT_VERSION, task=TASK))


def _partial_assemblies(root: Path) -> Path:
    from omnireset_sim.resets.artifacts import base_meta, write_artifact
    from omnireset_sim.resets.partial_assemblies import ASSEMBLY_FORMAT, ASSEMBLY_FORMAT_VERSION

    rng = np.random.default_rng(2)
    n = 200
    quat = rng.normal(size=(n, 4))
    arrays = {"rel_pos": rng.normal(size=(n, 3)) * 0.01, "rel_quat": quat / np.linalg.norm(quat, axis=1, keepdims=True)}
    return write_artifact(root / "partial_assemblies.npz", arrays,
                          base_meta(ASSEMBLY_FORMAT, ASSEMBLY_FORMAT_VERSION, task=TASK))


def _checkpoint(root: Path) -> Path:
    from omnireset_sim.rl.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, atomic_torch_save

    torch.manual_seed(0)
    data = {"actor_state_dict": {"weight": torch.randn(64, 64), "bias": torch.randn(64)},
            "iter": 3, "infos": {"omnireset": {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                                               "task": TASK}}}
    return atomic_torch_save(data, root / "model_3.pt")


def _exported_policy(root: Path) -> Path:
    from omnireset_policy.export_scripted import export_scripted

    return export_scripted(root / "policy", task=TASK)


def _recording(root: Path) -> Path:
    from omnireset_sim.sysid.recording import Recording

    n, rate = 400, 500.0
    t = np.arange(n) / rate
    q = np.sin(t[:, None] * np.arange(1, 7))
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    rec = Recording(t=t, q=q, qd=np.cos(t[:, None] * np.arange(1, 7)), tau=q * 3.0,
                    target_pos=np.tile([0.5, 0.0, 0.3], (n, 1)), target_quat=quat, rate=rate,
                    metadata={"source": "test"})
    path = root / "recording.npz"
    rec.save(path)
    return path


def _sysid_result(root: Path) -> Path:
    from omnireset_sim.sysid.params import SysidParams, save_sysid_yaml

    path = root / "sysid_params.yaml"
    save_sysid_yaml(path, SysidParams(delay=1), 1.0 / 120.0, report={"loss": 0.5}, provenance={"tool": "test"})
    return path


def _shard(root: Path) -> Path:
    from omnireset_policy.student import shard_format as fmt
    from omnireset_sim.collect.shards import Episode, ShardWriter

    rng = np.random.default_rng(3)
    length = 4
    arrays = {name: rng.uniform(0.1, 1.0, size=(length, *shape)).astype(np.float32)
              for name, shape in fmt.STEP_ARRAYS.items()}
    arrays["contact"] = np.zeros(length, dtype=bool)
    images = {"front": rng.integers(0, 255, size=(length, 16, 16, 3), dtype=np.uint8)}
    writer = ShardWriter(root / "shards", attrs={"cameras": ["front"], "image_size": [16, 16],
                                                  "proprio_terms": list(fmt.PROPRIO_ARRAYS), "task": TASK},
                         cameras=("front",), episodes_per_shard=1)
    writer.add(Episode(images=images, arrays=arrays, success=True, reset_type=0, reset_type_name="reaching"))
    return next((root / "shards").glob(fmt.SHARD_GLOB))


# ---- loaders (what the tools call) -----------------------------------------------------------------
def _load_dataset(path):
    from omnireset_sim.resets.dataset import load_reset_dataset

    load_reset_dataset(path, task=TASK)


def _load_grasps(path):
    from omnireset_sim.resets.grasps import load_grasps

    load_grasps(path, TASK)


def _load_partial_assemblies(path):
    from omnireset_sim.resets.partial_assemblies import load_partial_assemblies

    load_partial_assemblies(path, TASK)


def _load_checkpoint(path):
    from omnireset_sim.rl.checkpoint import read_checkpoint

    read_checkpoint(path)


def _load_policy(path):
    from omnireset_policy.exported_policy import load_exported_policy

    load_exported_policy(Path(path).parent)  # the directory of the damaged file


def _load_recording(path):
    from omnireset_sim.sysid.recording import load_recording

    load_recording(path)


def _load_sysid_result(path):
    from omnireset_sim.sysid.params import load_sysid_yaml

    load_sysid_yaml(path)


def _load_shard(path):
    from omnireset_policy.student.dataset import check_shard

    check_shard(path)


@dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[[Path], Path]  # -> the file a user keeps (for a directory artifact: one of its files)
    load: Callable[[Path], None]
    container: str  # "zip" (np.savez, torch.save, torch.jit.save), "hdf5", "text"
    target: Callable[[Path], Path] = lambda made: made  # the file that is damaged


KINDS = [
    Kind("reset dataset", _reset_dataset, _load_dataset, "zip"),
    Kind("grasp set", _grasps, _load_grasps, "zip"),
    Kind("partial assemblies", _partial_assemblies, _load_partial_assemblies, "zip"),
    Kind("rl checkpoint", _checkpoint, _load_checkpoint, "zip"),
    Kind("exported policy module", _exported_policy, _load_policy, "zip", lambda d: d / "policy.pt"),
    Kind("exported policy metadata", _exported_policy, _load_policy, "text", lambda d: d / "metadata.yaml"),
    Kind("sysid recording", _recording, _load_recording, "zip"),
    Kind("sysid result", _sysid_result, _load_sysid_result, "text"),
    Kind("expert shard", _shard, _load_shard, "hdf5"),
]


def payload(path: Path, container: str) -> tuple[int, int]:
    """(offset, size) of the data the loader decodes, not padding a reader skips: the largest zip
    member's stored bytes, the largest HDF5 chunk, or the whole of a text file."""
    if container == "zip":
        with zipfile.ZipFile(path) as archive:
            info = max(archive.infolist(), key=lambda i: i.compress_size)
        with open(path, "rb") as f:
            f.seek(info.header_offset + 26)
            name_len, extra_len = np.frombuffer(f.read(4), dtype="<u2")
        return info.header_offset + 30 + int(name_len) + int(extra_len), info.compress_size
    if container == "hdf5":
        import h5py

        chunks = []
        with h5py.File(path, "r") as f:
            def visit(_, obj):
                if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
                    info = obj.id.get_chunk_info(0)
                    chunks.append((info.size, info.byte_offset))
            f.visititems(visit)
        size, offset = max(chunks)
        return offset, size
    return 0, path.stat().st_size


def _flipper(where: str):
    """Damage: 16 bytes inverted at the start of the payload (for a deflated member: its block
    header, which np.load answers with a raw zlib.error) or in its middle (a CRC / checksum)."""
    def flip(path: Path, container: str) -> None:
        data = bytearray(path.read_bytes())
        offset, size = payload(path, container)
        at = min(offset + (size // 2 if where == "middle" else 0), len(data) - 16)
        data[at:at + 16] = bytes(b ^ 0xFF for b in data[at:at + 16])
        path.write_bytes(bytes(data))
    return flip


DAMAGE = {"bytes flipped at the payload start": _flipper("start"), "bytes flipped mid-payload": _flipper("middle"),
          "truncated": lambda path, container: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])}


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """One valid file of each kind (loaded once: the loaders accept what their writers wrote)."""
    root = tmp_path_factory.mktemp("artifacts")
    made = {}
    for kind in KINDS:
        out = root / kind.name.replace(" ", "_")
        out.mkdir()
        made[kind.name] = kind.target(kind.make(out))
        kind.load(made[kind.name])
    return made


@pytest.mark.parametrize("damage", [*DAMAGE, "another kind"])
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_damaged_artifact_is_refused_with_one_line_naming_the_file(kind, damage, originals, tmp_path):
    original = originals[kind.name]
    # a private copy of the artifact (the whole directory of a directory artifact)
    copy_root = tmp_path / "copy"
    shutil.copytree(original.parent, copy_root)
    target = copy_root / original.name
    if damage in DAMAGE:
        DAMAGE[damage](target, kind.container)
    else:  # a valid file of the next kind, under this kind's name
        other = originals[KINDS[(KINDS.index(kind) + 1) % len(KINDS)].name]
        shutil.copyfile(other, target)
    with pytest.raises(ArtifactError) as caught:
        kind.load(target)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 600, message
    assert str(target) in message, f"the message does not name {target}: {message}"


def test_loader_errors_are_one_type_across_packages():
    """The per-loader errors are all the shared ArtifactError (a CLI catches one type)."""
    from omnireset_policy.exported_policy import ExportedPolicyError, PolicyMismatchError
    from omnireset_policy.student.dataset import DatasetMismatchError, ShardError
    from omnireset_sim.resets.artifacts import ArtifactError as ResetsArtifactError
    from omnireset_sim.rl.checkpoint import CheckpointError
    from omnireset_sim.sysid.recording import RecordingError

    assert ResetsArtifactError is ArtifactError
    for error in (ExportedPolicyError, PolicyMismatchError, DatasetMismatchError, ShardError, CheckpointError,
                  RecordingError):
        assert issubclass(error, ArtifactError), error


# ---- the command-line tools: exit 2, one line, no traceback ------------------------------------------
def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def _damaged(originals, kind_name: str, tmp_path: Path, damage=_flipper("start")) -> Path:
    kind = next(k for k in KINDS if k.name == kind_name)
    original = originals[kind_name]
    copy_root = tmp_path / "damaged"
    shutil.copytree(original.parent, copy_root)
    target = copy_root / original.name
    damage(target, kind.container)
    return target


@pytest.mark.parametrize("kind_name, command", [
    # the case: a reset dataset with flipped bytes used to die with a raw zlib.error
    ("reset dataset", lambda p: ["omnireset_sim.collect.evaluate_student", "--policy",
                                 str(REPO / "src/omnireset_bringup/policies/demo"), "--reset-dataset", str(p),
                                 "--episodes", "1", "--num-envs", "1"]),
    ("rl checkpoint", lambda p: ["omnireset_sim.rl.export", str(p), "--out", str(p.parent / "exported")]),
    ("sysid recording", lambda p: ["omnireset_sim.sysid", "fit", str(p), "--out-dir", str(p.parent / "fit")]),
    ("expert shard", lambda p: ["omnireset_policy.student.distill", "--data", str(p), "--run", str(p.parent / "run"),
                                "--steps", "1"]),
])
def test_cli_exits_2_with_the_reason_and_no_traceback(kind_name, command, originals, tmp_path):
    target = _damaged(originals, kind_name, tmp_path)
    out = _run(command(target), tmp_path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    last = [line for line in out.stderr.splitlines() if line.strip()][-1]
    assert "error:" in last and str(target) in last, out.stderr[-2000:]
