"""The threaded leg on the Isaac Lab backend (kit-less Newton + MuJoCo Warp on this CPU).

The thread's ridges and lugs collide only with each other (tasks/thread.THREAD_CONTYPE). The USD
files carry that as UsdPhysics collision groups (isaaclab/usd_assets.py), and the Newton path maps
them onto Newton's collision groups before the model is finalized (isaaclab/scene.py
apply_usd_collision_groups: Newton's USD import alone numbers groups per file and got them wrong).

Runs only in the Isaac Lab venv (make isaaclab-setup; .venv-isaaclab/bin/python -m pytest <this
file>), skipping elsewhere. One scene build (4 worlds) serves the rollout tests (~1 min here).

Rollout: the leg in the oracle's side grasp standing on the thread's first flank
(test_threaded_leg.LegInHandResets, then 5 policy steps of holding on MuJoCo so that it rests on the
flank), the same state written into both engines, then the same 15 policy steps of actions (computed
on MuJoCo, replayed on Isaac Lab): worlds 0-1 turn the hand about the hole's axis the screw-in way
(0.15 rad per step) pushing 3 mm past the TCP; worlds 2-3 push the same 3 mm straight down.
Tolerances (why these numbers): depth 0.3 mm (the thread's axial play per side) and yaw 0.02 rad
per step. Measured on these worlds 0.025 mm and 1.2 mrad (float32 Warp vs float64 MuJoCo C on one
model). The leg is held by friction (fingers, flank), so other starts differ more: entry yaws
(0.4, -1.0, 0.0, 0.4) gave up to 0.24 mm and 8 mrad (the grasp slipping round the leg at -1.0).
What they must catch: with the filtering wrong (Newton's import alone) the leg was 1-2.7 mm off
MuJoCo's within the first step (lugs on the bore's rim); a lug past a ridge is 5 mm (the ridge
spacing). Starting from the IK pose 0.5 mm above the flank instead of the settled state, the drop
onto the flank differed by 1.7 mm / 0.17 rad in one world for a few steps: hence the settled start.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

if importlib.util.find_spec("isaaclab") is None or importlib.util.find_spec("isaaclab_newton") is None:
    pytest.skip("Isaac Lab is not installed in this Python: make isaaclab-setup, then "
                ".venv-isaaclab/bin/python -m pytest src/omnireset_sim/test/test_isaaclab_thread.py",
                allow_module_level=True)

from omnireset_control.constants import TRAIN_ACTION_SCALE  # noqa: E402
from omnireset_sim.envs.engine import ResetState  # noqa: E402
from omnireset_sim.envs.reset import _rot_z  # noqa: E402
from omnireset_sim.envs.vec_env import make_env  # noqa: E402
from omnireset_sim.mdp.events import RandomizationCfg  # noqa: E402
from omnireset_sim.tasks import registered  # noqa: E402
from omnireset_sim.tasks.leg_twisting.threaded import EPISODE_LENGTH_S, THREAD, THREADED_SPEC  # noqa: E402


def _harness():
    """test_threaded_leg's near-goal sampler and tracker (one definition; pytest's importlib mode
    does not put the test folder on sys.path, so it is loaded by path)."""
    spec = importlib.util.spec_from_file_location("_threaded_leg_harness", Path(__file__).with_name("test_threaded_leg.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


YAWS = (0.0, 0.4, 0.0, 0.4)  # entry yaws the side grasp reaches by IK (in test_threaded_leg.SCREW_YAWS)
TURN = (-0.15, -0.15, 0.0, 0.0)  # rad per policy step about the hole's axis (screw-in is negative)
PUSH = -0.003  # m per policy step: the OSC target 3 mm below the TCP (the oracle's push)
SETTLE_STEPS = 5
STEPS = 15
DEPTH_ATOL = 3e-4  # m
YAW_ATOL = 0.02  # rad


class _Fixed:
    """The same ResetState for every reset (the state both engines start from)."""

    reset_type_names = ("near_goal",)

    def __init__(self, state: ResetState):
        self.state = state

    def sample(self, env_ids, generator=None):
        import dataclasses

        ids = env_ids.cpu().long()
        fields = {f.name: getattr(self.state, f.name) for f in dataclasses.fields(ResetState)}
        return ResetState(**{k: v[ids] if isinstance(v, torch.Tensor) else v for k, v in fields.items()})


def _actions(env) -> torch.Tensor:
    """Turn the TCP about the hole's axis by TURN (position rotated about the axis, yaw), PUSH down."""
    s = env.engine.state()
    tcp = env._tcp_kinematics(s.joint_pos.clone())[0][:, :2].double()
    rel = tcp - s.receptive_pos[:, :2].double()
    a = torch.zeros(len(YAWS), 7, dtype=torch.float64)
    for i, step in enumerate(TURN):
        rot = _rot_z(torch.full((1,), step, dtype=torch.float64))[0, :2, :2]
        a[i, :2] = rot @ rel[i] - rel[i]
        a[i, 5] = step
    a[:, 2] = PUSH
    a[:, :6] /= torch.tensor(TRAIN_ACTION_SCALE, dtype=torch.float64)
    a[:, 6] = -1.0  # gripper closed: the side grasp holds the leg
    return a.float()


def _settled_state(env) -> ResetState:
    s = env.engine.state()
    n = s.joint_pos.shape[0]
    f64 = lambda x: x.detach().double().clone()  # noqa: E731
    return ResetState(joint_pos=f64(s.joint_pos), gripper_closed=torch.ones(n, dtype=torch.bool),
                      target_pos=f64(s.target_pos), target_quat=f64(s.target_quat),
                      receptive_pos=f64(s.receptive_pos), receptive_quat=f64(s.receptive_quat),
                      reset_type=torch.zeros(n, dtype=torch.long), gripper_opening=f64(s.gripper_opening))


def _kw():
    return dict(law_backend="torch", seed=0, randomization=RandomizationCfg(enabled=False), device="cpu",
                episode_length_s=EPISODE_LENGTH_S)


@pytest.fixture(scope="module")
def rollouts():
    """Both engines from the same settled state under the same actions: per step (depth above the
    seat [m], yaw turned [rad]) of each, Isaac Lab's thread contacts, and the compiled contact graph."""
    from isaaclab_newton.physics import NewtonManager

    from omnireset_sim.isaaclab.scene import thread_geoms

    h = _harness()
    out = {}
    with registered(THREADED_SPEC):
        ref = make_env("leg_twisting", "easy", len(YAWS), engine="mujoco", **_kw())
        ref.reset_sampler = h.LegInHandResets(ref.kin, YAWS)
        ref.reset()
        hold = torch.zeros(len(YAWS), 7)
        hold[:, 6] = -1.0
        for _ in range(SETTLE_STEPS):
            ref.step(hold)
        state = _settled_state(ref)
        ref.reset_sampler = _Fixed(state)
        ref.reset()
        track, depth, yaw, actions = h.Track(ref), [], [], []
        for _ in range(STEPS):
            d, t, _ = track()
            depth.append(d.double())
            yaw.append(t.double() * 2 * math.pi)
            actions.append(_actions(ref))
            ref.step(actions[-1])
        d, t, _ = track()
        out["mujoco"] = (torch.stack(depth + [d.double()]), torch.stack(yaw + [t.double() * 2 * math.pi]))
        ref.close()

        env = make_env("leg_twisting", "easy", len(YAWS), engine="isaaclab", reset_sampler=_Fixed(state), **_kw())
        try:
            solver = NewtonManager._solver
            thread = thread_geoms(solver, env.engine.sim.stage)
            out["graph"] = _contact_graph(solver, thread)
            out["thread_geoms_checked"] = env.engine.thread_geoms
            track, depth, yaw, contacts, abnormal = h.Track(env), [], [], [], []
            for a in actions:
                d, t, _ = track()
                depth.append(d.double())
                yaw.append(t.double() * 2 * math.pi)
                _, _, _, extras = env.step(a)
                abnormal.append(bool(extras["abnormal"].any()))
                data = solver.mjw_data
                g = data.contact.geom.numpy()[: int(data.nacon.numpy()[0])]
                contacts.append((int((thread[g[:, 0]] & thread[g[:, 1]]).sum()),
                                 int((thread[g[:, 0]] ^ thread[g[:, 1]]).sum())))
            d, t, _ = track()
            out["isaaclab"] = (torch.stack(depth + [d.double()]), torch.stack(yaw + [t.double() * 2 * math.pi]))
            out["contacts"], out["abnormal"] = contacts, abnormal
        finally:
            env.close()
    return out


def _contact_graph(solver, thread):
    """Which geom pairs the compiled MuJoCo model lets collide, against our MJCF's contype/conaffinity
    (by geom name: the USD prim is named after the MJCF geom): (pairs compared, pairs that differ,
    robot-robot pairs the masks allow, thread pairs allowed, thread/non-thread pairs allowed). Pairs
    on one body are left out (MuJoCo never collides them); robot-robot pairs are compared to none
    (self-collision off: Newton's filter pairs become masks or body excludes)."""
    import mujoco
    import numpy as np

    from omnireset_sim.assets.arm import load_arm_kinematics
    from omnireset_sim.assets.scene import SceneConfig, build_scene_xml

    cm = solver.mj_model
    labels = [solver.model.shape_label[s] for s in solver.mjc_geom_to_newton_shape.numpy()[0]]
    names = [label.rsplit("/", 1)[-1] for label in labels]
    robot = np.array(["/Robot/" in label for label in labels])
    cfg = SceneConfig()
    m = mujoco.MjModel.from_xml_string(build_scene_xml(THREADED_SPEC, load_arm_kinematics(cfg.arm), cfg))
    bits = {mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, g): (int(m.geom_contype[g]), int(m.geom_conaffinity[g]))
            for g in range(m.ngeom)}
    assert all(n in bits for n in names), [n for n in names if n not in bits]

    def allowed(ct, ca):
        ct, ca = np.asarray(ct, dtype=np.int64), np.asarray(ca, dtype=np.int64)
        return ((ct[:, None] & ca[None, :]) != 0) | ((ct[None, :] & ca[:, None]) != 0)

    have = allowed(cm.geom_contype, cm.geom_conaffinity)
    want = allowed([bits[n][0] for n in names], [bits[n][1] for n in names])
    other_body = cm.geom_bodyid[:, None] != cm.geom_bodyid[None, :]
    both_robot = robot[:, None] & robot[None, :]
    sel = other_body & ~both_robot
    return dict(compared=int(sel.sum()) // 2, differ=int((sel & (have != want)).sum()) // 2,
                robot_self=int((other_body & both_robot & have).sum()) // 2,
                thread_pairs=int((other_body & have & thread[:, None] & thread[None, :]).sum()) // 2,
                thread_other=int((other_body & have & thread[:, None] & ~thread[None, :]).sum()))


def test_the_converted_usd_carries_the_thread_filtering():
    """Read back with pxr: in every file an environment group (every non-thread collider) and, where
    the file has thread geoms, a thread group with exactly them that filters the environment group,
    both merged across the files by name -- what PhysX reads as authored."""
    from pxr import Usd, UsdPhysics

    from omnireset_sim.isaaclab import usd_assets as ua
    from omnireset_sim.tasks.thread import THREAD_CONTYPE

    usd = ua.scene_usd(THREADED_SPEC)
    want_thread = {"target": THREAD.starts, "receptive": len(THREAD.ridge_geoms()), "robot": 0, "table": 0}
    for part, n_thread in want_thread.items():
        stage = Usd.Stage.Open(getattr(usd, part))
        scope = stage.GetDefaultPrim().GetPath().AppendChild("Physics")
        colliders = {str(p.GetPath()) for p in stage.Traverse() if p.HasAPI(UsdPhysics.CollisionAPI)}
        groups = {}
        for name, merge in ((ua.ENV_GROUP, ua.ENV_MERGE_GROUP), (ua.THREAD_GROUP, ua.THREAD_MERGE_GROUP)):
            prim = stage.GetPrimAtPath(scope.AppendChild(name))
            if not prim:
                continue
            g = UsdPhysics.CollisionGroup(prim)
            assert g.GetMergeGroupNameAttr().Get() == merge
            query = g.GetCollidersCollectionAPI().ComputeMembershipQuery()
            groups[name] = ({str(p) for p in Usd.CollectionAPI.ComputeIncludedPaths(query, stage)}, g)
        env_members, _ = groups[ua.ENV_GROUP]
        thread_members = groups.get(ua.THREAD_GROUP, (set(), None))[0]
        assert len(thread_members) == n_thread, (part, len(thread_members))
        assert env_members | thread_members == colliders and not env_members & thread_members, part
        if n_thread:
            _, tg = groups[ua.THREAD_GROUP]
            assert [str(t) for t in tg.GetFilteredGroupsRel().GetTargets()] == [str(scope.AppendChild(ua.ENV_GROUP))]
            assert not tg.GetInvertFilteredGroupsAttr().Get()
            # The thread group's members are the MJCF's thread geoms (the prims are named after them).
            xml = (Path(usd.scene_xml).parent / f"{part}.xml").read_text()
            assert {m.rsplit("/", 1)[-1] for m in thread_members} == set(ua.thread_geom_names(xml))
    assert THREAD_CONTYPE not in (ua.ROBOT_CONTYPE, ua.ENV_CONTYPE)


def test_the_threaded_leg_builds_and_its_thread_touches_only_itself(rollouts, capsys):
    """The compiled MuJoCo Warp model's contact graph is our MJCF's, pair for pair (the thread's
    included), and while the leg stands on and turns in the thread no lug ever touches anything but a
    ridge, while lugs and ridges do touch."""
    graph, contacts = rollouts["graph"], rollouts["contacts"]
    with capsys.disabled():
        print(f"\n[isaaclab thread] contact graph {graph}; thread geoms checked at bind "
              f"{rollouts['thread_geoms_checked']}; per step (thread-thread, thread-other) contacts {contacts}")
    assert rollouts["thread_geoms_checked"] == THREAD.starts + len(THREAD.ridge_geoms())
    assert graph["compared"] > 500 and graph["differ"] == 0
    assert graph["robot_self"] == 0
    assert graph["thread_pairs"] == THREAD.starts * len(THREAD.ridge_geoms()) and graph["thread_other"] == 0
    assert all(other == 0 for _, other in contacts), contacts
    assert all(tt > 0 for tt, _ in contacts), contacts  # the lugs stand on the ridges throughout
    assert not any(rollouts["abnormal"])


def test_depth_and_yaw_follow_mujoco_from_the_same_state_under_the_same_actions(rollouts, capsys):
    (d_ref, y_ref), (d_il, y_il) = rollouts["mujoco"], rollouts["isaaclab"]
    dd = (d_il - d_ref).abs().max(dim=0).values
    dy = (y_il - y_ref).abs().max(dim=0).values
    with capsys.disabled():
        print(f"\n[isaaclab thread] {STEPS} steps, per world: depth start {[f'{v * 1e3:.2f}' for v in d_ref[0].tolist()]} mm, "
              f"end MuJoCo {[f'{v * 1e3:.2f}' for v in d_ref[-1].tolist()]} / Isaac Lab {[f'{v * 1e3:.2f}' for v in d_il[-1].tolist()]} mm; "
              f"yaw end {[f'{v:.3f}' for v in y_ref[-1].tolist()]} rad; max |d depth| {[f'{v * 1e3:.3f}' for v in dd.tolist()]} mm, "
              f"max |d yaw| {[f'{v * 1e3:.2f}' for v in dy.tolist()]} mrad")
    assert float(dd.max()) <= DEPTH_ATOL
    assert float(dy.max()) <= YAW_ATOL
    # The comparison means something only if the turning worlds turned and moved along the thread.
    turning = torch.tensor([t != 0.0 for t in TURN])
    assert bool((y_ref[-1, turning].abs() > 0.1).all()), y_ref[-1]
    assert bool(((d_ref[-1] - d_ref[0])[turning].abs() > 3e-4).all()), d_ref[-1] - d_ref[0]


def test_a_straight_push_does_not_seat_it_on_isaac_lab_either(rollouts):
    """Worlds pushed 3 mm past the TCP without a turn stall on the first flank, more than the
    thread's push stop (4 mm) above the seat (the same spring the oracle's straight push uses). 1.5 s
    here, nearly at rest for the last 1 s; test_threaded_leg pushes 20 s on MuJoCo (200 policy
    steps would take ~3 min here)."""
    depth, yaw = rollouts["isaaclab"]
    push = torch.tensor([t == 0.0 for t in TURN])
    assert bool((depth[-1, push] > THREAD.push_stop).all()), depth[-1]
    assert bool((depth[-1, push] > THREADED_SPEC.success_position_threshold).all())
    assert float((depth[5, push] - depth[-1, push]).max()) < 3e-4, depth[:, push]  # no creep towards the seat
    assert bool((yaw[-1, push].abs() < 0.02).all()), yaw[-1]
