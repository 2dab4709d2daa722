"""Coverage plot (x-y of the target object per reset type, like the paper's Fig. 7) and a gallery
PNG of sample states per type rendered by the task engine (MUJOCO_GL=egl or osmesa)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .dataset import DatasetResetSampler, ResetDataset

TYPE_COLORS = {"reaching": "tab:blue", "near_object": "tab:orange", "stable_grasp": "tab:green",
               "near_goal": "tab:red"}


def coverage_plot(dataset: ResetDataset, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in dataset.reset_type_names if dataset.count(n) > 0]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.2 * max(1, len(names)), 3.6), sharex=True,
                             sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        sel = dataset.of_type(name)
        ax.scatter(sel["target_pos"][:, 0], sel["target_pos"][:, 1], s=3, alpha=0.5, c=TYPE_COLORS.get(name, "k"),
                   label="target")
        ax.scatter(sel["receptive_pos"][:, 0], sel["receptive_pos"][:, 1], s=12, marker="x", c="k", alpha=0.3,
                   label="receptive")
        ax.set_title(f"{name} ({len(sel['target_pos'])})")
        ax.set_xlabel("x (m)")
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("y (m)")
    axes[0][0].legend(loc="upper right", fontsize=7)
    fig.suptitle(f"{dataset.meta['task']} / {dataset.meta['variant']}: target object x-y per reset type")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def gallery(dataset: ResetDataset, out: str | Path, per_type: int = 4, camera: str = "front", size: int = 200,
            seed: int = 0, scene=None) -> Path:
    """A grid PNG: one row per reset type, `per_type` random states rendered from `camera`."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from PIL import Image, ImageDraw

    from ..envs.mujoco_engine import MujocoEngine
    from ..tasks import get_task

    sampler = DatasetResetSampler(dataset)
    names = [n for n in sampler.reset_type_names if int(sampler.counts[sampler.reset_type_names.index(n)]) > 0]
    g = torch.Generator().manual_seed(seed)
    engine = MujocoEngine(get_task(dataset.meta["task"]), per_type, scene, nthread=0)
    m = engine.model
    finger_cols = [1 + int(m.jnt_qposadr[m.joint(n).id]) for n in ("finger_left_joint", "finger_right_joint")]
    tiles = []
    try:
        for name in names:
            t = sampler.reset_type_names.index(name)
            rows = sampler.offsets[t] + torch.randint(int(sampler.counts[t]), (per_type,), generator=g)
            state = sampler.states(rows)
            engine.reset_envs(torch.arange(per_type), state)
            # The engine puts a closed gripper at opening 0; show the stored opening instead.
            for col in finger_cols:
                engine.raw_state()[:, col] = state.gripper_opening.numpy()
            tiles.append([engine.render(i, camera, size, size) for i in range(per_type)])
    finally:
        engine.close()
    label_h = 18
    img = Image.new("RGB", (per_type * size, len(tiles) * (size + label_h)), "white")
    draw = ImageDraw.Draw(img)
    for r, (name, row) in enumerate(zip(names, tiles)):
        y = r * (size + label_h)
        draw.text((4, y + 3), name, fill=(0, 0, 0))
        for c, tile in enumerate(row):
            img.paste(Image.fromarray(np.asarray(tile)), (c * size, y + label_h))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out
