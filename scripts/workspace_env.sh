# Sourced by the project's scripts after set-up: the built workspace (env.sh), DDS kept on this
# machine, headless MuJoCo rendering. Works under `set -u` callers.
set +u
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
set -u
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export MUJOCO_GL="${MUJOCO_GL:-egl}"
