// The controller's logic without ROS: command handling, safety and the law, one call per tick.
// The ros2_control plugin (OscTorqueController) is thin glue over this class; the gtests drive it
// directly.
//
// Safety rules:
//  * A command with NaN/Inf in its action or scale (or a stale stamp, or arriving while the joint
//    state is non-finite) is rejected: the previous target is held and rejected_commands counts it.
//  * The scaled delta is clamped per axis to +-max_delta (position m, rotation rad) before
//    composition (off = +inf by default, so the core composes exactly like the simulators).
//  * No command yet, or the newest one older than command_timeout: hold the pose measured at that
//    moment (target = current pose; the damping term brings the arm to zero velocity).
//  * Non-finite joint state: the law is not evaluated; the torque ramps to zero through the rate
//    limit (immediately zero without one) and nonfinite_states counts it.
//  * Torques go through the optional rate limit and the per-joint clip; clipped samples are counted.
#pragma once

#include <cmath>
#include <cstdint>

#include "omnireset_control/composition.hpp"
#include "omnireset_control/osc_law.hpp"
#include "omnireset_control/ur_kinematics.hpp"

namespace omnireset_control
{
struct OscControllerConfig
{
  OscLawConfig law;
  double command_timeout = 0.5;   // s since the command was received; then hold
  double max_position_delta = kInf;  // m per axis, applied to action .* scale
  double max_rotation_delta = kInf;  // rad per axis
  // Commands whose stamp is older than command_timeout on arrival are stale (0 stamp = unknown).
  bool reject_stale_stamps = true;
};

enum class CommandStatus { kAccepted, kRejectedNonFinite, kRejectedStale, kRejectedNoState };

struct OscTickOutput
{
  Vec6 torque = Vec6::Zero();
  Vec6 error = Vec6::Zero();
  Pose current;
  Pose target;
  bool holding = true;
  bool state_valid = false;
  int clipped_joints = 0;
};

class OscControllerCore
{
public:
  OscControllerCore(const UrKinematicsParams & params, const OscControllerConfig & config)
  : kin_(params), config_(config)
  {
  }

  const OscControllerConfig & config() const { return config_; }
  void set_config(const OscControllerConfig & config) { config_ = config; }
  const UrKinematics & kinematics() const { return kin_; }

  // On activation: hold the current pose, start the rate limit from zero torque.
  void reset(const Vec6 & q)
  {
    previous_torque_.setZero();
    has_command_ = false;
    timed_out_ = false;
    command_time_ = -kInf;
    if (q.allFinite()) {
      kin_.compute(q, scratch_, false);
      target_ = {scratch_.position, scratch_.rotation};
      have_target_ = true;
    } else {
      have_target_ = false;
    }
  }

  // Compose a new target from a policy command at time now_s (seconds, controller clock), using
  // the TCP pose at q (the state of this tick). stamp_s: the command's own stamp (0 = unknown).
  CommandStatus on_command(const Vec6 & action, const Vec6 & scale, const Vec6 & q, double now_s, double stamp_s = 0.0)
  {
    if (!action.allFinite() || !scale.allFinite() || !std::isfinite(stamp_s)) {
      ++rejected_commands_;
      return CommandStatus::kRejectedNonFinite;
    }
    if (config_.reject_stale_stamps && stamp_s > 0.0 && now_s - stamp_s > config_.command_timeout) {
      ++rejected_commands_;
      return CommandStatus::kRejectedStale;
    }
    if (!q.allFinite()) {
      ++rejected_commands_;
      return CommandStatus::kRejectedNoState;
    }
    Vec6 scaled = action.cwiseProduct(scale);
    for (int i = 0; i < 6; ++i) {
      const double m = i < 3 ? config_.max_position_delta : config_.max_rotation_delta;
      scaled(i) = std::max(std::min(scaled(i), m), -m);
    }
    kin_.compute(q, scratch_, false);
    target_ = compose_target(scratch_.position, scratch_.rotation, scaled, Vec6::Ones());
    have_target_ = true;
    has_command_ = true;
    timed_out_ = false;
    command_time_ = now_s;
    ++accepted_commands_;
    return CommandStatus::kAccepted;
  }

  // One control tick: joint positions/velocities at time now_s -> torque.
  const OscTickOutput & update(const Vec6 & q, const Vec6 & qd, double now_s, double dt)
  {
    const LawConfigView law = config_.law;
    const double max_step = std::isfinite(law.torque_rate_limit) && dt > 0.0 ? law.torque_rate_limit * dt : kInf;
    out_.state_valid = q.allFinite() && qd.allFinite() && std::isfinite(now_s);
    if (!out_.state_valid) {
      ++nonfinite_states_;
      Vec6 tau = Vec6::Zero();
      out_.clipped_joints = limit_torque(tau, previous_torque_, max_step, law.torque_limit);
      finish(tau);
      out_.holding = true;
      out_.error.setZero();
      return out_;
    }
    kin_.compute(q, kin_out_, true);
    out_.current = {kin_out_.position, kin_out_.rotation};
    if (!have_target_) {  // activated without a valid state: hold the first valid pose
      target_ = out_.current;
      have_target_ = true;
    }
    if (has_command_ && !timed_out_ && now_s - command_time_ > config_.command_timeout) {
      timed_out_ = true;
      ++timeouts_;
      target_ = out_.current;  // hold here; damping stops the motion
    }
    out_.holding = !has_command_ || timed_out_;
    out_.target = target_;
    out_.error = pose_error(
      kin_out_.position, kin_out_.rotation, target_.position, target_.rotation, law.pos_clip, law.rot_clip);
    Vec6 tau = osc_torque(kin_out_.jacobian, qd, out_.error, law.gains);
    if (!tau.allFinite()) {  // cannot happen with finite inputs and gains; never send it anyway
      ++nonfinite_states_;
      tau.setZero();
    }
    out_.clipped_joints = limit_torque(tau, previous_torque_, max_step, law.torque_limit);
    finish(tau);
    return out_;
  }

  double command_age(double now_s) const { return has_command_ ? now_s - command_time_ : std::nan(""); }
  const Pose & target() const { return target_; }
  std::uint64_t rejected_commands() const { return rejected_commands_; }
  std::uint64_t accepted_commands() const { return accepted_commands_; }
  std::uint64_t nonfinite_states() const { return nonfinite_states_; }
  std::uint64_t timeouts() const { return timeouts_; }
  std::uint64_t torque_clipped_samples() const { return torque_clipped_samples_; }

private:
  using LawConfigView = const OscLawConfig &;

  void finish(const Vec6 & tau)
  {
    if (out_.clipped_joints > 0) { ++torque_clipped_samples_; }
    previous_torque_ = tau;
    out_.torque = tau;
  }

  UrKinematics kin_;
  OscControllerConfig config_;
  KinematicsResult kin_out_, scratch_;
  OscTickOutput out_;
  Pose target_;
  Vec6 previous_torque_ = Vec6::Zero();
  bool have_target_ = false;
  bool has_command_ = false;
  bool timed_out_ = false;
  double command_time_ = -kInf;
  std::uint64_t rejected_commands_ = 0;
  std::uint64_t accepted_commands_ = 0;
  std::uint64_t nonfinite_states_ = 0;
  std::uint64_t timeouts_ = 0;
  std::uint64_t torque_clipped_samples_ = 0;
};
}  // namespace omnireset_control
