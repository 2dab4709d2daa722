"""Distributed training (rsl-rl's multi-GPU mode under torchrun) on the CPU with gloo: 2 ranks x 8
envs x 2 iterations, launched the way a GPU machine launches it (`python -m torch.distributed.run`).

What must hold: the ranks end with bit-identical networks (rank 0's broadcast + the gradient /
normalizer all-reduce worked); the run differs from the single-process run with the same seed
exactly where it should (the weights: gradients averaged over both ranks' data; the normalizers:
twice the samples) and nowhere else (rank 0's worlds and random streams after iteration 1 are
the single-process run's; rank 1's are its own, seed + 1); only rank 0 writes; --resume with the
same number of ranks continues exactly; bad device / rank input is one line and exit 2."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from omnireset_sim.rl import train
from omnireset_sim.rl.checkpoint import read_checkpoint
from omnireset_sim.rl.distributed import DistContext, rank_device, state_digest
from omnireset_sim.rl.runner import METRICS_FILE

ROOT = Path(__file__).resolve().parents[3]
NUM_ENVS, STEPS, ITERATIONS = 8, 4, 2
COMMON = ["--task", "peg_insertion", "--variant", "easy", "--num-envs", str(NUM_ENVS), "--num-steps-per-env",
          str(STEPS), "--save-interval", "1", "--nthread", "1", "--torch-threads", "1", "--print-every", "100",
          "--seed", "5"]
DIGEST = re.compile(r"train\[rank (\d)/2\]: networks ([0-9a-f]{64})")


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join(
        str(ROOT / "src" / p) for p in ("omnireset_sim", "omnireset_control", "omnireset_policy"))
    env["OMP_NUM_THREADS"] = "1"  # torchrun's default for its workers; the single run matches it
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(args, ranks: int | None = None):
    launcher = [] if ranks is None else ["-m", "torch.distributed.run", "--nproc_per_node", str(ranks),
                                         "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    cmd = [sys.executable, *launcher, "-m", "omnireset_sim.rl.train", *COMMON, *args]
    proc = subprocess.run(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


def _equal(a, b) -> bool:
    """Bit-equality of nested checkpoint data (dicts, tensors, numpy arrays, plain values)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _nets(ckpt):
    return {"actor": ckpt["actor_state_dict"], "critic": ckpt["critic_state_dict"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    single, dist, resumed = root / "single", root / "dist", root / "resumed"
    _train(["--max-iterations", str(ITERATIONS), "--run-dir", str(single)])
    out = _train(["--max-iterations", str(ITERATIONS), "--run-dir", str(dist)], ranks=2)
    out_resumed = _train(["--max-iterations", "1", "--resume", str(dist / "model_1.pt"), "--run-dir", str(resumed)],
                         ranks=2)
    return single, dist, resumed, out, out_resumed


def test_ranks_end_with_identical_networks(runs):
    _, dist, _, out, _ = runs
    digests = dict(DIGEST.findall(out))
    assert set(digests) == {"0", "1"}, out[-3000:]
    ckpt = read_checkpoint(dist / f"model_{ITERATIONS}.pt")
    # Each rank's own account of its networks, the digests gathered into the checkpoint, and the
    # checkpoint's weights themselves: one value.
    written = state_digest(ckpt["actor_state_dict"], ckpt["critic_state_dict"])
    assert digests["0"] == digests["1"] == written
    assert ckpt["distributed"]["digests"] == [written, written]
    assert ckpt["distributed"]["world_size"] == 2 and ckpt["distributed"]["backend"] == "gloo"
    assert "backend gloo -- test mode" in out


def test_distributed_run_differs_from_one_process_only_where_it_should(runs):
    single, dist, _, _, _ = runs
    for it in (1, ITERATIONS):
        s, d = read_checkpoint(single / f"model_{it}.pt"), read_checkpoint(dist / f"model_{it}.pt")
        # The weights: gradients averaged over both ranks' samples -> not the single run's.
        assert not _equal(_nets(s)["actor"], _nets(d)["actor"]), f"iteration {it}: actor equals the single run's"
        # The normalizers saw both ranks' samples: exactly twice as many.
        for net in ("actor", "critic"):
            assert int(_nets(s)[net]["obs_normalizer.count"]) == it * STEPS * NUM_ENVS
            assert int(_nets(d)[net]["obs_normalizer.count"]) == 2 * it * STEPS * NUM_ENVS
        meta = d["infos"]["omnireset"]
        assert meta["world_size"] == 2 and meta["seed"] == 5 and meta["env_cfg"]["seed"] == 5
        assert meta["env_steps"] == 2 * it * STEPS * NUM_ENVS
    # After iteration 1 rank 0 has rolled out with the broadcast initial networks = the single
    # run's (seed 5) on the single run's worlds: same worlds, same random streams, bit for bit.
    s, d = read_checkpoint(single / "model_1.pt"), read_checkpoint(dist / "model_1.pt")
    assert _equal(s["env_state"], d["env_state"])
    assert torch.equal(s["rng"]["torch"], d["rng"]["torch"]) and torch.equal(s["rng"]["env"], d["rng"]["env"])
    # Rank 1 (seed 6) has worlds and streams of its own.
    other = d["distributed"]["other_ranks"]
    assert len(other) == 1
    assert not np.array_equal(other[0]["env_state"]["engine"]["state"], d["env_state"]["engine"]["state"])
    assert not torch.equal(other[0]["rng"]["env"], d["rng"]["env"])
    # Iteration 2 rolled out with different networks: rank 0's worlds now differ from the single run's.
    s2, d2 = read_checkpoint(single / "model_2.pt"), read_checkpoint(dist / "model_2.pt")
    assert not np.array_equal(s2["env_state"]["engine"]["state"], d2["env_state"]["engine"]["state"])


def test_only_rank_zero_writes(runs):
    single, dist, _, _, _ = runs
    names = {p.name for p in dist.iterdir()}
    assert {"config.json", METRICS_FILE, "model_1.pt", "model_2.pt", "git"} <= names
    assert len([n for n in names if n.startswith("events.out.tfevents")]) == 1
    assert names - {"config.json", METRICS_FILE, "model_1.pt", "model_2.pt", "git"} == {
        n for n in names if n.startswith("events.out.tfevents")}
    lines = (dist / METRICS_FILE).read_text().splitlines()
    assert len(lines) == ITERATIONS  # one writer, not one per rank


def test_distributed_resume_continues_exactly(runs):
    _, dist, resumed, _, out = runs
    a, b = read_checkpoint(dist / "model_2.pt"), read_checkpoint(resumed / "model_2.pt")
    assert "resumed from" in out and out.count("resumed from") == 1
    for net in ("actor_state_dict", "critic_state_dict"):
        for name, value in a[net].items():
            assert torch.equal(value, b[net][name]), f"{net}.{name} differs after a distributed resume"
    moments_a, moments_b = a["optimizer_state_dict"]["state"], b["optimizer_state_dict"]["state"]
    assert all(torch.equal(moments_a[k]["exp_avg"], moments_b[k]["exp_avg"]) for k in moments_a)
    # both ranks' worlds continued where they were
    assert _equal(a["env_state"], b["env_state"])
    assert _equal(a["distributed"]["other_ranks"], b["distributed"]["other_ranks"])


def test_ranks_stop_together_on_the_time_budget(tmp_path):
    """Each rank measures its own clock; the stop is agreed (a rank that stopped alone would leave
    the other waiting in its next all-reduce: this run would hang to the timeout instead)."""
    out = _train(["--max-iterations", "1000", "--max-time-s", "0.01", "--run-dir", str(tmp_path / "budget")], ranks=2)
    assert "wall-clock budget of 0 s reached after 1 iterations" in out
    assert len(dict(DIGEST.findall(out))) == 2 and len(set(dict(DIGEST.findall(out)).values())) == 1
    assert read_checkpoint(tmp_path / "budget" / "model_1.pt")["distributed"]["world_size"] == 2


def test_resume_with_another_number_of_ranks_is_refused(runs, capsys):
    _, dist, _, _, _ = runs
    rc = train.main([*COMMON, "--max-iterations", "1", "--resume", str(dist), "--run-dir", str(dist.parent / "x")])
    err = capsys.readouterr().err
    assert rc == train.EXIT_BAD_INPUT and "world size (torchrun ranks): 2 -> 1" in err and err.count("\n") == 1


def _one_line_exit_2(capsys, argv, monkeypatch, **environ):
    for k, v in environ.items():
        monkeypatch.setenv(k, v)
    try:
        rc = train.main(argv)
    except SystemExit as exc:  # apply_engine_args exits itself
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == train.EXIT_BAD_INPUT, err
    assert err.count("\n") == 1 and err.startswith("train: error:") and "Traceback" not in err
    return err


def test_bad_device_or_rank_input_is_one_line_and_exit_2(capsys, monkeypatch):
    ranks = dict(WORLD_SIZE="2", RANK="1", LOCAL_RANK="1")
    err = _one_line_exit_2(capsys, ["--engine", "mujoco_warp", "--device", "cuda:0"], monkeypatch, **ranks)
    assert "LOCAL_RANK=1 trains on cuda:1" in err and "--device is cuda:0" in err
    err = _one_line_exit_2(capsys, ["--device", "cpu"], monkeypatch, WORLD_SIZE="2", RANK="2", LOCAL_RANK="0")
    assert "RANK=2" in err
    err = _one_line_exit_2(capsys, ["--device", "cpu"], monkeypatch, WORLD_SIZE="two", RANK="0", LOCAL_RANK="0")
    assert "WORLD_SIZE='two'" in err
    if not torch.cuda.is_available():
        # no GPU: --device cuda is refused, whether or not torchrun launched the process
        err = _one_line_exit_2(capsys, ["--engine", "mujoco_warp", "--device", "cuda"], monkeypatch, **ranks)
        assert "cuda:1" in err and ("GPU" in err or "mujoco_warp" in err)
        for k in ranks:
            monkeypatch.delenv(k)
        err = _one_line_exit_2(capsys, ["--engine", "mujoco_warp", "--device", "cuda"], monkeypatch)
        assert "GPU" in err or "mujoco_warp" in err


def test_rank_device_rules():
    single, rank1 = DistContext(), DistContext(world_size=2, rank=1, local_rank=1)
    assert rank_device("cuda:3", single) == "cuda:3"  # one process keeps its device
    assert rank_device("cpu", rank1) == "cpu"  # gloo test mode
    if not torch.cuda.is_available() or torch.cuda.device_count() >= 2:
        assert rank_device("cuda", rank1) == rank_device("cuda:1", rank1) == "cuda:1"
    with pytest.raises(ValueError, match="LOCAL_RANK=1 trains on cuda:1"):
        rank_device("cuda:0", rank1)
    assert DistContext.from_env({}) == single
    assert DistContext.from_env({"WORLD_SIZE": "1", "RANK": "0"}) == single
    assert DistContext.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == DistContext(4, 3, 1)
