//! The error table: exact `line:column` and message of every problem kind,
//! and the collection of several problems in one pass.

use super::super::{compile, render};
use crate::error::ErrorKind;
use crate::intern::Interner;

const CLAUSE: &str = "expected a key, 'has', 'hasRoles', 'all', 'not' or '('";
const OP: &str = "expected 'is', 'eq', 'ne', 'matches' or 'in'";

/// `(line, column, message)` of one expected problem.
type Expected = (u32, u32, String);

/// `(filter, [(line, column, message)])`.
fn cases() -> Vec<(String, Vec<Expected>)> {
    let one =
        |text: &str, line: u32, col: u32, msg: &str| (text.to_owned(), vec![(line, col, msg.to_owned())]);
    let mut v = vec![
        one("$Principal is", 1, 14, "expected a quoted string after 'is'"),
        one("$Principal IS admin", 1, 15, "expected a quoted string after 'is'"),
        one("a ne", 1, 5, "expected a quoted string after 'ne'"),
        one("a eq", 1, 5, "expected a quoted string after 'eq'"),
        one("a matches", 1, 10, "expected a quoted string after 'matches'"),
        one("", 1, 1, CLAUSE),
        one("in is 'x'", 1, 1, CLAUSE),
        one("not", 1, 4, &format!("{CLAUSE} after 'not'")),
        one("()", 1, 2, &format!("{CLAUSE} after '('")),
        one("Tier is 'x' AND", 1, 16, &format!("{CLAUSE} after 'and'")),
        one("a is 'x' or is 'y'", 1, 13, &format!("{CLAUSE} after 'or'")),
        one("Tier 'x'", 1, 6, &format!("{OP} after 'Tier'")),
        one("$Principal has 'x'", 1, 12, &format!("{OP} after '$Principal'")),
        one("Tier in 'x'", 1, 9, "expected '[' after 'in'"),
        one("Tier in []", 1, 10, "expected a quoted string after '['"),
        one("Tier in ['x',]", 1, 14, "expected a quoted string after ','"),
        one("Tier in ['x' 'y']", 1, 14, "expected ',' or ']' after a string"),
        one("a in ['x', 'y'", 1, 15, "expected ',' or ']' after a string"),
        one("has 'x'", 1, 5, "expected a key after 'has'"),
        one("hasRoles 'A'", 1, 10, "expected '[' after 'hasRoles'"),
        one("hasRoles ['A', 'B' 'C']", 1, 20, "expected ',' or ']' after a string"),
        one(
            "hasRoles ['A B']",
            1,
            11,
            "invalid role name \"A B\": expected [A-Za-z0-9_.-], 1 to 64 characters",
        ),
        one("hasRoles ['']", 1, 11, "invalid role name \"\": expected [A-Za-z0-9_.-], 1 to 64 characters"),
        one(
            "$principal ne 'admin'",
            1,
            1,
            "unknown fixed property '$principal' (fixed properties are case-sensitive: did you mean '$Principal'?)",
        ),
        one("$Foo is 'x'", 1, 1, "unknown fixed property '$Foo'"),
        one("$ is 'x'", 1, 1, "expected a fixed property name after '$'"),
        one("a is 'x' & b is 'y'", 1, 10, "unexpected character '&'"),
        one("9lives is 'x'", 1, 1, "unexpected '9lives': expected a key (keys start with a letter or '_')"),
        one("a is 'x", 1, 6, "unterminated string: expected a closing quote"),
        one(r"a is 'x\n'", 1, 8, r#"invalid escape '\n': expected \', \" or \\ after a backslash"#),
        one("(a is 'x'", 1, 10, "expected ')' to close the '(' at 1:1"),
        one("a is 'x' and (b is 'y' c)", 1, 24, "expected ')' to close the '(' at 1:14"),
        one("a is 'x')", 1, 9, "unexpected ')' without a matching '('"),
        one("a is 'x' b is 'y'", 1, 10, "expected 'and', 'or' or the end of the filter"),
        one("a matches '('", 1, 11, "invalid regular expression: unclosed group"),
        one("a matches 'a)|(b'", 1, 11, "invalid regular expression: unopened group"),
        one(
            "a matches 'x{2,1}'",
            1,
            11,
            "invalid regular expression: invalid repetition count range, the start must be <= the end",
        ),
        one(
            r"a matches '(?:\\w{100}){100}'",
            1,
            11,
            "invalid regular expression: compiled size exceeds the limit of 262144 bytes",
        ),
        // Lines and columns: columns count characters, lines start at 1.
        one("Tier is '1'\nand Dept is\n  'eng' and\nRegion", 4, 7, &format!("{OP} after 'Region'")),
        one("Name is 'ü€' and", 1, 17, &format!("{CLAUSE} after 'and'")),
        one(
            "Name is 'x' and\r\n\t  9",
            2,
            4,
            "unexpected '9': expected a key (keys start with a letter or '_')",
        ),
        one(&format!("{} is 'x'", "k".repeat(257)), 1, 1, "key too long: a key has at most 256 characters"),
    ];
    // Several problems, each after resynchronising at `and`, `or` or `)`.
    v.push((
        "a is and b 'x' or has 'y'".into(),
        vec![
            (1, 6, "expected a quoted string after 'is'".into()),
            (1, 12, format!("{OP} after 'b'")),
            (1, 23, "expected a key after 'has'".into()),
        ],
    ));
    v.push((
        "Tier is 'x' and and".into(),
        vec![(1, 17, format!("{CLAUSE} after 'and'")), (1, 20, format!("{CLAUSE} after 'and'"))],
    ));
    v.push((
        "($foo is 'x' or (b is)) and hasRoles ['A B', 'C', '']".into(),
        vec![
            (1, 2, "unknown fixed property '$foo'".into()),
            (1, 22, "expected a quoted string after 'is'".into()),
            (1, 39, "invalid role name \"A B\": expected [A-Za-z0-9_.-], 1 to 64 characters".into()),
            (1, 51, "invalid role name \"\": expected [A-Za-z0-9_.-], 1 to 64 characters".into()),
        ],
    ));
    v.push((
        "a is 'x' & b is 'y\\q' or c is".into(),
        vec![
            (1, 10, "unexpected character '&'".into()),
            (1, 19, r#"invalid escape '\q': expected \', \" or \\ after a backslash"#.into()),
            (1, 30, "expected a quoted string after 'is'".into()),
        ],
    ));
    // A bad regex is reported along with syntax problems.
    v.push((
        "a matches '[' and b is or c matches '(?:a)'".into(),
        vec![
            (1, 11, "invalid regular expression: unclosed character class".into()),
            (1, 24, "expected a quoted string after 'is'".into()),
        ],
    ));
    v.push((
        "a is 'x')) or b is".into(),
        vec![
            (1, 9, "unexpected ')' without a matching '('".into()),
            (1, 10, "unexpected ')' without a matching '('".into()),
            (1, 19, "expected a quoted string after 'is'".into()),
        ],
    ));
    v
}

#[test]
fn error_table() {
    let interner = Interner::default();
    let mut failures = Vec::new();
    let cases = cases();
    for (text, want) in &cases {
        let got = match compile(text, &interner) {
            Ok(_) => vec![],
            Err(e) => e.problems.into_iter().map(|p| (p.line, p.column, p.message)).collect(),
        };
        if &got != want {
            failures.push(format!("{text:?}\n  expected {want:?}\n  got      {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
    assert!(cases.len() >= 40);
}

#[test]
fn errors_convert_to_invalid_filter() {
    let text = "$Principal is";
    let e = compile(text, &Interner::default()).expect_err("incomplete");
    let err: crate::Error = e.clone().into();
    assert_eq!(err.kind, ErrorKind::InvalidFilter);
    assert_eq!(err.problems(), e.problems.as_slice());
    assert_eq!(err.message, "invalid filter: expected a quoted string after 'is' at 1:14");
}

#[test]
fn render_draws_a_caret_under_each_problem() {
    let text = "Tier is '1' and\n  Dept is";
    let e = compile(text, &Interner::default()).expect_err("incomplete");
    assert_eq!(
        render(text, &e.problems),
        "error: expected a quoted string after 'is' at 2:10\n 2 |   Dept is\n   |          ^\n"
    );
    let text = "a is 'x' & b or c is";
    let e = compile(text, &Interner::default()).expect_err("two problems");
    assert_eq!(
        e.render(text),
        "error: unexpected character '&' at 1:10\n 1 | a is 'x' & b or c is\n   |          ^\n\
         error: expected a quoted string after 'is' at 1:21\n 1 | a is 'x' & b or c is\n   |                     ^\n"
    );
}
