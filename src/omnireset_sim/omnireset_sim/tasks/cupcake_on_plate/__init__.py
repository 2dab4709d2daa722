"""Cupcake on plate: place a cupcake upright in the middle of a plate."""

from ..spec import LOOSE_FIT_ORIENTATION, LOOSE_FIT_POSITION, QUAT_IDENTITY, Geom, ObjectSpec, TaskSpec

# Success: released value unknown, so the released docs' rule: LOOSE -- a placement on a flat 140 mm
# plate with no mating feature.
SUCCESS_POSITION = LOOSE_FIT_POSITION  # m
SUCCESS_ORIENTATION = LOOSE_FIT_ORIENTATION  # rad

SPEC = TaskSpec(
    name="cupcake_on_plate",
    description="Place a cupcake upright on a plate.",
    target=ObjectSpec("cupcake", (Geom("cylinder", (0.025, 0.015)),
                                  Geom("sphere", (0.027,), (0.0, 0.0, 0.02), rgba=(0.95, 0.85, 0.9, 1.0))),
                      mass=0.05, rgba=(0.55, 0.35, 0.2, 1.0)),
    receptive=ObjectSpec("plate", (Geom("cylinder", (0.07, 0.005), (0.0, 0.0, 0.005)),), mass=0.3, friction=0.4,
                         rgba=(0.95, 0.95, 0.95, 1.0)),
    target_rest_quat=QUAT_IDENTITY,
    target_rest_height=0.015,
    receptive_height=0.0,
    goal_pos=(0.0, 0.0, 0.01 + 0.015),
    goal_quat=QUAT_IDENTITY,
    success_position_threshold=SUCCESS_POSITION,
    success_orientation_threshold=SUCCESS_ORIENTATION,
    receptive_nominal_xy=(0.05, -0.25),
    ignored_axes=("z",),
    min_reset_separation=0.11,
    approximations="Cupcake as a cylinder with a spherical top (the official asset is a mesh).",
)
