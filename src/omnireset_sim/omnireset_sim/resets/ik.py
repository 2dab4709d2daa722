"""Multi-seed damped-least-squares IK on the project's kinematics (omnireset_control).

The solver itself is the env's (`envs.reset.solve_ik`: batched DLS on BatchedKinematics, joint
limits of the simulated arm). One seed fails for targets far from it in wrist angle or shoulder
pan, so a target the first seed (the home posture turned toward the target) misses is retried
from the next ones (wrist_3 at the other quarter turns).
"""

from __future__ import annotations

import math

import torch

from omnireset_control.kinematics import BatchedKinematics

from ..envs.reset import HOME_JOINT_POS, solve_ik

WRIST_SEED_OFFSETS = (0.0, math.pi / 2, -math.pi / 2, math.pi)


class MultiSeedIk:
    def __init__(self, kinematics_params, iterations: int = 80, tol_pos: float = 1e-3, tol_rot: float = 1e-2):
        self.kin = BatchedKinematics(kinematics_params, dtype=torch.float64)
        self.iterations = iterations
        self.tol_pos = tol_pos
        self.tol_rot = tol_rot
        self.home = torch.tensor(HOME_JOINT_POS, dtype=torch.float64)
        home_pos, _ = self.kin.forward(self.home[None])
        self._home_heading = math.atan2(float(home_pos[0, 1]), float(home_pos[0, 0]))

    def seeds(self, target_pos: torch.Tensor) -> torch.Tensor:
        """[S, M, 6] seeds: home turned toward each target, wrist_3 at quarter turns."""
        m = target_pos.shape[0]
        heading = torch.atan2(target_pos[:, 1], target_pos[:, 0]) - self._home_heading
        out = []
        for off in WRIST_SEED_OFFSETS:
            s = self.home.expand(m, 6).clone()
            s[:, 0] = heading
            s[:, 5] = off
            out.append(s)
        return torch.stack(out)

    def solve(self, target_pos: torch.Tensor, target_rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q [M,6] and ok [M] for TCP targets (base_link) pos [M,3], rot [M,3,3]. Seeds are tried in
        turn, each only on the targets still unsolved (most converge from the first)."""
        m = target_pos.shape[0]
        q = torch.zeros(m, 6, dtype=torch.float64)
        ok = torch.zeros(m, dtype=torch.bool)
        if m == 0:
            return q, ok
        seeds = self.seeds(target_pos)
        for seed in seeds:
            idx = torch.nonzero(~ok).flatten()
            if idx.numel() == 0:
                break
            qi, oki = solve_ik(self.kin, target_pos[idx], target_rot[idx], seed[idx], iterations=self.iterations,
                               tol_pos=self.tol_pos, tol_rot=self.tol_rot)
            q[idx] = qi
            ok[idx] = oki
        return q, ok
