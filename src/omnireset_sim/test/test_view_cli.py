"""The view CLI as a user runs it: `python -m omnireset_sim.view` writes a GIF / PNG strip and
rejects unknown tasks with the valid names."""

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

SRC = Path(__file__).resolve().parents[2]


def _run(args, tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SRC / "omnireset_sim"), str(SRC / "omnireset_control"), str(SRC / "omnireset_policy"),
         env.get("PYTHONPATH", "")])
    env.setdefault("MUJOCO_GL", "egl")
    return subprocess.run([sys.executable, "-m", "omnireset_sim.view", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_view_writes_gif_and_png(tmp_path):
    res = _run(["--task", "cube_stacking", "--variant", "easy", "--steps", "2", "--every", "1", "--policy", "random",
                "--out", "out.gif"], tmp_path)
    assert res.returncode == 0, res.stderr
    gif = Image.open(tmp_path / "out.gif")
    assert gif.size == (3 * 224, 224) and gif.n_frames == 3
    res = _run(["--task", "wall_slide", "--steps", "1", "--every", "1", "--cameras", "front", "--size", "96",
                "--out", "strip.png"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "strip.png").size == (96, 2 * 96)


def test_view_unknown_task_lists_valid(tmp_path):
    res = _run(["--task", "screwing", "--out", "x.png"], tmp_path)
    assert res.returncode == 2
    assert "unknown task 'screwing'; valid: ['cube_stacking'" in res.stderr
