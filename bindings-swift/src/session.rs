//! [`Session`]: `try await Session.connect(options:)`, its identity, its
//! end, and the entry points to client control and topics.

use std::sync::Arc;

use usher_core::client as core;

use crate::client_control::ClientControl;
use crate::topics::Topics;
use crate::types::{CloseReason, ConnectOptions, QueuePolicy};
use crate::{SessionId, UsherError, runtime};

/// One session on an Usher server (`$ClientType` `SWIFT`). Released, it
/// says goodbye to the server; `close()` does so and waits.
#[derive(Debug, uniffi::Object)]
pub struct Session {
    inner: core::Session,
}

#[uniffi::export]
impl Session {
    /// Connects and authenticates. Throws `AuthenticationFailed` for bad
    /// credentials, `ConnectionFailed` when the server cannot be reached,
    /// `Timeout`, or `LimitExceeded` / `InvalidArgument` for refused
    /// properties.
    #[uniffi::constructor]
    pub async fn connect(options: ConnectOptions) -> Result<Arc<Self>, UsherError> {
        let connect = core::Session::connect(options.into());
        let inner = runtime::run(connect).await?;
        Ok(Arc::new(Self { inner }))
    }

    /// The session's id (Swift: also the `id` property).
    pub fn session_id(&self) -> SessionId {
        self.inner.id().into()
    }

    /// `$ServerName`: the server holding the session.
    pub fn server_name(&self) -> String {
        self.inner.server_name().to_owned()
    }

    /// `$StartTime`: ms since the Unix epoch.
    pub fn start_time(&self) -> u64 {
        self.inner.start_time()
    }

    /// The session's assigned roles (sorted), as last told by the server.
    pub fn roles(&self) -> Vec<String> {
        self.inner.roles()
    }

    /// The queue policy the session started with.
    pub fn initial_queue_policy(&self) -> QueuePolicy {
        self.inner.initial_queue_policy().into()
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.close_reason().map(Into::into)
    }

    /// True once the session has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Returns when the session ends, with the reason (`closedByController`,
    /// `closedByClient` after `close()`, `connectionLost`, ...).
    pub async fn closed(&self) -> Result<CloseReason, UsherError> {
        let closed = self.inner.closed();
        runtime::run(async move { Ok(closed.await.into()) }).await
    }

    /// Waits for the next change of this session's roles (by a controller)
    /// and returns the new roles; `SessionClosed` if the session ends first.
    pub async fn roles_changed(&self) -> Result<Vec<String>, UsherError> {
        runtime::run(self.inner.roles_changed()).await
    }

    /// Closes the session and waits for the server to close the connection.
    /// Pending requests fail with `SessionClosed`; later ones too. Closing a
    /// closed session does nothing.
    pub async fn close(&self) -> Result<(), UsherError> {
        runtime::run(self.inner.close()).await
    }

    /// Client control: operations on other sessions (SPEC §4.1).
    pub fn client_control(&self) -> Arc<ClientControl> {
        ClientControl::new(self.inner.clients())
    }

    /// Topics (Swift: the `topics` property).
    pub fn topics_handle(&self) -> Arc<Topics> {
        Topics::new(self.inner.topics())
    }
}
