"""Expert data collection: shards written atomically with the documented layout, visual
randomization changes the rendered views, bad configuration refused."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from omnireset_policy.student import shard_format as fmt
from omnireset_sim.collect.cli import main as collect_main
from omnireset_sim.collect.collector import CollectConfig, collect
from omnireset_sim.collect.visual import RandomizedRenderer, VisualRandomizationCfg
from omnireset_sim.envs.vec_env import make_env
from omnireset_sim.mdp.actions import ACTION_CLIP

REPO = Path(__file__).resolve().parents[3]
EXPERT = REPO / "src" / "omnireset_bringup" / "policies" / "demo"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    cfg = CollectConfig(expert=str(EXPERT), out_dir=str(out), num_envs=2, num_episodes=2, episode_seconds=0.3,
                        width=32, height=24, keep_all=True, episodes_per_shard=1, seed=3)
    return out, collect(cfg)


def test_collect_writes_one_shard_per_episode_with_the_documented_layout(collected):
    out, stats = collected
    shards = sorted(out.glob(fmt.SHARD_GLOB))
    assert stats.episodes_kept == 2 and len(shards) == 2
    assert not list(out.glob(".*tmp*"))  # no temporary files left behind
    # 3 cameras per world per policy step
    assert stats.frames_rendered == 3 * stats.steps
    with h5py.File(shards[0], "r") as f:
        assert f.attrs["format"] == fmt.FORMAT_NAME
        assert json.loads(f.attrs["cameras"]) == ["front", "side", "wrist"]
        assert json.loads(f.attrs["image_size"]) == [24, 32]
        assert json.loads(f.attrs["camera_fovy_deg"]) == {"front": 50.0, "side": 50.0, "wrist": 75.0}  # cameras.yaml
        assert "fixed" in f.attrs["expert_std_source"]
        assert json.loads(f.attrs["provenance"])["made_by"] == "omnireset_sim.collect"
        ep = f[fmt.EPISODES_GROUP][fmt.episode_name(0)]
        length = int(ep.attrs["length"])
        assert length == 3  # 0.3 s episode at 10 Hz
        for cam in ("front", "side", "wrist"):
            img = ep[fmt.IMAGES_GROUP][cam]
            assert img.shape == (length, 24, 32, 3) and img.dtype == np.uint8 and img.chunks == (1, 24, 32, 3)
            assert img[()].std() > 1.0  # a real picture, not a blank frame
        for name, shape in fmt.STEP_ARRAYS.items():
            assert ep[name].shape == (length, *shape)
        assert np.allclose(ep["action_std"][()], 0.1)
        # step 0's last action is zero (fresh episode), later ones are the expert's previous mean
        assert np.allclose(ep["last_action"][0], 0.0)
        assert ACTION_CLIP is None  # no clamp, as released: the env applies the expert's action as given
        assert np.allclose(ep["last_action"][1:], ep["action_mean"][:-1], atol=1e-5)
        # rotation columns of the stored object poses are unit vectors
        assert np.allclose(np.linalg.norm(ep["target_pose"][:, 3:6], axis=1), 1.0, atol=1e-4)


def test_successful_only_by_default_stores_nothing_when_nothing_succeeds(tmp_path):
    # 0.2 s episodes from reaching resets cannot reach the goal: nothing is kept, no shard written
    cfg = CollectConfig(expert=str(EXPERT), out_dir=str(tmp_path), num_envs=2, num_episodes=1, max_attempts=2,
                        episode_seconds=0.2, width=16, height=16, cameras=("front",))
    stats = collect(cfg)
    assert stats.episodes_run == 2 and stats.episodes_kept == 0 and stats.successes == 0
    assert list(tmp_path.glob(fmt.SHARD_GLOB)) == []


def test_visual_randomization_changes_views_and_stays_within_camera_ranges():
    env = make_env("peg_insertion", "easy", 1)
    r = RandomizedRenderer(env.engine, ("front", "wrist"), 32, 32, VisualRandomizationCfg(), seed=0)
    try:
        before, _ = r.render_world(0)
        again, _ = r.render_world(0)
        assert all(np.array_equal(before[c], again[c]) for c in before)  # deterministic for fixed appearance
        r.randomize(0)
        after, contact = r.render_world(0)
        assert isinstance(contact, bool)
        for cam in before:
            assert np.abs(before[cam].astype(int) - after[cam]).mean() > 2.0
        a, n = r.appearance[0], r.nominal
        assert np.abs(a.cam_pos - n.cam_pos).max() <= 0.05 + 1e-12
        assert np.abs(a.cam_fovy - n.cam_fovy).max() <= 2.0 + 1e-12
        # rotation jitter: angle between nominal and jittered camera quaternions <= 2 deg
        dots = np.abs(np.sum(a.cam_quat * n.cam_quat, axis=1)).clip(max=1.0)
        assert np.degrees(2 * np.arccos(dots)).max() <= 2.0 + 1e-6
        # the engine's own model is untouched (rendering copy only)
        assert np.array_equal(env.engine.model.geom_rgba, r.nominal.geom_rgba)
    finally:
        r.close()
        env.close()


def test_textures_from_the_bank_are_drawn_and_leave_the_physics_alone(tmp_path):
    env = make_env("peg_insertion", "easy", 1)
    cfg = VisualRandomizationCfg(texture_probability=1.0, num_textures=6)
    r = RandomizedRenderer(env.engine, ("front",), 48, 48, cfg, seed=4)
    try:
        assert r.texture_materials.size == 6
        # physics fields of the render model equal the engine's (only materials/textures were added)
        for field in ("body_mass", "geom_size", "geom_friction", "dof_damping", "jnt_range"):
            assert np.array_equal(getattr(r.model, field), getattr(env.engine.model, field))
        plain, _ = r.render_world(0)
        r.randomize(0)
        textured, _ = r.render_world(0)
        table = r.groups["table"]
        assert set(r.appearance[0].geom_matid[table].tolist()) <= set(r.texture_materials.tolist())
        assert np.abs(plain["front"].astype(int) - textured["front"]).mean() > 2.0
        # a textured table shows a pattern: more distinct colours than the flat-shaded nominal one
        assert len(np.unique(textured["front"].reshape(-1, 3), axis=0)) > 20
        with pytest.raises(ValueError, match="texture_probability"):
            VisualRandomizationCfg(texture_probability=1.5)
    finally:
        r.close()
        env.close()


def test_unknown_camera_and_bad_config_refused(tmp_path, capsys):
    env = make_env("peg_insertion", "easy", 1)
    try:
        with pytest.raises(ValueError, match="unknown camera"):
            RandomizedRenderer(env.engine, ("front", "top"), 16, 16)
    finally:
        env.close()
    with pytest.raises(ValueError, match="expert_std"):
        CollectConfig(expert=str(EXPERT), expert_std=(0.1, float("nan")))
    rc = collect_main(["--expert", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err  # bad input: exit 2, like train/evaluate


def test_cli_collects_from_the_reset_dataset(tmp_path, capsys, tiny_reset_dataset):
    rc = collect_main(["--expert", str(EXPERT), "--out", str(tmp_path), "--reset-dataset", str(tiny_reset_dataset),
                       "--reset-types", "near_goal", "--num-envs", "2", "--episodes", "2", "--episode-seconds", "0.2",
                       "--image-size", "16", "16", "--cameras", "wrist", "--keep-all", "--quiet",
                       "--episodes-per-shard", "2"])
    assert rc == 0, capsys.readouterr().err
    (shard,) = tmp_path.glob(fmt.SHARD_GLOB)
    with h5py.File(shard, "r") as f:
        assert f.attrs["reset_sampler"] == "DatasetResetSampler"
        assert json.loads(f.attrs["reset_types_requested"]) == ["near_goal"]
        names = [f[fmt.EPISODES_GROUP][fmt.episode_name(i)].attrs["reset_type_name"] for i in range(2)]
        assert names == ["near_goal", "near_goal"]
    rc = collect_main(["--expert", str(EXPERT), "--out", str(tmp_path / "x"), "--reset-dataset",
                       str(tiny_reset_dataset), "--reset-types", "flying", "--quiet"])
    assert rc == 2 and "flying" in capsys.readouterr().err


def test_episodes_whose_object_leaves_the_bound_are_not_stored(tmp_path):
    # a 1 cm bound around the robot base: every object is "escaped", so nothing is stored
    cfg = CollectConfig(expert=str(EXPERT), out_dir=str(tmp_path), num_envs=2, num_episodes=1, max_attempts=2,
                        episode_seconds=0.2, width=16, height=16, cameras=("front",), keep_all=True,
                        object_bound_m=0.01)
    stats = collect(cfg)
    assert stats.episodes_run == 2 and stats.episodes_object_escaped == 2 and stats.episodes_kept == 0
    assert list(tmp_path.glob(fmt.SHARD_GLOB)) == []
