//! [`Session`]: one connection to an Usher server, its identity, its roles
//! and its end.
//!
//! A `Session` is a cheap handle (`Clone + Send + Sync`, an `Arc` inside);
//! every async method returns a `Send + 'static` future that owns its
//! arguments, so the bindings can drive it on a shared runtime. When the last
//! handle (including those inside [`ClientControl`], [`Topics`] and listener
//! registrations) is dropped, the session says `Bye`.

use crate::client::BoxFuture;
use std::sync::Arc;

use tokio::sync::watch;

use crate::client::connection::{self, Inner, wait_closed};
use crate::client::{ClientControl, ConnectOptions, Topics};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::protocol::{CloseReason, QueuePolicy, SessionLimits};

/// One session on an Usher server.
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
    _guard: Arc<ByeOnDrop>,
}

/// Says `Bye` when the last handle goes, so a forgotten session does not
/// linger on the server until its idle timeout.
struct ByeOnDrop(Arc<Inner>);

impl Drop for ByeOnDrop {
    fn drop(&mut self) {
        self.0.send_bye();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id())
            .field("server_name", &self.server_name())
            .field("roles", &self.roles())
            .field("close_reason", &self.close_reason())
            .finish()
    }
}

impl Session {
    /// Connects and authenticates.
    ///
    /// Fails with `AUTHENTICATION_FAILED` for bad credentials, `CONNECTION`
    /// when the server cannot be reached, `TIMEOUT` past
    /// [`ConnectOptions::connect_timeout`], `LIMIT_EXCEEDED` /
    /// `INVALID_ARGUMENT` for refused properties.
    ///
    /// ```no_run
    /// # async fn demo() -> usher_core::error::Result<()> {
    /// use usher_core::client::{ConnectOptions, Session};
    /// let session = Session::connect(
    ///     ConnectOptions::new("ws://127.0.0.1:8080").principal("control").password("secret"),
    /// )
    /// .await?;
    /// println!("connected as {}", session.id());
    /// session.close().await?;
    /// # Ok(()) }
    /// ```
    pub fn connect(options: ConnectOptions) -> BoxFuture<Result<Session>> {
        Box::pin(async move {
            let inner = connection::connect(options).await?;
            Ok(Session { _guard: Arc::new(ByeOnDrop(Arc::clone(&inner))), inner })
        })
    }

    /// The descriptor of the session's socket, while the session is open:
    /// for an event loop that wants to wake when an answer starts arriving
    /// (the Python binding does, see its `mailbox.rs`). Never read, write or
    /// close it; it is only valid until the session ends, after which its
    /// number may be reused by another file, so watch it in a way where a
    /// stale registration costs at most a spurious wake-up.
    #[cfg(unix)]
    pub fn socket_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.socket_fd()
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.inner.welcome.session_id
    }

    /// The name of the server holding the session (`$ServerName`).
    pub fn server_name(&self) -> &str {
        &self.inner.welcome.server_name
    }

    /// `$StartTime`: ms since the Unix epoch.
    pub fn start_time(&self) -> u64 {
        self.inner.welcome.start_time
    }

    /// The bounds the server enforces on this session.
    pub fn limits(&self) -> SessionLimits {
        self.inner.welcome.limits
    }

    /// The queue policy the session started with.
    pub fn initial_queue_policy(&self) -> QueuePolicy {
        self.inner.welcome.queue_policy
    }

    /// The session's assigned roles now (sorted), as last told by the server.
    pub fn roles(&self) -> Vec<String> {
        self.inner.roles.borrow().clone()
    }

    /// A watch on the roles: `changed().await` wakes on every change a
    /// controller makes (`Push::RolesChanged`).
    pub fn watch_roles(&self) -> watch::Receiver<Vec<String>> {
        self.inner.roles.subscribe()
    }

    /// Waits for the next change of roles and returns the new roles; fails
    /// with `SESSION_CLOSED` if the session ends first.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// let next = session.roles_changed();
    /// // ... a controller changes this session's roles ...
    /// println!("now {:?}", next.await?);
    /// # Ok(()) }
    /// ```
    pub fn roles_changed(&self) -> BoxFuture<Result<Vec<String>>> {
        let mut roles = self.inner.roles.subscribe();
        roles.mark_unchanged();
        let closed = wait_closed(self.inner.closed.subscribe());
        Box::pin(async move {
            tokio::select! {
                changed = roles.changed() => match changed {
                    Ok(()) => Ok(roles.borrow_and_update().clone()),
                    Err(_) => Err(Error::session_closed()),
                },
                _ = closed => Err(Error::session_closed()),
            }
        })
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.close_reason()
    }

    /// True once the session has ended.
    pub fn is_closed(&self) -> bool {
        self.close_reason().is_some()
    }

    /// Resolves when the session ends, with the reason the server sent
    /// (`CLOSED_BY_CONTROLLER`, `SERVER_SHUTDOWN`, ...), `CLOSED_BY_CLIENT`
    /// after [`close`](Self::close), or `CONNECTION_LOST` otherwise.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) {
    /// let reason = session.closed().await;
    /// println!("session ended: {reason}");
    /// # }
    /// ```
    pub fn closed(&self) -> BoxFuture<CloseReason> {
        Box::pin(wait_closed(self.inner.closed.subscribe()))
    }

    /// Closes the session (sends `Bye`) and waits, up to the request timeout,
    /// for the server to close the connection. Requests still pending fail
    /// with `SESSION_CLOSED`. Closing a closed session does nothing.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// session.close().await?;
    /// assert!(session.is_closed());
    /// # Ok(()) }
    /// ```
    pub fn close(&self) -> BoxFuture<Result<()>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            if inner.close_reason().is_some() {
                return Ok(());
            }
            inner.send_bye();
            let wait = wait_closed(inner.closed.subscribe());
            if tokio::time::timeout(inner.request_timeout, wait).await.is_err() {
                // The server did not close in time: close locally.
                inner.finish(CloseReason::ClosedByClient);
            }
            Ok(())
        })
    }

    /// Client control: operations on other sessions (SPEC §4.1).
    pub fn clients(&self) -> ClientControl {
        ClientControl::new(self.clone())
    }

    /// Topics: add, remove, update, subscribe (SPEC §5.1).
    pub fn topics(&self) -> Topics {
        Topics::new(self.clone())
    }
}
