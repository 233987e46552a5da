"""Prints the parity table of the conformance suite -- scenarios x languages,
read from ``target/conformance/<lang>.json`` -- and exits non-zero unless
every cell passes. A scenario missing from a language's file (or a missing
file) is a failed cell: every scenario must run everywhere.

    python3 tests/conformance/report.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ["rust", "python", "node", "swift"]


def main() -> int:
    scenarios = sorted(p.stem for p in (ROOT / "tests" / "conformance" / "scenarios").glob("*.json"))
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "conformance"
    results: dict[str, dict[str, dict[str, object]]] = {}
    for lang in LANGUAGES:
        path = target / f"{lang}.json"
        results[lang] = json.loads(path.read_text()) if path.exists() else {}
    width = max(len(s) for s in scenarios + ["scenario"])
    print(f"{'scenario':<{width}}  " + "  ".join(f"{lang:<6}" for lang in LANGUAGES))
    print("-" * width + "  " + "  ".join("-" * 6 for _ in LANGUAGES))
    failures = []
    for name in scenarios:
        cells = []
        for lang in LANGUAGES:
            cell = results[lang].get(name)
            if cell is None:
                cells.append("MISSING")
                failures.append(f"{name} [{lang}]: no result (the runner did not run it)")
            elif cell.get("pass") is True:
                cells.append("pass")
            else:
                cells.append("FAIL")
                failures.append(f"{name} [{lang}]: {cell.get('message')}")
        print(f"{name:<{width}}  " + "  ".join(f"{c:<6}" for c in cells))
    cells_total = len(scenarios) * len(LANGUAGES)
    print(f"\n{cells_total - len(failures)}/{cells_total} cells pass ({len(scenarios)} scenarios x {len(LANGUAGES)} languages)")
    for failure in failures:
        print(f"  {failure}")
    return 0 if not failures and scenarios else 1


if __name__ == "__main__":
    sys.exit(main())
