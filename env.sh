# source env.sh  — the one file to source after `make setup`: venv, ROS 2 underlay, workspace.
_omni_here="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
if [ ! -f "$_omni_here/install/setup.bash" ]; then
  echo "omnireset: not built yet; run 'make setup' in $_omni_here" >&2
else
  # shellcheck disable=SC1091
  . "$_omni_here/scripts/ros_env.sh"
  # shellcheck disable=SC1091
  . "$_omni_here/install/setup.bash"
fi
unset _omni_here
