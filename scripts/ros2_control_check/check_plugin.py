#!/usr/bin/env python3
"""check_plugin.py — drive omnireset_control/OscTorqueController inside a running ros2_control
controller manager and check it against the Python law, printing one PASS/FAIL line per check.

Not CI (CI has no rclcpp/ros2_control): a local check of the C++ plugin on mock hardware, run by
run_plugin_check.sh, which starts ``ros2_control_node`` with mock_components/GenericSystem and the
parameters of ``--params``. What is checked, all through the controller manager's services and the
controller's topics (rclpy, no mocks but the hardware):

* the plugin is found by pluginlib, loads, configures, activates (STRICT switch) and claims the six
  ``<joint>/effort`` command interfaces, reading ``<joint>/position`` and ``<joint>/velocity``;
* it runs at the manager's update rate (``~/state`` stamps, published every tick here);
* holding at activation gives zero torque; a commanded PoseDelta gives the torque, target and
  error of ``omnireset_control.controller_core`` (the Python twin of the C++ core) for the same
  joint state, to 1e-6 N*m;
* NaN action, Inf scale, wrong frame and stale stamp are rejected and counted, the target kept;
* no command for ``command_timeout`` -> hold (timeouts counted, torque back to zero);
* deactivate, re-activate, deactivate and unload are clean.

Exit status: 0 all passed, 1 a check failed, 2 bad arguments or no controller manager.
With --robot-description the checker publishes that URDF on /robot_description (transient local),
which ros2_control >= 4.2x reads; run_plugin_check.sh writes it.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import yaml


def _die(msg: str) -> None:
    print(f"check_plugin.py: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", required=True, help="the controller manager's parameter YAML")
    ap.add_argument("--controller", default="osc_torque_controller")
    ap.add_argument("--controller-manager", default="/controller_manager")
    ap.add_argument("--q0", default="", help="comma-separated joint positions of the mock hardware")
    ap.add_argument("--robot-description", default="", help="URDF file to publish on /robot_description")
    ap.add_argument("--timeout", type=float, default=30.0, help="s to wait for the controller manager")
    args = ap.parse_args(argv)
    try:
        doc = yaml.safe_load(Path(args.params).read_text())
        args.cm_params = doc["controller_manager"]["ros__parameters"]
        args.ctrl_params = doc[args.controller]["ros__parameters"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        _die(f"--params {args.params}: {exc!r}")
    try:
        args.q0 = [float(x) for x in args.q0.split(",")] if args.q0 else []
    except ValueError:
        _die(f"--q0 must be 6 comma-separated numbers, got {args.q0!r}")
    if len(args.q0) != 6:
        _die(f"--q0 needs 6 values, got {len(args.q0)}")
    return args


class Checks:
    def __init__(self):
        self.results: list[tuple[str, bool, str]] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, bool(ok), detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}{'  -- ' + detail if detail else ''}", flush=True)
        return bool(ok)

    def summary(self) -> int:
        failed = [n for n, ok, _ in self.results if not ok]
        print(f"\n{len(self.results) - len(failed)}/{len(self.results)} checks passed"
              + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
        return 1 if failed else 0


def python_core(ctrl: dict, q0):
    """The Python twin of the C++ core with the controller's parameters (controller_core.py)."""
    import torch  # noqa: F401  (the law is torch)

    from omnireset_control.constants import OscGains
    from omnireset_control.controller_core import OscControllerConfig, OscControllerCore
    from omnireset_control.kinematics import JointOrigin, load_kinematics

    tcp = JointOrigin(tuple(ctrl.get("tcp_offset_xyz", (0.0, 0.0, 0.174))), tuple(ctrl.get("tcp_offset_rpy", (0.0, 0.0, 0.0))))
    params = load_kinematics(ctrl.get("robot", "ur7e"), ctrl.get("calibration_file") or None, tcp_offset=tcp)

    def pos_or_inf(key):
        v = float(ctrl.get(key, 0.0))
        return v if v > 0.0 else math.inf

    rate_limit = float(ctrl.get("torque_rate_limit", 0.0))
    cfg = OscControllerConfig(
        gains=OscGains(kp=tuple(ctrl["kp"]), zeta=tuple(ctrl["zeta"])),
        pos_clip=float(ctrl["pos_clip"]), rot_clip=float(ctrl["rot_clip"]),
        torque_limit=tuple(ctrl["torque_limit"]), torque_rate_limit=rate_limit if rate_limit > 0 else None,
        command_timeout=float(ctrl["command_timeout"]), max_position_delta=pos_or_inf("max_position_delta"),
        max_rotation_delta=pos_or_inf("max_rotation_delta"), reject_stale_stamps=bool(ctrl["reject_stale_stamps"]))
    return OscControllerCore(params, cfg, control_dt=1.0 / 500.0)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import rclpy
    from builtin_interfaces.msg import Duration
    from controller_manager_msgs.srv import (ConfigureController, ListControllers, ListControllerTypes,
                                             ListHardwareInterfaces, LoadController, SwitchController,
                                             UnloadController)
    from omnireset_msgs.msg import OscControllerState, PoseDelta
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    ctrl_name, cm = args.controller, args.controller_manager.rstrip("/")
    ctrl = args.ctrl_params
    joints = list(ctrl["joints"])
    update_rate = int(args.cm_params.get("update_rate", 100))
    c = Checks()

    rclpy.init()
    node = rclpy.create_node("omnireset_plugin_check")
    if args.robot_description:
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
        desc_pub = node.create_publisher(String, "/robot_description", qos)
        desc_pub.publish(String(data=Path(args.robot_description).read_text()))

    # (controller time of the tick, msg): selected by the controller's stamp, not by arrival, since
    # at 500 Hz rclpy may drain its queue late on a loaded machine.
    states: list[tuple[float, OscControllerState]] = []
    node.create_subscription(OscControllerState, f"/{ctrl_name}/state",
                             lambda m: states.append((m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, m)), 2000)

    def now_s() -> float:
        return node.get_clock().now().nanoseconds * 1e-9
    cmd_pub = node.create_publisher(PoseDelta, f"/{ctrl_name}/command", 10)

    def spin_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.01)

    def call(srv_type, name, request, timeout=10.0):
        cli = node.create_client(srv_type, f"{cm}/{name}")
        if not cli.wait_for_service(timeout_sec=timeout):
            return None
        fut = cli.call_async(request)
        end = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        node.destroy_client(cli)
        return fut.result() if fut.done() else None

    def controller_state():
        res = call(ListControllers, "list_controllers", ListControllers.Request())
        for s in (res.controller if res else []):
            if s.name == ctrl_name:
                return s
        return None

    def switch(activate: bool):
        req = SwitchController.Request()
        (req.activate_controllers if activate else req.deactivate_controllers).append(ctrl_name)
        req.strictness = SwitchController.Request.STRICT
        req.timeout = Duration(sec=5)
        res = call(SwitchController, "switch_controller", req)
        return bool(res and res.ok)

    def latest_after(t0: float, wait: float = 5.0, settle: float = 0.02):
        """The newest state of a tick later than t0 + settle (controller time, s)."""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.005)
            if states and states[-1][0] > t0 + settle:
                break
        fresh = [m for (t, m) in states if t > t0 + settle]
        return fresh[-1] if fresh else None

    def send(action, scale, frame="base_link", stamp_offset_s=0.0):
        msg = PoseDelta()
        msg.header.frame_id = frame
        now = node.get_clock().now().nanoseconds + int(stamp_offset_s * 1e9)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        msg.action = [float(a) for a in action]
        msg.scale = [float(s) for s in scale]
        cmd_pub.publish(msg)
        return now * 1e-9

    t_start = time.monotonic()
    timeout = float(ctrl["command_timeout"])
    types = call(ListControllerTypes, "list_controller_types", ListControllerTypes.Request(), timeout=args.timeout)
    if types is None:
        print(f"check_plugin.py: no controller manager at {cm} within {args.timeout:g} s", file=sys.stderr)
        return 2
    c.check("controller manager services up", True, f"{time.monotonic() - t_start:.1f} s")
    c.check("pluginlib finds omnireset_control/OscTorqueController",
            "omnireset_control/OscTorqueController" in types.types, f"{len(types.types)} controller types")

    hw = call(ListHardwareInterfaces, "list_hardware_interfaces", ListHardwareInterfaces.Request())
    cmd_names = {i.name for i in (hw.command_interfaces if hw else [])}
    want_cmd = [f"{j}/effort" for j in joints]
    c.check("hardware exports the six <joint>/effort command interfaces", all(n in cmd_names for n in want_cmd),
            f"{sum(n in cmd_names for n in want_cmd)}/6")

    res = call(LoadController, "load_controller", LoadController.Request(name=ctrl_name))
    c.check("load_controller", bool(res and res.ok))
    res = call(ConfigureController, "configure_controller", ConfigureController.Request(name=ctrl_name))
    st = controller_state()
    c.check("configure_controller -> inactive", bool(res and res.ok) and st is not None and st.state == "inactive",
            f"state {st.state if st else None}")
    t_act = now_s()
    c.check("switch_controller activate (STRICT)", switch(True))
    st = controller_state()
    c.check("active, claims exactly the six <joint>/effort", st is not None and st.state == "active"
            and list(st.claimed_interfaces) == want_cmd, f"claimed {list(st.claimed_interfaces) if st else None}")
    want_state = [f"{j}/position" for j in joints] + [f"{j}/velocity" for j in joints]
    c.check("requires <joint>/position and <joint>/velocity", st is not None
            and list(st.required_state_interfaces) == want_state, f"{list(st.required_state_interfaces) if st else None}")
    if st is not None and hasattr(st, "update_rate"):
        c.check(f"controller update_rate = {update_rate} Hz", int(st.update_rate) == update_rate,
                f"{st.update_rate} Hz")

    # Rate: ~/state is published every tick here (state_publish_rate above the update rate).
    spin_for(2.0)
    window = [(t, m) for (t, m) in states if t > t_act + 0.5]
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in window]
    dts = np.diff(stamps) if len(stamps) > 2 else np.array([math.nan])
    med_dt = float(np.median(dts))
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else math.nan
    rate = (len(stamps) - 1) / span if span and span > 0 else math.nan
    c.check(f"runs at {update_rate} Hz (~/state stamps)", abs(med_dt - 1.0 / update_rate) < 0.1 / update_rate
            and rate > 0.9 * update_rate,
            f"median dt {med_dt * 1e3:.3f} ms, {rate:.1f} Hz over {span:.2f} s, p99 dt "
            f"{float(np.percentile(dts, 99)) * 1e3:.3f} ms")

    hold = latest_after(now_s())
    c.check("holds at activation: holding, zero torque, nothing rejected", hold is not None and hold.holding
            and max(abs(x) for x in hold.torque) < 1e-9 and hold.rejected_commands == 0 and hold.timeouts == 0,
            f"max|tau| {max(abs(x) for x in hold.torque) if hold else None:.3g} N*m" if hold else "no state")
    if hold is None:
        return c.summary()

    # A commanded delta, checked against the same law in Python for the same joint state (mock
    # positions stay at q0, velocities 0: effort commands are mirrored into the effort state only).
    # The Python side is evaluated after the rejection cases, which must run within command_timeout.
    core = python_core(ctrl, args.q0)  # imports torch: before the command, not after
    core.reset(args.q0)
    action = [0.6, -0.4, 0.5, 0.3, -0.2, 0.4]
    scale = [0.01, 0.01, 0.002, 0.02, 0.02, 0.2] if ctrl.get("use_command_scale", True) else list(ctrl["action_scale"])
    end = time.monotonic() + 5.0
    while cmd_pub.get_subscription_count() == 0 and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    c.check("~/command subscription matched", cmd_pub.get_subscription_count() > 0)
    t_cmd = time.monotonic()
    stamp = send(action, scale)
    got = latest_after(stamp)
    tau_c = np.array(got.torque) if got else np.full(6, np.nan)
    c.check("command accepted: not holding, nothing rejected", got is not None and not got.holding
            and got.rejected_commands == 0)

    def rejected_case(label, **kw):
        before = latest_after(now_s(), settle=0.0)
        t0 = send(kw.get("action", action), kw.get("scale", scale), kw.get("frame", "base_link"),
                  kw.get("stamp_offset", 0.0))
        if kw.get("stamp_offset"):
            t0 -= kw["stamp_offset"]  # send() returns the (stale) stamp
        after = latest_after(t0)
        ok = (before is not None and after is not None and after.rejected_commands == before.rejected_commands + 1
              and float(np.max(np.abs(np.array(after.torque) - tau_c))) < 1e-9 and not after.holding)
        c.check(f"{label} rejected, counted, target kept", ok,
                f"rejected {before.rejected_commands if before else None} -> {after.rejected_commands if after else None}")

    rejected_case("NaN action", action=[math.nan, 0, 0, 0, 0, 0])
    rejected_case("Inf scale", scale=[math.inf] + scale[1:])
    rejected_case("wrong frame 'world'", frame="world")
    rejected_case(f"stale stamp ({timeout + 1.0:g} s old)", stamp_offset=-(timeout + 1.0))
    print(f"      (rejection cases done {time.monotonic() - t_cmd:.3f} s after the command)", flush=True)

    core.on_command(action, scale, args.q0, stamp, stamp)
    want = core.update(args.q0, [0.0] * 6, stamp + 0.01)
    tau_p = want.torque.numpy()
    d_tau = float(np.max(np.abs(tau_c - tau_p)))
    c.check("torque = Python law (<1e-6 N*m)", d_tau < 1e-6,
            f"C++ {np.array2string(tau_c, precision=4)} Python {np.array2string(tau_p, precision=4)} max diff {d_tau:.2e}")
    tgt_c = np.array([got.target.position.x, got.target.position.y, got.target.position.z]) if got else np.full(3, np.nan)
    d_tgt = float(np.max(np.abs(tgt_c - want.target_pos.numpy())))
    c.check("target position = Python composition (<1e-9 m)", d_tgt < 1e-9, f"max diff {d_tgt:.2e} m")
    d_err = float(np.max(np.abs(np.array(got.error if got else [np.nan] * 6) - want.error.numpy())))
    c.check("pose error = Python law (<1e-9)", d_err < 1e-9, f"max diff {d_err:.2e}")
    c.check("nonzero torque for the delta", float(np.max(np.abs(tau_c))) > 1.0, f"max|tau| {np.max(np.abs(tau_c)):.3f} N*m")

    late = latest_after(stamp + timeout + 0.1, wait=timeout + 5.0)  # the accepted command is now too old
    c.check("no command for command_timeout -> hold", late is not None and late.holding and late.timeouts == 1
            and max(abs(x) for x in late.torque) < 1e-9,
            f"timeouts {late.timeouts if late else None}, max|tau| {max(abs(x) for x in late.torque) if late else 0:.3g}")
    c.check("command_age reported", late is not None and late.command_age > timeout,
            f"{late.command_age if late else math.nan:.3f} s (timeout {timeout} s)")
    c.check("rejected_commands total 4, rejected_states 0", late is not None and late.rejected_commands == 4
            and late.rejected_states == 0, f"{late.rejected_commands if late else None}, {late.rejected_states if late else None}")

    c.check("switch_controller deactivate", switch(False))
    t_off = now_s()
    st = controller_state()
    c.check("inactive after deactivate, no claimed interfaces", st is not None and st.state == "inactive"
            and len(st.claimed_interfaces) == 0, f"state {st.state if st else None}")
    spin_for(1.0)
    late_ticks = [t for (t, _) in states if t > t_off + 0.01]
    c.check("no ~/state while inactive", not late_ticks, f"{len(late_ticks)} ticks stamped after deactivation")
    t_re = now_s()
    c.check("re-activate", switch(True))
    again = latest_after(t_re)
    c.check("re-activated: holding, zero torque", again is not None and again.holding
            and max(abs(x) for x in again.torque) < 1e-9, f"timeouts {again.timeouts if again else None}")
    c.check("deactivate again", switch(False))
    res = call(UnloadController, "unload_controller", UnloadController.Request(name=ctrl_name))
    c.check("unload_controller", bool(res and res.ok) and controller_state() is None)
    node.destroy_node()
    rclpy.shutdown()
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
