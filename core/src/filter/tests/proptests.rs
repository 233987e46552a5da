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

/// A direct reading of SPEC §3 over the syntax tree, with none of the
/// compiler's work (interning, folding, reordering, `ne` as `not eq`).
fn reference(e: &Expr, s: &crate::filter::testing::TestSession, i: &Interner) -> bool {
    use crate::props::PropertySource;
    let value = |k: &Key| -> Option<String> {
        match &k.kind {
            KeyKind::Fixed(f) => Some(s.fixed(*f).as_str().to_owned()),
            KeyKind::User(name) => i.get(name).and_then(|sym| s.user(sym)).map(str::to_owned),
        }
    };
    match &e.kind {
        ExprKind::Or(v) => v.iter().any(|e| reference(e, s, i)),
        ExprKind::And(v) => v.iter().all(|e| reference(e, s, i)),
        ExprKind::Not(e) => !reference(e, s, i),
        ExprKind::Clause(Clause::All) => true,
        ExprKind::Clause(Clause::Compare { key, op, value: want }) => {
            let got = value(key);
            match op {
                CompareOp::Is | CompareOp::Eq => got.as_deref() == Some(&*want.value),
                CompareOp::Ne => got.as_deref() != Some(&*want.value),
                CompareOp::Matches => got.is_some_and(|g| {
                    regex::Regex::new(&format!("^(?:{})$", want.value))
                        .expect("test patterns are valid")
                        .is_match(&g)
                }),
            }
        }
        ExprKind::Clause(Clause::In { key, values }) => {
            value(key).is_some_and(|g| values.iter().any(|v| *v.value == *g))
        }
        ExprKind::Clause(Clause::Has { key }) => value(key).is_some(),
        ExprKind::Clause(Clause::HasRoles { roles }) => {
            roles.iter().all(|r| i.get(&r.value).is_some_and(|sym| s.has_role(sym)))
        }
    }
}

/// Trees over the keys, values and roles of the fixture sessions, so that
/// clauses are true for some sessions and false for others.
fn fixture_expr() -> impl Strategy<Value = Expr> {
    let key = prop_oneof![
        Just(KeyKind::Fixed(FixedKey::Principal)),
        Just(KeyKind::Fixed(FixedKey::Country)),
        proptest::sample::select(vec!["Tier", "Dept", "Empty", "Missing"])
            .prop_map(|k| KeyKind::User(k.into())),
    ]
    .prop_map(|kind| Key { kind, span: Span::default() });
    let val = proptest::sample::select(vec!["1", "2", "10", "eng", "Eng", "", "alice", "bob", "DE"])
        .prop_map(|v| s(v.to_owned()));
    let pattern = proptest::sample::select(vec!["[0-9]+", ".*e.*", "(?i)eng", "", "a.*|b.*"])
        .prop_map(|v| s(v.to_owned()));
    let role = proptest::sample::select(vec!["CLIENT", "OPERATOR", "ADMINISTRATOR", "NOBODY"])
        .prop_map(|v| s(v.to_owned()));
    let op = proptest::sample::select(vec![CompareOp::Is, CompareOp::Eq, CompareOp::Ne]);
    let clause = prop_oneof![
        Just(Clause::All),
        (key.clone(), op, val.clone()).prop_map(|(key, op, value)| Clause::Compare { key, op, value }),
        (key.clone(), pattern).prop_map(|(key, value)| Clause::Compare {
            key,
            op: CompareOp::Matches,
            value
        }),
        (key.clone(), prop::collection::vec(val, 1..3)).prop_map(|(key, values)| Clause::In { key, values }),
        key.prop_map(|key| Clause::Has { key }),
        prop::collection::vec(role, 1..3).prop_map(|roles| Clause::HasRoles { roles }),
    ]
    .prop_map(|c| Expr { kind: ExprKind::Clause(c), span: Span::default() });
    clause.prop_recursive(5, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(ExprKind::Or),
            prop::collection::vec(inner.clone(), 2..4).prop_map(ExprKind::And),
            inner.prop_map(|e| ExprKind::Not(Box::new(e))),
        ]
        .prop_map(|kind| Expr { kind, span: Span::default() })
    })
}

proptest! {
    /// The compiled filter agrees with the reference reading on every
    /// fixture session.
    #[test]
    fn compiled_filters_agree_with_the_reference(e in fixture_expr()) {
        let (interner, sessions) = super::sessions();
        let text = print(&e);
        let f = compile(&text, &interner).expect("printed trees compile");
        for (name, s) in &sessions {
            prop_assert_eq!(f.matches(s), reference(&e, s, &interner), "{} on {}", text, name);
        }
    }
}
