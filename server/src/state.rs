//! The state every task of one server shares: configuration, registry,
//! registrations, topics, roles and the password verifier. One `Arc<Shared>`
//! per server; nothing in it is global, so tests run many servers in one
//! process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use usher_core::SessionId;
use usher_core::intern::Interner;
use usher_core::protocol::CloseReason;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::events::Events;
use crate::registry::Registry;
use crate::roles::Roles;
use crate::topics::Topics;

/// Everything one server's tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Config,
    pub server_name: Arc<str>,
    /// The server part of every session id this process hands out.
    pub server_part: u64,
    next_value: AtomicU64,
    pub interner: Interner,
    pub roles: Roles,
    pub registry: Registry,
    pub events: Events,
    pub topics: Topics,
    pub auth: Authenticator,
    /// Property limits and restrictions for hellos.
    pub hello: crate::hello::HelloRules,
    /// Origin of [`Shared::now_ms`].
    epoch: std::time::Instant,
    /// Set once when the server joins a cluster (SPEC §7); empty alone.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Set when shutdown starts: sessions that open after it are closed.
    shutting_down: std::sync::atomic::AtomicBool,
    /// Set once by `start` unless parking is off (`server.park_after_ms`).
    pub parker: std::sync::OnceLock<Arc<crate::park::Parker>>,
}

impl Shared {
    /// Builds the state (starts the password verification threads).
    pub(crate) fn new(config: Config) -> anyhow::Result<Arc<Self>> {
        let interner = Interner::default();
        let server_name: Arc<str> = Arc::from(config.server.name.as_str());
        let store = config.security_store()?;
        let auth = Authenticator::new(&store, config.auth.threads, config.auth.queue)?;
        let hello = crate::hello::HelloRules::new(&config.properties)?;
        let server_part = loop {
            let v: u64 = rand::random();
            if v != 0 {
                break v;
            }
        };
        Ok(Arc::new(Self {
            roles: Roles::new(store.roles.clone(), interner.clone()),
            registry: Registry::new(server_name.clone(), interner.clone()),
            events: Events::default(),
            topics: Topics::new(config.server.max_topics),
            server_name,
            server_part,
            next_value: AtomicU64::new(1),
            interner,
            auth,
            hello,
            config,
            epoch: std::time::Instant::now(),
            cluster: std::sync::OnceLock::new(),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            parker: std::sync::OnceLock::new(),
        }))
    }

    /// Milliseconds on a monotonic clock (for idle timeouts).
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Starts shutdown: every session open now or later is closed with
    /// `SERVER_SHUTDOWN`.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for session in self.registry.all_sessions() {
            self.close_session(session.id, CloseReason::ServerShutdown);
        }
    }

    /// True once shutdown started.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// A fresh session id.
    pub(crate) fn next_id(&self) -> SessionId {
        SessionId::new(self.server_part, self.next_value.fetch_add(1, Ordering::Relaxed))
    }

    /// Applies a new security store: principals and the anonymous policy
    /// for later logins, role definitions at once for every session (their
    /// permissions are recomputed; subscriptions and registrations that lost
    /// their permissions end, as after a role change).
    pub(crate) fn replace_store(&self, store: &usher_core::security::SecurityStore) {
        self.auth.replace(store);
        self.roles.replace_model(store.roles.clone());
        for session in self.registry.all_sessions() {
            let names = session.roles().names.clone();
            let Ok(set) = self.roles.resolve(&names) else { continue };
            if self.registry.set_roles(session.id, &self.events, &set).is_some() {
                crate::cmd::change_roles::roles_changed(self, &session, None);
            }
        }
    }

    /// Closes a session: marks it closing (the first reason wins), removes it
    /// from the registry (listeners get `CLOSED`), drops its registrations
    /// and subscriptions. Returns the reason in effect, `None` when the
    /// session is not (or no longer) here.
    pub(crate) fn close_session(&self, id: SessionId, reason: CloseReason) -> Option<CloseReason> {
        let session = self.registry.get(id, |v| v.rec.session.clone())?;
        let effective = session.mark_closing(reason);
        self.registry.remove(id, effective, &self.events)?;
        if session.ever_registered() {
            self.events.remove_owner(id);
        }
        if session.ever_subscribed() {
            self.topics.remove_session(id);
        }
        Some(effective)
    }
}
