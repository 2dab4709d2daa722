"""Rendering for data collection, with Table 2 / A.3.7 visual randomization, outside the engine.

``RandomizedRenderer`` keeps its own MjModel used only for drawing: the engine's scene plus a bank
of procedural textures (checker / gradient / speckled flat, random colours; MjSpec adds them, so
the bodies, joints and state layout are the engine's). Per world it writes that world's sampled
appearance (light intensity and position, table / object / robot colours or textures, camera pose
+-5 cm / +-2 deg and field-of-view jitter around the calibrated cameras) into that model, loads the world's state from the engine's public ``raw_state()`` /
``state()``, runs ``mj_forward`` and renders. Visual fields never reach the physics, so the
engine is not touched. The same forward pass gives the binary gripper/target contact flag.

``AppearanceSampler`` is the part without OpenGL (render model, texture bank, per-world draws):
warp_render.WarpBatchRenderer draws the same appearances with MuJoCo Warp's batch renderer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import mujoco
import numpy as np

from ..assets.gripper import GRIPPER_BODIES
from ..assets.scene import RECEPTIVE_BODY, ROBOT_BODIES, TABLE_BODY, TARGET_BODY
from ..envs.mujoco_engine import STATE_SPEC


@dataclass(frozen=True)
class VisualRandomizationCfg:
    enabled: bool = True
    camera_pos_m: float = 0.05  # uniform +- per axis (A.3.7: small range around calibration)
    camera_rot_deg: float = 2.0  # rotation about a random axis, uniform +-
    fovy_deg: float = 2.0  # vertical field of view, uniform +-
    light_scale: tuple[float, float] = (0.5, 1.5)  # diffuse/ambient intensity multiplier
    light_pos_m: float = 0.3  # uniform +- per axis
    colour_range: tuple[float, float] = (0.05, 0.95)  # RGB of table / objects / robot links
    # Per world and per group (table, target, receptive, robot): probability of a random texture
    # from the bank instead of a plain colour; the bank has this many procedural textures.
    texture_probability: float = 0.5
    num_textures: int = 12

    def __post_init__(self) -> None:
        for name in ("camera_pos_m", "camera_rot_deg", "fovy_deg", "light_pos_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"visual randomization {name} must be finite and >= 0, got {v}")
        lo, hi = self.light_scale
        if not (0 <= lo <= hi and math.isfinite(hi)):
            raise ValueError(f"light_scale must be 0 <= low <= high, got {self.light_scale}")
        if not (0.0 <= self.texture_probability <= 1.0):
            raise ValueError(f"texture_probability must be in [0, 1], got {self.texture_probability}")
        if int(self.num_textures) < 0:
            raise ValueError(f"num_textures must be >= 0, got {self.num_textures}")

    def as_dict(self) -> dict:
        return asdict(self)


def _axis_angle_quat(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    return np.concatenate([[math.cos(angle / 2)], math.sin(angle / 2) * axis])


@dataclass
class WorldAppearance:
    cam_pos: np.ndarray  # [ncam, 3]
    cam_quat: np.ndarray  # [ncam, 4]
    cam_fovy: np.ndarray  # [ncam]
    light_diffuse: np.ndarray
    light_ambient: np.ndarray
    light_pos: np.ndarray
    geom_rgba: np.ndarray  # [ngeom, 4]
    mat_rgba: np.ndarray  # [nmat, 4]
    geom_matid: np.ndarray  # [ngeom]


TEXTURE_PREFIX = "omnireset_vis_"
_BUILTINS = ("checker", "gradient", "flat")


def render_model_with_texture_bank(xml: str, num_textures: int, seed: int) -> tuple[mujoco.MjModel, np.ndarray]:
    """(the scene compiled with `num_textures` extra procedural textures and materials, their
    material ids). Colours and patterns come from `seed`; the physics fields equal the scene's."""
    spec = mujoco.MjSpec.from_string(xml)
    rng = np.random.default_rng(seed)
    names = []
    for k in range(num_textures):
        kind = _BUILTINS[k % len(_BUILTINS)]
        name = f"{TEXTURE_PREFIX}{k}"
        spec.add_texture(name=name, type=mujoco.mjtTexture.mjTEXTURE_2D,
                         builtin=getattr(mujoco.mjtBuiltin, f"mjBUILTIN_{kind.upper()}"), width=64, height=64,
                         rgb1=rng.uniform(0, 1, 3).tolist(), rgb2=rng.uniform(0, 1, 3).tolist(),
                         mark=mujoco.mjtMark.mjMARK_RANDOM, random=float(rng.uniform(0.0, 0.2)),
                         markrgb=rng.uniform(0, 1, 3).tolist())
        material = spec.add_material(name=name, texrepeat=[float(rng.integers(1, 8))] * 2)
        material.textures[int(mujoco.mjtTextureRole.mjTEXROLE_RGB)] = name
        names.append(name)
    model = spec.compile()
    return model, np.array([model.material(n).id for n in names], dtype=np.int64)


class AppearanceSampler:
    """The render model (the engine's scene + the texture bank) and each world's sampled appearance:
    what every renderer of the collector draws (RandomizedRenderer below: MuJoCo's OpenGL, one world
    at a time; warp_render.WarpBatchRenderer: MuJoCo Warp's ray tracer, all worlds at once). One
    sampler, so the same seed gives the same appearances whichever renderer draws them."""

    def __init__(self, engine, cameras, width: int, height: int, cfg: VisualRandomizationCfg | None = None,
                 seed: int = 0, model_edit=None):
        self.engine = engine
        self.cfg = cfg or VisualRandomizationCfg()
        bank = int(self.cfg.num_textures) if self.cfg.enabled else 0
        self.model, self.texture_materials = render_model_with_texture_bank(engine.xml, bank, seed)
        if model_edit is not None:  # visual-only edits of the render model (compare_renderers' ablations)
            model_edit(self.model)
        m = self.model
        base = engine.model
        if (m.nq, m.nv, m.nbody, m.ngeom, m.ncam, m.nlight) != (base.nq, base.nv, base.nbody, base.ngeom, base.ncam,
                                                                base.nlight):
            raise RuntimeError("the render model's layout differs from the engine's (texture bank compile)")
        valid = [m.camera(i).name for i in range(m.ncam)]
        unknown = [c for c in cameras if c not in valid]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}; the scene has {valid}")
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        if width > m.vis.global_.offwidth or height > m.vis.global_.offheight:
            m.vis.global_.offwidth = max(width, m.vis.global_.offwidth)
            m.vis.global_.offheight = max(height, m.vis.global_.offheight)
        self.cameras = tuple(cameras)
        self.width, self.height = int(width), int(height)
        self.rng = np.random.default_rng(seed)
        self.nominal = self._read(m)

        def geoms_of(body_names):
            ids = {m.body(n).id for n in body_names}
            return np.array([g for g in range(m.ngeom) if m.geom_bodyid[g] in ids], dtype=np.int64)

        self.groups = {"table": geoms_of([TABLE_BODY]), "target": geoms_of([TARGET_BODY]),
                       "receptive": geoms_of([RECEPTIVE_BODY]), "robot": geoms_of(ROBOT_BODIES)}
        self._target_geoms = set(self.groups["target"].tolist())
        self._gripper_geoms = set(geoms_of(GRIPPER_BODIES).tolist())
        self.appearance: list[WorldAppearance] = [self.nominal] * engine.num_envs

    def nominal_fovy_deg(self) -> dict[str, float]:
        """Vertical field of view (degrees) of each rendered camera before randomization: what an
        image policy trained on these frames expects to see (omnireset_policy.image_fit)."""
        return {name: float(self.nominal.cam_fovy[self.model.camera(name).id]) for name in self.cameras}

    @staticmethod
    def _read(m) -> WorldAppearance:
        return WorldAppearance(m.cam_pos.copy(), m.cam_quat.copy(), m.cam_fovy.copy(), m.light_diffuse.copy(),
                               m.light_ambient.copy(), m.light_pos.copy(), m.geom_rgba.copy(), m.mat_rgba.copy(),
                               m.geom_matid.copy())

    def randomize(self, env_id: int) -> None:
        """Draw a new appearance for one world (call at each of its episode starts)."""
        if not self.cfg.enabled:
            return
        c, r, n, m = self.cfg, self.rng, self.nominal, self.model
        cam_pos = n.cam_pos + r.uniform(-c.camera_pos_m, c.camera_pos_m, n.cam_pos.shape)
        cam_quat = n.cam_quat.copy()
        for i in range(m.ncam):
            dq = _axis_angle_quat(r.normal(size=3), math.radians(r.uniform(-c.camera_rot_deg, c.camera_rot_deg)))
            out = np.zeros(4)
            mujoco.mju_mulQuat(out, n.cam_quat[i], dq)
            cam_quat[i] = out
        fovy = n.cam_fovy + r.uniform(-c.fovy_deg, c.fovy_deg, n.cam_fovy.shape)
        scale = r.uniform(*c.light_scale, size=(m.nlight, 1))
        geom_rgba = n.geom_rgba.copy()
        mat_rgba = n.mat_rgba.copy()
        geom_matid = n.geom_matid.copy()
        for name, ids in self.groups.items():
            if ids.size == 0:
                continue
            colour = r.uniform(*c.colour_range, size=3)
            geom_rgba[ids, :3] = colour
            if self.texture_materials.size and r.uniform() < c.texture_probability:
                # a textured look: the texture's own colours (material colour white)
                mat = int(r.choice(self.texture_materials))
                geom_matid[ids] = mat
                mat_rgba[mat, :3] = 1.0
                continue
            mats = np.unique(n.geom_matid[ids])
            mats = mats[mats >= 0]
            # a geom with a material is drawn with the material's colour (times its texture)
            mat_rgba[mats, :3] = colour
        self.appearance[env_id] = WorldAppearance(
            cam_pos, cam_quat, fovy, np.clip(n.light_diffuse * scale, 0, 1), np.clip(n.light_ambient * scale, 0, 1),
            n.light_pos + r.uniform(-c.light_pos_m, c.light_pos_m, n.light_pos.shape), geom_rgba, mat_rgba,
            geom_matid)


class RandomizedRenderer(AppearanceSampler):
    """Renders world i of an engine (MujocoEngine or MujocoWarpEngine: its host state) from named
    cameras with per-world sampled appearance, through MuJoCo's OpenGL renderer."""

    def __init__(self, engine, cameras, width: int, height: int, cfg: VisualRandomizationCfg | None = None,
                 seed: int = 0, model_edit=None):
        super().__init__(engine, cameras, width, height, cfg, seed, model_edit)
        self.data = mujoco.MjData(self.model)
        self.renderer = mujoco.Renderer(self.model, height=self.height, width=self.width)

    def _apply(self, a: WorldAppearance) -> None:
        m = self.model
        m.cam_pos[:] = a.cam_pos
        m.cam_quat[:] = a.cam_quat
        m.cam_fovy[:] = a.cam_fovy
        m.light_diffuse[:] = a.light_diffuse
        m.light_ambient[:] = a.light_ambient
        m.light_pos[:] = a.light_pos
        m.geom_rgba[:] = a.geom_rgba
        m.mat_rgba[:] = a.mat_rgba
        m.geom_matid[:] = a.geom_matid

    def _load_world(self, env_id: int) -> None:
        m, d = self.model, self.data
        mujoco.mj_setState(m, d, self.engine.raw_state()[env_id], STATE_SPEC)
        s = self.engine.state()
        d.mocap_pos[0] = s.receptive_pos[env_id].numpy()
        d.mocap_quat[0] = s.receptive_quat[env_id].numpy()
        mujoco.mj_forward(m, d)

    def contact(self) -> bool:
        """Gripper touches the target object in the last loaded world."""
        d = self.data
        for i in range(d.ncon):
            g1, g2 = int(d.contact[i].geom1), int(d.contact[i].geom2)
            if (g1 in self._target_geoms and g2 in self._gripper_geoms) or \
                    (g2 in self._target_geoms and g1 in self._gripper_geoms):
                return True
        return False

    def render_world(self, env_id: int) -> tuple[dict[str, np.ndarray], bool]:
        """{camera: uint8 [H, W, 3]} of one world, and its gripper/target contact flag."""
        self._apply(self.appearance[env_id])
        self._load_world(env_id)
        images = {}
        for cam in self.cameras:
            self.renderer.update_scene(self.data, camera=cam)
            images[cam] = self.renderer.render().copy()
        return images, self.contact()

    def render_all(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """({camera: uint8 [N, H, W, 3]}, bool [N] gripper/target contact) of every world, one
        world after the other (the interface of warp_render.WarpBatchRenderer.render_all)."""
        n = self.engine.num_envs
        images = {c: np.empty((n, self.height, self.width, 3), np.uint8) for c in self.cameras}
        contact = np.zeros(n, dtype=bool)
        for i in range(n):
            world, contact[i] = self.render_world(i)
            for c in self.cameras:
                images[c][i] = world[c]
        return images, contact

    def close(self) -> None:
        self.renderer.close()
