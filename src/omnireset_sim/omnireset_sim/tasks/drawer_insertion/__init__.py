"""Drawer insertion (FurnitureBench): push a drawer into its box (2 mm clearance per side)."""

from ..spec import QUAT_IDENTITY, TIGHT_FIT_ORIENTATION, TIGHT_FIT_POSITION, Geom, ObjectSpec, TaskSpec

W = 0.004  # cabinet wall half thickness
# Success: released value unknown (not in the code; the drawer box's metadata is unreachable), so the
# released docs' rule: TIGHT fit -- the tray slides in with 2 mm per side, like the peg / leg class.
SUCCESS_POSITION = TIGHT_FIT_POSITION  # m
SUCCESS_ORIENTATION = TIGHT_FIT_ORIENTATION  # rad
_box_rgba = (0.55, 0.4, 0.3, 1.0)
# Cabinet: open at -x (towards the robot), origin at the bottom centre on the table.
# Interior: x [-0.069, 0.069], y [-0.072, 0.072], z [0.008, 0.072].
_cabinet = (
    Geom("box", (0.073, 0.08, W), (0.004, 0.0, W), rgba=_box_rgba),  # bottom
    Geom("box", (0.073, 0.08, W), (0.004, 0.0, 0.08 - W), rgba=_box_rgba),  # top
    Geom("box", (0.073, W, 0.032), (0.004, 0.076, 0.04), rgba=_box_rgba),  # left
    Geom("box", (0.073, W, 0.032), (0.004, -0.076, 0.04), rgba=_box_rgba),  # right
    Geom("box", (W, 0.072, 0.032), (0.073, 0.0, 0.04), rgba=_box_rgba),  # back
)
# Drawer: an open tray (origin at its centre) with a front panel larger than the opening.
T = 0.0025
# The front panel (a lip) is 60 mm tall on the 50 mm tray, centred: it hangs 5 mm below the tray's
# bottom, so the drawer standing upright rests on the panel's lower edge, not on the tray.
PANEL_HALF_HEIGHT = 0.03
_tray_rgba = (0.85, 0.7, 0.5, 1.0)
_drawer = (
    Geom("box", (0.065, 0.07, T), (0.0, 0.0, -0.025 + T)),
    Geom("box", (T, 0.07, 0.0225), (0.065 - T, 0.0, 0.0025)),
    Geom("box", (T, 0.07, 0.0225), (-0.065 + T, 0.0, 0.0025)),
    Geom("box", (0.065, T, 0.0225), (0.0, 0.07 - T, 0.0025)),
    Geom("box", (0.065, T, 0.0225), (0.0, -0.07 + T, 0.0025)),
    Geom("box", (0.004, 0.075, PANEL_HALF_HEIGHT), (-0.069, 0.0, 0.0), rgba=(0.6, 0.45, 0.3, 1.0)),  # front panel
)
SPEC = TaskSpec(
    name="drawer_insertion",
    description="Insert a drawer into its box until the front panel meets the opening.",
    target=ObjectSpec("drawer", _drawer, mass=0.15, rgba=_tray_rgba),
    receptive=ObjectSpec("drawer_box", _cabinet, mass=1.0, friction=0.4, rgba=_box_rgba),
    target_rest_quat=QUAT_IDENTITY,
    # Upright on the table the lowest point is the panel's lower edge (z = -PANEL_HALF_HEIGHT); the
    # tray's bottom (-0.025) would put the panel 5 mm into the table, and every resting proposal was
    # rejected for that penetration. From here the tray tips 2.2 deg onto its far bottom edge
    # (origin 2.5 mm lower, < 3 mm of travel); the orientation stays upright because the oracle
    # grasps the panel with a closing axis horizontal at rest.
    target_rest_height=PANEL_HALF_HEIGHT,
    receptive_height=0.0,
    goal_pos=(-0.004, 0.0, 0.008 + 0.025),
    goal_quat=QUAT_IDENTITY,
    success_position_threshold=SUCCESS_POSITION,
    success_orientation_threshold=SUCCESS_ORIENTATION,
    receptive_nominal_xy=(0.1, -0.3),
    ignored_axes=("z",),
    min_reset_separation=0.2,
    approximations="Drawer and box from thin boxes (the official assets are FurnitureBench meshes).",
)
