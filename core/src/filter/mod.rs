//! The session filter language (SPEC §3). STUB: the API contract only; the
//! implementation lands in `lex.rs`, `parse.rs`, `ast.rs`, `compile.rs`,
//! `eval.rs`, `error.rs` and `print.rs`.
//!
//! Contract used by the server and the clients:
//! - [`compile`] parses and compiles a filter against an [`Interner`]
//!   (interning the user keys and role names it names);
//! - [`CompiledFilter::matches`] evaluates it against any [`PropertySource`]
//!   without allocating;
//! - [`CompiledFilter::index_hints`] lists the top-level conjuncts an index
//!   can answer (`$Principal is`, `hasRoles`, `key is` on a user key);
//! - errors are a [`FilterError`] whose problems carry line and column and
//!   which converts into an `INVALID_FILTER` [`crate::Error`].

use crate::error::{Error, FilterProblem};
use crate::intern::{Interner, Sym};
use crate::props::PropertySource;

/// A filter that did not parse or compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Every problem found, in order.
    pub problems: Vec<FilterProblem>,
}

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
}

/// A parsed and compiled filter.
#[derive(Debug)]
pub struct CompiledFilter {
    hints: Vec<IndexHint>,
}

impl CompiledFilter {
    /// True when the session matches.
    pub fn matches<S: PropertySource + ?Sized>(&self, _session: &S) -> bool {
        false
    }

    /// Top-level conjuncts an index can answer; a matching session satisfies
    /// every one of them.
    pub fn index_hints(&self) -> &[IndexHint] {
        &self.hints
    }
}

/// Parses and compiles `text`.
pub fn compile(text: &str, _interner: &Interner) -> Result<CompiledFilter, FilterError> {
    Err(FilterError {
        problems: vec![FilterProblem {
            line: 1,
            column: 1,
            message: format!("filters are not implemented yet: {text}"),
        }],
    })
}
