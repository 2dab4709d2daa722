"""One error for every file a user keeps, and the helpers every loader uses to raise it.

Reset datasets, grasp sets, partial assemblies, training checkpoints, exported policies, sysid
recordings and results, expert shards: a loader that meets a missing, corrupt, truncated or
foreign file raises :class:`ArtifactError` (or a subclass: ``CheckpointError``,
``ExportedPolicyError``, ``RecordingError`` ...), whose message is one line that starts with the
file and says what is wrong with it. Whatever the libraries underneath raise (``zlib.error`` and
``BadZipFile`` from ``np.load``, ``RuntimeError`` or pickle errors from ``torch.load``,
``UnicodeDecodeError`` from a YAML file, ``OSError`` from h5py) is converted by :func:`reading`,
so a command-line tool catches one type and exits 2 with that line, never a traceback.

torch does not check the CRCs of the zip archive it writes (``torch.save``, ``torch.jit.save``):
a flipped byte inside a tensor loads silently as a wrong weight. :func:`verify_zip` checks every
member's CRC before torch reads the file.
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path
from typing import Any

# Longest excerpt of an underlying library's message kept in an ArtifactError.
_DETAIL_CHARS = 160


def one_line(text: Any) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


class ArtifactError(ValueError):
    """A file (or exported directory) that cannot be used: missing, unreadable, corrupted, truncated,
    of another kind, or made for something else. The message is one line naming the file."""

    def __init__(self, message: Any = ""):
        super().__init__(one_line(message))


def describe(exc: BaseException) -> str:
    """``"<ExceptionType>: <first line of its message>"``, shortened to one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > _DETAIL_CHARS:
        first = first[: _DETAIL_CHARS - 3] + "..."
    name = type(exc).__name__
    if name == "error":  # zlib.error, binascii.error...: say whose
        name = f"{type(exc).__module__}.{name}"
    return f"{name}: {first}" if first else name


@contextlib.contextmanager
def reading(path: str | Path, what: str, error: type[ArtifactError] = ArtifactError):
    """Inside this block any exception other than an ``ArtifactError`` becomes
    ``error("<path>: <what> (<Type>: <first line>)")``; ``what`` says what the file was read as,
    e.g. "not a readable .npz artifact (corrupted or truncated?)"."""
    try:
        yield
    except ArtifactError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the library raised, the user gets one line
        raise error(f"{path}: {what} ({describe(exc)})") from exc


def verify_zip(path: str | Path, what: str, error: type[ArtifactError] = ArtifactError,
               required: bool = True) -> None:
    """Check that ``path`` is a whole zip archive whose every member matches its CRC-32 (the
    container of torch.save, torch.jit.save and np.savez files). ``required=False`` lets a file
    that is no zip at all through unchecked (torch's legacy pickle format, e.g. old torchvision
    weights), for the loader to judge."""
    with reading(path, what, error):
        if not required and not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    if bad is not None:
        raise error(f"{path}: {what} (member {bad!r} fails its CRC check: the file was corrupted after writing)")


def read_text(path: str | Path, what: str, error: type[ArtifactError] = ArtifactError) -> str:
    """The UTF-8 text of ``path``; undecodable bytes or a read failure raise ``error``."""
    with reading(path, what, error):
        return Path(path).read_text(encoding="utf-8")


def load_yaml(path: str | Path, what: str, error: type[ArtifactError] = ArtifactError) -> Any:
    """``yaml.safe_load`` of ``path``: bad bytes or bad YAML raise ``error``."""
    import yaml

    text = read_text(path, what, error)
    with reading(path, what, error):
        return yaml.safe_load(text)


__all__ = ["ArtifactError", "describe", "load_yaml", "one_line", "read_text", "reading", "verify_zip"]
