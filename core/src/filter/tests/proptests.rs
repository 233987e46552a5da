//! Property tests: random trees print and parse back to the same tree, and
//! random text never panics the parser, the compiler or the renderer.

use proptest::prelude::*;

use super::super::ast::{Clause, CompareOp, Expr, ExprKind, Key, KeyKind, Span, Str};
use super::super::{compile, parse, print, render};
use crate::intern::Interner;
use crate::props::{FixedKey, is_filter_keyword};

fn s(value: String) -> Str {
    Str { value: value.into(), span: Span::default() }
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        proptest::sample::select(FixedKey::ALL.to_vec()).prop_map(KeyKind::Fixed),
        "[A-Za-z_][A-Za-z0-9_.-]{0,12}"
            .prop_filter("not a keyword", |k| !is_filter_keyword(k))
            .prop_map(|k| KeyKind::User(k.into())),
    ]
    .prop_map(|kind| Key { kind, span: Span::default() })
}

fn value() -> impl Strategy<Value = Str> {
    // Quotes, backslashes, keywords, brackets, newlines and non-ASCII: the
    // characters a printer could get wrong.
    prop_oneof!["[a-z'\"\\\\()\\[\\], \n$é]{0,10}", any::<String>(), Just("and".to_owned())].prop_map(s)
}

fn role() -> impl Strategy<Value = Str> {
    "[A-Za-z0-9_.-]{1,10}".prop_map(s)
}

fn clause() -> impl Strategy<Value = Expr> {
    let op = proptest::sample::select(vec![CompareOp::Is, CompareOp::Eq, CompareOp::Ne, CompareOp::Matches]);
    prop_oneof![
        Just(Clause::All),
        (key(), op, value()).prop_map(|(key, op, value)| Clause::Compare { key, op, value }),
        (key(), prop::collection::vec(value(), 1..4)).prop_map(|(key, values)| Clause::In { key, values }),
        key().prop_map(|key| Clause::Has { key }),
        prop::collection::vec(role(), 1..4).prop_map(|roles| Clause::HasRoles { roles }),
    ]
    .prop_map(|c| Expr { kind: ExprKind::Clause(c), span: Span::default() })
}

fn expr() -> impl Strategy<Value = Expr> {
    clause().prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(ExprKind::Or),
            prop::collection::vec(inner.clone(), 2..4).prop_map(ExprKind::And),
            inner.prop_map(|e| ExprKind::Not(Box::new(e))),
        ]
        .prop_map(|kind| Expr { kind, span: Span::default() })
    })
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(e in expr()) {
        let text = print(&e);
        let back = parse(&text);
        prop_assert!(back.is_ok(), "{text:?}: {:?}", back.err());
        prop_assert_eq!(back.expect("checked").without_spans(), e);
    }

    #[test]
    fn any_text_is_handled(text in any::<String>()) {
        check_no_panic(&text);
    }

    #[test]
    fn filter_like_text_is_handled(
        text in "([a-zA-Z$_]{1,6}|'[^']{0,4}'|\"[^\"]{0,4}\"|[()\\[\\],\\\\\n ]|and|or|not|is|ne|in|has|hasRoles|all|matches| ){0,24}"
    ) {
        check_no_panic(&text);
    }
}

/// Parsing, compiling and rendering never panic; every problem lies within
/// the text (a column past the last character at most).
fn check_no_panic(text: &str) {
    let _ = parse(text);
    if let Err(e) = compile(text, &Interner::default()) {
        assert!(!e.problems.is_empty());
        let lines: Vec<&str> = text.split('\n').collect();
        for p in &e.problems {
            let line = lines.get(p.line as usize - 1).expect("line within the text");
            assert!(p.column as usize <= line.chars().count() + 1, "{p} in {text:?}");
        }
        let _ = render(text, &e.problems);
    }
}
