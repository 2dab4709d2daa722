"""The set-up script's guards: wrong Python is refused before anything is touched."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fake_python(tmp_path: Path, version: str) -> Path:
    exe = tmp_path / "python-fake"
    exe.write_text(f"#!/bin/sh\necho {version}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_wrong_python_version_stops_with_a_clear_message(tmp_path):
    venv_marker = ROOT / ".venv" / "pyvenv.cfg"
    before = venv_marker.stat().st_mtime if venv_marker.exists() else None
    env = dict(os.environ, PYTHON=str(_fake_python(tmp_path, "3.12")), OMNIRESET_SKIP_APT="1")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Python 3.11 is required" in proc.stderr and "3.12" in proc.stderr
    after = venv_marker.stat().st_mtime if venv_marker.exists() else None
    assert before == after, "a refused set-up must not touch the existing venv"


def test_fix_ros_wheels_rewrites_builder_paths_and_renders_prefix_setup(tmp_path):
    venv = tmp_path / "venv"
    export = venv / "share" / "foo_msgs" / "cmake" / "export_foo_msgs__rosidl_generator_pyExport.cmake"
    export.parent.mkdir(parents=True)
    (venv / "share" / "ament_index").mkdir()
    export.write_text(
        'set_target_properties(x PROPERTIES INTERFACE_INCLUDE_DIRECTORIES '
        '"/opt/python/cp311-cp311/include/python3.11;'
        '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include")\n')
    proc = subprocess.run(["python", str(ROOT / "scripts" / "fix_ros_wheels.py"), str(venv)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = export.read_text()
    assert "/opt/python/cp311-cp311" not in text
    import numpy
    assert numpy.get_include() in text
    local_setup = (venv / "local_setup.sh").read_text()
    assert f'_ament_prefix_sh_AMENT_CURRENT_PREFIX="{venv.resolve()}"' in local_setup
    assert "@CMAKE_INSTALL_PREFIX@" not in (venv / "setup.sh").read_text()
    # idempotent
    again = subprocess.run(["python", str(ROOT / "scripts" / "fix_ros_wheels.py"), str(venv)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "0 Export.cmake files rewritten" in again.stdout


def test_fix_ros_wheels_refuses_a_prefix_without_ros(tmp_path):
    proc = subprocess.run(["python", str(ROOT / "scripts" / "fix_ros_wheels.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "holds no ROS wheels" in proc.stderr
