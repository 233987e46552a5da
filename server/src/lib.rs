//! The Usher session server (SPEC §2, §4, §5, §6, §8, single node).
//!
//! The layers, one file each (as in mini-redis):
//! `listener` (bind, admission control, accept) → `connection` (WebSocket,
//! hello, then one hand-written future per open session that reads requests
//! and drains the outbound queue) → `cmd` (one file per operation, the
//! permission check in one place) → shared state: `registry` (sharded
//! sessions and indexes), `session` (one session's queue and roles), `queue`
//! (conflation, thresholds), `events` (listeners and queue handlers),
//! `topics`, `roles` (shared role sets), `auth` (argon2 on a bounded pool),
//! [`config`], `sweeper` (pings, idle timeouts, park hints), `park` (idle
//! plain sessions kept as bare sockets in an epoll set, without a task;
//! `boundary` tells when that loses nothing), `shutdown`, `audit`.
//!
//! [`start`] runs a server in-process and returns once it accepts, so tests
//! use a real server on port 0; [`run`] serves until a future completes.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let server = usher_server::start(usher_server::Config::for_tests("a", "c", "u")).await?;
//! println!("listening on {}", server.url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

// Where parking is off (not Linux) its resume path and bookkeeping are unused.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

mod audit;
mod auth;
#[doc(hidden)]
pub mod bench;
mod boundary;
mod cluster;
mod cmd;
pub mod config;
mod connection;
mod events;
pub mod hello;
mod listener;
pub mod log;
// Parking needs epoll; elsewhere idle sessions keep their tasks.
#[cfg(target_os = "linux")]
mod park;
#[cfg(not(target_os = "linux"))]
#[path = "park_off.rs"]
mod park;
mod parked;
mod queue;
mod registry;
mod roles;
mod session;
mod shutdown;
mod state;
mod sweeper;
mod tls;
mod topics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, broadcast, mpsc};

pub use auth::hash_password;
pub use config::{Config, GeneratedPasswords};
pub use park::ParkStats;

use listener::{Acceptor, Listener};
use state::Shared;

/// How long shutdown waits for connections to finish closing.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running server. Call [`ServerHandle::shutdown`] to stop it; dropping
/// the handle leaves it running until the runtime ends.
#[derive(Debug)]
pub struct ServerHandle {
    urls: Vec<String>,
    server_name: String,
    shared: Arc<Shared>,
    notify_shutdown: broadcast::Sender<()>,
    shutdown_complete: mpsc::Receiver<()>,
}

impl ServerHandle {
    /// `ws://IP:PORT` (`wss://` with TLS) of the first listener.
    pub fn url(&self) -> &str {
        self.urls.first().map(String::as_str).unwrap_or("")
    }

    /// `ws://IP:PORT` of every listener, in configuration order.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// `$ServerName`.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// Parking counters (`server.park_after_ms`): sessions parked now,
    /// parkings and resumptions so far. All zero when parking is off.
    pub fn park_stats(&self) -> ParkStats {
        self.shared.parker.get().map(|p| p.stats()).unwrap_or_default()
    }

    /// Replaces the security store (what SIGHUP does with a store that
    /// loaded): later logins use its principals; role definitions apply to
    /// every session at once.
    pub fn reload_security(&self, store: &usher_core::security::SecurityStore) {
        self.shared.replace_store(store);
        tracing::info!(principals = store.principals.len(), "security store reloaded");
    }

    /// Closes every session with `SERVER_SHUTDOWN` and waits (a few seconds
    /// at most) for their connections to finish.
    pub async fn shutdown(mut self) {
        self.shared.begin_shutdown();
        // After the sessions closed, so listeners on other servers are sent
        // their CLOSED events before this server says goodbye.
        if let Some(cluster) = self.shared.cluster.get() {
            cluster.leave().await;
        }
        let _ = self.notify_shutdown.send(());
        let (tx, rx) = (self.notify_shutdown, &mut self.shutdown_complete);
        drop(tx);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, rx.recv()).await;
    }
}

/// Binds every listener, starts accepting and returns once accepting.
pub async fn start(config: Config) -> anyhow::Result<ServerHandle> {
    config.validate()?;
    let listeners = config.effective_listeners();
    let server_name = config.server.name.clone();
    let connections = Arc::new(Semaphore::new(config.server.max_connections));
    let pending_hellos = Arc::new(Semaphore::new(config.server.max_pending_hellos));
    let shared = Shared::new(config)?;
    // Capacity 1: only one value is ever sent.
    let (notify_shutdown, _) = broadcast::channel(1);
    // Never sent on: dropping the last sender is the signal (capacity irrelevant).
    let (shutdown_complete_tx, shutdown_complete) = mpsc::channel(1);
    let mut urls = Vec::new();
    let mut bound = Vec::new();
    for l in listeners {
        let listener =
            Listener::bind(l.clone()).await.map_err(|e| anyhow::anyhow!("binding {}: {e}", l.address))?;
        urls.push(listener.url()?);
        bound.push(listener);
    }
    for listener in bound {
        let acceptor = Acceptor {
            listener,
            shared: shared.clone(),
            connections: connections.clone(),
            pending_hellos: pending_hellos.clone(),
            notify_shutdown: notify_shutdown.clone(),
            shutdown_complete: shutdown_complete_tx.clone(),
        };
        tokio::spawn(acceptor.run());
    }
    // Before the sweeper, which hints sessions to park only if it can.
    park::start(&shared, shutdown::Shutdown::new(notify_shutdown.subscribe()));
    tokio::spawn(sweeper::run(shared.clone(), shutdown::Shutdown::new(notify_shutdown.subscribe())));
    if let Some(cluster) = &shared.config.cluster {
        cluster::start(&shared, cluster).await?;
    }
    Ok(ServerHandle { urls, server_name, shared, notify_shutdown, shutdown_complete })
}

/// Runs a server until `shutdown` completes, then closes every session with
/// `SERVER_SHUTDOWN`.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let handle = start(config).await?;
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}
