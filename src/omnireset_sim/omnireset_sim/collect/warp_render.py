"""Batch rendering for RGB collection: every world of a MuJoCo Warp engine, all cameras, one call.

``WarpBatchRenderer`` draws the collector's cameras for all N worlds of a ``MujocoWarpEngine``
with MuJoCo Warp's ray-traced renderer (``mujoco_warp.render``) on the engine's device (a GPU, or
Warp's CPU device here), and returns uint8 [N, H, W, 3] per camera: the same images the OpenGL
``visual.RandomizedRenderer`` gives one world at a time, for the same HDF5 shards.

How, per frame (``render_all``), all on the device:
  1. the engine's qpos / mocap are copied (device to device) into a render Data of its own,
  2. ``kinematics`` + ``camlight`` place bodies, geoms, cameras and lights; ``collision`` finds
     the contacts of that state (the gripper/target contact flag, as mj_forward does for OpenGL),
  3. the scene BVH is refitted and ``render`` ray-traces every camera of every world,
  4. a kernel unpacks the packed pixels into uint8 [N, ncam, H, W, 3] and the contact flags;
then ONE copy of the images (and the N flags) to the host: no other host synchronisation.
Steps 1-4 are captured in one Warp graph after the first frame (CPU and CUDA), so a frame is a
graph replay plus that copy.

Visual randomization: the appearance of each world is drawn by the same ``AppearanceSampler`` as
the OpenGL renderer (same seed, same draws) and written into per-world (batched) fields of a
render Model that is not the engine's (the physics never sees it): camera pose (``cam_pos``,
``cam_quat``) and field of view (``cam_fovy``, with per-pixel rays computed in the kernel), light
intensity (``light_diffuse``, ``light_ambient``) and position (``light_pos``), geom / material
colours (``geom_rgba``, ``mat_rgba``) and the texture choice (``geom_matid``, the procedural
texture bank uploaded once). Everything the OpenGL renderer randomizes is carried over.

Not the same as MuJoCo's OpenGL image; measured by collect/compare_renderers.py (224x224, 2
worlds, docs/results/warp_render_vs_opengl.json), mean absolute difference front / side / wrist
on the 0-255 scale: 3.8 / 2.5 / 3.1 as collected, 2.6 / 2.2 / 4.5 with visual randomization.
Where that comes from, one difference removed at a time:
  - shadows: OpenGL's shadow map vs a traced shadow ray (here a true shadow,
    SHADOW_LIGHT_FRACTION 0); without the traced shadows the MAD is 7.0 / 5.7 / 9.0;
  - specular highlights: the largest remaining part; with the lights' specular set to 0 in both
    the MAD falls to 1.5 / 1.5 / 1.3 (the ray tracer's per-pixel Blinn-Phong highlights are
    brighter than OpenGL's; Warp is 0.8-2.1 levels brighter on average);
  - the key light (the shadow-casting spot): with only the fill light, no specular, 0.8 / 0.8 / 0.7;
  - OpenGL's planar reflection of the table (material reflectance 0.05), which the ray tracer
    does not draw: 0.0-0.6 of the MAD;
  - textures: sampled without mip-maps, so the procedural textures of the randomization alias at
    low resolution (randomized MAD 3.9-5.4 at 48x48) where OpenGL filters them;
  - anti-aliasing: OpenGL renders 4 samples per pixel, this 1 (``samples_per_pixel`` per axis):
    2x2 supersampling changes the MAD by <= 0.15 at 4x the cost.
Randomized exactly what the OpenGL renderer randomizes (the same AppearanceSampler draw), no more.
"""

from __future__ import annotations

import numpy as np

from .visual import AppearanceSampler, VisualRandomizationCfg

# Appearance (visual.WorldAppearance) field -> the render Model's batched field it is written to.
APPEARANCE_FIELDS = ("cam_pos", "cam_quat", "cam_fovy", "light_diffuse", "light_ambient", "light_pos",
                     "geom_rgba", "mat_rgba", "geom_matid")
RENDER_API = ("create_render_context", "render", "refit_bvh", "kinematics", "camlight", "collision")
# Share of a light that reaches a point in its shadow. 0, a true shadow, is what MuJoCo's OpenGL
# shadow map gives: measured against it (collect/compare_renderers.py, 224x224, collector
# settings), MAD 3.8 / 2.5 / 3.1 (front / side / wrist) at 0, 4.7 / 3.4 / 4.8 at MuJoCo Warp's
# default 0.3, 5.3 / 4.1 / 6.0 at 0.5.
SHADOW_LIGHT_FRACTION = 0.0
# Constraint rows of the render Data: it never builds constraints (no fwd_acceleration), only
# kinematics and collision, so its solver buffers are kept minimal.
_RENDER_NJMAX = 1


class WarpRendererUnavailable(RuntimeError):
    """MuJoCo Warp's batch renderer cannot run here (missing package / API); the message says why."""


def require_warp_renderer():
    """(warp, mujoco_warp) with the batch renderer, or WarpRendererUnavailable naming what is missing."""
    from ..envs.mujoco_warp_engine import INSTALL_HINT, EngineUnavailable, import_warp

    try:
        wp, mjw = import_warp()
    except EngineUnavailable as exc:
        raise WarpRendererUnavailable(str(exc)) from None
    missing = [name for name in RENDER_API if not hasattr(mjw, name)]
    if missing:
        raise WarpRendererUnavailable(
            f"--renderer warp needs MuJoCo Warp's batch renderer; mujoco_warp {getattr(mjw, '__version__', '?')} "
            f"lacks {', '.join(missing)}; install it with: {INSTALL_HINT}")
    return wp, mjw


def warp_render_setup(device: str, image_size=None) -> tuple[str, tuple[int, int]]:
    """For a CLI that renders with Warp: (the checked device, (height, width)) -- the deployed
    cameras' size (config/cameras.yaml) unless `image_size` is given. Raises ValueError (a missing
    engine / renderer, a bad device), which the CLI prints as its one error line."""
    from ..envs.engine_cli import check_engine
    from ..envs.mujoco_warp_engine import EngineUnavailable

    try:
        device = check_engine("mujoco_warp", device)
        require_warp_renderer()
    except (EngineUnavailable, WarpRendererUnavailable) as exc:
        raise ValueError(str(exc)) from None
    if image_size:
        return device, (int(image_size[0]), int(image_size[1]))
    from ..assets.cameras import load_cameras

    deployed = load_cameras()
    return device, (deployed.height, deployed.width)


def _kernels(wp):
    """The two kernels (built on first use, so importing this module needs no Warp)."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS

    @wp.kernel
    def unpack_rgb(packed: wp.array2d(dtype=wp.uint32), npix: int, out: wp.array2d(dtype=wp.uint8)):
        # packed pixel: (a << 24) | (r << 16) | (g << 8) | b, cameras back to back (same size each)
        world, p = wp.tid()
        if p >= npix:
            return
        v = packed[world, p]
        out[world, 3 * p + 0] = wp.uint8((v >> wp.uint32(16)) & wp.uint32(0xFF))
        out[world, 3 * p + 1] = wp.uint8((v >> wp.uint32(8)) & wp.uint32(0xFF))
        out[world, 3 * p + 2] = wp.uint8(v & wp.uint32(0xFF))

    @wp.kernel
    def contact_flag(nacon: wp.array(dtype=int), geom: wp.array(dtype=wp.vec2i), worldid: wp.array(dtype=int),
                     is_target: wp.array(dtype=wp.uint8), is_gripper: wp.array(dtype=wp.uint8),
                     flag: wp.array(dtype=wp.uint8)):
        c = wp.tid()
        if c >= nacon[0]:
            return
        g = geom[c]
        if (is_target[g[0]] != wp.uint8(0) and is_gripper[g[1]] != wp.uint8(0)) or (
                is_target[g[1]] != wp.uint8(0) and is_gripper[g[0]] != wp.uint8(0)):
            flag[worldid[c]] = wp.uint8(1)  # every writer writes 1: no race on the value

    _KERNELS = (unpack_rgb, contact_flag)
    return _KERNELS


_KERNELS = None


class WarpBatchRenderer(AppearanceSampler):
    """All worlds x all cameras of a MujocoWarpEngine in one call (``render_all``)."""

    def __init__(self, engine, cameras, width: int, height: int, cfg: VisualRandomizationCfg | None = None,
                 seed: int = 0, use_graph: bool = True, use_shadows: bool = True, samples_per_pixel: int = 1,
                 render_seg: bool = False, model_edit=None, shadow_light_fraction: float = SHADOW_LIGHT_FRACTION):
        if not hasattr(engine, "wd") or not hasattr(engine, "wp_device"):
            raise ValueError(f"--renderer warp renders the worlds of the mujoco_warp engine; this env's engine is "
                             f"{type(engine).__name__} (use --engine mujoco_warp)")
        wp, mjw = require_warp_renderer()
        super().__init__(engine, cameras, width, height, cfg, seed, model_edit)
        if int(samples_per_pixel) < 1:
            raise ValueError(f"samples_per_pixel must be >= 1, got {samples_per_pixel}")
        self._wp, self._mjw = wp, mjw
        self.use_graph = bool(use_graph)
        if not 0.0 <= float(shadow_light_fraction) <= 1.0:
            raise ValueError(f"shadow_light_fraction must be in [0, 1], got {shadow_light_fraction}")
        self.settings = {"use_shadows": bool(use_shadows), "shadow_light_fraction": float(shadow_light_fraction),
                         "samples_per_pixel": int(samples_per_pixel), "use_textures": True, "render_skybox": True}
        n, m = engine.num_envs, self.model
        self.num_envs = n
        # A camera-specific field of view needs the rays computed per pixel in the kernel (the
        # precomputed rays are one set shared by every world).
        per_world_fovy = self.cfg.enabled and self.cfg.fovy_deg > 0
        import mujoco

        with wp.ScopedDevice(engine.wp_device):
            self.rm = mjw.put_model(m, batch_sizes={f: n for f in APPEARANCE_FIELDS})
            self.rd = mjw.put_data(m, mujoco.MjData(m), nworld=n, nconmax=engine.nconmax, njmax=_RENDER_NJMAX)
            self.rc = mjw.create_render_context(
                m, nworld=n, cam_res=(self.width, self.height), render_rgb=True, render_depth=False,
                render_seg=bool(render_seg), cam_active=list(self.cameras), use_textures=True,
                use_shadows=self.settings["use_shadows"], shadow_light_fraction=self.settings["shadow_light_fraction"],
                render_skybox=True,
                use_precomputed_rays=not per_world_fovy or self.settings["samples_per_pixel"] > 1,
                samples_per_pixel=self.settings["samples_per_pixel"])
            self.settings["use_precomputed_rays"] = bool(self.rc.use_precomputed_rays)
            self._npix = len(self.cameras) * self.width * self.height
            self._pixels = wp.zeros((n, 3 * self._npix), dtype=wp.uint8)
            self._flag = wp.zeros(n, dtype=wp.uint8)
            mask = lambda ids: wp.array(np.isin(np.arange(m.ngeom), list(ids)).astype(np.uint8),  # noqa: E731
                                        dtype=wp.uint8)
            self._is_target, self._is_gripper = mask(self._target_geoms), mask(self._gripper_geoms)
        import torch

        self._torch = torch
        self._views = {f: wp.to_torch(getattr(self.rm, f)) for f in APPEARANCE_FIELDS}
        self._dirty: set[int] = set(range(n))
        self._graph = None
        self.frames = 0

    # ---- appearance ------------------------------------------------------------------------------
    def randomize(self, env_id: int) -> None:
        super().randomize(env_id)
        self._dirty.add(int(env_id))

    def set_appearance(self, env_id: int, appearance) -> None:
        """Give world `env_id` this appearance (e.g. another renderer's draw: the comparison)."""
        self.appearance[env_id] = appearance
        self._dirty.add(int(env_id))

    def _upload_appearance(self) -> None:
        """The new appearances (worlds re-drawn since the last frame) into the batched fields:
        one host-to-device write per field, at episode starts only."""
        if not self._dirty:
            return
        torch = self._torch
        ids = sorted(self._dirty)
        self._dirty.clear()
        idx = torch.as_tensor(ids, dtype=torch.int64, device=self._views["cam_pos"].device)
        for f in APPEARANCE_FIELDS:
            view = self._views[f]
            rows = np.stack([getattr(self.appearance[i], f) for i in ids])
            view[idx] = torch.as_tensor(rows.reshape(len(ids), *view.shape[1:]), dtype=view.dtype).to(view.device)

    # ---- one frame -------------------------------------------------------------------------------
    def _frame(self) -> None:
        wp, mjw, e, rd, rm, rc = self._wp, self._mjw, self.engine, self.rd, self.rm, self.rc
        unpack_rgb, contact_flag = _kernels(wp)
        wp.copy(rd.qpos, e.wd.qpos)
        wp.copy(rd.mocap_pos, e.wd.mocap_pos)
        wp.copy(rd.mocap_quat, e.wd.mocap_quat)
        mjw.kinematics(rm, rd)
        mjw.camlight(rm, rd)
        mjw.collision(rm, rd)
        self._flag.zero_()
        wp.launch(contact_flag, dim=rd.naconmax, inputs=[rd.nacon, rd.contact.geom, rd.contact.worldid,
                                                         self._is_target, self._is_gripper, self._flag])
        mjw.refit_bvh(rm, rd, rc)
        mjw.render(rm, rd, rc)
        wp.launch(unpack_rgb, dim=(self.num_envs, self._npix), inputs=[rc.rgb_data, self._npix, self._pixels])

    def render_all(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """({camera: uint8 [N, H, W, 3]}, bool [N] gripper/target contact) of every world."""
        wp = self._wp
        self._upload_appearance()
        with self.engine._warp_scope():  # the engine's device and stream (ordered with torch's writes)
            if not self.use_graph:
                self._frame()
            elif self._graph is None:
                self._frame()  # compiles every kernel (and is this call's frame)
                with wp.ScopedCapture() as capture:
                    self._frame()
                self._graph = capture.graph
            else:
                wp.capture_launch(self._graph)
            # the one host synchronisation: the images (and the flags) come back, copied on the
            # stream the frame ran on (inside the scope: torch's side stream where there is one)
            host = self._pixels.numpy()
            flags = self._flag.numpy()
        if self.engine.wp_device == "cpu":  # numpy() of a CPU array is a view of the live buffer
            host, flags = host.copy(), flags.copy()
        frames = host.reshape(self.num_envs, len(self.cameras), self.height, self.width, 3)
        self.frames += 1
        return {c: frames[:, k] for k, c in enumerate(self.cameras)}, flags.astype(bool)

    def render_world(self, env_id: int) -> tuple[dict[str, np.ndarray], bool]:
        """One world (renders all of them: the batch is the unit of work here)."""
        images, contact = self.render_all()
        return {c: images[c][env_id] for c in self.cameras}, bool(contact[env_id])

    def segmentation(self) -> np.ndarray:
        """int [N, ncam, H, W]: the geom id each pixel of the last frame shows (-1: background).
        Needs ``render_seg=True``; for the renderer comparison (collect/compare_renderers.py)."""
        wp, mjw = self._wp, self._mjw
        out = []
        with wp.ScopedDevice(self.engine.wp_device):
            for k in range(len(self.cameras)):
                seg = wp.zeros((self.num_envs, self.height, self.width), dtype=wp.vec2i)
                mjw.get_segmentation(self.rc, k, seg)
                out.append(seg.numpy()[..., 0])
        return np.stack(out, axis=1)

    def close(self) -> None:
        self._graph = None
