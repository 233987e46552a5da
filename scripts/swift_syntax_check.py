#!/usr/bin/env python3
"""Syntax check of every Swift file of the repository with tree-sitter-swift.

There is no Swift compiler here (SPEC §10), so this is the check every `.swift`
file gets: it must parse with no ERROR or MISSING node, with one narrow,
explicit exception. The grammar does not know the `@_documentation(...)`
attribute that UniFFI emits inside a compiler-version guard::

    #if swift(>=5.8)
        @_documentation(visibility: private)
    #endif

and reports that attribute line as an ERROR node. Such a node is accepted only
when it spans exactly the attribute on a line of its own, and the line before
is exactly `#if swift(>=5.8)` and the line after exactly `#endif`.

Nor does it parse a closure whose body is the empty tuple, which UniFFI's
foreign-trait template emits for methods that return nothing::

    let writeReturn = { () }

An ERROR node spanning exactly that `()` on exactly that line is accepted.
Any other ERROR or MISSING node fails the check.

Usage: swift_syntax_check.py [FILE...]   (default: every .swift file git knows
of, tracked or untracked-but-not-ignored).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import tree_sitter_swift
from tree_sitter import Language, Node, Parser

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_ATTRIBUTE = re.compile(r"@_documentation\(visibility:\s*\w+\)")


@dataclass(frozen=True)
class Problem:
    """A syntax problem: where, and the source it covers."""

    path: str
    line: int
    column: int
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.kind}: {self.text!r}"


def _is_uniffi_documentation_guard(node: Node, lines: list[str]) -> bool:
    """True for an ERROR node that is exactly UniFFI's guarded attribute."""
    if node.type != "ERROR" or node.start_point.row != node.end_point.row:
        return False
    row = node.start_point.row
    line = lines[row]
    text = line[node.start_point.column : node.end_point.column]
    if not ALLOWED_ATTRIBUTE.fullmatch(text) or line.strip() != text:
        return False
    before = lines[row - 1].strip() if row > 0 else ""
    after = lines[row + 1].strip() if row + 1 < len(lines) else ""
    return before == "#if swift(>=5.8)" and after == "#endif"


def _is_uniffi_empty_write_return(node: Node, lines: list[str]) -> bool:
    """True for the ERROR node of `()` in UniFFI's `let writeReturn = { () }`."""
    if node.type != "ERROR" or node.start_point.row != node.end_point.row:
        return False
    line = lines[node.start_point.row]
    return (
        line[node.start_point.column : node.end_point.column] == "()"
        and line.strip() == "let writeReturn = { () }"
        and line.index("{ () }") + 2 == node.start_point.column
    )


def check_source(source: bytes, path: str = "<source>") -> list[Problem]:
    """Every problem in one Swift source (empty when it is clean)."""
    parser = Parser(Language(tree_sitter_swift.language()))
    tree = parser.parse(source)
    lines = source.decode("utf-8", errors="replace").split("\n")
    problems: list[Problem] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing or node.type == "ERROR":
            if not (_is_uniffi_documentation_guard(node, lines) or _is_uniffi_empty_write_return(node, lines)):
                text = source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")[:80]
                kind = "MISSING " + node.type if node.is_missing else "ERROR"
                problems.append(Problem(path, node.start_point.row + 1, node.start_point.column + 1, kind, text))
            continue
        if node.has_error:
            stack.extend(node.children)
    return problems


def swift_files() -> list[Path]:
    """Every .swift file git knows of (tracked, or untracked and not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "*.swift"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return sorted({ROOT / p for p in out.decode().split("\0") if p and (ROOT / p).exists()})


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] if argv else swift_files()
    if not files:
        print("swift-syntax: no .swift files found", file=sys.stderr)
        return 1
    problems = [p for f in files for p in check_source(f.read_bytes(), str(f))]
    for p in problems:
        print(p, file=sys.stderr)
    print(f"swift-syntax: {len(files)} files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
