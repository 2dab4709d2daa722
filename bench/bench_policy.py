#!/usr/bin/env python3
"""Policy-node benchmark: tick jitter, inference time and input-stamp-to-command latency.

Runs the real policy_node in its own process over real DDS (loopback, a private domain id), fed by
a fake robot in this process (joint states 100 Hz, object poses 30 Hz, three 224x224 rgb8 cameras
at 30 Hz), and reads its PolicyStatus / PoseDelta. Each configuration is printed next to its
baseline measured in the same run:

  state policy (scripted)      node  vs  the same runner stepped in-process (no ROS)
  rgb ResNet-18, 3 cams x 5    node with the feature cache  vs  node re-encoding all 15 frames

    source env.sh && python bench/bench_policy.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randrange(101, 200)))

from omnireset_control.kinematics import BatchedKinematics, load_kinematics  # noqa: E402
from omnireset_msgs.msg import PolicyStatus, PoseDelta  # noqa: E402
from omnireset_policy.export_scripted import export_scripted  # noqa: E402
from omnireset_policy.exported_policy import load_exported_policy  # noqa: E402
from omnireset_policy.policy_node import camera_topic  # noqa: E402
from omnireset_policy.policy_runner import make_runner  # noqa: E402
from omnireset_policy.ros_testing import Q_HOME, FakeRobot, NodeProcess, RosHarness, wait_for  # noqa: E402
from omnireset_policy.student_network import make_random_rgb_policy  # noqa: E402

IMAGE_SIZE = (224, 224)
CAMERAS = ("wrist", "front", "side")


def pct(values, q):
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def core_inference_times(policy_dir, iterations: int, threads: int, use_cache: bool) -> list[float]:
    """Step the runner in-process with fresh inputs every step (camera frames change every tick)."""
    policy = load_exported_policy(policy_dir)
    runner = make_runner(policy, BatchedKinematics(load_kinematics(policy.metadata["robot"])), threads, use_cache)
    rng = np.random.default_rng(0)
    times = []
    for k in range(iterations + 3):
        if policy.kind == "state":
            result = runner.step(Q_HOME, ([0.45, 0.1, 0.02], [1, 0, 0, 0]), ([0.35, -0.15, 0.0], [1, 0, 0, 0]))
        else:
            images = {c: (k, rng.integers(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8)) for c in CAMERAS}
            result = runner.step(Q_HOME, images)
        assert result.action is not None, result.error
        if k >= 3:  # warm-up (TorchScript profiling runs)
            times.append(result.inference_time)
    return times


def node_run(harness: RosHarness, policy_dir, params: dict, duration: float, log_dir: Path) -> dict:
    statuses = harness.collect(PolicyStatus, "/omnireset/policy/status")
    commands = harness.collect(PoseDelta, "/omnireset/policy/command")
    node = NodeProcess("omnireset_policy.policy_node", {"policy_path": policy_dir, **params}, dict(os.environ),
                       log_dir)
    try:
        wait_for(lambda: len(commands) >= 5, 60.0, what=f"commands; log:\n{node.log()}")
        time.sleep(1.0)  # settle
        t0 = time.monotonic()
        time.sleep(duration)
        with harness.lock:
            window = [m for t, m in statuses if t >= t0]
            received = [(t, m) for t, m in commands if t >= t0]
    finally:
        node.stop()
        harness.stop_collecting(statuses)
        harness.stop_collecting(commands)
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in window])
    jitter = np.abs(np.diff(stamps) - 0.1) * 1e3
    commanded = [m for m in window if m.commanded]
    return {
        "ticks": len(window),
        "rate_hz": (len(window) - 1) / (stamps[-1] - stamps[0]) if len(window) > 1 else float("nan"),
        "commanded": len(commanded) / max(1, len(window)),
        "jitter_p50_ms": pct(jitter, 50), "jitter_p99_ms": pct(jitter, 99),
        "inference_p50_ms": pct([m.inference_time * 1e3 for m in commanded], 50),
        "inference_p99_ms": pct([m.inference_time * 1e3 for m in commanded], 99),
        "tick_p50_ms": pct([m.tick_time * 1e3 for m in window], 50),
        "latency_p50_ms": pct([m.input_to_command_latency * 1e3 for m in commanded], 50),
        "latency_p99_ms": pct([m.input_to_command_latency * 1e3 for m in commanded], 99),
        "commands": len(received),
    }


def show_node(name: str, r: dict) -> None:
    print(f"  {name:<34} rate {r['rate_hz']:5.2f} Hz  commanded {r['commanded'] * 100:5.1f} %  "
          f"jitter p50/p99 {r['jitter_p50_ms']:6.2f}/{r['jitter_p99_ms']:7.2f} ms  "
          f"inference p50/p99 {r['inference_p50_ms']:7.2f}/{r['inference_p99_ms']:7.2f} ms  "
          f"stamp->command p50/p99 {r['latency_p50_ms']:7.2f}/{r['latency_p99_ms']:7.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (CI smoke): 3 s per node run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the policy (default 1)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per node run (default 10, quick 3)")
    args = parser.parse_args()
    duration = args.duration or (3.0 if args.quick else 10.0)
    iterations = 10 if args.quick else 50
    work = Path(tempfile.mkdtemp(prefix="bench_policy."))
    try:
        state_dir = export_scripted(work / "scripted")
        rgb_dir = make_random_rgb_policy(work / "resnet18", encoder="resnet18", image_size=IMAGE_SIZE)
        print(f"bench_policy: {os.cpu_count()} CPUs, torch threads {args.threads}, {duration:g} s per node run, "
              f"ROS_DOMAIN_ID {os.environ['ROS_DOMAIN_ID']}")

        print("\nin-process runner (no ROS), inference per step:")
        core = {}
        for name, path, cache in (("state", state_dir, True), ("rgb resnet18 cache", rgb_dir, True),
                                  ("rgb resnet18 no cache (baseline)", rgb_dir, False)):
            times = core_inference_times(path, iterations if "rgb" in name else 200, args.threads, cache)
            core[name] = statistics.median(times) * 1e3
            print(f"  {name:<34} p50 {core[name]:8.2f} ms  p99 {pct(times, 99) * 1e3:8.2f} ms")
        print(f"  feature cache speed-up (in-process): {core['rgb resnet18 no cache (baseline)'] / core['rgb resnet18 cache']:.2f}x")

        harness = RosHarness("bench_fake_robot")
        try:
            print("\nstate policy node (inputs: joint states 100 Hz, 2 object poses 30 Hz):")
            robot = FakeRobot(harness)
            state = node_run(harness, state_dir, {"torch_threads": args.threads}, duration, work / "logs")
            show_node("node", state)
            print(f"  node inference vs in-process baseline: {state['inference_p50_ms'] / core['state']:.2f}x")
            for timer in robot.timers:
                harness.node.destroy_timer(timer)

            topics = [camera_topic("camera", c) for c in CAMERAS]
            print(f"\nrgb policy node, ResNet-18 encoder, 3 cameras x 5 frames, {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} "
                  "rgb8 at 30 Hz:")
            FakeRobot(harness, camera_topics=topics, image_size=IMAGE_SIZE)
            cached = node_run(harness, rgb_dir, {"torch_threads": args.threads, "use_feature_cache": True},
                              duration, work / "logs")
            show_node("feature cache", cached)
            baseline = node_run(harness, rgb_dir, {"torch_threads": args.threads, "use_feature_cache": False},
                                duration, work / "logs")
            show_node("re-encode all 15 frames (baseline)", baseline)
            print(f"  inference p50 baseline / cache: {baseline['inference_p50_ms'] / cached['inference_p50_ms']:.2f}x; "
                  f"latency p50 baseline / cache: {baseline['latency_p50_ms'] / cached['latency_p50_ms']:.2f}x")
        finally:
            harness.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
