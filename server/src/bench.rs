//! The registry's filter evaluation without sockets, for `usher-bench`'s P5
//! (SPEC §9: filter evaluation with the registry's own data structures).
//! Hidden from the docs and not a stable API: it exists so the benchmark
//! measures the server's `Registry` (`server/src/registry/`) rather than a model
//! of one.

use std::sync::Arc;

use usher_core::SessionId;
use usher_core::filter::{CompiledFilter, compile};
use usher_core::intern::Interner;
use usher_core::protocol::{ClientType, QueuePolicy};
use usher_core::security::RoleModel;

use crate::events::Events;
use crate::registry::{Record, Registry, UserProps};
use crate::roles::Roles;
use crate::session::Session;

/// A registry filled with synthetic sessions (no connections, no listeners).
#[derive(Debug)]
pub struct FilterBench {
    registry: Registry,
    roles: Roles,
    events: Events,
    interner: Interner,
    next: u64,
}

impl Default for FilterBench {
    fn default() -> Self {
        let interner = Interner::default();
        Self {
            registry: Registry::new("bench".into(), interner.clone()),
            roles: Roles::new(RoleModel::default(), interner.clone()),
            events: Events::default(),
            interner,
            next: 0,
        }
    }
}

impl FilterBench {
    /// Adds one session, stored as a login with these properties would be.
    pub fn insert(
        &mut self,
        principal: &str,
        roles: &[&str],
        props: &[(String, String)],
    ) -> anyhow::Result<()> {
        self.next += 1;
        let id = SessionId::new(0x1234, self.next);
        let roles = self.roles.resolve(roles).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut user = Vec::with_capacity(props.len());
        for (k, v) in props {
            let sym = self.interner.intern(k).ok_or_else(|| anyhow::anyhow!("interner full"))?;
            user.push((sym, v.as_str()));
        }
        let record = Record {
            session: Session::new(id, QueuePolicy::default(), roles.clone(), 0),
            id,
            start_time: self.next,
            principal: principal.into(),
            roles,
            environment: Box::from(""),
            country: Box::from(""),
            language: Box::from(""),
            connector: Arc::from("bench"),
            client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            client_type: ClientType::Other,
            tls: false,
            user: UserProps::new(user),
        };
        self.registry.insert(record, &self.events);
        Ok(())
    }

    /// Compiles a filter against this registry's symbols.
    pub fn compile(&self, filter: &str) -> Result<CompiledFilter, String> {
        compile(filter, &self.interner).map_err(|e| e.render(filter))
    }

    /// How many sessions match, the way every control operation selects
    /// them ([`Registry::for_each_match`]: indexes, then evaluation).
    pub fn count(&self, filter: &CompiledFilter) -> usize {
        let mut n = 0;
        self.registry.for_each_match(filter, |_| n += 1);
        n
    }

    /// How many sessions match when every record is evaluated (no index).
    pub fn count_scan(&self, filter: &CompiledFilter) -> usize {
        let mut n = 0;
        self.registry.scan(filter, |_| n += 1);
        n
    }
}
