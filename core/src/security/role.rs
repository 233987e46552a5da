//! Roles: their definitions, the predefined set, inclusion (transitive,
//! cycle-checked) and the no-escalation and dominance rules (SPEC §2.3, §4.1).
//!
//! A [`RoleModel`] is built once per store load and then only read. Each
//! role's effective [`Permissions`] (its own grants united with those of every
//! role it includes, directly or not) is computed at build time, so the
//! server's per-request checks are lookups and bit operations.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::permission::{GlobalPermission, GlobalPermissions, PathPermissions, Permissions};
use crate::props::is_valid_role_name;

/// The predefined role `CLIENT`: default path `READ_TOPIC`, `SELECT_TOPIC`.
pub const CLIENT: &str = "CLIENT";
/// The predefined role `TOPIC_CONTROL`: all four path permissions by default.
pub const TOPIC_CONTROL: &str = "TOPIC_CONTROL";
/// The predefined role `CLIENT_CONTROL`: `VIEW_SESSION`, `MODIFY_SESSION`, `REGISTER_HANDLER`.
pub const CLIENT_CONTROL: &str = "CLIENT_CONTROL";
/// The predefined role `OPERATOR`: `VIEW_SERVER`, includes `CLIENT_CONTROL`.
pub const OPERATOR: &str = "OPERATOR";
/// The predefined role `ADMINISTRATOR`: every global permission, includes
/// `CLIENT_CONTROL` and `TOPIC_CONTROL`.
pub const ADMINISTRATOR: &str = "ADMINISTRATOR";

/// One role as written in the store, before inclusions are followed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleDef {
    /// The role's name, `[A-Za-z0-9_.-]{1,64}`.
    pub name: String,
    /// Global permissions granted by this role itself.
    pub global: GlobalPermissions,
    /// Path permissions where none of `paths` applies.
    pub default_path: PathPermissions,
    /// Path permissions assigned at specific topic paths (`a/b`); the nearest
    /// assigned ancestor of a path wins over the defaults.
    pub paths: BTreeMap<String, PathPermissions>,
    /// Roles whose permissions this role also grants.
    pub includes: Vec<String>,
}

impl RoleDef {
    /// A role with no permissions and no inclusions.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }

    /// Sets the global permissions.
    pub fn with_global(mut self, global: GlobalPermissions) -> Self {
        self.global = global;
        self
    }

    /// Sets the default path permissions.
    pub fn with_default_path(mut self, default_path: PathPermissions) -> Self {
        self.default_path = default_path;
        self
    }

    /// Assigns path permissions at `path`.
    pub fn with_path(mut self, path: impl Into<String>, set: PathPermissions) -> Self {
        self.paths.insert(path.into(), set);
        self
    }

    /// Adds an included role.
    pub fn including(mut self, role: impl Into<String>) -> Self {
        self.includes.push(role.into());
        self
    }

    /// The permissions this role grants by itself, without inclusions.
    fn own_permissions(&self) -> Permissions {
        Permissions::new(self.global, self.default_path, self.paths.iter().map(|(p, s)| (p.as_str(), *s)))
    }
}

/// Why a set of role definitions was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// A role name does not match `[A-Za-z0-9_.-]{1,64}`.
    #[error("invalid role name {0:?}: must match [A-Za-z0-9_.-]{{1,64}}")]
    BadName(String),
    /// An included role name is not valid.
    #[error("role {role} includes {included:?}, which is not a valid role name")]
    BadInclude {
        /// The including role.
        role: String,
        /// The invalid name.
        included: String,
    },
    /// Two definitions of one role.
    #[error("role {0} is defined twice")]
    Duplicate(String),
    /// A role includes a role that is not defined.
    #[error("role {role} includes {included}, which is not defined")]
    UnknownInclude {
        /// The including role.
        role: String,
        /// The undefined role it names.
        included: String,
    },
    /// Roles include each other in a cycle; `cycle` is spelled out, e.g.
    /// `A -> B -> A` (`A -> A` for a role that includes itself).
    #[error("roles include each other in a cycle: {cycle}")]
    Cycle {
        /// The cycle, e.g. `A -> B -> A`.
        cycle: String,
    },
    /// An assigned path is not a topic path (non-empty `/`-separated
    /// segments of `[A-Za-z0-9_.-]`).
    #[error("role {role} assigns permissions at {path:?}, which is not a topic path (a/b/c)")]
    BadPath {
        /// The role.
        role: String,
        /// The path as written.
        path: String,
    },
}

/// True when `path` is a topic path: non-empty `/`-separated segments of
/// `[A-Za-z0-9_.-]` (SPEC §5.1).
pub fn is_valid_topic_path(path: &str) -> bool {
    path.split('/')
        .all(|seg| !seg.is_empty() && seg.bytes().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c)))
}

/// Resolved role definitions: the predefined roles, possibly overridden, and
/// those of the store. Cheap to query; build it with [`RoleModel::new`] or
/// [`RoleModel::with_predefined`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleModel {
    defs: BTreeMap<String, RoleDef>,
    /// Per role: its own permissions united with those of every role it
    /// includes, transitively.
    effective: HashMap<String, Permissions>,
}

impl Default for RoleModel {
    /// The predefined roles.
    fn default() -> Self {
        Self::predefined()
    }
}

impl RoleModel {
    /// The predefined roles of SPEC §2.3.
    pub fn predefined() -> Self {
        match Self::new(predefined_defs()) {
            Ok(model) => model,
            // The definitions are constants checked by a test.
            Err(e) => unreachable!("the predefined roles are valid: {e}"),
        }
    }

    /// Exactly these roles (no predefined ones), validated: names, paths,
    /// inclusions of defined roles only, no cycles.
    pub fn new(defs: impl IntoIterator<Item = RoleDef>) -> Result<Self, RoleError> {
        let mut map = BTreeMap::new();
        for def in defs {
            if !is_valid_role_name(&def.name) {
                return Err(RoleError::BadName(def.name));
            }
            if map.contains_key(&def.name) {
                return Err(RoleError::Duplicate(def.name));
            }
            map.insert(def.name.clone(), def);
        }
        Self::resolve(map)
    }

    /// The predefined roles, each replaced by a definition of the same name in
    /// `defs`, plus the other roles of `defs`.
    pub fn with_predefined(defs: impl IntoIterator<Item = RoleDef>) -> Result<Self, RoleError> {
        let mut map: BTreeMap<String, RoleDef> =
            predefined_defs().into_iter().map(|d| (d.name.clone(), d)).collect();
        let mut seen = HashSet::new();
        for def in defs {
            if !is_valid_role_name(&def.name) {
                return Err(RoleError::BadName(def.name));
            }
            if !seen.insert(def.name.clone()) {
                return Err(RoleError::Duplicate(def.name));
            }
            map.insert(def.name.clone(), def);
        }
        Self::resolve(map)
    }

    fn resolve(defs: BTreeMap<String, RoleDef>) -> Result<Self, RoleError> {
        for def in defs.values() {
            for path in def.paths.keys() {
                if !is_valid_topic_path(path) {
                    return Err(RoleError::BadPath { role: def.name.clone(), path: path.clone() });
                }
            }
            for inc in &def.includes {
                if !is_valid_role_name(inc) {
                    return Err(RoleError::BadInclude { role: def.name.clone(), included: inc.clone() });
                }
                if !defs.contains_key(inc) {
                    return Err(RoleError::UnknownInclude { role: def.name.clone(), included: inc.clone() });
                }
            }
        }
        let order = topological_order(&defs)?;
        // Included roles come first in `order`, so each role's includes are
        // already resolved when it is reached.
        let mut effective: HashMap<String, Permissions> = HashMap::with_capacity(defs.len());
        for name in order {
            let Some(def) = defs.get(name) else { continue };
            let mut perms = def.own_permissions();
            for inc in &def.includes {
                if let Some(p) = effective.get(inc) {
                    perms = perms.union(p);
                }
            }
            effective.insert(name.to_owned(), perms);
        }
        Ok(Self { defs, effective })
    }

    /// True when the role is defined.
    pub fn is_defined(&self, role: &str) -> bool {
        self.defs.contains_key(role)
    }

    /// The definition of a role, as written.
    pub fn role(&self, role: &str) -> Option<&RoleDef> {
        self.defs.get(role)
    }

    /// Every defined role, sorted by name.
    pub fn roles(&self) -> impl Iterator<Item = &RoleDef> {
        self.defs.values()
    }

    /// The effective permissions of one role (inclusions followed); `None`
    /// when it is not defined.
    pub fn role_permissions(&self, role: &str) -> Option<&Permissions> {
        self.effective.get(role)
    }

    /// The union of the roles' permissions, inclusions followed. Undefined
    /// names grant nothing.
    pub fn permissions<S: AsRef<str>>(&self, roles: &[S]) -> Permissions {
        let mut found = roles.iter().filter_map(|r| self.effective.get(r.as_ref()));
        let Some(first) = found.next() else { return Permissions::none() };
        found.fold(first.clone(), |acc, p| acc.union(p))
    }

    /// The no-escalation rule (SPEC §4.1) for a caller whose roles are
    /// `caller_roles`: may it add `role` to, or remove it from, a session?
    /// See [`RoleModel::may_change_role_with`].
    pub fn may_change_role<S: AsRef<str>>(&self, caller_roles: &[S], role: &str) -> bool {
        self.may_change_role_with(&self.permissions(caller_roles), role)
    }

    /// The no-escalation rule for a caller whose permissions are already
    /// computed: true when the caller has `MODIFY_SECURITY`, or `role` is
    /// defined and the caller's permissions hold its permissions. A name that
    /// is not defined grants nothing today, but a later store could give it
    /// power, so only `MODIFY_SECURITY` may add or remove it (SPEC §2.3). An
    /// invalid role name is refused to everyone.
    pub fn may_change_role_with(&self, caller: &Permissions, role: &str) -> bool {
        if !is_valid_role_name(role) {
            return false;
        }
        if caller.has(GlobalPermission::ModifySecurity) {
            return true;
        }
        self.effective.get(role).is_some_and(|target| caller.holds(target))
    }

    /// The dominance rule (SPEC §4.1): may a caller with these permissions
    /// act on (close, change, ...) a session with the target's permissions?
    /// True when the caller has `MODIFY_SECURITY` or holds the target.
    pub fn dominates(caller: &Permissions, target: &Permissions) -> bool {
        caller.has(GlobalPermission::ModifySecurity) || caller.holds(target)
    }
}

/// The role names in an order where every role comes after the roles it
/// includes; a cycle is an error spelled out `A -> B -> A`.
fn topological_order(defs: &BTreeMap<String, RoleDef>) -> Result<Vec<&str>, RoleError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = defs.keys().map(|k| (k.as_str(), Mark::New)).collect();
    let mut order = Vec::with_capacity(defs.len());
    // An explicit stack of (role, index of the next include to visit), so a
    // long inclusion chain cannot overflow the thread's stack.
    for root in defs.keys() {
        if marks.get(root.as_str()) != Some(&Mark::New) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        marks.insert(root.as_str(), Mark::OnStack);
        while let Some((name, next)) = stack.last_mut() {
            let includes = defs.get(*name).map(|d| d.includes.as_slice()).unwrap_or_default();
            let Some(inc) = includes.get(*next) else {
                marks.insert(*name, Mark::Done);
                order.push(*name);
                stack.pop();
                continue;
            };
            *next += 1;
            match marks.get(inc.as_str()).copied() {
                Some(Mark::New) => {
                    marks.insert(inc.as_str(), Mark::OnStack);
                    stack.push((inc.as_str(), 0));
                }
                Some(Mark::OnStack) => {
                    let start = stack.iter().position(|(n, _)| *n == inc.as_str()).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[start..].iter().map(|(n, _)| *n).collect();
                    cycle.push(inc.as_str());
                    return Err(RoleError::Cycle { cycle: cycle.join(" -> ") });
                }
                // Done, or undefined (already refused by the caller).
                _ => {}
            }
        }
    }
    Ok(order)
}

/// The predefined role definitions of SPEC §2.3.
pub fn predefined_defs() -> Vec<RoleDef> {
    let all_path = PathPermissions::all();
    vec![
        RoleDef::new(CLIENT).with_default_path(PathPermissions::READ_TOPIC | PathPermissions::SELECT_TOPIC),
        RoleDef::new(TOPIC_CONTROL).with_default_path(all_path),
        RoleDef::new(CLIENT_CONTROL).with_global(
            GlobalPermissions::VIEW_SESSION
                | GlobalPermissions::MODIFY_SESSION
                | GlobalPermissions::REGISTER_HANDLER,
        ),
        RoleDef::new(OPERATOR).with_global(GlobalPermissions::VIEW_SERVER).including(CLIENT_CONTROL),
        RoleDef::new(ADMINISTRATOR)
            .with_global(GlobalPermissions::all())
            .including(CLIENT_CONTROL)
            .including(TOPIC_CONTROL),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::permission::PathPermission;

    const R: PathPermissions = PathPermissions::READ_TOPIC;
    const S: PathPermissions = PathPermissions::SELECT_TOPIC;
    const U: PathPermissions = PathPermissions::UPDATE_TOPIC;

    fn cycle_of(defs: Vec<RoleDef>) -> String {
        match RoleModel::new(defs) {
            Err(RoleError::Cycle { cycle }) => cycle,
            other => panic!("expected a cycle, got {other:?}"),
        }
    }

    #[test]
    fn predefined_roles_are_valid_and_as_specified() {
        let m = RoleModel::new(predefined_defs()).expect("valid");
        for r in [CLIENT, TOPIC_CONTROL, CLIENT_CONTROL, OPERATOR, ADMINISTRATOR] {
            assert!(m.is_defined(r), "{r}");
        }
        let client = m.permissions(&[CLIENT]);
        assert_eq!(client.global(), GlobalPermissions::empty());
        assert_eq!(client.default_path(), R | S);
        let op = m.permissions(&[OPERATOR]);
        assert!(op.has(GlobalPermission::ViewServer) && op.has(GlobalPermission::ModifySession));
        assert!(!op.has(GlobalPermission::ControlServer));
        assert_eq!(op.default_path(), PathPermissions::empty());
        let admin = m.permissions(&[ADMINISTRATOR]);
        assert_eq!(admin.global(), GlobalPermissions::all());
        assert_eq!(admin.default_path(), PathPermissions::all(), "through TOPIC_CONTROL");
    }

    #[test]
    fn cycles_are_spelled_out() {
        assert_eq!(cycle_of(vec![RoleDef::new("A").including("A")]), "A -> A");
        assert_eq!(
            cycle_of(vec![RoleDef::new("A").including("B"), RoleDef::new("B").including("A")]),
            "A -> B -> A"
        );
        assert_eq!(
            cycle_of(vec![
                RoleDef::new("A").including("B"),
                RoleDef::new("B").including("C"),
                RoleDef::new("C").including("A"),
            ]),
            "A -> B -> C -> A"
        );
        // A cycle reached through a role outside it is spelled from where it closes.
        assert_eq!(
            cycle_of(vec![
                RoleDef::new("A").including("X"),
                RoleDef::new("X").including("Y"),
                RoleDef::new("Y").including("X"),
            ]),
            "X -> Y -> X"
        );
        let err = RoleModel::new(vec![RoleDef::new("A").including("B"), RoleDef::new("B").including("A")])
            .expect_err("cycle");
        assert_eq!(err.to_string(), "roles include each other in a cycle: A -> B -> A");
    }

    #[test]
    fn diamonds_are_not_cycles() {
        let m = RoleModel::new(vec![
            RoleDef::new("TOP").including("L").including("R"),
            RoleDef::new("L").including("BASE"),
            RoleDef::new("R").including("BASE"),
            RoleDef::new("BASE").with_global(GlobalPermissions::VIEW_SERVER),
        ])
        .expect("a diamond is fine");
        assert!(m.permissions(&["TOP"]).has(GlobalPermission::ViewServer));
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let n = 50_000;
        let defs = (0..n).map(|i| {
            let d = RoleDef::new(format!("R{i}"));
            if i + 1 < n { d.including(format!("R{}", i + 1)) } else { d.with_default_path(R) }
        });
        let m = RoleModel::new(defs).expect("a chain is fine");
        assert!(m.permissions(&["R0"]).path_allows("x", PathPermission::ReadTopic));
    }

    #[test]
    fn unknown_and_bad_names() {
        let err = RoleModel::new(vec![RoleDef::new("A").including("NOPE")]).expect_err("unknown");
        assert_eq!(err, RoleError::UnknownInclude { role: "A".into(), included: "NOPE".into() });
        assert_eq!(err.to_string(), "role A includes NOPE, which is not defined");
        let err = RoleModel::new(vec![RoleDef::new("A B")]).expect_err("bad name");
        assert_eq!(err, RoleError::BadName("A B".into()));
        let err = RoleModel::new(vec![RoleDef::new("A").including("x y")]).expect_err("bad include");
        assert!(matches!(err, RoleError::BadInclude { .. }), "{err:?}");
        let err = RoleModel::new(vec![RoleDef::new("A"), RoleDef::new("A")]).expect_err("twice");
        assert_eq!(err, RoleError::Duplicate("A".into()));
        for bad in ["", "/a", "a/", "a//b", "a b", "a/*"] {
            let err = RoleModel::new(vec![RoleDef::new("A").with_path(bad, R)]).expect_err(bad);
            assert!(matches!(err, RoleError::BadPath { .. }), "{bad}: {err:?}");
        }
    }

    #[test]
    fn nearest_ancestor_is_per_role_then_united() {
        // P restricts "a" to nothing; Q reads everywhere. Together they read
        // "a": a role's assignment never takes away another role's grant.
        let m = RoleModel::new(vec![
            RoleDef::new("P").with_default_path(R | U).with_path("a", PathPermissions::empty()),
            RoleDef::new("Q").with_default_path(R),
            RoleDef::new("PQ").including("P").including("Q"),
        ])
        .expect("valid");
        let p = m.permissions(&["P"]);
        assert_eq!(p.at("a/b"), PathPermissions::empty());
        assert_eq!(p.at("b"), R | U);
        let pq = m.permissions(&["P", "Q"]);
        assert_eq!(pq.at("a/b"), R);
        assert_eq!(pq.at("b"), R | U);
        assert_eq!(m.permissions(&["PQ"]), pq, "inclusion unites the same way");
        assert_eq!(m.permissions(&["P", "NOT_DEFINED"]), p, "undefined names grant nothing");
        assert_eq!(m.permissions::<&str>(&[]), Permissions::none());
    }

    #[test]
    fn including_role_own_paths_do_not_mask_included_ones() {
        // OWN assigns "x" = nothing; it includes INC which updates under "x/y".
        let m = RoleModel::new(vec![
            RoleDef::new("OWN")
                .with_default_path(R)
                .with_path("x", PathPermissions::empty())
                .including("INC"),
            RoleDef::new("INC").with_path("x/y", U),
        ])
        .expect("valid");
        let own = m.permissions(&["OWN"]);
        assert_eq!(own.at("x"), PathPermissions::empty());
        assert_eq!(own.at("x/y/z"), U);
        assert_eq!(own.at("w"), R);
    }

    #[test]
    fn overriding_a_predefined_role() {
        let m = RoleModel::with_predefined(vec![
            RoleDef::new(CLIENT).with_default_path(R),
            RoleDef::new("EXTRA").including(CLIENT),
        ])
        .expect("valid");
        assert_eq!(m.permissions(&[CLIENT]).default_path(), R);
        assert_eq!(m.permissions(&["EXTRA"]).default_path(), R);
        assert!(m.is_defined(OPERATOR));
        let err = RoleModel::with_predefined(vec![RoleDef::new("X"), RoleDef::new("X")]).expect_err("twice");
        assert_eq!(err, RoleError::Duplicate("X".into()));
        // An override that includes a role including it back is a cycle.
        let err = RoleModel::with_predefined(vec![RoleDef::new(CLIENT_CONTROL).including(OPERATOR)])
            .expect_err("cycle");
        assert_eq!(err, RoleError::Cycle { cycle: "CLIENT_CONTROL -> OPERATOR -> CLIENT_CONTROL".into() });
    }
}
