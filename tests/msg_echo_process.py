"""A separate process for the interface round-trip test.

For every omnireset_msgs message type it subscribes ``/roundtrip/<Type>/in`` and republishes the
received message unchanged on ``/roundtrip/<Type>/out``; for every service type it serves
``/roundtrip/<Type>`` and answers with a response whose fields are derived from the request (so
the test sees that the request crossed the process boundary intact).
"""

from __future__ import annotations

import sys

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy

import omnireset_msgs.msg as M
import omnireset_msgs.srv as S

MESSAGE_TYPES = (M.PoseDelta, M.PolicyStatus, M.SupervisorStatus, M.OscControllerState, M.EpisodeOutcome)
SERVICE_TYPES = (S.SetPaused, S.ResetCounters, S.ReportOutcome, S.ResetEpisode)

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                 durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)


def service_answer(srv_type, request):
    """The response the echo process gives: every request field is reflected in it."""
    response = srv_type.Response()
    if srv_type is S.SetPaused:
        response.success = True
        response.message = f"paused={request.paused}"
    elif srv_type is S.ResetCounters:
        response.success = True
        response.message = "counters reset"
    elif srv_type is S.ReportOutcome:
        response.accepted = bool(request.success)
        response.message = f"success={request.success} first_try={request.first_try}"
    elif srv_type is S.ResetEpisode:
        response.success = True
        response.message = f"{request.reset_type}:{request.seed}"
    return response


class EchoNode(Node):
    def __init__(self):
        super().__init__("omnireset_msgs_echo")
        self._keep = []
        for msg_type in MESSAGE_TYPES:
            name = msg_type.__name__
            pub = self.create_publisher(msg_type, f"/roundtrip/{name}/out", QOS)
            self._keep.append(pub)
            self._keep.append(self.create_subscription(msg_type, f"/roundtrip/{name}/in", pub.publish, QOS))
        for srv_type in SERVICE_TYPES:
            self._keep.append(self.create_service(
                srv_type, f"/roundtrip/{srv_type.__name__}",
                lambda req, resp, t=srv_type: service_answer(t, req)))


def main() -> int:
    rclpy.init()
    node = EchoNode()
    print("echo ready", flush=True)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
