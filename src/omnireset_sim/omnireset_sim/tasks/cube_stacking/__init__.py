"""Cube stacking: put a 40 mm cube on top of a 50 mm cube."""

from ..spec import QUAT_IDENTITY, Geom, ObjectSpec, TaskSpec

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
    success_position_threshold=0.01,
    success_orientation_threshold=0.1,
    receptive_nominal_xy=(0.05, -0.25),
    ignored_axes=("z",),
    min_reset_separation=0.07,
    approximations="",
)
