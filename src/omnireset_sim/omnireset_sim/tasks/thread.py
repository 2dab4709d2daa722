"""A screw thread out of MuJoCo primitives: helical ridges of capsules in a hole, sphere lugs on a pin.

Why primitives. MuJoCo has no helical joint. Primitives collide in every engine we run (MuJoCo C,
the native stepper, which only calls mj_step, and MuJoCo Warp's sphere/capsule pairs) and need no code
between physics steps. Measured (bench/bench_leg_thread.py, same run, 2-core machine under load):
the threaded leg runs at 0.89-0.97x today's pin leg's env-steps/s (N = 16 / 64, random actions and
legs resting in the hole), bare mj_step 0.84-1.09x; MuJoCo's SDF nut/bolt plugin pair at 0.03x of
the pin (even with sdf_iterations 10, sdf_initpoints 40). Not built: a helical equality coupling
switched on at run time. MuJoCo has no point-on-line equality, so it needs an auxiliary slide+hinge
chain (joint equality slide = lead/2pi x hinge) welded to the leg, engaged by Python between policy
steps with a per-world weld pose and thread phase written into the model (eq_data): the native
stepper's 12-substep loop has no hook for it and Warp's model is shared across worlds.
The thread's behaviour comes from contact alone: the lugs ride on the ridges' flanks, so the pin
advances only when turned, backs out when turned back, and a straight push stalls on the first flank
(the lead angle is below the friction angle: self-locking).

Geometry, in the hole's frame (z up, the hole's axis is z, the hole's mouth at ``mouth_z``):
``starts`` ridges (a multi-start thread), each a tube of ``ridge_radius`` whose centre line is the
right-handed helix of ``lead`` (axial advance per turn) at ``ridge_center_radius``, cut into
``segments_per_turn`` capsules per turn; the pin carries one sphere lug of ``lug_radius`` per start,
centred at ``lug_center_radius``, all at one height, midway between two ridges. The ridges start
``mouth_margin`` below the mouth and run ``thread_length`` down to the lugs' seated height (less
half a ridge spacing) and a little beyond. A lug that comes down at any yaw lands on a flank between
``thread_length - lead / starts`` and ``thread_length`` above its seat, so seating takes between
(thread_length - lead/starts) / lead and thread_length / lead turns, and a straight push stops at
least ``thread_length - lead / starts`` short of the seat.

Collision: ridges and lugs touch only each other (their own contact bit, THREAD_CONTYPE); the pin's
core keeps colliding with the hole's walls as before, with ``radial_clearance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .spec import Geom

# Contact bit of the thread geoms: ridges and lugs collide with each other only (the scene's
# environment geoms use bits 1 and 2, assets/mjcf.ENV_CONTYPE / ENV_CONAFFINITY).
THREAD_CONTYPE = 4
THREAD_CONAFFINITY = 4
# Smallest clearance (m) a thread may have, radial (pin core in the bore) and axial (lug between two
# ridges): 5x the 0.04 mm our stiff contacts sink under a 5 N push (assets/mjcf.STIFF_SOLREF), so a
# pressed contact never closes a gap that the geometry leaves open.
MIN_THREAD_CLEARANCE = 2e-4


@dataclass(frozen=True)
class ThreadSpec:
    lead: float  # m, axial advance per turn (pitch x starts)
    starts: int  # ridges (and lugs), evenly spaced in angle
    thread_length: float  # m, axial length of thread a lug travels from the mouth's first flank to its seat
    core_radius: float  # m, the pin's plain cylinder
    bore_half: float  # m, half width of the hole's square bore
    lug_radius: float  # m
    lug_center_radius: float  # m, distance of a lug's centre from the axis
    ridge_radius: float  # m, the tube that forms a ridge
    ridge_center_radius: float  # m, distance of a ridge's centre line from the axis
    mouth_z: float  # m, the hole's mouth (top face) in the hole's frame
    mouth_margin: float = 2.5e-4  # m, the ridges' top crest below the mouth
    segments_per_turn: int = 16
    # Stated alignment tolerance (rad): the pin's tilt from the hole's axis beyond which the thread
    # never engages (the tilted core stops on the bore's rim, or the leg topples, before a lug
    # reaches a ridge). Measured for the threaded leg (test_threaded_leg.py, free leg, 5 N push and
    # 0.02 N m twist, 3 entry yaws): 0.07 rad and less engage, 0.09-0.2 rad never touch a ridge.
    alignment_tolerance: float = 0.08

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> None:
            raise ValueError(f"thread: {name} {why} (got {getattr(self, name)!r})")

        for name in ("lead", "thread_length", "core_radius", "bore_half", "lug_radius", "lug_center_radius",
                     "ridge_radius", "ridge_center_radius", "alignment_tolerance"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0.0):
                bad(name, "must be a finite number > 0")
        if not math.isfinite(self.mouth_z):
            bad("mouth_z", "must be finite")
        if not (math.isfinite(self.mouth_margin) and self.mouth_margin >= 0.0):
            bad("mouth_margin", "must be a finite number >= 0")
        if not (isinstance(self.starts, int) and self.starts >= 1):
            bad("starts", "must be an integer >= 1")
        if not (isinstance(self.segments_per_turn, int) and self.segments_per_turn >= 8):
            bad("segments_per_turn", "must be an integer >= 8 (coarser helices bump the lugs radially)")
        if self.radial_clearance < MIN_THREAD_CLEARANCE:
            bad("bore_half", f"leaves a radial clearance of {self.radial_clearance * 1e3:.3f} mm around the "
                f"{self.core_radius * 1e3:.3f} mm core, below the {MIN_THREAD_CLEARANCE * 1e3:.1f} mm contact margin")
        if self.radial_overlap <= self.radial_clearance:
            bad("lug_center_radius", f"puts the lugs {self.radial_overlap * 1e3:.3f} mm into the ridges, not more "
                f"than the {self.radial_clearance * 1e3:.3f} mm radial play: a lug could slip past a ridge")
        if self.ridge_center_radius - self.ridge_radius < self.core_radius:
            bad("ridge_center_radius", "puts the ridges' crest inside the pin's core")
        if self.axial_clearance < MIN_THREAD_CLEARANCE:
            bad("lead", f"leaves {self.axial_clearance * 1e3:.3f} mm axial clearance per side of a lug between two "
                f"ridges ({self.lead / self.starts * 1e3:.3f} mm apart), below the "
                f"{MIN_THREAD_CLEARANCE * 1e3:.1f} mm contact margin")
        if self.thread_length <= self.ridge_spacing + MIN_THREAD_CLEARANCE:
            bad("thread_length", f"is not longer than the {self.ridge_spacing * 1e3:.3f} mm ridge spacing: a lug "
                "coming down at some yaw would seat without a turn")
        if math.atan2(self.lead, 2.0 * math.pi * self.ridge_center_radius) > math.radians(40.0):
            bad("lead", "gives a lead angle above 40 deg: the thread would not hold against a push")

    # ---- derived ----------------------------------------------------------------------------------
    @property
    def ridge_spacing(self) -> float:
        """Axial distance (m) between neighbouring ridges at one angle."""
        return self.lead / self.starts

    @property
    def radial_clearance(self) -> float:
        return self.bore_half - self.core_radius

    @property
    def radial_overlap(self) -> float:
        """How far (m) a centred lug reaches past a ridge's crest, towards the wall."""
        return (self.lug_center_radius + self.lug_radius) - (self.ridge_center_radius - self.ridge_radius)

    @property
    def contact_dz(self) -> float:
        """Axial distance (m) of a lug's centre from a ridge's centre line when they touch (centred pin)."""
        s = self.lug_radius + self.ridge_radius
        dr = self.ridge_center_radius - self.lug_center_radius
        return math.sqrt(max(s * s - dr * dr, 0.0))

    @property
    def axial_clearance(self) -> float:
        """Axial play (m) per side of a lug midway between two ridges."""
        return 0.5 * (self.ridge_spacing - 2.0 * self.contact_dz)

    @property
    def top_z(self) -> float:
        """Height (m) of the ridges' top centre line, hole frame."""
        return self.mouth_z - self.mouth_margin - self.ridge_radius

    @property
    def lug_seat_z(self) -> float:
        """Height (m) of the lugs' centres in the hole frame with the pin seated."""
        return self.top_z - self.thread_length + 0.5 * self.ridge_spacing

    @property
    def turns_to_seat(self) -> tuple[float, float]:
        """(fewest, most) turns from the first flank to the seat, over the entry yaw."""
        return (self.thread_length - self.ridge_spacing) / self.lead, self.thread_length / self.lead

    @property
    def push_stop(self) -> float:
        """Least height (m) above its seat at which a straight push stalls on a flank."""
        return self.thread_length - self.ridge_spacing

    # ---- geoms ------------------------------------------------------------------------------------
    def ridge_geoms(self, rgba=None) -> tuple[Geom, ...]:
        """The capsules of every ridge, hole frame. Ridge j passes angle 2 pi j / starts at the height
        half a ridge spacing below the lugs' seat; each runs from ``top_z`` down to 0.5 mm below that."""
        k = self.lead / (2.0 * math.pi)  # dz / dphi (right-handed: z rises with phi)
        z_ref = self.lug_seat_z - 0.5 * self.ridge_spacing
        z_bottom = z_ref - 5e-4
        geoms = []
        for j in range(self.starts):
            phi0 = 2.0 * math.pi * j / self.starts
            phi_top = phi0 + (self.top_z - z_ref) / k
            phi_bottom = phi0 + (z_bottom - z_ref) / k
            n = max(1, math.ceil((phi_top - phi_bottom) / (2.0 * math.pi) * self.segments_per_turn))
            phis = np.linspace(phi_bottom, phi_top, n + 1)
            pts = [(self.ridge_center_radius * math.cos(p), self.ridge_center_radius * math.sin(p),
                    z_ref + k * (p - phi0)) for p in phis]
            for a, b in zip(pts[:-1], pts[1:]):
                geoms.append(_capsule(a, b, self.ridge_radius, rgba))
        return tuple(geoms)

    def lug_points(self) -> np.ndarray:
        """[starts, 3] lug centres in the hole frame with the pin seated (angles 2 pi k / starts)."""
        ang = 2.0 * math.pi * np.arange(self.starts) / self.starts
        r = self.lug_center_radius
        return np.stack([r * np.cos(ang), r * np.sin(ang), np.full_like(ang, self.lug_seat_z)], axis=1)

    def lug_geoms(self, seated_pos, seated_rot, rgba=None) -> tuple[Geom, ...]:
        """Sphere lugs in the pin's own frame, given the pin's seated pose in the hole frame
        (position [3], rotation [3,3])."""
        pos = np.asarray(seated_pos, dtype=np.float64)
        rot = np.asarray(seated_rot, dtype=np.float64)
        local = (self.lug_points() - pos) @ rot  # rot^T (p - pos), row-wise
        return tuple(Geom("sphere", (self.lug_radius,), tuple(float(v) for v in p), rgba=rgba,
                          contype=THREAD_CONTYPE, conaffinity=THREAD_CONAFFINITY) for p in local)


def _capsule(a, b, radius: float, rgba) -> Geom:
    a, b = np.asarray(a), np.asarray(b)
    d = b - a
    length = float(np.linalg.norm(d))
    axis = d / length
    # Quaternion taking +z onto the segment's direction.
    z = np.array([0.0, 0.0, 1.0])
    c = float(np.dot(z, axis))
    v = np.cross(z, axis)
    if c < -1.0 + 1e-12:
        quat = (0.0, 1.0, 0.0, 0.0)
    else:
        q = np.array([1.0 + c, v[0], v[1], v[2]])
        q /= np.linalg.norm(q)
        quat = tuple(float(x) for x in q)
    mid = 0.5 * (a + b)
    return Geom("capsule", (radius, 0.5 * length), tuple(float(x) for x in mid), quat, rgba=rgba,
                contype=THREAD_CONTYPE, conaffinity=THREAD_CONAFFINITY)


__all__ = ["MIN_THREAD_CLEARANCE", "THREAD_CONAFFINITY", "THREAD_CONTYPE", "ThreadSpec"]
