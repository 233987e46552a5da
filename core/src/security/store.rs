//! The security store (SPEC §2.3, §2.4): principals with argon2id password
//! hashes and their roles, the roles of anonymous sessions (or `deny`), and
//! role definitions, read from a TOML file. The format is documented in
//! `docs/SECURITY.md` and shown in `docs/security-store.example.toml`.
//!
//! Everything is validated at load: a store that loads is one the server can
//! use as is, and a bad one is refused with one precise [`StoreError`] (the
//! server keeps its old store on a bad reload). Neither errors nor `Debug`
//! ever show a password hash, or whatever was written where one belongs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::permission::{GlobalPermission, GlobalPermissions, PathPermission, PathPermissions};
use super::phc::check_argon2id;
use super::role::{ADMINISTRATOR, CLIENT, CLIENT_CONTROL, RoleDef, RoleError, RoleModel, TOPIC_CONTROL};
use crate::props::is_valid_role_name;

/// Who may open a session without credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnonymousPolicy {
    /// Anonymous sessions are refused (`AUTHENTICATION_FAILED`).
    Deny,
    /// Anonymous sessions are accepted with these roles (possibly none).
    Roles(Vec<String>),
}

/// One principal: its password hash and its roles.
#[derive(Clone, PartialEq, Eq)]
pub struct PrincipalEntry {
    password_hash: String,
    roles: Vec<String>,
}

impl PrincipalEntry {
    /// A principal entry; the hash must be an argon2id PHC string and every
    /// role name valid (whether the roles are defined is the store's check).
    /// `principal` only names the entry in errors.
    pub fn new(principal: &str, password_hash: String, roles: Vec<String>) -> Result<Self, StoreError> {
        check_argon2id(&password_hash)
            .map_err(|reason| StoreError::BadHash { principal: principal.to_owned(), reason })?;
        if let Some(bad) = roles.iter().find(|r| !is_valid_role_name(r)) {
            return Err(StoreError::BadRoleName {
                referrer: Referrer::principal(principal),
                role: bad.clone(),
            });
        }
        Ok(Self { password_hash, roles })
    }

    /// The argon2id PHC string to verify a password against.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    /// The roles a session authenticated as this principal starts with.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
}

impl fmt::Debug for PrincipalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrincipalEntry")
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .finish()
    }
}

/// What refers to a role: a principal or the anonymous policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Referrer {
    /// `[principals.NAME]`.
    Principal(String),
    /// `[anonymous]`.
    Anonymous,
}

impl Referrer {
    fn principal(name: &str) -> Self {
        Referrer::Principal(name.to_owned())
    }
}

impl fmt::Display for Referrer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Referrer::Principal(name) => write!(f, "principal {name:?}"),
            Referrer::Anonymous => f.write_str("[anonymous]"),
        }
    }
}

/// Why a security store was refused. Messages never contain a password hash
/// or any other value written where a hash belongs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be read.
    #[error("cannot read the security store {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, a field of the wrong type, or an unknown field (e.g.
    /// `global_permissions = [...]` in a role). The TOML parser's own message,
    /// with quoted values replaced by `"…"`, and where.
    #[error("security store, line {line}, column {column}: {message}")]
    Toml {
        /// 1-based line (0 when the parser gave no position).
        line: usize,
        /// 1-based column, in characters (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A word in a permission list is not a permission of that kind, e.g.
    /// `global = ["READ_TOPIC"]` or `default_path = ["WRITE"]`.
    #[error("role {role}, {list}: unknown permission {word:?}{}", other_kind_hint(.word, .list))]
    BadPermission {
        /// The role being defined.
        role: String,
        /// Which list: `global`, `default_path` or `paths."a/b"`.
        list: String,
        /// The offending word.
        word: String,
    },
    /// A role definition problem: bad name, unknown include, cycle, bad path.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// A principal or `[anonymous]` names a role that is not defined.
    #[error("{referrer} refers to role {role}, which is not defined")]
    UnknownRole {
        /// Who refers to it.
        referrer: Referrer,
        /// The undefined role.
        role: String,
    },
    /// A principal or `[anonymous]` names something that is not a role name.
    #[error("{referrer} refers to {role:?}, which is not a valid role name ([A-Za-z0-9_.-]{{1,64}})")]
    BadRoleName {
        /// Who refers to it.
        referrer: Referrer,
        /// The invalid name.
        role: String,
    },
    /// A principal's `password_hash` is missing or not an acceptable argon2id
    /// PHC string.
    #[error("principal {principal:?}: bad password_hash: {reason}")]
    BadHash {
        /// The principal.
        principal: String,
        /// Why, never quoting the value.
        reason: &'static str,
    },
    /// A principal has a `password` field: plain-text passwords are never accepted.
    #[error(
        "principal {principal:?}: plain-text `password` is not accepted; \
         put an argon2id hash from `usher hash-password` in `password_hash`"
    )]
    PlainTextPassword {
        /// The principal.
        principal: String,
    },
    /// A principal name is empty, longer than 256 bytes, or has control characters.
    #[error("invalid principal name {0:?}: 1 to 256 bytes, no control characters")]
    BadPrincipalName(String),
    /// `[anonymous]` sets both `deny = true` and `roles`.
    #[error("[anonymous] sets both deny = true and roles; choose one")]
    AnonymousConflict,
}

/// " (it is a path permission)" when a global list names a path permission,
/// and the other way round.
fn other_kind_hint(word: &str, list: &str) -> &'static str {
    if list == "global" {
        if word.parse::<PathPermission>().is_ok() { " (it is a path permission)" } else { "" }
    } else if word.parse::<GlobalPermission>().is_ok() {
        " (it is a global permission)"
    } else {
        ""
    }
}

/// The whole store.
#[derive(Clone, Debug)]
pub struct SecurityStore {
    /// Principals by name.
    pub principals: BTreeMap<String, PrincipalEntry>,
    /// Who may connect without credentials, and with which roles.
    pub anonymous: AnonymousPolicy,
    /// The predefined roles, as overridden, and the store's own.
    pub roles: RoleModel,
}

/// A name a principal may have: 1 to 256 bytes, no control characters. The
/// server refuses a hello naming anything else without verifying a password.
pub fn is_valid_principal_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 256 && !name.chars().any(char::is_control)
}

impl SecurityStore {
    /// Parses and validates a store. Without an `[anonymous]` section,
    /// anonymous sessions are denied.
    pub fn from_toml(text: &str) -> Result<Self, StoreError> {
        let raw: RawStore = toml::from_str(text).map_err(|e| toml_error(text, &e))?;

        let mut defs = Vec::with_capacity(raw.roles.len());
        for (name, role) in raw.roles {
            defs.push(role.into_def(name)?);
        }
        let model = RoleModel::with_predefined(defs)?;

        let mut principals = BTreeMap::new();
        for (name, p) in raw.principals {
            if !is_valid_principal_name(&name) {
                return Err(StoreError::BadPrincipalName(name));
            }
            if p.password.is_some() {
                return Err(StoreError::PlainTextPassword { principal: name });
            }
            let Some(hash) = p.password_hash else {
                return Err(StoreError::BadHash { principal: name, reason: "missing" });
            };
            let entry = PrincipalEntry::new(&name, hash, p.roles)?;
            check_defined(&model, &Referrer::principal(&name), entry.roles())?;
            principals.insert(name, entry);
        }

        let anonymous = match raw.anonymous {
            None => AnonymousPolicy::Deny,
            Some(RawAnonymous { deny: true, roles: None }) => AnonymousPolicy::Deny,
            Some(RawAnonymous { deny: true, roles: Some(_) }) => return Err(StoreError::AnonymousConflict),
            Some(RawAnonymous { deny: false, roles }) => {
                let roles = roles.unwrap_or_default();
                if let Some(bad) = roles.iter().find(|r| !is_valid_role_name(r)) {
                    return Err(StoreError::BadRoleName { referrer: Referrer::Anonymous, role: bad.clone() });
                }
                check_defined(&model, &Referrer::Anonymous, &roles)?;
                AnonymousPolicy::Roles(roles)
            }
        };

        Ok(Self { principals, anonymous, roles: model })
    }

    /// Reads and parses a store file.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
        Self::from_toml(&text)
    }

    /// The built-in store of SPEC §2.4: anonymous sessions get `CLIENT`;
    /// `admin` has `ADMINISTRATOR`, `control` has `CLIENT_CONTROL` and
    /// `TOPIC_CONTROL`, `client` has `CLIENT`; the predefined roles only.
    /// The hashes are the server's (from the environment or generated).
    pub fn embedded(admin_hash: &str, control_hash: &str, client_hash: &str) -> Result<Self, StoreError> {
        let entry = |name: &str, hash: &str, roles: &[&str]| {
            PrincipalEntry::new(name, hash.to_owned(), roles.iter().map(|r| (*r).to_owned()).collect())
                .map(|e| (name.to_owned(), e))
        };
        let principals = [
            entry("admin", admin_hash, &[ADMINISTRATOR])?,
            entry("control", control_hash, &[CLIENT_CONTROL, TOPIC_CONTROL])?,
            entry("client", client_hash, &[CLIENT])?,
        ]
        .into_iter()
        .collect();
        Ok(Self {
            principals,
            anonymous: AnonymousPolicy::Roles(vec![CLIENT.to_owned()]),
            roles: RoleModel::predefined(),
        })
    }

    /// The principal with this exact name.
    pub fn principal(&self, name: &str) -> Option<&PrincipalEntry> {
        self.principals.get(name)
    }
}

fn check_defined(model: &RoleModel, referrer: &Referrer, roles: &[String]) -> Result<(), StoreError> {
    match roles.iter().find(|r| !model.is_defined(r)) {
        Some(role) => Err(StoreError::UnknownRole { referrer: referrer.clone(), role: role.clone() }),
        None => Ok(()),
    }
}

/// The TOML error without the source snippet the parser's `Display` adds
/// (the snippet could be a line holding a hash), with quoted values
/// replaced, and with a line and column instead.
fn toml_error(text: &str, err: &toml::de::Error) -> StoreError {
    let (line, column) = match err.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        }
        None => (0, 0),
    };
    StoreError::Toml { line, column, message: redact_quoted(err.message().trim()) }
}

/// Replaces the inside of every `"…"` span of serde's messages (`invalid
/// type: string "x"`) so a value never reaches a log. Field names and
/// expected tokens are in backticks and stay.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let (mut in_ticks, mut in_quotes) = (false, false);
    for c in message.chars() {
        match c {
            '`' if !in_quotes => {
                in_ticks = !in_ticks;
                out.push(c);
            }
            '"' if !in_ticks => {
                out.push_str(if in_quotes { "…\"" } else { "\"" });
                in_quotes = !in_quotes;
            }
            _ if in_quotes => {}
            _ => out.push(c),
        }
    }
    if in_quotes {
        out.push('…');
    }
    out
}

// The file as written. `deny_unknown_fields` everywhere: a misspelt key is an
// error, never silently ignored.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a security store")]
struct RawStore {
    anonymous: Option<RawAnonymous>,
    #[serde(default)]
    principals: BTreeMap<String, RawPrincipal>,
    #[serde(default)]
    roles: BTreeMap<String, RawRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [anonymous] table (deny, roles)")]
struct RawAnonymous {
    #[serde(default)]
    deny: bool,
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a principal table (password_hash, roles)")]
struct RawPrincipal {
    password_hash: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    /// Accepted by the parser only to refuse it with a clear error.
    password: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a role table (global, default_path, includes, paths)")]
struct RawRole {
    #[serde(default)]
    global: Vec<String>,
    #[serde(default)]
    default_path: Vec<String>,
    #[serde(default)]
    includes: Vec<String>,
    #[serde(default)]
    paths: BTreeMap<String, Vec<String>>,
}

impl RawRole {
    fn into_def(self, name: String) -> Result<RoleDef, StoreError> {
        if !is_valid_role_name(&name) {
            return Err(RoleError::BadName(name).into());
        }
        let bad = |list: String, e: super::UnknownPermission| StoreError::BadPermission {
            role: name.clone(),
            list,
            word: e.0,
        };
        let global = GlobalPermissions::parse(&self.global).map_err(|e| bad("global".into(), e))?;
        let default_path =
            PathPermissions::parse(&self.default_path).map_err(|e| bad("default_path".into(), e))?;
        let mut paths = BTreeMap::new();
        for (path, words) in self.paths {
            let set = PathPermissions::parse(&words).map_err(|e| bad(format!("paths.{path:?}"), e))?;
            paths.insert(path, set);
        }
        Ok(RoleDef { name, global, default_path, paths, includes: self.includes })
    }
}

#[cfg(test)]
mod tests;
