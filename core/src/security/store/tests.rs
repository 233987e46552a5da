//! Unit tests of the store: every refusal, the redactions, the embedded store.

use super::*;

const HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Z0q3C5q7p6V8l3r7d1x8mN7o0kq1o2o3o4o5o6o7o8o";

fn store(text: &str) -> Result<SecurityStore, StoreError> {
    SecurityStore::from_toml(&text.replace("HASH", HASH))
}

fn refused(text: &str) -> StoreError {
    match store(text) {
        Ok(s) => panic!("expected a refusal, loaded {s:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_full_store_loads() {
    let s = store(
        r#"
        [anonymous]
        roles = ["CLIENT"]

        [principals.alice]
        password_hash = "HASH"
        roles = ["ANALYST", "CLIENT"]

        [principals."bob.smith@example.com"]
        password_hash = "HASH"

        [roles.ANALYST]
        global = ["VIEW_SESSION"]
        default_path = ["READ_TOPIC"]
        includes = ["CLIENT"]

        [roles.ANALYST.paths]
        "prices/internal" = []
        "prices/internal/public" = ["READ_TOPIC", "SELECT_TOPIC"]
        "#,
    )
    .expect("valid store");
    assert_eq!(s.anonymous, AnonymousPolicy::Roles(vec!["CLIENT".into()]));
    let alice = s.principal("alice").expect("alice");
    assert_eq!(alice.roles(), ["ANALYST", "CLIENT"]);
    assert_eq!(alice.password_hash(), HASH);
    assert_eq!(s.principal("bob.smith@example.com").map(|p| p.roles().len()), Some(0));
    assert!(s.principal("Alice").is_none(), "names are case-sensitive");
    let analyst = s.roles.permissions(&["ANALYST"]);
    assert!(analyst.has(GlobalPermission::ViewSession));
    // CLIENT is included, so SELECT is granted by default even though
    // ANALYST's own paths assign nothing at prices/internal.
    assert_eq!(analyst.at("prices/internal/x"), PathPermissions::READ_TOPIC | PathPermissions::SELECT_TOPIC);
    assert!(s.roles.is_defined("OPERATOR"), "predefined roles stay");
}

#[test]
fn anonymous_policy() {
    assert_eq!(store("").expect("empty store").anonymous, AnonymousPolicy::Deny, "deny by default");
    assert_eq!(store("[anonymous]\ndeny = true").expect("deny").anonymous, AnonymousPolicy::Deny);
    assert_eq!(store("[anonymous]").expect("no roles").anonymous, AnonymousPolicy::Roles(vec![]));
    assert_eq!(
        store("[anonymous]\ndeny = false\nroles = [\"CLIENT\"]").expect("roles").anonymous,
        AnonymousPolicy::Roles(vec!["CLIENT".into()])
    );
    assert!(matches!(refused("[anonymous]\ndeny = true\nroles = []"), StoreError::AnonymousConflict));
    let err = refused("[anonymous]\nroles = [\"GHOST\"]");
    assert!(
        matches!(&err, StoreError::UnknownRole { referrer: Referrer::Anonymous, role } if role == "GHOST"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "[anonymous] refers to role GHOST, which is not defined");
    let err = refused("[anonymous]\nroles = [\"NO SPACES\"]");
    assert!(matches!(err, StoreError::BadRoleName { referrer: Referrer::Anonymous, .. }), "{err:?}");
}

#[test]
fn unknown_role_references_name_who_refers() {
    let err = refused("[principals.alice]\npassword_hash = \"HASH\"\nroles = [\"CLIENT\", \"GHOST\"]");
    assert!(
        matches!(&err, StoreError::UnknownRole { referrer: Referrer::Principal(p), role } if p == "alice" && role == "GHOST"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "principal \"alice\" refers to role GHOST, which is not defined");
    let err = refused("[roles.A]\nincludes = [\"GHOST\"]");
    assert!(
        matches!(&err, StoreError::Role(RoleError::UnknownInclude { role, included }) if role == "A" && included == "GHOST"),
        "{err:?}"
    );
}

#[test]
fn cycles_in_the_store() {
    let err = refused("[roles.A]\nincludes = [\"A\"]");
    assert_eq!(err.to_string(), "roles include each other in a cycle: A -> A");
    let err = refused("[roles.A]\nincludes = [\"B\"]\n[roles.B]\nincludes = [\"A\"]");
    assert_eq!(err.to_string(), "roles include each other in a cycle: A -> B -> A");
    let err = refused(
        "[roles.A]\nincludes = [\"B\"]\n[roles.B]\nincludes = [\"C\"]\n[roles.C]\nincludes = [\"A\"]",
    );
    assert_eq!(err.to_string(), "roles include each other in a cycle: A -> B -> C -> A");
    // Through an overridden predefined role.
    let err = refused("[roles.CLIENT]\nincludes = [\"MINE\"]\n[roles.MINE]\nincludes = [\"CLIENT\"]");
    assert!(matches!(err, StoreError::Role(RoleError::Cycle { .. })), "{err:?}");
}

#[test]
fn bad_permission_names() {
    let err = refused("[roles.A]\nglobal = [\"VIEW_SESSION\", \"VIEW_SESSIONS\"]");
    assert!(
        matches!(&err, StoreError::BadPermission { role, list, word } if role == "A" && list == "global" && word == "VIEW_SESSIONS"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "role A, global: unknown permission \"VIEW_SESSIONS\"");
    let err = refused("[roles.A]\nglobal = [\"READ_TOPIC\"]");
    assert_eq!(
        err.to_string(),
        "role A, global: unknown permission \"READ_TOPIC\" (it is a path permission)"
    );
    let err = refused("[roles.A]\ndefault_path = [\"VIEW_SERVER\"]");
    assert_eq!(
        err.to_string(),
        "role A, default_path: unknown permission \"VIEW_SERVER\" (it is a global permission)"
    );
    let err = refused("[roles.A.paths]\n\"a/b\" = [\"read_topic\"]");
    assert_eq!(err.to_string(), "role A, paths.\"a/b\": unknown permission \"read_topic\"");
}

#[test]
fn bad_names_and_paths() {
    let err = refused("[roles.\"NOT VALID\"]");
    assert!(matches!(&err, StoreError::Role(RoleError::BadName(n)) if n == "NOT VALID"), "{err:?}");
    let err = refused(&format!("[roles.{}]", "A".repeat(65)));
    assert!(matches!(err, StoreError::Role(RoleError::BadName(_))), "{err:?}");
    let err = refused("[principals.alice]\npassword_hash = \"HASH\"\nroles = [\"bad role\"]");
    assert!(matches!(err, StoreError::BadRoleName { referrer: Referrer::Principal(_), .. }), "{err:?}");
    let err = refused("[principals.\"\"]\npassword_hash = \"HASH\"");
    assert!(matches!(err, StoreError::BadPrincipalName(_)), "{err:?}");
    let err = refused("[principals.\"a\\u0007b\"]\npassword_hash = \"HASH\"");
    assert!(matches!(err, StoreError::BadPrincipalName(_)), "{err:?}");
    let err = refused("[roles.A.paths]\n\"a//b\" = []");
    assert!(matches!(&err, StoreError::Role(RoleError::BadPath { path, .. }) if path == "a//b"), "{err:?}");
}

#[test]
fn bad_hashes_name_the_principal_and_never_the_value() {
    for bad in [
        "hunter2",
        "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Z0q3C5q7p6V8l3r7d1x8mN7o0kq1o2o3o4o5o6o7o8o",
        "$2b$12$abcdefghijklmnopqrstuu5X4hJ0xJHq4KXfcm2Hk2q8Vh3m7nq5W",
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA",
    ] {
        let err = refused(&format!("[principals.carol]\npassword_hash = \"{bad}\""));
        assert!(matches!(&err, StoreError::BadHash { principal, .. } if principal == "carol"), "{err:?}");
        let text = err.to_string();
        assert!(!text.contains(bad) && !text.contains("hunter2"), "{text}");
    }
    let err = refused("[principals.carol]\nroles = []");
    assert!(matches!(err, StoreError::BadHash { reason: "missing", .. }), "{err:?}");
}

#[test]
fn plain_text_passwords_are_refused() {
    let err = refused("[principals.dave]\npassword = \"hunter2\"\nroles = [\"CLIENT\"]");
    assert!(matches!(&err, StoreError::PlainTextPassword { principal } if principal == "dave"), "{err:?}");
    assert!(!err.to_string().contains("hunter2"));
    // Even next to a valid hash.
    let err = refused("[principals.dave]\npassword_hash = \"HASH\"\npassword = \"hunter2\"");
    assert!(matches!(err, StoreError::PlainTextPassword { .. }), "{err:?}");
}

#[test]
fn unknown_fields_and_toml_errors_are_located_and_redacted() {
    let err = refused("[roles.A]\nglobal = []\nglobal_permissions = [\"VIEW_SESSION\"]");
    match &err {
        StoreError::Toml { line, message, .. } => {
            assert_eq!(*line, 3, "{err}");
            assert!(message.contains("global_permissions"), "{message}");
        }
        other => panic!("expected a TOML error, got {other:?}"),
    }
    let err = refused("[principal.alice]\npassword_hash = \"HASH\"");
    assert!(matches!(&err, StoreError::Toml { line: 1, .. }), "{err:?}");
    // A value of the wrong type is not quoted back.
    let err = refused("[principals]\nalice = \"hunter2\"");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Toml { line: 2, .. }), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    // A syntax error on a hash line does not echo the line.
    let err = refused("[principals.alice]\npassword_hash = \"HASH");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Toml { line: 2, .. }), "{text}");
    assert!(!text.contains("argon2id"), "{text}");
}

#[test]
fn principal_debug_redacts_the_hash() {
    let s = store("[principals.alice]\npassword_hash = \"HASH\"\nroles = [\"CLIENT\"]").expect("valid");
    let debug = format!("{s:?}");
    assert!(!debug.contains("argon2id") && !debug.contains("c29tZXNhbHRz"), "{debug}");
    assert!(debug.contains("<redacted>") && debug.contains("CLIENT"), "{debug}");
}

#[test]
fn embedded_store() {
    let s = SecurityStore::embedded(HASH, HASH, HASH).expect("valid hashes");
    assert_eq!(s.anonymous, AnonymousPolicy::Roles(vec!["CLIENT".into()]));
    assert_eq!(s.principal("admin").map(PrincipalEntry::roles), Some(&["ADMINISTRATOR".to_owned()][..]));
    assert_eq!(
        s.principal("control").map(PrincipalEntry::roles),
        Some(&["CLIENT_CONTROL".to_owned(), "TOPIC_CONTROL".to_owned()][..])
    );
    assert_eq!(s.principal("client").map(PrincipalEntry::roles), Some(&["CLIENT".to_owned()][..]));
    assert_eq!(s.principals.len(), 3);
    let admin = s.roles.permissions(s.principal("admin").map(PrincipalEntry::roles).unwrap_or_default());
    assert!(admin.has(GlobalPermission::ModifySecurity));
    let err = SecurityStore::embedded(HASH, "plain", HASH).expect_err("bad hash");
    assert!(matches!(&err, StoreError::BadHash { principal, .. } if principal == "control"), "{err:?}");
}

#[test]
fn load_reports_the_path() {
    let err = SecurityStore::load(Path::new("/nonexistent/usher-store.toml")).expect_err("no file");
    assert!(matches!(err, StoreError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/usher-store.toml"), "{err}");
}

#[test]
fn redaction_helper() {
    assert_eq!(
        redact_quoted(r#"invalid type: string "x", expected a table"#),
        "invalid type: string \"…\", expected a table"
    );
    assert_eq!(redact_quoted("unknown field `a`"), "unknown field `a`");
    assert_eq!(redact_quoted(r#"a "b" c "d"#), "a \"…\" c \"…");
    assert_eq!(
        redact_quoted(r#"invalid basic string, expected `"`"#),
        r#"invalid basic string, expected `"`"#
    );
}

/// The messages quoted in docs/SECURITY.md, "Errors".
#[test]
fn documented_messages() {
    let cases = [
        (
            "[roles.A]\nglobal = []\nglobal_permissions = [\"VIEW_SESSION\"]",
            "security store, line 3, column 1: unknown field `global_permissions`, \
             expected one of `global`, `default_path`, `includes`, `paths`",
        ),
        (
            "[roles.A]\nglobal = [\"READ_TOPIC\"]",
            "role A, global: unknown permission \"READ_TOPIC\" (it is a path permission)",
        ),
        ("[roles.\"NOT VALID\"]", "invalid role name \"NOT VALID\": must match [A-Za-z0-9_.-]{1,64}"),
        ("[roles.A]\nincludes = [\"GHOST\"]", "role A includes GHOST, which is not defined"),
        (
            "[principals.alice]\npassword_hash = \"HASH\"\nroles = [\"GHOST\"]",
            "principal \"alice\" refers to role GHOST, which is not defined",
        ),
        (
            "[roles.A]\nincludes = [\"B\"]\n[roles.B]\nincludes = [\"C\"]\n[roles.C]\nincludes = [\"A\"]",
            "roles include each other in a cycle: A -> B -> C -> A",
        ),
        (
            "[roles.A.paths]\n\"a//b\" = []",
            "role A assigns permissions at \"a//b\", which is not a topic path (a/b/c)",
        ),
        (
            "[principals.carol]\npassword_hash = \"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Z0q3C5q7p6V8l3r7d1x8mN7o0kq1o2o3o4o5o6o7o8o\"",
            "principal \"carol\": bad password_hash: the algorithm must be argon2id",
        ),
        (
            "[principals.dave]\npassword = \"x\"",
            "principal \"dave\": plain-text `password` is not accepted; \
             put an argon2id hash from `usher hash-password` in `password_hash`",
        ),
        (
            "[principals.\"\"]\npassword_hash = \"HASH\"",
            "invalid principal name \"\": 1 to 256 bytes, no control characters",
        ),
        ("[anonymous]\ndeny = true\nroles = []", "[anonymous] sets both deny = true and roles; choose one"),
    ];
    for (text, message) in cases {
        assert_eq!(refused(text).to_string(), message);
    }
}
