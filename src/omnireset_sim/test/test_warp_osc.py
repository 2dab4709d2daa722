"""The OSC law as a Warp kernel (envs/warp_osc.py) and MuJoCo Warp's policy step captured in one
graph (MujocoWarpEngine.control_step), on Warp's CPU device.

- the kernel reproduces the committed golden vectors of the float64 law (omnireset_control's
  torch law = its C++ core) to float32 precision: TCP pose, Jacobian, pose error and torque of
  every case (clips on/off, torque clip, near-singular poses);
- it agrees with the torch law run in float32 to rounding on random states, and zeroes (and
  counts) worlds with non-finite inputs as BatchedOsc does;
- a MuJoCo Warp env on its default law_backend "native" (the kernel, 12 physics steps + the law in
  ONE captured graph) follows the env on the torch law (torch between captured single steps) to
  float32 rounding over policy steps with motor delay and dynamic friction on, and replays one
  graph per policy step."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco_warp")
from omnireset_sim.envs.mujoco_warp_engine import import_warp  # noqa: E402

import_warp()
from omnireset_control.kinematics import BatchedKinematics  # noqa: E402
from omnireset_control.osc import BatchedOsc  # noqa: E402
from omnireset_control.constants import TRAIN_GAINS  # noqa: E402
from omnireset_sim.assets.arm import load_arm_kinematics  # noqa: E402
from omnireset_sim.assets.scene import SceneConfig  # noqa: E402
from omnireset_sim.envs import make_env  # noqa: E402
from omnireset_sim.envs import warp_osc  # noqa: E402
from omnireset_sim.mdp.events import RandomizationCfg  # noqa: E402

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "omnireset_control" / "test"


def _golden():
    sys.path.insert(0, str(GOLDEN_DIR))
    try:
        from test_golden import CASES, KIN  # the golden file's reader (one parser)
    finally:
        sys.path.remove(str(GOLDEN_DIR))
    return KIN, CASES


def test_kernel_reproduces_the_golden_vectors_to_float32_precision():
    kin, cases = _golden()
    assert len(cases) >= 100
    worst = {}
    for kid, params in kin.items():
        group = [c for c in cases if c["kin"] == kid]
        for c in group:  # clips and torque limit are per case
            kp = c["kp"][None]
            kd = 2.0 * c["zeta"][None] * np.sqrt(kp)
            lim = None if np.isinf(c["torque_limit"]).all() else c["torque_limit"]
            out = warp_osc.evaluate_law(params.as_array(), c["q"][None], c["qd"][None], c["target_pos"][None],
                                        c["target_rot"][None], kp, kd, c["pos_clip"][0], c["rot_clip"][0], lim)
            for key, name in (("pos", "tcp_pos"), ("rot", "tcp_rot"), ("jac", "jacobian"), ("error", "error"),
                              ("torque", "torque")):
                err = float(np.abs(out[key].double().numpy().ravel() - c[name]).max())
                scale = max(1.0, float(np.abs(c[name]).max()))
                worst[key] = max(worst.get(key, 0.0), err / scale)
    # float32 carries ~6e-8 relative; the chain of 7 transforms and the gains (Kp up to ~1100)
    # amplify it: measured worst 2.6e-7 (pose, Jacobian, error) and 7e-5 N*m on torques up to ~130.
    assert worst["pos"] < 2e-6 and worst["rot"] < 2e-6 and worst["jac"] < 2e-6, worst
    assert worst["error"] < 2e-6, worst
    assert worst["torque"] < 1e-5, worst


def _random_states(n, seed):
    g = torch.Generator().manual_seed(seed)
    q = (torch.rand(n, 6, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    qd = torch.randn(n, 6, generator=g, dtype=torch.float64)
    return q, qd, g


def test_kernel_agrees_with_the_torch_law_in_float32_and_zeroes_non_finite_worlds():
    params = load_arm_kinematics(SceneConfig().arm)
    n = 256
    q, qd, g = _random_states(n, 3)
    kin64 = BatchedKinematics(params, dtype=torch.float64)
    # targets a few cm / a few degrees away, some beyond the clips
    pos, rot, _ = kin64.forward_with_jacobian(q + 0.2 * torch.randn(n, 6, generator=g, dtype=torch.float64))
    q[5, 2] = float("nan")  # one world with a non-finite joint, one with a non-finite target
    pos[9, 0] = float("inf")
    ref = {}
    for dtype in (torch.float32, torch.float64):
        kin = BatchedKinematics(params, dtype=dtype)
        osc = BatchedOsc(n, TRAIN_GAINS, dtype=dtype)
        p, r, j = kin.forward_with_jacobian(q.to(dtype))
        ref[dtype] = (osc.torque(j, qd.to(dtype), p, r, pos.to(dtype), rot.to(dtype)), osc)
    osc32 = ref[torch.float32][1]
    out = warp_osc.evaluate_law(params.as_array(), q, qd, pos, rot, osc32.kp, osc32.kd, osc32.pos_clip,
                                osc32.rot_clip)
    tau_k, tau_32, tau_64 = out["torque"].double(), ref[torch.float32][0].double(), ref[torch.float64][0]
    bad = torch.zeros(n, dtype=torch.bool)
    bad[[5, 9]] = True
    assert torch.equal(tau_k[bad], torch.zeros(2, 6, dtype=torch.float64))  # zero torque, as BatchedOsc
    assert int(osc32.nonfinite_count.sum()) == 2
    # kernel vs torch, both float32: rounding apart; both vs float64: float32 precision
    scale = tau_64[~bad].abs().max()
    assert float((tau_k[~bad] - tau_32[~bad]).abs().max()) < 2e-5 * float(scale)
    assert float((tau_k[~bad] - tau_64[~bad]).abs().max()) < 2e-5 * float(scale)
    assert float(scale) > 1.0  # the comparison is not of zeros


def test_native_env_replays_one_graph_per_policy_step_and_follows_the_torch_law():
    cfg = RandomizationCfg.finetune()  # motor delay buffer of 0..2 steps, gains randomized
    envs = {b: make_env("peg_insertion", "easy", 6, engine="mujoco_warp", law_backend=b, seed=1, randomization=cfg)
            for b in ("native", "torch")}
    try:
        assert envs["native"].law_backend == "native" and envs["torch"].law_backend == "torch"
        assert envs["native"].delay.max_delay == 2 and len(set(envs["native"].delay.delay.tolist())) > 1
        for e in envs.values():
            e.dynamic_friction_ratio[:] = 0.5  # the dynamic-friction torque on
        g = torch.Generator().manual_seed(0)
        worst_q = 0.0
        for _ in range(6):
            a = torch.rand(6, 7, generator=g) * 2 - 1
            obs = {b: e.step(a)[0]["policy"].clone() for b, e in envs.items()}
            qn, qt = envs["native"].engine.state().joint_pos, envs["torch"].engine.state().joint_pos
            worst_q = max(worst_q, float((qn - qt).abs().max()))
            assert torch.allclose(obs["native"], obs["torch"], atol=1e-5)
            assert torch.allclose(envs["native"].delay.buffer, envs["torch"].delay.buffer, rtol=1e-4, atol=1e-3)
        assert worst_q < 1e-5  # float32 rounding of the law, 72 physics steps
        engine = envs["native"].engine
        # the whole policy step is one graph; the single-step graph of the torch path never built
        assert len(engine._policy_graphs) == 1 and engine._graph is None
        assert envs["torch"].engine._graph is not None and not envs["torch"].engine._policy_graphs
        assert int(envs["native"].osc.nonfinite_count.sum()) == 0
    finally:
        for e in envs.values():
            e.close()


def test_non_finite_world_is_counted_by_the_graph_law():
    env = make_env("peg_insertion", "easy", 3, engine="mujoco_warp", seed=2,
                   randomization=RandomizationCfg(enabled=False))
    try:
        env.step(torch.zeros(3, 7))
        env.engine.corrupt_world(1, "nan")
        env.step(torch.zeros(3, 7))
        counts = env.osc.nonfinite_count.tolist()
        assert counts[0] == 0 and counts[2] == 0 and counts[1] >= 1
    finally:
        env.close()
