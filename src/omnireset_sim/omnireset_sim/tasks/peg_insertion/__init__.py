"""Peg insertion: a square peg into a square hole with 1 mm clearance per side."""

from ..spec import QUAT_IDENTITY, Geom, ObjectSpec, TaskSpec, box_ring

PEG_HALF = (0.01, 0.01, 0.03)
CLEARANCE = 0.001  # m per side
BLOCK_HALF = 0.04
BLOCK_HEIGHT = 0.04
FLOOR = 0.01  # hole bottom thickness

_hole_rgba = (0.35, 0.45, 0.6, 1.0)
SPEC = TaskSpec(
    name="peg_insertion",
    description="Insert a 20 mm square peg into a hole (1 mm clearance per side) in a block.",
    target=ObjectSpec("peg", (Geom("box", PEG_HALF),), mass=0.05, rgba=(0.85, 0.55, 0.15, 1.0)),
    receptive=ObjectSpec(
        "peg_hole",
        box_ring((PEG_HALF[0] + CLEARANCE, PEG_HALF[1] + CLEARANCE), (BLOCK_HALF, BLOCK_HALF), (FLOOR, BLOCK_HEIGHT),
                 rgba=_hole_rgba)
        + (Geom("box", (BLOCK_HALF, BLOCK_HALF, FLOOR / 2), (0.0, 0.0, FLOOR / 2), rgba=_hole_rgba),),
        mass=0.5, friction=0.4, rgba=_hole_rgba),
    target_rest_quat=QUAT_IDENTITY,
    target_rest_height=PEG_HALF[2],
    receptive_height=0.0,
    goal_pos=(0.0, 0.0, FLOOR + PEG_HALF[2]),
    goal_quat=QUAT_IDENTITY,
    success_position_threshold=0.005,
    success_orientation_threshold=0.05,
    receptive_nominal_xy=(0.05, -0.27),
    ignored_axes=("z",),
    min_reset_separation=0.08,
    approximations="Square peg and hole from boxes (the official peg is a mesh with SDF contacts).",
)
