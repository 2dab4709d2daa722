"""RGB student: collect -> shard -> distill -> export -> policy runner, and the bad-input paths
(corrupted shards skipped and counted, camera / image-size mismatches refused by name)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from omnireset_control.kinematics import BatchedKinematics, load_kinematics
from omnireset_policy.exported_policy import load_exported_policy
from omnireset_policy.policy_runner import RgbPolicyRunner
from omnireset_policy.student import shard_format as fmt
from omnireset_policy.student.augment import AugmentCfg, augment_images, gaussian_blur, random_grayscale
from omnireset_policy.student.dataset import DatasetMismatchError, ExpertDataset, ShardSkippedWarning
from omnireset_policy.student.distill import DistillConfig, distill, export_student
from omnireset_policy.student.distill import main as distill_main
from omnireset_policy.student.model import StudentPolicy, gaussian_kl, load_encoder_weights, make_encoder

REPO = Path(__file__).resolve().parents[3]
EXPERT = REPO / "src" / "omnireset_bringup" / "policies" / "demo"
CAMERAS = ("front", "side", "wrist")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two tiny episodes (2 worlds, 3 steps, 3 cameras at 64 x 64), one per shard."""
    from omnireset_sim.collect.collector import CollectConfig, collect

    out = tmp_path_factory.mktemp("expert")
    collect(CollectConfig(expert=str(EXPERT), out_dir=str(out), num_envs=2, num_episodes=2, episode_seconds=0.3,
                          width=64, height=64, keep_all=True, episodes_per_shard=1, seed=1))
    return out


def _tiny_cfg(data, run, **kw) -> DistillConfig:
    base = dict(data=[str(data)], run_dir=str(run), encoder="tiny", hidden=32, steps=2, batch_size=4,
                checkpoint_every=1, log_every=1, tensorboard=False)
    base.update(kw)
    return DistillConfig(**base)


def test_dataset_samples_stack_frames_oldest_first_with_first_frame_repeated(shards):
    ds = ExpertDataset(shards, CAMERAS, (64, 64), frame_stack=5)
    assert len(ds) == 6 and ds.num_episodes == 2 and ds.skipped == 0
    s0, s2 = ds[0], ds[2]
    assert s0["images"].shape == (3, 5, 3, 64, 64) and s0["images"].dtype == torch.uint8
    assert s0["proprio"].shape == (5 * 22,) and s0["aux"].shape == (18,)
    # at t = 0 every frame of the stack is frame 0
    assert all(torch.equal(s0["images"][:, k], s0["images"][:, 4]) for k in range(4))
    # at t = 2 the newest frame is frame 2, the oldest three repeat frame 0
    assert torch.equal(s2["images"][:, 0], s0["images"][:, 4]) and torch.equal(s2["images"][:, 2], s0["images"][:, 4])
    with h5py.File(sorted(shards.glob(fmt.SHARD_GLOB))[0], "r") as f:
        ep = f[fmt.EPISODES_GROUP][fmt.episode_name(0)]
        assert np.array_equal(s2["images"][1, 4].permute(1, 2, 0).numpy(), ep["images/side"][2])
        assert np.allclose(s2["action_mean"].numpy(), ep["action_mean"][2])
        assert np.allclose(s2["proprio"][-22:-16].numpy(), ep["joint_pos"][2])


def test_collect_distill_export_runs_in_the_policy_runner(shards, tmp_path):
    result = distill(_tiny_cfg(shards, tmp_path / "run"), progress=False)
    assert result.step == 2 and len(result.losses) == 2 and all(np.isfinite(result.losses))
    assert result.checkpoint.is_file()
    out = export_student(result.model, tmp_path / "export", (64, 64), result.dataset.index.attrs, seed=0)
    policy = load_exported_policy(out)
    assert policy.kind == "rgb" and policy.cameras["names"] == list(CAMERAS)
    assert policy.cameras["image_size"] == [64, 64] and policy.cameras["frame_stack"] == 5
    # the rendering cameras' field of view travels from the shards to the export (image_fit.py)
    assert policy.cameras["fovy_deg"] == {"front": 50.0, "side": 50.0, "wrist": 75.0}
    # deployed = the mean: the exported encoder + head reproduce the training model's mean exactly
    sample = result.dataset[3]
    images = sample["images"].to(torch.float32).div(255.0)[None]
    with torch.no_grad():
        mean, _, _ = result.model.eval()(images, sample["proprio"][None])
        feats = policy.modules["encoder"](images.reshape(-1, 3, 64, 64)).reshape(1, -1)
        exported_mean = policy.modules["head"](feats, sample["proprio"][None])
    assert torch.allclose(mean, exported_mean, atol=1e-5)
    runner = RgbPolicyRunner(policy, BatchedKinematics(load_kinematics("ur7e")))
    rng = np.random.default_rng(0)
    for tick in range(3):
        imgs = {c: (tick, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for c in CAMERAS}
        step = runner.step([0.1, -1.4, 1.6, -1.7, -1.57, 0.3], imgs)
        assert step.error == "" and step.action.shape == (7,) and np.isfinite(step.action).all()
        assert step.encoded_frames == 3


def test_distill_cli_resumes_from_the_newest_checkpoint(shards, tmp_path):
    run = tmp_path / "run"
    args = ["--data", str(shards), "--run", str(run), "--encoder", "tiny", "--batch-size", "2",
            "--checkpoint-every", "1", "--no-tensorboard", "--quiet"]
    assert distill_main(args + ["--steps", "1"]) == 0
    first = torch.load(run / "checkpoints" / "step_00000001.pt", weights_only=False)
    assert distill_main(args + ["--steps", "2", "--resume", "--export", str(tmp_path / "exp")]) == 0
    second = torch.load(run / "checkpoints" / "step_00000002.pt", weights_only=False)
    assert first["step"] == 1 and second["step"] == 2
    assert load_exported_policy(tmp_path / "exp").kind == "rgb"
    # resuming with another architecture is refused, naming the field
    with pytest.raises(ValueError, match="frame_stack"):
        distill(_tiny_cfg(shards, run, steps=3, frame_stack=3), resume=True, progress=False)


def test_corrupted_and_truncated_shards_are_skipped_and_counted(shards, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(shards, data)
    good = sorted(data.glob(fmt.SHARD_GLOB))
    raw = good[0].read_bytes()
    (data / fmt.shard_name(90)).write_bytes(raw[: len(raw) // 3])  # truncated
    (data / fmt.shard_name(91)).write_bytes(b"not an hdf5 file at all")
    with h5py.File(data / fmt.shard_name(92), "w") as f:  # right container, wrong content
        f.attrs["format"] = "something.else"
    shutil.copy(good[1], data / fmt.shard_name(93))
    with h5py.File(data / fmt.shard_name(93), "a") as f:  # NaN expert actions
        f[fmt.EPISODES_GROUP][fmt.episode_name(0)]["action_mean"][0, 0] = np.nan
    with pytest.warns(ShardSkippedWarning) as caught:
        ds = ExpertDataset(data, CAMERAS, (64, 64))
    assert ds.skipped == 4 and len(caught) == 4
    assert ds.num_episodes == 2 and len(ds) == 6
    reasons = dict((p.name, why) for p, why in ds.index.skipped)
    assert "NaN" in reasons[fmt.shard_name(93)] and "format" in reasons[fmt.shard_name(92)]
    # training goes on over the good shards
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShardSkippedWarning)
        result = distill(_tiny_cfg(data, tmp_path / "run", steps=1), progress=False)
    assert result.step == 1 and result.dataset.skipped == 4


def test_camera_or_image_size_mismatch_refused_with_the_mismatch_named(shards, tmp_path):
    with pytest.raises(DatasetMismatchError, match=r"missing \['top'\], extra \['side'\]"):
        ExpertDataset(shards, ("front", "top", "wrist"), (64, 64))
    with pytest.raises(DatasetMismatchError, match="different order"):
        ExpertDataset(shards, ("wrist", "front", "side"), (64, 64))
    with pytest.raises(DatasetMismatchError, match=r"expects \[height, width\] \[224, 224\].*\[64, 64\]"):
        ExpertDataset(shards, CAMERAS, (224, 224))
    rc = distill_main(["--data", str(shards), "--run", str(tmp_path / "r"), "--cameras", "front,side",
                       "--encoder", "tiny", "--steps", "1", "--no-tensorboard", "--quiet"])
    assert rc == 2


def test_kl_is_zero_for_equal_distributions_and_grows_with_the_mean_gap():
    mean = torch.randn(4, 7)
    std = torch.rand(4, 7) + 0.1
    assert torch.allclose(gaussian_kl(mean, std, mean, std.log()), torch.zeros(4), atol=1e-5)
    # unit stds: KL = |dmu|^2 / 2
    kl = gaussian_kl(torch.zeros(1, 7), torch.ones(1, 7), torch.full((1, 7), 2.0), torch.zeros(1, 7))
    assert torch.allclose(kl, torch.tensor([7 * 2.0]))


def test_augmentation_ranges_blur_and_grayscale():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 16, 16, generator=g)
    y = augment_images(x, generator=g)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1 and not torch.equal(x, y)
    flat = torch.full((2, 3, 8, 8), 0.3)
    assert torch.allclose(gaussian_blur(flat, AugmentCfg(), g), flat, atol=1e-6)  # blur keeps a flat image
    gray = random_grayscale(x, AugmentCfg(grayscale_p=1.0), g)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    assert torch.equal(random_grayscale(x, AugmentCfg(grayscale_p=0.0), g), x)
    with pytest.raises(ValueError, match="odd"):
        AugmentCfg(blur_kernel=4)


def test_augmentation_parameters_are_shared_within_a_frame_stack():
    # 2 stacks of 3 frames, every frame of a stack the same flat picture: the colour/blur/grayscale
    # draw is shared, so (noise off) a stack's frames stay identical while the two stacks differ.
    g = torch.Generator().manual_seed(1)
    base = torch.rand(2, 3, 1, 1, generator=g).expand(2, 3, 8, 8)
    x = base.repeat_interleave(3, dim=0).contiguous()
    cfg = AugmentCfg(noise_std=0.0, brightness=0.3, contrast=0.3, saturation=0.3)
    y = augment_images(x, cfg, generator=g, group_size=3)
    assert torch.allclose(y[0], y[1]) and torch.allclose(y[1], y[2])
    assert torch.allclose(y[3], y[5]) and not torch.allclose(y[0] - x[0], y[3] - x[3])
    per_image = augment_images(x, cfg, generator=g, group_size=1)
    assert not torch.allclose(per_image[0], per_image[1])
    with pytest.raises(ValueError, match="group_size"):
        augment_images(x, cfg, group_size=4)


def test_encoder_weights_load_from_torchvision_names_and_refuse_wrong_files(tmp_path):
    src = make_encoder("resnet18")
    renamed = {}
    for k, v in src.state_dict().items():  # write it the way torchvision's resnet18 names it
        if k.startswith("normalize."):
            continue
        k = k.replace("stem.0.", "conv1.").replace("stem.1.", "bn1.").replace("down.", "downsample.")
        if k.startswith("stages."):
            _, idx, rest = k.split(".", 2)
            k = f"layer{int(idx) // 2 + 1}.{int(idx) % 2}.{rest}"
        renamed[k] = v
    renamed["fc.weight"] = torch.zeros(1000, 512)
    torch.save(renamed, tmp_path / "tv.pt")
    dst = make_encoder("resnet18")
    load_encoder_weights(dst, tmp_path / "tv.pt")
    assert torch.equal(dst.stages[7].conv2.weight, src.stages[7].conv2.weight)
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="do not fit"):
        load_encoder_weights(make_encoder("resnet18"), tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_encoder_weights(dst, tmp_path / "absent.pt")


def test_student_network_shapes_follow_the_paper():
    model = StudentPolicy(CAMERAS, encoder="tiny")
    hidden = [m for m in model.head.net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in hidden] == [512, 512, 512, 512, 7]  # MLP 4 x 512 -> mean
    mean, log_std, aux = model(torch.rand(2, 3, 5, 3, 32, 32), torch.zeros(2, 5 * 22))
    assert mean.shape == log_std.shape == (2, 7) and aux.shape == (2, 18)


def test_evaluation_in_sim_runs_student_and_expert_from_reaching_resets(shards, tmp_path):
    from omnireset_sim.collect.evaluate_student import evaluate_policy

    result = distill(_tiny_cfg(shards, tmp_path / "run", steps=1), progress=False)
    out = export_student(result.model, tmp_path / "export", (64, 64), result.dataset.index.attrs, seed=0)
    student = evaluate_policy(out, episodes=2, num_envs=2, episode_seconds=0.2)
    assert student.kind == "rgb" and student.episodes == 2 and student.steps == 4
    assert student.runner_errors == [] and 0.0 <= student.success_rate <= 1.0
    expert = evaluate_policy(EXPERT, episodes=2, num_envs=2, episode_seconds=0.2)
    assert expert.kind == "state" and expert.episodes == 2


def test_dataset_refused_when_the_deployment_camera_config_differs(shards, tmp_path):
    from omnireset_sim.assets.cameras import default_cameras_path

    from omnireset_policy.student.dataset import check_camera_config

    # the shipped config renders 224 x 224; the tiny dataset is 64 x 64
    with pytest.raises(DatasetMismatchError, match=r"image size differs.*\[64, 64\].*\[224, 224\]"):
        check_camera_config(CAMERAS, (64, 64), default_cameras_path())
    text = default_cameras_path().read_text().replace("image_size: [224, 224]", "image_size: [64, 64]")
    same = tmp_path / "same.yaml"
    same.write_text(text)
    check_camera_config(CAMERAS, (64, 64), same)  # accepted
    with pytest.raises(DatasetMismatchError, match=r"camera names differ.*\['front', 'wrist'\]"):
        check_camera_config(("front", "wrist"), (64, 64), same)
    rc = distill_main(["--data", str(shards), "--run", str(tmp_path / "r"), "--camera-config",
                       str(default_cameras_path()), "--encoder", "tiny", "--steps", "1", "--no-tensorboard", "--quiet"])
    assert rc == 2


def test_dagger_collection_lets_the_student_act_while_the_expert_labels(shards, tmp_path):
    import json

    from omnireset_sim.collect.collector import CollectConfig, collect

    result = distill(_tiny_cfg(shards, tmp_path / "run", steps=1), progress=False)
    student = export_student(result.model, tmp_path / "student", (64, 64), result.dataset.index.attrs, seed=0)
    out = tmp_path / "dagger"
    stats = collect(CollectConfig(expert=str(EXPERT), out_dir=str(out), num_envs=2, num_episodes=1, max_attempts=2,
                                  episode_seconds=0.3, width=64, height=64, student=str(student), seed=2))
    assert stats.episodes_kept == 1  # kept without success: DAgger stores the student's own states
    (shard,) = out.glob(fmt.SHARD_GLOB)
    with h5py.File(shard, "r") as f:
        assert json.loads(f.attrs["dagger"])["beta"] == 0.0
        ep = f[fmt.EPISODES_GROUP][fmt.episode_name(0)]
        executed, labels = ep["last_action"][1:], ep["action_mean"][:-1]
    # the executed actions are the student's, not the expert's labels
    assert np.abs(executed - np.clip(labels, -10, 10)).max() > 1e-3
    with pytest.raises(ValueError, match="rgb"):
        collect(CollectConfig(expert=str(EXPERT), out_dir=str(tmp_path / "x"), student=str(EXPERT), width=64,
                              height=64))
