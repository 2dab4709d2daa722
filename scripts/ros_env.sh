# Sourced (not run): puts the project's ROS 2 underlay and venv on the environment.
# Used by env.sh and every project script; safe to source twice.
_omni_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f /opt/ros/jazzy/setup.bash ] && [ "${OMNIRESET_USE_WHEELS:-0}" != 1 ]; then
  # shellcheck disable=SC1091
  . /opt/ros/jazzy/setup.bash
else
  # The PyPI wheels live in the venv, which scripts/fix_ros_wheels.py made a ROS prefix.
  export AMENT_PREFIX_PATH="$_omni_root/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$_omni_root/.venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi
# shellcheck disable=SC1091
. "$_omni_root/.venv/bin/activate"
# DDS traffic stays on this machine unless the user says otherwise (the robot PC sets its own).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export PYTHONUNBUFFERED=1
unset _omni_root
