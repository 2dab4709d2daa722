// ros2_control controller omnireset_control/OscTorqueController: thin glue over
// OscControllerCore. Claims <joint>/effort of the six arm joints (ur_robot_driver's torque
// interfaces, PolyScope >= 5.23), reads <joint>/position and <joint>/velocity, subscribes
// omnireset_msgs/PoseDelta on ~/command and publishes omnireset_msgs/OscControllerState on
// ~/state at state_publish_rate. Written against the ros2_control Jazzy API.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controller_interface/controller_interface.hpp"
#include "omnireset_control/controller_core.hpp"
#include "omnireset_msgs/msg/osc_controller_state.hpp"
#include "omnireset_msgs/msg/pose_delta.hpp"
#include "rclcpp/rclcpp.hpp"
#include "rclcpp_lifecycle/state.hpp"
#include "realtime_tools/realtime_buffer.hpp"
#include "realtime_tools/realtime_publisher.hpp"

namespace omnireset_control
{
class OscTorqueController : public controller_interface::ControllerInterface
{
public:
  OscTorqueController() = default;

  controller_interface::CallbackReturn on_init() override;
  controller_interface::InterfaceConfiguration command_interface_configuration() const override;
  controller_interface::InterfaceConfiguration state_interface_configuration() const override;
  controller_interface::CallbackReturn on_configure(const rclcpp_lifecycle::State & previous_state) override;
  controller_interface::CallbackReturn on_activate(const rclcpp_lifecycle::State & previous_state) override;
  controller_interface::CallbackReturn on_deactivate(const rclcpp_lifecycle::State & previous_state) override;
  controller_interface::return_type update(const rclcpp::Time & time, const rclcpp::Duration & period) override;

private:
  using PoseDelta = omnireset_msgs::msg::PoseDelta;
  using StateMsg = omnireset_msgs::msg::OscControllerState;

  struct Command
  {
    Vec6 action = Vec6::Zero();
    Vec6 scale = Vec6::Zero();
    double stamp_s = 0.0;
    std::uint64_t sequence = 0;
  };

  bool read_state(Vec6 & q, Vec6 & qd);
  void write_torque(const Vec6 & tau);
  void publish_state(const rclcpp::Time & time, const OscTickOutput & out);

  std::vector<std::string> joints_;
  std::string base_frame_;
  bool use_command_scale_ = true;
  Vec6 parameter_scale_ = Vec6::Zero();
  std::unique_ptr<OscControllerCore> core_;

  // Index of <joint>/position and <joint>/velocity in state_interfaces_, resolved on activation.
  std::vector<std::size_t> position_index_, velocity_index_;
  Vec6 last_q_ = Vec6::Zero(), last_qd_ = Vec6::Zero();

  rclcpp::Subscription<PoseDelta>::SharedPtr command_sub_;
  realtime_tools::RealtimeBuffer<Command> command_buffer_;
  std::atomic<std::uint64_t> received_sequence_{0};
  std::atomic<std::uint64_t> wrong_frame_commands_{0};
  std::uint64_t applied_sequence_ = 0;

  std::shared_ptr<rclcpp::Publisher<StateMsg>> state_pub_;
  std::unique_ptr<realtime_tools::RealtimePublisher<StateMsg>> rt_state_pub_;
  double state_period_s_ = 0.02;
  double last_state_publish_s_ = -1e300;
};
}  // namespace omnireset_control
