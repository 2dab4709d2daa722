"""System identification of the arm's actuator dynamics with CMA-ES (paper A.3.2, PACE-style).

Pipeline: `chirp` (Cartesian excitation targets) -> a `recording` (robot via `ros_recorder`, or the
simulator via `replay.simulate_recording`) -> `fit` (CMA-ES over per-joint armature, static
friction, dynamic-friction ratio, viscous friction and one motor delay, replaying the recorded
targets closed-loop through the deployed OSC law in `replay`) -> a YAML the environment loads
(`params.load_sysid_yaml`; friction model in `params.dynamic_friction_torque`).
CLI: ``python -m omnireset_sim.sysid --help``.
"""

from .params import (
    STRIBECK_VELOCITY,
    SearchSpace,
    SysidParams,
    dynamic_friction_torque,
    load_sysid_yaml,
    save_sysid_yaml,
)

__all__ = ["STRIBECK_VELOCITY", "SearchSpace", "SysidParams", "dynamic_friction_torque", "load_sysid_yaml",
           "save_sysid_yaml"]
