"""Runs every conformance scenario through one Python-hosted backend and writes
``target/conformance/<lang>.json``:

    python run.py --backend usher    # the Python binding   -> python.json
    python run.py --backend uniffi   # UniFFI-generated Python, for Swift -> swift.json

Each scenario gets a fresh ``usher-server`` (port 0 on 127.0.0.1) started by
the Python binding's own test helper, or the peers it asks for (``peers.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT / "bindings-python" / "tests"))
sys.path.insert(0, str(HERE))

from interp import Failure, Run  # noqa: E402
from peers import start_peers  # noqa: E402

SCENARIO_TIMEOUT_S = 120.0


def load_scenarios(only: str | None) -> list[tuple[str, dict[str, Any]]]:
    folder = ROOT / "tests" / "conformance" / "scenarios"
    out = []
    for path in sorted(folder.glob("*.json")):
        if only is None or only in path.stem:
            out.append((path.stem, json.loads(path.read_text())))
    return out


async def run_one(backend: Any, scenario: dict[str, Any]) -> None:
    peers = start_peers(scenario)
    try:
        await asyncio.wait_for(Run(backend, peers, scenario).run(), SCENARIO_TIMEOUT_S)
    finally:
        peers.stop()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["usher", "uniffi"], required=True)
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    args = parser.parse_args()
    if args.backend == "usher":
        from backend_usher import UsherBackend

        backend: Any = UsherBackend()
        lang = "python"
    else:
        from backend_uniffi import UniffiBackend

        backend = UniffiBackend()
        lang = "swift"
    results: dict[str, dict[str, Any]] = {}
    for name, scenario in load_scenarios(args.only):
        started = time.monotonic()
        try:
            await run_one(backend, scenario)
            results[name] = {"pass": True, "message": ""}
        except Failure as e:
            results[name] = {"pass": False, "message": str(e)}
        except Exception as e:  # noqa: BLE001 - a runner bug is a failed cell, with its trace
            results[name] = {"pass": False, "message": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"}
        ms = (time.monotonic() - started) * 1000
        verdict = "pass" if results[name]["pass"] else "FAIL " + results[name]["message"]
        print(f"conformance[{lang}] {name}: {verdict} ({ms:.0f} ms)", flush=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "conformance"
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{lang}.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(r["pass"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
