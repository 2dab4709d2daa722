"""`python -m omnireset_sim.collect.compare_renderers`: MuJoCo Warp's batch renderer vs MuJoCo's
OpenGL renderer on the same states.

A MuJoCo Warp engine runs N worlds from the env's resets for a few policy steps (seeded random
actions); then the same worlds, in the same appearance (one AppearanceSampler draw shared by both),
are drawn by warp_render.WarpBatchRenderer (all worlds, one call) and by visual.RandomizedRenderer
(OpenGL, one world at a time). Reported per camera: the mean absolute difference on the 0-255
scale over all pixels and channels, the 95th percentile of the per-pixel difference, the mean
signed difference (Warp - OpenGL: overall brightness) and the MAD per scene part (table, robot,
target, receptive, background, other: by the geom each Warp pixel shows, from its segmentation).

Variants, each removing one known difference, so that what is left is measured, not guessed:
  as_collected     the collector's settings: nominal appearance, shadows in both (OpenGL's shadow
                   map vs a traced shadow ray), OpenGL's planar reflection of the table (material
                   reflectance 0.05) and 4x multi-sampling vs 1 ray per pixel
  randomized       as_collected with visual randomization (camera pose / fov, lights, colours,
                   textures) drawn once and given to both
  warp_no_shadows  as_collected without the ray tracer's shadows (what its shadows buy)
  no_reflection    as_collected with OpenGL's table reflection off
  untextured       no_reflection with every geom's material (texture) removed in both
  untextured_aa    untextured + 2x2 supersampling in the ray tracer (OpenGL keeps its 4x MSAA)
  randomized_untextured  randomized without textures (what the texture bank costs)
  no_specular      no_reflection without specular highlights (lights' and headlight's specular 0)
  fill_light_only  no_specular with the key light (the spot light that casts the shadows) off
Writes a side-by-side PNG (rows per world: Warp | OpenGL | 4 x |difference|, cameras across) and a
JSON beside it with the numbers and what made them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .collector import DEFAULT_CAMERAS
from .visual import VisualRandomizationCfg

VARIANT_KEYS = ("visual_randomization", "warp_shadows", "opengl_reflection", "textures",
                "warp_samples_per_pixel_axis", "lighting")
VARIANTS = {
    "as_collected": (False, True, True, True, 1, "scene"),
    "randomized": (True, True, True, True, 1, "scene"),
    "warp_no_shadows": (False, False, True, True, 1, "scene"),
    "no_reflection": (False, True, False, True, 1, "scene"),
    "untextured": (False, True, False, False, 1, "scene"),
    "untextured_aa": (False, True, False, False, 2, "scene"),
    "randomized_untextured": (True, True, False, False, 1, "scene"),
    "no_specular": (False, True, False, True, 1, "no_specular"),
    "fill_light_only": (False, True, False, True, 1, "fill_only"),
}


def _lighting_edit(lighting: str):
    """A visual-only edit of the render model (both renderers get the same one)."""
    if lighting == "scene":
        return None

    def edit(m):
        m.light_specular[:] = 0.0
        m.vis.headlight.specular[:] = 0.0
        if lighting == "fill_only":
            m.light_active[m.light("key").id] = 0

    return edit


RESULT_KEYS = ("mad", "p95_abs_diff", "mean_signed_diff", "mad_by_part", "contact_agree", "seconds_warp",
               "seconds_opengl", "settings_warp")
DIFF_GAIN = 4  # the PNG's difference panels: 4 x |Warp - OpenGL|, clipped at 255


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images (or stacks) on the 0-255 scale."""
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def make_states(num_worlds: int, steps: int, seed: int, task: str = "peg_insertion", variant: str = "easy",
                device: str = "cpu"):
    """An env on the MuJoCo Warp engine, its worlds after `steps` policy steps of seeded random actions."""
    import torch

    from ..envs.vec_env import make_env

    env = make_env(task, variant, num_worlds, engine="mujoco_warp", device=device, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        env.step(0.3 * torch.randn(num_worlds, 7, generator=gen))
    return env


def render_variant(engine, name: str, cameras, size: tuple[int, int], seed: int = 0) -> dict:
    """Both renderers on `engine`'s current worlds in variant `name`: images, MAD, times."""
    from .visual import RandomizedRenderer
    from .warp_render import WarpBatchRenderer

    randomized, shadows, reflection, textures, spp, lighting = VARIANTS[name]
    height, width = size
    vis = VisualRandomizationCfg(enabled=randomized)
    edit = _lighting_edit(lighting)
    warp = WarpBatchRenderer(engine, cameras, width, height, vis, seed=seed, use_shadows=shadows,
                             samples_per_pixel=spp, render_seg=True, model_edit=edit)
    gl = RandomizedRenderer(engine, cameras, width, height, vis, seed=seed, model_edit=edit)
    try:
        if not reflection:
            gl.model.mat_reflectance[:] = 0.0
        for i in range(engine.num_envs):
            gl.randomize(i)
            if not textures:
                a = gl.appearance[i]
                gl.appearance[i] = dataclasses.replace(a, geom_matid=np.full_like(a.geom_matid, -1))
            warp.set_appearance(i, gl.appearance[i])  # the very same draw
        warp.render_all()  # first frame: kernel compile + graph capture, not timed
        t = time.perf_counter()
        w_img, w_contact = warp.render_all()
        warp_s = time.perf_counter() - t
        seg = warp.segmentation()
        t = time.perf_counter()
        g_img, g_contact = gl.render_all()
        gl_s = time.perf_counter() - t
        # where the difference is: MAD per scene part, by the geom each Warp pixel shows
        diff = np.stack([np.abs(w_img[c].astype(np.int16) - g_img[c]).mean(-1) for c in cameras], axis=1)
        part = np.full(seg.shape, "other", dtype=object)
        part[seg < 0] = "background"
        for group, ids in warp.groups.items():
            part[np.isin(seg, ids)] = group
        by_part = {p: {"mad": float(diff[part == p].mean()), "pixel_fraction": float((part == p).mean())}
                   for p in ("background", "table", "robot", "target", "receptive", "other") if (part == p).any()}
    finally:
        warp.close()
        gl.close()
    out = {"images_warp": w_img, "images_opengl": g_img,
           "mad": {c: mean_abs_diff(w_img[c], g_img[c]) for c in cameras},
           "p95_abs_diff": {c: float(np.percentile(np.abs(w_img[c].astype(np.int16) - g_img[c]).max(-1), 95))
                            for c in cameras},
           # > 0: Warp brighter than OpenGL on average
           "mean_signed_diff": {c: float((w_img[c].astype(np.int16) - g_img[c]).mean()) for c in cameras},
           "mad_by_part": by_part,
           "contact_agree": bool(np.array_equal(w_contact, g_contact)),
           "seconds_warp": warp_s, "seconds_opengl": gl_s, "settings_warp": dict(warp.settings)}
    return out


def side_by_side(results: dict, cameras, worlds: list[tuple[str, int]]) -> np.ndarray:
    """Rows per (variant, world): Warp | OpenGL | DIFF_GAIN x |difference|; cameras across."""
    rows = []
    for name, w in worlds:
        r = results[name]
        for key in ("images_warp", "images_opengl", None):
            tiles = []
            for c in cameras:
                if key is None:
                    d = np.abs(r["images_warp"][c][w].astype(np.int16) - r["images_opengl"][c][w])
                    tiles.append(np.clip(DIFF_GAIN * d, 0, 255).astype(np.uint8))
                else:
                    tiles.append(r[key][c][w])
            rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def write_png(path: Path, image: np.ndarray, max_bytes: int) -> dict:
    """PNG of `image`; palette-quantized (256 colours) if the full-colour file is over `max_bytes`."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(image)
    img.save(path, optimize=True)
    mode = "rgb"
    if path.stat().st_size > max_bytes:
        img.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        mode = "palette256"
    return {"bytes": path.stat().st_size, "mode": mode, "shape": list(image.shape)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m omnireset_sim.collect.compare_renderers",
                                description=__doc__.splitlines()[0])
    p.add_argument("--worlds", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="policy steps of random actions before rendering")
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"),
                   help="default: image_size of omnireset_sim config/cameras.yaml (the collector's)")
    p.add_argument("--cameras", default=",".join(DEFAULT_CAMERAS))
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated of {', '.join(VARIANTS)}")
    p.add_argument("--device", default="cpu", help="Warp device of the engine and renderer (cpu, cuda:N)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/results/warp_render_vs_opengl.png", help="PNG; the JSON goes beside it")
    p.add_argument("--max-png-kb", type=int, default=300)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    cameras = tuple(c.strip() for c in args.cameras.split(",") if c.strip())
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        print(f"compare_renderers: error: unknown variant(s) {unknown}; valid: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    if args.worlds < 1 or args.steps < 0:
        print("compare_renderers: error: --worlds must be >= 1 and --steps >= 0", file=sys.stderr)
        return 2
    from .warp_render import warp_render_setup

    try:
        device, size = warp_render_setup(args.device, args.image_size)
    except ValueError as exc:
        print(f"compare_renderers: error: {exc}", file=sys.stderr)
        return 2
    env = make_states(args.worlds, args.steps, args.seed, device=device)
    try:
        try:
            results = {v: render_variant(env.engine, v, cameras, size, args.seed) for v in variants}
        except ValueError as exc:  # unknown camera, bad size
            print(f"compare_renderers: error: {exc}", file=sys.stderr)
            return 2
    finally:
        env.close()
    out = Path(args.out)
    shown = [(v, 0) for v in ("as_collected", "randomized") if v in results] or [(variants[0], 0)]
    png = write_png(out, side_by_side(results, cameras, shown), args.max_png_kb * 1024)
    import mujoco
    import mujoco_warp
    import warp

    from omnireset_policy.exported_policy import git_revision

    record = {
        "made_by": "python -m omnireset_sim.collect.compare_renderers " + " ".join(argv if argv is not None
                                                                                   else sys.argv[1:]),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(), "versions": {"mujoco": mujoco.__version__, "mujoco_warp":
                                                     mujoco_warp.__version__, "warp": warp.__version__},
        "machine": platform.processor() or platform.machine(), "warp_device": device,
        "opengl_backend": os.environ.get("MUJOCO_GL"), "task": "peg_insertion", "variant": "easy",
        "worlds": args.worlds, "steps_before_render": args.steps, "seed": args.seed, "image_size": list(size),
        "cameras": list(cameras), "variants": {name: dict(zip(VARIANT_KEYS, VARIANTS[name])) for name in variants},
        "png": {"path": out.name, **png, "rows": [f"{v} world {w}: warp / opengl / {DIFF_GAIN}x|diff|"
                                                  for v, w in shown], "columns": list(cameras)},
        "results": {name: {k: r[k] for k in RESULT_KEYS} for name, r in results.items()},
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    for name, r in results.items():
        mad = "  ".join(f"{c} {r['mad'][c]:5.2f}" for c in cameras)
        parts = "  ".join(f"{p} {v['mad']:.1f}" for p, v in r["mad_by_part"].items())
        print(f"{name:15s} MAD (0-255): {mad}   warp {r['seconds_warp'] * 1e3:7.1f} ms / opengl "
              f"{r['seconds_opengl'] * 1e3:7.1f} ms for {args.worlds * len(cameras)} frames\n"
              f"{'':15s} by part: {parts}")
    print(f"wrote {out} ({png['bytes'] // 1024} kB, {png['mode']}) and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
