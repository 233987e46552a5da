//! Listeners: bind, accept under admission control, hand each socket to
//! [`crate::connection::handle`].
//!
//! Admission control before work (SPEC §6): a permit of the server-wide
//! connection semaphore is taken *before* `accept`, so past the limit new
//! connections wait in the kernel's backlog instead of costing memory here;
//! a permit of the pre-hello semaphore is taken right after, and a connection
//! that cannot get one is closed at once (a flood of half-open handshakes must
//! not lock out real clients for the hello timeout).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::config::ListenerConfig;
use crate::shutdown::Shutdown;
use crate::state::Shared;

/// A bound listener, not yet accepting.
#[derive(Debug)]
pub(crate) struct Listener {
    pub tcp: TcpListener,
    pub config: ListenerConfig,
    pub connector: Arc<str>,
    /// Present when the listener has a certificate (`wss://`).
    pub tls: Option<crate::tls::Acceptor>,
}

impl Listener {
    /// Binds (applying the listener's socket options).
    pub(crate) async fn bind(config: ListenerConfig) -> anyhow::Result<Self> {
        let socket = match config.address {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        if let Some(bytes) = config.send_buffer_bytes {
            // Accepted sockets inherit the listening socket's buffer size.
            socket.set_send_buffer_size(bytes)?;
        }
        socket.bind(config.address)?;
        let tcp = socket.listen(1024)?;
        let connector = Arc::from(config.name.as_str());
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        Ok(Self { tcp, config, connector, tls })
    }

    /// `ws://IP:PORT` or `wss://IP:PORT`.
    pub(crate) fn url(&self) -> std::io::Result<String> {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        Ok(format!("{scheme}://{}", self.local_addr()?))
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Everything the accept loop needs.
#[derive(Debug)]
pub(crate) struct Acceptor {
    pub listener: Listener,
    pub shared: Arc<Shared>,
    pub connections: Arc<Semaphore>,
    pub pending_hellos: Arc<Semaphore>,
    pub notify_shutdown: broadcast::Sender<()>,
    pub shutdown_complete: mpsc::Sender<()>,
}

impl Acceptor {
    /// Accepts until shutdown.
    pub(crate) async fn run(self) {
        let mut shutdown = Shutdown::new(self.notify_shutdown.subscribe());
        loop {
            let accepted = tokio::select! {
                _ = shutdown.recv() => return,
                accepted = self.accept() => accepted,
            };
            let Some((permit, socket, peer)) = accepted else { return };
            let Ok(hello_permit) = self.pending_hellos.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "too many connections waiting for their hello; refused");
                continue;
            };
            let shared = self.shared.clone();
            let config = self.listener.config.clone();
            let connector = self.listener.connector.clone();
            let tls = self.listener.tls.clone();
            let shutdown = Shutdown::new(self.notify_shutdown.subscribe());
            let done = self.shutdown_complete.clone();
            // The connection permit and the shutdown-complete sender live as
            // long as the connection, parked or not (`crate::park::Held`).
            let held = crate::park::Held::new(permit, done);
            let accepted = crate::connection::Accepted { socket, peer, tls, hello_permit };
            tokio::spawn(crate::connection::handle(accepted, shared, config, connector, shutdown, held));
        }
    }

    async fn accept(&self) -> Option<(tokio::sync::OwnedSemaphorePermit, tokio::net::TcpStream, SocketAddr)> {
        let permit = self.connections.clone().acquire_owned().await.ok()?;
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.listener.tcp.accept().await {
                Ok((socket, peer)) => return Some((permit, socket, peer)),
                Err(e) => {
                    // EMFILE and friends: wait and retry rather than spin or die.
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}
