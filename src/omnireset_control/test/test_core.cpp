// C++ core: law properties and the controller's safety logic.
#include <gtest/gtest.h>

#include <Eigen/SVD>

#include <cmath>
#include <limits>

#include "omnireset_control/controller_core.hpp"

using namespace omnireset_control;

namespace
{
// Nominal UR5e/UR7e joint origins (the same numbers as kinematics_params/ur7e.yaml).
UrKinematicsParams ur7e()
{
  const double h = M_PI / 2;
  UrKinematicsParams p;
  p.joints[0].xyz = Vec3(0, 0, 0.1625);
  p.joints[1].rpy = Vec3(h, 0, 0);
  p.joints[2].xyz = Vec3(-0.425, 0, 0);
  p.joints[3].xyz = Vec3(-0.3922, 0, 0.1333);
  p.joints[4].xyz = Vec3(0, -0.0997, 0);
  p.joints[4].rpy = Vec3(h, 0, 0);
  p.joints[5].xyz = Vec3(0, 0.0996, 0);
  p.joints[5].rpy = Vec3(h, M_PI, M_PI);
  p.tcp.xyz = Vec3(0, 0, defaults::kRobotiq2F85TcpOffset);
  return p;
}

Vec6 home() { return (Vec6() << 0.0, -1.57, 1.57, -1.57, -1.57, 0.0).finished(); }
const double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST(Rotations, RoundTripAndShortestPath)
{
  const Vec3 v(0.3, -1.1, 2.0);
  EXPECT_LT((matrix_to_axis_angle(axis_angle_to_matrix(v)) - v).norm(), 1e-12);
  const Vec3 tiny(1e-9, 0, -2e-9);
  EXPECT_LT((matrix_to_axis_angle(axis_angle_to_matrix(tiny)) - tiny).norm(), 1e-20);
  const Vec3 past_pi = Vec3(0, 0, 1) * (M_PI + 0.1);
  EXPECT_NEAR(matrix_to_axis_angle(axis_angle_to_matrix(past_pi))(2), -(M_PI - 0.1), 1e-12);
  const Vec4 q = matrix_to_quat(axis_angle_to_matrix(v));
  EXPECT_LT((quat_to_matrix(q) - axis_angle_to_matrix(v)).cwiseAbs().maxCoeff(), 1e-14);
}

TEST(Kinematics, JacobianMatchesFiniteDifferences)
{
  const UrKinematics kin(ur7e());
  KinematicsResult r, rp, rm;
  const Vec6 q = (Vec6() << 0.3, -1.2, 1.4, -1.0, 0.7, 0.5).finished();
  kin.compute(q, r);
  const double eps = 1e-6;
  for (int j = 0; j < 6; ++j) {
    Vec6 dq = Vec6::Zero();
    dq(j) = eps;
    kin.compute(q + dq, rp);
    kin.compute(q - dq, rm);
    const Vec3 lin = (rp.position - rm.position) / (2 * eps);
    const Mat3 w = (rp.rotation - rm.rotation) / (2 * eps) * r.rotation.transpose();
    EXPECT_LT((r.jacobian.block<3, 1>(0, j) - lin).norm(), 1e-8);
    EXPECT_LT((r.jacobian.block<3, 1>(3, j) - Vec3(w(2, 1), w(0, 2), w(1, 0))).norm(), 1e-8);
  }
  // TCP sits kRobotiq2F85TcpOffset along the flange z axis.
  EXPECT_LT((r.position - r.flange_position - defaults::kRobotiq2F85TcpOffset * r.flange_rotation.col(2)).norm(), 1e-15);
}

TEST(Law, ClippingActiveAndInactive)
{
  const Mat3 I = Mat3::Identity();
  Vec6 e = pose_error(Vec3::Zero(), I, Vec3(0.03, 0, 0), axis_angle_to_matrix(Vec3(0, 0.2, 0)), 0.05, 0.3);
  EXPECT_NEAR(e(0), 0.03, 1e-15);
  EXPECT_NEAR(e(4), 0.2, 1e-14);
  e = pose_error(Vec3::Zero(), I, Vec3(0.3, 0.4, 0), axis_angle_to_matrix(Vec3(1.2, 0, 1.6)), 0.05, 0.3);
  EXPECT_NEAR(e.head<3>().norm(), 0.05, 1e-15);
  EXPECT_NEAR(e(0), 0.03, 1e-15);
  EXPECT_NEAR(e.tail<3>().norm(), 0.3, 1e-14);
  EXPECT_NEAR(e(5), 0.24, 1e-12);
}

TEST(Law, TorqueClipAndRateLimit)
{
  Vec6 tau = (Vec6() << 400, -400, 10, 50, -50, 1).finished();
  const Vec6 limit(defaults::kHardwareTorqueLimit.data());
  EXPECT_EQ(limit_torque(tau, Vec6::Zero(), kInf, limit), 4);
  EXPECT_EQ(tau, (Vec6() << 150, -150, 10, 28, -28, 1).finished());
  Vec6 step = (Vec6() << 400, -400, 10, 50, -50, 1).finished();
  limit_torque(step, Vec6::Zero(), 2.0, limit);
  EXPECT_EQ(step, (Vec6() << 2, -2, 2, 2, -2, 1).finished());
}

TEST(Law, SingularJacobianGivesBoundedTorque)
{
  const UrKinematics kin(ur7e());
  KinematicsResult r;
  const Vec6 q = (Vec6() << 0.0, -M_PI / 2, 0.0, -M_PI / 2, 0.0, 0.0).finished();  // elbow + wrist singular
  kin.compute(q, r);
  Eigen::JacobiSVD<Mat6> svd(r.jacobian);
  EXPECT_LT(svd.singularValues()(5), 1e-9);
  const Vec6 e = pose_error(
    r.position, r.rotation, r.position + Vec3(1, -1, 1), axis_angle_to_matrix(Vec3(2, -1, 0.5)) * r.rotation, 0.05, 0.3);
  const OscGains g = OscGains::deploy();
  const Vec6 tau = osc_torque(r.jacobian, Vec6::Zero(), e, g);
  const double f_bound = 1000 * 0.05 + 50 * 0.3;
  EXPECT_TRUE(tau.allFinite());
  EXPECT_LE(tau.norm(), svd.singularValues()(0) * f_bound + 1e-9);
}

class CoreTest : public ::testing::Test
{
protected:
  OscControllerConfig config()
  {
    OscControllerConfig c;
    c.command_timeout = 0.2;
    return c;
  }
  OscControllerCore core{ur7e(), config()};
  const Vec6 scale = Vec6(defaults::kDeployActionScale.data());
  const double dt = 0.002;
};

TEST_F(CoreTest, HoldsActivationPoseWithoutCommand)
{
  core.reset(home());
  const auto & out = core.update(home(), Vec6::Zero(), 0.0, dt);
  EXPECT_TRUE(out.holding);
  EXPECT_LT(out.error.norm(), 1e-15);
  EXPECT_LT(out.torque.norm(), 1e-12);
  EXPECT_TRUE(std::isnan(core.command_age(0.0)));
}

TEST_F(CoreTest, CommandComposesTargetFromCurrentPose)
{
  core.reset(home());
  const Vec6 action = (Vec6() << 1, 0, 0, 0, 0, 1).finished();
  ASSERT_EQ(core.on_command(action, scale, home(), 1.0), CommandStatus::kAccepted);
  const auto & out = core.update(home(), Vec6::Zero(), 1.002, dt);
  EXPECT_FALSE(out.holding);
  EXPECT_NEAR(out.error(0), 0.01, 1e-12);   // 1 * 0.01 m along base x
  EXPECT_NEAR(out.error(5), 0.2, 1e-12);    // 1 * 0.2 rad about base z (left composition)
  EXPECT_NEAR(out.error.segment<4>(1).norm(), 0.0, 1e-12);
  EXPECT_GT(out.torque.norm(), 1.0);
  EXPECT_NEAR(core.command_age(1.002), 0.002, 1e-12);
}

TEST_F(CoreTest, NonFiniteCommandIsRejectedAndPreviousTargetHeld)
{
  core.reset(home());
  const Vec6 action = (Vec6() << 1, 0, 0, 0, 0, 0).finished();
  ASSERT_EQ(core.on_command(action, scale, home(), 1.0), CommandStatus::kAccepted);
  const Pose held = core.target();
  Vec6 bad = action;
  bad(3) = kNaN;
  EXPECT_EQ(core.on_command(bad, scale, home(), 1.01), CommandStatus::kRejectedNonFinite);
  Vec6 bad_scale = scale;
  bad_scale(0) = std::numeric_limits<double>::infinity();
  EXPECT_EQ(core.on_command(action * 3, bad_scale, home(), 1.02), CommandStatus::kRejectedNonFinite);
  EXPECT_EQ(core.rejected_commands(), 2u);
  EXPECT_EQ(core.accepted_commands(), 1u);
  EXPECT_EQ(core.target().position, held.position);
  // The accepted command's age keeps counting: a stream of bad commands still times out.
  EXPECT_NEAR(core.command_age(1.05), 0.05, 1e-12);
}

TEST_F(CoreTest, StaleStampIsRejected)
{
  core.reset(home());
  EXPECT_EQ(core.on_command(Vec6::Zero(), scale, home(), 10.0, 9.5), CommandStatus::kRejectedStale);
  EXPECT_EQ(core.on_command(Vec6::Zero(), scale, home(), 10.0, 9.9), CommandStatus::kAccepted);
  EXPECT_EQ(core.rejected_commands(), 1u);
}

TEST_F(CoreTest, TimeoutHoldsCurrentPoseWithZeroVelocityTarget)
{
  core.reset(home());
  const Vec6 action = (Vec6() << 2, 0, 0, 0, 0, 0).finished();
  ASSERT_EQ(core.on_command(action, scale, home(), 1.0), CommandStatus::kAccepted);
  Vec6 moved = home();
  moved(0) += 0.01;
  const Vec6 qd = Vec6::Constant(0.3);
  EXPECT_FALSE(core.update(moved, qd, 1.1, dt).holding);
  const auto & out = core.update(moved, qd, 1.25, dt);  // 0.25 s > 0.2 s timeout
  EXPECT_TRUE(out.holding);
  EXPECT_EQ(core.timeouts(), 1u);
  EXPECT_LT(out.error.norm(), 1e-15);  // target = pose at the timeout
  // Only damping acts: tau = -J^T Kd J qd.
  KinematicsResult r;
  core.kinematics().compute(moved, r);
  const OscGains g = OscGains::deploy();
  Vec6 expected = -(r.jacobian.transpose() * g.kd.cwiseProduct(r.jacobian * qd));
  limit_torque(expected, Vec6::Zero(), kInf, Vec6(defaults::kHardwareTorqueLimit.data()));
  EXPECT_LT((out.torque - expected).norm(), 1e-9);
  // A new command ends the hold.
  ASSERT_EQ(core.on_command(action, scale, moved, 1.3), CommandStatus::kAccepted);
  EXPECT_FALSE(core.update(moved, qd, 1.302, dt).holding);
}

TEST_F(CoreTest, NonFiniteStateRampsTorqueToZeroAndCounts)
{
  OscControllerConfig c = config();
  c.law.torque_rate_limit = 1000.0;  // 2 N*m per 2 ms tick
  OscControllerCore rate_core(ur7e(), c);
  rate_core.reset(home());
  ASSERT_EQ(rate_core.on_command((Vec6() << 3, 3, 3, 0, 0, 0).finished(), scale, home(), 0.0), CommandStatus::kAccepted);
  Vec6 tau;
  for (int i = 0; i < 50; ++i) { tau = rate_core.update(home(), Vec6::Zero(), 0.002 * i, dt).torque; }
  ASSERT_GT(tau.cwiseAbs().maxCoeff(), 4.0);
  Vec6 bad = home();
  bad(2) = kNaN;
  const Vec6 after = rate_core.update(bad, Vec6::Zero(), 0.1, dt).torque;
  EXPECT_TRUE(after.allFinite());
  EXPECT_LE((after - tau).cwiseAbs().maxCoeff(), 2.0 + 1e-12);
  EXPECT_LT(after.cwiseAbs().maxCoeff(), tau.cwiseAbs().maxCoeff());
  EXPECT_EQ(rate_core.nonfinite_states(), 1u);
  EXPECT_EQ(rate_core.on_command(Vec6::Zero(), scale, bad, 0.1), CommandStatus::kRejectedNoState);
  // Without a rate limit the torque is zero at once.
  core.reset(home());
  Vec6 bad_qd = Vec6::Zero();
  bad_qd(0) = std::numeric_limits<double>::infinity();
  EXPECT_EQ(core.update(home(), bad_qd, 0.0, dt).torque, Vec6::Zero());
}

TEST_F(CoreTest, DeltaClampLimitsTheScaledAction)
{
  OscControllerConfig c = config();
  c.max_position_delta = 0.01;
  c.max_rotation_delta = 0.05;
  c.law.pos_clip = 1.0;
  c.law.rot_clip = 1.0;
  OscControllerCore clamped(ur7e(), c);
  clamped.reset(home());
  clamped.on_command((Vec6() << 100, 0, 0, 0, 0, -100).finished(), scale, home(), 0.0);
  const auto & out = clamped.update(home(), Vec6::Zero(), 0.001, dt);
  EXPECT_NEAR(out.error(0), 0.01, 1e-12);
  EXPECT_NEAR(out.error(5), -0.05, 1e-12);
}

TEST_F(CoreTest, TorqueClipIsOnByDefaultAndCounted)
{
  core.reset(home());
  core.on_command((Vec6() << 5, 5, 5, 0, 0, 0).finished(), scale, home(), 0.0);
  const auto & out = core.update(home(), Vec6::Constant(3.0), 0.001, dt);
  const Vec6 limit(defaults::kHardwareTorqueLimit.data());
  EXPECT_TRUE((out.torque.cwiseAbs().array() <= limit.array()).all());
  EXPECT_GT(out.clipped_joints, 0);
  EXPECT_EQ(core.torque_clipped_samples(), 1u);
}
