"""The four-leg table's scene: the single-leg task's scene with a table top of four holes and four legs.

The top is built from the single-leg task's own top (the leg spec's receptive object): its plate is
the `box_ring` around one hole; every other geom of it (a thread's ridges) is a feature of that hole
and is copied to each of the four holes, shifted. The plate itself becomes nine boxes around four
holes of the single-leg hole's size. Legs 1-3 are copies of the scene's target body (leg 0), so every
leg has the single-leg task's geoms, mass and friction.

Frames: hole k's frame is the top's frame shifted by HOLE_OFFSETS[k] (no rotation), i.e. exactly the
single-leg task's receptive frame for leg k.
"""

from __future__ import annotations

import copy
import dataclasses
import xml.etree.ElementTree as ET

from ..tasks.spec import Geom, ObjectSpec, TaskSpec, box_ring
from .scene import TARGET_BODY, TARGET_JOINT, SceneConfig, build_scene_xml

NUM_LEGS = 4
# 200 mm square top, holes 130 mm apart: a seated leg (25 mm square) ends 22.5 mm inside each edge
# (FurnitureBench's square_table puts its legs at the corners; these sizes are ours, not copied).
TOP_HALF = 0.1  # m
HOLE_SPACING_HALF = 0.065  # m, hole centres at (+-, +-) this from the top's centre
# Hole order = the sequencer's leg order: the far row (-y, away from where the legs lie, see
# four_leg_table.LEG_SLOTS) first, so that no leg is carried over one already standing.
HOLE_OFFSETS: tuple[tuple[float, float], ...] = (
    (-HOLE_SPACING_HALF, -HOLE_SPACING_HALF), (HOLE_SPACING_HALF, -HOLE_SPACING_HALF),
    (-HOLE_SPACING_HALF, HOLE_SPACING_HALF), (HOLE_SPACING_HALF, HOLE_SPACING_HALF))


def leg_body(k: int) -> str:
    """Body name of leg k (leg 0 is the scene's target body, so the engine's indices still find it)."""
    return TARGET_BODY if k == 0 else f"{TARGET_BODY}_{k}"


def leg_joint(k: int) -> str:
    return TARGET_JOINT if k == 0 else f"{TARGET_JOINT}_{k}"


def single_hole(spec: TaskSpec) -> tuple[tuple[float, float], float, tuple[Geom, ...]]:
    """(hole half size (x, y), plate thickness, the hole's other features) of a single-leg spec whose
    top is a `box_ring` around its origin, followed by features of the hole (a thread's ridges).
    Raises ValueError for any other top: the four-hole top is only defined for that shape."""
    geoms = spec.receptive.geoms
    if len(geoms) < 4 or any(g.type != "box" for g in geoms[:4]):
        raise ValueError(f"task {spec.name!r}: the four-leg top needs a single-leg top made by box_ring")
    # box_ring's layout: [0] the +y side (full width), [2] the +x side (between the y sides).
    inner = (geoms[2].pos[0] - geoms[2].size[0], geoms[2].size[1])
    outer = (geoms[0].size[0], geoms[0].pos[1] + geoms[0].size[1])
    z0, z1 = geoms[0].pos[2] - geoms[0].size[2], geoms[0].pos[2] + geoms[0].size[2]
    if not all(_close(a, b) for a, b in zip(geoms[:4], box_ring(inner, outer, (z0, z1)))):
        raise ValueError(f"task {spec.name!r}: its top's first four geoms are not a box_ring around the origin")
    if abs(z0) > 1e-12:
        raise ValueError(f"task {spec.name!r}: its top's plate must start at z = 0, starts at {z0}")
    return inner, z1, tuple(geoms[4:])


def _close(a: Geom, b: Geom) -> bool:
    return all(abs(x - y) < 1e-12 for x, y in zip(a.size + a.pos, b.size + b.pos))


def _plate_boxes(hole_half: tuple[float, float], thickness: float, rgba) -> tuple[Geom, ...]:
    """Nine boxes tiling the TOP_HALF square minus the four holes (z from 0 to thickness)."""
    hx, hy = hole_half
    a = HOLE_SPACING_HALF
    if hx >= a or hy >= a or a + max(hx, hy) >= TOP_HALF:
        raise ValueError(f"holes of half size {hole_half} do not fit {2 * a} m apart in a {2 * TOP_HALF} m top")
    # Cut points along each axis: plate edge, hole edges, plate edge.
    xs = (-TOP_HALF, -a - hx, -a + hx, a - hx, a + hx, TOP_HALF)
    ys = (-TOP_HALF, -a - hy, -a + hy, a - hy, a + hy, TOP_HALF)
    hz = 0.5 * thickness
    boxes = []
    # Full-depth columns between the holes' x bands.
    for x0, x1 in ((xs[0], xs[1]), (xs[2], xs[3]), (xs[4], xs[5])):
        boxes.append(Geom("box", (0.5 * (x1 - x0), TOP_HALF, hz), (0.5 * (x0 + x1), 0.0, hz), rgba=rgba))
    # Inside each hole band: the three pieces between the holes' y bands.
    for x0, x1 in ((xs[1], xs[2]), (xs[3], xs[4])):
        for y0, y1 in ((ys[0], ys[1]), (ys[2], ys[3]), (ys[4], ys[5])):
            boxes.append(Geom("box", (0.5 * (x1 - x0), 0.5 * (y1 - y0), hz), (0.5 * (x0 + x1), 0.5 * (y0 + y1), hz),
                              rgba=rgba))
    return tuple(boxes)


def four_hole_top(spec: TaskSpec) -> ObjectSpec:
    """The top with four of `spec`'s holes at HOLE_OFFSETS (its mass scaled by area, its material kept)."""
    hole_half, thickness, features = single_hole(spec)
    top = spec.receptive
    rgba = top.geoms[0].rgba or top.rgba
    shifted = tuple(dataclasses.replace(g, pos=(g.pos[0] + dx, g.pos[1] + dy, g.pos[2]))
                    for dx, dy in HOLE_OFFSETS for g in features)
    single_area = (2 * top.geoms[0].size[0]) ** 2
    return dataclasses.replace(top, name="four_leg_table_top", geoms=_plate_boxes(hole_half, thickness, rgba) + shifted,
                               mass=top.mass * (2 * TOP_HALF) ** 2 / single_area)


def table_task(spec: TaskSpec) -> TaskSpec:
    """`spec` with the four-hole top as its receptive object (goal, thresholds and leg unchanged)."""
    return dataclasses.replace(spec, receptive=four_hole_top(spec))


def build_four_leg_scene_xml(spec: TaskSpec, params, cfg: SceneConfig) -> str:
    """MJCF of the single-leg scene of `table_task(spec)` plus legs 1-3 (copies of the target body,
    parked apart below the table until a reset places them)."""
    root = ET.fromstring(build_scene_xml(table_task(spec), params, cfg))
    world = root.find("worldbody")
    leg0 = next(b for b in world.findall("body") if b.get("name") == TARGET_BODY)
    index = list(world).index(leg0)
    for k in range(1, NUM_LEGS):
        leg = copy.deepcopy(leg0)
        leg.set("name", leg_body(k))
        leg.set("pos", f"{0.3 * k} 0 -1")
        leg.find("freejoint").set("name", leg_joint(k))
        for geom in leg.findall("geom"):
            geom.set("name", geom.get("name").replace(TARGET_BODY, leg_body(k), 1))
        world.insert(index + k, leg)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


__all__ = ["HOLE_OFFSETS", "HOLE_SPACING_HALF", "NUM_LEGS", "TOP_HALF", "build_four_leg_scene_xml", "four_hole_top",
           "leg_body", "leg_joint", "single_hole", "table_task"]
