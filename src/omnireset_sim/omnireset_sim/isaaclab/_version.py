"""Which Isaac Lab this backend runs on, and the one-line answers when it cannot.

Importable everywhere (no Isaac Lab import): the CLIs call `require_isaaclab()` to turn a missing or
unsupported Isaac Lab into one line + exit 2.
"""

from __future__ import annotations

from importlib import metadata

# Isaac Lab 3.0.x: the first release with the kit-less Newton backend (isaaclab_newton) that this
# package is written against; 3.1 may move those APIs, so it is refused until checked.
SUPPORTED_MIN = (3, 0, 0)
SUPPORTED_BELOW = (3, 1, 0)
SUPPORTED_RANGE = ">=3.0.0,<3.1.0"
INSTALL_HINT = ("make isaaclab-setup (a second venv, .venv-isaaclab; Isaac Lab pins mujoco 3.12 and cannot share "
                ".venv), then run the command with .venv-isaaclab/bin/python")


class IsaacLabUnavailable(RuntimeError):
    """Isaac Lab is missing or not a supported version; the message is the one line to print."""


def installed_isaaclab_version() -> str | None:
    try:
        return metadata.version("isaaclab")
    except metadata.PackageNotFoundError:
        return None


def _parse(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (3 - len(parts)))


def check_version(version: str | None) -> None:
    """Raise IsaacLabUnavailable unless `version` (of the isaaclab distribution) is supported."""
    if version is None:
        raise IsaacLabUnavailable(f"Isaac Lab is not installed in this Python; install it with {INSTALL_HINT}")
    if not (SUPPORTED_MIN <= _parse(version) < SUPPORTED_BELOW):
        raise IsaacLabUnavailable(f"Isaac Lab {version} is not supported (supported: isaaclab{SUPPORTED_RANGE}); "
                                  f"install the supported one with {INSTALL_HINT}")


def require_isaaclab() -> str:
    """The installed, supported Isaac Lab version, or IsaacLabUnavailable saying why not."""
    version = installed_isaaclab_version()
    check_version(version)
    try:
        import isaaclab_newton  # noqa: F401  (the Newton backend ships in the same wheel)
    except ImportError as exc:
        raise IsaacLabUnavailable(f"Isaac Lab {version} is installed but its Newton backend does not import "
                                  f"({exc}); reinstall with {INSTALL_HINT}") from None
    return version
