//! The evaluation table: `(filter, sessions that match)` over a fixed set of
//! sessions, so every case also asserts which sessions do *not* match.

use super::{NAMES, compile_ok, sessions};

/// `(filter, names of the matching sessions)`.
const CASES: &[(&str, &[&str])] = &[
    // all
    ("all", NAMES),
    ("ALL", NAMES),
    ("not all", &[]),
    // is / eq on fixed properties
    ("$Principal is 'alice'", &["alice"]),
    ("$Principal eq 'alice'", &["alice"]),
    ("$Principal IS 'alice'", &["alice"]),
    ("$Principal Eq \"alice\"", &["alice"]),
    ("$Principal is 'Alice'", &["dave"]),
    ("$Principal is ''", &["anon"]),
    ("$Principal is 'nobody'", &[]),
    ("$Country is 'DE'", &["dave"]),
    ("$Country is ''", &["alice", "bob", "carol", "anon", "eve"]),
    ("$ClientType is 'PYTHON'", &["bob"]),
    // ne
    ("$Principal ne 'alice'", &["bob", "carol", "anon", "dave", "eve"]),
    ("$Principal NE 'alice'", &["bob", "carol", "anon", "dave", "eve"]),
    ("Tier ne '1'", &["bob", "carol", "anon", "eve"]),
    ("Dept ne 'eng'", &["bob", "carol", "anon", "dave"]),
    // user properties, case-sensitive keys and values
    ("Tier is '1'", &["alice", "dave"]),
    ("Tier is '10'", &["eve"]),
    ("tier is '1'", &[]),
    ("Dept is 'eng'", &["alice", "eve"]),
    ("Dept is 'Eng'", &["carol"]),
    ("Dept is 'ENG'", &[]),
    ("Empty is ''", &["carol"]),
    ("a.b-c_d is 'x'", &["bob"]),
    ("_private is 'y'", &["eve"]),
    // missing properties
    ("Missing is 'x'", &[]),
    ("Missing ne 'x'", NAMES),
    ("Missing in ['x', '']", &[]),
    ("Missing matches '.*'", &[]),
    ("Missing is ''", &[]),
    ("not Missing is 'x'", NAMES),
    ("Tier is '1' or Missing ne 'x'", NAMES),
    // in
    ("Tier in ['1', '2']", &["alice", "bob", "dave"]),
    ("Tier IN ['3']", &["carol"]),
    ("Tier in ['1','2','3','10']", &["alice", "bob", "carol", "dave", "eve"]),
    ("Tier in ['4']", &[]),
    ("$Principal in ['alice', 'bob', '']", &["alice", "bob", "anon"]),
    ("Tier in ['1', '1']", &["alice", "dave"]),
    ("not Tier in ['1', '2']", &["carol", "anon", "eve"]),
    // has
    ("has Tier", &["alice", "bob", "carol", "dave", "eve"]),
    ("HAS Empty", &["carol"]),
    ("has Missing", &[]),
    ("has $Country", NAMES),
    ("not has Tier", &["anon"]),
    // matches: whole value, linear-time engine
    ("$Principal matches 'a.*'", &["alice"]),
    ("$Principal matches 'lic'", &[]),
    ("$Principal matches '.*lic.*'", &["alice", "dave"]),
    ("$Principal matches '(?i)alice'", &["alice", "dave"]),
    ("Tier matches '[0-9]'", &["alice", "bob", "carol", "dave"]),
    ("Tier matches '[0-9]+'", &["alice", "bob", "carol", "dave", "eve"]),
    ("Tier MATCHES '1|10'", &["alice", "dave", "eve"]),
    (r"Tier matches '\\d+'", &["alice", "bob", "carol", "dave", "eve"]),
    (r"Tier matches '\\d'", &["alice", "bob", "carol", "dave"]),
    ("Multi matches 'a.b'", &[]),
    ("Multi matches '(?s)a.b'", &["eve"]),
    ("Multi matches 'a$'", &[]),
    ("$Principal matches ''", &["anon"]),
    ("$Principal matches 'a' or $Principal matches 'alice'", &["alice"]),
    // hasRoles: every listed role, assigned roles only
    ("hasRoles ['CLIENT']", &["alice", "bob", "anon"]),
    ("HASROLES ['CLIENT', 'OPERATOR']", &["bob"]),
    ("hasroles ['OPERATOR']", &["bob", "eve"]),
    ("hasRoles ['client']", &[]),
    ("hasRoles ['CLIENT_CONTROL']", &[]),
    ("hasRoles ['ADMINISTRATOR']", &["carol"]),
    ("not hasRoles ['CLIENT']", &["carol", "dave", "eve"]),
    ("hasRoles ['CLIENT', 'CLIENT']", &["alice", "bob", "anon"]),
    // $Roles compares the canonical text
    ("$Roles is '\"CLIENT\"'", &["alice", "anon"]),
    ("$Roles is '\"CLIENT\",\"OPERATOR\"'", &["bob"]),
    ("$Roles is \"\\\"CLIENT\\\",\\\"OPERATOR\\\"\"", &["bob"]),
    ("$Roles is '\"OPERATOR\",\"CLIENT\"'", &[]),
    ("$Roles is ''", &["dave"]),
    ("$Roles matches '.*\"OPERATOR\".*'", &["bob", "eve"]),
    // escapes
    (r"Name is 'O\'Brien'", &["alice"]),
    (r#"Name is "O'Brien""#, &["alice"]),
    (r"Path is 'C:\\x'", &["alice"]),
    (r#"Quote is 'say "hi"'"#, &["bob"]),
    (r#"Quote is "say \"hi\"""#, &["bob"]),
    (r#"Quote is 'say \"hi\"'"#, &["bob"]),
    // and / or / not, precedence and parentheses
    ("Tier is '1' and Dept is 'eng'", &["alice"]),
    ("Tier is '1' AND $Country is 'DE'", &["dave"]),
    ("Tier is '1' or Tier is '2'", &["alice", "bob", "dave"]),
    ("Tier is '2' or Tier is '1' and Dept is 'eng'", &["alice", "bob"]),
    ("(Tier is '2' or Tier is '1') and Dept is 'eng'", &["alice"]),
    ("Tier is '1' and Dept is 'eng' or Tier is '2'", &["alice", "bob"]),
    ("Tier is '1' and (Dept is 'eng' or Tier is '2')", &["alice"]),
    ("not Tier is '1' and has Tier", &["bob", "carol", "eve"]),
    ("not (Tier is '1' and has Dept)", &["bob", "carol", "anon", "dave", "eve"]),
    ("not not Tier is '1'", &["alice", "dave"]),
    ("NOT NOT NOT Tier is '1'", &["bob", "carol", "anon", "eve"]),
    ("((Tier is '3'))", &["carol"]),
    ("(Tier is '3') or ((($Principal is 'bob')))", &["bob", "carol"]),
    ("all and Tier is '3'", &["carol"]),
    ("not all or Tier is '3'", &["carol"]),
    ("Tier is '1' or Tier is '2' or Tier is '3' or Tier is '10'", &["alice", "bob", "carol", "dave", "eve"]),
    ("hasRoles ['CLIENT'] and not $Principal is ''", &["alice", "bob"]),
    // the P5 benchmark's shape
    ("$Principal is 'alice' and hasRoles ['CLIENT'] and Tier in ['1','2']", &["alice"]),
    // whitespace and lines
    ("  Tier\n is\t'1'\r\n and\n\nDept is 'eng'  ", &["alice"]),
    ("Tier is '1'and Dept is'eng'", &["alice"]),
    ("(Tier is '1')or(Tier is '2')", &["alice", "bob", "dave"]),
    // values are not keywords, keys may contain keyword text
    ("Dept in ['and', 'or']", &[]),
    ("notes is 'x'", &["carol"]),
    ("isX is 'y'", &[]),
    // non-ASCII values
    ("Greeting is 'grüß dich'", &["dave"]),
    ("Greeting matches 'gr.ß dich'", &["dave"]),
];

#[test]
fn evaluation_table() {
    let (interner, sessions) = sessions();
    let mut failures = Vec::new();
    for (filter, expected) in CASES {
        let f = compile_ok(filter, &interner);
        let got: Vec<&str> = sessions.iter().filter(|(_, s)| f.matches(s)).map(|(n, _)| *n).collect();
        let mut want: Vec<&str> = expected.to_vec();
        want.sort_unstable_by_key(|n| NAMES.iter().position(|m| m == n));
        if got != want {
            failures.push(format!("{filter:?}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
    assert!(CASES.len() >= 80, "the table is the specification; keep it thorough");
}

/// Every case prints to text that compiles to a filter selecting the same
/// sessions, and parses back to the same tree.
#[test]
fn evaluation_table_survives_printing() {
    let (interner, sessions) = sessions();
    for (filter, _) in CASES {
        let original = compile_ok(filter, &interner);
        let printed = original.to_string();
        let again = compile_ok(&printed, &interner);
        assert_eq!(again.ast().without_spans(), original.ast().without_spans(), "{filter:?} -> {printed:?}");
        for (name, s) in &sessions {
            assert_eq!(original.matches(s), again.matches(s), "{filter:?} -> {printed:?} on {name}");
        }
    }
}
