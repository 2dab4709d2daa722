"""The four-leg table: scene, per-leg observation (== the single-leg env's), success rule, sequencer."""

import math

import mujoco
import numpy as np
import pytest
import torch

from omnireset_control.rotations import quat_multiply, quat_to_matrix

from omnireset_sim.assets.four_leg_scene import HOLE_OFFSETS, NUM_LEGS, TOP_HALF, four_hole_top, leg_body, single_hole
from omnireset_sim.envs import make_env
from omnireset_sim.envs.engine import ResetState
from omnireset_sim.four_leg_table import (DEFAULT_POLICY, LEG_SLOTS, LEG_XY_JITTER, LEG_YAW, LEG_YAW_JITTER, TOP_XY,
                                          TURN_HOLD_STEPS, TOP_XY_JITTER, FourLegReset, begin_leg, legs_seated,
                                          load_leg_policy, main, make_four_leg_env, run_tables)
from omnireset_sim.tasks import get_task
from omnireset_sim.tasks.leg_twisting import PIN_SPEC, THREADED_SPEC
from omnireset_policy.observation_layout import FRAME_DIM, HISTORY_LENGTH, term_offset


@pytest.fixture(scope="module")
def env():
    e = make_four_leg_env("pin", num_envs=2, seed=3)
    yield e
    e.close()


def test_the_scene_has_four_holes_and_four_legs_at_the_documented_places(env):
    spec = PIN_SPEC  # the fixture's legs
    m = env.engine.model
    assert [m.body(leg_body(k)).jntnum[0] for k in range(NUM_LEGS)] == [1] * NUM_LEGS  # free legs
    # Every leg is the single-leg task's leg: the same geoms.
    assert all(len(np.flatnonzero(m.geom_bodyid == m.body(leg_body(k)).id)) == len(spec.target.geoms)
               for k in range(NUM_LEGS))
    hole_pos, hole_quat = env.engine.hole_frames()
    top = torch.from_numpy(env.engine._mocap_pos)
    assert ((top[:, :2] - torch.tensor(TOP_XY, dtype=torch.float64)).abs() <= TOP_XY_JITTER + 1e-12).all()
    offsets = hole_pos[:, :, :2] - top[:, None, :2]  # the top is not turned
    assert torch.allclose(offsets, torch.tensor(HOLE_OFFSETS, dtype=torch.float64).expand_as(offsets), atol=1e-12)
    leg_pos, leg_quat = env.engine.leg_poses()
    slots = torch.tensor(LEG_SLOTS, dtype=torch.float64)
    assert ((leg_pos[:, :, :2] - slots).abs() <= LEG_XY_JITTER + 1e-12).all()
    assert torch.allclose(leg_pos[:, :, 2], torch.full_like(leg_pos[:, :, 2], spec.target_rest_height))
    # Resting as the single-leg task's leg rests, turned by LEG_YAW +- jitter.
    flat = leg_quat.reshape(-1, 4)
    rest = torch.tensor(spec.target_rest_quat, dtype=torch.float64).expand_as(flat)
    turn = quat_multiply(flat, torch.cat([rest[:, :1], -rest[:, 1:]], 1))  # leg * rest^-1: a yaw
    dyaw = torch.remainder(2 * torch.atan2(turn[:, 3], turn[:, 0]) - LEG_YAW + math.pi, 2 * math.pi) - math.pi
    assert (dyaw.abs() <= LEG_YAW_JITTER + 1e-9).all() and (turn[:, 1:3].abs() < 1e-12).all()
    # Collision-free: in every world a leg touches only the table it lies on.
    legs = {m.body(leg_body(k)).id for k in range(NUM_LEGS)}
    table = m.body("table").id
    for world in range(2):
        d = mujoco.MjData(m)
        mujoco.mj_setState(m, d, env.engine._state[world], mujoco.mjtState.mjSTATE_FULLPHYSICS)
        d.mocap_pos[0], d.mocap_quat[0] = env.engine._mocap_pos[world], env.engine._mocap_quat[world]
        mujoco.mj_forward(m, d)
        pairs = {(int(m.geom_bodyid[c.geom1]), int(m.geom_bodyid[c.geom2])) for c in d.contact[:d.ncon]}
        assert all(not ({a, b} & legs) or {a, b} - legs == {table} for a, b in pairs), pairs


@pytest.mark.parametrize("spec", [PIN_SPEC, THREADED_SPEC], ids=["pin", "threaded"])
def test_the_top_has_four_of_the_single_leg_holes(spec):
    (hx, hy), thickness, features = single_hole(spec)
    top = four_hole_top(spec)
    plate, rest = top.geoms[:9], top.geoms[9:]
    assert len(rest) == NUM_LEGS * len(features)  # a thread's ridges at every hole
    for dx, dy in HOLE_OFFSETS:
        for px, py in ((dx, dy), (dx + 0.99 * hx, dy + 0.99 * hy), (dx - 0.99 * hx, dy - 0.99 * hy)):
            # inside the hole: no plate box covers the point
            assert not any(abs(px - g.pos[0]) < g.size[0] and abs(py - g.pos[1]) < g.size[1] for g in plate)
        for px, py in ((dx + 1.01 * hx, dy), (dx, dy - 1.01 * hy)):  # just outside: plate
            assert any(abs(px - g.pos[0]) <= g.size[0] and abs(py - g.pos[1]) <= g.size[1] for g in plate)
    assert math.isclose(sum(4 * g.size[0] * g.size[1] for g in plate), (2 * TOP_HALF) ** 2 - 4 * 4 * hx * hy)
    assert all(math.isclose(g.size[2] * 2, thickness) for g in plate)


def test_a_turns_observation_is_the_single_leg_envs_for_the_same_state(env):
    """The key correctness check: leg k's turn observes exactly what the single-leg env would with
    leg k as its target and hole k's frame as its receptive object."""
    actions = torch.zeros(2, 7, dtype=torch.float64)
    actions[:, 0], actions[:, 4], actions[:, 6] = 1.0, 2.0, -1.0  # move, turn, close: a state off the reset
    env.reset()
    for _ in range(3):
        env.step(actions)
    other = env.get_observations()["policy"][1].clone()
    leg = 2
    begin_leg(env, [0], leg)
    obs = env.get_observations()["policy"]
    assert torch.equal(obs[1], other)  # the other world's observation and history are left alone
    assert int(env.engine.active_leg[0]) == leg and int(env.engine.active_leg[1]) == 0

    st = env.engine.state()
    leg_pos, leg_quat = env.engine.leg_poses()
    hole_pos, hole_quat = env.engine.hole_frames()
    single = make_env("leg_twisting", "easy", 1, seed=0, nthread=0)
    try:
        single.engine.reset_envs(torch.tensor([0]), ResetState(
            joint_pos=st.joint_pos[:1].clone(), gripper_closed=torch.tensor([True]),
            target_pos=leg_pos[:1, leg], target_quat=leg_quat[:1, leg],
            receptive_pos=hole_pos[:1, leg], receptive_quat=hole_quat[:1, leg],
            reset_type=torch.zeros(1, dtype=torch.long)))
        single.actions.zero_()
        single._history_needs_reset = torch.tensor([0])
        expected = single._compute_observations()["policy"][0]
    finally:
        single.close()
    frames = obs[0].reshape(HISTORY_LENGTH, FRAME_DIM)
    assert torch.equal(frames[0], frames[-1])  # a fresh history, as at an episode's start
    assert torch.all(frames[-1, term_offset("last_action"):] == 0)
    torch.testing.assert_close(obs[0], expected, rtol=0, atol=2e-7)


def _place(env, world: int, leg: int, lift: float) -> None:
    """Put `leg` of `world` at its goal on hole `leg`, raised by `lift` (m) along the hole's z."""
    spec = env.engine.leg_task
    hole_pos, hole_quat = env.engine.hole_frames()
    rot = quat_to_matrix(hole_quat[world:world + 1, leg])[0]
    pos = hole_pos[world, leg] + rot @ torch.tensor(spec.goal_pos, dtype=torch.float64)
    pos[2] += lift
    quat = quat_multiply(hole_quat[world:world + 1, leg], torch.tensor([spec.goal_quat], dtype=torch.float64))[0]
    q = env.engine._qpos0 + env.engine._leg_qpos[leg]
    env.engine._state[world, q:q + 3] = pos.numpy()
    env.engine._state[world, q + 3:q + 7] = quat.numpy()


def test_a_seated_leg_succeeds_by_the_specs_rule_and_one_5_mm_up_does_not(env):
    env.reset()
    spec = env.engine.leg_task
    assert (spec.success_position_threshold, spec.success_orientation_threshold) == (0.0025, 0.025)
    _place(env, 0, 1, 0.0)
    _place(env, 1, 1, 0.005)
    seated = legs_seated(env)
    assert seated[:, 1].tolist() == [True, False]
    assert not seated[:, [0, 2, 3]].any()  # the others lie on the table
    # The env's own success (what ends a turn) agrees with leg 1 as the target.
    begin_leg(env, [0, 1], 1)
    st = env.engine.state()
    errors = env.goal.errors(st.target_pos, quat_to_matrix(st.target_quat), st.receptive_pos,
                             quat_to_matrix(st.receptive_quat))
    assert errors.success.tolist() == [True, False]
    assert errors.position[0] < 1e-9 and abs(float(errors.position[1]) - 0.005) < 1e-9


@pytest.mark.parametrize("hold_steps", [1, TURN_HOLD_STEPS])
def test_the_sequencer_moves_to_the_next_leg_after_success(hold_steps, env):
    """Leg 1 starts seated: its turn ends at the first step; legs 2-4 (held still) run to the limit."""
    base_sampler = env.reset_sampler

    class SeatedFirstLeg:
        reset_type_names = base_sampler.reset_type_names

        def sample(self, ids, generator=None):
            r = base_sampler.sample(ids, generator)
            rot = quat_to_matrix(r.receptive_quat)
            hole = r.receptive_pos + rot @ torch.tensor((*HOLE_OFFSETS[0], 0.0), dtype=torch.float64)
            spec = env.engine.leg_task
            r.leg_pos[:, 0] = hole + rot @ torch.tensor(spec.goal_pos, dtype=torch.float64)
            r.leg_quat[:, 0] = quat_multiply(r.receptive_quat, torch.tensor([spec.goal_quat], dtype=torch.float64)
                                             .expand(len(ids), 4))
            r.target_pos, r.target_quat = r.leg_pos[:, 0].clone(), r.leg_quat[:, 0].clone()
            return FourLegReset(**{k: getattr(r, k) for k in r.__dataclass_fields__})

    calls = []
    steps = hold_steps + 2

    def still(k):
        def policy(obs):
            frame = obs[:, -FRAME_DIM:]
            calls.append((k, obs.shape[0], frame[:, term_offset("target_in_receptive"):][:, :3].clone()))
            a = torch.zeros(obs.shape[0], 7)
            a[:, 6] = 1.0
            return a
        return policy

    env.reset_sampler = SeatedFirstLeg()
    try:
        out = run_tables(env, [still(k) for k in range(NUM_LEGS)], leg_steps=steps, handover_steps=0,
                         hold_steps=hold_steps)
    finally:
        env.reset_sampler = base_sampler
    # The seated leg's turn ends once its success has held hold_steps steps (the sim node's 0.5 s).
    assert out.turn_success.tolist() == [[True, False, False, False]] * 2
    assert out.turn_steps.tolist() == [[hold_steps, steps, steps, steps]] * 2
    assert out.seated_end.tolist() == [[True, False, False, False]] * 2
    assert not out.aborted.any() and out.table_success.tolist() == [False, False]
    assert (out.best_error[:, 0] < 1e-3).all() and (out.best_error[:, 1:] > 0.25).all()  # m
    assert [c[0] for c in calls] == [0] * hold_steps + [1] * steps + [2] * steps + [3] * steps
    # Each leg's first call saw that leg far from its own hole (lying in its slot), leg 1 seated.
    assert float(calls[0][2].norm(dim=1).max()) < 0.1
    firsts = [hold_steps + j * steps for j in range(NUM_LEGS - 1)]
    assert all(float(calls[i][2].norm(dim=1).min()) > 0.25 for i in firsts)
    assert env.engine.active_leg.tolist() == [3, 3]


def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path):
    assert main(["--leg", "screwed"]) == 2
    assert main(["--policy", str(tmp_path / "missing")]) == 2
    assert main(["--policy", str(DEFAULT_POLICY), str(DEFAULT_POLICY)]) == 2
    assert main(["--leg-seconds", "nan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("four_leg_table: error: ") for line in err)
    assert "Traceback" not in "".join(err)


@pytest.mark.slow
def test_the_pin_oracle_seats_a_pin_leg_on_the_table(tmp_path):
    """The pin leg's oracle (`oracle --task leg_twisting --pin`; the shipped oracle is the threaded leg's)."""
    from omnireset_sim.oracle import main as oracle_main

    assert get_task("leg_twisting") is THREADED_SPEC
    assert oracle_main(["--task", "leg_twisting", "--pin", "--out", str(tmp_path / "pin")]) == 0
    actor, _ = load_leg_policy(tmp_path / "pin", 10.0)
    e = make_four_leg_env("pin", num_envs=1, seed=2, nthread=0)
    try:
        out = run_tables(e, [actor] * NUM_LEGS, leg_steps=160)
    finally:
        e.close()
    assert not out.aborted.any()
    assert out.turn_success.sum() >= 1 and out.seated_end.sum() >= 1


def test_the_handover_backs_straight_out_along_the_tool_axis(env, monkeypatch):
    """Sideways out of the pin oracle's side grasp, straight up out of the threaded oracle's grasp from
    above: a sideways move there drags an open pad through the seated leg (measured: 0/16 last legs
    still standing at the end before this rule)."""
    from omnireset_sim.four_leg_table import BACK_OFF, Handover

    pos = torch.tensor([[0.5, 0.1, 0.2], [0.4, -0.1, 0.25]], dtype=torch.float64)
    down = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)  # tool z down
    side = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)  # tool z = +x
    rot = torch.stack([down, side])
    handover = Handover(env, max_steps=120)
    monkeypatch.setattr(handover, "_tcp", lambda: (pos, rot))
    handover.start(np.array([0, 1]), np.array([1, -1]))
    torch.testing.assert_close(handover.back_aim[0], pos[0] + torch.tensor([0.0, 0.0, BACK_OFF], dtype=torch.float64))
    torch.testing.assert_close(handover.back_aim[1], pos[1] - torch.tensor([BACK_OFF, 0.0, 0.0], dtype=torch.float64))
