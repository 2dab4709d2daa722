"""Isaac Lab 3 backend (kit-less Newton / MuJoCo Warp; PhysX where Isaac Sim is installed).

Imported only inside the Isaac Lab venv (.venv-isaaclab, `make isaaclab-setup`); nothing else in the
project depends on it. This module itself imports no Isaac Lab, so the version check can run
anywhere; the cfgs, the engine and the gym registration live in submodules.
"""

from ._version import (SUPPORTED_RANGE, IsaacLabUnavailable, check_version, installed_isaaclab_version,
                       require_isaaclab)

__all__ = ["SUPPORTED_RANGE", "IsaacLabUnavailable", "check_version", "installed_isaaclab_version",
           "require_isaaclab"]
