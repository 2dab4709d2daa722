"""Make the package importable from the source tree and render headless."""

import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT.parent / "omnireset_control", ROOT.parent / "omnireset_policy"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
