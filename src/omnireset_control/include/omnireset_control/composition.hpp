// Policy delta -> held target (mirrors omnireset_control/composition.py):
//   target_pos = pos + action[0:3] .* scale[0:3]        (base frame)
//   target_rot = exp(action[3:6] .* scale[3:6]) * rot    (LEFT composition: base-frame increment,
//                                                         as the official RelCartesianOSCAction)
#pragma once

#include "omnireset_control/rotations.hpp"

namespace omnireset_control
{
struct Pose
{
  Vec3 position = Vec3::Zero();
  Mat3 rotation = Mat3::Identity();
};

inline Pose compose_target(const Vec3 & pos, const Mat3 & rot, const Vec6 & action, const Vec6 & scale)
{
  const Vec6 scaled = action.cwiseProduct(scale);
  Pose target;
  target.position = pos + scaled.head<3>();
  target.rotation = axis_angle_to_matrix(scaled.tail<3>()) * rot;
  return target;
}
}  // namespace omnireset_control
