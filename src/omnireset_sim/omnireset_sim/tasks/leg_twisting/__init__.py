"""Leg twisting (FurnitureBench square_table, one leg): screw a table leg into the threaded hole of an
upside-down table top.

The registered task is the threaded leg (threaded.py: a 4-start thread of MuJoCo primitives, the leg
advances only by turning; a 40 s episode). The plain-pin leg it is built from (pin.py, PIN_SPEC, no
thread: a pin in a square hole) stays for comparisons under the same name, put in the registry with
`omnireset_sim.tasks.registered(PIN_SPEC)`.
"""

from .pin import LEG_HALF, PIN_HALF_LENGTH, PIN_RADIUS, PIN_SPEC, PLATE_HALF, PLATE_THICKNESS
from .threaded import EPISODE_LENGTH_S, THREAD, THREADED_SPEC

SPEC = THREADED_SPEC

__all__ = ["EPISODE_LENGTH_S", "LEG_HALF", "PIN_HALF_LENGTH", "PIN_RADIUS", "PIN_SPEC", "PLATE_HALF",
           "PLATE_THICKNESS", "SPEC", "THREAD", "THREADED_SPEC"]
