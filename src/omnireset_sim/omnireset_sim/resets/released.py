"""Every constant of reset generation that follows the paper's released code, in one place.

Source: UW-Lab/UWLab (snapshot 36d98af, read 2026-12). Shorthands as in
shared/reference/released_code.md: O = source/uwlab_tasks/uwlab_tasks/manager_based/manipulation/
omnireset/, C = O/config/ur5e_robotiq_2f85/, S = scripts_v2/tools/. What differs from the released
code on purpose (MuJoCo instead of PhysX, our frames) is said where it is used.
"""

from __future__ import annotations

import math

from omnireset_control.constants import PHYSICS_DT

# ---- reset states: validation (C/reset_states_cfg.py UR5eRobotiq2f85ResetStatesCfg, O/mdp/terminations.py
# check_reset_state_success) -----------------------------------------------------------------------------
VALIDATION_SECONDS = 2.0  # C/reset_states_cfg.py: episode_length_s = 2.0 (sim.dt = 1/120)
VALIDATION_STEPS = round(VALIDATION_SECONDS / PHYSICS_DT)  # 240 physics steps
# Terminations are evaluated once per env step: decimation 12 physics steps (C/reset_states_cfg.py).
STABILITY_SAMPLE_STEPS = 12
# consecutive_stability_steps = 5 (C/reset_states_cfg.py ResetStatesTerminationCfg): the state must be
# stable at the last 5 samples (0.5 s) before the 2 s time-out.
STABLE_SAMPLES = 5
# "Stable" at a sample (O/mdp/terminations.py check_reset_state_success): the robot's joint speeds
# (arm and gripper) sum to < 5, and every object's linear / angular velocity components sum (|x|+|y|+|z|)
# to < 0.1 m/s / < 1.0 rad/s.
STABLE_ROBOT_JOINT_SPEED_SUM = 5.0  # rad/s (+ m/s for our prismatic fingers)
STABLE_OBJECT_LIN_SPEED_SUM = 0.1  # m/s
STABLE_OBJECT_ANG_SPEED_SUM = 1.0  # rad/s
# abnormal_gripper_state: any joint faster than twice its velocity limit (O/mdp/terminations.py).
ABNORMAL_JOINT_SPEED_FACTOR = 2.0
# max_robot_pos_deviation = 0.1, measured at robotiq_base_link (ee_body_name); ours: the gripper base.
MAX_EE_DRIFT = 0.1  # m
# max_object_pos_deviation per reset type (C/reset_states_cfg.py *ResetStatesCfg.__post_init__):
# ObjectAnywhereEEAnywhere inf, ObjectRestingEEGrasped 0.01, ObjectAnywhereEEGrasped 0.05,
# ObjectPartiallyAssembledEEGrasped 0.025. None = no limit (JSON-safe).
MAX_OBJECT_DRIFT: dict[str, float | None] = {"reaching": None, "near_object": 0.01, "stable_grasp": 0.05,
                                             "near_goal": 0.025}
# pos_z_threshold = -0.02: the EE (robotiq_base_link) and every object must end above z = -0.02 m
# (the table plane is z = 0 in both frames).
MIN_END_HEIGHT = -0.02  # m
# gripper_orientation_within_range: the approach axis' world z < -0.5, i.e. within 60 deg of straight
# down, for every reset type (O/mdp/terminations.py).
GRIPPER_DOWN_COS = 0.5
# Collision checks at the end of validation (CollisionAnalyzerCfg min_dist: robot-target -0.5 mm,
# robot-receptive 0, target-receptive -1 mm). Ours: MuJoCo's contact distance, one tolerance for all
# pairs (MuJoCo's soft contacts rest slightly inside each other, so 0 would reject resting contacts).
END_PENETRATION_TOL = 0.001  # m

# ---- reset states: proposals (C/reset_states_cfg.py events, S/record_reset_states.py) ------------------
# ObjectRestingEEGraspedEventCfg pose_range_b: the grasp pose perturbed by x, y, z U(-0.02, 0.02) and
# roll, pitch, yaw U(-pi/16, pi/16), in the end effector's (robotiq_base_link) frame.
NEAR_OBJECT_POS_NOISE = 0.02  # m per axis
NEAR_OBJECT_ROT_NOISE = math.pi / 16  # rad per Euler axis
# ObjectPartiallyAssembledEEGraspedEventCfg pose_range_b: U(-0.01, 0.01) m, U(-pi/32, pi/32) rad.
NEAR_GOAL_POS_NOISE = 0.01
NEAR_GOAL_ROT_NOISE = math.pi / 32
# S/record_reset_states.py: the grasped types (ObjectRestingEEGrasped, ObjectAnywhereEEGrasped) validate
# with the gripper closed; the others (reaching, near-goal) close or open it with probability 1/2.
CLOSED_FRACTION: dict[str, float] = {"reaching": 0.5, "near_object": 1.0, "stable_grasp": 1.0, "near_goal": 0.5}
# ObjectPartiallyAssembled*: assembly_success_prob 0.5, assembly_threshold_scale 1.5 -- half the near-goal
# states within 1.5x the task's success thresholds, half outside (O/mdp/terminations.py).
NEAR_GOAL_SUCCESS_FRACTION = 0.5
NEAR_GOAL_THRESHOLD_SCALE = 1.5
# D/rl_training.rst: record_reset_states.py --num_reset_states 10000 for every type.
STATES_PER_TYPE = 10_000

# ---- partial assemblies (C/partial_assemblies_cfg.py, S/record_partial_assemblies.py) -----------------
ASSEMBLY_EPISODE_SECONDS = 4.0  # episode_length_s = 4.0, decimation 1, sim.dt = 1/120
ASSEMBLY_EPISODE_STEPS = round(ASSEMBLY_EPISODE_SECONDS / PHYSICS_DT)  # 480
# apply_external_force_torque every 1/120 s (every physics step): each force / torque component
# U(-0.005, 0.005) (N, N m), on the insertive object.
ASSEMBLY_WRENCH = 0.005
# The released insertive object weighs 0.001 kg there ("assume very light"; make_insertive_object). In
# MuJoCo that 1 g peg is thrown out of the hole within ~4 steps (measured: 3 poses from 20 episodes),
# so ours keeps the task's own mass (None); PartialAssemblyConfig(target_mass=0.001) restores it.
RELEASED_ASSEMBLY_TARGET_MASS = 0.001  # kg
ASSEMBLY_TARGET_MASS = None
# Gravity off for the insertive object (disable_gravity=True), zero static/dynamic friction on both objects.
ASSEMBLY_FRICTION = 0.0
# A pose is new only if it is more than 1 mm AND more than 0.01 (Euclidean quaternion distance) from
# every pose kept so far (pos_similarity_threshold, ori_similarity_threshold).
ASSEMBLY_MIN_POSITION_GAP = 0.001  # m
ASSEMBLY_MIN_QUAT_GAP = 0.01
# Poses are kept only while collision free: target-receptive min_dist -0.001 (CollisionAnalyzerCfg).
ASSEMBLY_PENETRATION_TOL = 0.001  # m
# An episode also ends when the target's oriented bounding box no longer overlaps its box at the
# assembled pose (check_obb_no_overlap_termination).
