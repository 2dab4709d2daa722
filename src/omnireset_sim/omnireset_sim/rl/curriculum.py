"""Finetune parameter curricula (A.3.6, A.3.9): move the environment's parameters from the training
values toward the deployment values while the policy keeps succeeding.

Two curricula, each with a level in [0, 1] (0 = training values, 1 = deployment values):

- ``action_scale``: the per-axis action scale, TRAIN_ACTION_SCALE -> DEPLOY_ACTION_SCALE.
- ``dynamics``: joint friction (MuJoCo frictionloss = identified static friction), armature and
  viscous damping from the values the env was built with -> the sysid YAML's values; the motor
  delay from 0 -> the identified delay (the env's randomized spread is kept on top); and the OSC
  gains TRAIN_GAINS -> DEPLOY_GAINS, raised together with the friction as A.3.9 describes.

After every window of finished episodes the success rate decides: > advance_above (0.95) moves
every unfinished curriculum one stage up, < back_off_below (0.9) one stage down. Parameters enter
the env through its public config (read at every reset) and the held nominal joint dynamics that
its reset-time randomization scales (mdp/events.py); the action scale applies at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from omnireset_control.constants import DEPLOY_ACTION_SCALE, DEPLOY_GAINS, TRAIN_ACTION_SCALE, TRAIN_GAINS, OscGains

ADVANCE_ABOVE = 0.95
BACK_OFF_BELOW = 0.9
CURRICULUM_NAMES = ("action_scale", "dynamics")
# Table 2's motor delay U({0, 1, 2}) steps: the spread kept on top of the curriculum's delay.
DELAY_SPREAD = 2


def delay_buffer_steps(sysid=None, delay_spread: int = DELAY_SPREAD) -> int:
    """The largest motor delay the env must hold for the dynamics curriculum to reach `sysid`."""
    return int(sysid.delay if sysid is not None else 0) + int(delay_spread)


@dataclass
class CurriculumState:
    levels: dict[str, float]
    stages: int
    advance_above: float = ADVANCE_ABOVE
    back_off_below: float = BACK_OFF_BELOW
    min_episodes: int = 32
    history: list | None = None  # (iteration, success, levels) at every decision

    def as_dict(self) -> dict:
        return {"levels": dict(self.levels), "stages": self.stages, "advance_above": self.advance_above,
                "back_off_below": self.back_off_below, "min_episodes": self.min_episodes,
                "history": list(self.history or [])}


def _lerp(a, b, t: float):
    return tuple(float(x) + t * (float(y) - float(x)) for x, y in zip(a, b))


class FinetuneCurriculum:
    """Drives both curricula on an OmniResetEnv (see the module docstring).

    ``sysid``: omnireset_sim.sysid.SysidParams (None: the dynamics curriculum only raises the gains
    and keeps the env's joint dynamics).
    """

    def __init__(self, env, sysid=None, stages: int = 10, advance_above: float = ADVANCE_ABOVE,
                 back_off_below: float = BACK_OFF_BELOW, min_episodes: int = 32,
                 curricula: tuple[str, ...] = CURRICULUM_NAMES, delay_spread: int = DELAY_SPREAD):
        unknown = [c for c in curricula if c not in CURRICULUM_NAMES]
        if unknown:
            raise ValueError(f"unknown curricula {unknown}; valid: {list(CURRICULUM_NAMES)}")
        if stages < 1:
            raise ValueError(f"stages must be >= 1, got {stages}")
        if not (0.0 <= back_off_below <= advance_above <= 1.0):
            raise ValueError(f"need 0 <= back_off_below <= advance_above <= 1, got {back_off_below}, {advance_above}")
        self.env = env
        self.sysid = sysid
        self.state = CurriculumState({c: 0.0 for c in curricula}, stages, advance_above, back_off_below, min_episodes,
                                     [])
        nominal = env.engine.nominal
        self._start_joint = {name: getattr(nominal, name).clone()
                             for name in ("joint_friction", "joint_armature", "joint_damping")}
        self._delay_spread = int(delay_spread)
        target_delay = int(sysid.delay) if sysid is not None else 0
        if target_delay + self._delay_spread > env.delay.max_delay:
            raise ValueError(f"the env's motor-delay buffer holds {env.delay.max_delay} steps; the curriculum needs "
                             f"{target_delay + self._delay_spread} (build the env with motor_delay_steps up to that: "
                             "see delay_buffer_steps)")
        self.apply()

    # ---- levels -> env -------------------------------------------------------------------------
    @property
    def levels(self) -> dict[str, float]:
        return dict(self.state.levels)

    def action_scale(self) -> tuple[float, ...]:
        return _lerp(TRAIN_ACTION_SCALE, DEPLOY_ACTION_SCALE, self.state.levels.get("action_scale", 0.0))

    def osc_gains(self) -> OscGains:
        t = self.state.levels.get("dynamics", 0.0)
        return OscGains(kp=_lerp(TRAIN_GAINS.kp, DEPLOY_GAINS.kp, t), zeta=_lerp(TRAIN_GAINS.zeta, DEPLOY_GAINS.zeta, t))

    def joint_dynamics(self) -> dict[str, torch.Tensor]:
        t = self.state.levels.get("dynamics", 0.0)
        if self.sysid is None:
            return {k: v.clone() for k, v in self._start_joint.items()}
        goal = {"joint_friction": self.sysid.static_friction, "joint_armature": self.sysid.armature,
                "joint_damping": self.sysid.viscous_friction}
        return {k: start + t * (torch.tensor(goal[k], dtype=start.dtype).reshape(start.shape) - start)
                for k, start in self._start_joint.items()}

    def motor_delay_range(self) -> tuple[int, int]:
        t = self.state.levels.get("dynamics", 0.0)
        low = int(round(t * (self.sysid.delay if self.sysid is not None else 0)))
        return low, low + self._delay_spread

    def apply(self) -> None:
        env = self.env
        scale = self.action_scale()
        env.action_scale = torch.tensor(scale, dtype=env.action_scale.dtype)
        randomization = replace(env.cfg.randomization, motor_delay_steps=self.motor_delay_range())
        env.cfg = replace(env.cfg, action_scale=scale, osc_gains=self.osc_gains(), randomization=randomization)
        for name, value in self.joint_dynamics().items():
            setattr(env.engine.nominal, name, value)

    # ---- decisions -----------------------------------------------------------------------------
    def update(self, success_rate: float, episodes: int, iteration: int) -> str | None:
        """One decision from the success rate of `episodes` finished episodes; returns what changed."""
        if episodes < self.state.min_episodes or not math.isfinite(success_rate):
            return None
        step = 1.0 / self.state.stages
        before = dict(self.state.levels)
        for name, level in self.state.levels.items():
            if success_rate > self.state.advance_above:
                self.state.levels[name] = min(1.0, round(level + step, 9))
            elif success_rate < self.state.back_off_below:
                self.state.levels[name] = max(0.0, round(level - step, 9))
        if self.state.levels == before:
            return None
        self.apply()
        self.state.history.append((iteration, float(success_rate), dict(self.state.levels)))
        verb = "advanced" if success_rate > self.state.advance_above else "backed off"
        return f"curriculum {verb} at success {success_rate:.3f}: {self.state.levels}"

    @property
    def finished(self) -> bool:
        return all(level >= 1.0 for level in self.state.levels.values())

    def load_state(self, state: dict) -> None:
        levels = state.get("levels", {})
        for name in self.state.levels:
            if name in levels:
                value = float(levels[name])
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"curriculum level {name}={value} outside [0, 1]")
                self.state.levels[name] = value
        self.state.history = list(state.get("history", []))
        self.apply()


__all__ = ["ADVANCE_ABOVE", "BACK_OFF_BELOW", "CURRICULUM_NAMES", "DELAY_SPREAD", "delay_buffer_steps", "CurriculumState", "FinetuneCurriculum"]
