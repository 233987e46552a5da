"""Self-test of the real-server fixture the API tests will use."""

import re
import socket

from usher_server import UsherServer


def test_server_listens_on_loopback_port(usher_server: UsherServer) -> None:
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+", usher_server.url)
    assert usher_server.port != 0
    with socket.create_connection((usher_server.host, usher_server.port), timeout=5):
        pass
    assert set(usher_server.passwords) == {"admin", "control", "client"}
