//! The session filter language (SPEC §3; `docs/FILTERS.md` for users).
//!
//! A filter is text such as `$Principal is 'alice' and hasRoles ['CLIENT']`.
//! It goes through one layer per file:
//!
//! - `lex`: text to tokens (keywords case-insensitive);
//! - [`parse()`]: tokens to an [`ast::Expr`] with a span on every node,
//!   collecting problems and enforcing the limits;
//! - [`compile()`]: the tree to a [`CompiledFilter`] bound to an
//!   [`Interner`]: user keys and roles become [`Sym`]s, regexes are built;
//! - [`CompiledFilter::matches`]: evaluation against any [`PropertySource`],
//!   without allocating;
//! - [`print()`]: the tree back to text that parses to the same tree;
//! - [`render`]: problems drawn with line, column and a caret.
//!
//! Contract used by the server and the clients:
//! - [`compile`] parses and compiles a filter against an [`Interner`];
//! - [`CompiledFilter::matches`] evaluates it without allocating;
//! - [`CompiledFilter::index_hints`] lists the top-level conjuncts an index
//!   can answer (`$Principal is`, `hasRoles`, `key is` on a user key);
//! - errors are a [`FilterError`] whose problems carry line and column and
//!   which converts into an `INVALID_FILTER` [`crate::Error`].

pub mod ast;
mod compile;
pub mod error;
mod eval;
mod lex;
mod parse;
mod print;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::fmt;

pub use self::error::{
    MAX_CLAUSES, MAX_DEPTH, MAX_MATCHES, MAX_PROBLEMS, MAX_TEXT_BYTES, Problem, ProblemKind, render,
};
pub use self::print::print;
use crate::error::{Error, FilterProblem};
use crate::intern::{Interner, Sym};
use crate::props::PropertySource;

/// A filter that did not parse or compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Every problem found, in text order.
    pub problems: Vec<FilterProblem>,
}

impl FilterError {
    /// The problems drawn under `text` (which must be the filter's text)
    /// with line, column and a caret; see [`render`].
    pub fn render(&self, text: &str) -> String {
        render(text, &self.problems)
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FilterError {}

impl From<FilterError> for Error {
    fn from(e: FilterError) -> Self {
        Error::invalid_filter(e.problems)
    }
}

/// A clause an index can answer, taken from the filter's top-level `and`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexHint {
    /// `$Principal is 'x'`.
    Principal(Box<str>),
    /// One role of `hasRoles [...]`.
    Role(Sym),
    /// `key is 'v'` on a user key.
    UserEq(Sym, Box<str>),
    /// `$Principal in [...]`: one of these.
    PrincipalIn(Box<[Box<str>]>),
    /// `key in [...]` on a user key: one of these.
    UserIn(Sym, Box<[Box<str>]>),
}

/// A parsed and compiled filter. `Send + Sync`: one compiled filter can be
/// evaluated from many threads at once.
#[derive(Debug)]
pub struct CompiledFilter {
    root: compile::Node,
    hints: Vec<IndexHint>,
    expr: ast::Expr,
}

impl CompiledFilter {
    /// True when the session matches. Does not allocate, with one caveat:
    /// the first `matches` on a thread (and a regex state not met before)
    /// fills that thread's regex cache.
    #[inline]
    pub fn matches<S: PropertySource + ?Sized>(&self, session: &S) -> bool {
        self.root.eval(session)
    }

    /// Top-level conjuncts an index can answer; a matching session satisfies
    /// every one of them.
    pub fn index_hints(&self) -> &[IndexHint] {
        &self.hints
    }

    /// The syntax tree it was compiled from.
    pub fn ast(&self) -> &ast::Expr {
        &self.expr
    }
}

impl fmt::Display for CompiledFilter {
    /// The filter in canonical form (see [`print()`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.expr, f)
    }
}

/// Parses `text` into a syntax tree, or returns every problem with its
/// position. [`compile`] does this and more; this is for tools (a linter,
/// the printer) that need the tree.
pub fn parse(text: &str) -> Result<ast::Expr, FilterError> {
    parse::parse(text).map_err(|problems| FilterError { problems: error::to_filter_problems(text, problems) })
}

/// Parses `text` into a syntax tree, or returns the problems as data
/// ([`ProblemKind`] and byte span).
pub fn parse_problems(text: &str) -> Result<ast::Expr, Vec<Problem>> {
    parse::parse(text)
}

/// Parses and compiles `text`, interning the user keys and role names it
/// names in `interner` (which must be the one the sessions' [`Sym`]s come
/// from). When the interner is full, a name it cannot take matches no
/// session (no session can hold it); that is not an error.
pub fn compile(text: &str, interner: &Interner) -> Result<CompiledFilter, FilterError> {
    compile_with(text, interner, true)
}

/// Like [`compile`], but looks names up instead of interning them: a user
/// key or role the interner does not hold matches no session, and the
/// interner does not grow. For one-shot operations (close, change roles or
/// list by filter), which only see the sessions that exist now: filters sent
/// by clients then cannot fill the table that sessions' keys need. A filter
/// kept to match sessions that connect later (an event listener) must use
/// [`compile`].
pub fn compile_without_interning(text: &str, interner: &Interner) -> Result<CompiledFilter, FilterError> {
    compile_with(text, interner, false)
}

fn compile_with(text: &str, interner: &Interner, intern: bool) -> Result<CompiledFilter, FilterError> {
    let (parsed, patterns) = parse::parse_with_patterns(text);
    let expr = match parsed {
        Ok(expr) => expr,
        Err(mut problems) => {
            // Check the regexes too, so that one attempt shows every problem.
            for p in patterns {
                if let Err(msg) = compile::build_regex(&p.value) {
                    problems.push(Problem::new(ProblemKind::BadRegex(msg), p.span));
                }
            }
            return Err(FilterError { problems: error::to_filter_problems(text, problems) });
        }
    };
    let mut compiler = compile::Compiler { interner, intern, problems: Vec::new() };
    let root = compiler.expr(&expr);
    if !compiler.problems.is_empty() {
        return Err(FilterError { problems: error::to_filter_problems(text, compiler.problems) });
    }
    let mut hints = Vec::new();
    compile::index_hints(&expr, interner, &mut hints);
    Ok(CompiledFilter { root, hints, expr })
}

// Compiled filters are shared between the registry and every listener thread.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledFilter>();
};
