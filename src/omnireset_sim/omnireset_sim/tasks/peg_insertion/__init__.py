"""Peg insertion: a square peg into a square through-hole (1 mm clearance per side) in a block.

Released-code geometry (UW-Lab's PegHole asset, read through the JTran-UW/UWLab fork's
metadata.yaml; see shared/reference/released_code.md): a 69.85 x 69.85 x 40.64 mm block whose hole
goes through, so a seated peg stands on the table plane; success thresholds 2.5 mm / 0.025 rad.
The peg itself (20 mm square, 80 mm long) is ours: the released peg is a mesh we cannot read.
"""

from ..spec import QUAT_IDENTITY, Geom, ObjectSpec, TaskSpec, box_ring

PEG_HALF = (0.01, 0.01, 0.04)
CLEARANCE = 0.001  # m per side
BLOCK_HALF = 0.06985 / 2  # released PegHole block, 69.85 mm square
BLOCK_HEIGHT = 0.04064  # released PegHole block, 40.64 mm tall
# Released peg hole thresholds (metadata.yaml of the PegHole asset).
SUCCESS_POSITION = 0.0025  # m
SUCCESS_ORIENTATION = 0.025  # rad

_hole_rgba = (0.35, 0.45, 0.6, 1.0)
SPEC = TaskSpec(
    name="peg_insertion",
    description="Insert a 20 x 20 x 80 mm square peg into a through-hole (1 mm clearance per side) of a 69.85 mm block.",
    target=ObjectSpec("peg", (Geom("box", PEG_HALF),), mass=0.05, rgba=(0.85, 0.55, 0.15, 1.0)),
    receptive=ObjectSpec(
        "peg_hole",
        box_ring((PEG_HALF[0] + CLEARANCE, PEG_HALF[1] + CLEARANCE), (BLOCK_HALF, BLOCK_HALF), (0.0, BLOCK_HEIGHT),
                 rgba=_hole_rgba),
        mass=0.5, friction=0.4, rgba=_hole_rgba),
    target_rest_quat=QUAT_IDENTITY,
    target_rest_height=PEG_HALF[2],
    receptive_height=0.0,
    # Seated: the peg's bottom on the table plane inside the hole (the released seated offset).
    goal_pos=(0.0, 0.0, PEG_HALF[2]),
    goal_quat=QUAT_IDENTITY,
    success_position_threshold=SUCCESS_POSITION,
    success_orientation_threshold=SUCCESS_ORIENTATION,
    receptive_nominal_xy=(0.05, -0.27),
    ignored_axes=("z",),
    min_reset_separation=0.08,
    approximations="Square peg and hole from boxes (the official peg is a mesh with SDF contacts); "
                   "the peg's 80 mm length is ours (long enough for the 40 mm pads to hold it above the block when seated).",
)
