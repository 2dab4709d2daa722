#!/usr/bin/env bash
# run_plugin_check.sh — run omnireset_control/OscTorqueController in a real ros2_control
# controller manager on mock hardware and check it (check_plugin.py: PASS/FAIL lines, numbers).
#
# Not CI: CI has no rclcpp/ros2_control. Needs a ROS 2 Jazzy install that holds controller_manager
# and this project's omnireset_control plugin + omnireset_msgs, e.g. a robot PC's /opt/ros/jazzy
# with the project's workspace on top, or a local source build of rclcpp + ros2_control
# (README "What is verified where"; the local recipe is in the notes, outside this repository).
#
#   run_plugin_check.sh --setup PATH/setup.bash [--domain ID] [--robot ur7e] [--preload-libpython]
#     --setup              the setup.bash to source (the workspace that has omnireset_control)
#     --domain             ROS_DOMAIN_ID (default 61); discovery stays on localhost
#     --robot              arm kinematics of the controller (ur3e ur5e ur7e ur10e)
#     --preload-libpython  LD_PRELOAD libpython3 (PyPI-wheel underlays: their librcl*.so need it)
#
# What runs: ros2_control_node (update_rate 500 Hz) with mock_components/GenericSystem for the six
# UR joints (effort command; position, velocity, effort state; positions held at Q0), the
# controller's parameters from src/omnireset_control/config/ur_osc_controllers.yaml with
# state_publish_rate raised to 1000 Hz so that every tick is visible on ~/state and command_timeout
# 3 s (see below). Exit status of
# check_plugin.py (0 all passed, 1 a check failed, 2 no controller manager / bad arguments).
set -euo pipefail

SETUP="" DOMAIN=61 ROBOT=ur7e PRELOAD=0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --setup) SETUP="$2"; shift 2 ;;
    --domain) DOMAIN="$2"; shift 2 ;;
    --robot) ROBOT="$2"; shift 2 ;;
    --preload-libpython) PRELOAD=1; shift ;;
    *) echo "run_plugin_check.sh: unknown argument '$1' (see the header)" >&2; exit 2 ;;
  esac
done
[ -f "$SETUP" ] || { echo "run_plugin_check.sh: --setup needs an existing setup.bash, got '$SETUP'" >&2; exit 2; }
case "$ROBOT" in ur3e|ur5e|ur7e|ur10e) ;; *) echo "run_plugin_check.sh: --robot must be ur3e ur5e ur7e ur10e" >&2; exit 2 ;; esac
set +u; . "$SETUP"; set -u  # setup files read unset variables
export ROS_DOMAIN_ID="$DOMAIN" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST PYTHONUNBUFFERED=1
NODE_BIN="$(python3 -c 'from ament_index_python.packages import get_package_prefix as p; print(p("controller_manager"))')/lib/controller_manager/ros2_control_node"
[ -x "$NODE_BIN" ] || { echo "run_plugin_check.sh: no ros2_control_node under $SETUP" >&2; exit 2; }

TMP="$(mktemp -d /tmp/omnireset_plugin_check.XXXXXX)"
NODE_PID=""
cleanup() { [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
# A non-singular arm pose (rad), shoulder_pan .. wrist_3.
Q0="0.3,-1.2,1.5,-1.9,-1.57,0.4"
python3 - "$ROOT/src/omnireset_control/config/ur_osc_controllers.yaml" "$ROBOT" "$Q0" "$TMP" <<'EOF'
import sys, yaml
src, robot, q0, tmp = sys.argv[1], sys.argv[2], [float(x) for x in sys.argv[3].split(",")], sys.argv[4]
doc = yaml.safe_load(open(src))
osc = doc["osc_torque_controller"]["ros__parameters"]
# Every tick on ~/state (the rate check); a command timeout long enough that the four rejection
# cases run under one accepted command while rclpy drains 500 msg/s on a loaded machine.
osc.update(robot=robot, state_publish_rate=1000.0, command_timeout=3.0)
params = {"controller_manager": {"ros__parameters": {
    "update_rate": 500, "osc_torque_controller": {"type": "omnireset_control/OscTorqueController"}}},
    "osc_torque_controller": {"ros__parameters": osc}}
yaml.safe_dump(params, open(f"{tmp}/params.yaml", "w"), sort_keys=False)
joints = osc["joints"]
links = "".join(f'<link name="l{i}"/>' for i in range(7))
jx = "".join(f'<joint name="{j}" type="revolute"><parent link="l{i}"/><child link="l{i+1}"/>'
             f'<axis xyz="0 0 1"/><limit lower="-6.3" upper="6.3" effort="150" velocity="3.1"/></joint>'
             for i, j in enumerate(joints))
hw = "".join(f'<joint name="{j}"><command_interface name="effort"/>'
             f'<state_interface name="position"><param name="initial_value">{q}</param></state_interface>'
             f'<state_interface name="velocity"><param name="initial_value">0.0</param></state_interface>'
             f'<state_interface name="effort"><param name="initial_value">0.0</param></state_interface></joint>'
             for j, q in zip(joints, q0))
urdf = (f'<?xml version="1.0"?><robot name="omnireset_mock_ur">{links}{jx}'
        f'<ros2_control name="mock_ur" type="system"><hardware><plugin>mock_components/GenericSystem</plugin>'
        f'</hardware>{hw}</ros2_control></robot>')
open(f"{tmp}/mock_ur.urdf", "w").write(urdf)
EOF

if [ "$PRELOAD" = 1 ]; then
  LIBPY="$(python3 -c 'import sysconfig, os; print(os.path.join(sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")))')"
  LD_PRELOAD="$LIBPY" "$NODE_BIN" --ros-args --params-file "$TMP/params.yaml" > "$TMP/ros2_control_node.log" 2>&1 &
else
  "$NODE_BIN" --ros-args --params-file "$TMP/params.yaml" > "$TMP/ros2_control_node.log" 2>&1 &
fi
NODE_PID=$!
rc=0
python3 "$ROOT/scripts/ros2_control_check/check_plugin.py" --params "$TMP/params.yaml" --q0 "$Q0" \
  --robot-description "$TMP/mock_ur.urdf" || rc=$?
echo "--- ros2_control_node log (controller lines) ---"
grep -iE "osc_torque|omnireset|error|warn|update rate|kinematics" "$TMP/ros2_control_node.log" | head -40 || true
exit "$rc"
