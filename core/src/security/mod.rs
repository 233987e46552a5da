//! The security model (SPEC §2.3, §4.1). STUB: the API contract only.
//!
//! Contract used by the server:
//! - [`GlobalPermission`] / [`PathPermission`] with upper-snake `Display`;
//! - [`RoleModel`]: resolved role definitions; [`RoleModel::permissions`]
//!   gives the [`Permissions`] of a set of role names (with inclusions);
//! - [`Permissions::holds`] is the one "holds" rule used by no-escalation and
//!   dominance; [`RoleModel::may_change_role`] is the no-escalation rule;
//! - [`SecurityStore`]: principals with PHC hashes, the anonymous policy and
//!   the roles, loaded from TOML.

use std::fmt;

/// A permission not tied to a topic path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GlobalPermission {
    /// Log in with a principal.
    Authenticate,
    /// See other sessions and their properties.
    ViewSession,
    /// Change or close other sessions.
    ModifySession,
    /// Register listeners and queue handlers.
    RegisterHandler,
    /// See server state.
    ViewServer,
    /// Control the server.
    ControlServer,
    /// See the security configuration.
    ViewSecurity,
    /// Change the security configuration; bypasses no-escalation and dominance.
    ModifySecurity,
}

impl fmt::Display for GlobalPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GlobalPermission::Authenticate => "AUTHENTICATE",
            GlobalPermission::ViewSession => "VIEW_SESSION",
            GlobalPermission::ModifySession => "MODIFY_SESSION",
            GlobalPermission::RegisterHandler => "REGISTER_HANDLER",
            GlobalPermission::ViewServer => "VIEW_SERVER",
            GlobalPermission::ControlServer => "CONTROL_SERVER",
            GlobalPermission::ViewSecurity => "VIEW_SECURITY",
            GlobalPermission::ModifySecurity => "MODIFY_SECURITY",
        })
    }
}

/// A permission on topic paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathPermission {
    /// Receive values.
    ReadTopic,
    /// Subscribe with a selector.
    SelectTopic,
    /// Set values.
    UpdateTopic,
    /// Add and remove topics.
    ModifyTopic,
}

/// The effective permissions of a set of roles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {}

impl Permissions {
    /// True when the global permission is granted.
    pub fn has(&self, _p: GlobalPermission) -> bool {
        false
    }
    /// True when the path permission is granted at `path`.
    pub fn path_allows(&self, _path: &str, _p: PathPermission) -> bool {
        false
    }
    /// The "holds" rule of SPEC §2.3.
    pub fn holds(&self, _other: &Permissions) -> bool {
        false
    }
}

/// Resolved role definitions.
#[derive(Clone, Debug, Default)]
pub struct RoleModel {}

impl RoleModel {
    /// The predefined roles of SPEC §2.3.
    pub fn predefined() -> Self {
        Self {}
    }
    /// True when the role is defined.
    pub fn is_defined(&self, _role: &str) -> bool {
        false
    }
    /// The union of the roles' permissions, inclusions followed.
    pub fn permissions<S: AsRef<str>>(&self, _roles: &[S]) -> Permissions {
        Permissions::default()
    }
    /// The no-escalation rule.
    pub fn may_change_role<S: AsRef<str>>(&self, _caller: &[S], _role: &str) -> bool {
        false
    }
}
