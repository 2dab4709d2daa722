"""`python -m omnireset_sim.sysid` -- record (sim), fit, validate, and the robot recorder.

    sysid record-sim --out rec.npz [--held-out] [--params sysid.yaml]   # a chirp recorded by the simulator
    sysid fit rec.npz [more.npz] --out-dir result/ [--resume]            # CMA-ES; YAML + plot + state
    sysid validate --out-dir result/ [--quick]                           # known-parameter recovery (README numbers)
    sysid ros-record --out rec.npz                                       # on the robot: stream chirp, record

Exit status: 0 done, 2 bad input (config, recording, arguments: one line), 3 the safety monitor
stopped the chirp (the arm was put in hold; `<out>.aborted.npz` holds what was recorded).

Outputs of `fit`/`validate` in --out-dir: sysid_params.yaml (identified parameters, RMSE before/after,
flags, provenance), fit_plot.png (recorded vs simulated per joint), cma_state.pkl (resume point).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

PARAMS_FILE = "sysid_params.yaml"
PLOT_FILE = "fit_plot.png"
STATE_FILE = "cma_state.pkl"


def _limit_torch_threads() -> None:
    # The per-step OSC tensors are tiny: torch's intra-op threads only fight MuJoCo's pool for the cores.
    import torch

    torch.set_num_threads(1)


def _config(args):
    from .config import load_sysid_config

    cfg = load_sysid_config(args.config)
    if getattr(args, "nthread", None) is not None:
        cfg.nthread = args.nthread
    return cfg


def _replay(cfg):
    from .replay import ClosedLoopReplay

    return ClosedLoopReplay(robot=cfg.robot, calibration=cfg.calibration, physics_dt=cfg.physics_dt,
                            nthread=cfg.nthread)


def _sim_recording(cfg, replay, params, held_out: bool, seed: int, noise=True):
    from .chirp import chirp_targets
    from .replay import simulate_recording

    chirp = dataclasses.replace(cfg.chirp, phase=cfg.held_out_phase) if held_out else cfg.chirp
    pos, quat = replay.tcp_pose(cfg.start_joints)
    targets = chirp_targets(pos, quat, chirp)
    return simulate_recording(replay, targets, cfg.start_joints, params, noise=cfg.sensor_noise if noise else None,
                              seed=seed, metadata={"chirp": "held_out" if held_out else "fit"})


def cmd_record_sim(args) -> int:
    from .params import load_sysid_yaml

    cfg = _config(args)
    params = load_sysid_yaml(args.params, physics_dt=cfg.physics_dt) if args.params else cfg.true_parameters
    with _replay(cfg) as replay:
        rec = _sim_recording(cfg, replay, params, args.held_out, args.seed, noise=not args.no_noise)
    rec.save(args.out)
    print(f"wrote {args.out}: {rec.num_samples} samples at {rec.rate:.3f} Hz, {rec.duration:.2f} s")
    return 0


def _search_space(cfg, args):
    space = cfg.space
    kwargs = {}
    if getattr(args, "joints", None):
        kwargs["joints"] = tuple(int(j) for j in args.joints.split(","))
    if getattr(args, "groups", None):
        kwargs["groups"] = tuple(args.groups.split(","))
    return dataclasses.replace(space, **kwargs) if kwargs else space


def _fit_config(cfg, args):
    fc = cfg.cma
    kwargs = {}
    if getattr(args, "iterations", None) is not None:
        kwargs["max_iterations"] = args.iterations
    if getattr(args, "population", None) is not None:
        kwargs["population"] = args.population
    if getattr(args, "window", None) is not None:
        kwargs["window_time"] = args.window
    return dataclasses.replace(fc, **kwargs) if kwargs else fc


def run_fit(cfg, space, fit_cfg, recordings, out_dir: Path, resume: bool, progress: bool, extra_report=None,
            plot_recording=None, provenance=None):
    """Fit, then write the YAML (with RMSE before/after and bound flags) and the plot. Returns (result, report)."""
    from .fit import Objective, fit, fit_plot, recording_digest
    from .params import save_sysid_yaml
    from .recording import git_revision

    out_dir.mkdir(parents=True, exist_ok=True)
    with _replay(cfg) as replay:
        objective = Objective(replay, recordings, window_time=fit_cfg.window_time)
        result = fit(objective, space, fit_cfg, state_path=out_dir / STATE_FILE, resume=resume, progress=progress,
                     recordings_digest=recording_digest(recordings))
        before = space.nominal
        rmse_before = objective.rmse_deg(before)
        rmse_after = objective.rmse_deg(result.params)
        report = {
            "loss": result.loss,
            "rmse_deg_before": [round(float(v), 4) for v in rmse_before],
            "rmse_deg_after": [round(float(v), 4) for v in rmse_after],
            "replay_window_s": float(fit_cfg.window_time),
            "rmse_deg_after_windowed": [round(float(v), 4) for v in objective.rmse_deg_windowed(result.params)],
            "before_parameters": before.as_dict(),
            "at_bounds": result.at_bounds,
            "iterations": result.iterations,
            "evaluations": result.evaluations,
            "cma_stop": {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in result.stop.items()},
            "fit_seconds": round(result.elapsed, 1),
            "searched": space.entry_names(),
            **(extra_report or {}),
        }
        prov = {
            "tool": "omnireset_sim.sysid",
            "git_rev": git_revision(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "robot": cfg.robot,
            "calibration": cfg.calibration,
            "recordings": [r.metadata for r in recordings],
            "gains": "DEPLOY_GAINS",
            **(provenance or {}),
        }
        save_sysid_yaml(out_dir / PARAMS_FILE, result.params, cfg.physics_dt, report=report, provenance=prov)
        fit_plot(out_dir / PLOT_FILE, replay, plot_recording or recordings[0], before, result.params,
                 title=f"sysid fit ({cfg.robot}): recorded vs simulated, before / after")
    return result, report


def _print_table(title, names, rows: dict):
    print(title)
    print("  " + " ".join(f"{h:>14}" for h in ["joint", *rows]))
    for j, name in enumerate(names):
        print("  " + f"{name[:14]:>14} " + " ".join(f"{rows[k][j]:>14.4f}" for k in rows))


def cmd_fit(args) -> int:
    from omnireset_control.constants import ARM_JOINT_NAMES

    from .recording import load_recording

    _limit_torch_threads()
    cfg = _config(args)
    from .fit import require_complete

    recordings = [load_recording(p) for p in args.recordings]
    for path, rec in zip(args.recordings, recordings):
        require_complete(rec, str(path))
    space = _search_space(cfg, args)
    result, report = run_fit(cfg, space, _fit_config(cfg, args), recordings, Path(args.out_dir), args.resume,
                             not args.no_progress, provenance={"recording_files": [str(p) for p in args.recordings]})
    _print_table("per-joint RMSE (deg) on the fitted recordings", ARM_JOINT_NAMES,
                 {"before": report["rmse_deg_before"], "after": report["rmse_deg_after"]})
    print(f"delay: {result.params.delay} physics steps; loss {result.loss:.3e}; {result.iterations} generations")
    if result.at_bounds:
        print("WARNING: parameters at the search-box bounds (widen the bounds or check the recording):")
        for flag in result.at_bounds:
            print(f"  - {flag}")
    print(f"wrote {Path(args.out_dir) / PARAMS_FILE} and {Path(args.out_dir) / PLOT_FILE}")
    return 0


def quick_problem(chirp, truth):
    """The small validation problem (also the test's): a 3 s chirp at large amplitude, the three
    wrists' armature and viscous friction (started 2x / far off) plus the delay."""
    from .params import SearchSpace

    chirp = dataclasses.replace(chirp, sweep_time=3.0, f0=0.3, ramp_time=0.3,
                                amplitude=(0.08, 0.08, 0.08, 0.25, 0.25, 0.25))
    nominal = dataclasses.replace(truth, armature=truth.armature[:3] + (0.3, 0.3, 0.3),
                                  viscous_friction=truth.viscous_friction[:3] + (2.0, 2.0, 2.0), delay=0)
    return chirp, SearchSpace(nominal=nominal, joints=(3, 4, 5), groups=("armature", "viscous_friction", "delay"))


def cmd_validate(args) -> int:
    """Known-parameter recovery: simulator recordings (truth + sensor noise), fit, held-out RMSE."""
    from omnireset_control.constants import ARM_JOINT_NAMES

    from .fit import Objective
    from .params import PER_JOINT_FIELDS

    _limit_torch_threads()
    cfg = _config(args)
    truth = cfg.true_parameters
    space = _search_space(cfg, args)
    if args.quick:
        cfg.chirp, space = quick_problem(cfg.chirp, truth)
    fit_cfg = _fit_config(cfg, args)
    if args.quick and args.iterations is None:
        fit_cfg = dataclasses.replace(fit_cfg, max_iterations=20, population=8)
    t0 = time.perf_counter()
    with _replay(cfg) as replay:
        fit_rec = _sim_recording(cfg, replay, truth, held_out=False, seed=args.seed)
        held_rec = _sim_recording(cfg, replay, truth, held_out=True, seed=args.seed + 1)
    out = Path(args.out_dir)
    fit_rec.save(out / "validation_fit_chirp.npz")
    held_rec.save(out / "validation_held_out_chirp.npz")
    result, report = run_fit(cfg, space, fit_cfg, [fit_rec], out, args.resume, not args.no_progress,
                             plot_recording=held_rec)
    with _replay(cfg) as replay:
        held = Objective(replay, [held_rec])
        held_before = held.rmse_deg(space.nominal)
        held_after = held.rmse_deg(result.params)
        held_truth = held.rmse_deg(truth)
    _print_table("held-out chirp, per-joint RMSE (deg)", ARM_JOINT_NAMES,
                 {"before": held_before, "after": held_after, "true params": held_truth})
    print(f"delay: identified {result.params.delay}, true {truth.delay} -> "
          f"{'EXACT' if result.params.delay == truth.delay else 'WRONG'}")
    print("parameters (identified / true):")
    for name in PER_JOINT_FIELDS:
        got, want = getattr(result.params, name), getattr(truth, name)
        print(f"  {name:>22}: " + "  ".join(f"{g:.3f}/{w:.3f}" for g, w in zip(got, want)))
    ok = bool(np.nanmax(held_after) < 2.0 and result.params.delay == truth.delay)
    summary = {"held_out_rmse_deg_before": [round(float(v), 4) for v in held_before],
               "held_out_rmse_deg_after": [round(float(v), 4) for v in held_after],
               "held_out_rmse_deg_true_params": [round(float(v), 4) for v in held_truth],
               "delay_identified": result.params.delay, "delay_true": truth.delay, "passed": ok,
               "total_seconds": round(time.perf_counter() - t0, 1), "quick": bool(args.quick)}
    (out / "validation_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"max held-out RMSE {np.nanmax(held_after):.3f} deg (< 2 required); total {summary['total_seconds']} s; "
          f"{'PASSED' if ok else 'FAILED'}")
    if result.at_bounds:
        print("at bounds: " + ", ".join(result.at_bounds))
    return 0 if ok else 1


def cmd_ros_record(args) -> int:
    from .ros_recorder import main as ros_main

    return ros_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sysid", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="command", required=True)

    def common(q):
        q.add_argument("--config", default=None, help="sysid YAML (default: the package's config/sysid.yaml)")
        q.add_argument("--nthread", type=int, default=None, help="MuJoCo rollout threads (default from config)")

    r = sp.add_parser("record-sim", help="record a chirp in the simulator with known parameters")
    common(r)
    r.add_argument("--out", required=True)
    r.add_argument("--params", default=None, help="sysid YAML of the parameters to simulate (default: config truth)")
    r.add_argument("--held-out", action="store_true", help="use the held-out chirp phases")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--no-noise", action="store_true")
    r.set_defaults(func=cmd_record_sim)

    def fitopts(q):
        q.add_argument("--out-dir", required=True)
        q.add_argument("--iterations", type=int, default=None)
        q.add_argument("--population", type=int, default=None)
        q.add_argument("--window", type=float, default=None,
                       help="replay window in s, each re-seeded from the recording (0: whole recording; "
                            "default from config cma.window_time)")
        q.add_argument("--joints", default=None, help="comma list of joint indices to fit, e.g. 3,4,5")
        q.add_argument("--groups", default=None,
                       help="comma list of armature,static_friction,dynamic_friction_ratio,viscous_friction,delay")
        q.add_argument("--resume", action="store_true", help="continue from --out-dir/cma_state.pkl")
        q.add_argument("--no-progress", action="store_true")

    f = sp.add_parser("fit", help="identify parameters from recordings")
    common(f)
    f.add_argument("recordings", nargs="+")
    fitopts(f)
    f.set_defaults(func=cmd_fit)

    v = sp.add_parser("validate", help="recover known parameters from simulator recordings (README numbers)")
    common(v)
    fitopts(v)
    v.add_argument("--quick", action="store_true", help="small version: wrist armature/viscous + delay, short chirp")
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(func=cmd_validate)

    ros = sp.add_parser("ros-record", help="on the robot: stream the chirp to the OSC controller and record")
    common(ros)
    ros.add_argument("--out", required=True)
    ros.add_argument("--rate", type=float, default=None, help="target stream rate, Hz (default: chirp rate)")
    ros.add_argument("--source", default="real", choices=["real", "sim"])
    ros.add_argument("--settle-timeout", type=float, default=10.0)
    ros.add_argument("--command-topic", default=None,
                     help="PoseDelta topic (default: real /osc_torque_controller/command, sim /omnireset/command)")
    ros.add_argument("--controller-state-topic", default=None,
                     help="OscControllerState topic (default: real /osc_torque_controller/state, "
                          "sim /omnireset/controller/state)")
    ros.set_defaults(func=cmd_ros_record)
    return p


# Exit status of `ros-record` when the safety monitor stopped the chirp (bad input/config: 2).
EXIT_SAFETY_STOP = 3


def main(argv=None) -> int:
    from .safety import SafetyStop

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SafetyStop as exc:
        print(f"sysid: {exc}", file=sys.stderr)
        return EXIT_SAFETY_STOP
    except (ValueError, FileNotFoundError, TimeoutError) as exc:
        print(f"sysid: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["EXIT_SAFETY_STOP", "PARAMS_FILE", "PLOT_FILE", "STATE_FILE", "build_parser", "main", "run_fit"]
