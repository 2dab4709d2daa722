"""One simulated robot cell without ROS: what the sim node wraps.

It stands in for the UR arm + ros2_control OSC controller + Robotiq gripper + object tracker:
commands go through omnireset_control's controller core (the same rules as the C++ core on the
robot: NaN rejection, command timeout hold, clamps) and the same batched law, evaluated at every
physics step (dt 1/120 s). Episodes follow paper A.4 in spirit: the cell runs continuously; an
attempt ends with a success (task thresholds held for ``success_hold`` seconds) or after
``attempt_timeout`` seconds, is reported as an outcome, and the scene is reset for the next one.

A "first try" success is one reached without re-grasping: the gripper was closed at most once in
the attempt (the paper's definition, A.4, approximated with the gripper command history).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from omnireset_control.constants import ARM_JOINT_NAMES, PHYSICS_DT, TRAIN_GAINS, OscGains
from omnireset_control.controller_core import CommandStatus, OscControllerConfig, OscControllerCore
from omnireset_control.rotations import quat_to_matrix

from .assets.gripper import FINGER_STROKE
from .assets.scene import SceneConfig
from .envs.mujoco_engine import MujocoEngine
from .envs.reset import ReachingResetSampler, ResetSampler
from .mdp.task_metrics import GoalFrame
from .tasks import get_variant

# The Robotiq 2F-85 driver reports its knuckle angle: 0 rad open .. ~0.8 rad closed. The simulated
# finger opening (m) maps linearly onto it, so /joint_states looks like the real driver's.
GRIPPER_JOINT_NAME = "robotiq_85_left_knuckle_joint"
GRIPPER_KNUCKLE_CLOSED = 0.8


# s: how long the task's success condition must hold before an attempt (the sim node) or a leg's turn
# (the four-leg table) counts as a success; a momentary crossing of the threshold is not a seat.
SUCCESS_HOLD_S = 0.5


@dataclass
class SimCoreConfig:
    task: str = "peg_insertion"
    variant: str = "easy"
    robot: str = "ur7e"
    gains: OscGains = TRAIN_GAINS
    command_timeout: float = 0.5
    # s of sim time; None (or 0): the task's training episode (TaskSpec.episode_length_s)
    attempt_timeout: float | None = None
    success_hold: float = SUCCESS_HOLD_S  # s the success condition must hold before the attempt counts
    seed: int = 0
    scene: SceneConfig = field(default_factory=SceneConfig)


@dataclass
class Outcome:
    success: bool
    first_try: bool
    duration: float


class SimCore:
    def __init__(self, cfg: SimCoreConfig, reset_sampler: ResetSampler | None = None):
        self.cfg = cfg
        self.task, self.variant = get_variant(cfg.task, cfg.variant)
        self.attempt_timeout = float(cfg.attempt_timeout or self.task.episode_length_s)
        from .assets.arm import load_arm_kinematics

        scene = cfg.scene
        self.kin_params = load_arm_kinematics(scene.arm)
        self.engine = MujocoEngine(self.task, 1, scene, kinematics=self.kin_params, nthread=0)
        self.dt = self.engine.physics_dt
        if abs(self.dt - PHYSICS_DT) > 1e-12:
            raise ValueError(f"scene physics dt {self.dt} differs from the shared PHYSICS_DT {PHYSICS_DT}")
        self.controller = OscControllerCore(
            self.kin_params, OscControllerConfig(gains=cfg.gains, command_timeout=cfg.command_timeout),
            control_dt=self.dt)
        self.goal = GoalFrame(self.task, dtype=torch.float64)
        self.sampler = reset_sampler or ReachingResetSampler(self.task, self.variant, self.kin_params)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.time = 0.0
        self.steps = 0
        self.gripper_close = False
        self.arm_pinned: np.ndarray | None = None
        self.outcomes: list[Outcome] = []
        self.reset()

    # ---- episode -------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        if seed is not None and seed >= 0:
            self.generator.manual_seed(seed)
        ids = torch.tensor([0])
        state = self.sampler.sample(ids, self.generator)
        self.engine.reset_envs(ids, state)
        self.reset_type = self.sampler.reset_type_names[int(state.reset_type[0])]
        self.gripper_close = bool(state.gripper_closed[0])
        self.controller.reset(self.joint_pos())
        self.attempt_start = self.time
        self.success_since: float | None = None
        self.close_events = int(self.gripper_close)
        self.last_error = None

    # ---- commands ------------------------------------------------------------------------------
    def command(self, action, scale, gripper_close: bool, stamp: float = 0.0) -> CommandStatus:
        status = self.controller.on_command(action, scale, self.joint_pos(), self.time, stamp)
        if status is CommandStatus.ACCEPTED:
            if gripper_close and not self.gripper_close:
                self.close_events += 1
            self.gripper_close = bool(gripper_close)
        return status

    def pin_arm(self, pinned: bool) -> None:
        """Fault injection: hold every arm joint where it is (a blocked arm), or release it."""
        self.arm_pinned = self.joint_pos().copy() if pinned else None

    # ---- physics -------------------------------------------------------------------------------
    def step(self) -> Outcome | None:
        out = self.controller.update(self.joint_pos(), self.joint_vel(), self.time)
        self.engine.step(out.torque.reshape(1, 6), torch.tensor([self.gripper_close]))
        if self.arm_pinned is not None:
            self.engine.set_arm_state(0, self.arm_pinned, np.zeros(6))
        self.time += self.dt
        self.steps += 1
        self.last_tick = out
        state = self.engine.state()
        if not bool(state.finite[0]) or bool(state.sim_reset[0]):
            self.last_error = "simulation became unstable; scene reset"
            return self._finish(False)
        if self.is_success():
            if self.success_since is None:
                self.success_since = self.time
            if self.time - self.success_since >= self.cfg.success_hold - 1e-9:
                return self._finish(True)
        else:
            self.success_since = None
        if self.time - self.attempt_start >= self.attempt_timeout:
            return self._finish(False)
        return None

    def _finish(self, success: bool) -> Outcome:
        outcome = Outcome(success=success, first_try=success and self.close_events <= 1,
                          duration=self.time - self.attempt_start)
        self.outcomes.append(outcome)
        self.reset()
        return outcome

    # ---- state ---------------------------------------------------------------------------------
    def joint_pos(self) -> np.ndarray:
        return self.engine.state().joint_pos[0].numpy().copy()

    def joint_vel(self) -> np.ndarray:
        return self.engine.state().joint_vel[0].numpy().copy()

    def gripper_knuckle(self) -> float:
        opening = float(self.engine.state().gripper_opening[0])
        return GRIPPER_KNUCKLE_CLOSED * (1.0 - min(max(opening / FINGER_STROKE, 0.0), 1.0))

    def object_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Target and receptive object poses in base_link: position, quaternion (w, x, y, z)."""
        s = self.engine.state()
        return {
            "target": (s.target_pos[0].numpy().copy(), s.target_quat[0].numpy().copy()),
            "receptive": (s.receptive_pos[0].numpy().copy(), s.receptive_quat[0].numpy().copy()),
        }

    def is_success(self) -> bool:
        s = self.engine.state()
        tq = s.target_quat.clone()
        tq = tq / tq.norm(dim=1, keepdim=True).clamp_min(1e-9)
        errors = self.goal.errors(torch.nan_to_num(s.target_pos.clone()), quat_to_matrix(tq),
                                  s.receptive_pos.clone(), quat_to_matrix(s.receptive_quat.clone()))
        return bool(errors.success[0])

    def render(self, camera: str, width: int, height: int) -> np.ndarray:
        return self.engine.render(0, camera, width, height)

    @staticmethod
    def joint_names() -> tuple[str, ...]:
        return (*ARM_JOINT_NAMES, GRIPPER_JOINT_NAME)

    def close(self) -> None:
        self.engine.close()


def quat_wxyz_is_unit(q: np.ndarray) -> bool:
    return math.isclose(float(np.linalg.norm(q)), 1.0, rel_tol=1e-6)
