"""P9 (SPEC §9): the Python binding's overhead per control op over the Rust
client.

Starts a server (``USHER_SERVER`` or the workspace's debug binary), then per
run: the Rust baseline (``--rust-bin``, ``bench/src/bin/p9-rust-baseline.rs``)
and this process each time ``--ops`` by-id ``get_session_properties`` calls
(after a warm-up), with 1 and with 64 requests in flight; the overhead of a
run is Python's µs per op minus Rust's. Prints, per in-flight count::

    BENCH P9 python_overhead_1=<median> us (min <x>, max <y>, n=<runs>)
    INFO P9 python_per_op_1=... / INFO P9 rust_per_op_1=...
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bindings-python" / "tests"))

import usher  # noqa: E402
from usher_server import start_server  # noqa: E402


async def measure(session: usher.Session, ops: int, in_flight: int) -> float:
    """µs per op: ``in_flight`` workers, each awaiting its calls in turn."""
    cc = session.client_control
    sid = session.id
    per_worker = max(1, ops // in_flight)

    async def worker() -> None:
        for _ in range(per_worker):
            await cc.get_session_properties(sid, ["$SessionId"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return (time.perf_counter() - started) * 1e6 / (per_worker * in_flight)


async def python_run(url: str, password: str, ops: int, in_flight: int) -> float:
    async with usher.connect(url, "admin", password) as session:
        await measure(session, max(in_flight, ops // 10), in_flight)
        return await measure(session, ops, in_flight)


def rust_run(binary: str, url: str, password: str, ops: int, in_flight: int) -> float:
    env = dict(os.environ, USHER_URL=url, USHER_PRINCIPAL="admin", USHER_PASSWORD=password)
    out = subprocess.run(
        [binary, "--ops", str(ops), "--in-flight", str(in_flight)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return float(out.stdout.strip().splitlines()[-1])


def fmt(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3f}".rstrip("0").rstrip(".")


def line(prefix: str, name: str, values: list[float]) -> str:
    return (
        f"{prefix} P9 {name}={fmt(statistics.median(values))} us "
        f"(min {fmt(min(values))}, max {fmt(max(values))}, n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rust-bin", default=str(ROOT / "target" / "release" / "p9-rust-baseline"))
    args = parser.parse_args()
    server = start_server()
    try:
        password = server.passwords["admin"]
        for in_flight in (1, 64):
            rust: list[float] = []
            python: list[float] = []
            for _ in range(args.runs):
                rust.append(rust_run(args.rust_bin, server.url, password, args.ops, in_flight))
                python.append(asyncio.run(python_run(server.url, password, args.ops, in_flight)))
            overhead = [p - r for p, r in zip(python, rust)]
            print(line("BENCH", f"python_overhead_{in_flight}", overhead))
            print(line("INFO", f"python_per_op_{in_flight}", python))
            print(line("INFO", f"rust_per_op_{in_flight}", rust))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
