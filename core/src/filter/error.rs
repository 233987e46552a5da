//! Filter problems as data, their positions, and the caret rendering.
//!
//! The lexer, the parser and the compiler each record [`Problem`]s (a
//! [`ProblemKind`] and the [`Span`] it concerns) instead of stopping at the
//! first; [`to_filter_problems`] turns them into the wire's
//! [`FilterProblem`]s (1-based line and column counted in characters), and
//! [`render`] draws them under the text. Rendering is separate so the server
//! can send problems as data and each client can draw them as it likes.

use std::fmt;
use std::fmt::Write as _;

use super::ast::Span;
use crate::error::FilterProblem;

/// The longest filter, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The deepest nesting: each `(` and each `not` counts one.
pub const MAX_DEPTH: usize = 64;
/// The most clauses in one filter.
pub const MAX_CLAUSES: usize = 1000;
/// The most `matches` clauses in one filter.
pub const MAX_MATCHES: usize = 16;
/// The bound on a regex's compiled size and on its matching cache, in bytes.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// The most problems reported for one filter: enough to fix a filter by, and
/// it keeps the error small whatever the input (64 KiB of `&` would otherwise
/// be 65,536 problems).
pub const MAX_PROBLEMS: usize = 20;
/// The longest user key (SPEC §2.2).
pub const MAX_KEY_CHARS: usize = 256;

/// What is wrong. Each variant names an input that triggers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// Something else was expected here: `what` after `after`.
    ///
    /// `$Principal is` gives `expected a quoted string after 'is'` at 1:14;
    /// `Tier 'x'` gives `expected 'is', 'eq', 'ne', 'matches' or 'in' after 'Tier'`.
    Expected {
        /// What would have been accepted, e.g. `a quoted string`.
        what: &'static str,
        /// The token before, as written in messages (`'is'`, `'Tier'`), or
        /// `None` at the start of the filter.
        after: Option<String>,
    },
    /// Text remains after a complete filter: `a is 'x' b is 'y'`.
    ExpectedEnd,
    /// A `(` without its `)`: `(a is 'x'`; `open` is where the `(` is.
    UnclosedParen {
        /// `line:column` of the `(`.
        open: (u32, u32),
    },
    /// A `)` without a `(`: `a is 'x')`.
    UnmatchedParen,
    /// A string without its closing quote: `a is 'x`.
    UnterminatedString,
    /// A backslash before something other than `'`, `"` or `\`: `a is 'x\n'`.
    BadEscape(char),
    /// A character that starts no token: `a is 'x' & b is 'y'`.
    UnexpectedChar(char),
    /// A word that is not a key: `9lives is 'x'` (keys start with a letter or `_`).
    BadWord(String),
    /// `$` not followed by a name: `$ is 'x'`.
    EmptyFixedKey,
    /// A `$` key that is not a fixed property, case included: `$principal is 'x'`.
    UnknownFixedKey {
        /// The key as written.
        key: String,
        /// The fixed key it differs from only in case, if any.
        suggestion: Option<&'static str>,
    },
    /// A user key longer than 256 characters: `kkk...k is 'x'` with 257 `k`s.
    KeyTooLong,
    /// A role name that is not `[A-Za-z0-9_.-]{1,64}`: `hasRoles ['A B']`.
    BadRoleName(String),
    /// A `matches` pattern the regex engine refuses: `a matches '('`, or one
    /// over the 256 KiB compiled-size limit: `a matches '\w{1000}'`.
    BadRegex(String),
    /// The 17th `matches` clause of a filter.
    TooManyMatches,
    /// A filter over 64 KiB: `all` followed by 65,534 spaces.
    TooLong,
    /// Nesting deeper than 64: `not not ... a is 'x'` with 65 `not`s.
    TooDeep,
    /// More than 1,000 clauses: `all or all or ...` with 1,001 `all`s.
    TooManyClauses,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Expected { what, after: Some(after) } => write!(f, "expected {what} after {after}"),
            ProblemKind::Expected { what, after: None } => write!(f, "expected {what}"),
            ProblemKind::ExpectedEnd => f.write_str("expected 'and', 'or' or the end of the filter"),
            ProblemKind::UnclosedParen { open: (l, c) } => {
                write!(f, "expected ')' to close the '(' at {l}:{c}")
            }
            ProblemKind::UnmatchedParen => f.write_str("unexpected ')' without a matching '('"),
            ProblemKind::UnterminatedString => f.write_str("unterminated string: expected a closing quote"),
            ProblemKind::BadEscape(c) => {
                write!(f, "invalid escape '\\{c}': expected \\', \\\" or \\\\ after a backslash")
            }
            ProblemKind::UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            ProblemKind::BadWord(w) => {
                write!(f, "unexpected '{w}': expected a key (keys start with a letter or '_')")
            }
            ProblemKind::EmptyFixedKey => f.write_str("expected a fixed property name after '$'"),
            ProblemKind::UnknownFixedKey { key, suggestion: Some(s) } => {
                write!(
                    f,
                    "unknown fixed property '{key}' (fixed properties are case-sensitive: did you mean '{s}'?)"
                )
            }
            ProblemKind::UnknownFixedKey { key, suggestion: None } => {
                write!(f, "unknown fixed property '{key}'")
            }
            ProblemKind::KeyTooLong => {
                write!(f, "key too long: a key has at most {MAX_KEY_CHARS} characters")
            }
            ProblemKind::BadRoleName(r) => {
                write!(f, "invalid role name {r:?}: expected [A-Za-z0-9_.-], 1 to 64 characters")
            }
            ProblemKind::BadRegex(e) => write!(f, "invalid regular expression: {e}"),
            ProblemKind::TooManyMatches => {
                write!(f, "too many 'matches' clauses: at most {MAX_MATCHES} per filter")
            }
            ProblemKind::TooLong => write!(f, "filter too long: at most {MAX_TEXT_BYTES} bytes"),
            ProblemKind::TooDeep => {
                write!(f, "filter nested too deeply: at most {MAX_DEPTH} levels of '(' and 'not'")
            }
            ProblemKind::TooManyClauses => write!(f, "too many clauses: at most {MAX_CLAUSES} per filter"),
        }
    }
}

/// One problem and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// The text it concerns; an empty span at the end for "expected X" at
    /// the end of the filter.
    pub span: Span,
}

impl Problem {
    /// A problem at `span`.
    pub fn new(kind: ProblemKind, span: Span) -> Self {
        Self { kind, span }
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
/// An offset past the end, or inside a character, is clamped.
pub fn line_col(text: &str, at: u32) -> (u32, u32) {
    let (mut line, mut col) = (1u32, 1u32);
    for (i, c) in text.char_indices() {
        if i >= at as usize {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// Turns problems into the wire form: the first [`MAX_PROBLEMS`] in text
/// order (stable for problems at the same place, so the parser's order
/// survives). Positions are found in one pass over the text, so the cost is
/// linear in its length.
pub fn to_filter_problems(text: &str, mut problems: Vec<Problem>) -> Vec<FilterProblem> {
    problems.sort_by_key(|p| p.span.start);
    problems.truncate(MAX_PROBLEMS);
    let (mut line, mut col, mut chars) = (1u32, 1u32, text.char_indices().peekable());
    problems
        .into_iter()
        .map(|p| {
            while let Some((_, c)) = chars.next_if(|(i, _)| *i < p.span.start as usize) {
                if c == '\n' {
                    line += 1;
                    col = 1;
                } else {
                    col += 1;
                }
            }
            FilterProblem { line, column: col, message: p.kind.to_string() }
        })
        .collect()
}

/// Draws each problem under the line it is on:
///
/// ```text
/// error: expected a quoted string after 'is' at 1:14
///  1 | $Principal is
///    |              ^
/// ```
///
/// Tabs in the line are kept in the caret's indentation so the caret lines
/// up in a terminal.
pub fn render(text: &str, problems: &[FilterProblem]) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = text.split('\n').collect();
    for p in problems {
        let _ = writeln!(out, "error: {p}");
        let Some(line) = lines.get((p.line as usize).saturating_sub(1)) else { continue };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let number = p.line.to_string();
        let gutter = " ".repeat(number.len());
        let _ = writeln!(out, " {number} | {line}");
        let pad: String = line
            .chars()
            .chain(std::iter::repeat(' '))
            .take((p.column as usize).saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, " {gutter} | {pad}^");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_lines() {
        let text = "é\nab\n  x";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 2), (1, 2)); // after the two-byte 'é'
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 8), (3, 3));
        assert_eq!(line_col(text, 99), (3, 4));
    }

    #[test]
    fn render_puts_the_caret_under_the_column() {
        let p = FilterProblem { line: 2, column: 4, message: "expected a key after 'and'".into() };
        let out = render("a is 'x'\n\tand", &[p]);
        assert_eq!(out, "error: expected a key after 'and' at 2:4\n 2 | \tand\n   | \t  ^\n");
    }
}
