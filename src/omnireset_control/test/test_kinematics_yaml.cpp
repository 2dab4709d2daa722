// Calibration YAML loading in C++ (yaml-cpp): the fixture loads; malformed files name the field.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "omnireset_control/kinematics_yaml.hpp"

using namespace omnireset_control;

namespace
{
std::string fixture_text()
{
  std::ifstream in(std::string(OMNIRESET_FIXTURES_DIR) + "/ur7e_calibration.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string expect_error(const std::string & from, const std::string & to)
{
  std::string text = fixture_text();
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  const std::string path = ::testing::TempDir() + "/omnireset_bad_calibration.yaml";
  std::ofstream(path) << text;
  try {
    load_kinematics_yaml(path, JointOrigin{});
  } catch (const CalibrationError & e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << to;
  return "";
}
}  // namespace

TEST(KinematicsYaml, LoadsFixture)
{
  const auto p = load_kinematics_yaml(std::string(OMNIRESET_FIXTURES_DIR) + "/ur7e_calibration.yaml", JointOrigin{});
  EXPECT_DOUBLE_EQ(p.joints[2].xyz(0), -0.42523);
  EXPECT_DOUBLE_EQ(p.joints[1].rpy(0), 1.570408);
  EXPECT_DOUBLE_EQ(p.joints[5].rpy(2), 3.141526);
}

TEST(KinematicsYaml, MalformedNamesTheField)
{
  EXPECT_NE(expect_error("kinematics:", "kinematic:").find("'kinematics'"), std::string::npos);
  EXPECT_NE(expect_error("  forearm:", "  fore_arm:").find("'kinematics.forearm'"), std::string::npos);
  EXPECT_NE(expect_error("    roll: 1.570408", "    rol: 1.570408").find("'kinematics.upper_arm.roll'"), std::string::npos);
  EXPECT_NE(expect_error("    x: -0.42523", "    x: abc").find("'kinematics.forearm.x'"), std::string::npos);
  EXPECT_NE(expect_error("    z: 0.133276", "    z: .nan").find("'kinematics.wrist_1.z'"), std::string::npos);
  EXPECT_THROW(load_kinematics_yaml("/nonexistent/calibration.yaml", JointOrigin{}), CalibrationError);
}
