# OmniReset ROS 2 — the two commands a user needs are `make demo` and `make test`.
.PHONY: setup build test demo bench clean help isaaclab-setup

help:
	@echo "make setup   venv (pinned), ROS 2 core wheels + fix-ups, colcon build (idempotent)"
	@echo "make demo    the main job: sim graph on MuJoCo (CPU) with the shipped policy"
	@echo "make test    build + C++ tests + pytest over all packages and tests/"
	@echo "make bench   all benchmarks in bench/ (quick sizes)"
	@echo "make isaaclab-setup   the Isaac Lab 3 backend's own venv (.venv-isaaclab; GPU or CPU route)"

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

clean:
	rm -rf build install log
