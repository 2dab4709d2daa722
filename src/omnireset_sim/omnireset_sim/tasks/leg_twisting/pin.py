"""The plain-pin leg (the leg task before the thread, issue 16): seat a table leg's pin in the table top.

Not the registered task (that is the threaded leg, threaded.py, built from this one): kept as
PIN_SPEC for comparisons (the four-leg table's --leg pin, bench/bench_leg_thread.py, the oracle's
--pin export), with the same name, goal, thresholds and variants.

Approximation (documented honestly): threads are NOT simulated. The leg's screw is a plain pin
in a square hole with 1 mm clearance; "screwed in" becomes "pin fully seated, leg upright". The
twisting motion the real task needs is therefore not required here. MuJoCo's SDF nut/bolt
plugins could model real threads, at a cost far above the CPU budget of training.
"""

from ..spec import (QUAT_X90, QUAT_X180, TIGHT_FIT_ORIENTATION, TIGHT_FIT_POSITION, Geom, ObjectSpec, TaskSpec,
                    box_ring)

LEG_HALF = (0.0125, 0.0125, 0.06)
PIN_RADIUS, PIN_HALF_LENGTH = 0.0055, 0.0075
PLATE_HALF, PLATE_THICKNESS = 0.08, 0.02
HOLE_HALF = 0.0065
# Success: the released table-top (leg) thresholds, 2.5 mm / 0.025 rad (third-party notes of the
# uwlab-assets metadata, shared/reference/released_code.md) -- a tight fit by the released docs' rule too.
SUCCESS_POSITION = TIGHT_FIT_POSITION  # m
SUCCESS_ORIENTATION = TIGHT_FIT_ORIENTATION  # rad

_top_rgba = (0.75, 0.7, 0.6, 1.0)
PIN_SPEC = TaskSpec(
    name="leg_twisting",
    description="Seat a square table leg's pin in the hole of an upside-down table top (no thread).",
    target=ObjectSpec(
        "table_leg",
        (Geom("box", LEG_HALF), Geom("cylinder", (PIN_RADIUS, PIN_HALF_LENGTH), (0.0, 0.0, LEG_HALF[2] + PIN_HALF_LENGTH),
                                     rgba=(0.6, 0.6, 0.65, 1.0))),
        mass=0.08, rgba=(0.9, 0.85, 0.75, 1.0)),
    receptive=ObjectSpec("table_top", box_ring((HOLE_HALF, HOLE_HALF), (PLATE_HALF, PLATE_HALF), (0.0, PLATE_THICKNESS),
                                               rgba=_top_rgba), mass=0.6, friction=0.4, rgba=_top_rgba),
    target_rest_quat=QUAT_X90,  # lying on a side face
    target_rest_height=LEG_HALF[1],
    receptive_height=0.0,
    # Pin down through the hole, leg standing upright on the top's surface.
    goal_pos=(0.0, 0.0, PLATE_THICKNESS + LEG_HALF[2]),
    goal_quat=QUAT_X180,
    success_position_threshold=SUCCESS_POSITION,
    success_orientation_threshold=SUCCESS_ORIENTATION,
    receptive_nominal_xy=(0.05, -0.3),
    ignored_axes=("z",),
    min_reset_separation=0.13,
    approximations=__doc__.split("Approximation (documented honestly): ")[1].strip(),
)
