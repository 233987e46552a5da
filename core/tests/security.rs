//! The security model through the public API: the no-escalation and dominance
//! rules over the predefined roles and store-defined ones, and the example
//! store in `docs/`.

use std::path::Path;

use usher_core::security::{
    AnonymousPolicy, GlobalPermission, GlobalPermissions, PathPermission, PathPermissions, Permissions,
    RoleDef, RoleModel, SecurityStore,
};

const CLIENT: &str = "CLIENT";
const TOPIC_CONTROL: &str = "TOPIC_CONTROL";
const CLIENT_CONTROL: &str = "CLIENT_CONTROL";
const OPERATOR: &str = "OPERATOR";
const ADMINISTRATOR: &str = "ADMINISTRATOR";
const PREDEFINED: [&str; 5] = [CLIENT, TOPIC_CONTROL, CLIENT_CONTROL, OPERATOR, ADMINISTRATOR];

#[test]
fn permissions_are_shareable_values() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug + PartialEq + 'static>() {}
    assert_traits::<Permissions>();
    assert_traits::<RoleModel>();
}

/// The no-escalation matrix for the predefined roles: `(caller roles, role,
/// may add or remove it)`. What the rule says, worked out:
/// - `CLIENT_CONTROL` has no path permissions, so it cannot hand out
///   `CLIENT` (READ/SELECT by default) nor `OPERATOR` (VIEW_SERVER): only
///   itself.
/// - `control` of SPEC §2.4 (`CLIENT_CONTROL` + `TOPIC_CONTROL`) holds
///   `CLIENT`, `TOPIC_CONTROL` and `CLIENT_CONTROL`, not `OPERATOR`.
/// - `ADMINISTRATOR` has `MODIFY_SECURITY`: anything, undefined names too.
/// - A role name not defined needs `MODIFY_SECURITY`, even for a caller who
///   holds everything else.
#[test]
fn no_escalation_with_predefined_roles() {
    let m = RoleModel::predefined();
    let cases: &[(&[&str], &str, bool)] = &[
        (&[CLIENT_CONTROL], CLIENT_CONTROL, true),
        (&[CLIENT_CONTROL], CLIENT, false),
        (&[CLIENT_CONTROL], TOPIC_CONTROL, false),
        (&[CLIENT_CONTROL], OPERATOR, false),
        (&[CLIENT_CONTROL], ADMINISTRATOR, false),
        (&[CLIENT_CONTROL], "NOT_DEFINED", false),
        (&[CLIENT_CONTROL, TOPIC_CONTROL], CLIENT, true),
        (&[CLIENT_CONTROL, TOPIC_CONTROL], TOPIC_CONTROL, true),
        (&[CLIENT_CONTROL, TOPIC_CONTROL], CLIENT_CONTROL, true),
        (&[CLIENT_CONTROL, TOPIC_CONTROL], OPERATOR, false),
        (&[CLIENT_CONTROL, TOPIC_CONTROL], ADMINISTRATOR, false),
        (&[CLIENT_CONTROL, CLIENT], CLIENT, true),
        (&[CLIENT_CONTROL, CLIENT], TOPIC_CONTROL, false),
        (&[OPERATOR], CLIENT_CONTROL, true),
        (&[OPERATOR], OPERATOR, true),
        (&[OPERATOR], CLIENT, false),
        (&[OPERATOR], ADMINISTRATOR, false),
        (&[OPERATOR, TOPIC_CONTROL], ADMINISTRATOR, false),
        // A CLIENT holds CLIENT; the server refuses it for lack of MODIFY_SESSION first.
        (&[CLIENT], CLIENT, true),
        (&[CLIENT], CLIENT_CONTROL, false),
        (&[], CLIENT, false),
        // Inclusion counts: OPERATOR includes CLIENT_CONTROL.
        (&[ADMINISTRATOR], ADMINISTRATOR, true),
        (&[ADMINISTRATOR], OPERATOR, true),
        (&[ADMINISTRATOR], "NOT_DEFINED", true),
        (&[ADMINISTRATOR], "not a name", false),
        // Undefined caller roles grant nothing.
        (&["NOT_DEFINED"], CLIENT, false),
    ];
    for (caller, role, expected) in cases {
        assert_eq!(m.may_change_role(caller, role), *expected, "{caller:?} changing {role}");
    }
}

#[test]
fn undefined_roles_need_modify_security_even_for_the_all_but_mighty() {
    // Every permission except MODIFY_SECURITY.
    let m = RoleModel::with_predefined(vec![
        RoleDef::new("ALMOST")
            .with_global(GlobalPermissions::all() - GlobalPermissions::MODIFY_SECURITY)
            .with_default_path(PathPermissions::all()),
        RoleDef::new("SECURITY_ONLY").with_global(GlobalPermissions::MODIFY_SECURITY),
    ])
    .expect("valid");
    assert!(m.may_change_role(&["ALMOST"], OPERATOR));
    assert!(!m.may_change_role(&["ALMOST"], ADMINISTRATOR), "lacks MODIFY_SECURITY");
    assert!(!m.may_change_role(&["ALMOST"], "FUTURE_ROLE"));
    assert!(m.may_change_role(&["SECURITY_ONLY"], "FUTURE_ROLE"));
    assert!(m.may_change_role(&["SECURITY_ONLY"], ADMINISTRATOR), "MODIFY_SECURITY bypasses holds");
}

#[test]
fn no_escalation_with_path_assignments() {
    let m = RoleModel::with_predefined(vec![
        // Updates under "news" only.
        RoleDef::new("PUBLISHER").including(CLIENT).with_path(
            "news",
            PathPermissions::READ_TOPIC | PathPermissions::SELECT_TOPIC | PathPermissions::UPDATE_TOPIC,
        ),
        // Everything, except only reading under "news".
        RoleDef::new("TC_BUT_NEWS")
            .with_default_path(PathPermissions::all())
            .with_path("news", PathPermissions::READ_TOPIC),
        // A client that cannot see "secret".
        RoleDef::new("NARROW_CLIENT")
            .with_default_path(PathPermissions::READ_TOPIC | PathPermissions::SELECT_TOPIC)
            .with_path("secret", PathPermissions::empty()),
        // Updates deep under "news".
        RoleDef::new("DEEP").with_path("news/sport/live", PathPermissions::UPDATE_TOPIC),
    ])
    .expect("valid");
    assert!(m.may_change_role(&[TOPIC_CONTROL], "PUBLISHER"));
    assert!(!m.may_change_role(&[CLIENT, CLIENT_CONTROL], "PUBLISHER"), "UPDATE at news");
    assert!(!m.may_change_role(&["TC_BUT_NEWS"], "PUBLISHER"), "TC_BUT_NEWS only reads news");
    assert!(!m.may_change_role(&["TC_BUT_NEWS"], "DEEP"), "news/sport/live resolves to news");
    assert!(m.may_change_role(&["TC_BUT_NEWS", "DEEP"], "DEEP"));
    assert!(m.may_change_role(&["PUBLISHER"], "DEEP"), "news covers news/sport/live");
    // A path only the target assigns, where it grants less: still held.
    assert!(m.may_change_role(&[CLIENT], "NARROW_CLIENT"));
    assert!(!m.may_change_role(&["NARROW_CLIENT"], CLIENT), "CLIENT reads secret");
}

#[test]
fn dominance() {
    let m = RoleModel::predefined();
    let p = |roles: &[&str]| m.permissions(roles);
    let control = p(&[CLIENT_CONTROL, TOPIC_CONTROL]);
    assert!(RoleModel::dominates(&control, &p(&[CLIENT])));
    assert!(RoleModel::dominates(&control, &p(&[CLIENT_CONTROL])));
    assert!(RoleModel::dominates(&control, &control));
    assert!(!RoleModel::dominates(&control, &p(&[ADMINISTRATOR])), "cannot close an administrator");
    assert!(!RoleModel::dominates(&control, &p(&[OPERATOR])));
    // CLIENT_CONTROL alone holds no path permissions, so not even a CLIENT session.
    assert!(!RoleModel::dominates(&p(&[CLIENT_CONTROL]), &p(&[CLIENT])));
    // Sessions with no (or only undefined) roles are dominated by everyone.
    assert!(RoleModel::dominates(&p(&[CLIENT_CONTROL]), &p(&[])));
    assert!(RoleModel::dominates(&p(&[]), &p(&["NOT_DEFINED"])));
    // MODIFY_SECURITY dominates everything.
    let sec = Permissions::new(
        GlobalPermissions::MODIFY_SECURITY,
        PathPermissions::empty(),
        Vec::<(&str, _)>::new(),
    );
    assert!(RoleModel::dominates(&sec, &p(&[ADMINISTRATOR])));
    assert!(!sec.holds(&p(&[ADMINISTRATOR])), "by the bypass, not by holding");
    assert!(RoleModel::dominates(&p(&[ADMINISTRATOR]), &p(&PREDEFINED)));
}

#[test]
fn may_change_role_with_precomputed_permissions_agrees() {
    let m = RoleModel::predefined();
    let callers: [&[&str]; 5] =
        [&[], &[CLIENT], &[CLIENT_CONTROL], &[CLIENT_CONTROL, TOPIC_CONTROL], &[OPERATOR, CLIENT]];
    for caller in callers {
        let perms = m.permissions(caller);
        for role in PREDEFINED.iter().copied().chain(["NOT_DEFINED"]) {
            assert_eq!(
                m.may_change_role_with(&perms, role),
                m.may_change_role(caller, role),
                "{caller:?} {role}"
            );
            // No escalation is the holds rule applied to the role alone.
            if m.is_defined(role) {
                assert_eq!(m.may_change_role(caller, role), perms.holds(&m.permissions(&[role])));
            }
        }
    }
}

#[test]
fn the_example_store_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/security-store.example.toml");
    let store = SecurityStore::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(store.anonymous, AnonymousPolicy::Roles(vec![CLIENT.to_owned()]));
    for name in ["admin", "ops", "feed-publisher", "analyst"] {
        let p = store.principal(name).unwrap_or_else(|| panic!("principal {name}"));
        assert!(p.password_hash().starts_with("$argon2id$"));
        assert!(!p.roles().is_empty());
    }
    let publisher = store.roles.permissions(&["PUBLISHER"]);
    assert!(publisher.path_allows("news/today", PathPermission::UpdateTopic));
    assert!(!publisher.path_allows("prices", PathPermission::UpdateTopic));
    assert!(publisher.path_allows("prices", PathPermission::ReadTopic), "through CLIENT");
    let analyst = store.roles.permissions(&["ANALYST"]);
    assert!(analyst.has(GlobalPermission::ViewSession));
    assert!(!analyst.has(GlobalPermission::ModifySession));
    assert!(analyst.path_allows("prices/eur", PathPermission::SelectTopic));
    assert!(!analyst.path_allows("prices/internal/costs", PathPermission::ReadTopic));
    assert!(analyst.path_allows("prices/internal/summary/q3", PathPermission::ReadTopic));
    assert!(!analyst.path_allows("prices/internal/summary", PathPermission::SelectTopic));
    // ops (OPERATOR + CLIENT) holds ANALYST: VIEW_SESSION through OPERATOR, and
    // ANALYST reads nowhere more than CLIENT does. Not PUBLISHER (UPDATE at news).
    let ops = store.roles.permissions(store.principal("ops").map(|p| p.roles()).unwrap_or_default());
    assert!(store.roles.may_change_role_with(&ops, "ANALYST"));
    assert!(!store.roles.may_change_role_with(&ops, "PUBLISHER"));
}

#[test]
fn the_embedded_store_matches_spec_2_4() {
    let hash =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Z0q3C5q7p6V8l3r7d1x8mN7o0kq1o2o3o4o5o6o7o8o";
    let store = SecurityStore::embedded(hash, hash, hash).expect("valid");
    assert_eq!(store.anonymous, AnonymousPolicy::Roles(vec![CLIENT.to_owned()]));
    let perms =
        |name: &str| store.roles.permissions(store.principal(name).map(|p| p.roles()).unwrap_or_default());
    let (admin, control, client) = (perms("admin"), perms("control"), perms("client"));
    assert_eq!(admin.global(), GlobalPermissions::all());
    assert!(control.has(GlobalPermission::ModifySession) && !control.has(GlobalPermission::ViewServer));
    assert!(control.path_allows("any/topic", PathPermission::ModifyTopic));
    assert!(client.path_allows("any/topic", PathPermission::ReadTopic));
    assert!(!client.path_allows("any/topic", PathPermission::UpdateTopic));
    assert!(RoleModel::dominates(&admin, &control) && RoleModel::dominates(&control, &client));
    assert!(!RoleModel::dominates(&control, &admin) && !RoleModel::dominates(&client, &control));
    assert!(store.principal("nobody").is_none());
}
