"""A scripted stand-in policy in the exported format: reach the target object, close when near.

It reads only the newest frame of the state observation: the target object's position in the TCP
frame, rotated into the base frame with the TCP orientation (``ee_pose`` columns), gives the
base-frame position error that the relative action (added in the base frame) must close. It first
hovers ``hover_height`` above the object, descends once within ``xy_tolerance`` horizontally,
and closes the gripper within ``close_distance``. Orientation is held (zero rotation delta).

The module divides by the action scale written into its metadata, so the node must publish that
scale (its default); a different ``action_scale`` parameter changes the step size.

    python -m omnireset_policy.export_scripted --out exported/scripted_reach
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from omnireset_control.constants import TRAIN_ACTION_SCALE, TRAIN_GAINS
from omnireset_policy import observation_layout as layout
from omnireset_policy.observation_layout import term_offset
from omnireset_policy.exported_policy import make_metadata, save_exported_policy



class ScriptedReachPolicy(nn.Module):
    """TorchScript-able: forward(obs[B, POLICY_OBS_DIM]) -> action[B, 7]."""

    def __init__(self, action_scale=TRAIN_ACTION_SCALE, gain: float = 1.0, hover_height: float = 0.05,
                 xy_tolerance: float = 0.01, close_distance: float = 0.01):
        super().__init__()
        self.newest = (layout.HISTORY_LENGTH - 1) * layout.FRAME_DIM
        self.ee = term_offset("ee_pose")
        self.target = term_offset("target_object_in_ee")
        self.register_buffer("position_scale", torch.tensor(list(action_scale[:3]), dtype=torch.float32))
        self.gain = float(gain)
        self.hover_height = float(hover_height)
        self.xy_tolerance = float(xy_tolerance)
        self.close_distance = float(close_distance)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        frame = obs[:, self.newest:self.newest + layout.FRAME_DIM]
        col0 = frame[:, self.ee + 3:self.ee + 6]
        col1 = frame[:, self.ee + 6:self.ee + 9]
        rot = torch.stack((col0, col1, torch.cross(col0, col1, dim=1)), dim=2)  # TCP -> base
        target_in_ee = frame[:, self.target:self.target + 3]
        error = (rot @ target_in_ee.unsqueeze(-1)).squeeze(-1)  # object - TCP, base frame
        horizontal = torch.linalg.norm(error[:, :2], dim=1)
        hover = (horizontal > self.xy_tolerance).to(obs.dtype) * self.hover_height
        aim = error + torch.stack((torch.zeros_like(hover), torch.zeros_like(hover), hover), dim=1)
        delta = torch.clamp(self.gain * aim / self.position_scale.to(obs.dtype), -1.0, 1.0)
        near = torch.linalg.norm(error, dim=1) < self.close_distance
        gripper = torch.where(near, -torch.ones_like(hover), torch.ones_like(hover))  # negative closes
        return torch.cat((delta, torch.zeros_like(delta), gripper.unsqueeze(1)), dim=1)


def export_scripted(out_dir, task: str = "any", robot: str = "ur7e", overwrite: bool = False, **kwargs):
    module = ScriptedReachPolicy(**kwargs)
    metadata = make_metadata(kind="state", task=task, variant="scripted_reach", robot=robot,
                             action_scale=TRAIN_ACTION_SCALE, gains_kp=TRAIN_GAINS.kp, gains_zeta=TRAIN_GAINS.zeta,
                             seed=None, made_by="omnireset_policy.export_scripted")
    return save_exported_policy(module, metadata, out_dir, overwrite=overwrite)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory to write (atomically)")
    parser.add_argument("--task", default="any")
    parser.add_argument("--robot", default="ur7e")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing directory")
    args = parser.parse_args(argv)
    try:
        path = export_scripted(args.out, task=args.task, robot=args.robot, overwrite=args.overwrite)
    except Exception as exc:  # CLI: one line with the reason
        print(f"export_scripted: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
