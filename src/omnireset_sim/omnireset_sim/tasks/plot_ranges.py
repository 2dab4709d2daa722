"""Plot the goal ranges of every task's variants in base_link against the arm's reach.

    python -m omnireset_sim.tasks.plot_ranges --out docs/results/hard_goal_ranges.png

Reach: TCP positions on an x-y grid at fixed heights above the table, the gripper pointing straight
down, that the project's multi-seed damped-least-squares IK (`resets.ik.MultiSeedIk`: the simulated
arm's joint limits, 1 mm / 0.01 rad) solves. Per task it also solves the TCP at each sampled goal
(the target's assembled origin, gripper down, turned with the receptive object's yaw) and reports
the reachable fraction. Not checked: arm-table and self collisions, and grasps away from the
object's origin. The PNG is written atomically (temporary file + rename) beside a JSON sidecar of the
same name recording what made it (command, commit, robot, heights, seed, per-task numbers); the
same record is in the PNG's `Description` text chunk.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

DEFAULT_OUT = "docs/results/hard_goal_ranges.png"
DOWN = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))  # TCP z along -z of base_link


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _down_rot(yaw: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(yaw), torch.sin(yaw)
    o, z = torch.ones_like(yaw), torch.zeros_like(yaw)
    rz = torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1), torch.stack([z, z, o], -1)], -2)
    return rz @ torch.tensor(DOWN, dtype=torch.float64)


def reach_grid(ik, xs: torch.Tensor, ys: torch.Tensor, z: float) -> torch.Tensor:
    """[len(ys), len(xs)] bool: TCP at (x, y, z), pointing down, solvable."""
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pos = torch.stack([gx.flatten(), gy.flatten(), torch.full((gx.numel(),), float(z), dtype=torch.float64)], 1)
    _, ok = ik.solve(pos, _down_rot(torch.zeros(len(pos), dtype=torch.float64)))
    return ok.reshape(gx.shape)


def goal_reach(ik, spec, variant, n: int, generator: torch.Generator):
    """Sampled receptive poses (pos [n,3], quat [n,4]) and whether the TCP reaches each goal origin."""
    from omnireset_control.rotations import quat_to_matrix

    from ..mdp.task_metrics import GoalFrame
    from .spec import sample_goal

    rec_pos, rec_quat = sample_goal(spec, variant, n, generator)
    goal_pos, _ = GoalFrame(spec).goal_in_world(rec_pos, quat_to_matrix(rec_quat))
    yaw = 2.0 * torch.atan2(rec_quat[:, 3], rec_quat[:, 0])
    _, ok = ik.solve(goal_pos, _down_rot(yaw))
    return rec_pos, rec_quat, ok


def _rect(ax, bounds, **kw):
    from matplotlib.patches import Rectangle

    (x0, x1), (y0, y1) = bounds
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, **kw))


def _footprint(ax, spec, pos, yaw, **kw):
    x0, x1, y0, y1 = spec.receptive_footprint
    c, s = math.cos(yaw), math.sin(yaw)
    pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    ax.plot([pos[0] + c * px - s * py for px, py in pts], [pos[1] + s * px + c * py for px, py in pts], **kw)


def make_plot(out: str | Path, robot: str = "ur7e", calibration: str | None = None,
              heights: tuple[float, ...] = (0.03, 0.15), step: float = 0.025, samples: int = 400,
              seed: int = 0) -> tuple[Path, dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from omnireset_control.rotations import quat_to_matrix

    from ..assets.arm import ArmConfig, load_arm_kinematics
    from ..assets.scene import TABLE_CENTER, TABLE_HALF
    from ..mdp.task_metrics import GoalFrame
    from ..resets.ik import MultiSeedIk
    from . import get_task, task_names
    from .spec import (RELEASED_RECEPTIVE_X, RELEASED_RECEPTIVE_Y, RELEASED_RECEPTIVE_YAW, RELEASED_ROBOT_JITTER_XY,
                       WORKSPACE_ORIGIN, released_to_base_link)

    if step <= 0 or samples <= 0 or not heights:
        raise ValueError("step and samples must be > 0 and at least one height given")
    ik = MultiSeedIk(load_arm_kinematics(ArmConfig(robot=robot, calibration=calibration)))
    xs = torch.arange(-0.95, 0.95 + 1e-9, step, dtype=torch.float64)
    ys = torch.arange(-0.95, 0.95 + 1e-9, step, dtype=torch.float64)
    grids = {z: reach_grid(ik, xs, ys, z) for z in heights}

    g = torch.Generator().manual_seed(seed)
    per_task: dict[str, dict] = {}
    hard_samples = None
    for name in task_names():
        spec = get_task(name)
        rec = {}
        for vname, variant in sorted(spec.variants.items()):
            pos, quat, ok = goal_reach(ik, spec, variant, samples if vname != "easy" else 1, g)
            rec[vname] = {"receptive_xy_bounds_m": [list(b) for b in variant.receptive_xy_bounds()],
                          "receptive_yaw_deg": [math.degrees(v) for v in variant.receptive_yaw],
                          "target_xy_bounds_m": [[WORKSPACE_ORIGIN[i] + r[0], WORKSPACE_ORIGIN[i] + r[1]]
                                                 for i, r in enumerate(variant.target_xy)],
                          "goal_reachable_fraction": float(ok.double().mean()), "samples": int(len(ok)),
                          "goal_z_m": float(GoalFrame(spec).goal_in_world(pos[:1], quat_to_matrix(quat[:1]))[0][0, 2])}
            if vname == "hard" and hard_samples is None:
                hard_samples = (name, pos, quat, ok)
            if vname == "easy":
                rec[vname]["position_m"] = [float(pos[0, 0]), float(pos[0, 1])]
        per_task[name] = rec

    fig, (ax, axt) = plt.subplots(1, 2, figsize=(14.0, 7.6), gridspec_kw={"width_ratios": [1.6, 1.0]})
    shades = ["#c6dbef", "#6baed6", "#2171b5"]
    for k, z in enumerate(sorted(heights)):
        m = grids[z].double().numpy()
        ax.contourf(xs.numpy(), ys.numpy(), m, levels=[0.5, 1.5], colors=[shades[k % len(shades)]], alpha=0.45)
        ax.contour(xs.numpy(), ys.numpy(), m, levels=[0.5], colors=[shades[k % len(shades)]], linewidths=1.2)
        ax.plot([], [], color=shades[k % len(shades)], lw=6, alpha=0.6,
                label=f"IK-reachable, TCP down, z = {z * 100:.0f} cm")
    tx, ty = TABLE_CENTER[0], TABLE_CENTER[1]
    _rect(ax, ((tx - TABLE_HALF[0], tx + TABLE_HALF[0]), (ty - TABLE_HALF[1], ty + TABLE_HALF[1])), ec="0.5", lw=1,
          ls=":", label="table top")
    ax.plot([0], [0], marker="s", ms=9, c="k", ls="", label="robot base (base_link origin)")
    ax.annotate("", xy=(0.12, 0), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "k"})
    ax.annotate("", xy=(0, 0.12), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "k"})
    ax.text(0.13, -0.02, "x", fontsize=9)
    ax.text(-0.03, 0.13, "y", fontsize=9)

    spec0 = get_task(task_names()[0])
    hard = spec0.variant("hard")
    _rect(ax, hard.receptive_xy_bounds(), ec="tab:red", lw=2, label="Hard receptive x-y (released, incl. base jitter)")
    nominal = (released_to_base_link((RELEASED_RECEPTIVE_X[0], RELEASED_RECEPTIVE_Y[0])),
               released_to_base_link((RELEASED_RECEPTIVE_X[1], RELEASED_RECEPTIVE_Y[1])))
    _rect(ax, ((nominal[0][0], nominal[1][0]), (nominal[0][1], nominal[1][1])), ec="tab:red", lw=1, ls="--",
          label="released range at the nominal base")
    _rect(ax, tuple((WORKSPACE_ORIGIN[i] + r[0], WORKSPACE_ORIGIN[i] + r[1]) for i, r in enumerate(hard.target_xy)),
          ec="tab:green", lw=1.5, label="Hard target x-y (§4.1)")
    if hard_samples is not None:
        _, pos, quat, ok = hard_samples
        yaw = 2.0 * torch.atan2(quat[:, 3], quat[:, 0])
        ax.quiver(pos[:, 0].numpy(), pos[:, 1].numpy(), torch.cos(yaw).numpy(), torch.sin(yaw).numpy(),
                  color="tab:red", alpha=0.35, scale=45, width=0.002, label="Hard receptive samples (x axis = yaw)")
    # The longest receptive footprint at the extreme corners, turned by the extreme yaws.
    big = max((get_task(n) for n in task_names()),
              key=lambda s: math.hypot(s.receptive_footprint[1] - s.receptive_footprint[0],
                                       s.receptive_footprint[3] - s.receptive_footprint[2]))
    (bx0, bx1), (by0, by1) = hard.receptive_xy_bounds()
    for i, (px, py) in enumerate(((bx0, by0), (bx1, by0), (bx0, by1), (bx1, by1))):
        yaw = RELEASED_RECEPTIVE_YAW[i % 2]
        _footprint(ax, big, (px, py), yaw, c="tab:purple", lw=0.8, alpha=0.8,
                   label=f"{big.name} footprint at the range's corners, yaw ±15°" if i == 0 else None)
    markers = "ovD^sP"
    for k, name in enumerate(task_names()):
        e = per_task[name]["easy"]["position_m"]
        ax.plot([e[0]], [e[1]], marker=markers[k % len(markers)], ms=7, ls="", mec="k", mfc="orange",
                label=f"Easy receptive: {name}")
    easy = spec0.variant("easy")
    _rect(ax, tuple((WORKSPACE_ORIGIN[i] + r[0], WORKSPACE_ORIGIN[i] + r[1]) for i, r in enumerate(easy.target_xy)),
          ec="orange", lw=1.5, label="Easy target patch (§4.1)")
    ax.set_xlim(-0.95, 1.05)
    ax.set_ylim(-0.95, 0.95)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.set_xlabel("x (m, base_link)")
    ax.set_ylabel("y (m, base_link)")
    handles, labels = ax.get_legend_handles_labels()
    ax.set_title(f"Goal ranges vs {robot} reach (base_link, top view)")

    axt.axis("off")
    jx, jy = RELEASED_ROBOT_JITTER_XY
    lines = ["Released (UW-Lab/UWLab 36d98af, reset_states_cfg.py):",
             f"  receptive x U{RELEASED_RECEPTIVE_X}, y U{RELEASED_RECEPTIVE_Y},",
             f"  yaw U(±{math.degrees(RELEASED_RECEPTIVE_YAW[1]):g}°), env frame;",
             f"  robot root jitter x U{jx}, y U{jy}.",
             "Robot root = REP-103 base_link = ours:",
             "  p_base_link = p_env - robot_root (no rotation).",
             "",
             "Goal origin reachable, TCP down, yaw-turned:",
             f"{'task':<18}{'hard':>7}{'easy':>6}{'goal z':>8}"]
    for name in task_names():
        h, e = per_task[name]["hard"], per_task[name]["easy"]
        lines.append(f"{name:<18}{100 * h['goal_reachable_fraction']:>6.1f}%"
                     f"{'yes' if e['goal_reachable_fraction'] > 0.5 else 'NO':>6}{h['goal_z_m'] * 100:>6.1f}cm")
    lines += ["", f"grid {step * 100:g} cm; {samples} Hard samples per task;",
              "IK: resets.ik.MultiSeedIk (joint limits,", "1 mm / 0.01 rad); no collision check."]
    axt.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=8.5,
             transform=axt.transAxes)
    axt.legend(handles, labels, loc="lower left", fontsize=7.5, framealpha=0.9)
    fig.tight_layout()

    record = {
        "made_by": "python -m omnireset_sim.tasks.plot_ranges",
        "argv": sys.argv,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "robot": robot, "calibration": calibration, "heights_m": list(heights), "grid_step_m": step,
        "samples_per_task": samples, "seed": seed,
        "reach_cells": {f"{z:g}": int(grids[z].sum()) for z in heights},
        "released": {"receptive_x": RELEASED_RECEPTIVE_X, "receptive_y": RELEASED_RECEPTIVE_Y,
                     "receptive_yaw_rad": RELEASED_RECEPTIVE_YAW, "robot_jitter_xy": RELEASED_ROBOT_JITTER_XY,
                     "source": "UW-Lab/UWLab 36d98af, config/ur5e_robotiq_2f85/reset_states_cfg.py"},
        "per_task": per_task,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".png", dir=out.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600
    try:
        fig.savefig(tmp, dpi=120, metadata={"Software": "omnireset_sim.tasks.plot_ranges",
                                            "Description": json.dumps(record)})
        plt.close(fig)
        side = out.with_suffix(".json")
        fd2, tmp2 = tempfile.mkstemp(prefix=f".{side.name}.", suffix=".json", dir=out.parent)
        os.chmod(tmp2, 0o644)
        with os.fdopen(fd2, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        os.replace(tmp2, side)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out, record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"PNG path (default {DEFAULT_OUT}); a .json sidecar beside it")
    ap.add_argument("--robot", default="ur7e")
    ap.add_argument("--calibration", default=None, help="ur_calibration kinematics YAML")
    ap.add_argument("--heights", type=float, nargs="+", default=[0.03, 0.15], help="TCP heights above the table (m)")
    ap.add_argument("--step", type=float, default=0.025, help="grid step (m)")
    ap.add_argument("--samples", type=int, default=400, help="Hard goal samples per task")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        out, rec = make_plot(a.out, a.robot, a.calibration, tuple(a.heights), a.step, a.samples, a.seed)
    except ValueError as e:
        print(f"plot_ranges: {e}", file=sys.stderr)
        return 2
    for name, r in rec["per_task"].items():
        print(f"{name}: Hard goal reachable {100 * r['hard']['goal_reachable_fraction']:.1f} %, "
              f"Easy {'yes' if r['easy']['goal_reachable_fraction'] > 0.5 else 'NO'}")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
