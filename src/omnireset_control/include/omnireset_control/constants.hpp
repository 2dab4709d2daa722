// Numeric defaults of the OSC law for the C++ side. The one definition is the Python module
// omnireset_control/constants.py; test/test_constants.py fails if these drift from it.
#pragma once

#include <array>

namespace omnireset_control
{
namespace defaults
{
// Deployment / system-identification gain set (A.3.5): Kp and damping ratio zeta per axis.
inline constexpr std::array<double, 6> kDeployKp{1000.0, 1000.0, 1000.0, 50.0, 50.0, 50.0};
inline constexpr std::array<double, 6> kDeployZeta{1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
// Training gain set.
inline constexpr std::array<double, 6> kTrainKp{200.0, 200.0, 200.0, 3.0, 3.0, 3.0};
inline constexpr std::array<double, 6> kTrainZeta{3.0, 3.0, 3.0, 1.0, 1.0, 1.0};
// Per-axis action scales (m or rad per unit).
inline constexpr std::array<double, 6> kDeployActionScale{0.01, 0.01, 0.002, 0.02, 0.02, 0.2};
inline constexpr std::array<double, 6> kTrainActionScale{0.02, 0.02, 0.02, 0.02, 0.02, 0.2};
// Pose-error clip by norm.
inline constexpr double kPoseErrorClipPos = 0.05;  // m
inline constexpr double kPoseErrorClipRot = 0.3;   // rad
// Hardware torque clip, N*m.
inline constexpr std::array<double, 6> kHardwareTorqueLimit{150.0, 150.0, 150.0, 28.0, 28.0, 28.0};
inline constexpr double kControllerRateHz = 500.0;
inline constexpr double kPolicyRateHz = 10.0;
// Flange -> Robotiq 2F-85 fingertip centre along flange z, m.
inline constexpr double kRobotiq2F85TcpOffset = 0.174;
}  // namespace defaults
}  // namespace omnireset_control
