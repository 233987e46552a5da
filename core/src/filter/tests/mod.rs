//! Tests of the filter language: the evaluation table, the error table, the
//! limits, and property tests of the printer and the parser.

mod cases;
mod errors;
mod limits;
mod proptests;

use super::testing::TestSession;
use super::{CompiledFilter, compile};
use crate::intern::Interner;
use crate::props::FixedKey;

/// The sessions every table case runs against, in this order.
pub(super) const NAMES: &[&str] = &["alice", "bob", "carol", "anon", "dave", "eve"];

pub(super) fn sessions() -> (Interner, Vec<(&'static str, TestSession)>) {
    let i = Interner::default();
    let s = |name: &str| TestSession::new(&i).principal(name).fixed(FixedKey::ClientType, "RUST");
    let sessions = vec![
        (
            "alice",
            s("alice")
                .roles(&["CLIENT"])
                .user("Tier", "1")
                .user("Dept", "eng")
                .user("Name", "O'Brien")
                .user("Path", r"C:\x"),
        ),
        (
            "bob",
            s("bob")
                .roles(&["OPERATOR", "CLIENT"])
                .fixed(FixedKey::ClientType, "PYTHON")
                .user("Tier", "2")
                .user("Dept", "sales")
                .user("Quote", r#"say "hi""#)
                .user("a.b-c_d", "x"),
        ),
        (
            "carol",
            s("carol")
                .roles(&["ADMINISTRATOR"])
                .user("Tier", "3")
                .user("Dept", "Eng")
                .user("Empty", "")
                .user("notes", "x"),
        ),
        ("anon", s("").roles(&["CLIENT"])),
        (
            "dave",
            s("Alice")
                .roles(&[])
                .user("Tier", "1")
                .fixed(FixedKey::Country, "DE")
                .user("Greeting", "grüß dich"),
        ),
        (
            "eve",
            s("eve")
                .roles(&["OPERATOR"])
                .user("Tier", "10")
                .user("Dept", "eng")
                .user("_private", "y")
                .user("Multi", "a\nb"),
        ),
    ];
    (i, sessions)
}

pub(super) fn compile_ok(text: &str, interner: &Interner) -> CompiledFilter {
    match compile(text, interner) {
        Ok(f) => f,
        Err(e) => panic!("{text:?} should compile:\n{}", e.render(text)),
    }
}
