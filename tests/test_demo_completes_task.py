"""`make demo`'s job does the whole task: the sim graph over DDS with its default policy (the task's
oracle) inserts the peg from the sim node's reaching starts at least twice in 60 s of sim time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

pytestmark = [pytest.mark.ros, pytest.mark.slow]
pytest.importorskip("omnireset_bringup.graph", reason="workspace not built: run make setup")


def test_demo_graph_completes_the_task_with_its_default_policy(tmp_path, ros_env):
    from omnireset_bringup import graph

    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "omnireset_bringup.run_graph", "--duration", "60", "--no-cameras",
                        "--seed", "3", "--out", str(out)], capture_output=True, text=True, timeout=400,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-3000:]
    summary = yaml.safe_load((out / "summary.yaml").read_text())
    assert summary["policy"].endswith("oracle_peg_insertion")
    assert os.path.basename(graph.default_policy_dir("peg_insertion")) == "oracle_peg_insertion"
    sup = summary["supervisor"]
    assert sup["successes"] >= 2, summary
    assert sup["success_rate"] == round(sup["successes"] / sup["attempts"], 3)
    assert "success rate" in r.stdout or "success_rate" in r.stdout
