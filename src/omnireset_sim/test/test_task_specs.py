"""Task specs: the released goal ranges converted to base_link, Hard's receptive yaw, the success
thresholds per task, refusals of impossible specs, reset clearance and the range plot."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from omnireset_sim.tasks import get_task, get_variant, sample_goal, task_names
from omnireset_sim.tasks.spec import (LOOSE_FIT_ORIENTATION, LOOSE_FIT_POSITION, RELEASED_RECEPTIVE_YAW,
                                      TIGHT_FIT_ORIENTATION, TIGHT_FIT_POSITION, VariantSpec, released_to_base_link,
                                      reset_clear)

YAW15 = math.pi / 12


def test_released_point_maps_to_the_base_link_point_expected():
    # Same frame (REP-103 base_link), so only the robot root's offset in the env frame comes off.
    assert released_to_base_link((0.3, -0.1)) == pytest.approx((0.3, -0.061))  # nominal root (0, -0.039)
    assert released_to_base_link((0.55, 0.3, 0.02), (0.01, -0.059)) == pytest.approx((0.54, 0.359, 0.02))
    assert released_to_base_link((0.3, -0.1), (0.0, 0.0)) == pytest.approx((0.3, -0.1))
    (x0, x1), (y0, y1) = get_task("peg_insertion").variant("hard").receptive_xy_bounds()
    # Support of U(0.3, 0.55) - U(-0.01, 0.01) and U(-0.1, 0.3) - U(-0.059, -0.019).
    assert (x0, x1, y0, y1) == pytest.approx((0.29, 0.56, -0.081, 0.359))


def test_released_robot_frame_is_ours_the_released_home_is_in_front_over_the_range():
    from omnireset_control.kinematics import BatchedKinematics, load_kinematics

    kin = BatchedKinematics(load_kinematics("ur5e"), dtype=torch.float64)
    released_home = torch.tensor([[0.0, -math.pi / 2, math.pi / 2, -math.pi / 2, -math.pi / 2, -math.pi / 2]],
                                 dtype=torch.float64)
    pos, rot = kin.forward(released_home)
    assert 0.3 < float(pos[0, 0]) < 0.55 and -0.1 < float(pos[0, 1]) < 0.3  # over the released goal range
    assert float(rot[0, 2, 2]) < -0.999  # gripper pointing down


@pytest.mark.parametrize("task", ["peg_insertion", "leg_twisting", "drawer_insertion", "cube_stacking", "wall_slide",
                                  "cupcake_on_plate"])
def test_hard_goal_quats_carry_yaw_within_15_deg_and_easy_has_none(task):
    spec, hard = get_variant(task, "hard")
    pos, quat = sample_goal(spec, hard, 4000, torch.Generator().manual_seed(3))
    torch.testing.assert_close(quat.norm(dim=1), torch.ones(4000, dtype=torch.float64))
    assert float(quat[:, 1:3].abs().max()) == 0.0  # yaw only
    yaw = 2.0 * torch.atan2(quat[:, 3], quat[:, 0])
    assert float(yaw.abs().max()) <= YAW15 + 1e-12
    assert float(yaw.min()) < -0.95 * YAW15 and float(yaw.max()) > 0.95 * YAW15  # the whole range is used
    (x0, x1), (y0, y1) = hard.receptive_xy_bounds()
    assert float(pos[:, 0].min()) >= x0 and float(pos[:, 0].max()) <= x1
    assert float(pos[:, 1].min()) >= y0 and float(pos[:, 1].max()) <= y1
    assert float(pos[:, 0].min()) < 0.31 and float(pos[:, 1].max()) > 0.32  # released spread, not a jitter
    torch.testing.assert_close(pos[:, 2], torch.full((4000,), spec.receptive_height, dtype=torch.float64))

    easy = spec.variant("easy")
    g = torch.Generator().manual_seed(3)
    epos, equat = sample_goal(spec, easy, 50, g)
    torch.testing.assert_close(equat, torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 50, dtype=torch.float64))
    assert float((epos - epos[:1]).abs().max()) == 0.0  # one fixed place
    assert easy.receptive_yaw == (0.0, 0.0)
    # Easy draws x and y only, as before yaw existed: the stream continues where 100 draws leave it.
    ref = torch.Generator().manual_seed(3)
    torch.rand(100, generator=ref, dtype=torch.float64)
    assert torch.equal(torch.rand(5, generator=g, dtype=torch.float64), torch.rand(5, generator=ref,
                                                                                     dtype=torch.float64))


def test_goal_frame_turns_with_the_receptive_yaw():
    from omnireset_control.rotations import quat_to_matrix

    from omnireset_sim.mdp.task_metrics import GoalFrame

    spec = get_task("wall_slide")  # goal 25 mm off the wall's origin: a turn moves it
    goal = GoalFrame(spec)
    rec_pos = torch.tensor([[0.45, 0.1, spec.receptive_height]], dtype=torch.float64)
    yawed = torch.tensor([[math.cos(YAW15 / 2), 0.0, 0.0, math.sin(YAW15 / 2)]], dtype=torch.float64)
    r = quat_to_matrix(yawed)
    gp, gr = goal.goal_in_world(rec_pos, r)
    assert bool(goal.errors(gp, gr, rec_pos, r).success[0])
    gp0, gr0 = goal.goal_in_world(rec_pos, torch.eye(3, dtype=torch.float64)[None])
    err = goal.errors(gp0, gr0, rec_pos, r)  # placed for an unturned wall: 6.5 mm off
    assert not bool(err.success[0]) and float(err.position[0]) == pytest.approx(2 * 0.025 * math.sin(YAW15 / 2))


def test_thresholds_per_task_follow_the_released_values_and_docs_rule():
    tight = {"peg_insertion", "leg_twisting", "drawer_insertion"}
    assert set(task_names()) == tight | {"cube_stacking", "cupcake_on_plate", "wall_slide"}
    for name in task_names():
        s = get_task(name)
        want = (TIGHT_FIT_POSITION, TIGHT_FIT_ORIENTATION) if name in tight else (LOOSE_FIT_POSITION,
                                                                                LOOSE_FIT_ORIENTATION)
        assert (s.success_position_threshold, s.success_orientation_threshold) == want, name
    assert (TIGHT_FIT_POSITION, TIGHT_FIT_ORIENTATION, LOOSE_FIT_POSITION, LOOSE_FIT_ORIENTATION) == (
        0.0025, 0.025, 0.005, 0.05)
    assert RELEASED_RECEPTIVE_YAW == (-YAW15, YAW15)


@pytest.mark.parametrize("field_name,value,match", [
    ("success_position_threshold", 0.0, "success_position_threshold"),
    ("success_position_threshold", -0.001, "success_position_threshold"),
    ("success_position_threshold", float("nan"), "success_position_threshold"),
    ("success_orientation_threshold", 0.0, "success_orientation_threshold"),
    ("success_orientation_threshold", 4.0, "success_orientation_threshold"),
    ("min_reset_separation", -0.1, "min_reset_separation"),
    ("ignored_axes", ("w",), "ignored axis"),
    ("variants", {"hard": "wide"}, r"variants\['hard'\]"),
])
def test_impossible_task_spec_is_refused_with_the_field_named(field_name, value, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(get_task("cube_stacking"), **{field_name: value})


@pytest.mark.parametrize("kwargs,match", [
    ({"receptive_xy": ((0.1, -0.1), (0.0, 0.0))}, r"receptive_xy\.x has lo > hi"),
    ({"target_xy": ((0.0, 0.0), (0.2, 0.1))}, r"target_xy\.y has lo > hi"),
    ({"receptive_yaw": (0.3, 0.1)}, "receptive_yaw has lo > hi"),
    ({"receptive_yaw": (-4.0, 0.0)}, "receptive_yaw .* outside"),
    ({"receptive_yaw": (0.0, 3.5)}, "receptive_yaw .* outside"),
    ({"robot_jitter_xy": ((0.01, -0.01), (0.0, 0.0))}, r"robot_jitter_xy\.x has lo > hi"),
    ({"receptive_xy": ((0.0, float("inf")), (0.0, 0.0))}, r"receptive_xy\.x must be finite"),
    ({"receptive_xy": ((0.0, 0.1),)}, "receptive_xy must be"),
])
def test_impossible_variant_ranges_are_refused_with_the_field_named(kwargs, match):
    base = {"name": "bad", "target_xy": ((-0.1, 0.1), (-0.1, 0.1)), "receptive_xy": ((0.0, 0.0), (0.0, 0.0))}
    with pytest.raises(ValueError, match=match):
        VariantSpec(**{**base, **kwargs})


def test_reset_clearance_uses_the_turned_footprint():
    spec = get_task("wall_slide")  # wall 300 x 20 mm
    rec_pos = torch.tensor([[0.45, 0.1, spec.receptive_height]] * 3, dtype=torch.float64)
    c, s = math.cos(YAW15), math.sin(YAW15)
    rec_quat = torch.tensor([[math.cos(YAW15 / 2), 0.0, 0.0, math.sin(YAW15 / 2)]] * 3, dtype=torch.float64)
    pts = torch.tensor([[0.45 + 0.13 * c, 0.1 + 0.13 * s],  # on the wall's long axis: centre 0.13 > 0.1 away
                        [0.45 - 0.3 * s, 0.1 + 0.3 * c],  # 0.3 m off its face
                        [0.45 + 0.05 * s, 0.1 - 0.05 * c]], dtype=torch.float64)  # 5 cm off its face
    assert reset_clear(spec, pts, rec_pos, rec_quat).tolist() == [False, True, False]
    assert reset_clear(spec, pts.numpy(), rec_pos.numpy(), rec_quat.numpy()).tolist() == [False, True, False]


def test_reaching_sampler_keeps_targets_clear_of_turned_receptive_objects():
    from omnireset_control.kinematics import load_kinematics

    from omnireset_sim.envs.reset import ReachingResetSampler

    for task in ("wall_slide", "drawer_insertion"):
        spec, hard = get_variant(task, "hard")
        sampler = ReachingResetSampler(spec, hard, load_kinematics("ur7e"), max_rounds=1)
        st = sampler.sample(torch.arange(48), torch.Generator().manual_seed(11))
        assert bool(reset_clear(spec, st.target_pos[:, :2], st.receptive_pos, st.receptive_quat).all()), task
        yaw = 2.0 * torch.atan2(st.receptive_quat[:, 3], st.receptive_quat[:, 0])
        assert float(yaw.abs().max()) <= YAW15 + 1e-12 and float(yaw.abs().max()) > 0.0


def test_plot_ranges_cli_writes_png_and_record_atomically(tmp_path):
    from omnireset_sim.tasks.plot_ranges import main

    out = tmp_path / "sub" / "ranges.png"
    assert main(["--out", str(out), "--step", "0.1", "--samples", "8", "--heights", "0.05"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = json.loads(out.with_suffix(".json").read_text())
    assert rec["made_by"] == "python -m omnireset_sim.tasks.plot_ranges" and rec["grid_step_m"] == 0.1
    assert set(rec["per_task"]) == set(task_names())
    assert rec["per_task"]["peg_insertion"]["hard"]["receptive_yaw_deg"] == pytest.approx([-15.0, 15.0])
    assert sorted(p.name for p in out.parent.iterdir()) == ["ranges.json", "ranges.png"]  # no temp files left
    assert main(["--out", str(tmp_path / "x.png"), "--step", "0"]) == 2
    assert not (tmp_path / "x.png").exists()
