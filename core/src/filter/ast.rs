//! The syntax tree of a filter, as the parser builds it and the printer writes
//! it back.
//!
//! Every node carries the [`Span`] of the text it came from, so the compiler
//! can point its own problems (a regex that does not compile, say) at the
//! right place. Parentheses leave no node of their own: `(a or b) and c` is an
//! `And` whose first child is an `Or`, and the printer puts parentheses back
//! wherever precedence needs them.

use crate::props::FixedKey;

/// Byte offsets `start..end` into the filter text. Filters are at most
/// 64 KiB, so `u32` is plenty and keeps nodes small.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: u32, end: u32) -> Self {
        Self { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// A boolean expression over clauses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The shapes of [`Expr`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// `a or b or ...`: at least two operands.
    Or(Vec<Expr>),
    /// `a and b and ...`: at least two operands.
    And(Vec<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// A single test.
    Clause(Clause),
}

/// One test of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clause {
    /// `all`: every session.
    All,
    /// `key is 'v'`, `key eq 'v'`, `key ne 'v'`, `key matches 'regex'`.
    Compare {
        /// The property tested.
        key: Key,
        /// How.
        op: CompareOp,
        /// Against what.
        value: Str,
    },
    /// `key in ['a', 'b']`: at least one value.
    In {
        /// The property tested.
        key: Key,
        /// The accepted values.
        values: Vec<Str>,
    },
    /// `has key`.
    Has {
        /// The property that must be present.
        key: Key,
    },
    /// `hasRoles ['A', 'B']`: at least one role; the session needs every one.
    HasRoles {
        /// The role names (each a valid role name).
        roles: Vec<Str>,
    },
}

/// The binary comparisons. `is` and `eq` mean the same; both are kept so the
/// printer writes back what the user wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `is`: equal.
    Is,
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal (true when the property is missing).
    Ne,
    /// `matches`: the whole value matches the regular expression.
    Matches,
}

impl CompareOp {
    /// The keyword, lower-case.
    pub const fn keyword(self) -> &'static str {
        match self {
            CompareOp::Is => "is",
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Matches => "matches",
        }
    }
}

/// A property name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// Which property.
    pub kind: KeyKind,
    /// Where it was written.
    pub span: Span,
}

/// Fixed (`$Principal`) or user (`Tier`) property.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A fixed property, set by the server.
    Fixed(FixedKey),
    /// A user property; the name is valid and not a keyword.
    User(Box<str>),
}

/// A quoted string, unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Str {
    /// The text between the quotes, with escapes resolved.
    pub value: Box<str>,
    /// Where it was written, quotes included.
    pub span: Span,
}

impl Expr {
    /// A copy with every span set to `0..0`, for comparing shapes
    /// (`parse(print(e))` equals `e` up to spans).
    pub fn without_spans(&self) -> Expr {
        let kind = match &self.kind {
            ExprKind::Or(v) => ExprKind::Or(v.iter().map(Expr::without_spans).collect()),
            ExprKind::And(v) => ExprKind::And(v.iter().map(Expr::without_spans).collect()),
            ExprKind::Not(e) => ExprKind::Not(Box::new(e.without_spans())),
            ExprKind::Clause(c) => ExprKind::Clause(c.without_spans()),
        };
        Expr { kind, span: Span::default() }
    }
}

impl Clause {
    fn without_spans(&self) -> Clause {
        let key = |k: &Key| Key { kind: k.kind.clone(), span: Span::default() };
        let s = |s: &Str| Str { value: s.value.clone(), span: Span::default() };
        match self {
            Clause::All => Clause::All,
            Clause::Compare { key: k, op, value } => {
                Clause::Compare { key: key(k), op: *op, value: s(value) }
            }
            Clause::In { key: k, values } => {
                Clause::In { key: key(k), values: values.iter().map(s).collect() }
            }
            Clause::Has { key: k } => Clause::Has { key: key(k) },
            Clause::HasRoles { roles } => Clause::HasRoles { roles: roles.iter().map(s).collect() },
        }
    }
}
