"""MuJoCo Warp batch rendering for the collector: the images agree with MuJoCo's OpenGL images of
the same states within a stated bound, per-world appearance is carried over, and a shard written
with --renderer warp has the layout of one written with the OpenGL renderer. Bad input: one line,
exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from omnireset_policy.student import shard_format as fmt

try:
    import mujoco_warp  # noqa: F401

    HAVE_WARP = True
except ImportError:
    HAVE_WARP = False
needs_warp = pytest.mark.skipif(not HAVE_WARP, reason="mujoco-warp not installed")

REPO = Path(__file__).resolve().parents[3]
EXPERT = REPO / "src" / "omnireset_bringup" / "policies" / "demo"
CAMERAS = ("front", "side", "wrist")
# Mean absolute difference bound (0-255) per camera, collector settings. Measured on the CPU Warp
# device for these states: 3.2-4.5 at 64x64 (3.9 front at 48x48 randomized; 224x224: 2.5-3.8,
# docs/results/warp_render_vs_opengl.json). Without the traced shadows it is 6-9; a wrong camera
# pose, colour or light mapping gives tens.
MAD_BOUND = 6.0


@pytest.fixture(scope="module")
def warp_env():
    from omnireset_sim.collect.compare_renderers import make_states

    env = make_states(num_worlds=2, steps=2, seed=0)
    yield env
    env.close()


@needs_warp
def test_warp_images_match_opengl_of_the_same_state_within_the_bound(warp_env):
    from omnireset_sim.collect.compare_renderers import render_variant

    r = render_variant(warp_env.engine, "as_collected", CAMERAS, (64, 64))
    for c in CAMERAS:
        img = r["images_warp"][c]
        assert img.shape == (2, 64, 64, 3) and img.dtype == np.uint8
        assert img.std() > 10.0  # a real picture
        assert r["mad"][c] <= MAD_BOUND, (c, r["mad"])
    assert r["contact_agree"]
    # the two worlds are in different states: their images differ, in both renderers alike
    for c in CAMERAS:
        assert np.abs(r["images_warp"][c][0].astype(int) - r["images_warp"][c][1]).mean() > 2.0


@needs_warp
def test_per_world_appearance_reaches_the_warp_images(warp_env):
    from omnireset_sim.collect.compare_renderers import mean_abs_diff, render_variant

    nominal = render_variant(warp_env.engine, "as_collected", ("front",), (48, 48))
    rand = render_variant(warp_env.engine, "randomized", ("front",), (48, 48))
    # randomized colours / lights / textures / camera pose changed the picture, in Warp as in OpenGL,
    # and both still agree with each other
    assert mean_abs_diff(nominal["images_warp"]["front"], rand["images_warp"]["front"]) > 5.0
    assert rand["mad"]["front"] <= MAD_BOUND


@needs_warp
def test_warp_renderer_graph_replay_follows_the_engine_state(warp_env):
    import torch

    from omnireset_sim.collect.visual import VisualRandomizationCfg
    from omnireset_sim.collect.warp_render import WarpBatchRenderer

    r = WarpBatchRenderer(warp_env.engine, ("side",), 32, 32, VisualRandomizationCfg(enabled=False))
    try:
        first, _ = r.render_all()  # uncaptured, then captured
        again, _ = r.render_all()  # graph replay, same state
        assert np.array_equal(first["side"], again["side"])
        saved = warp_env.engine.wd.qpos.numpy().copy()
        qpos = torch.as_tensor(saved)
        qpos[:, :6] += 0.4  # move the arm of every world
        warp_env.engine.wd.qpos.assign(qpos.numpy())
        moved, _ = r.render_all()
        warp_env.engine.wd.qpos.assign(saved)
        assert np.abs(moved["side"].astype(int) - first["side"]).mean() > 1.0
    finally:
        r.close()


@needs_warp
def test_the_contact_flag_agrees_with_opengls_forward_pass(warp_env):
    import mujoco

    from omnireset_sim.collect.visual import RandomizedRenderer, VisualRandomizationCfg
    from omnireset_sim.collect.warp_render import WarpBatchRenderer

    e = warp_env.engine
    vis = VisualRandomizationCfg(enabled=False)
    warp = WarpBatchRenderer(e, ("front",), 16, 16, vis)
    gl = RandomizedRenderer(e, ("front",), 16, 16, vis)
    saved = e.wd.qpos.numpy().copy()
    try:
        # world 1: the peg moved against the left finger pad, 3 mm into it along the pad's normal: a
        # gripper/target contact. (Not deeper: a peg wholly inside a gripper box is a contact to
        # MuJoCo C's box-box collider and none to MuJoCo Warp's, a physics-side difference.)
        m = e.model
        d = mujoco.MjData(m)
        d.qpos[:] = saved[1]
        mujoco.mj_forward(m, d)
        pad = m.geom("finger_left_pad").id
        normal = d.geom_xmat[pad].reshape(3, 3)[:, 1]  # the pad's thin axis
        qpos = saved.copy()
        qpos[1, e._target_qpos : e._target_qpos + 3] = d.geom_xpos[pad] - normal * (m.geom_size[pad][1] + 0.01 - 0.003)
        qpos[1, e._target_qpos + 3 : e._target_qpos + 7] = d.xquat[m.geom_bodyid[pad]]  # peg aligned with the pad
        e.wd.qpos.assign(qpos)
        _, contact_warp = warp.render_all()
        _, contact_gl = gl.render_all()
        assert contact_gl.tolist() == [False, True]
        assert contact_warp.tolist() == contact_gl.tolist()
    finally:
        e.wd.qpos.assign(saved)
        warp.close()
        gl.close()


def _shard_layout(path: Path) -> dict:
    layout = {}
    with h5py.File(path, "r") as f:
        layout["attrs"] = sorted(f.attrs.keys())
        f.visititems(lambda name, obj: layout.__setitem__(name, (obj.shape, obj.dtype.str, obj.chunks))
                     if isinstance(obj, h5py.Dataset) else None)
    return layout


@needs_warp
@pytest.mark.slow
def test_shards_written_with_the_warp_renderer_have_the_opengl_layout(tmp_path, capsys, engine_defaults):
    from omnireset_sim.collect.cli import main as collect_main

    common = ["--expert", str(EXPERT), "--num-envs", "2", "--episodes", "2", "--episode-seconds", "0.2",
              "--image-size", "24", "32", "--keep-all", "--quiet", "--episodes-per-shard", "2",
              "--engine", "mujoco_warp", "--seed", "5",
              # nominal appearance: randomized procedural textures alias at 24x32 in the ray tracer
              # (no mip-maps; compare_renderers' "randomized" rows), which is not what this checks
              "--no-visual-randomization"]
    shards = {}
    for renderer in ("opengl", "warp"):
        rc = collect_main([*common, "--out", str(tmp_path / renderer), "--renderer", renderer])
        assert rc == 0, capsys.readouterr().err
        (shards[renderer],) = (tmp_path / renderer).glob(fmt.SHARD_GLOB)
    a, b = _shard_layout(shards["opengl"]), _shard_layout(shards["warp"])
    assert a == b  # same datasets, shapes, dtypes, chunks and attribute names
    with h5py.File(shards["opengl"], "r") as fo, h5py.File(shards["warp"], "r") as fw:
        assert json.loads(fw.attrs["renderer"])["name"] == "warp"
        assert json.loads(fo.attrs["renderer"])["name"] == "opengl"
        for i in range(2):
            eo, ew = fo[fmt.EPISODES_GROUP][fmt.episode_name(i)], fw[fmt.EPISODES_GROUP][fmt.episode_name(i)]
            # the same seeded worlds and appearance draws: same states, so the images are comparable
            np.testing.assert_allclose(eo["joint_pos"][()], ew["joint_pos"][()], atol=1e-5)
            for c in CAMERAS:
                img_o, img_w = eo[fmt.IMAGES_GROUP][c][()], ew[fmt.IMAGES_GROUP][c][()]
                assert img_w.std() > 5.0
                # 24x32 frames are mostly edges: a looser bound than MAD_BOUND at 64x64 (measured 4-7)
                assert np.abs(img_o.astype(int) - img_w).mean() <= 2 * MAD_BOUND, c


def _one_line_exit_2(capsys, fn, argv):
    rc = fn(argv)
    assert rc == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


@needs_warp
def test_warp_renderer_without_the_warp_engine_or_its_api_is_refused_in_one_line(monkeypatch, capsys,
                                                                                 engine_defaults, tmp_path):
    from omnireset_sim.collect.cli import main as collect_main

    argv = ["--expert", str(EXPERT), "--out", str(tmp_path / "o"), "--renderer", "warp", "--quiet"]
    err = _one_line_exit_2(capsys, collect_main, argv)
    assert err.startswith("collect: error:") and "needs --engine mujoco_warp" in err
    monkeypatch.delattr(sys.modules["mujoco_warp"], "create_render_context")
    err = _one_line_exit_2(capsys, collect_main, [*argv, "--engine", "mujoco_warp"])
    assert "lacks create_render_context" in err and "pip install mujoco-warp" in err
    assert not (tmp_path / "o").exists()


def test_the_warp_renderer_refuses_an_engine_that_is_not_mujoco_warp():
    from omnireset_sim.collect.warp_render import WarpBatchRenderer
    from omnireset_sim.envs.vec_env import make_env

    env = make_env("peg_insertion", "easy", 1, engine="mujoco")
    try:
        with pytest.raises(ValueError, match="--engine mujoco_warp"):
            WarpBatchRenderer(env.engine, ("front",), 16, 16)
    finally:
        env.close()
