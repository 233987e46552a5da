//! Role sets as sessions hold them.
//!
//! Many sessions share few distinct role sets, so a session holds an
//! `Arc<RoleSet>` (8 bytes) taken from a cache keyed by the sorted names: the
//! names, their symbols, the canonical `$Roles` text and the resolved
//! [`Permissions`] are computed once per distinct set, not once per session.
//! The rules themselves (permissions, holds, escalation) are
//! `usher_core::security`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use usher_core::Error;
use usher_core::intern::{Interner, Sym};
use usher_core::props::{is_valid_role_name, roles_text};
use usher_core::security::{Permissions, RoleModel};

/// A distinct set of assigned roles.
#[derive(Debug)]
pub(crate) struct RoleSet {
    /// Symbols, sorted, for `hasRoles` and the role index.
    pub syms: Vec<Sym>,
    /// Names, sorted.
    pub names: Vec<String>,
    /// `$Roles`.
    pub text: Box<str>,
    /// Effective permissions (inclusions followed).
    pub perms: Permissions,
}

impl RoleSet {
    /// True when `role` is assigned.
    pub(crate) fn has(&self, role: Sym) -> bool {
        self.syms.binary_search(&role).is_ok()
    }
}

/// Most distinct role sets cached; past it sets are still built, just not kept.
const MAX_CACHED_SETS: usize = 4096;

/// The role model and the role-set cache.
#[derive(Debug)]
pub(crate) struct Roles {
    // std locks: nothing awaits while they are held.
    model: RwLock<Arc<RoleModel>>,
    interner: Interner,
    cache: Mutex<HashMap<Vec<String>, Arc<RoleSet>>>,
}

impl Roles {
    /// Roles resolved by `model`, symbols from `interner`.
    pub(crate) fn new(model: RoleModel, interner: Interner) -> Self {
        Self { model: RwLock::new(Arc::new(model)), interner, cache: Mutex::new(HashMap::new()) }
    }

    /// The current model.
    pub(crate) fn model(&self) -> Arc<RoleModel> {
        self.model.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the role model (store reload); cached sets are dropped, so
    /// sets resolved from now on carry the new permissions.
    pub(crate) fn replace_model(&self, model: RoleModel) {
        *self.model.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(model);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The shared set for these names (any order, duplicates allowed).
    pub(crate) fn resolve<S: AsRef<str>>(&self, names: &[S]) -> Result<Arc<RoleSet>, Error> {
        let mut sorted: Vec<String> = names.iter().map(|n| n.as_ref().to_owned()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        if let Some(bad) = sorted.iter().find(|n| !is_valid_role_name(n)) {
            return Err(Error::invalid_argument(bad.clone(), format!("invalid role name {bad:?}")));
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = cache.get(&sorted) {
            return Ok(set.clone());
        }
        let mut syms = Vec::with_capacity(sorted.len());
        for name in &sorted {
            let sym = self.interner.intern(name).ok_or_else(|| Error::limit("interner", "too many names"))?;
            syms.push(sym);
        }
        syms.sort_unstable();
        let perms = self.model().permissions(&sorted);
        let set = Arc::new(RoleSet { syms, text: roles_text(&sorted).into(), names: sorted.clone(), perms });
        if cache.len() < MAX_CACHED_SETS {
            cache.insert(sorted, set.clone());
        }
        Ok(set)
    }
}
