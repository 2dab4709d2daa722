"""Procedural assets: kinematics identical to omnireset_control, limits, gravity compensation,
coupled gripper, camera YAML validation, task registry errors, every task's goal geometry."""

import math
from dataclasses import replace

import mujoco
import numpy as np
import pytest
import torch

from omnireset_control.kinematics import JointOrigin, fk, load_kinematics
from omnireset_sim.assets.arm import ArmConfig
from omnireset_sim.assets.cameras import ConfigError, load_cameras, parse_cameras
from omnireset_sim.assets.gripper import FINGER_STROKE
from omnireset_sim.assets.scene import SceneConfig, build_scene_xml
from omnireset_sim.envs.engine import ResetState
from omnireset_sim.envs.mujoco_engine import MujocoEngine
from omnireset_sim.envs.reset import HOME_JOINT_POS
from omnireset_sim.tasks import get_task, get_variant, task_names


def _model(params, task="peg_insertion"):
    return mujoco.MjModel.from_xml_string(build_scene_xml(get_task(task), params, SceneConfig()))


@pytest.mark.parametrize("perturb", [False, True])
def test_arm_fk_matches_controller_fk(perturb):
    params = load_kinematics("ur7e")
    if perturb:  # a "calibrated" arm: every joint origin nudged; the MJCF must follow it exactly
        rng = np.random.default_rng(3)
        origins = tuple(JointOrigin(tuple(np.add(o.xyz, rng.normal(0, 2e-3, 3))), tuple(np.add(o.rpy, rng.normal(0, 2e-3, 3))))
                        for o in params.joint_origins)
        params = replace(params, joint_origins=origins)
    m = _model(params)
    d = mujoco.MjData(m)
    site = m.site("tcp").id
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.uniform(-math.pi, math.pi, 6)
        d.qpos[:6] = q
        mujoco.mj_kinematics(m, d)
        T = fk(params, q)
        np.testing.assert_allclose(d.site_xpos[site], T[:3, 3], atol=1e-10)
        np.testing.assert_allclose(d.site_xmat[site].reshape(3, 3), T[:3, :3], atol=1e-10)


def test_joint_limits_wrists_180_and_gravcomp_on_arm():
    m = _model(load_kinematics("ur5e"))
    for name in ("wrist_1_joint", "wrist_2_joint", "wrist_3_joint"):
        np.testing.assert_allclose(m.jnt_range[m.joint(name).id], [-math.pi, math.pi])
    for name in ("shoulder_link", "wrist_3_link", "gripper_base"):
        assert m.body_gravcomp[m.body(name).id] == 1.0


def _engine(task="peg_insertion", n=2):
    t, _ = get_variant(task, "easy")
    return MujocoEngine(t, n, nthread=0)


def _home_reset(n, closed=False, target=((0.6, 0.2, 0.03),), quat=(1.0, 0, 0, 0), receptive=(0.5, -0.27, 0.0)):
    return ResetState(
        joint_pos=torch.tensor([HOME_JOINT_POS] * n, dtype=torch.float64),
        gripper_closed=torch.full((n,), closed),
        target_pos=torch.tensor(list(target) * n, dtype=torch.float64)[:n],
        target_quat=torch.tensor([quat] * n, dtype=torch.float64),
        receptive_pos=torch.tensor([receptive] * n, dtype=torch.float64),
        receptive_quat=torch.tensor([[1.0, 0, 0, 0]] * n, dtype=torch.float64),
        reset_type=torch.zeros(n, dtype=torch.long),
    )


def test_gravity_compensated_arm_holds_still_and_gripper_fingers_stay_coupled():
    eng = _engine(n=2)
    eng.reset_envs(torch.arange(2), _home_reset(2))
    zero = torch.zeros(2, 6, dtype=torch.float64)
    close = torch.tensor([False, True])
    for _ in range(120):  # 1 s with zero arm torque
        eng.step(zero, close)
    s = eng.state()
    drift = (s.joint_pos - torch.tensor(HOME_JOINT_POS, dtype=torch.float64)).abs().max()
    assert drift < 2e-3, f"arm sagged {drift} rad without torque: gravity compensation missing"
    raw = eng.raw_state()
    left, right = eng._finger_qpos
    fingers = raw[:, 1 + left], raw[:, 1 + right]
    assert abs(fingers[0][0] - FINGER_STROKE) < 1e-3  # env 0 open
    assert abs(fingers[0][1]) < 1.5e-3  # env 1 closed (nothing between the fingers)
    np.testing.assert_allclose(fingers[0], fingers[1], atol=5e-4)  # rigid coupling (0.5 mm at full force)


def test_camera_yaml_errors_name_the_key(tmp_path):
    good = load_cameras()
    assert set(good.cameras) == {"front", "side", "wrist"} and (good.width, good.height) == (224, 224)
    with pytest.raises(ConfigError, match=r"cameras.front.fovvy"):
        parse_cameras({"cameras": {"front": {"parent": "world", "pos": [1, 0, 0], "lookat": [0, 0, 0], "fovvy": 40}}})
    with pytest.raises(ConfigError, match=r"cameras.side.pos"):
        parse_cameras({"cameras": {"side": {"parent": "world", "pos": [1, 0], "lookat": [0, 0, 0], "fovy": 40}}})
    with pytest.raises(ConfigError, match=r"unknown key 'camras'"):
        parse_cameras({"camras": {}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [front: {pos: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_cameras(bad)


def test_unknown_task_or_variant_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown task 'peg'; valid: \['cube_stacking', 'cupcake_on_plate', "
                                         r"'drawer_insertion', 'leg_twisting', 'peg_insertion', 'wall_slide'\]"):
        get_task("peg")
    with pytest.raises(ValueError, match=r"unknown variant 'medium'; valid: \['easy', 'hard'\]"):
        get_variant("wall_slide", "medium")
    with pytest.raises(ValueError, match="unknown robot"):
        ArmConfig(robot="ur99")  # the dataclass accepts it ...
        _model(load_kinematics("ur99"))  # ... the kinematics loader lists the valid robots


@pytest.mark.parametrize("task", ["peg_insertion", "leg_twisting", "drawer_insertion", "cube_stacking", "wall_slide",
                                  "cupcake_on_plate"])
def test_assembled_goal_pose_is_stable_and_successful(task):
    """Spawn the target at the task's goal pose: it must count as success and stay there (the
    geometry fits: no interpenetration shooting it out, no falling through)."""
    from omnireset_control.rotations import quat_to_matrix
    from omnireset_sim.mdp.task_metrics import GoalFrame

    assert len(task_names()) == 6
    spec = get_task(task)
    eng = _engine(task, n=1)
    receptive = (0.5, -0.27, spec.receptive_height)
    goal = GoalFrame(spec)
    gp, gr = goal.goal_in_world(torch.tensor([receptive], dtype=torch.float64), torch.eye(3, dtype=torch.float64)[None])
    from omnireset_control.rotations import matrix_to_quat

    reset = _home_reset(1, target=(tuple(gp[0].tolist()),), quat=tuple(matrix_to_quat(gr)[0].tolist()),
                        receptive=receptive)
    eng.reset_envs(torch.arange(1), reset)
    for _ in range(60):
        eng.step(torch.zeros(1, 6, dtype=torch.float64), torch.tensor([False]))
    s = eng.state()
    assert bool(s.finite.all()) and not bool(s.sim_reset.any())
    err = goal.errors(s.target_pos, quat_to_matrix(s.target_quat), s.receptive_pos, quat_to_matrix(s.receptive_quat))
    assert bool(err.success[0]), f"{task}: pos err {float(err.position[0]):.4f} ori err {float(err.orientation[0]):.4f}"
