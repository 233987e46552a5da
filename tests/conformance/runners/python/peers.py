"""What one scenario talks to, for both Python-hosted runners: a fresh
``usher-server`` (most scenarios, started by the Python binding's own test
helper), or the peer helper the scenario's ``cluster`` / ``fake_server``
asks for (``tests/conformance/README.md``, "Peers").

The helper is the Rust runner's binary (``usher-conformance cluster ...`` or
``usher-conformance fake-server``): it prints one JSON peer line, answers one
line per command, and kills what it started when its stdin closes.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

from usher_server import start_server

ROOT = Path(__file__).resolve().parents[4]
START_DEADLINE_S = 60.0
COMMAND_DEADLINE_S = 10.0


class NoHelper(Exception):
    """A command for a scenario that has no helper."""


def helper_binary() -> Path:
    """``$USHER_CONFORMANCE``, else the workspace's debug build."""
    if os.environ.get("USHER_CONFORMANCE"):
        return Path(os.environ["USHER_CONFORMANCE"])
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "usher-conformance"


def helper_args(scenario: dict[str, Any]) -> list[str] | None:
    """The helper's arguments, or ``None`` for one plain server."""
    cluster = scenario.get("cluster")
    if cluster is not None:
        args = ["cluster", "--servers", str(cluster["servers"])]
        if "deadline_ms" in cluster:
            args += ["--deadline-ms", str(cluster["deadline_ms"])]
        return args
    if scenario.get("fake_server") is True:
        return ["fake-server"]
    return None


class PlainServer:
    """One real server: no other peers, no commands."""

    def __init__(self) -> None:
        self.server = start_server()
        self.url: str = self.server.url
        self.passwords: dict[str, str] = self.server.passwords
        self.urls: dict[str, str] = {}

    def command(self, command: str) -> str:
        raise NoHelper(f"{command!r}: this scenario has no cluster (`cluster` in the scenario)")

    def stop(self) -> None:
        self.server.stop()


class Helper:
    """The running helper; its peer line read with a deadline."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc = subprocess.Popen([str(helper_binary()), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            line = json.loads(self._next(START_DEADLINE_S, "peer line"))
        except BaseException:
            self.stop()
            raise
        self.url: str = line["url"]
        self.urls: dict[str, str] = line["urls"]
        self.passwords: dict[str, str] = line["passwords"]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _next(self, timeout: float, what: str) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"usher-conformance {' '.join(self.args)}: no {what} within {timeout}s") from None
        if line is None:
            raise RuntimeError(f"usher-conformance {' '.join(self.args)} exited before its {what} (stderr above)")
        return line

    def command(self, command: str) -> str:
        """Sends one command line; returns the helper's answer (blocking)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._next(COMMAND_DEADLINE_S, f"answer to {command!r}")

    def stop(self) -> None:
        """Closes its stdin (it kills what it started), killing it if it lingers."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(COMMAND_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_peers(scenario: dict[str, Any]) -> PlainServer | Helper:
    args = helper_args(scenario)
    return PlainServer() if args is None else Helper(args)
