// UR kinematics: FK of the flange and TCP and the geometric Jacobian at the TCP, in ROS base_link.
// Mirrors omnireset_control/kinematics.py (same chain, same operation order):
//  * six fixed joint origins (xyz + URDF rpy, previous joint frame -> next, as in ur_calibration's
//    kinematics_params / ur_description), each joint rotating about its local +z;
//  * the chain starts in the DH base frame (ur_description `base_link_inertia`); base_link is that
//    frame rotated by pi about z, folded into the first joint origin;
//  * flange = tool0 (orientation of wrist_3_link); TCP = flange * tcp offset.
#pragma once

#include <array>
#include <cmath>

#include "omnireset_control/rotations.hpp"

namespace omnireset_control
{
struct JointOrigin
{
  Vec3 xyz = Vec3::Zero();
  Vec3 rpy = Vec3::Zero();
};

struct UrKinematicsParams
{
  std::array<JointOrigin, 6> joints;  // DH base -> shoulder, ..., wrist_2 -> wrist_3
  JointOrigin tcp;                    // flange (tool0) -> TCP

  bool all_finite() const
  {
    bool ok = tcp.xyz.allFinite() && tcp.rpy.allFinite();
    for (const auto & j : joints) { ok = ok && j.xyz.allFinite() && j.rpy.allFinite(); }
    return ok;
  }
};

struct KinematicsResult
{
  Vec3 position = Vec3::Zero();   // TCP in base_link
  Mat3 rotation = Mat3::Identity();
  Mat6 jacobian = Mat6::Zero();   // at the TCP; rows: linear xyz, angular xyz
  Vec3 flange_position = Vec3::Zero();
  Mat3 flange_rotation = Mat3::Identity();
};

class UrKinematics
{
public:
  UrKinematics() = default;
  explicit UrKinematics(const UrKinematicsParams & params) { set_params(params); }

  void set_params(const UrKinematicsParams & params)
  {
    params_ = params;
    Mat3 base;
    base << -1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0;  // base_link <- DH base: Rz(pi), exact
    for (int i = 0; i < 6; ++i) {
      rot_[i] = rpy_to_matrix(params.joints[i].rpy);
      trans_[i] = params.joints[i].xyz;
    }
    rot_[0] = base * rot_[0];
    trans_[0] = base * trans_[0];
    rot_[6] = rpy_to_matrix(params.tcp.rpy);
    trans_[6] = params.tcp.xyz;
  }

  const UrKinematicsParams & params() const { return params_; }

  // Allocation-free; safe in the real-time loop.
  void compute(const Vec6 & q, KinematicsResult & out, bool with_jacobian = true) const
  {
    Mat3 R = Mat3::Identity();
    Vec3 p = Vec3::Zero();
    Eigen::Matrix<double, 3, 6> axes, origins;
    for (int i = 0; i < 6; ++i) {
      p = p + R * trans_[i];
      R = R * rot_[i];
      axes.col(i) = R.col(2);
      origins.col(i) = p;
      // R * Rz(q_i): only the x and y columns mix.
      const double c = std::cos(q(i)), s = std::sin(q(i));
      const Vec3 cx = R.col(0), cy = R.col(1);
      R.col(0) = c * cx + s * cy;
      R.col(1) = c * cy - s * cx;
    }
    out.flange_position = p;
    out.flange_rotation = R;
    out.position = p + R * trans_[6];
    out.rotation = R * rot_[6];
    if (with_jacobian) {
      for (int i = 0; i < 6; ++i) {
        const Vec3 z = axes.col(i);
        out.jacobian.block<3, 1>(0, i) = z.cross(out.position - origins.col(i));
        out.jacobian.block<3, 1>(3, i) = z;
      }
    }
  }

private:
  UrKinematicsParams params_;
  std::array<Mat3, 7> rot_{};
  std::array<Vec3, 7> trans_{};
};
}  // namespace omnireset_control
