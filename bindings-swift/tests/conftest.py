"""The UniFFI-generated Python bindings (target/uniffi-python, written by
scripts/uniffi-gen.sh) on the path, and the real-server fixture shared with
the Python binding's tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "uniffi-python"
if not (GENERATED / "usher_swift.py").exists():
    raise RuntimeError(f"{GENERATED}/usher_swift.py is missing: run scripts/uniffi-gen.sh first")
sys.path.insert(0, str(GENERATED))
sys.path.insert(0, str(ROOT / "bindings-python" / "tests"))

from usher_server import ServerNotImplemented, UsherServer, start_server  # noqa: E402


@pytest.fixture(scope="session")
def usher_server() -> Iterator[UsherServer]:
    """A real ``usher-server`` on 127.0.0.1, port 0 (skips while it is the stub)."""
    try:
        server = start_server()
    except ServerNotImplemented as stub:
        if os.environ.get("USHER_REQUIRE_SERVER") == "1":
            raise
        pytest.skip(f"usher-server binary is still the stub ({stub}); merge the server branch")
    yield server
    server.stop()
