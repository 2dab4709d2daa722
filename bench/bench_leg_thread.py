"""Env-steps/s of the leg task with today's pin vs the threaded leg (issue 16 item 1), in one run.

Both specs are timed alternately (--repeats blocks, medians) through the same env path as training
(OmniResetEnv, native control-step stepper, random actions in [-1, 1], hard variant, reaching
resets), so machine load hits both alike; the ratio threaded / pin is what the issue's >= 50 % bar
is about. The threaded spec replaces the registry's leg_twisting entry while it is timed.
--physics instead times bare mj_step of one world with the leg resting in the hole (the arm parked),
three models: the pin, the primitive thread, and the pin plus MuJoCo's SDF nut/bolt plugin pair
(mujoco.sdf.nut / mujoco.sdf.bolt, radii 6.0 / 5.8 mm, sdf_iterations 10, sdf_initpoints 40: cheaper
than the plugin's defaults) on the leg's pin and in the hole, colliding with each other only.
Run: nice -n 4 python bench/bench_leg_thread.py [--n 16] [--steps 40] [--repeats 3] [--in-hole | --physics]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for pkg in ("omnireset_sim", "omnireset_control", "omnireset_policy"):
    sys.path.insert(0, str(ROOT / "src" / pkg))

import torch  # noqa: E402

from omnireset_sim import tasks  # noqa: E402
from omnireset_sim.envs import make_env  # noqa: E402
from omnireset_sim.tasks.leg_twisting import PIN_SPEC, THREADED_SPEC  # noqa: E402


def build(spec, n: int, nthread: int):
    with tasks.registered(spec):  # the registry is what make_env reads
        return make_env("leg_twisting", "hard", n, nthread=nthread, seed=0)


def in_hole_reset(n: int):
    """The leg upright in the hole 5.5 mm above its seat at yaw 0.4 rad (resting on flanks when
    threaded), the arm at its home pose, gripper open."""
    import math

    from omnireset_control.rotations import quat_multiply
    from omnireset_sim.envs.engine import ResetState
    from omnireset_sim.envs.reset import HOME_JOINT_POS

    rec = torch.tensor([[0.5, -0.3, 0.0]], dtype=torch.float64).expand(n, 3)
    yaw = torch.full((n,), 0.4, dtype=torch.float64)
    qz = torch.stack([torch.cos(yaw / 2), 0 * yaw, 0 * yaw, torch.sin(yaw / 2)], 1)
    quat = quat_multiply(qz, torch.tensor([PIN_SPEC.goal_quat], dtype=torch.float64).expand(n, 4))
    pos = rec + torch.tensor(PIN_SPEC.goal_pos, dtype=torch.float64) + torch.tensor([0.0, 0.0, 0.0055])
    assert math.isclose(float(quat.norm(dim=1)[0]), 1.0)
    return ResetState(joint_pos=torch.tensor([HOME_JOINT_POS] * n, dtype=torch.float64),
                      gripper_closed=torch.zeros(n, dtype=torch.bool), target_pos=pos, target_quat=quat,
                      receptive_pos=rec.clone(), receptive_quat=torch.tensor([[1.0, 0, 0, 0]] * n, dtype=torch.float64),
                      reset_type=torch.zeros(n, dtype=torch.long))


def _sdf_scene_xml(kin, cfg) -> str:
    from omnireset_sim.assets.scene import build_scene_xml

    x = build_scene_xml(PIN_SPEC, kin, cfg)
    ext = ('<extension><plugin plugin="mujoco.sdf.nut"><instance name="nut"><config key="radius" value="0.006"/>'
           '</instance></plugin><plugin plugin="mujoco.sdf.bolt"><instance name="bolt"><config key="radius" '
           'value="0.0058"/></instance></plugin></extension>')
    anchors = [('<compiler', ext + '<compiler'),
               ('<asset>', '<asset><mesh name="nut"><plugin instance="nut"/></mesh><mesh name="bolt"><plugin '
                'instance="bolt"/></mesh>'),
               ('<freejoint name="target_object_joint" />', '<freejoint name="target_object_joint" /><geom name="bolt" '
                'type="sdf" mesh="bolt" pos="0 0 0.07" quat="0 1 0 0" contype="4" conaffinity="4" mass="0.001">'
                '<plugin instance="bolt"/></geom>'),
               ('<body name="receptive_object" mocap="true" pos="0 0 0.0">', '<body name="receptive_object" '
                'mocap="true" pos="0 0 0.0"><geom name="nut" type="sdf" mesh="nut" pos="0 0 0.01" contype="4" '
                'conaffinity="4"><plugin instance="nut"/></geom>'),
               ('<option ', '<option sdf_iterations="10" sdf_initpoints="40" ')]
    for old, new in anchors:
        if old not in x:
            raise SystemExit(f"bench_leg_thread: the scene XML no longer has {old!r}; update the SDF anchors")
        x = x.replace(old, new, 1)
    return x


def physics_rates(repeats: int, steps: int = 400) -> None:
    import glob

    import mujoco
    import numpy as np

    from omnireset_sim.assets.arm import load_arm_kinematics
    from omnireset_sim.assets.mjcf import quat_about, quat_mul
    from omnireset_sim.assets.scene import RECEPTIVE_BODY, TARGET_JOINT, SceneConfig, build_scene_xml

    for lib in glob.glob(os.path.join(os.path.dirname(mujoco.__file__), "plugin", "*.so")):
        mujoco.mj_loadPluginLibrary(lib)
    cfg = SceneConfig()
    kin = load_arm_kinematics(cfg.arm)
    xmls = {"pin": build_scene_xml(PIN_SPEC, kin, cfg), "primitive thread": build_scene_xml(THREADED_SPEC, kin, cfg),
            "sdf nut/bolt": _sdf_scene_xml(kin, cfg)}

    def rate(xml):
        m = mujoco.MjModel.from_xml_string(xml)
        d = mujoco.MjData(m)
        rec = np.array([0.5, -0.3, 0.0])
        d.mocap_pos[m.body(RECEPTIVE_BODY).mocapid[0]] = rec
        qa = m.joint(TARGET_JOINT).qposadr[0]
        d.qpos[qa:qa + 3] = rec + np.array(PIN_SPEC.goal_pos) + [0.0, 0.0, 0.005]
        d.qpos[qa + 3:qa + 7] = quat_mul(quat_about((0, 0, 1), 0.4), np.array(PIN_SPEC.goal_quat))
        mujoco.mj_forward(m, d)
        for _ in range(20):
            mujoco.mj_step(m, d)
        t, ncon = time.perf_counter(), 0
        for _ in range(steps):
            mujoco.mj_step(m, d)
            ncon += d.ncon
        return steps / (time.perf_counter() - t), ncon / steps

    res = {k: [] for k in xmls}
    for _ in range(repeats):  # alternate so load hits all alike
        for k, x in xmls.items():
            res[k].append(rate(x))
    base = statistics.median(r for r, _ in res["pin"])
    print(f"one world, mj_step, leg resting in the hole, load {os.getloadavg()[0]:.2f}")
    for k, v in res.items():
        r = statistics.median(a for a, _ in v)
        print(f"{k:>17}: {r:8.0f} physics steps/s, {v[0][1]:5.1f} contacts/step, ratio to pin {r / base:.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--nthread", type=int, default=1)
    p.add_argument("--in-hole", action="store_true", help="start every world with the leg standing in the hole "
                   "(5.5 mm above its seat, on the thread's flanks) and step zero actions: the contact-heavy case")
    p.add_argument("--physics", action="store_true", help="bare mj_step: pin vs primitive thread vs SDF nut/bolt")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.physics:
        physics_rates(a.repeats)
        return 0
    envs = {"pin": build(PIN_SPEC, a.n, a.nthread), "thread": build(THREADED_SPEC, a.n, a.nthread)}
    gen = torch.Generator().manual_seed(0)
    actions = [torch.rand(a.n, 7, generator=gen) * 2 - 1 for _ in range(64)]
    times = {k: [] for k in envs}
    if a.in_hole:
        actions = [torch.zeros(a.n, 7) for _ in range(64)]
        for env in envs.values():
            env.engine.reset_envs(torch.arange(a.n), in_hole_reset(a.n))
    with torch.inference_mode():
        for env in envs.values():
            for i in range(2):
                env.step(actions[i])
        for _ in range(a.repeats):
            for name, env in envs.items():
                t = time.perf_counter()
                for i in range(a.steps):
                    env.step(actions[i % len(actions)])
                times[name].append(time.perf_counter() - t)
    rate = {k: a.n * a.steps / statistics.median(v) for k, v in times.items()}
    print(f"N={a.n}, {a.steps} steps x {a.repeats} blocks, nthread {a.nthread}, load {os.getloadavg()[0]:.2f}; "
          f"ngeom pin {envs['pin'].engine.model.ngeom}, thread {envs['thread'].engine.model.ngeom}")
    for k, r in rate.items():
        print(f"{k:>7}: {r:8.0f} env-steps/s")
    print(f"  ratio thread / pin = {rate['thread'] / rate['pin']:.2f}")
    for env in envs.values():
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
