"""Wall slide (block reorientation against a wall): stand a flat block up against a wall, non-prehensile."""

from ..spec import QUAT_IDENTITY, QUAT_X90, Geom, ObjectSpec, TaskSpec

WALL_HALF = (0.15, 0.01, 0.075)
BLOCK_HALF = (0.04, 0.015, 0.06)
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
    success_position_threshold=0.02,
    success_orientation_threshold=0.1,
    receptive_nominal_xy=(0.0, 0.29),
    ignored_axes=("z",),
    min_reset_separation=0.1,
    approximations="",
)
