#include "omnireset_control/osc_torque_controller.hpp"

#include <cmath>
#include <limits>
#include <utility>

#include "ament_index_cpp/get_package_share_directory.hpp"
#include "omnireset_control/kinematics_yaml.hpp"
#include "pluginlib/class_list_macros.hpp"

namespace omnireset_control
{
namespace
{
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Loaned-interface access that compiles against ros2_control 4.2x (get_value / void set_value)
// and 4.3x+ (get_optional, [[nodiscard]] bool set_value). Returns false when no value was read.
template <typename Iface>
auto read_interface(const Iface & iface, double & out, int) -> decltype(iface.get_optional(), bool())
{
  const auto value = iface.get_optional();
  if (!value) { return false; }
  out = *value;
  return true;
}
template <typename Iface>
bool read_interface(const Iface & iface, double & out, long)
{
  out = iface.get_value();
  return true;
}

Vec6 vec6(const std::vector<double> & v, const std::string & name)
{
  if (v.size() != 6) {
    throw std::invalid_argument("parameter '" + name + "' needs 6 values, got " + std::to_string(v.size()));
  }
  for (double x : v) {
    if (!std::isfinite(x)) { throw std::invalid_argument("parameter '" + name + "' must be finite"); }
  }
  return Vec6(v.data());
}

std::vector<double> to_vector(const std::array<double, 6> & a) { return {a.begin(), a.end()}; }

void fill_pose(geometry_msgs::msg::Pose & msg, const Pose & pose)
{
  msg.position.x = pose.position(0);
  msg.position.y = pose.position(1);
  msg.position.z = pose.position(2);
  const Vec4 q = matrix_to_quat(pose.rotation);
  msg.orientation.w = q(0);
  msg.orientation.x = q(1);
  msg.orientation.y = q(2);
  msg.orientation.z = q(3);
}
}  // namespace

controller_interface::CallbackReturn OscTorqueController::on_init()
{
  try {
    auto_declare<std::vector<std::string>>(
      "joints", {"shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint",
                 "wrist_2_joint", "wrist_3_joint"});
    auto_declare<std::string>("robot", "ur7e");
    auto_declare<std::string>("calibration_file", "");  // empty: nominal kinematics of `robot`
    auto_declare<std::vector<double>>("tcp_offset_xyz", {0.0, 0.0, defaults::kRobotiq2F85TcpOffset});
    auto_declare<std::vector<double>>("tcp_offset_rpy", {0.0, 0.0, 0.0});
    auto_declare<std::vector<double>>("kp", to_vector(defaults::kDeployKp));
    auto_declare<std::vector<double>>("zeta", to_vector(defaults::kDeployZeta));
    auto_declare<double>("pos_clip", defaults::kPoseErrorClipPos);
    auto_declare<double>("rot_clip", defaults::kPoseErrorClipRot);
    auto_declare<std::vector<double>>("torque_limit", to_vector(defaults::kHardwareTorqueLimit));
    auto_declare<double>("torque_rate_limit", 0.0);  // N*m/s; 0 = off
    auto_declare<bool>("use_command_scale", true);  // else action_scale below
    auto_declare<std::vector<double>>("action_scale", to_vector(defaults::kDeployActionScale));
    auto_declare<double>("max_position_delta", 0.0);  // m per axis of action*scale; 0 = off
    auto_declare<double>("max_rotation_delta", 0.0);  // rad per axis; 0 = off
    auto_declare<double>("command_timeout", 0.5);  // s
    auto_declare<bool>("reject_stale_stamps", true);
    auto_declare<std::string>("base_frame", "base_link");
    auto_declare<double>("state_publish_rate", 50.0);  // Hz
  } catch (const std::exception & e) {
    RCLCPP_ERROR(get_node()->get_logger(), "declaring parameters failed: %s", e.what());
    return controller_interface::CallbackReturn::ERROR;
  }
  return controller_interface::CallbackReturn::SUCCESS;
}

controller_interface::InterfaceConfiguration OscTorqueController::command_interface_configuration() const
{
  controller_interface::InterfaceConfiguration config{controller_interface::interface_configuration_type::INDIVIDUAL, {}};
  for (const auto & j : joints_) { config.names.push_back(j + "/effort"); }
  return config;
}

controller_interface::InterfaceConfiguration OscTorqueController::state_interface_configuration() const
{
  controller_interface::InterfaceConfiguration config{controller_interface::interface_configuration_type::INDIVIDUAL, {}};
  for (const auto & j : joints_) { config.names.push_back(j + "/position"); }
  for (const auto & j : joints_) { config.names.push_back(j + "/velocity"); }
  return config;
}

controller_interface::CallbackReturn OscTorqueController::on_configure(const rclcpp_lifecycle::State &)
{
  const auto node = get_node();
  const auto logger = node->get_logger();
  try {
    joints_ = node->get_parameter("joints").as_string_array();
    if (joints_.size() != 6) {
      throw std::invalid_argument("parameter 'joints' needs 6 names, got " + std::to_string(joints_.size()));
    }
    JointOrigin tcp;
    const auto xyz = node->get_parameter("tcp_offset_xyz").as_double_array();
    const auto rpy = node->get_parameter("tcp_offset_rpy").as_double_array();
    if (xyz.size() != 3 || rpy.size() != 3) {
      throw std::invalid_argument("parameters 'tcp_offset_xyz' and 'tcp_offset_rpy' need 3 values each");
    }
    tcp.xyz = Vec3(xyz[0], xyz[1], xyz[2]);
    tcp.rpy = Vec3(rpy[0], rpy[1], rpy[2]);
    std::string calibration = node->get_parameter("calibration_file").as_string();
    const std::string robot = node->get_parameter("robot").as_string();
    if (calibration.empty()) {
      if (robot != "ur3e" && robot != "ur5e" && robot != "ur7e" && robot != "ur10e") {
        throw std::invalid_argument("parameter 'robot': unknown robot '" + robot + "'; valid: ur3e, ur5e, ur7e, ur10e");
      }
      calibration = ament_index_cpp::get_package_share_directory("omnireset_control") +
                    "/kinematics_params/" + robot + ".yaml";
    }
    const UrKinematicsParams params = load_kinematics_yaml(calibration, tcp);

    OscControllerConfig config;
    config.law.gains = OscGains::from_kp_zeta(
      vec6(node->get_parameter("kp").as_double_array(), "kp"),
      vec6(node->get_parameter("zeta").as_double_array(), "zeta"));
    if ((config.law.gains.kp.array() < 0.0).any()) { throw std::invalid_argument("parameter 'kp' must be >= 0"); }
    config.law.pos_clip = node->get_parameter("pos_clip").as_double();
    config.law.rot_clip = node->get_parameter("rot_clip").as_double();
    if (!(config.law.pos_clip > 0.0 && config.law.rot_clip > 0.0)) {
      throw std::invalid_argument("parameters 'pos_clip' and 'rot_clip' must be > 0");
    }
    config.law.torque_limit = vec6(node->get_parameter("torque_limit").as_double_array(), "torque_limit");
    if ((config.law.torque_limit.array() <= 0.0).any()) {
      throw std::invalid_argument("parameter 'torque_limit' must be > 0");
    }
    const auto positive_or_inf = [&](const char * name) {
      const double v = node->get_parameter(name).as_double();
      return v > 0.0 ? v : kInf;
    };
    config.law.torque_rate_limit = positive_or_inf("torque_rate_limit");
    config.max_position_delta = positive_or_inf("max_position_delta");
    config.max_rotation_delta = positive_or_inf("max_rotation_delta");
    config.command_timeout = node->get_parameter("command_timeout").as_double();
    if (!(config.command_timeout > 0.0)) { throw std::invalid_argument("parameter 'command_timeout' must be > 0"); }
    config.reject_stale_stamps = node->get_parameter("reject_stale_stamps").as_bool();
    use_command_scale_ = node->get_parameter("use_command_scale").as_bool();
    parameter_scale_ = vec6(node->get_parameter("action_scale").as_double_array(), "action_scale");
    base_frame_ = node->get_parameter("base_frame").as_string();
    const double rate = node->get_parameter("state_publish_rate").as_double();
    state_period_s_ = rate > 0.0 ? 1.0 / rate : kInf;
    core_ = std::make_unique<OscControllerCore>(params, config);
    RCLCPP_INFO(logger, "kinematics from %s; TCP offset (%.4f, %.4f, %.4f) m", calibration.c_str(),
                tcp.xyz(0), tcp.xyz(1), tcp.xyz(2));
  } catch (const std::exception & e) {
    RCLCPP_ERROR(logger, "configuration failed: %s", e.what());
    return controller_interface::CallbackReturn::ERROR;
  }

  command_sub_ = node->create_subscription<PoseDelta>(
    "~/command", rclcpp::SystemDefaultsQoS(), [this](const std::shared_ptr<PoseDelta> msg) {
      // The frame check needs a string compare: done here, off the real-time thread.
      if (!msg->header.frame_id.empty() && msg->header.frame_id != base_frame_) {
        wrong_frame_commands_.fetch_add(1);
        return;
      }
      Command cmd;
      for (int i = 0; i < 6; ++i) {
        cmd.action(i) = msg->action[i];
        cmd.scale(i) = use_command_scale_ ? msg->scale[i] : parameter_scale_(i);
      }
      cmd.stamp_s = rclcpp::Time(msg->header.stamp).seconds();
      cmd.sequence = received_sequence_.fetch_add(1) + 1;
      command_buffer_.writeFromNonRT(cmd);
    });

  state_pub_ = node->create_publisher<StateMsg>("~/state", rclcpp::SystemDefaultsQoS());
  rt_state_pub_ = std::make_unique<realtime_tools::RealtimePublisher<StateMsg>>(state_pub_);
  rt_state_pub_->lock();
  rt_state_pub_->msg_.header.frame_id = base_frame_;
  rt_state_pub_->msg_.joint_names = joints_;
  rt_state_pub_->msg_.torque.assign(6, 0.0);
  rt_state_pub_->unlock();
  return controller_interface::CallbackReturn::SUCCESS;
}

bool OscTorqueController::read_state(Vec6 & q, Vec6 & qd)
{
  for (int i = 0; i < 6; ++i) {
    // A value that could not be read this tick (interface busy) keeps the previous one.
    (void)read_interface(state_interfaces_[position_index_[i]], last_q_(i), 0);
    (void)read_interface(state_interfaces_[velocity_index_[i]], last_qd_(i), 0);
  }
  q = last_q_;
  qd = last_qd_;
  return q.allFinite() && qd.allFinite();
}

void OscTorqueController::write_torque(const Vec6 & tau)
{
  for (int i = 0; i < 6; ++i) { (void)command_interfaces_[i].set_value(tau(i)); }
}

controller_interface::CallbackReturn OscTorqueController::on_activate(const rclcpp_lifecycle::State &)
{
  position_index_.assign(6, 0);
  velocity_index_.assign(6, 0);
  for (int j = 0; j < 6; ++j) {
    bool found_p = false, found_v = false;
    for (std::size_t k = 0; k < state_interfaces_.size(); ++k) {
      const auto & s = state_interfaces_[k];
      if (s.get_prefix_name() == joints_[j] && s.get_interface_name() == "position") { position_index_[j] = k; found_p = true; }
      if (s.get_prefix_name() == joints_[j] && s.get_interface_name() == "velocity") { velocity_index_[j] = k; found_v = true; }
    }
    if (!found_p || !found_v) {
      RCLCPP_ERROR(get_node()->get_logger(), "joint '%s' lacks a position or velocity state interface", joints_[j].c_str());
      return controller_interface::CallbackReturn::ERROR;
    }
  }
  last_q_.setConstant(kNaN);
  last_qd_.setConstant(kNaN);
  Vec6 q, qd;
  read_state(q, qd);
  core_->reset(q);
  applied_sequence_ = received_sequence_.load();  // commands sent before activation are dropped
  write_torque(Vec6::Zero());
  return controller_interface::CallbackReturn::SUCCESS;
}

controller_interface::CallbackReturn OscTorqueController::on_deactivate(const rclcpp_lifecycle::State &)
{
  write_torque(Vec6::Zero());  // UR torque mode still compensates gravity
  return controller_interface::CallbackReturn::SUCCESS;
}

controller_interface::return_type OscTorqueController::update(const rclcpp::Time & time, const rclcpp::Duration & period)
{
  Vec6 q, qd;
  read_state(q, qd);
  const double now = time.seconds();
  const Command * cmd = command_buffer_.readFromRT();
  if (cmd != nullptr && cmd->sequence != applied_sequence_) {
    applied_sequence_ = cmd->sequence;
    core_->on_command(cmd->action, cmd->scale, q, now, cmd->stamp_s);
  }
  const OscTickOutput & out = core_->update(q, qd, now, period.seconds());
  write_torque(out.torque);
  publish_state(time, out);
  return controller_interface::return_type::OK;
}

void OscTorqueController::publish_state(const rclcpp::Time & time, const OscTickOutput & out)
{
  const double now = time.seconds();
  if (now - last_state_publish_s_ < state_period_s_ || !rt_state_pub_->trylock()) { return; }
  last_state_publish_s_ = now;
  auto & msg = rt_state_pub_->msg_;
  msg.header.stamp = time;
  fill_pose(msg.current, out.current);
  fill_pose(msg.target, out.target);
  for (int i = 0; i < 6; ++i) {
    msg.error[i] = out.error(i);
    msg.torque[i] = out.torque(i);
  }
  msg.holding = out.holding;
  // The message has one rejection counter: bad commands (NaN/Inf, stale, wrong frame) and ticks
  // whose joint state was NaN/Inf are both reported in it.
  msg.rejected_commands = core_->rejected_commands() + wrong_frame_commands_.load();
  msg.rejected_states = core_->nonfinite_states();
  msg.timeouts = core_->timeouts();
  msg.torque_clipped_samples = core_->torque_clipped_samples();
  msg.command_age = core_->command_age(now);
  rt_state_pub_->unlockAndPublish();
}
}  // namespace omnireset_control

PLUGINLIB_EXPORT_CLASS(omnireset_control::OscTorqueController, controller_interface::ControllerInterface)
