# OmniReset ROS 2 — the two commands a user needs are `make demo` and `make test`.
.PHONY: setup build test demo bench clean help isaaclab-setup isaaclab-test

help:
	@echo "make setup   venv (pinned), ROS 2 core wheels + fix-ups, colcon build (idempotent)"
	@echo "make demo    the main job: sim graph on MuJoCo (CPU) with the shipped policy"
	@echo "make test    build + C++ tests + pytest over all packages and tests/"
	@echo "make bench   all benchmarks in bench/ (quick sizes)"
	@echo "make isaaclab-setup   the Isaac Lab 3 backend's own venv (.venv-isaaclab; GPU or CPU route)"
	@echo "make isaaclab-test    the Isaac Lab backend's suite in .venv-isaaclab (kit-less; CI runs it)"

setup:
	bash scripts/setup.sh

build:
	bash scripts/build.sh

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

bench:
	bash scripts/bench.sh

isaaclab-setup:
	bash scripts/isaaclab_setup.sh

# The backend's tests run inside its own venv (Isaac Lab pins mujoco 3.12; .venv has 4.0).
# test_isaaclab_cli.py runs in `make test` (main venv): it checks the refusal lines there.
isaaclab-test:
	@test -x .venv-isaaclab/bin/python || { echo "no .venv-isaaclab: run make isaaclab-setup first" >&2; exit 2; }
	.venv-isaaclab/bin/python -m pytest src/omnireset_sim/test/test_isaaclab_backend.py src/omnireset_sim/test/test_isaaclab_thread.py src/omnireset_sim/test/test_isaaclab_physx_glue.py -q

clean:
	rm -rf build install log
