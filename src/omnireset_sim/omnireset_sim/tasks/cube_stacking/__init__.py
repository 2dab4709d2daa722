"""Cube stacking: put a 40 mm cube on top of a 50 mm cube."""

from ..spec import LOOSE_FIT_ORIENTATION, LOOSE_FIT_POSITION, QUAT_IDENTITY, Geom, ObjectSpec, TaskSpec

# Success: released value unknown, so the released docs' rule: LOOSE -- cube stacking is the docs' own
# example of a loose task (nothing mates; the top cube only has to sit on the bottom one).
SUCCESS_POSITION = LOOSE_FIT_POSITION  # m
SUCCESS_ORIENTATION = LOOSE_FIT_ORIENTATION  # rad

SPEC = TaskSpec(
    name="cube_stacking",
    description="Stack a 40 mm cube on a 50 mm cube.",
    target=ObjectSpec("cube", (Geom("box", (0.02, 0.02, 0.02)),), mass=0.05, rgba=(0.2, 0.6, 0.9, 1.0)),
    receptive=ObjectSpec("base_cube", (Geom("box", (0.025, 0.025, 0.025)),), mass=0.1, friction=0.5,
                         rgba=(0.9, 0.3, 0.3, 1.0)),
    target_rest_quat=QUAT_IDENTITY,
    target_rest_height=0.02,
    receptive_height=0.025,
    goal_pos=(0.0, 0.0, 0.045),
    goal_quat=QUAT_IDENTITY,
    success_position_threshold=SUCCESS_POSITION,
    success_orientation_threshold=SUCCESS_ORIENTATION,
    receptive_nominal_xy=(0.05, -0.25),
    ignored_axes=("z",),
    min_reset_separation=0.07,
    approximations="",
)
