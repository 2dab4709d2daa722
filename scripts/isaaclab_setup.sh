#!/usr/bin/env bash
# The Isaac Lab 3 backend's own venv, .venv-isaaclab (git-ignored), next to the project's .venv.
# Isaac Lab 3.0.0 pins torch 2.11, warp-lang 1.17 and newton[sim] 1.6.1 (-> mujoco 3.12), which
# clash with the project's mujoco 4.0.0: it can never share .venv. Nothing in the project imports
# Isaac Lab except omnireset_sim.isaaclab, and that only inside this venv.
#
#   scripts/isaaclab_setup.sh                 auto: the GPU route where nvidia-smi answers, else CPU
#   ISAACLAB_ROUTE=cpu|gpu                    force a route
#   ISAACLAB_VENV=/path                       build the venv there instead of .venv-isaaclab
#   ISAACLAB_WITH_ISAACSIM=1                  (gpu route) add Isaac Sim 6.2 for the PhysX path;
#                                             needs NVIDIA's package index in PIP_EXTRA_INDEX_URL
#   ISAACLAB_WHEELHOUSE=/dir                  (cpu route) keep the route's wheels in /dir/<requirements
#                                             hash> and install from there offline on later set-ups
#                                             (pip keeps no HTTP cache on these machines: every
#                                             clean clone downloaded everything again)
#
# Routes:
#   gpu  Isaac Lab's own: Python 3.12, `pip install isaaclab==3.0.0` with all its pins (CUDA
#        torch 2.11.0 from PyPI, CUDA 13 libraries; several GB).
#   cpu  what runs on the 2-core CPU machines (no CUDA): Python 3.11 (the only CPU torch on local
#        disk is cp311 2.13.0), isaaclab installed --no-deps --ignore-requires-python (its code
#        runs on 3.11), the pins from requirements/isaaclab-cpu.txt. ~1.9 GB.
# The project's packages are not installed into the venv: a .pth puts src/omnireset_{sim,control,
# policy} on its path, so the venv always runs the working tree's code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${ISAACLAB_VENV:-$ROOT/.venv-isaaclab}"   # ISAACLAB_VENV: build elsewhere (tests of this script)
STAMP="$VENV/.omnireset-isaaclab-stamp"
ISAACLAB_VERSION=3.0.0          # the one version omnireset_sim.isaaclab supports (see its _version.py)
CONVERTER="mujoco-usd-converter==0.8.0"

say() { printf '\033[1m[isaaclab-setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[isaaclab-setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

route="${ISAACLAB_ROUTE:-auto}"
if [ "$route" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then route=gpu; else route=cpu; fi
fi
case "$route" in
  cpu) WANT_PY=3.11 ;;
  gpu) WANT_PY=3.12 ;;
  *) die "ISAACLAB_ROUTE must be cpu, gpu or auto (got '$route')" ;;
esac

if [ -z "${PYTHON:-}" ]; then
  for cand in "python$WANT_PY" "$HOME/.pyenv/versions/$WANT_PY"*/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import venv' 2>/dev/null; then
      PYTHON="$(command -v "$cand")"; break
    fi
  done
fi
[ -n "${PYTHON:-}" ] || die "the $route route needs Python $WANT_PY (set PYTHON=/path/to/python$WANT_PY)"
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$PYVER" = "$WANT_PY" ] || die "the $route route needs Python $WANT_PY; '$PYTHON' is $PYVER"

want_stamp="$(cat requirements/isaaclab-cpu.txt "$0" | sha256sum | cut -c1-16)-$route-$PYVER-${ISAACLAB_WITH_ISAACSIM:-0}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] && [ -x "$VENV/bin/python" ]; then
  say "$VENV up to date ($route route)"
  exit 0
fi

say "creating $VENV ($route route, Python $PYVER); several minutes and ~2 GB (cpu) or more (gpu)"
t0=$(date +%s)
rm -rf "$VENV"
trap 'rm -rf "$VENV"; die "set-up interrupted; nothing was left half-built"' INT TERM
"$PYTHON" -m venv "$VENV" || die "python -m venv failed"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check --timeout 60 --retries 2)
fail() { rm -rf "$VENV"; die "$1"; }

if [ "$route" = cpu ]; then
  SRC=()
  if [ -n "${ISAACLAB_WHEELHOUSE:-}" ]; then
    # One directory per requirements set: a changed pin fills a new one, never mixes versions.
    WH="$ISAACLAB_WHEELHOUSE/$(cat requirements/isaaclab-cpu.txt | sha256sum | cut -c1-16)-py$PYVER-isaaclab$ISAACLAB_VERSION"
    if [ ! -f "$WH/.complete" ]; then
      say "filling the wheelhouse $WH (downloads once; later set-ups install from it offline)"
      rm -rf "$WH.partial" && mkdir -p "$WH.partial" || fail "cannot create $WH.partial"
      OPTS=(-q --disable-pip-version-check --timeout 60 --retries 2)
      # `pip wheel` also builds any sdist into a wheel, so the offline install needs no build deps.
      "$VENV/bin/python" -m pip wheel "${OPTS[@]}" -w "$WH.partial" -r requirements/isaaclab-cpu.txt \
        || { rm -rf "$WH.partial"; fail "pip wheel -r requirements/isaaclab-cpu.txt failed"; }
      # Both are wheels; pip 23's `wheel` ignores --ignore-requires-python (isaaclab asks for 3.12).
      "$VENV/bin/python" -m pip download "${OPTS[@]}" -d "$WH.partial" --no-deps --ignore-requires-python \
        "isaaclab==$ISAACLAB_VERSION" "$CONVERTER" || { rm -rf "$WH.partial"; fail "pip download isaaclab==$ISAACLAB_VERSION failed"; }
      touch "$WH.partial/.complete" && rm -rf "$WH" && mv "$WH.partial" "$WH" || fail "cannot finish $WH"
    else
      say "installing from the wheelhouse $WH (offline)"
    fi
    SRC=(--no-index --find-links "$WH")
  fi
  "${PIP[@]}" "${SRC[@]}" -r requirements/isaaclab-cpu.txt || fail "pip install -r requirements/isaaclab-cpu.txt failed"
  "${PIP[@]}" "${SRC[@]}" --no-deps --ignore-requires-python "isaaclab==$ISAACLAB_VERSION" "$CONVERTER" \
    || fail "pip install isaaclab==$ISAACLAB_VERSION failed"
else
  # Isaac Lab's own pins (torch 2.11.0 CUDA etc.) decide; the project's extras come on top.
  "${PIP[@]}" "isaaclab==$ISAACLAB_VERSION" usd-exchange==3.0.1 newton-usd-schemas==0.6.0 \
    numpy-stl "tinyobjloader>=2.0.0rc13" rsl-rl-lib==5.5.1 tensordict==0.15.3 tqdm pillow matplotlib \
    pytest==8.4.2 pytest-timeout==2.4.0 || fail "pip install isaaclab==$ISAACLAB_VERSION failed"
  "${PIP[@]}" --no-deps "$CONVERTER" || fail "pip install $CONVERTER failed"
  if [ "${ISAACLAB_WITH_ISAACSIM:-0}" = 1 ]; then
    "${PIP[@]}" "isaacsim[all,extscache]==6.2.0.0" || fail "pip install isaacsim 6.2 failed (is NVIDIA's index in PIP_EXTRA_INDEX_URL?)"
  fi
fi

site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
printf '%s\n' "$ROOT/src/omnireset_sim" "$ROOT/src/omnireset_control" "$ROOT/src/omnireset_policy" \
  > "$site/omnireset_src.pth"

"$VENV/bin/python" - <<'PY' || fail "the new venv does not import Isaac Lab's kit-less stack"
import torch, warp, newton, pxr, mujoco_usd_converter  # noqa: F401
import isaaclab, isaaclab_newton  # noqa: F401
from isaaclab.envs import ManagerBasedRLEnv  # noqa: F401
import omnireset_sim.isaaclab as oi
print("isaaclab", oi.installed_isaaclab_version(), "torch", torch.__version__, "newton", newton.__version__)
PY
echo "$want_stamp" > "$STAMP"
trap - INT TERM
say "done in $(( $(date +%s) - t0 )) s, $(du -sh "$VENV" | cut -f1). Tests: .venv-isaaclab/bin/python -m pytest src/omnireset_sim/test/test_isaaclab_backend.py -q"
