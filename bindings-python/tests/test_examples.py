"""The examples in examples/python run to completion against the test server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from usher_server import ROOT, UsherServer

EXAMPLES = ROOT / "examples" / "python"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name != "example_env.py")


def test_every_required_example_exists() -> None:
    assert set(SCRIPTS) >= {
        "close_by_id.py",
        "close_by_filter.py",
        "change_roles_by_id.py",
        "change_roles_by_filter.py",
        "queue_handler.py",
    }


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(usher_server: UsherServer, script: str) -> None:
    env = dict(os.environ)
    env.update(
        USHER_URL=usher_server.url,
        USHER_PRINCIPAL="control",
        USHER_PASSWORD=usher_server.passwords["control"],
    )
    done = subprocess.run(
        [sys.executable, str(Path(EXAMPLES, script))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
