"""Run the deployment graph without ``ros2 launch`` (the README's main job).

    python -m omnireset_bringup.run_graph --config sim --duration 60

starts the sim node, the policy node (shipped demo policy unless ``--policy``) and the
supervisor from ``graph.sim_graph``; records the graph's topics to an MCAP bag; after
``--duration`` seconds of *sim* time prints the supervisor's counters and writes, in ``--out``:
``recording/`` (rosbag2, MCAP), ``strip.png`` (camera frames over the run), ``summary.yaml``.

Exit status: 0 after a full run; 2 when the graph cannot start -- a policy that does not fit the
sim (task, robot, rate, cameras, image size), an unreadable policy, a missing package -- or a node
exits at start-up with its configuration error (exit 2, not respawned); the last line on stderr is
the reason. 1 for other failures (a node down, the wall-clock limit).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import graph


def _git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _image_to_array(msg):
    import numpy as np

    channels = 3
    row = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
    img = row[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    return img[..., ::-1] if msg.encoding == "bgr8" else img


def save_strip(frames: dict[str, list], path: Path, columns: int = 8) -> bool:
    """Rows = cameras, columns = evenly spaced frames over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cams = [c for c in frames if frames[c]]
    if not cams:
        return False
    fig, axes = plt.subplots(len(cams), columns, figsize=(columns * 1.6, len(cams) * 1.7), squeeze=False)
    for r, cam in enumerate(cams):
        seq = frames[cam]
        for c in range(columns):
            ax = axes[r][c]
            ax.axis("off")
            if seq:
                t, img = seq[min(len(seq) - 1, round(c * (len(seq) - 1) / max(columns - 1, 1)))]
                ax.imshow(img)
                ax.set_title(f"{cam} t={t:.1f}s", fontsize=6)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=["sim"], default="sim",
                        help="which graph (the real graph needs ros2 launch and the drivers: real.launch.py)")
    parser.add_argument("--task", default="peg_insertion")
    parser.add_argument("--variant", default="easy")
    parser.add_argument("--policy", default=None,
                        help="exported policy directory (default: the task's shipped oracle, README \"Oracle\")")
    parser.add_argument("--duration", type=float, default=60.0, help="sim seconds to run")
    parser.add_argument("--timeout", type=float, default=None, help="wall seconds before giving up")
    parser.add_argument("--real-time-factor", type=float, default=1.0)
    parser.add_argument("--no-cameras", action="store_true", help="do not render camera topics")
    parser.add_argument("--camera-rate", type=float, default=2.0,
                        help="camera rate in sim Hz (a state policy only needs them for the strip; an image "
                             "policy needs 10 or more, and CPU rendering then runs below real time)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="output directory (default runs/demo-<time>)")
    args = parser.parse_args(argv)

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState
    from geometry_msgs.msg import PoseStamped
    from omnireset_msgs.msg import EpisodeOutcome, PolicyStatus, PoseDelta, SupervisorStatus

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or f"runs/demo-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    cameras = not args.no_cameras
    nodes = graph.sim_graph(task=args.task, variant=args.variant, policy_dir=args.policy, cameras=cameras,
                            real_time_factor=args.real_time_factor, seed=args.seed)
    if cameras:
        nodes[0].parameters["camera_rate_hz"] = float(args.camera_rate)
    try:
        # The policy must fit the sim before anything starts (the policy node checks it again).
        graph.check_policy_fits(nodes)
        runner_cls = __import__("omnireset_bringup.runner", fromlist=["GraphRunner"]).GraphRunner
        runner = runner_cls(nodes, log_dir=out / "logs")
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        print(f"omnireset: cannot start the graph: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2

    rclpy.init()
    # Ctrl-C sets a flag that the loop reads: a KeyboardInterrupt raised while rclpy is inside
    # take_message surfaces as a RuntimeError from its C code (a traceback, no summary), so the
    # signal must not raise at all.
    interrupted = []
    signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    node = Node("omnireset_demo_observer", parameter_overrides=[Parameter("use_sim_time", value=True)])
    latest: dict[str, object] = {}
    frames: dict[str, list] = {cam: [] for cam in graph.CAMERAS}
    last_frame_t: dict[str, float] = {}
    commands = []

    def on_image(msg, cam):
        t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if t - last_frame_t.get(cam, -1e9) >= max(args.duration / 16.0, 0.5):
            last_frame_t[cam] = t
            frames[cam].append((t, _image_to_array(msg).copy()))

    node.create_subscription(SupervisorStatus, graph.TOPICS["supervisor_status"],
                             lambda m: latest.__setitem__("supervisor", m), 10)
    node.create_subscription(PolicyStatus, graph.TOPICS["policy_status"],
                             lambda m: latest.__setitem__("policy", m), 10)
    node.create_subscription(PoseDelta, graph.TOPICS["command"], lambda m: commands.append(m.step_id), 10)
    if cameras:
        for cam in graph.CAMERAS:
            node.create_subscription(Image, graph.camera_topic(cam), lambda m, c=cam: on_image(m, c),
                                     qos_profile_sensor_data)

    from .recorder import BagRecorder

    topics = {
        graph.TOPICS["joint_states"]: JointState,
        graph.TOPICS["policy_command"]: PoseDelta,
        graph.TOPICS["command"]: PoseDelta,
        graph.TOPICS["policy_status"]: PolicyStatus,
        graph.TOPICS["supervisor_status"]: SupervisorStatus,
        graph.TOPICS["episode_outcome"]: EpisodeOutcome,
        graph.TOPICS["target_pose"]: PoseStamped,
        graph.TOPICS["receptive_pose"]: PoseStamped,
    }
    recorder = BagRecorder(node, out / "recording", topics)
    wall_limit = args.timeout or max(120.0, args.duration * 20.0)
    wall_start = time.monotonic()
    sim_start = None
    rc = 0
    failure = None  # one line: why the graph stopped early
    print(f"[demo] graph: {', '.join(n.name for n in nodes)}; running {args.duration:.0f} s of sim time "
          f"(task {args.task}/{args.variant}); output {out}")
    runner.start()
    try:
        from tqdm import tqdm

        bar = tqdm(total=round(args.duration), unit="sim s", dynamic_ncols=True, mininterval=1.0)
        while True:
            rclpy.spin_once(node, timeout_sec=0.1)
            if interrupted:
                raise KeyboardInterrupt
            down = runner.poll()
            if down:
                for name in down:
                    if runner.refused(name):  # a start-up error: final, and the graph's reason
                        failure = graph.refused_message(name, runner.reason(name))
                        rc = graph.STARTUP_ERROR_EXIT
                    else:
                        print(f"[demo] node {name} exited: {runner.exit_codes(name)}\n{runner.log_tail(name)}",
                              file=sys.stderr)
                        failure = failure or f"node {name!r} exited ({runner.exit_codes(name)}): {runner.reason(name)}"
                        rc = max(rc, 1)
                break
            now = node.get_clock().now().nanoseconds * 1e-9
            if now > 0 and sim_start is None:
                sim_start = now
            if sim_start is not None:
                done = min(int(now - sim_start), bar.total)
                if done > bar.n:
                    bar.update(done - bar.n)
                if now - sim_start >= args.duration:
                    break
            if time.monotonic() - wall_start > wall_limit:
                print(f"[demo] wall-clock limit {wall_limit:.0f} s reached", file=sys.stderr)
                rc = 1
                break
        bar.close()
    except KeyboardInterrupt:
        print("[demo] interrupted", file=sys.stderr)
        rc = 130
    finally:
        bag = recorder.close()
        runner.stop()

    sup = latest.get("supervisor")
    pol = latest.get("policy")
    summary = {
        "made_by": "omnireset_bringup.run_graph",
        "git_revision": _git_revision(),
        "created_utc": stamp,
        "task": args.task,
        "variant": args.variant,
        "policy": nodes[1].parameters["policy_path"],
        "sim_seconds": args.duration,
        "wall_seconds": round(time.monotonic() - wall_start, 1),
        "commands_relayed": len(commands),
        "recorded_messages": dict(recorder.counts),
    }
    if failure is not None:
        summary["error"] = failure
    if sup is not None:
        summary["supervisor"] = {
            "attempts": sup.attempts, "successes": sup.successes,
            "first_try_successes": sup.first_try_successes,
            "throughput_per_minute": round(float(sup.throughput_per_minute), 3),
            "overrides": sup.overrides, "state": sup.state_name,
            # Successes out of finished attempts (the sim node's ground truth, counted by the supervisor).
            "success_rate": round(sup.successes / sup.attempts, 3) if sup.attempts else None,
        }
    if pol is not None and not math.isnan(pol.inference_time):
        summary["last_inference_ms"] = round(pol.inference_time * 1e3, 3)
    strip = out / "strip.png"
    if save_strip(frames, strip):
        summary["strip"] = str(strip)
    import yaml

    _write_atomic(out / "summary.yaml", yaml.safe_dump(summary, sort_keys=False))
    print(yaml.safe_dump(summary, sort_keys=False))
    print(f"[demo] recording: {bag}")
    node.destroy_node()
    rclpy.try_shutdown()
    if sup is None and rc == 0:
        print("[demo] no supervisor status was received", file=sys.stderr)
        rc = 1
    if failure is not None:
        print(f"omnireset: error: {failure}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
