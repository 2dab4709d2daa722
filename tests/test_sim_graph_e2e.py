"""End to end over real DDS: sim node (MuJoCo) -> policy node -> supervisor -> sim node.

The graph is the one the README's demo runs (omnireset_bringup.graph.sim_graph), started by the
plain-Python runner as separate processes. Rates are measured on message stamps (sim time), so a
loaded machine that runs the sim below real time does not fail them.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("omnireset_bringup.graph", reason="workspace not built: run make setup")

from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from omnireset_bringup import graph  # noqa: E402
from omnireset_bringup.runner import GraphRunner  # noqa: E402
from omnireset_msgs.msg import OscControllerState, PolicyStatus, PoseDelta, SupervisorStatus  # noqa: E402
from omnireset_msgs.srv import SetPaused  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_srvs.srv import SetBool  # noqa: E402

ARM = 6


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


class Probe:
    """An in-process rclpy node (sim time) that keeps the newest / all messages of some topics."""

    def __init__(self, name: str, context=None):
        from rclpy.executors import SingleThreadedExecutor

        self.context = context or rclpy.get_default_context()
        self.node = Node(name, context=self.context, parameter_overrides=[Parameter("use_sim_time", value=True)])
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.msgs: dict[str, list] = {}
        self._stop = False
        self.thread = threading.Thread(target=self._spin, daemon=True)

    def listen(self, msg_type, topic: str, keep: int = 100000):
        self.msgs[topic] = []

        def cb(msg):
            with self.lock:
                lst = self.msgs[topic]
                lst.append(msg)
                if len(lst) > keep:
                    del lst[: len(lst) - keep]

        self.node.create_subscription(msg_type, topic, cb, 50)

    def get(self, topic: str) -> list:
        with self.lock:
            return list(self.msgs[topic])

    def clear(self, topic: str) -> None:
        with self.lock:
            self.msgs[topic].clear()

    def _spin(self):
        while not self._stop and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def start(self):
        self.thread.start()
        return self

    def call(self, srv_type, name: str, request, timeout: float = 20.0):
        client = self.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available"
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert future.done(), f"{name} timed out"
        return future.result()

    def close(self):
        self._stop = True
        self.thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def sim_seconds(probe: Probe) -> float:
    return probe.node.get_clock().now().nanoseconds * 1e-9


def wait_sim(probe: Probe, seconds: float, timeout: float = 120.0):
    start = sim_seconds(probe)
    wait_until(lambda: sim_seconds(probe) - start >= seconds, timeout, f"{seconds} s of sim time")


def fresh_domain_id() -> str:
    # Module-scoped graphs cannot use the function-scoped ros_env fixture; pick an id the same way.
    import random

    return str(random.Random(os.getpid() * 31 + time.monotonic_ns()).randrange(100) + 1)


@contextlib.contextmanager
def graph_domain():
    """A fresh DDS domain for one graph: the env its processes get, also applied to os.environ for
    the in-process probe's rclpy context, and restored afterwards."""
    env = dict(os.environ, ROS_DOMAIN_ID=fresh_domain_id(), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    keys = ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: env[k] for k in keys})
    try:
        yield env
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_graph(tmp_path, env, specs):
    runner = GraphRunner(specs, log_dir=tmp_path / "logs", env=env)
    runner.start()
    return runner


@pytest.fixture(scope="module")
def state_graph(tmp_path_factory):
    """sim + policy (the scripted stand-in: small, steady steps that the tracking and stillness tests
    are sized for; the demo's oracle has its own test) + supervisor; no respawn, so a killed node
    stays dead."""
    specs = [replace(s, respawn=False) for s in graph.sim_graph(seed=3, policy_dir=graph.scripted_policy_dir())]
    tmp = tmp_path_factory.mktemp("state_graph")
    with graph_domain() as env:
        runner = start_graph(tmp, env, specs)
        probe = None
        try:
            rclpy.init()
            probe = Probe("e2e_probe")
            probe.listen(PoseDelta, graph.TOPICS["command"])
            probe.listen(PolicyStatus, graph.TOPICS["policy_status"], keep=200)
            probe.listen(SupervisorStatus, graph.TOPICS["supervisor_status"], keep=400)
            probe.listen(JointState, graph.TOPICS["joint_states"], keep=2000)
            probe.listen(OscControllerState, "/omnireset/controller/state", keep=500)
            probe.start()
            wait_until(lambda: len(probe.get(graph.TOPICS["command"])) >= 5, 90, "the first relayed commands")
            yield runner, probe
        finally:
            if probe is not None:
                probe.close()
            rclpy.try_shutdown()
            runner.stop()
    for name in ("sim", "supervisor"):
        assert runner.exit_codes(name) in ([], [0], [-signal.SIGINT]), runner.log_tail(name)


def test_commands_flow_at_10_hz(state_graph):
    runner, probe = state_graph
    probe.clear(graph.TOPICS["command"])
    wait_sim(probe, 4.0)
    cmds = probe.get(graph.TOPICS["command"])
    stamps = np.array([stamp_s(m) for m in cmds])
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 9.0 <= rate <= 11.0, f"command rate {rate:.2f} Hz over {len(stamps)} commands"
    assert all(m.header.frame_id == "base_link" for m in cmds)
    status = probe.get(graph.TOPICS["policy_status"])[-1]
    assert status.enabled and status.commanded and status.last_error == ""
    assert status.history_fill == status.history_length == 5


def test_arm_moves_where_the_policy_sends_it(state_graph):
    _, probe = state_graph
    topic = "/omnireset/controller/state"
    probe.clear(topic)
    wait_sim(probe, 3.0)
    states = probe.get(topic)
    assert len(states) > 50
    # The controller tracks the composed targets: over the window the TCP moved, and the tracking
    # error stayed a fraction of the distance travelled (the law is doing what the policy asks).
    cur = np.array([[s.current.position.x, s.current.position.y, s.current.position.z] for s in states])
    tgt = np.array([[s.target.position.x, s.target.position.y, s.target.position.z] for s in states])
    travelled = np.linalg.norm(np.diff(cur, axis=0), axis=1).sum()
    assert travelled > 0.01, f"TCP moved only {travelled * 1000:.1f} mm in 3 s"
    err = np.linalg.norm(cur - tgt, axis=1)
    assert np.median(err) < 0.03, f"median tracking error {np.median(err) * 1000:.1f} mm"
    assert not any(s.holding for s in states[len(states) // 2:])


def test_blocked_arm_triggers_gripper_open_override(state_graph):
    _, probe = state_graph
    sup_topic = graph.TOPICS["supervisor_status"]
    assert probe.call(SetBool, "/sim/pin_arm", SetBool.Request(data=True)).success
    try:
        pinned_at = sim_seconds(probe)
        first = wait_until(lambda: next((m for m in probe.get(sup_topic)
                                         if m.override_active and stamp_s(m) > pinned_at), None), 90,
                           "the stuck override")
        # A.4: the override fires once every arm joint has stayed within 0.002 rad for 2 s. Find
        # when that stillness began from /joint_states (the arm may have been slow before the pin).
        t_override = stamp_s(first)
        js = [(stamp_s(m), np.array(m.position[:ARM])) for m in probe.get(graph.TOPICS["joint_states"])
              if stamp_s(m) <= t_override]
        qs = np.array([q for _, q in js])
        still_since = t_override
        for i in range(len(js) - 1, -1, -1):
            window = qs[i:]
            if (window.max(axis=0) - window.min(axis=0)).max() >= 0.002:
                break
            still_since = js[i][0]
        # The supervisor restarts its window after an earlier override (or a hold): count from there.
        restarted = [stamp_s(m) for m in probe.get(sup_topic)
                     if stamp_s(m) < t_override and m.state != SupervisorStatus.STATE_RUNNING]
        window_start = max([still_since, *restarted])
        delay = t_override - window_start
        assert still_since <= pinned_at + 0.1, "the arm was still by the time it was pinned"
        assert 1.9 <= delay <= 2.5, f"override after {delay:.2f} s of a still arm"
        assert first.state == SupervisorStatus.STATE_STUCK_OVERRIDE and first.stuck
        # While the override is on, relayed commands open the gripper whatever the policy says.
        wait_sim(probe, 0.5)
        during = [m for m in probe.get(graph.TOPICS["command"]) if stamp_s(first) + 0.05 < stamp_s(m) < stamp_s(first) + 0.9]
        assert during and all(m.gripper == PoseDelta.GRIPPER_OPEN for m in during)
        end = wait_until(lambda: next((m for m in probe.get(sup_topic)
                                       if stamp_s(m) > stamp_s(first) and not m.override_active), None), 60,
                         "the end of the override")
        assert 0.9 <= stamp_s(end) - stamp_s(first) <= 1.2, "the override lasts 1 s"
        assert end.overrides >= 1
    finally:
        probe.call(SetBool, "/sim/pin_arm", SetBool.Request(data=False))


def test_nan_command_is_rejected_and_the_arm_holds(state_graph):
    _, probe = state_graph
    ctl_topic = "/omnireset/controller/state"
    assert probe.call(SetPaused, "/omnireset/supervisor/set_paused", SetPaused.Request(paused=True)).success
    try:
        wait_sim(probe, 1.0)  # the controller times out on the missing commands and holds
        before = probe.get(ctl_topic)[-1]
        assert before.holding
        pub = probe.node.create_publisher(PoseDelta, graph.TOPICS["command"], 10)
        bad = PoseDelta(gripper=PoseDelta.GRIPPER_OPEN, step_id=999999)
        bad.header.frame_id = "base_link"
        bad.header.stamp = probe.node.get_clock().now().to_msg()
        bad.action = [math.nan, 0.0, 0.0, 0.0, 0.0, 0.0]
        bad.scale = [0.02] * 5 + [0.2]
        js0 = np.array(probe.get(graph.TOPICS["joint_states"])[-1].position[:ARM])
        for _ in range(3):
            pub.publish(bad)
            time.sleep(0.1)
        wait_until(lambda: probe.get(ctl_topic)[-1].rejected_commands >= before.rejected_commands + 1, 30,
                   "the NaN command to be counted as rejected")
        wait_sim(probe, 1.0)
        after = probe.get(ctl_topic)[-1]
        assert after.holding and all(math.isfinite(v) for v in after.torque)
        js1 = np.array(probe.get(graph.TOPICS["joint_states"])[-1].position[:ARM])
        assert np.abs(js1 - js0).max() < 0.01, "the arm holds its pose"
        probe.node.destroy_publisher(pub)
    finally:
        probe.call(SetPaused, "/omnireset/supervisor/set_paused", SetPaused.Request(paused=False))


def test_killed_policy_node_leaves_the_arm_holding(state_graph):
    runner, probe = state_graph
    os.killpg(runner.pid("policy"), signal.SIGKILL)
    killed_wall = time.monotonic()
    sup = wait_until(lambda: next((m for m in reversed(probe.get(graph.TOPICS["supervisor_status"]))
                                   if m.state == SupervisorStatus.STATE_WATCHDOG_HOLD), None), 30,
                     "the supervisor's watchdog hold")
    assert time.monotonic() - killed_wall < 30
    assert sup.command_age > 0.4
    wait_sim(probe, 1.5)
    ctl = probe.get("/omnireset/controller/state")[-1]
    assert ctl.holding, "the controller holds once commands stop"
    qd = np.array(probe.get(graph.TOPICS["joint_states"])[-1].velocity[:ARM])
    assert np.abs(qd).max() < 0.05, f"arm still moving: {qd}"
    assert "policy" in runner.poll()


@pytest.mark.parametrize("muted", ["wrist"])
def test_stopped_camera_stops_commanding_and_is_named(tmp_path, muted):
    """An image policy on the sim's rendered cameras; one camera goes silent -> no commands."""
    from omnireset_policy.student_network import make_random_rgb_policy

    policy_dir = tmp_path / "rgb_policy"
    # trained at the scene cameras' field of view (cameras.yaml): the policy node checks it against
    # the sim's CameraInfo, so the commands below also prove the sim publishes matching intrinsics
    make_random_rgb_policy(policy_dir, encoder="tiny", image_size=(96, 96),
                           fovy_deg={"front": 50.0, "side": 50.0, "wrist": 75.0})
    with graph_domain() as env:
        specs = [replace(s, respawn=False) for s in graph.sim_graph(policy_dir=str(policy_dir), cameras=True)]
        specs[0].parameters.update({"image_width": 96, "image_height": 96, "camera_rate_hz": 10.0})
        runner = start_graph(tmp_path, env, specs)
        context = rclpy.Context()
        probe = None
        try:
            rclpy.init(context=context)  # its own DDS domain, beside the module graph's context
            probe = Probe("e2e_camera_probe", context=context)
            probe.listen(PoseDelta, graph.TOPICS["command"])
            probe.listen(PolicyStatus, graph.TOPICS["policy_status"], keep=300)
            probe.start()
            wait_until(lambda: len(probe.get(graph.TOPICS["command"])) >= 5, 120, "commands from the image policy")
            from rcl_interfaces.srv import SetParameters

            req = SetParameters.Request(parameters=[Parameter("muted_cameras", value=[muted]).to_parameter_msg()])
            assert probe.call(SetParameters, "/sim/set_parameters", req).results[0].successful
            # Sim time once the mute is in force (the service has answered): a stale status before it
            # can be a transient (a slow render of a camera that is still publishing) and commands
            # legitimately resume after one.
            muted_at = sim_seconds(probe)
            topic = graph.camera_topic(muted)
            status = wait_until(lambda: next((s for s in reversed(probe.get(graph.TOPICS["policy_status"]))
                                              if stamp_s(s) > muted_at and topic in list(s.stale_inputs)), None), 60,
                                f"policy status naming {topic}")
            assert not status.commanded
            t_stale = stamp_s(status)
            wait_sim(probe, 1.0)
            late = [m for m in probe.get(graph.TOPICS["command"]) if stamp_s(m) > t_stale + 0.05]
            assert late == [], f"{len(late)} commands after {topic} went stale"
        finally:
            if probe is not None:
                probe.close()
            rclpy.try_shutdown(context=context)
            runner.stop()
