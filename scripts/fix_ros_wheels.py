"""Make a venv that holds the PyPI ROS 2 Jazzy wheels usable as a colcon underlay.

Two fix-ups (see README "Set-up"):

1. Some ``*Export.cmake`` files under ``<venv>/share`` hard-code the wheel builder's include
   directories (``/opt/python/cp311-cp311/...``); they are rewritten to this interpreter's
   include directory and numpy's ``get_include()``.
2. The venv prefix has no prefix-level ``local_setup.*``: they are rendered from
   ``ament_package``'s templates, so that colcon chains the venv into ``install/setup.bash``.

Idempotent: run it again after adding message wheels.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
from pathlib import Path

BUILDER_PY_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
BUILDER_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp311-cp311/lib/python3\.11/site-packages/numpy/_core/include"
)


def fix_export_cmake(venv: Path) -> int:
    import numpy

    py_include = sysconfig.get_paths()["include"]
    np_include = numpy.get_include()
    changed = 0
    for path in (venv / "share").rglob("*Export.cmake"):
        text = path.read_text()
        if "/opt/python/cp311-cp311" not in text:
            continue
        new = text.replace(BUILDER_PY_INCLUDE, py_include)
        new = BUILDER_NUMPY_INCLUDE.sub(np_include, new)
        if new != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(new)
            os.replace(tmp, path)
            changed += 1
    return changed


def render_prefix_setup(venv: Path) -> list[str]:
    import ament_package

    template = Path(ament_package.__file__).parent / "template" / "prefix_level"
    python = str(venv / "bin" / "python")
    substitutions = {
        "@CMAKE_INSTALL_PREFIX@": str(venv),
        "@ament_package_PYTHON_EXECUTABLE@": python,
        "@SKIP_PARENT_PREFIX_PATH@": "",
    }
    written = []
    for src in sorted(template.iterdir()):
        if src.name.startswith("__") or src.name.endswith(".bat.in") or src.name.endswith(".bat"):
            continue
        name = src.name[:-3] if src.name.endswith(".in") else src.name
        dst = venv / name
        if src.name.endswith(".in"):
            text = src.read_text()
            for key, value in substitutions.items():
                text = text.replace(key, value)
            tmp = dst.with_name(dst.name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, dst)
        else:
            shutil.copyfile(src, dst)
        written.append(name)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: fix_ros_wheels.py <venv>", file=sys.stderr)
        return 2
    venv = Path(argv[1]).resolve()
    if not (venv / "share" / "ament_index").is_dir():
        print(f"error: {venv} holds no ROS wheels (share/ament_index missing)", file=sys.stderr)
        return 1
    n = fix_export_cmake(venv)
    files = render_prefix_setup(venv)
    print(f"[setup] ROS wheel fix-ups: {n} Export.cmake files rewritten, prefix setup: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
