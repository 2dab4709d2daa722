"""Wall slide (block reorientation against a wall): stand a flat block up against a wall, non-prehensile."""

from ..spec import LOOSE_FIT_ORIENTATION, LOOSE_FIT_POSITION, QUAT_IDENTITY, QUAT_X90, Geom, ObjectSpec, TaskSpec

WALL_HALF = (0.15, 0.01, 0.075)
BLOCK_HALF = (0.04, 0.015, 0.06)
# Success: released value unknown, so the released docs' rule: LOOSE -- non-prehensile, the block only
# leans on a flat wall face (no slot or hole constrains it).
SUCCESS_POSITION = LOOSE_FIT_POSITION  # m
SUCCESS_ORIENTATION = LOOSE_FIT_ORIENTATION  # rad
SPEC = TaskSpec(
    name="wall_slide",
    description="Push a flat block against a wall and tip it up to stand on its end against the wall face.",
    target=ObjectSpec("block", (Geom("box", BLOCK_HALF),), mass=0.1, rgba=(0.3, 0.75, 0.35, 1.0)),
    receptive=ObjectSpec("wall", (Geom("box", WALL_HALF),), mass=2.0, friction=0.4, rgba=(0.6, 0.6, 0.6, 1.0)),
    target_rest_quat=QUAT_X90,  # lying on its broad face (local y vertical)
    target_rest_height=BLOCK_HALF[1],
    receptive_height=WALL_HALF[2],
    # Standing on its short end, thin side flat against the wall face (which faces -y).
    goal_pos=(0.0, -(WALL_HALF[1] + BLOCK_HALF[1]), BLOCK_HALF[2] - WALL_HALF[2]),
    goal_quat=QUAT_IDENTITY,
    success_position_threshold=SUCCESS_POSITION,
    success_orientation_threshold=SUCCESS_ORIENTATION,
    receptive_nominal_xy=(0.0, 0.29),
    ignored_axes=("z",),
    min_reset_separation=0.1,
    approximations="",
)
