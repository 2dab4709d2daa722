// Benchmark: one 500 Hz tick of the C++ OSC core (OscControllerCore::update: FK + Jacobian + law
// + safety + limits) vs a naive baseline in the same run: the same law written with dynamic-size
// Eigen matrices and 4x4 homogeneous transforms built per joint per tick.
// Build and run: bash bench/bench_osc_cpp.sh
#include <Eigen/Dense>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "omnireset_control/controller_core.hpp"

using namespace omnireset_control;
using Clock = std::chrono::steady_clock;

namespace
{
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

// Naive baseline: heap-allocated dynamic matrices, transforms rebuilt from rpy every tick.
__attribute__((noinline)) Eigen::VectorXd naive_tick(
  const UrKinematicsParams & p, const Eigen::VectorXd & q, const Eigen::VectorXd & qd,
  const Eigen::VectorXd & target_pos, const Eigen::MatrixXd & target_rot, const Eigen::VectorXd & kp,
  const Eigen::VectorXd & kd, const Eigen::VectorXd & limit)
{
  auto homogeneous = [](const Vec3 & xyz, const Vec3 & rpy) {
    Eigen::MatrixXd T = Eigen::MatrixXd::Identity(4, 4);
    T.block(0, 0, 3, 3) = rpy_to_matrix(rpy);
    T.block(0, 3, 3, 1) = xyz;
    return T;
  };
  Eigen::MatrixXd T = Eigen::MatrixXd::Identity(4, 4);
  T(0, 0) = -1;
  T(1, 1) = -1;
  std::vector<Eigen::VectorXd> z(6), o(6);
  for (int i = 0; i < 6; ++i) {
    T = T * homogeneous(p.joints[i].xyz, p.joints[i].rpy);
    z[i] = T.block(0, 2, 3, 1);
    o[i] = T.block(0, 3, 3, 1);
    T = T * homogeneous(Vec3::Zero(), Vec3(0, 0, q(i)));
  }
  T = T * homogeneous(p.tcp.xyz, p.tcp.rpy);
  const Eigen::VectorXd pos = T.block(0, 3, 3, 1);
  Eigen::MatrixXd J(6, 6);
  for (int i = 0; i < 6; ++i) {
    const Vec3 zi = z[i], d = pos - o[i];
    J.block(0, i, 3, 1) = zi.cross(d);
    J.block(3, i, 3, 1) = zi;
  }
  Eigen::VectorXd e(6);
  Eigen::VectorXd ep = target_pos - pos;
  if (ep.norm() > 0.05) { ep *= 0.05 / ep.norm(); }
  const Mat3 rerr = target_rot * T.block(0, 0, 3, 3).transpose();
  Eigen::AngleAxisd aa(rerr);
  Eigen::VectorXd er = aa.axis() * aa.angle();
  if (er.norm() > 0.3) { er *= 0.3 / er.norm(); }
  e << ep, er;
  Eigen::VectorXd tau = J.transpose() * (kp.cwiseProduct(e) - kd.cwiseProduct(J * qd));
  return tau.cwiseMin(limit).cwiseMax(-limit);
}
}  // namespace

int main()
{
  const int ticks = 200000;
  std::mt19937 rng(0);
  std::uniform_real_distribution<double> u(-0.3, 0.3);
  const Vec6 home = (Vec6() << 0.0, -1.57, 1.57, -1.57, -1.57, 0.0).finished();
  std::vector<Vec6> qs(1024), qds(1024);
  for (std::size_t i = 0; i < qs.size(); ++i) {
    for (int j = 0; j < 6; ++j) { qs[i](j) = home(j) + u(rng); qds[i](j) = u(rng); }
  }
  OscControllerConfig config;
  config.command_timeout = 1e9;
  OscControllerCore core(ur7e(), config);
  core.reset(home);
  core.on_command((Vec6() << 1, -1, 0.5, 0.2, 0.1, -1).finished(), Vec6(defaults::kDeployActionScale.data()), home, 0.0);

  double sink = 0.0;
  auto t0 = Clock::now();
  for (int k = 0; k < ticks; ++k) {
    const auto & out = core.update(qs[k & 1023], qds[k & 1023], 1e-3 * k, 0.002);
    sink += out.torque(0);
  }
  const double core_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / ticks;

  const UrKinematicsParams p = ur7e();
  const Eigen::VectorXd target_pos = core.target().position;
  const Eigen::MatrixXd target_rot = core.target().rotation;
  const OscGains g = OscGains::deploy();
  const Eigen::VectorXd kp = g.kp, kd = g.kd, limit = Vec6(defaults::kHardwareTorqueLimit.data());
  double max_diff = 0.0;
  for (int k = 0; k < 1024; ++k) {  // the baseline computes the same torque
    const Eigen::VectorXd a = naive_tick(p, qs[k], qds[k], target_pos, target_rot, kp, kd, limit);
    const Vec6 b = core.update(qs[k], qds[k], 1.0, 0.002).torque;
    max_diff = std::max(max_diff, (a - Eigen::VectorXd(b)).cwiseAbs().maxCoeff());
  }
  const int naive_ticks = ticks / 4;
  t0 = Clock::now();
  for (int k = 0; k < naive_ticks; ++k) {
    sink += naive_tick(p, qs[k & 1023], qds[k & 1023], target_pos, target_rot, kp, kd, limit)(0);
  }
  const double naive_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / naive_ticks;

  std::printf("C++ core tick (FK + Jacobian + law + safety): %8.3f us  (target <= 20 us; 500 Hz budget 2000 us)\n", core_us);
  std::printf("naive dynamic-size Eigen baseline          : %8.3f us\n", naive_us);
  std::printf("speed-up                                   : %8.1f x\n", naive_us / core_us);
  std::printf("max |tau| difference core vs baseline      : %.2e N*m   (checksum %.3f)\n", max_diff, sink);
  return 0;
}
