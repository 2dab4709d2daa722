// The OSC torque law (A.3.5), mirroring omnireset_control/osc.py:
//   e   = [clip_norm(target_pos - pos, pos_clip), clip_norm(axis_angle(target_rot * rot^T), rot_clip)]
//   F   = Kp .* e - Kd .* (J qd),   Kd = 2 zeta sqrt(Kp)
//   tau = J^T F, then the optional torque-rate limit, then the per-joint torque clip.
// No gravity term: UR's direct torque mode compensates gravity itself.
#pragma once

#include <array>
#include <cmath>
#include <limits>

#include "omnireset_control/constants.hpp"
#include "omnireset_control/rotations.hpp"

namespace omnireset_control
{
inline constexpr double kInf = std::numeric_limits<double>::infinity();

struct OscGains
{
  Vec6 kp = Vec6::Zero();
  Vec6 kd = Vec6::Zero();

  static OscGains from_kp_zeta(const Vec6 & kp, const Vec6 & zeta)
  {
    OscGains g;
    g.kp = kp;
    g.kd = 2.0 * zeta.cwiseProduct(kp.cwiseSqrt());
    return g;
  }
  static OscGains deploy()
  {
    return from_kp_zeta(Vec6(defaults::kDeployKp.data()), Vec6(defaults::kDeployZeta.data()));
  }
  static OscGains train()
  {
    return from_kp_zeta(Vec6(defaults::kTrainKp.data()), Vec6(defaults::kTrainZeta.data()));
  }
};

struct OscLawConfig
{
  OscGains gains = OscGains::deploy();
  double pos_clip = defaults::kPoseErrorClipPos;
  double rot_clip = defaults::kPoseErrorClipRot;
  // Per-joint |tau| clip, N*m; +inf disables it. On by default: this core drives hardware.
  Vec6 torque_limit = Vec6(defaults::kHardwareTorqueLimit.data());
  // Max |d tau / dt|, N*m/s; +inf disables it.
  double torque_rate_limit = kInf;
};

// Scales v down to norm max_norm where it is longer (same arithmetic as osc.clip_by_norm).
inline Vec3 clip_by_norm(const Vec3 & v, double max_norm)
{
  const double n = v.norm();
  return n > max_norm ? Vec3(v * (max_norm / n)) : v;
}

inline Vec6 pose_error(
  const Vec3 & pos, const Mat3 & rot, const Vec3 & target_pos, const Mat3 & target_rot,
  double pos_clip, double rot_clip)
{
  Vec6 e;
  e.head<3>() = clip_by_norm(target_pos - pos, pos_clip);
  e.tail<3>() = clip_by_norm(matrix_to_axis_angle(target_rot * rot.transpose()), rot_clip);
  return e;
}

// tau = J^T (Kp e - Kd J qd), before any limit.
inline Vec6 osc_torque(const Mat6 & jac, const Vec6 & qd, const Vec6 & error, const OscGains & gains)
{
  const Vec6 xdot = jac * qd;
  const Vec6 force = gains.kp.cwiseProduct(error) - gains.kd.cwiseProduct(xdot);
  return jac.transpose() * force;
}

// Rate limit towards tau from previous (max_step = rate * dt; inf disables), then clip to
// +-limit. Returns how many joints the clip changed.
inline int limit_torque(Vec6 & tau, const Vec6 & previous, double max_step, const Vec6 & limit)
{
  if (std::isfinite(max_step)) {
    tau = previous + (tau - previous).cwiseMax(-max_step).cwiseMin(max_step);
  }
  int clipped = 0;
  for (int i = 0; i < 6; ++i) {
    const double t = std::max(std::min(tau(i), limit(i)), -limit(i));
    clipped += t != tau(i) ? 1 : 0;
    tau(i) = t;
  }
  return clipped;
}
}  // namespace omnireset_control
