"""Success per reset type vs training wall-clock, from the runs' own logs (``metrics.jsonl``).

    python -m omnireset_sim.rl.plot_training runs/a runs/b --labels OmniReset reaching-only \
        --eval runs/a/eval/by_reset_type.json --out docs/results/peg_easy_by_type_vs_time.png

One panel per reset type (the small-scale analogue of the paper's Fig. 8 / 12): the training-time
success of the episodes that started from that type and ended in the iteration (stochastic policy,
success at the last step), smoothed over ``--window`` iterations; with ``--eval`` the final
deterministic evaluation's success and Wilson 95 % interval are drawn at each run's last time. The
PNG's metadata and a JSON next to it record the inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESET_TYPES = ("reaching", "near_object", "stable_grasp", "near_goal")


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (not a training run directory?)")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{n}: not a JSON line") from None
    return rows


def smoothed(rows: list[dict], reset_type: str, window: int) -> tuple[list[float], list[float]]:
    """(wall minutes, success) of `reset_type`, episode-weighted over the last `window` iterations."""
    t, r, buf = [], [], []
    for row in rows:
        n = (row.get("episodes") or {}).get(reset_type, 0)
        s = (row.get("success") or {}).get(reset_type)
        buf.append((n, (s or 0.0) * n))
        buf = buf[-window:]
        total = sum(b[0] for b in buf)
        if total:
            t.append(row["wall_s"] / 60.0)
            r.append(sum(b[1] for b in buf) / total)
    return t, r


def plot(runs: list[Path], labels: list[str], evals: list[Path | None], out: Path, window: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (run, label, ev) in enumerate(zip(runs, labels, evals)):
        rows = read_metrics(run)
        final = json.loads(Path(ev).read_text())["results"] if ev else {}
        final = next(iter(final.values())) if final else {}
        end = rows[-1]["wall_s"] / 60.0 if rows else 0.0
        for ax, name in zip(axes, RESET_TYPES):
            t, r = smoothed(rows, name, window)
            if t:
                ax.plot(t, r, color=colors[i % len(colors)], label=f"{label} (training)")
            if name in final:
                f = final[name]
                ax.errorbar([end], [f["success_rate"]], yerr=[[f["success_rate"] - f["ci95"][0]],
                                                               [f["ci95"][1] - f["success_rate"]]],
                            fmt="o", color=colors[i % len(colors)], capsize=3,
                            label=f"{label}: eval {f['successes']}/{f['episodes']}")
    for ax, name in zip(axes, RESET_TYPES):
        ax.set_title(f"from {name.replace('_', ' ')} starts")
        ax.set_xlabel("training wall-clock (min)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axes[0].set_ylabel("success at the episode's end")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110, metadata={"Software": "omnireset_sim.rl.plot_training",
                                        "Description": json.dumps({"runs": [str(r) for r in runs]})})
    plt.close(fig)
    tmp.replace(out)
    record = {"made_by": "omnireset_sim.rl.plot_training", "runs": [str(r) for r in runs], "labels": labels,
              "evals": [str(e) if e else None for e in evals], "window": window}
    tmp_json = out.with_name(f".{out.stem}.json.tmp")
    tmp_json.write_text(json.dumps(record, indent=2))
    tmp_json.replace(out.with_suffix(".json"))
    return out


DIAGNOSTICS = (("action_std", "mean action std (policy units)"), ("learning_rate", "learning rate (adaptive KL)"),
               ("entropy", "entropy loss"))


def plot_diagnostics(runs: list[Path], labels: list[str], out: Path) -> Path:
    """Action std, adaptive learning rate and entropy vs wall-clock: where exploration and the KL
    schedule went (the traces a flat success curve is read against)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DIAGNOSTICS), figsize=(12, 3.4))
    for run, label in zip(runs, labels):
        rows = read_metrics(run)
        t = [r["wall_s"] / 60.0 for r in rows]
        for ax, (key, title) in zip(axes, DIAGNOSTICS):
            v = [(r.get("losses") or {}).get(key) if key == "entropy" else r.get(key) for r in rows]
            pts = [(a, b) for a, b in zip(t, v) if b is not None]
            if pts:
                ax.plot(*zip(*pts), label=label)
            ax.set_title(title)
            ax.set_xlabel("training wall-clock (min)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110, metadata={"Software": "omnireset_sim.rl.plot_training"})
    plt.close(fig)
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="plot_training", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--labels", nargs="+", default=None)
    p.add_argument("--eval", nargs="+", default=None, type=Path,
                   help="by_reset_type.json of each run (evaluate --by-reset-type), same order as the runs")
    p.add_argument("--window", type=int, default=10, help="iterations of smoothing")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--diagnostics", type=Path, default=None,
                   help="also write action std / learning rate / entropy vs wall-clock here (PNG)")
    args = p.parse_args(argv)
    try:
        labels = args.labels or [r.name for r in args.runs]
        evals = list(args.eval) if args.eval else [None] * len(args.runs)
        if len(labels) != len(args.runs) or len(evals) != len(args.runs):
            raise ValueError("--labels and --eval need one entry per run")
        if args.window < 1:
            raise ValueError("--window must be >= 1")
        print(f"wrote {plot(args.runs, labels, evals, args.out, args.window)}")
        if args.diagnostics:
            print(f"wrote {plot_diagnostics(args.runs, labels, args.diagnostics)}")
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"plot_training: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
