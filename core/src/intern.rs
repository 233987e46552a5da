//! A bounded, thread-safe symbol table.
//!
//! The server's registry stores user-property keys and role names as [`Sym`]s
//! (a `u32`), and a compiled filter refers to the same symbols, so evaluating a
//! clause compares integers instead of hashing strings. One [`Interner`] is
//! shared by a registry and every filter compiled against it.
//!
//! Bound: at most [`Interner::capacity`] symbols (default
//! [`Interner::DEFAULT_CAPACITY`]). When it is full, [`Interner::intern`]
//! returns `None` and the caller refuses the request that brought the new
//! name with `LIMIT_EXCEEDED` (a connect proposing a new key, a filter naming
//! one). Names are never removed: a symbol stays valid for the life of the
//! interner, so a compiled filter never refers to a recycled symbol.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// An interned name. Only meaningful with the [`Interner`] that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

/// The symbol table. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Interner {
    inner: Arc<RwLock<Table>>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Table {
    ids: HashMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
}

impl Default for Interner {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl Interner {
    /// Default bound on distinct names (user keys and role names together).
    pub const DEFAULT_CAPACITY: usize = 1 << 20;

    /// A table that holds at most `capacity` names.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { inner: Arc::new(RwLock::new(Table::default())), capacity }
    }

    /// The bound this table was made with.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The symbol of `name`, if it was ever interned. Never inserts.
    pub fn get(&self, name: &str) -> Option<Sym> {
        // A std RwLock, not a tokio one: nothing awaits while it is held, and
        // lookups vastly outnumber inserts.
        self.read().ids.get(name).copied()
    }

    /// The symbol of `name`, inserting it if new. `None` when the table is full.
    pub fn intern(&self, name: &str) -> Option<Sym> {
        if let Some(sym) = self.get(name) {
            return Some(sym);
        }
        let mut table = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(sym) = table.ids.get(name) {
            return Some(*sym);
        }
        if table.names.len() >= self.capacity {
            return None;
        }
        let sym = Sym(u32::try_from(table.names.len()).ok()?);
        let name: Arc<str> = Arc::from(name);
        table.names.push(name.clone());
        table.ids.insert(name, sym);
        Some(sym)
    }

    /// The name of a symbol made by this table.
    pub fn resolve(&self, sym: Sym) -> Option<Arc<str>> {
        self.read().names.get(sym.0 as usize).cloned()
    }

    /// How many names are interned.
    pub fn len(&self) -> usize {
        self.read().names.len()
    }

    /// True when nothing is interned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        // A poisoned lock only means a panic elsewhere while inserting; the
        // table itself is always consistent (push, then insert).
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_resolves() {
        let t = Interner::default();
        let a = t.intern("Tier").expect("room");
        assert_eq!(t.intern("Tier"), Some(a));
        assert_eq!(t.get("Tier"), Some(a));
        assert_eq!(t.get("tier"), None);
        assert_eq!(t.resolve(a).as_deref(), Some("Tier"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn full_table_refuses_new_names_only() {
        let t = Interner::with_capacity(2);
        let a = t.intern("a").expect("room");
        t.intern("b").expect("room");
        assert_eq!(t.intern("c"), None);
        assert_eq!(t.intern("a"), Some(a));
    }
}
