"""The threaded leg (tasks/thread.py, tasks/leg_twisting/threaded.py): a thread out of primitives.

Free leg (the arm parked): the leg is driven by an external axial force and torque about its axis
(xfrc_applied, ramped in over 1 s after a 0.5 s settle). Measured (2026-12): a 5 N straight push
stalls 4.7 / 5.2 / 6.7 mm above the seat at entry yaws 0.2 / 0.4 / 0.8 rad; a leg tilted 0.09 rad
or more never touches a ridge, 0.07 rad and less engage. (Screwing a free leg in with a torque is
not tested: the 80 g leg's 8e-6 kg m^2 about its axis spins up in a step and its lugs hop ridges;
in the hand, turned by the OSC, it follows the helix.)

With the robot (slow): near-goal starts, the leg in the oracle's side grasp standing on the first
flank at entry yaws 0.0 / 0.4 / -1.0 rad, in the threaded variant's episode (EPISODE_LENGTH_S). The
oracle's regrasp screw (let go, take the leg around its body from above, turn it in with wrist_3)
seats it (0.36-0.44 mm, 0.23-0.32 turn, within 2.5 mm after 117 / 123 / 158 steps); the same oracle
with no turn (screw_step 0) pushes it straight with the same axis grasp and it stays >= 4 mm up;
turning the hand back about the hole's axis raises it again; with wrist_3's release angle lowered it
lets go, turns back and grasps again (FurnitureBench's loop) and still seats it; and from reaching
starts it does the whole task.
"""

import math

import mujoco
import numpy as np
import pytest

from omnireset_sim.assets.arm import load_arm_kinematics
from omnireset_sim.assets.mjcf import quat_about, quat_mul
from omnireset_sim.assets.scene import RECEPTIVE_BODY, TARGET_BODY, TARGET_JOINT, SceneConfig, build_scene_xml
from omnireset_sim.tasks import get_task
from omnireset_sim.tasks.leg_twisting import PIN_SPEC
from omnireset_sim.tasks.leg_twisting.threaded import EPISODE_LENGTH_S, THREAD, THREADED_SPEC
from omnireset_sim.tasks.thread import MIN_THREAD_CLEARANCE, THREAD_CONTYPE, ThreadSpec

PUSH = 5.0  # N, the straight push and the push under the twist
TWIST = 0.02  # N m about the leg's axis
REC = np.array([0.5, -0.3, 0.0])


class FreeLeg:
    def __init__(self, spec=THREADED_SPEC):
        cfg = SceneConfig()
        self.spec = spec
        self.m = mujoco.MjModel.from_xml_string(build_scene_xml(spec, load_arm_kinematics(cfg.arm), cfg))
        self.d = mujoco.MjData(self.m)
        self.mocap = self.m.body(RECEPTIVE_BODY).mocapid[0]
        self.leg = self.m.body(TARGET_BODY).id
        self.qa = self.m.joint(TARGET_JOINT).qposadr[0]
        self.seat_z = REC[2] + spec.goal_pos[2]

    def place(self, height: float, yaw: float, tilt: float = 0.0) -> None:
        m, d = self.m, self.d
        mujoco.mj_resetData(m, d)
        d.mocap_pos[self.mocap] = REC
        q = quat_mul(quat_about((0, 0, 1), yaw), np.array(self.spec.goal_quat))
        if tilt:
            q = quat_mul(quat_about((1, 0, 0), tilt), q)
        d.qpos[self.qa:self.qa + 3] = REC + np.array(self.spec.goal_pos) + [0, 0, height]
        d.qpos[self.qa + 3:self.qa + 7] = q
        mujoco.mj_forward(m, d)

    def yaw(self) -> float:
        r = self.d.xmat[self.leg].reshape(3, 3)
        return math.atan2(r[1, 0], r[0, 0])

    def thread_contacts(self) -> int:
        m = self.m
        return sum(1 for c in self.d.contact[:self.d.ncon]
                   if m.geom_contype[c.geom1] == THREAD_CONTYPE and m.geom_contype[c.geom2] == THREAD_CONTYPE)

    def run(self, force: float, torque: float, seconds: float):
        """(height above the seat m, turns about +z (screw-in is negative), most thread contacts)."""
        m, d = self.m, self.d
        turns, last, most = 0.0, self.yaw(), 0
        for _ in range(int(round(seconds / m.opt.timestep))):
            ramp = min(1.0, max(0.0, (d.time - 0.5) / 1.0))
            d.xfrc_applied[self.leg] = [0, 0, -force * ramp, 0, 0, torque * ramp]
            mujoco.mj_step(m, d)
            y = self.yaw()
            turns += ((y - last + math.pi) % (2 * math.pi) - math.pi) / (2 * math.pi)
            last = y
            most = max(most, self.thread_contacts())
        return float(d.qpos[self.qa + 2] - self.seat_z), turns, most


@pytest.fixture(scope="module")
def leg():
    return FreeLeg()


def test_thread_numbers_are_what_the_docs_state():
    t = THREAD
    assert (t.lead, t.starts, t.thread_length) == (0.02, 4, 0.009)
    lo, hi = t.turns_to_seat
    assert math.isclose(lo, 0.2, abs_tol=1e-9) and math.isclose(hi, 0.45, abs_tol=1e-9)
    assert math.isclose(t.push_stop, 0.004, abs_tol=1e-9) and t.push_stop > THREADED_SPEC.success_position_threshold
    assert math.isclose(t.radial_clearance, 5e-4, abs_tol=1e-9) and math.isclose(t.axial_clearance, 3e-4, abs_tol=1e-9)
    # Self-locking under the thread's friction (>= 0.9: the leg's randomized friction, the larger wins).
    assert math.tan(math.atan2(t.lead, 2 * math.pi * t.ridge_center_radius)) < 0.6
    # The registered leg task is the threaded leg, with its own 40 s episode; the pin leg stays beside it.
    assert get_task("leg_twisting") is THREADED_SPEC and THREADED_SPEC.thread is THREAD and PIN_SPEC.thread is None
    assert THREADED_SPEC.episode_length_s == EPISODE_LENGTH_S == 40.0 and PIN_SPEC.episode_length_s == 16.0


def test_every_env_path_runs_the_task_s_own_episode():
    """make_env, rl.envs.build_env (dataclasses.replace of a default EnvCfg, whose task is the peg) and
    an explicit horizon: the leg's 40 s unless one is named (a resolved default once rode along)."""
    from omnireset_sim.envs.vec_env import EnvCfg, make_env
    from omnireset_sim.rl.checkpoint import env_config_record
    from omnireset_sim.rl.envs import build_env

    assert EnvCfg(task="leg_twisting").episode_length_s is None
    for env, seconds in ((make_env("leg_twisting", "easy", 1, nthread=0), 40.0),
                         (build_env("leg_twisting", "easy", 1, nthread=0), 40.0),
                         (build_env("peg_insertion", "easy", 1, nthread=0), 16.0),
                         (make_env("leg_twisting", "easy", 1, nthread=0, episode_length_s=2.0), 2.0)):
        try:
            assert env.episode_length_s == seconds and env.max_episode_length == round(seconds * 10)
            assert env_config_record(env)["episode_length_s"] == seconds  # what checkpoints record
        finally:
            env.close()


def test_thread_geoms_touch_only_each_other(leg):
    m = leg.m
    thread = [g for g in range(m.ngeom) if m.geom_contype[g] == THREAD_CONTYPE]
    assert len(thread) == len(THREAD.ridge_geoms()) + THREAD.starts
    for g in thread:
        assert m.geom_conaffinity[g] == THREAD_CONTYPE
    others = [g for g in range(m.ngeom) if g not in thread]
    assert all(not (m.geom_contype[g] & THREAD_CONTYPE) and not (m.geom_conaffinity[g] & THREAD_CONTYPE)
               for g in others)


@pytest.mark.parametrize("yaw", [0.2, 0.4, 0.8])
def test_a_straight_push_stalls_on_the_flanks(leg, yaw):
    leg.place(THREAD.thread_length + 3e-4, yaw)
    height, turns, contacts = leg.run(PUSH, 0.0, 3.0)
    assert contacts > 0
    assert height > THREAD.push_stop - 1e-3 > THREADED_SPEC.success_position_threshold, height
    assert abs(turns) < 0.1


@pytest.mark.parametrize("tilt", [1.125 * THREAD.alignment_tolerance, 1.5 * THREAD.alignment_tolerance,
                                  2.5 * THREAD.alignment_tolerance])
@pytest.mark.parametrize("yaw", [0.2, 0.8])
def test_a_leg_misaligned_beyond_the_tolerance_never_engages(leg, tilt, yaw):
    leg.place(THREAD.thread_length + 3e-4, yaw, tilt=tilt)
    height, _, contacts = leg.run(PUSH, -TWIST, 3.0)
    assert contacts == 0  # no lug ever touched a ridge
    assert abs(height) > THREADED_SPEC.success_position_threshold


def test_a_leg_within_the_tolerance_engages(leg):
    leg.place(THREAD.thread_length + 3e-4, 0.4, tilt=0.6 * THREAD.alignment_tolerance)
    _, _, contacts = leg.run(PUSH, -TWIST, 3.0)
    assert contacts > 0


BASE = dict(lead=0.02, starts=4, thread_length=0.009, core_radius=0.0045, bore_half=0.005, lug_radius=0.0012,
            lug_center_radius=0.00575, ridge_radius=0.001, ridge_center_radius=0.00575, mouth_z=0.02)


@pytest.mark.parametrize("change, field", [
    (dict(lead=0.0), "lead"), (dict(lead=-0.01), "lead"), (dict(lead=float("nan")), "lead"),
    (dict(starts=0), "starts"),
    (dict(bore_half=0.0045 + 0.5 * MIN_THREAD_CLEARANCE), "bore_half"),  # radial clearance below the margin
    (dict(lead=0.018), "lead"),  # 4.5 mm between ridges: 0.05 mm axial play per side
    (dict(thread_length=0.005), "thread_length"),  # one ridge spacing: some entry yaw seats without a turn
    (dict(lead=0.04, starts=8, thread_length=0.01), "lead"),  # 48 deg lead angle: no self-locking
    (dict(ridge_center_radius=0.007, lug_center_radius=0.0047, lug_radius=0.0004), "lug_center_radius"),
    (dict(segments_per_turn=4), "segments_per_turn"),
])
def test_unbuildable_threads_are_refused_with_the_field_named(change, field):
    ThreadSpec(**BASE)  # the base is fine
    with pytest.raises(ValueError, match=rf"^thread: {field} "):
        ThreadSpec(**{**BASE, **change})


def test_the_threaded_leg_steps_in_the_env_with_the_native_stepper():
    """The thread is contacts only: the training env path (native control-step stepper) runs it as is."""
    import torch

    from omnireset_sim.envs.vec_env import make_env

    env = make_env("leg_twisting", "hard", 2, nthread=0)
    assert env.engine.model.ngeom == FreeLeg().m.ngeom
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        obs, rew, _, extras = env.step(torch.rand(2, 7, generator=gen) * 2 - 1)
    assert env.law_backend == "native"
    assert torch.isfinite(obs["policy"]).all() and torch.isfinite(rew).all()
    env.close()


# ---- with the robot: the leg in the hand, standing on the thread's first flank ------------------
class LegInHandResets:
    """Near-goal starts: the leg upright over the hole (lugs 0.5 mm above the highest flank) at the
    given yaws (one world each), held by the oracle's own side grasp, reached by IK; training
    randomization otherwise."""

    reset_type_names = ("near_goal",)

    def __init__(self, kin, yaws, height=THREAD.thread_length + 5e-4):
        self.kin, self.yaws, self.height = kin, list(yaws), height

    def sample(self, env_ids, generator=None):
        import torch

        from omnireset_control.rotations import quat_multiply, quat_to_matrix
        from omnireset_sim.envs.engine import ResetState
        from omnireset_sim.envs.reset import HOME_JOINT_POS, solve_ik
        from omnireset_sim.oracle import grasp_candidates

        f64 = torch.float64
        n = int(env_ids.numel())
        yaw = torch.tensor([self.yaws[int(i) % len(self.yaws)] for i in env_ids], dtype=f64)
        rec = torch.tensor([[0.5, -0.27, 0.0]], dtype=f64).expand(n, 3).clone()
        qz = torch.stack([torch.cos(yaw / 2), 0 * yaw, 0 * yaw, torch.sin(yaw / 2)], 1)
        quat = quat_multiply(qz, torch.tensor([THREADED_SPEC.goal_quat], dtype=f64).expand(n, 4))
        pos = rec + torch.tensor(THREADED_SPEC.goal_pos, dtype=f64) + torch.tensor([0.0, 0.0, self.height], dtype=f64)
        rot = quat_to_matrix(quat)
        gp, gr = grasp_candidates("leg_twisting")
        q = torch.tensor(HOME_JOINT_POS, dtype=f64).expand(n, 6).clone()
        pending = torch.ones(n, dtype=torch.bool)
        for k in range(gp.shape[0]):
            tcp_pos = pos + torch.einsum("nij,j->ni", rot, gp[k].to(f64))
            tcp_rot = rot @ gr[k].to(f64)
            for w3 in (0.0, 1.57, -1.57, 3.0, -3.0):
                for w2 in (0.0, 1.57, -1.57):
                    seed = torch.tensor(HOME_JOINT_POS, dtype=f64).expand(n, 6).clone()
                    seed[:, 5] += w3
                    seed[:, 4] += w2
                    qi, ok = solve_ik(self.kin, tcp_pos, tcp_rot, seed, iterations=200)
                    take = ok & pending
                    q[take] = qi[take]
                    pending &= ~ok
        assert not bool(pending.any()), f"no IK for yaws {yaw[pending].tolist()}"
        return ResetState(joint_pos=q, gripper_closed=torch.ones(n, dtype=torch.bool), target_pos=pos, target_quat=quat,
                          receptive_pos=rec, receptive_quat=torch.tensor([[1.0, 0, 0, 0]] * n, dtype=f64),
                          reset_type=torch.zeros(n, dtype=torch.long),
                          gripper_opening=torch.full((n,), PIN_SPEC.target.geoms[0].size[0], dtype=f64))


def _leg_in_hand_env(yaws, seconds=EPISODE_LENGTH_S):
    from omnireset_sim.envs.vec_env import make_env

    env = make_env("leg_twisting", "easy", len(yaws), nthread=0, seed=0, episode_length_s=seconds)
    env.reset_sampler = LegInHandResets(env.kin, yaws)
    env.reset()
    return env


def _roll(env, oracle, n, track=None):
    """Run the oracle for n policy steps or until the first episode ends (the env resets then). Returns
    the last step's (extras, dones) and, per step before it: the track's reading (None without a
    track), the action, wrist_3's angle and the world z of the tool axis (-1: pointing straight down)."""
    import torch

    obs = env.get_observations()
    readings, actions, wrist, tool = [], [], [], []
    extras = dones = None
    with torch.inference_mode():
        for _ in range(n):
            readings.append(track() if track is not None else None)
            s = env.engine.state()
            wrist.append(s.joint_pos[:, 5].clone())
            tool.append(env._tcp_kinematics(s.joint_pos.clone())[1][:, 2, 2].clone())
            action = oracle(obs["policy"])
            actions.append(action.clone())
            obs, _, dones, extras = env.step(action)
            if bool(dones.any()):
                break
    return extras, dones, readings, torch.stack(actions), torch.stack(wrist), torch.stack(tool)


class Track:
    """Per world: height of the leg above its seat (m), turns about +z, tilt (rad)."""

    def __init__(self, env):
        self.env = env
        self.turns = None
        self.last = None

    def __call__(self):
        import torch

        from omnireset_control.rotations import quat_to_matrix

        s = self.env.engine.state()
        r = quat_to_matrix(s.target_quat)
        yaw = torch.atan2(r[:, 1, 0], r[:, 0, 0])
        if self.last is None:
            self.turns = torch.zeros(yaw.shape, dtype=yaw.dtype)
        else:
            step = torch.remainder(yaw - self.last + math.pi, 2 * math.pi) - math.pi
            self.turns = self.turns + step / (2 * math.pi)
        self.last = yaw
        height = s.target_pos[:, 2] - s.receptive_pos[:, 2] - THREADED_SPEC.goal_pos[2]
        return height.clone(), self.turns.clone(), torch.acos((-r[:, 2, 2]).clamp(-1.0, 1.0))


# Entry yaws the oracle's side grasp reaches by IK (measured with the regrasp screw, 40 s: 16 of the
# 19 IK-reachable yaws 15 deg apart seat; -0.52 and +2.62 rad end 4.2 / 6.7 mm up after a second grasp,
# and at +2.88 rad the leg falls out of the hand early, where this harness's IK arm lets it slip).
SCREW_YAWS = (0.0, 0.4, -1.0)


def _threaded_oracle(**change):
    import torch

    from omnireset_sim.oracle import build_oracle

    module = build_oracle("leg_twisting")
    for name, value in change.items():
        setattr(module, name, value)  # TorchScript keeps the attribute as set here
    return torch.jit.script(module)


@pytest.mark.slow
def test_the_oracle_screws_the_leg_in_from_a_near_goal_state():
    """FurnitureBench's regrasp screw: the side grasp lets go on the first flank, the hand takes the
    leg around its body from above and turns it in with wrist_3."""
    import torch

    env = _leg_in_hand_env(SCREW_YAWS)
    track = Track(env)
    extras, dones, readings, actions, wrist, tool = _roll(env, _threaded_oracle(), env.max_episode_length, track)
    height, turns, tilt = readings[-1]
    assert bool(dones.all()) and not bool(extras["abnormal"].any())
    assert bool(extras["success"].all()), (height, tilt)
    assert bool((height.abs() < 1e-3).all()), height  # measured 0.36-0.44 mm
    stall = readings[10][0]
    assert bool((stall > THREAD.push_stop - 1.5e-3).all()), stall  # the flank held it until it turned
    assert bool((turns < -THREAD.turns_to_seat[0] + 0.05).all()), turns  # it turned the screw-in way
    # It let go (the side grasp) and holds it now from above, tool axis down: the turn was wrist_3's.
    assert bool((actions[:20, :, 6] > 0).any(dim=0).all())
    assert bool((actions[-1, :, 6] < 0).all()) and bool((tool[-1] < -0.98).all()), tool[-1]
    assert bool((wrist[-1] - wrist.min(dim=0)[0] > 0.8 * 2 * math.pi * turns.abs()).all()), (wrist[-1], turns)
    env.close()


@pytest.mark.slow
def test_the_same_oracle_without_its_screw_turn_does_not_seat_it():
    """A straight push: the same oracle, the same axis grasp and the same push 3 mm past where the leg
    is (the same OSC spring), with no turn (screw_step 0)."""
    env = _leg_in_hand_env(SCREW_YAWS)
    track = Track(env)
    extras, _, readings, actions, _, tool = _roll(env, _threaded_oracle(screw_step=0.0), 200, track)
    height, turns, _ = readings[-1]
    assert bool((actions[-1, :, 6] < 0).all()) and bool((tool[-1] < -0.98).all()), tool[-1]  # held from above
    assert bool((height > THREAD.push_stop - 1.5e-3).all()), height
    assert not bool(extras["success"].any())
    assert bool((turns.abs() < 0.1).all()), turns
    env.close()


@pytest.mark.slow
def test_reversing_the_turn_backs_it_out():
    """Screwed in by the oracle, then the hand turns the other way about the hole's axis (no push):
    the leg rises by the lead per turn."""
    import torch

    from omnireset_control.constants import TRAIN_ACTION_SCALE
    from omnireset_sim.envs.reset import _rot_z

    env = _leg_in_hand_env(SCREW_YAWS[:1])
    track = Track(env)
    extras, _, readings, _, _, _ = _roll(env, _threaded_oracle(), 250, track)
    seated, turns0, _ = track()
    assert bool(extras["success"].all()), seated
    scale = torch.tensor(TRAIN_ACTION_SCALE, dtype=torch.float64)
    step = 0.3  # rad per policy step, about +z: unscrewing
    with torch.inference_mode():
        for _ in range(60):
            s = env.engine.state()
            ee_pos, _ = env._tcp_kinematics(s.joint_pos.clone())[:2]
            axis = s.receptive_pos[:, :2]
            rel = ee_pos[:, :2] - axis
            turned = (_rot_z(torch.full((1,), step, dtype=torch.float64))[0, :2, :2] @ rel.T).T
            action = torch.zeros(1, 7, dtype=torch.float64)
            action[:, :2] = turned - rel
            action[:, 5] = step
            action[:, :6] /= scale
            action[:, 6] = -1.0
            track()
            env.step(action.float())
    height, turns, _ = track()
    backed = turns - turns0
    assert bool((backed > 0.1).all()), backed
    assert bool((height - seated > 0.5 * backed * THREAD.lead).all()), (height, backed)
    env.close()


@pytest.mark.slow
def test_the_oracle_lets_go_turns_back_and_regrasps_when_wrist_3_runs_out():
    """FurnitureBench's loop: with the release angle lowered to 1 rad one axis grasp cannot turn the leg
    all the way at this yaw (measured: it lets go at wrist_3 = 1 rad, turns back open, grasps again and
    seats it after 26 s)."""
    import torch

    env = _leg_in_hand_env((-2.09,))
    track = Track(env)
    extras, _, readings, actions, wrist, _ = _roll(env, _threaded_oracle(screw_release_wrist=1.0),
                                                   env.max_episode_length, track)
    opened = (actions[1:, 0, 6] > 0) & (actions[:-1, 0, 6] <= 0)
    assert int(opened.sum()) + int(actions[0, 0, 6] > 0) >= 2, "one side release and one unwind at least"
    unwind = torch.nonzero(opened).flatten()[-1]
    assert float(wrist[unwind + 1, 0]) > 1.0 - 0.05  # it let go where wrist_3 ran out
    assert bool(extras["success"].all()), readings[-1]
    env.close()


@pytest.mark.slow
def test_the_oracle_seats_the_threaded_leg_from_reaching_starts():
    """The whole task in the threaded variant's episode: reach, grasp, stand it in the thread, regrasp,
    screw (measured: 8/8 at this seed; 76 of 80 at seeds 1000-5000, the pin leg 48 of 80 in its 16 s)."""
    import torch

    from omnireset_sim.envs.vec_env import make_env

    env = make_env("leg_twisting", "easy", 8, nthread=1, seed=3, episode_length_s=EPISODE_LENGTH_S)
    extras, dones, _, _, _, _ = _roll(env, _threaded_oracle(), env.max_episode_length)
    assert bool(dones.all()) and not bool(extras["abnormal"].any())
    assert int(extras["success"].sum()) >= 6, extras["success"]
    env.close()


def test_the_threaded_oracle_exports_and_loads_as_a_policy(tmp_path):
    """Stateless and TorchScript-able like every oracle: export, load, same actions."""
    import torch

    from omnireset_policy import observation_layout as layout
    from omnireset_policy.exported_policy import load_exported_policy
    from omnireset_sim.oracle import build_oracle, export_oracle, oracle_task_cfg, screw_grasps

    fresh = build_oracle("leg_twisting")
    assert fresh.regrasp and fresh.screw_grasp_pos.shape == (4, 3)
    # The axis grasps point into the hole with the leg seated (object z is down there).
    torch.testing.assert_close(fresh.screw_grasp_rot[:, :, 2], torch.tensor([[0.0, 0.0, 1.0]] * 4))
    from omnireset_sim.tasks import registered

    with registered(PIN_SPEC):
        assert not build_oracle("leg_twisting").regrasp  # the pin leg has no screw phase
    with pytest.raises(ValueError, match="no screw grasp"):
        screw_grasps("peg_insertion")
    assert oracle_task_cfg("leg_twisting").screw_grasp_tcp_pos is not None
    path = export_oracle("leg_twisting", tmp_path / "oracle")
    policy = load_exported_policy(path)
    obs = torch.randn(16, layout.POLICY_OBS_DIM)
    obs[:, layout.FRAME_DIM * (layout.HISTORY_LENGTH - 1):][:, :3] *= 0.1
    with torch.inference_mode():
        torch.testing.assert_close(policy.modules["policy"](obs), fresh(obs), atol=1e-5, rtol=1e-5)


def test_the_oracle_cli_exports_the_pin_leg_and_restores_the_registry(tmp_path, capsys):
    """`python -m omnireset_sim.oracle --task leg_twisting --pin` (four_leg_table --leg pin); the default
    export is the registered threaded leg's (the shipped oracle_leg_twisting)."""
    import torch

    from omnireset_policy import observation_layout as layout
    from omnireset_policy.exported_policy import load_exported_policy
    from omnireset_sim import tasks
    from omnireset_sim.oracle import build_oracle, main

    assert main(["--task", "leg_twisting", "--pin", "--out", str(tmp_path / "pin")]) == 0
    assert tasks.get_task("leg_twisting") is THREADED_SPEC  # the registered task is the threaded leg again
    with tasks.registered(PIN_SPEC):
        pin_oracle = build_oracle("leg_twisting")
    obs = torch.randn(8, layout.POLICY_OBS_DIM)
    with torch.inference_mode():
        torch.testing.assert_close(load_exported_policy(tmp_path / "pin").modules["policy"](obs), pin_oracle(obs),
                                   atol=1e-5, rtol=1e-5)
    assert main(["--task", "leg_twisting", "--out", str(tmp_path / "thr")]) == 0
    with torch.inference_mode():
        torch.testing.assert_close(load_exported_policy(tmp_path / "thr").modules["policy"](obs),
                                   build_oracle("leg_twisting")(obs), atol=1e-5, rtol=1e-5)
    assert not pin_oracle.regrasp and build_oracle("leg_twisting").regrasp
    capsys.readouterr()
    assert main(["--task", "peg_insertion", "--pin", "--out", str(tmp_path / "peg")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "oracle: error: --pin is for leg_twisting, not 'peg_insertion'"
