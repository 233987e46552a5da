"""The Swift syntax checker itself: it must catch broken Swift, and accept
UniFFI's guarded `@_documentation` attribute only in exactly that form."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from swift_syntax_check import check_source, main, swift_files  # noqa: E402

GUARD = b"""
public struct S {
#if swift(>=5.8)
    @_documentation(visibility: private)
#endif
    public var x: Int
}
"""


def test_clean_swift_passes() -> None:
    assert check_source(b"import Foundation\npublic func f(x: Int) async throws -> String { return \"\\(x)\" }\n") == []


def test_broken_swift_fails() -> None:
    problems = check_source(b"public func f( -> {\n  let = 3\n}\n", "broken.swift")
    assert problems, "a broken snippet passed the check"
    assert problems[0].path == "broken.swift"


def test_missing_brace_fails() -> None:
    assert check_source(b"public struct S {\n    var x: Int\n")


def test_uniffi_guard_is_accepted() -> None:
    assert check_source(GUARD) == []


def test_guard_acceptance_is_narrow() -> None:
    # Other junk inside the same guard, or a different guard, is an error.
    assert check_source(GUARD.replace(b"@_documentation(visibility: private)", b"@_documentation(visibility: private) }{"))
    assert check_source(GUARD.replace(b"#if swift(>=5.8)", b"#if swift(>=5.7)"))
    # An error elsewhere in a file that also has the guard still fails.
    assert check_source(GUARD + b"func broken( {\n")


def test_uniffi_empty_write_return_is_accepted_only_as_emitted() -> None:
    ok = b"func f() {\n    let writeReturn = { () }\n}\n"
    assert check_source(ok) == []
    assert check_source(ok.replace(b"writeReturn", b"other"))
    assert check_source(ok.replace(b"{ () }", b"{ () ) }"))


def test_every_swift_file_of_the_repo_parses() -> None:
    files = swift_files()
    assert any(f.name == "Usher.swift" for f in files), "the generated Swift is not among the checked files"
    assert main([]) == 0


def test_a_slash_star_inside_a_doc_comment_fails() -> None:
    # Swift block comments nest: a selector such as `path/*` in a Rust doc
    # comment opens a comment the generated Swift never closes.
    assert check_source(b"/**\n * Subscribes to `a/*` and below.\n */\nfunc f() {}\n")
