"""rsl-rl's OnPolicyRunner with what training on OmniReset needs around it.

The rollout/update loop is rsl-rl's (PPO.act / process_env_step / compute_returns / update) with:
- success per reset type, weighted by finished episodes, to TensorBoard (`Success/<type>`, also
  against wall-clock seconds) and to `metrics.jsonl` (one line per iteration);
- the time split physics / env overhead / policy inference / PPO update (`Perf/*`);
- checkpoints `model_<iterations done>.pt` with OmniReset metadata (checkpoint.py), atomically
  written; resume refuses a checkpoint of another task / robot / observation layout;
- a non-finite loss or parameter stops training: the last good state (kept in memory, one
  iteration old) is written as the final checkpoint and the result says so;
- Ctrl-C (KeyboardInterrupt) saves the last completed iteration and returns;
- an optional wall-clock budget and the finetune curriculum (curriculum.py) fed with the success
  of every window of finished episodes;
- rsl-rl's distributed mode under torchrun (distributed.py): gloo on the CPU as well as NCCL on
  GPUs, per-rank seeds, success counts summed over the ranks (logs and curriculum agree), stop
  decisions (NaN, time budget) taken together, and only rank 0 writing -- checkpoints that carry
  every rank's RNG and env state.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rsl_rl.runners import OnPolicyRunner
from rsl_rl.utils import check_nan

from .checkpoint import (CheckpointError, atomic_torch_save, check_compatible, checkpoint_metadata, make_metadata,
                         read_checkpoint)
from . import distributed as dist_util

METRICS_FILE = "metrics.jsonl"
# Observations are clamped to +-OBS_LIMIT before the networks see them: a world that blew up can hand
# out float-max values (the env's nan_to_num), which would wreck the running normalizer's statistics.
# Every sane policy/critic value (m, rad, rad/s, policy units, masses) is far inside.
OBS_LIMIT = 1.0e3


class SuccessTracker:
    """Finished episodes and their final-step success, per reset type."""

    def __init__(self, names: tuple[str, ...]):
        self.names = tuple(names)
        self.reset()

    def reset(self) -> None:
        self.episodes = torch.zeros(len(self.names), dtype=torch.long)
        self.successes = torch.zeros(len(self.names), dtype=torch.long)

    def add(self, reset_types: torch.Tensor, dones: torch.Tensor, success: torch.Tensor) -> None:
        done = dones.to(torch.bool).cpu()
        if not bool(done.any()):
            return
        types = reset_types.cpu()[done].clamp(0, len(self.names) - 1)
        self.episodes += torch.bincount(types, minlength=len(self.names))
        self.successes += torch.bincount(types, weights=success.cpu()[done].to(torch.float64),
                                         minlength=len(self.names)).round().long()

    def merge(self, other: "SuccessTracker") -> None:
        self.episodes += other.episodes
        self.successes += other.successes

    def all_reduce(self, device: str) -> None:
        """Sum the counts over the ranks of a distributed run (one collective)."""
        summed = dist_util.all_reduce_sum(torch.stack([self.episodes, self.successes]), device)
        self.episodes, self.successes = summed[0].clone(), summed[1].clone()

    @property
    def total_episodes(self) -> int:
        return int(self.episodes.sum())

    def overall(self) -> float:
        n = self.total_episodes
        return float(self.successes.sum()) / n if n else math.nan

    def rates(self) -> dict[str, tuple[float, int]]:
        return {name: (float(self.successes[i]) / int(self.episodes[i]), int(self.episodes[i]))
                for i, name in enumerate(self.names) if int(self.episodes[i]) > 0}


class DeferredInterrupt:
    """Ctrl-C / SIGTERM during ``learn`` as a flag, acted on at the loop's next safe point (after an
    env step, after the update): a KeyboardInterrupt raised asynchronously can land inside the
    TensorBoard writer's queue or a lock, and the save that follows then never returns (seen once in
    CI: the process hung for 60 s after SIGINT). A second signal interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        return False


@dataclass
class LearnResult:
    status: str  # "finished" | "time_budget" | "interrupted" | "diverged"
    iterations_done: int
    checkpoint: Path | None
    message: str
    timing: dict = field(default_factory=dict)


def _finite_module(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


class OmniResetRunner(OnPolicyRunner):
    """See the module docstring. `log_dir=None` runs without logs or checkpoints (tests, benches)."""

    def __init__(self, env, agent_cfg: dict, log_dir: str | Path | None, *, seed: int = 0,
                 reset_source: str = "reaching", curriculum=None, finetune: bool = False, device: str = "cpu",
                 print_every: int = 1):
        # torchrun's rank (rank 0 / a single process: the run with `seed`); read before rsl-rl's
        # constructor, which calls _configure_multi_gpu.
        self.dist = dist_util.DistContext.from_env()
        torch.manual_seed(seed + self.dist.rank)  # every rank draws its own exploration noise
        self.agent_cfg = copy.deepcopy(agent_cfg)
        super().__init__(env, copy.deepcopy(agent_cfg), str(log_dir) if log_dir is not None else None, device)
        self.log_path = Path(log_dir) if log_dir is not None else None
        self.seed = int(seed)  # the run's seed (rank r's env and torch streams use seed + r)
        self._interrupted = False
        self.reset_source = reset_source
        self.curriculum = curriculum
        self.finetune = bool(finetune)
        self.print_every = max(1, int(print_every))
        self.wall_s = 0.0
        self.env_steps = 0
        self.timing = {"physics": 0.0, "env_other": 0.0, "inference": 0.0, "update": 0.0, "total": 0.0}
        self._writer_ready = False
        self.resumed_env_state = False
        if self.log_path is not None:
            self.add_git_repo_to_log(__file__)

    # ---- distribution --------------------------------------------------------------------------
    def _configure_multi_gpu(self) -> None:
        """rsl-rl's setup (cfg['multi_gpu'], the rank attributes its PPO and Logger read) without its
        hardcoded NCCL / cuda:LOCAL_RANK: gloo on the CPU (test mode), NCCL on cuda:LOCAL_RANK."""
        ctx = self.dist
        self.gpu_world_size, self.gpu_global_rank, self.gpu_local_rank = ctx.world_size, ctx.rank, ctx.local_rank
        self.is_distributed = ctx.distributed
        if not ctx.distributed:
            self.cfg["multi_gpu"] = None
            return
        expected = dist_util.rank_device(str(self.device), ctx)
        if expected != str(self.device):
            raise ValueError(f"rank {ctx.rank} (LOCAL_RANK {ctx.local_rank}) runs on {expected}, "
                             f"the runner was given {self.device}")
        self.cfg["multi_gpu"] = {"global_rank": ctx.rank, "local_rank": ctx.local_rank, "world_size": ctx.world_size}
        dist_util.init_process_group(ctx, str(self.device))

    @property
    def writes(self) -> bool:
        """Whether this process writes checkpoints and logs (rank 0 of a run with a log_dir)."""
        return self.log_path is not None and self.dist.is_main

    def network_digest(self, state: dict | None = None) -> str:
        """distributed.state_digest of the actor and critic (parameters and normalizers)."""
        state = self.alg.save() if state is None else state
        return dist_util.state_digest(state["actor_state_dict"], state["critic_state_dict"])

    def _rank_state(self) -> dict:
        """This process's random streams and worlds: what an exact resume restores per rank."""
        # torch's global generator (PPO mini-batches, exploration noise; on a GPU its CUDA stream
        # too) and the env's (resets, randomization).
        rng = {"torch": torch.get_rng_state(), "env": self.env.generator.get_state()}
        if str(self.device).startswith("cuda"):
            rng["cuda"] = torch.cuda.get_rng_state(torch.device(self.device))
        reset_gen = getattr(self.env, "reset_generator", None)
        if reset_gen is not None and reset_gen is not self.env.generator:
            rng["env_reset"] = reset_gen.get_state()
        # The worlds themselves (mid-episode states, histories, randomized dynamics, delays): a resumed
        # run steps on from here, not from fresh resets. The reset samplers keep no state of their
        # own; they draw from the env's generators, restored with the RNG above.
        env_state = self.env.state_dict() if hasattr(self.env.engine, "snapshot") else None
        return {"rng": rng, "env_state": env_state}

    def _load_rank_state(self, rank_state: dict) -> None:
        rng = rank_state.get("rng")
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            self.env.generator.set_state(rng["env"])
            if "cuda" in rng and str(self.device).startswith("cuda"):
                torch.cuda.set_rng_state(rng["cuda"], torch.device(self.device))
            reset_gen = getattr(self.env, "reset_generator", None)
            if "env_reset" in rng and reset_gen is not None and reset_gen is not self.env.generator:
                reset_gen.set_state(rng["env_reset"].cpu())
        if rank_state.get("env_state") is not None:
            self.env.load_state_dict(rank_state["env_state"])
            self.resumed_env_state = True

    # ---- checkpoints ---------------------------------------------------------------------------
    def metadata(self, iteration: int | None = None) -> dict:
        return make_metadata(
            self.env, self.agent_cfg, seed=self.seed, reset_source=self.reset_source,
            iteration=self.current_learning_iteration if iteration is None else iteration, wall_s=self.wall_s,
            env_steps=self.env_steps, finetune=self.finetune, world_size=self.gpu_world_size,
            curriculum=self.curriculum.state.as_dict() if self.curriculum is not None else None)

    def _save_state(self, state: dict, iteration: int, path: str | Path) -> Path | None:
        """Write a checkpoint (rank 0; None elsewhere). Distributed, every rank calls it at the same
        iteration: the ranks' states are gathered to rank 0 and their network digests compared
        (after an interrupt, which stops the ranks at different points, rank 0 writes alone)."""
        rank_state = self._rank_state()
        extra = None
        if self.is_distributed:
            extra = {"world_size": self.gpu_world_size, "backend": dist_util.backend_for(str(self.device)),
                     "other_ranks": None, "digests": None}
            if not self._interrupted:
                ranks = dist_util.gather_to_main(rank_state, self.dist)
                digests = dist_util.all_gather(self.network_digest(state), self.dist)
                if len(set(digests)) != 1:  # a broken all-reduce would train K different policies
                    raise RuntimeError(f"the ranks' networks differ at iteration {iteration} (digests "
                                       f"{[d[:12] for d in digests]}): distributed training is out of step")
                extra.update(other_ranks=ranks[1:] if ranks is not None else None, digests=digests)
        if not self.writes:
            return None
        data = dict(state)
        data["iter"] = int(iteration)
        data.update(rank_state)  # rank 0's (a single process: its own) at the top level
        if extra is not None:
            data["distributed"] = extra
        data["infos"] = {"omnireset": self.metadata(iteration)}
        return atomic_torch_save(data, path)

    def save(self, path: str | Path, infos: dict | None = None) -> Path | None:  # rsl-rl signature
        return self._save_state(self.alg.save(), self.current_learning_iteration, path)

    def checkpoint_path(self, iteration: int) -> Path:
        if self.log_path is None:
            raise ValueError("this runner has no log_dir to write checkpoints to")
        return self.log_path / f"model_{iteration}.pt"

    def load_checkpoint(self, path: str | Path, *, resume: bool = True, load_optimizer: bool = True) -> dict:
        """Load weights (and with `resume` the iteration count, time, curriculum) after checking the metadata."""
        data = read_checkpoint(path)
        meta = checkpoint_metadata(data)
        env = self.env
        check_compatible(meta, task=env.cfg.task, robot=env.cfg.scene.arm.robot, variant=env.cfg.variant,
                         obs_dims={k: int(v.shape[-1]) for k, v in env.get_observations().items()},
                         num_actions=env.num_actions, where=str(path))
        self.alg.load(data, {"actor": True, "critic": True, "optimizer": load_optimizer, "iteration": False},
                      strict=True)
        if resume:
            info = data.get("distributed")
            world = int(info["world_size"]) if info else 1
            if world != self.gpu_world_size:
                raise CheckpointError(f"{path} was written by a run of {world} rank(s), this one has "
                                      f"{self.gpu_world_size}: an exact continuation needs the same number "
                                      f"(torchrun --nproc_per_node {world})" if world > 1 else
                                      f"{path} was written by a single-process run, this one has "
                                      f"{self.gpu_world_size} ranks: resume it without torchrun")
            rank = self.dist.rank
            if rank == 0:
                self._load_rank_state(data)
            elif info.get("other_ranks") is not None:
                self._load_rank_state(info["other_ranks"][rank - 1])
            else:
                print(f"resume: {path} holds no state of rank {rank} (it was saved on an interrupt); this rank "
                      f"starts from fresh worlds, so the continuation is not exact", flush=True)
            self.current_learning_iteration = int(data["iter"])
            self.wall_s = float(meta.get("wall_s", 0.0))
            self.env_steps = int(meta.get("env_steps", 0))
            if self.curriculum is not None and meta.get("curriculum"):
                self.curriculum.load_state(meta["curriculum"])
        return meta

    # ---- training ------------------------------------------------------------------------------
    def _write(self, tag: str, value: float, step: int) -> None:
        writer = self.logger.writer
        if writer is not None and math.isfinite(value):
            writer.add_scalar(tag, value, step)

    def _append_metrics(self, record: dict) -> None:
        if not self.writes:
            return
        with open(self.log_path / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def learn(self, num_learning_iterations: int, init_at_random_ep_len: bool = False,
              max_time_s: float | None = None) -> LearnResult:
        env, alg, cfg = self.env, self.alg, self.cfg
        steps = int(cfg["num_steps_per_env"])
        save_interval = int(cfg["save_interval"])
        if init_at_random_ep_len and not self.resumed_env_state:  # a resumed env is mid-run already
            env.episode_length_buf = torch.randint_like(env.episode_length_buf, high=int(env.max_episode_length))
        if not self._writer_ready:
            self.logger.init_logging_writer()
            self._writer_ready = True
        obs = env.get_observations().to(self.device).clamp(-OBS_LIMIT, OBS_LIMIT)
        alg.train_mode()
        names = tuple(env.reset_sampler.reset_type_names)
        window = SuccessTracker(names)  # curriculum decisions
        distribution = getattr(alg.get_policy(), "distribution", None)
        start_it = self.current_learning_iteration
        total_it = start_it + int(num_learning_iterations)
        if not (_finite_module(alg.actor) and _finite_module(alg.critic)):
            raise ValueError("the networks hold NaN/Inf parameters before training starts (a corrupt checkpoint?)")
        if self.is_distributed:
            alg.broadcast_parameters()  # rank 0's networks (and normalizers) on every rank
        good_state, good_it = copy.deepcopy(alg.save()), start_it
        wall_at_start, t_start = self.wall_s, time.perf_counter()
        status, message = "finished", ""
        engine = env.engine
        stop = DeferredInterrupt()
        try:
            stop.__enter__()
            for it in range(start_it, total_it):
                iteration = SuccessTracker(names)
                t0 = time.perf_counter()
                phys0 = getattr(engine, "physics_seconds", 0.0)
                t_inference = t_env = 0.0
                if hasattr(distribution, "reset_noise"):
                    distribution.reset_noise()
                with torch.inference_mode():
                    for _ in range(steps):
                        a0 = time.perf_counter()
                        actions = alg.act(obs)
                        a1 = time.perf_counter()
                        reset_types = env.reset_type.clone()
                        obs, rewards, dones, extras = env.step(actions.to(env.device))
                        stop.check()
                        a2 = time.perf_counter()
                        if cfg.get("check_for_nan", True):
                            check_nan(obs, rewards, dones)
                        obs = obs.to(self.device).clamp(-OBS_LIMIT, OBS_LIMIT)
                        rewards, dones = rewards.to(self.device), dones.to(self.device)
                        alg.process_env_step(obs, rewards, dones, extras)
                        self.logger.process_env_step(rewards, dones, extras, None)
                        iteration.add(reset_types, dones, extras["success"])
                        t_inference += (a1 - a0) + (time.perf_counter() - a2)
                        t_env += a2 - a1
                    collect_time = time.perf_counter() - t0
                    u0 = time.perf_counter()
                    alg.compute_returns(obs)
                try:
                    loss_dict = alg.update()
                    failure = None
                except (RuntimeError, ValueError) as exc:
                    # torch refuses to sample / evaluate a distribution whose parameters went NaN mid-update.
                    if _finite_module(alg.actor) and _finite_module(alg.critic):
                        raise
                    loss_dict, failure = {}, f"the PPO update failed on NaN/Inf parameters ({str(exc).splitlines()[0]})"
                update_time = time.perf_counter() - u0
                stop.check()
                bad_loss = [k for k, v in loss_dict.items() if not math.isfinite(v)]
                bad = bool(failure or bad_loss or not (_finite_module(alg.actor) and _finite_module(alg.critic)))
                if self.is_distributed and dist_util.any_rank(bad, str(self.device)) and not bad:
                    bad, failure = True, "another rank's loss or networks became NaN/Inf"
                if bad:
                    what = failure or (f"loss {bad_loss} is NaN/Inf" if bad_loss else "network parameters became NaN/Inf")
                    alg_state = good_state
                    self.current_learning_iteration = good_it
                    alg.load(copy.deepcopy(alg_state), {"actor": True, "critic": True, "optimizer": True}, strict=True)
                    path = None
                    if self.log_path is not None:
                        path = self._save_state(good_state, good_it, self.checkpoint_path(good_it))
                    status = "diverged"
                    message = (f"training stopped in iteration {it + 1}: {what}; kept the last good state "
                               f"(iteration {good_it})" + (f" in {path}" if path else ""))
                    return self._finish(status, message, path)

                physics = getattr(engine, "physics_seconds", 0.0) - phys0
                self.timing["physics"] += physics
                self.timing["env_other"] += t_env - physics
                self.timing["inference"] += t_inference
                self.timing["update"] += update_time
                self.timing["total"] += collect_time + update_time
                self.current_learning_iteration = it + 1
                self.env_steps += steps * env.num_envs * self.gpu_world_size  # all ranks' samples
                if self.is_distributed:
                    iteration.all_reduce(str(self.device))  # the success of every rank's episodes
                window.merge(iteration)
                self.wall_s = wall_at_start + (time.perf_counter() - t_start)
                good_state, good_it = copy.deepcopy(alg.save()), it + 1

                curriculum_event = None
                if self.curriculum is not None and window.total_episodes >= self.curriculum.state.min_episodes:
                    curriculum_event = self.curriculum.update(window.overall(), window.total_episodes, it + 1)
                    window.reset()
                self._log_iteration(it, start_it, total_it, collect_time, update_time, loss_dict, iteration,
                                    curriculum_event)
                if self.log_path is not None and (it + 1) % save_interval == 0:
                    self.save(self.checkpoint_path(it + 1))
                over_budget = max_time_s is not None and time.perf_counter() - t_start >= max_time_s
                if self.is_distributed and max_time_s is not None:
                    over_budget = dist_util.any_rank(over_budget, str(self.device))  # stop together
                if over_budget:
                    status = "time_budget"
                    message = f"wall-clock budget of {max_time_s:.0f} s reached after {it + 1 - start_it} iterations"
                    break
        except KeyboardInterrupt:
            self._interrupted = True  # the ranks stopped at different points: no collective from here on
            alg.load(copy.deepcopy(good_state), {"actor": True, "critic": True, "optimizer": True}, strict=True)
            self.current_learning_iteration = good_it
            status = "interrupted"
            message = f"interrupted (Ctrl-C); saved the last completed iteration ({good_it})"
        finally:
            stop.__exit__()  # the save below runs with the caller's handlers
        path = None
        if self.log_path is not None:
            path = self.save(self.checkpoint_path(self.current_learning_iteration))
            self.logger.stop_logging_writer()
        if not message:
            message = f"finished {self.current_learning_iteration - start_it} iterations"
        return self._finish(status, message, path)

    def _finish(self, status: str, message: str, path) -> LearnResult:
        writer = self.logger.writer
        if writer is not None and hasattr(writer, "flush"):
            writer.flush()
        return LearnResult(status, self.current_learning_iteration, path, message, dict(self.timing))

    def _log_iteration(self, it, start_it, total_it, collect_time, update_time, loss_dict, tracker, event) -> None:
        done = it + 1
        rates = tracker.rates()
        if self.logger.writer is not None:
            if (done - start_it) % self.print_every == 0 or done == total_it:
                self.logger.log(it=it, start_it=start_it, total_it=total_it, collect_time=collect_time,
                                learn_time=update_time, loss_dict=loss_dict, learning_rate=self.alg.learning_rate,
                                action_std=self.alg.get_policy().output_std.detach(), rnd_weight=None)
            else:
                self.logger.ep_extras.clear()
            for name, (rate, _) in rates.items():
                self._write(f"Success/{name}", rate, it)
                self._write(f"Success_vs_wall_clock_s/{name}", rate, int(self.wall_s))
            self._write("Success/all", tracker.overall(), it)
            total = max(self.timing["total"], 1e-9)
            for key in ("physics", "env_other", "inference", "update"):
                self._write(f"Perf/share_{key}", self.timing[key] / total, it)
            if self.curriculum is not None:
                for name, level in self.curriculum.levels.items():
                    self._write(f"Curriculum/{name}", level, it)
        if event and self.dist.is_main:
            print(event, flush=True)
        self._append_metrics({
            "iteration": done, "wall_s": round(self.wall_s, 3), "env_steps": self.env_steps,
            "success": {k: v[0] for k, v in rates.items()}, "episodes": {k: v[1] for k, v in rates.items()},
            "success_all": tracker.overall() if tracker.total_episodes else None,
            "losses": loss_dict, "learning_rate": self.alg.learning_rate,
            "action_std": float(self.alg.get_policy().output_std.detach().mean()),
            "curriculum": self.curriculum.levels if self.curriculum is not None else None,
            "collect_s": round(collect_time, 4), "update_s": round(update_time, 4)})


def write_json(path: str | Path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


__all__ = ["LearnResult", "METRICS_FILE", "OBS_LIMIT", "OmniResetRunner", "SuccessTracker", "write_json"]
