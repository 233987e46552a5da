//! The pretty-printer: an [`Expr`] back to filter text that parses to the
//! same tree (spans aside).
//!
//! Keywords come out lower-case (`hasRoles` in its documented case), strings
//! in single quotes with `\'` and `\\` escaped, and parentheses exactly where
//! the tree needs them: around an `or` inside an `and` or a `not`, around an
//! `and` inside a `not`, and around a chain nested in a chain of the same kind
//! (which only parentheses can produce, so printing them keeps the tree).

use std::fmt::{self, Write};

use super::ast::{Clause, Expr, ExprKind, Key, KeyKind, Str};

/// The filter text of `expr`.
pub fn print(expr: &Expr) -> String {
    expr.to_string()
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self)
    }
}

/// Binding strength: a child binding no tighter than its parent's level
/// needs parentheses.
fn level(e: &Expr) -> u8 {
    match e.kind {
        ExprKind::Or(_) => 1,
        ExprKind::And(_) => 2,
        ExprKind::Not(_) | ExprKind::Clause(_) => 3,
    }
}

fn write_child(f: &mut fmt::Formatter<'_>, child: &Expr, parent_level: u8) -> fmt::Result {
    if level(child) <= parent_level {
        f.write_char('(')?;
        write_expr(f, child)?;
        f.write_char(')')
    } else {
        write_expr(f, child)
    }
}

fn write_expr(f: &mut fmt::Formatter<'_>, e: &Expr) -> fmt::Result {
    match &e.kind {
        ExprKind::Or(items) | ExprKind::And(items) => {
            let (word, lvl) = if matches!(e.kind, ExprKind::Or(_)) { (" or ", 1) } else { (" and ", 2) };
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(word)?;
                }
                write_child(f, item, lvl)?;
            }
            Ok(())
        }
        ExprKind::Not(inner) => {
            f.write_str("not ")?;
            // `not not x` needs no parentheses; `not (a and b)` does.
            write_child(f, inner, 2)
        }
        ExprKind::Clause(c) => write_clause(f, c),
    }
}

fn write_clause(f: &mut fmt::Formatter<'_>, c: &Clause) -> fmt::Result {
    match c {
        Clause::All => f.write_str("all"),
        Clause::Compare { key, op, value } => {
            write_key(f, key)?;
            write!(f, " {} ", op.keyword())?;
            write_str(f, value)
        }
        Clause::In { key, values } => {
            write_key(f, key)?;
            f.write_str(" in ")?;
            write_list(f, values)
        }
        Clause::Has { key } => {
            f.write_str("has ")?;
            write_key(f, key)
        }
        Clause::HasRoles { roles } => {
            f.write_str("hasRoles ")?;
            write_list(f, roles)
        }
    }
}

fn write_key(f: &mut fmt::Formatter<'_>, key: &Key) -> fmt::Result {
    match &key.kind {
        KeyKind::Fixed(k) => f.write_str(k.name()),
        KeyKind::User(name) => f.write_str(name),
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[Str]) -> fmt::Result {
    f.write_char('[')?;
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_str(f, s)?;
    }
    f.write_char(']')
}

/// Writes a string in single quotes, escaping `'` and `\`.
fn write_str(f: &mut fmt::Formatter<'_>, s: &Str) -> fmt::Result {
    f.write_char('\'')?;
    for c in s.value.chars() {
        if matches!(c, '\'' | '\\') {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('\'')
}
