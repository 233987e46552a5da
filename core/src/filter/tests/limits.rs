//! The limits (text, depth, clauses, `matches`), refusing deep nesting on a
//! small stack, index hints, a full interner, and the printer's output.

use super::super::{IndexHint, MAX_CLAUSES, MAX_DEPTH, MAX_MATCHES, MAX_TEXT_BYTES, compile, parse, print};
use super::{compile_ok, sessions};
use crate::intern::Interner;

fn first_problem(text: &str) -> (u32, u32, String) {
    let e = compile(text, &Interner::default()).expect_err("over a limit");
    let p = e.problems.into_iter().next().expect("a problem");
    (p.line, p.column, p.message)
}

#[test]
fn text_limit() {
    let at_limit = format!("all{}", " ".repeat(MAX_TEXT_BYTES - 3));
    assert!(compile(&at_limit, &Interner::default()).is_ok());
    let over = format!("{at_limit} ");
    assert_eq!(first_problem(&over), (1, 1, "filter too long: at most 65536 bytes".into()));
}

#[test]
fn depth_limit_counts_parentheses_and_not() {
    let i = Interner::default();
    let nots = |n: usize| format!("{}all", "not ".repeat(n));
    let parens = |n: usize| format!("{}all{}", "(".repeat(n), ")".repeat(n));
    assert!(compile(&nots(MAX_DEPTH), &i).is_ok());
    assert!(compile(&parens(MAX_DEPTH), &i).is_ok());
    let msg = "filter nested too deeply: at most 64 levels of '(' and 'not'".to_owned();
    assert_eq!(first_problem(&nots(MAX_DEPTH + 1)), (1, 257, msg.clone()));
    assert_eq!(first_problem(&parens(MAX_DEPTH + 1)), (1, 65, msg.clone()));
    // Mixed: 32 `(not ` pairs are 64 levels; one more `not` is too many.
    let mixed = format!("{}all{}", "(not ".repeat(32), ")".repeat(32));
    assert!(compile(&mixed, &i).is_ok());
    let mixed = format!("{}not all{}", "(not ".repeat(32), ")".repeat(32));
    assert_eq!(first_problem(&mixed), (1, 161, msg));
    // Depth is nesting, not count: many shallow groups are fine.
    let wide = vec!["(not all)"; 500].join(" or ");
    assert!(compile(&wide, &i).is_ok());
}

/// 10,000 levels are refused cleanly, and parsing, compiling, evaluating and
/// printing at the limit all fit in a small stack.
#[test]
fn deep_nesting_is_refused_on_a_small_stack() {
    let worker = std::thread::Builder::new().stack_size(256 * 1024).spawn(|| {
        let i = Interner::default();
        for deep in [
            format!("{}a is 'x'{}", "(".repeat(10_000), ")".repeat(10_000)),
            format!("{}a is 'x'", "not ".repeat(10_000)),
            format!("{}a is 'x'", "(not ".repeat(5_000)),
            "(".repeat(60_000),
        ] {
            let e = compile(&deep, &i).expect_err("too deep");
            assert_eq!(e.problems.len(), 1, "{:?}", e.problems);
            assert!(e.problems[0].message.starts_with("filter nested too deeply"));
            let _ = e.render(&deep);
        }
        let (i, sessions) = sessions();
        let at_limit = format!("{}not Tier is '1'{}", "(".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
        let f = compile_ok(&at_limit, &i);
        let matched = sessions.iter().filter(|(_, s)| f.matches(s)).count();
        assert_eq!(matched, 4);
        let printed = print(f.ast());
        assert_eq!(printed, "not Tier is '1'");
        let nots = format!("{}Tier is '1'", "not ".repeat(MAX_DEPTH));
        assert_eq!(print(&parse(&nots).expect("at the limit")), nots);
    });
    worker.expect("spawn").join().expect("no stack overflow or panic");
}

/// Problems are capped, and finding their positions stays linear: 64 KiB of
/// stray characters on many lines is refused quickly with the first 20.
#[test]
fn problems_are_capped() {
    let text = "&\n".repeat(MAX_TEXT_BYTES / 2);
    let start = std::time::Instant::now();
    let e = compile(&text, &Interner::default()).expect_err("all bad");
    assert!(start.elapsed() < std::time::Duration::from_secs(2), "took {:?}", start.elapsed());
    assert_eq!(e.problems.len(), super::super::error::MAX_PROBLEMS);
    let last = e.problems.last().expect("some");
    assert_eq!((last.line, last.column, last.message.as_str()), (20, 1, "unexpected character '&'"));
}

#[test]
fn clause_limit() {
    let i = Interner::default();
    let n = |n: usize| vec!["all"; n].join(" or ");
    assert!(compile(&n(MAX_CLAUSES), &i).is_ok());
    assert_eq!(
        first_problem(&n(MAX_CLAUSES + 1)),
        (1, 7001, "too many clauses: at most 1000 per filter".into())
    );
}

#[test]
fn matches_limit() {
    let i = Interner::default();
    let n = |n: usize| vec!["k matches 'a+'"; n].join(" and ");
    assert!(compile(&n(MAX_MATCHES), &i).is_ok());
    // The 17th `matches` keyword: 16 clauses of 19 characters plus " and ".
    let e = compile(&n(MAX_MATCHES + 1), &i).expect_err("too many");
    let p: Vec<_> = e.problems.iter().map(|p| (p.line, p.column, p.message.as_str())).collect();
    assert_eq!(p, vec![(1, 16 * 19 + 3, "too many 'matches' clauses: at most 16 per filter")]);
}

#[test]
fn index_hints_come_from_top_level_conjuncts() {
    let i = Interner::default();
    let f =
        compile_ok("$Principal is 'a' and (hasRoles ['R1', 'R2'] and Tier eq '1') and $Country is 'DE'", &i);
    let sym = |n: &str| i.get(n).expect("interned by compile");
    assert_eq!(
        f.index_hints(),
        &[
            IndexHint::Principal("a".into()),
            IndexHint::Role(sym("R1")),
            IndexHint::Role(sym("R2")),
            IndexHint::UserEq(sym("Tier"), "1".into()),
        ]
    );
    assert_eq!(compile_ok("$Principal eq 'b'", &i).index_hints(), &[IndexHint::Principal("b".into())]);
    assert_eq!(
        compile_ok("$Principal in ['b', 'c'] and Tier in ['1']", &i).index_hints(),
        &[
            IndexHint::PrincipalIn(["b".into(), "c".into()].into()),
            IndexHint::UserIn(sym("Tier"), ["1".into()].into())
        ]
    );
    for none in [
        "$Principal is 'a' or Tier is '1'",
        "not $Principal is 'a'",
        "Tier ne '1'",
        "Tier matches '1'",
        "has Tier",
        "all",
        "not hasRoles ['R1']",
    ] {
        assert_eq!(compile_ok(none, &i).index_hints(), &[], "{none}");
    }
}

/// A full interner cannot take a new key or role; no session can have one,
/// so such clauses are constants rather than errors.
#[test]
fn full_interner_names_match_nothing() {
    let (i, sessions) = sessions();
    let full = Interner::with_capacity(i.len());
    for n in 0..i.len() {
        full.intern(&i.resolve(crate::intern::Sym(n as u32)).expect("name")).expect("room");
    }
    let count = |text: &str| {
        let f = compile(text, &full).expect("compiles");
        sessions.iter().filter(|(_, s)| f.matches(s)).count()
    };
    assert_eq!(count("Unknown is 'x'"), 0);
    assert_eq!(count("Unknown ne 'x'"), 6);
    assert_eq!(count("has Unknown"), 0);
    assert_eq!(count("Unknown in ['x']"), 0);
    assert_eq!(count("Unknown matches '.*'"), 0);
    assert_eq!(count("hasRoles ['CLIENT', 'NEW_ROLE']"), 0);
    assert_eq!(count("not hasRoles ['NEW_ROLE']"), 6);
    assert_eq!(count("Tier is '1'"), 2);
    assert_eq!(full.len(), i.len(), "nothing new was interned");
    assert_eq!(compile("Unknown is 'x' and $Principal is 'a'", &full).expect("ok").index_hints().len(), 1);
}

/// One-shot compilation looks names up: unknown names match nothing and the
/// interner does not grow; known ones behave as with `compile`.
#[test]
fn compile_without_interning_does_not_grow_the_table() {
    let (i, sessions) = sessions();
    let before = i.len();
    for (text, want) in [
        ("NeverSeen is 'x'", 0),
        ("NeverSeen ne 'x'", 6),
        ("hasRoles ['NEVER_SEEN']", 0),
        ("not hasRoles ['NEVER_SEEN'] and Tier is '1'", 2),
        ("hasRoles ['CLIENT'] and has Tier", 2),
    ] {
        let f = super::super::compile_without_interning(text, &i).expect("valid");
        assert_eq!(sessions.iter().filter(|(_, s)| f.matches(s)).count(), want, "{text}");
    }
    assert_eq!(i.len(), before);
    assert!(super::super::compile_without_interning("a is", &i).is_err());
}

#[test]
fn printer_canonical_form() {
    for (text, printed) in [
        ("A IS 'x' AnD B Eq \"y\"", "A is 'x' and B eq 'y'"),
        ("a is 'x' or b is 'y' and c is 'z'", "a is 'x' or b is 'y' and c is 'z'"),
        ("(a is 'x' or b is 'y') and c is 'z'", "(a is 'x' or b is 'y') and c is 'z'"),
        ("a is 'x' or (b is 'y' or c is 'z')", "a is 'x' or (b is 'y' or c is 'z')"),
        ("NOT (a is 'x' and b ne 'y')", "not (a is 'x' and b ne 'y')"),
        ("not not has k", "not not has k"),
        ("((all))", "all"),
        ("HASROLES['A','B']", "hasRoles ['A', 'B']"),
        ("k in [\"it's\",'a\\\\b', '\"']", r#"k in ['it\'s', 'a\\b', '"']"#),
        ("$Roles MATCHES '.*'", "$Roles matches '.*'"),
    ] {
        let e = parse(text).expect("valid");
        assert_eq!(print(&e), printed, "{text}");
        assert_eq!(parse(printed).expect("printed parses").without_spans(), e.without_spans());
    }
}

#[test]
fn spans_point_at_the_source() {
    use crate::filter::ast::{Clause, ExprKind};
    let text = "x is 'y' or (hasRoles ['A'] and not has z)";
    let e = parse(text).expect("valid");
    let src = |s: crate::filter::ast::Span| &text[s.start as usize..s.end as usize];
    assert_eq!(src(e.span), text);
    let ExprKind::Or(items) = &e.kind else { panic!("an or") };
    assert_eq!(src(items[0].span), "x is 'y'");
    assert_eq!(src(items[1].span), "(hasRoles ['A'] and not has z)");
    let ExprKind::Clause(Clause::Compare { key, value, .. }) = &items[0].kind else { panic!("a compare") };
    assert_eq!((src(key.span), src(value.span)), ("x", "'y'"));
    let ExprKind::And(inner) = &items[1].kind else { panic!("an and") };
    assert_eq!(src(inner[1].span), "not has z");
}
