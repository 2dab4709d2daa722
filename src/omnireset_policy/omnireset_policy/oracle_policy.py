"""A privileged scripted oracle in the exported-policy format: reach, grasp, lift, transport, align, insert, screw.

It reads only the state observation (``observation_layout``): the TCP pose, the target object's
pose in the TCP frame, the receptive object's pose in the TCP frame, wrist_3's angle and the gripper
entries of the last actions in the 5-frame history. It keeps no state of its own: the phase is
inferred from the observation every step, so it runs unchanged batched in the simulator and one
frame at a time in the policy node, and it recovers from any reset state (reaching, near-object,
stable grasp, near-goal).

Phases, decided per row:

* **not holding** (gripper open, or the object farther than ``hold_radius`` from the TCP): pick the
  grasp candidate (a TCP pose in the object frame; symmetric copies are separate candidates) closest
  in rotation to the current TCP, hover ``hover`` behind it along its approach axis, descend once
  laterally within ``grasp_lateral_tol`` and rotationally within ``grasp_rot_tol``, close within
  ``close_distance``. A gripper closed on nothing opens again.
* **closing** (gripper commanded closed, object near, but not yet closed for the whole history):
  hold still while the fingers close (the history spans 0.4 s, the fingers need ≤ 0.43 s).
* **holding**: the goal pose of the object (receptive pose ⊕ assembled offset, with the yaw copy
  nearest to the current object yaw for symmetric objects) fixes the TCP pose that puts the object
  there *with the grasp it actually has* (the object's pose in the TCP frame, observed); go to a
  pre-insertion pose ``standoff`` back along the approach axis (lifted by ``lift`` while far), then
  move in along the axis once aligned, slowly, pushing ``push`` past the goal, and only while
  laterally within ``insert_lateral_tol`` (else hold the depth and correct sideways).
* **screwing** (threaded targets only: ``screw_lead`` > 0, from TaskSpec.thread): held in the insertion
  funnel within ``screw_depth`` of the seat and not yet within ``screw_seated`` of it, turn the object
  the screw-in way about the hole's axis by ``screw_step`` per step, upright, aiming ``screw_push``
  deeper than it is; the thread turns the turning into the advance. Without screw grasps the turn is
  made with the task grasp (for the leg a side grasp, mostly wrist_2, which meets its stop).
* **regrasp screw** (threaded targets with ``screw_grasp_*``, FurnitureBench's scripted screw skill):
  once the object stands in the thread (its pin point within the funnel and ``screw_depth`` of the
  seat, tilted less than ``screw_stand_tol``), only an *axis grasp* (tool axis along the insertion
  axis) turns it, so the turn is wrist_3 alone. The task grasp lets go there; the open hand turns in
  place about the TCP onto the axis grasp that leaves wrist_3 room for the rest of the screw (lead per
  turn, observed depth) and closes; the screwing turn follows. If wrist_3 reaches
  ``screw_release_wrist`` before the seat, the hand lets go, turns back open and grasps again. The
  hand holds still while the fingers open (all of the 5-frame history open). Seated, it holds the
  depth. While it carries the object there, the goal yaw (free for a continuous goal symmetry) keeps
  the task grasp's tool axis within ``screw_tool_outward`` of pointing away from the robot's base.
  All of it is read from the observation: the object's pose relative to the hole, the gripper
  history and wrist_3's angle (``joint_pos``); nothing is remembered.
* **holding badly** (tilted away from every task grasp, below ``min_insert_grasp_height`` or off the
  insertion axis: what a stable-grasp start often holds): put the object down upright beside the
  receptive object, let go, rise, and grasp it again the task's way. An object that is not in its
  resting orientation is picked up for that by a recovery grasp of its upper face.

Actions are the 6-D relative delta (in policy units: divided by the action scale written into the
metadata) and the binary gripper (negative closes).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from omnireset_policy import observation_layout as layout
from omnireset_policy.observation_layout import term_offset



def _rot_from_columns(cols: torch.Tensor) -> torch.Tensor:
    """[B,6] two rotation-matrix columns -> [B,3,3] (re-orthonormalised)."""
    c0 = cols[:, 0:3]
    c0 = c0 / torch.linalg.norm(c0, dim=1, keepdim=True).clamp_min(1e-9)
    c1 = cols[:, 3:6]
    c1 = c1 - (c0 * c1).sum(dim=1, keepdim=True) * c0
    c1 = c1 / torch.linalg.norm(c1, dim=1, keepdim=True).clamp_min(1e-9)
    return torch.stack((c0, c1, torch.cross(c0, c1, dim=1)), dim=2)


def rotation_log(rot: torch.Tensor) -> torch.Tensor:
    """[B,3,3] -> [B,3] axis-angle (shortest path), valid up to and including pi."""
    trace = rot[:, 0, 0] + rot[:, 1, 1] + rot[:, 2, 2]
    cos = torch.clamp((trace - 1.0) * 0.5, -1.0, 1.0)
    angle = torch.acos(cos)
    v = torch.stack((rot[:, 2, 1] - rot[:, 1, 2], rot[:, 0, 2] - rot[:, 2, 0], rot[:, 1, 0] - rot[:, 0, 1]), dim=1)
    sin = torch.sin(angle)
    # angle / (2 sin angle) -> 1/2 as angle -> 0
    factor = torch.where(sin > 1e-6, angle / (2.0 * sin.clamp_min(1e-6)), torch.full_like(sin, 0.5))
    small = v * factor.unsqueeze(1)
    # Near pi v vanishes: the axis is the largest column of (R + I) / 2 (up to sign; both are pi).
    sym = (rot + torch.eye(3, dtype=rot.dtype, device=rot.device)) * 0.5
    col_norm = torch.linalg.norm(sym, dim=1)  # [B,3] norm of each column
    idx = torch.argmax(col_norm, dim=1)
    axis = torch.gather(sym, 2, idx.view(-1, 1, 1).expand(-1, 3, 1)).squeeze(2)
    axis = axis / torch.linalg.norm(axis, dim=1, keepdim=True).clamp_min(1e-9)
    near_pi = angle > math.pi - 1e-3
    return torch.where(near_pi.unsqueeze(1), axis * angle.unsqueeze(1), small)


def rotation_angle(rot: torch.Tensor) -> torch.Tensor:
    trace = rot[..., 0, 0] + rot[..., 1, 1] + rot[..., 2, 2]
    return torch.acos(torch.clamp((trace - 1.0) * 0.5, -1.0, 1.0))


def _rot_z(yaw: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(yaw), torch.sin(yaw)
    z, o = torch.zeros_like(yaw), torch.ones_like(yaw)
    return torch.stack((torch.stack((c, -s, z), 1), torch.stack((s, c, z), 1), torch.stack((z, z, o), 1)), 1)


def _align_to_z(v: torch.Tensor) -> torch.Tensor:
    """[B,3] unit vectors -> [B,3,3] the smallest rotation taking each onto +z (a half turn about x
    for -z)."""
    z = torch.zeros_like(v)
    z[:, 2] = 1.0
    axis = torch.cross(v, z, dim=1)
    s = torch.linalg.norm(axis, dim=1)
    c = v[:, 2].clamp(-1.0, 1.0)
    x = torch.zeros_like(v)
    x[:, 0] = 1.0
    axis = torch.where((s > 1e-6).unsqueeze(1), axis / s.clamp_min(1e-6).unsqueeze(1), x)
    return _axis_angle(axis * torch.atan2(s, c).unsqueeze(1))


def _axis_angle(rotvec: torch.Tensor) -> torch.Tensor:
    """[B,3] rotation vectors -> [B,3,3] (Rodrigues)."""
    angle = torch.linalg.norm(rotvec, dim=1).clamp_min(1e-12)
    axis = rotvec / angle.unsqueeze(1)
    k = torch.zeros(rotvec.shape[0], 3, 3, dtype=rotvec.dtype, device=rotvec.device)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 0] = -axis[:, 2], axis[:, 1], axis[:, 2]
    k[:, 1, 2], k[:, 2, 0], k[:, 2, 1] = -axis[:, 0], -axis[:, 1], axis[:, 0]
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    sa, ca = torch.sin(angle).view(-1, 1, 1), torch.cos(angle).view(-1, 1, 1)
    return eye + sa * k + (1.0 - ca) * (k @ k)


def _clamp_norm(v: torch.Tensor, limit: torch.Tensor) -> torch.Tensor:
    n = torch.linalg.norm(v, dim=1, keepdim=True)
    return v * torch.clamp(limit.unsqueeze(1) / n.clamp_min(1e-12), max=1.0)


# wrist_3 turns the TCP about its own z axis and stops at +-pi (assets: wrists +-180 deg). A rotation
# whose tool-axis part would drive it within this margin of the stop is avoided where a symmetric
# copy of the target pose exists on the other side.
WRIST_LIMIT = math.pi
WRIST_MARGIN = 0.35


def pick_reachable_rotation(cands: torch.Tensor, r_e: torch.Tensor, wrist: torch.Tensor,
                            wrist_bound: float = WRIST_LIMIT - WRIST_MARGIN) -> torch.Tensor:
    """Index [B] of the candidate rotation [B,K,3,3] nearest to the TCP rotation ``r_e`` [B,3,3] whose
    tool-axis part keeps the wrist_3 angle ``wrist`` [B] inside its limits (the nearest if none does)."""
    b, k = cands.shape[0], cands.shape[1]
    rel = (cands @ r_e.transpose(1, 2).unsqueeze(1)).reshape(b * k, 3, 3)
    rotvec = rotation_log(rel).reshape(b, k, 3)
    angle = torch.linalg.norm(rotvec, dim=2)
    wrist_after = wrist.unsqueeze(1) + (rotvec * r_e[:, :, 2].unsqueeze(1)).sum(dim=2)
    beyond = torch.clamp(wrist_after.abs() - wrist_bound, min=0.0)
    return torch.argmin(angle + 10.0 * beyond, dim=1)


class OraclePolicy(nn.Module):
    """TorchScript-able: forward(obs[B, POLICY_OBS_DIM]) -> action[B, 7]. Parameters per task (see the
    module docstring); ``grasp_pos`` [K,3] and ``grasp_rot`` [K,3,3] are TCP poses in the object frame."""

    def __init__(self, *, action_scale, goal_pos, goal_rot, goal_symmetry: int, approach_axis, grasp_pos, grasp_rot,
                 hold_radius: float, standoff: float = 0.04, lift: float = 0.06, push: float = 0.004,
                 hover: float = 0.06, close_distance: float = 0.006, grasp_lateral_tol: float = 0.006,
                 grasp_rot_tol: float = 0.15, align_lateral_tol: float = 0.002, align_rot_tol: float = 0.03,
                 funnel_lateral_tol: float = 0.005, funnel_rot_tol: float = 0.06, max_step: float = 0.05,
                 insert_step: float = 0.01, max_rot_step: float = 0.3,
                 position_gain: float = 3.0, rotation_gain: float = 6.0,
                 insert_lateral_tol: float = 0.0005, min_insert_grasp_height: float = -1e9,
                 rest_up=(0.0, 0.0, 1.0), rest_height: float = 0.0, recovery_pos=None, recovery_rot=None,
                 upright_tol: float = 0.3, good_grasp_rot_tol: float = 0.35, good_grasp_offset_tol: float = 0.012,
                 place_clearance: float = 0.1, screw_lead: float = 0.0, screw_depth: float = 0.0,
                 screw_step: float = 0.3, screw_push: float = 0.003, screw_seated: float = 0.0005,
                 screw_grasp_pos=None, screw_grasp_rot=None, screw_stand_tol: float = 0.4,
                 screw_release_wrist: float = WRIST_LIMIT - 0.12, screw_turn_margin: float = 0.3,
                 screw_in_place: float = 0.03, screw_tool_outward: float = 1.92):
        super().__init__()
        if goal_symmetry < 0:
            raise ValueError(f"goal_symmetry must be >= 0 (0 = continuous about the goal z axis), got {goal_symmetry}")
        f32 = torch.float32
        self.newest = (layout.HISTORY_LENGTH - 1) * layout.FRAME_DIM
        self.frame_dim = layout.FRAME_DIM
        self.history = layout.HISTORY_LENGTH
        self.joints = term_offset("joint_pos")
        self.ee = term_offset("ee_pose")
        self.target = term_offset("target_object_in_ee")
        self.receptive = term_offset("receptive_object_in_ee")
        self.gripper = term_offset("last_action") + 6
        self.register_buffer("scale", torch.tensor(list(action_scale), dtype=f32))
        self.register_buffer("goal_pos", torch.tensor(goal_pos, dtype=f32).reshape(3))
        self.register_buffer("goal_rot", torch.tensor(goal_rot, dtype=f32).reshape(3, 3))
        axis = torch.tensor(approach_axis, dtype=f32).reshape(3)
        self.register_buffer("approach_axis", axis / torch.linalg.norm(axis))
        # The object-frame direction that points along the approach axis once the object is seated.
        self.register_buffer("insert_axis", self.goal_rot.t() @ self.approach_axis)
        gp = torch.tensor(grasp_pos, dtype=f32).reshape(-1, 3)
        gr = torch.tensor(grasp_rot, dtype=f32).reshape(-1, 3, 3)
        if gp.shape[0] == 0 or gp.shape[0] != gr.shape[0]:
            raise ValueError("the oracle needs at least one grasp candidate, with as many rotations as positions")
        self.register_buffer("grasp_pos", gp)
        self.register_buffer("grasp_rot", gr)
        # Without recovery grasps an object lying otherwise is approached with the task's grasps.
        rp = gp if recovery_pos is None else torch.tensor(recovery_pos, dtype=f32).reshape(-1, 3)
        rr = gr if recovery_rot is None else torch.tensor(recovery_rot, dtype=f32).reshape(-1, 3, 3)
        if rp.shape[0] == 0 or rp.shape[0] != rr.shape[0]:
            raise ValueError("recovery grasps need as many rotations as positions (and at least one)")
        self.register_buffer("recovery_pos", rp)
        self.register_buffer("recovery_rot", rr)
        up = torch.tensor(rest_up, dtype=f32).reshape(3)
        self.register_buffer("rest_up", up / torch.linalg.norm(up))
        self.rest_height = float(rest_height)
        self.upright_tol = float(upright_tol)
        self.good_grasp_rot_tol = float(good_grasp_rot_tol)
        self.good_grasp_offset_tol = float(good_grasp_offset_tol)
        self.place_clearance = float(place_clearance)
        self.goal_symmetry = int(goal_symmetry)
        self.hold_radius = float(hold_radius)
        self.standoff = float(standoff)
        self.lift = float(lift)
        self.push = float(push)
        self.hover = float(hover)
        self.close_distance = float(close_distance)
        self.grasp_lateral_tol = float(grasp_lateral_tol)
        self.grasp_rot_tol = float(grasp_rot_tol)
        self.align_lateral_tol = float(align_lateral_tol)
        self.align_rot_tol = float(align_rot_tol)
        self.funnel_lateral_tol = float(funnel_lateral_tol)
        self.funnel_rot_tol = float(funnel_rot_tol)
        self.max_step = float(max_step)
        self.insert_step = float(insert_step)
        self.max_rot_step = float(max_rot_step)
        self.position_gain = float(position_gain)
        self.insert_lateral_tol = float(insert_lateral_tol)
        self.min_insert_grasp_height = float(min_insert_grasp_height)
        self.rotation_gain = float(rotation_gain)
        # Screw phase (a threaded target, lead > 0; 0 = none): see forward's "screwing".
        if screw_lead < 0.0 or (screw_lead > 0.0 and screw_depth <= screw_seated):
            raise ValueError(f"screw_lead must be >= 0 and screw_depth > screw_seated, got {screw_lead}, {screw_depth}")
        self.screw_lead = float(screw_lead)
        self.screw_depth = float(screw_depth)
        self.screw_step = float(screw_step)
        self.screw_push = float(screw_push)
        self.screw_seated = float(screw_seated)
        # Regrasp screw (screw grasps given): the object standing in the thread is turned only by an
        # axis grasp (screw_grasp_*: TCP poses in the object frame, the tool axis along the insertion
        # axis), so the turn is wrist_3 alone; the task grasp lets go there, and an axis grasp lets go
        # when wrist_3 reaches screw_release_wrist, turns back and grasps again (FurnitureBench's
        # scripted screw skill).
        self.regrasp = screw_grasp_pos is not None and self.screw_lead > 0.0
        if (screw_grasp_pos is None) != (screw_grasp_rot is None):
            raise ValueError("screw grasps need both positions and rotations")
        sp = gp if screw_grasp_pos is None else torch.tensor(screw_grasp_pos, dtype=f32).reshape(-1, 3)
        sr = gr if screw_grasp_rot is None else torch.tensor(screw_grasp_rot, dtype=f32).reshape(-1, 3, 3)
        if sp.shape[0] == 0 or sp.shape[0] != sr.shape[0]:
            raise ValueError("screw grasps need as many rotations as positions (and at least one)")
        if not 0.0 < screw_release_wrist <= WRIST_LIMIT:
            raise ValueError(f"screw_release_wrist must be in (0, pi], got {screw_release_wrist}")
        # The object's point at the bottom of the hole once seated (on its insertion axis): a leg that
        # leans on its pin is still in the thread where this point is.
        self.register_buffer("pin_point", -self.insert_axis * float(self.goal_pos @ self.approach_axis))
        self.register_buffer("screw_grasp_pos", sp)
        self.register_buffer("screw_grasp_rot", sr)
        self.screw_stand_tol = float(screw_stand_tol)
        self.screw_release_wrist = float(screw_release_wrist)
        self.screw_turn_margin = float(screw_turn_margin)
        self.screw_in_place = float(screw_in_place)
        self.screw_tool_outward = float(screw_tool_outward)

    def _nearest_grasp(self, pos: torch.Tensor, rot: torch.Tensor, p_t: torch.Tensor, r_t: torch.Tensor,
                       r_e: torch.Tensor, wrist: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cand_rot = r_t.unsqueeze(1) @ rot.unsqueeze(0)  # [B,K,3,3]
        cand_pos = p_t.unsqueeze(1) + (r_t.unsqueeze(1) @ pos.unsqueeze(0).unsqueeze(-1)).squeeze(-1)
        best = pick_reachable_rotation(cand_rot, r_e, wrist)
        return cand_rot[rows, best], cand_pos[rows, best]

    def _screw_grasp(self, p_t: torch.Tensor, r_t: torch.Tensor, r_e: torch.Tensor, wrist: torch.Tensor,
                     need: torch.Tensor, a_w: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The axis grasp to take the standing object by: the nearest in rotation of those that leave
        wrist_3 ``need`` rad [B] of screw-in turn before screw_release_wrist; if none does, the one
        that leaves the most. Candidates past the release angle are out (they would let go at once)."""
        cand_rot = r_t.unsqueeze(1) @ self.screw_grasp_rot.unsqueeze(0)  # [B,K,3,3]
        cand_pos = p_t.unsqueeze(1) + (r_t.unsqueeze(1) @ self.screw_grasp_pos.unsqueeze(0).unsqueeze(-1)).squeeze(-1)
        b, k = cand_rot.shape[0], cand_rot.shape[1]
        rotvec = rotation_log((cand_rot @ r_e.transpose(1, 2).unsqueeze(1)).reshape(b * k, 3, 3)).reshape(b, k, 3)
        angle = torch.linalg.norm(rotvec, dim=2)
        wrist_after = wrist.unsqueeze(1) + (rotvec * r_e[:, :, 2].unsqueeze(1)).sum(dim=2)
        # Screw-in (negative about the approach axis) turns wrist_3 positive where the tool axis
        # points into the hole.
        into = (cand_rot[:, :, :, 2] * a_w.unsqueeze(1)).sum(dim=2) < 0.0
        sense = torch.where(into, torch.ones_like(angle), -torch.ones_like(angle))
        room = self.screw_release_wrist - sense * wrist_after
        beyond = torch.clamp(wrist_after.abs() - (self.screw_release_wrist - 0.1), min=0.0)
        short = torch.clamp(need.unsqueeze(1) - room, min=0.0)
        cost = angle + 10.0 * beyond + torch.where(short > 0.0, 5.0 + short, torch.zeros_like(short))
        best = torch.argmin(cost, dim=1)
        return cand_rot[rows, best], cand_pos[rows, best]

    def _pose(self, frame: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        return frame[:, offset:offset + 3], _rot_from_columns(frame[:, offset + 3:offset + 9])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.to(torch.float32)
        batch = obs.shape[0]
        frame = obs[:, self.newest:self.newest + self.frame_dim]
        p_e, r_e = self._pose(frame, self.ee)
        p_te, r_te = self._pose(frame, self.target)
        p_re, r_re = self._pose(frame, self.receptive)
        p_t = p_e + (r_e @ p_te.unsqueeze(-1)).squeeze(-1)
        r_t = r_e @ r_te
        p_r = p_e + (r_e @ p_re.unsqueeze(-1)).squeeze(-1)
        r_r = r_e @ r_re
        # An entry of exactly 0 is a fresh episode's "no command yet" (the env zeroes the last action at
        # reset): with the object in the hand it counts as closed, so a stable-grasp start keeps its
        # grasp instead of opening on the first step (a gripper closed on nothing opens again below).
        grips = torch.stack([obs[:, k * self.frame_dim + self.gripper] for k in range(self.history)], dim=1)
        closed_now = grips[:, -1] <= 0.0
        closed_all = (grips <= 0.0).all(dim=1)
        near = torch.linalg.norm(p_te, dim=1) < self.hold_radius
        holding = closed_all & near
        closing = closed_now & near & ~closed_all

        wrist = frame[:, self.joints + 5]
        rows = torch.arange(batch, device=obs.device)
        # ---- the goal: the TCP pose that puts the object there with the grasp it has ----------------
        rel_goal = self.goal_rot.t().unsqueeze(0) @ (r_r.transpose(1, 2) @ r_t)  # object in the goal frame
        yaw = torch.atan2(rel_goal[:, 1, 0], rel_goal[:, 0, 0])
        if self.goal_symmetry == 0:
            r_goal = r_r @ self.goal_rot.unsqueeze(0) @ _rot_z(yaw)
            r_des = r_goal @ r_te.transpose(1, 2)
        else:
            # The symmetric copies of the goal nearest in yaw (one step either side too): the one the
            # wrist reaches without its stop.
            step = 2.0 * math.pi / self.goal_symmetry
            base = torch.round(yaw / step) * step
            goals = torch.stack([r_r @ self.goal_rot.unsqueeze(0) @ _rot_z(base + j * step) for j in (-1, 0, 1)], 1)
            tcp_goals = goals @ r_te.transpose(1, 2).unsqueeze(1)
            pick = pick_reachable_rotation(tcp_goals, r_e, wrist)
            rows_g = torch.arange(batch, device=obs.device)
            r_goal = goals[rows_g, pick]
            r_des = tcp_goals[rows_g, pick]
        p_goal = p_r + (r_r @ self.goal_pos.view(1, 3, 1)).squeeze(-1)
        a_w = (r_r @ self.approach_axis.view(1, 3, 1)).squeeze(-1)
        err = p_goal - p_t
        along = -(err * a_w).sum(dim=1)  # > 0: the object is on the approach side of its goal
        lateral = torch.linalg.norm(err + along.unsqueeze(1) * a_w, dim=1)
        obj_rot_err = rotation_angle(r_goal @ r_t.transpose(1, 2))
        # Regrasp screw: the object stands in the thread (upright over the hole, within screw_depth of
        # its seat), whoever holds it.
        # (Measured at the object's pin point: a leg let go of on the first flank leans on its pin,
        # 0.14-0.3 rad, with its origin 10-20 mm off the axis.)
        standing = torch.zeros_like(near)
        if self.regrasp:
            pin_err = p_goal + (r_goal @ self.pin_point.view(1, 3, 1)).squeeze(-1) \
                - p_t - (r_t @ self.pin_point.view(1, 3, 1)).squeeze(-1)
            pin_along = -(pin_err * a_w).sum(dim=1)
            pin_lateral = torch.linalg.norm(pin_err + pin_along.unsqueeze(1) * a_w, dim=1)
            standing = (pin_lateral < self.funnel_lateral_tol) & (obj_rot_err < self.screw_stand_tol) \
                & (pin_along < self.screw_depth) & (pin_along > -0.01)
            if self.goal_symmetry == 0:
                # Any yaw fits the goal (the thread sets the one it seats at): bring the task grasp's tool
                # axis at the goal within screw_tool_outward of pointing away from the robot's base (the
                # observation's frame). Pointing back at the base, the arm inserts near full stretch, and
                # its elbow flipped there or on the turn to the axis grasp, the upper arm then resting on
                # the table (measured: 3 of 16 reaching starts at seed 1000).
                outward = p_r[:, :2] / torch.linalg.norm(p_r[:, :2], dim=1, keepdim=True).clamp_min(1e-6)
                tool = r_des[:, :2, 2]
                ang = torch.atan2(outward[:, 0] * tool[:, 1] - outward[:, 1] * tool[:, 0], (outward * tool).sum(dim=1))
                excess = torch.sign(ang) * torch.clamp(ang.abs() - self.screw_tool_outward, min=0.0)
                turn_goal = torch.where((torch.linalg.norm(tool, dim=1) > 0.5) & ~standing, -excess,
                                        torch.zeros_like(excess))
                yaw_fix = _rot_z(turn_goal)
                r_goal = yaw_fix @ r_goal
                r_des = yaw_fix @ r_des
                obj_rot_err = rotation_angle(r_goal @ r_t.transpose(1, 2))
        p_des = p_goal - (r_des @ p_te.unsqueeze(-1)).squeeze(-1)

        # ---- grasp approach: the candidate nearest in rotation to the current TCP -----------------
        # An object in its resting orientation is grasped the task's way; one lying otherwise (knocked
        # over, put down, a dataset start) by a recovery grasp from its upper face, to be put down
        # upright and grasped again.
        up_now = (r_t @ self.rest_up.view(1, 3, 1)).squeeze(-1)
        upright = up_now[:, 2] > math.cos(self.upright_tol)
        g_rot_rest, g_pos_rest = self._nearest_grasp(self.grasp_pos, self.grasp_rot, p_t, r_t, r_e, wrist, rows)
        g_rot_rec, g_pos_rec = self._nearest_grasp(self.recovery_pos, self.recovery_rot, p_t, r_t, r_e, wrist, rows)
        g_rot = torch.where(upright.view(-1, 1, 1), g_rot_rest, g_rot_rec)
        g_pos = torch.where(upright.unsqueeze(1), g_pos_rest, g_pos_rec)
        if self.regrasp:
            # Standing in the thread: an axis grasp, the one that leaves wrist_3 room for the rest of
            # the screw (lead per turn) or, if none does, the most room.
            need = 2.0 * math.pi * along.clamp_min(0.0) / self.screw_lead + self.screw_turn_margin
            s_rot, s_pos = self._screw_grasp(p_t, r_t, r_e, wrist, need, a_w, rows)
            g_rot = torch.where(standing.view(-1, 1, 1), s_rot, g_rot)
            g_pos = torch.where(standing.unsqueeze(1), s_pos, g_pos)
        g_axis = g_rot[:, :, 2]  # TCP z: the approach direction of the grasp
        to_grasp = g_pos - p_e
        along_g = (to_grasp * g_axis).sum(dim=1, keepdim=True)
        lateral_g = torch.linalg.norm(to_grasp - along_g * g_axis, dim=1)
        grasp_rot_err = rotation_angle(g_rot @ r_e.transpose(1, 2))
        descend = (lateral_g < self.grasp_lateral_tol) & (grasp_rot_err < self.grasp_rot_tol)
        if self.regrasp:
            # Open, the fingers turn about the standing object's axis without touching it: only the
            # tool axis must line up to descend (and the turn back after an unwind is made in place).
            axis_err = torch.acos(((g_axis * r_e[:, :, 2]).sum(dim=1)).clamp(-1.0, 1.0))
            descend = torch.where(standing, (lateral_g < self.grasp_lateral_tol) & (axis_err < self.grasp_rot_tol),
                                  descend)
        hover_point = g_pos - self.hover * g_axis
        approach_aim = torch.where(descend.unsqueeze(1), g_pos, hover_point)
        at_grasp = (torch.linalg.norm(to_grasp, dim=1) < self.close_distance) & descend \
            & (grasp_rot_err < self.grasp_rot_tol)
        # Low and beside the object (just after letting it go): rise first, turning the hand there
        # would sweep the fingers through it.
        rise = ~descend & (p_e[:, 2] < hover_point[:, 2] - 0.02) & (torch.linalg.norm(to_grasp, dim=1) < 0.12)
        lift_step = torch.zeros_like(p_e)
        lift_step[:, 2] = self.max_step
        approach_aim = torch.where(rise.unsqueeze(1), p_e + lift_step, approach_aim)
        if self.regrasp:
            # Within screw_in_place of the axis grasp (just after letting go: the task grasp holds the
            # leg at the height of its axis grasp, 12 mm off its axis) the open hand turns about the
            # TCP onto the axis grasp in place. The pads, 42.5 mm either side of the TCP, clear the
            # object, and turning the tool down brings the wrist in, where rising first from an arm
            # near full stretch flipped its elbow.
            in_place = standing & (torch.linalg.norm(to_grasp, dim=1) < self.screw_in_place)
            approach_aim = torch.where(in_place.unsqueeze(1), g_pos, approach_aim)
            rise = rise & ~in_place

        in_funnel = (lateral < self.funnel_lateral_tol) & (obj_rot_err < self.funnel_rot_tol) \
            & (along < self.standoff + 0.01) & (along > -0.01)
        aligned = (lateral < self.align_lateral_tol) & (obj_rot_err < self.align_rot_tol)
        insert = in_funnel | aligned
        pre = p_des + self.standoff * a_w
        far = lateral > 0.02
        up = torch.zeros_like(pre)
        up[:, 2] = self.lift
        pre = torch.where(far.unsqueeze(1), pre + up, pre)
        # Move in along the axis only while laterally within the fit's clearance; otherwise hold the
        # depth and correct sideways (pressing a misaligned object onto the hole's rim only jams it).
        centred = lateral < self.insert_lateral_tol
        depth = torch.where(centred, torch.full_like(along, -self.push), along)
        insert_aim = p_des + depth.unsqueeze(1) * a_w
        # ---- a grasp that cannot seat the object: put it down upright, let go, grasp it again --------
        # (A stable-grasp start holds the object anywhere: tilted in the hand, or so low that the pads
        # would meet the receptive object before it is seated.) Good = near one of the task's grasps
        # in rotation, not below the lowest seating height, not off the insertion axis.
        tcp_in_obj = -(r_te.transpose(1, 2) @ p_te.unsqueeze(-1)).squeeze(-1)
        grasp_height = (tcp_in_obj * self.insert_axis.unsqueeze(0)).sum(dim=1)
        off_axis = torch.linalg.norm(tcp_in_obj - grasp_height.unsqueeze(1) * self.insert_axis.unsqueeze(0), dim=1)
        tcp_rot_in_obj = r_te.transpose(1, 2)
        rot_off = rotation_angle(tcp_rot_in_obj.unsqueeze(1) @ self.grasp_rot.transpose(1, 2).unsqueeze(0)).min(dim=1)[0]
        good = (rot_off < self.good_grasp_rot_tol) & (grasp_height >= self.min_insert_grasp_height) \
            & (off_axis < self.good_grasp_offset_tol)
        axis_grip = torch.zeros_like(near)
        if self.regrasp:
            # An axis grasp of the standing object (its tool axis along the insertion axis) is the
            # screwing grasp.
            rot_off_s = rotation_angle(tcp_rot_in_obj.unsqueeze(1)
                                       @ self.screw_grasp_rot.transpose(1, 2).unsqueeze(0)).min(dim=1)[0]
            axis_grip = holding & standing & (rot_off_s < self.good_grasp_rot_tol) \
                & (off_axis < self.good_grasp_offset_tol)
            good = good | axis_grip
        # ---- screwing (threaded targets only): in the thread and not yet seated, turn the object
        # about the hole's axis the screw-in way (right-handed: negative about the approach axis) by
        # screw_step per step, upright, pressing screw_push deeper than it is; the thread turns that
        # into the advance (lead per turn). Stateless: the depth observed decides, every step.
        screwing = holding & insert & (along < self.screw_depth) & (along > self.screw_seated) \
            & torch.full_like(insert, self.screw_lead > 0.0)
        if self.regrasp:
            screwing = axis_grip & (along > self.screw_seated)  # only the axis grasp turns it
        if self.screw_lead > 0.0:
            turn = _axis_angle(-self.screw_step * a_w)
            r_des_screw = turn @ r_des
            p_des_screw = p_goal - (r_des_screw @ p_te.unsqueeze(-1)).squeeze(-1)
            screw_aim = p_des_screw + (along - self.screw_push).clamp_min(-self.push).unsqueeze(1) * a_w
            insert_aim = torch.where(screwing.unsqueeze(1), screw_aim, insert_aim)
            r_des = torch.where(screwing.view(-1, 1, 1), r_des_screw, r_des)
        hold_aim = torch.where(insert.unsqueeze(1), insert_aim, pre)
        # The axis grasp holds the object upright over the hole (a tilt beyond funnel_rot_tol too); seated,
        # it holds the depth instead of pushing on (pushing, the pads slid down the leg).
        seated_aim = p_des + along.clamp_min(0.0).unsqueeze(1) * a_w
        hold_aim = torch.where(axis_grip.unsqueeze(1), torch.where(screwing.unsqueeze(1), insert_aim, seated_aim),
                               hold_aim)
        replace = holding & ~good
        r_place = _align_to_z(up_now) @ r_t
        r_tcp_place = r_place @ r_te.transpose(1, 2)
        away = p_t[:, :2] - p_r[:, :2]
        dist = torch.linalg.norm(away, dim=1, keepdim=True)
        place_xy = torch.where(dist < self.place_clearance,
                               p_r[:, :2] + away / dist.clamp_min(1e-6) * self.place_clearance, p_t[:, :2])
        place = torch.cat((place_xy, torch.full_like(dist, self.rest_height + 0.003)), dim=1)
        p_tcp_place = place - (r_tcp_place @ p_te.unsqueeze(-1)).squeeze(-1)
        lowered = (torch.linalg.norm(p_t[:, :2] - place_xy, dim=1) < 0.01) & (rotation_angle(r_place @ r_t.transpose(1, 2)) < 0.08)
        placed = lowered & (p_t[:, 2] < self.rest_height + 0.008)
        above = torch.zeros_like(p_tcp_place)
        above[:, 2] = 0.05
        place_aim = torch.where(lowered.unsqueeze(1), p_tcp_place, p_tcp_place + above)
        release = replace & placed
        hold_aim = torch.where(replace.unsqueeze(1), torch.where(release.unsqueeze(1), p_e + above, place_aim), hold_aim)
        r_des = torch.where(replace.view(-1, 1, 1), torch.where(release.view(-1, 1, 1), r_e, r_tcp_place), r_des)

        # ---- regrasp screw: let go of the standing object with the task grasp (to take it by its
        # axis), or with the axis grasp once wrist_3 reaches screw_release_wrist the screw-in way (to
        # turn back open and take it again). The hand holds still while the fingers open.
        let_go = torch.zeros_like(near)
        opening = torch.zeros_like(near)
        if self.regrasp:
            sense = torch.where((a_w * r_e[:, :, 2]).sum(dim=1) < 0.0, torch.ones_like(wrist), -torch.ones_like(wrist))
            unwind = screwing & (sense * wrist >= self.screw_release_wrist)
            let_go = (holding & standing & ~axis_grip) | unwind
            hold_aim = torch.where(let_go.unsqueeze(1), p_e, hold_aim)
            r_des = torch.where(let_go.view(-1, 1, 1), r_e, r_des)
            opening = standing & near & ~closed_now & ~(grips > 0.0).all(dim=1)

        # ---- one action ---------------------------------------------------------------------------
        aim = torch.where(holding.unsqueeze(1), hold_aim, approach_aim)
        aim = torch.where((closing | opening).unsqueeze(1), p_e, aim)
        rot_aim = torch.where(holding.view(-1, 1, 1), r_des, torch.where(rise.view(-1, 1, 1), r_e, g_rot))
        step_limit = torch.where(holding & (insert | axis_grip | (replace & lowered)),
                                 torch.full_like(lateral, self.insert_step),
                                 torch.full_like(lateral, self.max_step))
        dpos = _clamp_norm(self.position_gain * (aim - p_e), step_limit)
        drot = _clamp_norm(self.rotation_gain * rotation_log(rot_aim @ r_e.transpose(1, 2)), torch.full_like(lateral, self.max_rot_step))
        drot = torch.where((closing | opening).unsqueeze(1), torch.zeros_like(drot), drot)
        close = ((holding & ~release) | closing | (at_grasp & ~closed_now)) & ~let_go
        gripper = torch.where(close, -torch.ones_like(lateral), torch.ones_like(lateral))
        delta = torch.cat((dpos, drot), dim=1) / self.scale[:6].unsqueeze(0)
        return torch.cat((delta, gripper.unsqueeze(1)), dim=1)


__all__ = ["OraclePolicy", "rotation_angle", "rotation_log"]
