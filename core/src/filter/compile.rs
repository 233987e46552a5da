//! The compiler: a syntax tree to the [`Node`] tree that [`super::eval`]
//! walks, plus the index hints.
//!
//! Compiling does every piece of work that evaluation would otherwise repeat:
//! user keys and role names become [`Sym`]s of the registry's [`Interner`]
//! (so evaluation compares integers), `ne` becomes `not eq`, regexes are
//! built once, constants are folded, and the operands of each `and`/`or` are
//! put cheapest first (they have no side effects, so order changes only speed).
//!
//! A name the interner cannot take (it is full) compiles to "absent", not to
//! an error: the registry interns every key and role a session holds in the
//! same table, and a full table admits no new name, so no session has that
//! key or role now or ever will. `k is 'x'` is then exactly `false`, `k ne 'x'`
//! exactly `true`, and the filter stays correct without growing the table.

use regex::{Regex, RegexBuilder};

use super::IndexHint;
use super::ast::{Clause, CompareOp, Expr, ExprKind, Key, KeyKind};
use super::error::{Problem, ProblemKind, REGEX_SIZE_LIMIT};
use crate::intern::{Interner, Sym};
use crate::props::FixedKey;

/// A compiled filter node.
#[derive(Debug)]
pub(crate) enum Node {
    /// Known without looking at the session.
    Const(bool),
    Or(Box<[Node]>),
    And(Box<[Node]>),
    Not(Box<Node>),
    /// The property is present and equal to the value.
    Eq(Prop, Box<str>),
    /// The property is present and equal to one of the values.
    In(Prop, Box<[Box<str>]>),
    /// The property is present and its whole value matches.
    Matches(Prop, Regex),
    /// The user property is present.
    Has(Sym),
    /// Every one of these roles is assigned.
    HasRoles(Box<[Sym]>),
}

/// Where a clause reads its value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prop {
    Fixed(FixedKey),
    User(Sym),
}

/// What a key resolves to.
enum Resolved {
    Prop(Prop),
    /// A user key no session can have (the interner is full).
    Absent,
}

pub(crate) struct Compiler<'a> {
    pub(crate) interner: &'a Interner,
    /// Intern new names (`true`), or only look them up (see
    /// [`super::compile_without_interning`]).
    pub(crate) intern: bool,
    pub(crate) problems: Vec<Problem>,
}

impl Compiler<'_> {
    /// The symbol of a user key or role name; `None` when no session can
    /// hold it (see the module docs).
    fn sym(&self, name: &str) -> Option<Sym> {
        if self.intern { self.interner.intern(name) } else { self.interner.get(name) }
    }

    pub(crate) fn expr(&mut self, e: &Expr) -> Node {
        match &e.kind {
            ExprKind::Or(items) => fold(items.iter().map(|i| self.expr(i)).collect(), false),
            ExprKind::And(items) => fold(items.iter().map(|i| self.expr(i)).collect(), true),
            ExprKind::Not(inner) => not(self.expr(inner)),
            ExprKind::Clause(c) => self.clause(c),
        }
    }

    fn key(&self, key: &Key) -> Resolved {
        match &key.kind {
            KeyKind::Fixed(k) => Resolved::Prop(Prop::Fixed(*k)),
            KeyKind::User(name) => self.sym(name).map_or(Resolved::Absent, |s| Resolved::Prop(Prop::User(s))),
        }
    }

    fn clause(&mut self, c: &Clause) -> Node {
        match c {
            Clause::All => Node::Const(true),
            Clause::Has { key } => match self.key(key) {
                Resolved::Prop(Prop::Fixed(_)) => Node::Const(true),
                Resolved::Prop(Prop::User(sym)) => Node::Has(sym),
                Resolved::Absent => Node::Const(false),
            },
            Clause::HasRoles { roles } => {
                let mut syms = Vec::with_capacity(roles.len());
                for role in roles {
                    match self.sym(&role.value) {
                        Some(sym) => syms.push(sym),
                        // See the module docs: no session can hold it.
                        None => return Node::Const(false),
                    }
                }
                syms.sort_unstable();
                syms.dedup();
                Node::HasRoles(syms.into())
            }
            Clause::In { key, values } => match self.key(key) {
                Resolved::Prop(p) => {
                    let mut vals: Vec<Box<str>> = values.iter().map(|v| v.value.clone()).collect();
                    vals.sort_unstable();
                    vals.dedup();
                    match <[Box<str>; 1]>::try_from(vals) {
                        Ok([one]) => Node::Eq(p, one),
                        Err(vals) => Node::In(p, vals.into()),
                    }
                }
                Resolved::Absent => Node::Const(false),
            },
            Clause::Compare { key, op, value } => {
                let prop = match self.key(key) {
                    Resolved::Prop(p) => Some(p),
                    Resolved::Absent => None,
                };
                let node = match op {
                    CompareOp::Is | CompareOp::Eq | CompareOp::Ne => {
                        prop.map_or(Node::Const(false), |p| Node::Eq(p, value.value.clone()))
                    }
                    CompareOp::Matches => match build_regex(&value.value) {
                        Ok(re) => prop.map_or(Node::Const(false), |p| Node::Matches(p, re)),
                        Err(msg) => {
                            self.problems.push(Problem::new(ProblemKind::BadRegex(msg), value.span));
                            Node::Const(false)
                        }
                    },
                };
                if *op == CompareOp::Ne { not(node) } else { node }
            }
        }
    }
}

/// Builds the regex for `pattern`, anchored to the whole value.
///
/// The pattern is first compiled on its own so that one which only compiles
/// once wrapped (`a)|(b`) is refused rather than silently changing meaning.
/// Both builds are bounded by [`REGEX_SIZE_LIMIT`] for the compiled program
/// and for the lazy DFA's cache.
pub(crate) fn build_regex(pattern: &str) -> Result<Regex, String> {
    let build =
        |p: &str| RegexBuilder::new(p).size_limit(REGEX_SIZE_LIMIT).dfa_size_limit(REGEX_SIZE_LIMIT).build();
    build(pattern).map_err(regex_message)?;
    build(&format!(r"\A(?:{pattern})\z")).map_err(regex_message)
}

/// A one-line message from a regex error (its syntax errors are multi-line
/// drawings of the pattern; the caret rendering is ours to do).
fn regex_message(e: regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .map_or_else(|| text.lines().last().unwrap_or("").trim().to_owned(), str::to_owned),
        regex::Error::CompiledTooBig(limit) => {
            format!("compiled size exceeds the limit of {limit} bytes")
        }
        other => other.to_string(),
    }
}

fn not(node: Node) -> Node {
    match node {
        Node::Const(b) => Node::Const(!b),
        Node::Not(inner) => *inner,
        other => Node::Not(Box::new(other)),
    }
}

/// An `and` (`is_and`) or `or` of `items`: constants folded away, nested
/// chains of the same kind flattened, cheapest operand first.
fn fold(items: Vec<Node>, is_and: bool) -> Node {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            // `true` in an `and` (`false` in an `or`) changes nothing.
            Node::Const(b) if b == is_and => {}
            // `false` in an `and` (`true` in an `or`) decides it.
            Node::Const(b) => return Node::Const(b),
            Node::And(inner) if is_and => out.extend(inner.into_vec()),
            Node::Or(inner) if !is_and => out.extend(inner.into_vec()),
            other => out.push(other),
        }
    }
    out.sort_by_key(cost);
    match out.len() {
        0 => Node::Const(is_and),
        1 => out.pop().unwrap_or(Node::Const(is_and)),
        _ if is_and => Node::And(out.into()),
        _ => Node::Or(out.into()),
    }
}

/// A rough relative cost of evaluating a node, for ordering operands.
/// Role tests read the session record itself; fixed properties are usually
/// stored inline; user properties need a search; formatted fixed values
/// (ids, addresses, times) are built on the stack; regexes cost the most.
fn cost(n: &Node) -> u32 {
    let prop = |p: &Prop| match p {
        Prop::Fixed(FixedKey::SessionId | FixedKey::ClientIp | FixedKey::StartTime) => 6,
        Prop::Fixed(_) => 3,
        Prop::User(_) => 4,
    };
    match n {
        Node::Const(_) => 0,
        Node::HasRoles(r) => 1 + r.len() as u32,
        Node::Has(_) => 3,
        Node::Eq(p, _) => prop(p),
        Node::In(p, v) => prop(p) + v.len() as u32 / 4,
        Node::Matches(p, _) => prop(p) + 20,
        Node::Not(inner) => cost(inner),
        Node::And(v) | Node::Or(v) => v.iter().map(cost).sum(),
    }
}

/// The top-level conjuncts of `e` that an index can answer.
pub(crate) fn index_hints(e: &Expr, interner: &Interner, out: &mut Vec<IndexHint>) {
    match &e.kind {
        ExprKind::And(items) => items.iter().for_each(|i| index_hints(i, interner, out)),
        ExprKind::Clause(Clause::Compare { key, op: CompareOp::Is | CompareOp::Eq, value }) => {
            match &key.kind {
                KeyKind::Fixed(FixedKey::Principal) => out.push(IndexHint::Principal(value.value.clone())),
                KeyKind::Fixed(_) => {}
                // `get`, not `intern`: compiling has interned it already, and a
                // key the full table refused gives no hint (it matches nothing).
                KeyKind::User(name) => {
                    if let Some(sym) = interner.get(name) {
                        out.push(IndexHint::UserEq(sym, value.value.clone()));
                    }
                }
            }
        }
        ExprKind::Clause(Clause::In { key, values }) => {
            let values = || values.iter().map(|v| v.value.clone()).collect();
            match &key.kind {
                KeyKind::Fixed(FixedKey::Principal) => out.push(IndexHint::PrincipalIn(values())),
                KeyKind::Fixed(_) => {}
                KeyKind::User(name) => {
                    if let Some(sym) = interner.get(name) {
                        out.push(IndexHint::UserIn(sym, values()));
                    }
                }
            }
        }
        ExprKind::Clause(Clause::HasRoles { roles }) => {
            out.extend(roles.iter().filter_map(|r| interner.get(&r.value)).map(IndexHint::Role));
        }
        _ => {}
    }
}
