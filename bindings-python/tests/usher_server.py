"""Starts a real ``usher-server`` for tests: port 0 on 127.0.0.1, the three
embedded principals' passwords set, and the URL read from the server's
``usher-server listening on ws://IP:PORT`` line with a deadline."""

from __future__ import annotations

import os
import queue
import re
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"^usher-server listening on (ws://(\d+\.\d+\.\d+\.\d+):(\d+))\s*$")


class ServerNotImplemented(Exception):
    """The binary is still the stub that prints ``not implemented yet``."""


def server_binary() -> Path:
    """``target/debug/usher-server`` of this workspace, built when missing."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "debug" / "usher-server"
    if not binary.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "usher-server"], cwd=ROOT, check=True)
    return binary


@dataclass
class UsherServer:
    """A running server; :meth:`stop` ends it."""

    url: str
    host: str
    port: int
    passwords: dict[str, str]
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 10.0) -> int:
        """Terminates the server and returns its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def start_server(deadline_s: float = 30.0) -> UsherServer:
    """Starts the server and waits for its listening line.

    Raises :class:`ServerNotImplemented` for the stub binary, and
    ``RuntimeError`` for anything else that keeps the line from coming.
    """
    passwords = {p: secrets.token_urlsafe(12) for p in ("admin", "control", "client")}
    env = dict(os.environ)
    env.update({f"USHER_{p.upper()}_PASSWORD": pw for p, pw in passwords.items()})
    proc = subprocess.Popen(
        [str(server_binary()), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    end = time.monotonic() + deadline_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            proc.kill()
            raise RuntimeError(f"usher-server printed no listening line in {deadline_s}s: {output}")
        if line is None:
            proc.wait()
            text = "".join(output)
            if "not implemented yet" in text:
                raise ServerNotImplemented(text.strip())
            raise RuntimeError(f"usher-server exited ({proc.returncode}) before listening: {text!r}")
        output.append(line)
        m = LISTENING.match(line)
        if m:
            return UsherServer(m.group(1), m.group(2), int(m.group(3)), passwords, proc, output)
