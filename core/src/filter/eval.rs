//! Evaluation of a compiled filter against one session.
//!
//! Nothing here allocates: values are borrowed from the session (or formatted
//! into a stack buffer by it, see [`PropValue`]), keys and roles are compared
//! as integers, and strings as bytes. `matches` uses the regex's own cache,
//! which the regex crate keeps per thread and reuses: its first use on a
//! thread, and lazy-DFA states not seen before, allocate (bounded by the
//! 256 KiB cache limit); after that, matching allocates nothing.
//!
//! Recursion depth is bounded by the parser's nesting limit (64), so the
//! stack use of [`Node::eval`] is bounded too.

use super::compile::{Node, Prop};
use crate::props::{PropValue, PropertySource};

impl Prop {
    #[inline]
    fn get<'s, S: PropertySource + ?Sized>(self, session: &'s S) -> Option<PropValue<'s>> {
        match self {
            Prop::Fixed(k) => Some(session.fixed(k)),
            Prop::User(sym) => session.user(sym).map(PropValue::Str),
        }
    }
}

/// [`PropValue::as_str`], inlined here: the common case, a borrowed `str`,
/// then costs no call on the hot path.
#[inline(always)]
fn text<'a>(v: &'a PropValue<'_>) -> &'a str {
    match v {
        PropValue::Str(s) => s,
        PropValue::Inline(t) => t.as_str(),
    }
}

impl Node {
    /// True when `session` satisfies this node.
    ///
    /// Only `and`, `or` and `not` recurse; leaves are evaluated inline in the
    /// loops over operands, so the common "and of a few clauses" costs one
    /// call rather than one per clause (each call of this function would
    /// otherwise pay for the stack frame the widest leaf needs).
    pub(crate) fn eval<S: PropertySource + ?Sized>(&self, session: &S) -> bool {
        match self {
            Node::And(items) => items.iter().all(|n| n.eval_inline(session)),
            Node::Or(items) => items.iter().any(|n| n.eval_inline(session)),
            Node::Not(inner) => !inner.eval_inline(session),
            leaf => leaf.leaf(session),
        }
    }

    #[inline(always)]
    fn eval_inline<S: PropertySource + ?Sized>(&self, session: &S) -> bool {
        match self {
            Node::And(_) | Node::Or(_) | Node::Not(_) => self.eval(session),
            leaf => leaf.leaf(session),
        }
    }

    #[inline(always)]
    fn leaf<S: PropertySource + ?Sized>(&self, session: &S) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::Eq(p, want) => p.get(session).is_some_and(|v| text(&v).as_bytes() == want.as_bytes()),
            Node::In(p, wants) => p.get(session).is_some_and(|v| {
                let v = text(&v).as_bytes();
                wants.iter().any(|w| w.as_bytes() == v)
            }),
            Node::Matches(p, re) => p.get(session).is_some_and(|v| re.is_match(text(&v))),
            Node::Has(sym) => session.user(*sym).is_some(),
            Node::HasRoles(roles) => roles.iter().all(|r| session.has_role(*r)),
            // Not leaves; `eval` handles them before calling this.
            Node::And(_) | Node::Or(_) | Node::Not(_) => self.eval(session),
        }
    }
}
