// Rotation helpers mirroring omnireset_control/rotations.py operation for operation, so that the
// C++ core reproduces the torch law to rounding. Quaternions are (w, x, y, z).
#pragma once

#include <Eigen/Core>
#include <Eigen/Geometry>  // cross products
#include <cmath>
#include <limits>

namespace omnireset_control
{
using Vec3 = Eigen::Matrix<double, 3, 1>;
using Vec4 = Eigen::Matrix<double, 4, 1>;
using Vec6 = Eigen::Matrix<double, 6, 1>;
using Mat3 = Eigen::Matrix<double, 3, 3>;
using Mat6 = Eigen::Matrix<double, 6, 6>;

// Below this angle the closed forms divide by ~0; the series are exact to double rounding there.
inline constexpr double kSmallAngle = 1e-6;

// Unit quaternion (w >= 0) of a rotation matrix, Shepperd's method: the branch with the largest
// of trace, R00, R11, R22 (first one on ties, like torch.argmax).
inline Vec4 matrix_to_quat(const Mat3 & R)
{
  const double tiny = std::numeric_limits<double>::min();
  const double trace = R(0, 0) + R(1, 1) + R(2, 2);
  int branch = 0;
  double best = trace;
  if (R(0, 0) > best) { branch = 1; best = R(0, 0); }
  if (R(1, 1) > best) { branch = 2; best = R(1, 1); }
  if (R(2, 2) > best) { branch = 3; }
  Vec4 q;
  if (branch == 0) {
    const double s = 2.0 * std::sqrt(std::max(1.0 + trace, tiny));
    q << 0.25 * s, (R(2, 1) - R(1, 2)) / s, (R(0, 2) - R(2, 0)) / s, (R(1, 0) - R(0, 1)) / s;
  } else if (branch == 1) {
    const double s = 2.0 * std::sqrt(std::max(1.0 + R(0, 0) - R(1, 1) - R(2, 2), tiny));
    q << (R(2, 1) - R(1, 2)) / s, 0.25 * s, (R(0, 1) + R(1, 0)) / s, (R(0, 2) + R(2, 0)) / s;
  } else if (branch == 2) {
    const double s = 2.0 * std::sqrt(std::max(1.0 - R(0, 0) + R(1, 1) - R(2, 2), tiny));
    q << (R(0, 2) - R(2, 0)) / s, (R(0, 1) + R(1, 0)) / s, 0.25 * s, (R(1, 2) + R(2, 1)) / s;
  } else {
    const double s = 2.0 * std::sqrt(std::max(1.0 - R(0, 0) - R(1, 1) + R(2, 2), tiny));
    q << (R(1, 0) - R(0, 1)) / s, (R(0, 2) + R(2, 0)) / s, (R(1, 2) + R(2, 1)) / s, 0.25 * s;
  }
  q /= q.norm();
  if (q(0) < 0.0) { q = -q; }
  return q;
}

// Axis-angle of the shortest rotation (angle in [0, pi]) of a unit quaternion.
inline Vec3 quat_to_axis_angle(Vec4 q)
{
  if (q(0) < 0.0) { q = -q; }
  const double w = q(0);
  const Vec3 v = q.tail<3>();
  const double s = v.norm();
  const double angle = 2.0 * std::atan2(s, w);
  const double factor = s < kSmallAngle ? 2.0 / w : angle / s;
  return v * factor;
}

inline Vec3 matrix_to_axis_angle(const Mat3 & R) { return quat_to_axis_angle(matrix_to_quat(R)); }

inline Mat3 skew(const Vec3 & v)
{
  Mat3 K;
  K << 0.0, -v(2), v(1), v(2), 0.0, -v(0), -v(1), v(0), 0.0;
  return K;
}

// Rodrigues, with 1 - cos(angle) written as 2 sin^2(angle / 2).
inline Mat3 axis_angle_to_matrix(const Vec3 & v)
{
  const double angle = v.norm();
  const bool small = angle < kSmallAngle;
  const double safe = small ? 1.0 : angle;
  const double half_sin = std::sin(0.5 * safe);
  const double a = small ? 1.0 - angle * angle / 6.0 : std::sin(safe) / safe;
  const double b = small ? 0.5 - angle * angle / 24.0 : 2.0 * half_sin * half_sin / (safe * safe);
  const Mat3 K = skew(v);
  return Mat3::Identity() + a * K + b * (K * K);
}

// URDF roll-pitch-yaw: Rz(yaw) Ry(pitch) Rx(roll).
inline Mat3 rpy_to_matrix(const Vec3 & rpy)
{
  const double cr = std::cos(rpy(0)), sr = std::sin(rpy(0));
  const double cp = std::cos(rpy(1)), sp = std::sin(rpy(1));
  const double cy = std::cos(rpy(2)), sy = std::sin(rpy(2));
  Mat3 R;
  R << cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr,
       sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr,
       -sp, cp * sr, cp * cr;
  return R;
}

// Unit quaternion (w, x, y, z) -> rotation matrix.
inline Mat3 quat_to_matrix(Vec4 q)
{
  q /= q.norm();
  const double w = q(0), x = q(1), y = q(2), z = q(3);
  Mat3 R;
  R << 1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
       2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
       2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y);
  return R;
}
}  // namespace omnireset_control
