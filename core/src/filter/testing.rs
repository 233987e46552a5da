//! A [`PropertySource`] over plain maps, for tests of anything that evaluates
//! filters (this crate's, and the server's with the `testing` feature).
//!
//! ```ignore
//! // (needs the `testing` feature)
//! # use usher_core::{filter::{compile, testing::TestSession}, intern::Interner};
//! let interner = Interner::default();
//! let s = TestSession::new(&interner).principal("alice").roles(&["CLIENT"]).user("Tier", "1");
//! let f = compile("$Principal is 'alice' and hasRoles ['CLIENT'] and Tier in ['1', '2']", &interner)
//!     .expect("valid");
//! assert!(f.matches(&s));
//! ```

use std::collections::HashMap;

use crate::intern::{Interner, Sym};
use crate::props::{FixedKey, PropValue, PropertySource, roles_text};

/// One session's properties in maps. Every fixed property is present (empty
/// unless set), like on a real session.
#[derive(Clone, Debug)]
pub struct TestSession {
    interner: Interner,
    fixed: [String; FixedKey::ALL.len()],
    user: HashMap<Sym, String>,
    roles: Vec<Sym>,
}

impl TestSession {
    /// A session with empty fixed properties, no user properties, no roles.
    /// Keys and roles are interned in `interner`, which filters under test
    /// must be compiled against.
    pub fn new(interner: &Interner) -> Self {
        Self {
            interner: interner.clone(),
            fixed: Default::default(),
            user: HashMap::new(),
            roles: Vec::new(),
        }
    }

    /// Sets a fixed property.
    pub fn fixed(mut self, key: FixedKey, value: &str) -> Self {
        self.fixed[key as usize] = value.to_owned();
        self
    }

    /// Sets `$Principal`.
    pub fn principal(self, principal: &str) -> Self {
        self.fixed(FixedKey::Principal, principal)
    }

    /// Assigns these roles (replacing any), and sets `$Roles` to match.
    pub fn roles(mut self, roles: &[&str]) -> Self {
        self.roles = roles.iter().map(|r| self.interner.intern(r).expect("interner has room")).collect();
        let text = roles_text(roles);
        self.fixed(FixedKey::Roles, &text)
    }

    /// Sets a user property.
    pub fn user(mut self, key: &str, value: &str) -> Self {
        let sym = self.interner.intern(key).expect("interner has room");
        self.user.insert(sym, value.to_owned());
        self
    }
}

impl PropertySource for TestSession {
    fn fixed(&self, key: FixedKey) -> PropValue<'_> {
        PropValue::Str(&self.fixed[key as usize])
    }

    fn user(&self, key: Sym) -> Option<&str> {
        self.user.get(&key).map(String::as_str)
    }

    fn has_role(&self, role: Sym) -> bool {
        self.roles.contains(&role)
    }
}
