"""Reset datasets on the engine's device (DatasetResetSampler.to): the moved sampler draws the
rows the CPU sampler draws for a generator seeded alike, never reads a value back to the host
(checked on torch's data-less meta device, where any such read raises), and the env moves its
sampler to its own device and precision. On a CUDA machine the same checks run on cuda:0."""

import pytest
import torch

from omnireset_sim.envs import make_env
from omnireset_sim.mdp.events import RandomizationCfg
from omnireset_sim.resets import DatasetResetSampler

NO_RANDOM = RandomizationCfg(enabled=False)
FIELDS = ("joint_pos", "gripper_closed", "gripper_opening", "target_pos", "target_quat", "receptive_pos",
          "receptive_quat", "reset_type")
DEVICES = ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def sampler(tiny_reset_dataset):
    return DatasetResetSampler(tiny_reset_dataset, weights={"reaching": 1.0, "stable_grasp": 2.0, "near_goal": 1.0})


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_moved_sampler_draws_what_the_cpu_sampler_draws(sampler, device, dtype):
    moved = sampler.to(device, dtype)
    assert moved.device == torch.device(device) and moved.dtype == dtype
    assert moved.joint_pos.device == torch.device(device) and moved.joint_pos.dtype == dtype
    assert moved.weights.dtype == torch.float64  # the sampling math keeps its precision
    ids = torch.arange(64)
    ref = sampler.sample(ids, torch.Generator().manual_seed(11))
    got = moved.sample(ids.to(device), torch.Generator(device=device).manual_seed(11))
    for name in FIELDS:
        a, b = getattr(ref, name), getattr(got, name)
        assert b.device == torch.device(device), name
        if device == "cpu":  # one generator algorithm: the same rows, bit for bit
            assert torch.equal(a.to(b.dtype), b), name
    if device == "cpu":
        # the draws are the dataset's own rows, of the weighted types only
        assert set(got.reset_type.tolist()) <= {0, 2, 3} and len(set(got.reset_type.tolist())) >= 2
    else:  # CUDA's generator is another stream: same support, not the same draws
        assert set(got.reset_type.tolist()) <= {0, 2, 3}
    # consecutive draws advance the stream (not one fixed batch)
    again = moved.sample(ids.to(device), torch.Generator(device=device).manual_seed(12))
    assert not torch.equal(again.joint_pos, got.joint_pos)


def test_to_is_identity_where_nothing_changes_and_keeps_the_dataset(sampler):
    assert sampler.to("cpu") is sampler and sampler.to("cpu", torch.float64) is sampler
    moved = sampler.to("cpu", torch.float32)
    assert moved is not sampler and moved.dataset is sampler.dataset
    assert sampler.joint_pos.dtype == torch.float64  # the original is untouched
    assert moved.counts.tolist() == sampler.counts.tolist()


def test_sampling_reads_nothing_back_to_the_host(sampler):
    """torch's meta device holds shapes but no data: a .item(), bool(), int() or nonzero on a value
    raises there. Sampling all the way to the reset states runs, so it synchronises nowhere."""
    meta = sampler.to("meta", torch.float32)
    state = meta.sample(torch.empty(4096, device="meta"), None)
    assert state.joint_pos.shape == (4096, 6) and state.joint_pos.device.type == "meta"
    assert state.reset_type.shape == (4096,) and state.target_quat.shape == (4096, 4)
    with pytest.raises((RuntimeError, NotImplementedError)):
        bool(state.reset_type.any())  # what a host read would do there


def test_env_moves_its_sampler_to_its_device_and_precision(tiny_reset_dataset):
    """The MuJoCo Warp env (float32, here on Warp's CPU device) holds a float32 copy of the sampler
    and resets from it; the MuJoCo C env (CPU float64) keeps the very sampler it was given. Both
    draw the same reset types and states from the same seed."""
    pytest.importorskip("mujoco_warp")
    given = DatasetResetSampler(tiny_reset_dataset)
    c = make_env("peg_insertion", "easy", 6, reset_sampler=given, engine="mujoco", randomization=NO_RANDOM, seed=3,
                 nthread=0)
    w = make_env("peg_insertion", "easy", 6, reset_sampler=given, engine="mujoco_warp", randomization=NO_RANDOM,
                 seed=3)
    try:
        assert c.reset_sampler is given and c.reset_generator is c.generator
        assert w.reset_sampler is not given and w.reset_sampler.dtype == torch.float32
        assert w.reset_sampler.device == w.device and w.reset_sampler.joint_pos.device == w.device
        assert w.reset_sampler.dataset is given.dataset  # checkpoints still name the dataset
        assert c.reset_type.tolist() == w.reset_type.tolist()
        # the worlds start from the same dataset rows (float32 apart)
        sc, sw = c.engine.state(), w.engine.state()
        assert torch.allclose(sc.joint_pos.double(), sw.joint_pos.double(), atol=1e-6)
        assert torch.allclose(sc.receptive_pos.double(), sw.receptive_pos.double(), atol=1e-6)
        # an auto-reset draws from the moved sampler on the env's device
        ids = torch.tensor([1, 4], device=w.device)
        w._reset_envs(ids)
        assert w.reset_type.device == w.device
    finally:
        c.close()
        w.close()
