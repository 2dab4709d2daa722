// The C++ core reproduces the golden vectors of the torch law (test/golden/osc_golden.txt):
// kinematics, composition, pose error and torque, torque within 1e-9 N*m.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "omnireset_control/composition.hpp"
#include "omnireset_control/osc_law.hpp"
#include "omnireset_control/ur_kinematics.hpp"

using namespace omnireset_control;

namespace
{
struct Golden
{
  std::map<int, UrKinematicsParams> kinematics;
  std::vector<std::pair<std::string, int>> fields;
  std::vector<std::pair<int, std::map<std::string, std::vector<double>>>> cases;
};

double parse_double(const std::string & token)
{
  // strtod accepts "inf"; the file writes Python's repr ("inf").
  return std::strtod(token.c_str(), nullptr);
}

Golden load_golden(const std::string & path)
{
  std::ifstream in(path);
  if (!in) { throw std::runtime_error("cannot open " + path); }
  Golden g;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') { continue; }
    std::istringstream ss(line);
    std::string head;
    ss >> head;
    std::vector<std::string> tokens;
    for (std::string t; ss >> t;) { tokens.push_back(t); }
    if (head == "kinematics") {
      UrKinematicsParams p;
      for (int r = 0; r < 7; ++r) {
        JointOrigin o;
        for (int c = 0; c < 3; ++c) {
          o.xyz(c) = parse_double(tokens[1 + r * 6 + c]);
          o.rpy(c) = parse_double(tokens[1 + r * 6 + 3 + c]);
        }
        if (r < 6) { p.joints[r] = o; } else { p.tcp = o; }
      }
      g.kinematics[std::stoi(tokens[0])] = p;
    } else if (head == "fields") {
      for (const auto & t : tokens) {
        const auto colon = t.find(':');
        g.fields.emplace_back(t.substr(0, colon), std::stoi(t.substr(colon + 1)));
      }
    } else if (head == "case") {
      std::map<std::string, std::vector<double>> c;
      std::size_t k = 1;
      for (const auto & [name, size] : g.fields) {
        for (int i = 0; i < size; ++i) { c[name].push_back(parse_double(tokens.at(k++))); }
      }
      EXPECT_EQ(k, tokens.size());
      g.cases.emplace_back(std::stoi(tokens[0]), std::move(c));
    }
  }
  return g;
}

template <int N>
Eigen::Matrix<double, N, 1> vec(const std::vector<double> & v)
{
  return Eigen::Map<const Eigen::Matrix<double, N, 1>>(v.data());
}

template <int R, int C>
Eigen::Matrix<double, R, C> mat_row_major(const std::vector<double> & v)
{
  return Eigen::Map<const Eigen::Matrix<double, R, C, Eigen::RowMajor>>(v.data());
}
}  // namespace

TEST(Golden, CoreReproducesTorchLaw)
{
  const Golden g = load_golden(OMNIRESET_GOLDEN_FILE);
  ASSERT_GE(g.cases.size(), 200u);
  double worst_torque = 0.0;
  int torque_clipped = 0;
  for (const auto & [kin_id, c] : g.cases) {
    const UrKinematics kin(g.kinematics.at(kin_id));
    KinematicsResult cmd, now;
    kin.compute(vec<6>(c.at("q_cmd")), cmd);
    const Pose target = compose_target(cmd.position, cmd.rotation, vec<6>(c.at("action")), vec<6>(c.at("scale")));
    kin.compute(vec<6>(c.at("q")), now);
    EXPECT_LT((now.position - vec<3>(c.at("tcp_pos"))).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((now.rotation - mat_row_major<3, 3>(c.at("tcp_rot"))).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((now.jacobian - mat_row_major<6, 6>(c.at("jacobian"))).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((target.position - vec<3>(c.at("target_pos"))).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((target.rotation - mat_row_major<3, 3>(c.at("target_rot"))).cwiseAbs().maxCoeff(), 1e-12);

    const Vec6 error = pose_error(
      now.position, now.rotation, target.position, target.rotation, c.at("pos_clip")[0], c.at("rot_clip")[0]);
    EXPECT_LT((error - vec<6>(c.at("error"))).cwiseAbs().maxCoeff(), 1e-12);
    const OscGains gains = OscGains::from_kp_zeta(vec<6>(c.at("kp")), vec<6>(c.at("zeta")));
    Vec6 tau = osc_torque(now.jacobian, vec<6>(c.at("qd")), error, gains);
    torque_clipped += limit_torque(tau, Vec6::Zero(), kInf, vec<6>(c.at("torque_limit"))) > 0 ? 1 : 0;
    worst_torque = std::max(worst_torque, (tau - vec<6>(c.at("torque"))).cwiseAbs().maxCoeff());
  }
  EXPECT_LE(worst_torque, 1e-9);
  EXPECT_GE(torque_clipped, 10);
  std::printf("golden: %zu cases, worst torque difference %.3g N*m\n", g.cases.size(), worst_torque);
}
