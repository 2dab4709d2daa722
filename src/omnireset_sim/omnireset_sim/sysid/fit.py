"""CMA-ES fit of the actuator parameters to one or more recordings, resumable, with report and plot.

Loss of a candidate = time-averaged squared joint-position error of its closed-loop replay,
averaged over the recordings: by default replayed in short windows (`FitConfig.window_time`),
each re-seeded from the recorded joint state and motor-delay history at its start
(replay.ClosedLoopReplay.run_windows), so a sensitive closed loop cannot carry a small parameter
error into a diverged trajectory; `window_time: 0` replays each recording whole
(replay.tracking_loss). Recordings the safety monitor stopped (`aborted`) are refused. The search runs in the normalized box
[0,1]^dim of `SearchSpace` (cma's bound transform) over the continuous parameters. The motor
delay is profiled exactly instead: each candidate is replayed at every delay of the box in the same
batch of worlds and scored by its best delay (a rounded CMA-ES coordinate let armature and friction
absorb a wrong delay on short recordings).

The CMA-ES state is pickled after every generation (atomically) next to the outputs; a rerun with
`resume=True` continues from it (the search space and recordings must be the same ones).
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cma
import numpy as np

from omnireset_policy.artifact_errors import ArtifactError, reading

from .params import SearchSpace, SysidParams
from .recording import Recording, RecordingError
from .replay import ClosedLoopReplay, ReplayPlan, per_joint_rmse_deg, plan_replay, tracking_loss

STATE_VERSION = 1


@dataclass(frozen=True)
class FitConfig:
    max_iterations: int = 150
    population: int | None = None  # None: cma's default 4 + 3 ln(dim)
    sigma0: float = 0.25  # initial step size in the normalized box
    seed: int = 1
    tol_fun: float = 1e-12
    x0: str = "center"  # "center" of the box or "nominal" (the search space's nominal parameters)
    # Replay the recordings in windows of this many seconds, each re-seeded from the recorded state
    # (replay.run_windows); 0: one closed-loop replay of each whole recording.
    window_time: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.window_time, bool) or not isinstance(self.window_time, (int, float)) \
                or not (math.isfinite(self.window_time) and self.window_time >= 0):
            raise ValueError(f"window_time must be a finite number of seconds >= 0, got {self.window_time!r}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")
        if self.population is not None and self.population < 2:
            raise ValueError(f"population must be >= 2, got {self.population}")
        if not (0 < self.sigma0 <= 1):
            raise ValueError(f"sigma0 must be in (0, 1], got {self.sigma0}")
        if self.x0 not in ("center", "nominal"):
            raise ValueError(f"x0 must be 'center' or 'nominal', got {self.x0!r}")


@dataclass
class FitResult:
    params: SysidParams
    loss: float
    iterations: int
    evaluations: int
    history: list[float]  # best loss per generation
    at_bounds: list[str]
    space: SearchSpace
    elapsed: float
    stop: dict = field(default_factory=dict)


def recording_digest(recordings: list[Recording]) -> str:
    h = hashlib.sha256()
    for rec in recordings:
        for arr in (rec.t, rec.q, rec.target_pos, rec.target_quat):
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _space_signature(space: SearchSpace) -> str:
    return repr((space.entries, {k: tuple(map(tuple, v)) for k, v in space.bounds.items()}, space.delay_bounds,
                 space.nominal))


def require_complete(rec: Recording, source: str = "recording") -> None:
    """Refuse a recording the safety monitor stopped (its metadata says `aborted`)."""
    if rec.metadata.get("aborted"):
        reason = rec.metadata.get("abort_reason", "no reason recorded")
        raise RecordingError(f"{source}: the chirp was stopped by the safety monitor ({reason}); an aborted "
                             "recording cannot be used for identification -- fix the cause and record again")


class Objective:
    """Loss of a batch of candidates over a set of recordings (plans built once).

    `window_time` > 0: each recording is replayed in windows of that many seconds re-seeded from
    the recorded state (`ClosedLoopReplay.run_windows`); 0: one closed-loop replay per recording."""

    def __init__(self, replay: ClosedLoopReplay, recordings: list[Recording], window_time: float = 0.0):
        if not recordings:
            raise ValueError("need at least one recording to fit")
        for i, rec in enumerate(recordings):
            require_complete(rec, rec.metadata.get("file", f"recording {i}"))
        self.replay = replay
        self.plans: list[ReplayPlan] = [plan_replay(r, replay.physics_dt) for r in recordings]
        self.window_steps = int(round(window_time / replay.physics_dt)) if window_time > 0 else 0
        self.evaluations = 0

    def losses(self, candidates: list[SysidParams]) -> np.ndarray:
        total = np.zeros(len(candidates))
        for plan in self.plans:
            if self.window_steps:
                total += self.replay.run_windows(plan, candidates, self.window_steps).loss()
            else:
                total += tracking_loss(self.replay.run(plan, candidates), plan)
        self.evaluations += len(candidates)
        return total / len(self.plans)

    def rmse_deg_windowed(self, params: SysidParams, window_steps: int | None = None) -> np.ndarray:
        """Per-joint RMSE (deg) of the windowed replay (the fit's own measure), pooled over recordings."""
        w = window_steps or self.window_steps
        if not w:
            return self.rmse_deg(params)
        sq, count = np.zeros(6), 0
        for plan in self.plans:
            res = self.replay.run_windows(plan, [params], w)
            n = res.q_measured.shape[0] * (res.q_measured.shape[1] - 1)
            sq += res.rmse_deg()[0] ** 2 * n
            count += n
        return np.sqrt(sq / count)

    def rmse_deg(self, params: SysidParams) -> np.ndarray:
        """Per-joint RMSE (deg) over all recordings' samples pooled."""
        sq, count = np.zeros(6), 0
        for plan in self.plans:
            rmse = per_joint_rmse_deg(self.replay.run(plan, [params]), plan)[0]
            n = plan.num_steps
            sq += rmse**2 * n
            count += n
        return np.sqrt(sq / count)


def _atomic_pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _evaluate(objective: Objective, cont: SearchSpace | None, nominal: SysidParams, delay_values, xs):
    """Losses [len(xs)] and the best delay of each x (profiled over `delay_values` when given)."""
    base = [cont.decode(x) if cont is not None else nominal for x in xs]
    if delay_values is None:
        return objective.losses(base), [b.delay for b in base]
    cands = [replace(b, delay=d) for b in base for d in delay_values]
    table = objective.losses(cands).reshape(len(base), len(delay_values))
    pick = table.argmin(axis=1)
    return table[np.arange(len(base)), pick], [delay_values[k] for k in pick]


def fit(objective: Objective, space: SearchSpace, cfg: FitConfig = FitConfig(), state_path: str | Path | None = None,
        resume: bool = False, progress: bool = True, recordings_digest: str = "") -> FitResult:
    """Run (or resume) CMA-ES; returns the best parameters found."""
    start = time.perf_counter()
    state_path = Path(state_path) if state_path is not None else None
    signature = _space_signature(space) + f"|window_steps={getattr(objective, 'window_steps', 0)}"
    # The delay is not a CMA-ES coordinate: every candidate is replayed at every delay in the box (in
    # the same batch of worlds, so nearly free) and scored by its best one -- the integer is searched
    # exactly instead of through a rounded continuous coordinate.
    profile_delay = "delay" in space.groups
    cont_groups = tuple(g for g in space.groups if g != "delay")
    cont = replace(space, groups=cont_groups) if cont_groups else None
    delay_values = list(range(space.delay_bounds[0], space.delay_bounds[1] + 1)) if profile_delay else None
    es = None
    history: list[float] = []
    best_x, best_loss, best_delay = None, math.inf, space.nominal.delay
    if resume:
        if state_path is None or not state_path.is_file():
            raise FileNotFoundError(f"cannot resume: no CMA-ES state at {state_path}")
        with reading(state_path, "not a readable CMA-ES state (corrupted or truncated?)"), open(state_path, "rb") as f:
            saved = pickle.load(f)  # noqa: S301 -- our own state file
        if not isinstance(saved, dict):
            raise ArtifactError(f"{state_path}: not a CMA-ES state of this tool")
        if saved.get("version") != STATE_VERSION or saved.get("signature") != signature:
            raise ValueError(f"{state_path}: saved CMA-ES state belongs to a different search space or replay "
                             "window; start without --resume or use the same joints/groups/bounds/window_time")
        if recordings_digest and saved.get("recordings") != recordings_digest:
            raise ValueError(f"{state_path}: saved CMA-ES state was fitted to different recordings")
        es, history, best_x, best_loss = saved["es"], saved["history"], saved["best_x"], saved["best_loss"]
        best_delay = saved["best_delay"]
    elif cont is not None:
        x0 = np.full(cont.dim, 0.5) if cfg.x0 == "center" else np.clip(cont.encode(cont.nominal), 0.05, 0.95)
        if cont.dim == 1:
            # cma 4.5 fails on bounded 1-D problems: add an inert second coordinate.
            x0 = np.append(x0, 0.5)
        opts = {"bounds": [0.0, 1.0], "seed": cfg.seed, "verbose": -9, "tolfun": cfg.tol_fun, "maxiter": 10**9}
        if cfg.population is not None:
            opts["popsize"] = cfg.population
        es = cma.CMAEvolutionStrategy(x0, cfg.sigma0, opts)

    done = len(history)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.max_iterations, initial=min(done, cfg.max_iterations), desc="sysid CMA-ES", unit="gen")
    while cont is not None and len(history) < cfg.max_iterations and not es.stop():
        xs = es.ask()
        losses, delays = _evaluate(objective, cont, space.nominal, delay_values,
                                   [np.clip(np.asarray(x)[: cont.dim], 0, 1) for x in xs])
        es.tell(xs, losses.tolist())
        i = int(np.argmin(losses))
        if losses[i] < best_loss:
            best_loss, best_x, best_delay = float(losses[i]), np.clip(np.asarray(xs[i])[: cont.dim], 0, 1), delays[i]
        history.append(best_loss)
        if state_path is not None:
            _atomic_pickle(state_path, {"version": STATE_VERSION, "signature": signature, "es": es,
                                        "history": history, "best_x": best_x, "best_loss": best_loss,
                                        "best_delay": best_delay, "recordings": recordings_digest})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{best_loss:.3e}", rmse_deg=f"{math.degrees(math.sqrt(best_loss)):.3f}",
                            delay=best_delay)
    if bar is not None:
        bar.close()
    if cont is None:  # only the delay is searched: enumerate it
        losses, delays = _evaluate(objective, None, space.nominal, delay_values, [None])
        best_loss, best_delay = float(losses[0]), delays[0]
        best = replace(space.nominal, delay=best_delay)
        stop = {"enumerated": "delay"}
    else:
        stop = {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in dict(es.stop()).items()}
        best = replace(cont.decode(best_x), delay=best_delay)
    return FitResult(params=best, loss=best_loss, iterations=len(history), evaluations=objective.evaluations,
                     history=history, at_bounds=space.at_bounds(best), space=space,
                     elapsed=time.perf_counter() - start, stop=stop)


def fit_plot(path: str | Path, replay: ClosedLoopReplay, recording: Recording, before: SysidParams,
             after: SysidParams, title: str = "") -> None:
    """PNG like the paper's Fig. 13: per joint, measured vs simulated (before and after sysid)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from omnireset_control.constants import ARM_JOINT_NAMES

    plan = plan_replay(recording, replay.physics_dt)
    res = replay.run(plan, [before, after])
    rmse = per_joint_rmse_deg(res, plan)
    t = plan.t - plan.t[0]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7), sharex=True)
    for j, ax in enumerate(axes.flat):
        ax.plot(t, np.degrees(plan.q_measured[:, j]), color="k", lw=1.6, label="recorded")
        ax.plot(t, np.degrees(res.q[0, :, j]), color="tab:red", lw=1.0, ls="--",
                label=f"sim before ({rmse[0, j]:.2f} deg)")
        ax.plot(t, np.degrees(res.q[1, :, j]), color="tab:blue", lw=1.0, label=f"sim after ({rmse[1, j]:.2f} deg)")
        ax.set_title(ARM_JOINT_NAMES[j])
        ax.set_ylabel("deg")
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("time (s)")
    fig.suptitle(title or "System identification: recorded vs simulated joint positions")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


__all__ = ["FitConfig", "FitResult", "Objective", "fit", "fit_plot", "recording_digest", "require_complete"]
