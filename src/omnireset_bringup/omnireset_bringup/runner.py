"""Start, watch and stop the processes of a graph (``graph.NodeSpec`` list) without ros2 launch.

Each node runs as its own process, started the way ``ros2 run`` would, with ``--ros-args`` built
from the same spec the launch files use. Respawn follows ``NodeSpec.respawn``, except for a node
that exits with ``STARTUP_ERROR_EXIT`` (2: it could not start, e.g. a bad parameter or a refused
policy): that is final, the node is reported down with the last error line of its log
(``reason``) instead of being restarted again and again. Stopping sends
SIGINT (rclpy shuts down cleanly), then SIGTERM, then SIGKILL, to the node's own process group
only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .graph import STARTUP_ERROR_EXIT, NodeSpec, executable_path, last_error_line, ros_arguments


@dataclass
class _Proc:
    spec: NodeSpec
    popen: subprocess.Popen | None = None
    log_path: Path | None = None
    restarts: int = 0
    exited_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)


class GraphRunner:
    def __init__(self, nodes: list[NodeSpec], log_dir: str | os.PathLike, env: dict | None = None,
                 resolve_config=None):
        names = [n.name for n in nodes]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"duplicate node names in graph: {sorted(dupes)}")
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        self.env["PYTHONUNBUFFERED"] = "1"
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        kwargs = {} if resolve_config is None else {"resolve": resolve_config}
        # Resolve every executable and parameter file before starting anything: a graph that
        # cannot start whole does not start at all.
        self._commands = {n.name: [executable_path(n), *ros_arguments(n, **kwargs)] for n in nodes}
        self._procs = {n.name: _Proc(spec=n) for n in nodes}

    def command(self, name: str) -> list[str]:
        return list(self._commands[name])

    def start(self) -> None:
        for proc in self._procs.values():
            self._spawn(proc)

    def _spawn(self, proc: _Proc) -> None:
        proc.log_path = self.log_dir / f"{proc.spec.name}.log"
        log = open(proc.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        proc.popen = subprocess.Popen(self._commands[proc.spec.name], env=self.env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        proc.exited_at = None

    def poll(self) -> list[str]:
        """Respawn exited nodes that ask for it; return the names of nodes that are down for good
        (no respawn asked, or exited with STARTUP_ERROR_EXIT: see ``refused``)."""
        down = []
        now = time.monotonic()
        for proc in self._procs.values():
            if proc.popen is None or proc.popen.poll() is None:
                continue
            if proc.exited_at is None:
                proc.exited_at = now
                proc.exit_codes.append(proc.popen.returncode)
            if not proc.spec.respawn or proc.popen.returncode == STARTUP_ERROR_EXIT:
                down.append(proc.spec.name)
            elif now - proc.exited_at >= proc.spec.respawn_delay:
                proc.restarts += 1
                self._spawn(proc)
        return down

    def pid(self, name: str) -> int | None:
        popen = self._procs[name].popen
        return None if popen is None else popen.pid

    def restarts(self, name: str) -> int:
        return self._procs[name].restarts

    def exit_codes(self, name: str) -> list[int]:
        return list(self._procs[name].exit_codes)

    def refused(self, name: str) -> bool:
        """The node exited with STARTUP_ERROR_EXIT: it could not start, and was not respawned."""
        popen = self._procs[name].popen
        return popen is not None and popen.poll() == STARTUP_ERROR_EXIT

    def reason(self, name: str) -> str:
        """One line: the last error line of the node's log (what it said when it stopped)."""
        path = self._procs[name].log_path
        return last_error_line(path.read_text(errors="replace") if path is not None and path.exists() else "")

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self._procs[name].log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        running = [p for p in self._procs.values() if p.popen is not None and p.popen.poll() is None]
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            for p in running:
                try:
                    os.killpg(p.popen.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + (timeout / 2 if sig != signal.SIGKILL else timeout)
            while time.monotonic() < deadline and any(p.popen.poll() is None for p in running):
                time.sleep(0.05)
            running = [p for p in running if p.popen.poll() is None]
            if not running:
                break
        for p in self._procs.values():
            if p.popen is not None:
                try:
                    p.popen.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    print(f"[runner] {p.spec.name} (pid {p.popen.pid}) did not exit", file=sys.stderr)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
