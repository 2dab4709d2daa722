// Loading ur_calibration `kinematics_params` YAML files (needs yaml-cpp). Mirrors
// omnireset_control.kinematics.load_kinematics: a malformed file throws CalibrationError naming
// the offending field, e.g. "kinematics.wrist_2.roll".
#pragma once

#include <yaml-cpp/yaml.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

#include "omnireset_control/ur_kinematics.hpp"

namespace omnireset_control
{
class CalibrationError : public std::runtime_error
{
public:
  using std::runtime_error::runtime_error;
};

inline UrKinematicsParams load_kinematics_yaml(const std::string & path, const JointOrigin & tcp)
{
  static const std::array<const char *, 6> kJoints{
    "shoulder", "upper_arm", "forearm", "wrist_1", "wrist_2", "wrist_3"};
  static const std::array<const char *, 6> kFields{"x", "y", "z", "roll", "pitch", "yaw"};
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::BadFile &) {
    throw CalibrationError(path + ": calibration file not found or unreadable");
  } catch (const YAML::Exception & e) {
    throw CalibrationError(path + ": not valid YAML: " + e.what());
  }
  const YAML::Node kin = doc.IsMap() ? doc["kinematics"] : YAML::Node();
  if (!kin || !kin.IsMap()) {
    throw CalibrationError(path + ": field 'kinematics' is missing or not a mapping");
  }
  UrKinematicsParams params;
  params.tcp = tcp;
  for (std::size_t j = 0; j < kJoints.size(); ++j) {
    const std::string joint_path = std::string("kinematics.") + kJoints[j];
    const YAML::Node entry = kin[kJoints[j]];
    if (!entry || !entry.IsMap()) {
      throw CalibrationError(path + ": field '" + joint_path + "' is missing or not a mapping");
    }
    double values[6];
    for (std::size_t f = 0; f < kFields.size(); ++f) {
      const std::string field = joint_path + "." + kFields[f];
      const YAML::Node node = entry[kFields[f]];
      if (!node) {
        throw CalibrationError(path + ": field '" + field + "' is missing");
      }
      double v = 0.0;
      try {
        v = node.as<double>();
      } catch (const YAML::Exception &) {
        throw CalibrationError(path + ": field '" + field + "' must be a finite number");
      }
      if (!std::isfinite(v)) {
        throw CalibrationError(path + ": field '" + field + "' must be a finite number");
      }
      values[f] = v;
    }
    params.joints[j].xyz = Vec3(values[0], values[1], values[2]);
    params.joints[j].rpy = Vec3(values[3], values[4], values[5]);
  }
  return params;
}
}  // namespace omnireset_control
