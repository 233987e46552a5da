//! The security model (SPEC §2.3, §4.1): permissions, roles, the security
//! store, and the no-escalation and dominance rules.
//!
//! It lives in `core` rather than the server so that the rules have one
//! definition: the server enforces them, and the CLI and clients can explain a
//! refusal or check a change before sending it. Password *verification*
//! (argon2) is the server's; this module only checks that stored hashes are
//! well-formed argon2id PHC strings.
//!
//! - [`permission`]: [`GlobalPermission`], [`PathPermission`], their bitsets,
//!   and [`Permissions`] with the one "holds" rule ([`Permissions::holds`]);
//! - [`role`]: [`RoleDef`], [`RoleModel`] (inclusion, cycles, predefined
//!   roles), [`RoleModel::may_change_role`] (no escalation) and
//!   [`RoleModel::dominates`] (dominance);
//! - [`store`]: [`SecurityStore`], the TOML file of principals, the anonymous
//!   policy and role definitions (format in `docs/SECURITY.md`).

pub mod permission;
mod phc;
pub mod role;
pub mod store;

pub use permission::{
    GlobalPermission, GlobalPermissions, PathPermission, PathPermissions, Permissions, UnknownPermission,
};
pub use role::{RoleDef, RoleError, RoleModel, is_valid_topic_path};
pub use store::{
    AnonymousPolicy, PrincipalEntry, Referrer, SecurityStore, StoreError, is_valid_principal_name,
};
