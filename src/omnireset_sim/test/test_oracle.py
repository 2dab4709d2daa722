"""The privileged scripted oracle: its rotation math, its refusals, and that it does the whole task."""

import json
import math
import subprocess
import sys

import pytest
import torch

from omnireset_control.rotations import quat_to_matrix
from omnireset_policy.exported_policy import load_exported_policy
from omnireset_policy.oracle_policy import rotation_angle, rotation_log
from omnireset_sim.envs.vec_env import make_env
from omnireset_sim.oracle import ORACLE_TASKS, UnknownOracleTask, build_oracle, export_oracle, grasp_candidates
from omnireset_sim.tasks import task_names


def _axis_angle_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    angle = rotvec.norm(dim=1)
    axis = rotvec / angle.unsqueeze(1)
    half = 0.5 * angle
    quat = torch.cat((torch.cos(half).unsqueeze(1), axis * torch.sin(half).unsqueeze(1)), dim=1)
    return quat_to_matrix(quat)


def test_rotation_log_inverts_the_exponential_up_to_pi():
    g = torch.Generator().manual_seed(0)
    axis = torch.randn(64, 3, generator=g, dtype=torch.float64)
    axis /= axis.norm(dim=1, keepdim=True)
    angle = torch.cat((torch.rand(60, generator=g, dtype=torch.float64) * 3.1, torch.full((4,), math.pi - 1e-5,
                                                                                         dtype=torch.float64)))
    rotvec = axis * angle.unsqueeze(1)
    rot = _axis_angle_matrix(rotvec)
    got = rotation_log(rot)
    torch.testing.assert_close(got[:60], rotvec[:60], atol=1e-6, rtol=0)
    # at pi the sign of the axis is free: the rotation it encodes must be the same
    torch.testing.assert_close(_axis_angle_matrix(got[60:]), rot[60:], atol=1e-4, rtol=0)
    torch.testing.assert_close(rotation_angle(rot), angle, atol=1e-6, rtol=0)


def test_every_task_has_an_oracle_and_unknown_tasks_are_named():
    assert sorted(ORACLE_TASKS) == task_names()
    with pytest.raises(UnknownOracleTask, match="knows \\['cube_stacking'"):
        build_oracle("pick_and_juggle")


def test_grasp_candidates_point_down_and_close_across_a_horizontal_axis():
    for task in task_names():
        pos, rot = grasp_candidates(task)
        assert rot.shape[0] == 2 * len(ORACLE_TASKS[task].closing_axes)
        torch.testing.assert_close(rot.transpose(1, 2) @ rot, torch.eye(3, dtype=rot.dtype).expand_as(rot))
        assert torch.allclose(torch.linalg.det(rot), torch.ones(rot.shape[0], dtype=rot.dtype))


def test_oracle_cli_refuses_an_unknown_task_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "omnireset_sim.oracle", "--task", "nope", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "peg_insertion" in r.stderr


@pytest.mark.parametrize("task", ["peg_insertion", "cube_stacking"])
def test_oracle_does_the_whole_task_from_reaching_starts(task):
    """Reach, grasp, lift, transport, align, insert within one 16 s episode: most of 8 reaching starts
    succeed at the episode's last step (measured: peg 12/16, cube 15/16 at this seed)."""
    env = make_env(task, "easy", 8, nthread=1, seed=3)
    oracle = torch.jit.script(build_oracle(task))
    obs = env.get_observations()
    grasped = torch.zeros(8, dtype=torch.bool)
    with torch.inference_mode():
        for _ in range(env.max_episode_length):
            action = oracle(obs["policy"])
            obs, _, dones, extras = env.step(action)
            grasped |= env.engine.state().target_pos[:, 2] > ORACLE_TASKS[task].hold_radius + 0.03
            if bool(dones.any()):
                break
    assert bool(dones.all()) and not bool(extras["abnormal"].any())
    assert int(grasped.sum()) >= 6  # lifted well off the table
    assert int(extras["success"].sum()) >= 5, extras["success"]
    env.close()


def test_exported_oracle_is_measured_by_evaluate(tmp_path):
    """`evaluate` takes the exported policy itself (what ships is what is measured)."""
    path = export_oracle("peg_insertion", tmp_path / "oracle")
    assert load_exported_policy(path).metadata["policy_type"] == "oracle"
    out = tmp_path / "eval"
    r = subprocess.run([sys.executable, "-m", "omnireset_sim.rl.evaluate", str(path), "--episodes", "8",
                        "--num-envs", "8", "--nthread", "1", "--seed", "3", "--no-scatter", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "peg_insertion" and results["reaching"]["episodes"] == 8
    assert results["reaching"]["successes"] >= 4
