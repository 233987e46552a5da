//! The records and enums of the interface (Swift structs and enums), each
//! with its conversion from or to `usher_core`'s type. No logic beyond that.

use std::collections::HashMap;
use std::time::Duration;

use usher_core::client as core;
use usher_core::protocol;

use crate::SessionId;

/// How to connect (`Session.connect(options:)`). Every field but `url` has a
/// default, so `ConnectOptions(url: "ws://127.0.0.1:8080")` is an anonymous
/// session with the core's defaults.
///
/// `Debug` redacts the password.
#[derive(Clone, uniffi::Record)]
pub struct ConnectOptions {
    /// `ws://host:port`.
    pub url: String,
    /// `nil` for an anonymous session.
    #[uniffi(default = None)]
    pub principal: Option<String>,
    /// The principal's password.
    #[uniffi(default = None)]
    pub password: Option<String>,
    /// User properties proposed to the server (validated there).
    #[uniffi(default)]
    pub properties: HashMap<String, String>,
    /// `$Environment`; `SWIFT` when `nil`.
    #[uniffi(default = None)]
    pub environment: Option<String>,
    /// Bound on connect + hello; the core's default (10 s) when `nil`.
    #[uniffi(default = None)]
    pub connect_timeout: Option<Duration>,
    /// Bound on each request; the core's default (10 s) when `nil`.
    #[uniffi(default = None)]
    pub request_timeout: Option<Duration>,
    /// Events buffered per listener or subscription before the socket reader
    /// waits for the listener; the core's default (1,024) when `nil`.
    #[uniffi(default = None)]
    pub listener_buffer: Option<u32>,
    /// How long a full listener buffer may stall the socket reader before that
    /// listener fails with `limitExceeded`; the core's default (10 s) when `nil`.
    #[uniffi(default = None)]
    pub listener_stall_timeout: Option<Duration>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The core's options redact the password; the rest is plain data.
        core::ConnectOptions::from(self.clone()).fmt(f)
    }
}

impl From<ConnectOptions> for core::ConnectOptions {
    fn from(o: ConnectOptions) -> Self {
        let mut c = core::ConnectOptions::new(o.url)
            .properties(o.properties)
            .client_type(protocol::ClientType::Swift)
            .environment(o.environment.unwrap_or_else(|| "SWIFT".to_owned()));
        c.principal = o.principal;
        c.password = o.password;
        if let Some(t) = o.connect_timeout {
            c = c.connect_timeout(t);
        }
        if let Some(t) = o.request_timeout {
            c = c.request_timeout(t);
        }
        if let Some(n) = o.listener_buffer {
            c = c.listener_buffer(n as usize);
        }
        if let Some(t) = o.listener_stall_timeout {
            c = c.listener_stall_timeout(t);
        }
        c
    }
}

/// How writes to a session's socket are paced (SPEC §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Throttler {
    /// As fast as the client reads.
    Unthrottled,
    /// At most this many messages a second.
    MessagesPerSecond(u32),
    /// At most this many bytes a second.
    BytesPerSecond(u64),
}

impl From<Throttler> for protocol::Throttler {
    fn from(t: Throttler) -> Self {
        match t {
            Throttler::Unthrottled => protocol::Throttler::Unthrottled,
            Throttler::MessagesPerSecond(n) => protocol::Throttler::MessagesPerSecond(n),
            Throttler::BytesPerSecond(n) => protocol::Throttler::BytesPerSecond(n),
        }
    }
}

impl From<protocol::Throttler> for Throttler {
    fn from(t: protocol::Throttler) -> Self {
        match t {
            protocol::Throttler::Unthrottled => Throttler::Unthrottled,
            protocol::Throttler::MessagesPerSecond(n) => Throttler::MessagesPerSecond(n),
            protocol::Throttler::BytesPerSecond(n) => Throttler::BytesPerSecond(n),
        }
    }
}

/// A session's outbound queue policy (SPEC §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Record)]
pub struct QueuePolicy {
    /// One pending value per topic while on.
    pub conflated: bool,
    /// Pacing of socket writes.
    pub throttler: Throttler,
    /// Most messages queued before the session is closed.
    pub max_depth: u32,
    /// Most bytes queued before the session is closed.
    pub max_bytes: u64,
    /// Upper threshold, percent of `max_depth`.
    pub upper_threshold: u8,
    /// Lower threshold, percent of `max_depth`.
    pub lower_threshold: u8,
}

impl From<protocol::QueuePolicy> for QueuePolicy {
    fn from(p: protocol::QueuePolicy) -> Self {
        Self {
            conflated: p.conflated,
            throttler: p.throttler.into(),
            max_depth: p.max_depth,
            max_bytes: p.max_bytes,
            upper_threshold: p.upper_threshold,
            lower_threshold: p.lower_threshold,
        }
    }
}

/// The full result of an operation on a target (SPEC §4.1): what the
/// `…Detailed` methods return, and what a `clusterRouting` error carries.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FilterResult {
    /// Sessions matched and acted on (1 by id), unchanged ones included.
    pub total: u64,
    /// `total` per server name.
    pub per_server: HashMap<String, u64>,
    /// Servers that did not answer by the deadline (cluster only).
    pub unreachable: Vec<String>,
    /// Sessions skipped by the dominance rule.
    pub denied: u64,
    /// Sessions refused for a limit (setSessionProperties).
    pub rejected: u64,
    /// setSessionProperties by id: each changed key and its old value
    /// (`nil`: the key was absent).
    pub changed: Option<HashMap<String, Option<String>>>,
}

impl From<&protocol::FilterResult> for FilterResult {
    fn from(r: &protocol::FilterResult) -> Self {
        Self {
            total: r.total,
            per_server: r.per_server.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            unreachable: r.unreachable.clone(),
            denied: r.denied,
            rejected: r.rejected,
            changed: r.changed.as_ref().map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        }
    }
}

impl From<protocol::FilterResult> for FilterResult {
    fn from(r: protocol::FilterResult) -> Self {
        Self::from(&r)
    }
}

/// What `fetchSessions(request:)` asks for; every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FetchRequest {
    /// Which sessions.
    #[uniffi(default = "all")]
    pub filter: String,
    /// Which properties to return (`*F`, `*U`, or names).
    #[uniffi(default)]
    pub keys: Vec<String>,
    /// Page size; the server's default (100) when `nil`, at most 1,000.
    #[uniffi(default = None)]
    pub limit: Option<u32>,
    /// A previous page's `nextCursor`.
    #[uniffi(default = None)]
    pub cursor: Option<String>,
}

impl From<FetchRequest> for protocol::FetchRequest {
    fn from(r: FetchRequest) -> Self {
        Self { filter: r.filter, keys: r.keys, limit: r.limit, cursor: r.cursor }
    }
}

/// One session of a [`SessionPage`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionInfo {
    /// The session.
    pub session_id: SessionId,
    /// The requested properties it has.
    pub properties: HashMap<String, String>,
}

/// A page of `fetchSessions`, ordered by (`$StartTime`, `$SessionId`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionPage {
    /// The sessions of this page.
    pub sessions: Vec<SessionInfo>,
    /// How many sessions matched in all.
    pub total: u64,
    /// True when more sessions follow this page.
    pub has_more: bool,
    /// Pass back in `FetchRequest.cursor` for the next page.
    pub next_cursor: Option<String>,
    /// Servers that did not answer (cluster only).
    pub unreachable: Vec<String>,
}

impl From<protocol::SessionPage> for SessionPage {
    fn from(p: protocol::SessionPage) -> Self {
        Self {
            sessions: p
                .sessions
                .into_iter()
                .map(|s| SessionInfo {
                    session_id: s.id.into(),
                    properties: s.properties.into_iter().collect(),
                })
                .collect(),
            total: p.total,
            has_more: p.has_more,
            next_cursor: p.next_cursor,
            unreachable: p.unreachable,
        }
    }
}

/// What a session-event listener asks for (SPEC §4.2); every field has a
/// default (every session, no properties, with a snapshot).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionEventParameters {
    /// Which sessions; `nil` means `all`.
    #[uniffi(default = None)]
    pub filter: Option<String>,
    /// Which properties events carry: names, `*F`, `*U`.
    #[uniffi(default)]
    pub properties: Vec<String>,
    /// Only sessions with `$StartTime` greater than this (ms since the
    /// epoch), and no snapshot of older ones.
    #[uniffi(default = None)]
    pub after: Option<u64>,
}

impl From<SessionEventParameters> for core::SessionEventParams {
    fn from(p: SessionEventParameters) -> Self {
        Self { filter: p.filter, properties: p.properties, after: p.after }
    }
}

/// Why a session ended (SPEC §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum CloseReason {
    /// The socket broke or the client vanished.
    ConnectionLost,
    /// The client closed its own session.
    ClosedByClient,
    /// A controller closed it.
    ClosedByController,
    /// Its outbound queue passed `maxDepth` or `maxBytes`.
    MessageQueueLimitReached,
    /// The hello did not authenticate.
    AuthenticationFailed,
    /// The client broke the protocol.
    ProtocolError,
    /// A frame passed the frame-size bound.
    MessageTooLarge,
    /// The server is shutting down.
    ServerShutdown,
    /// No traffic within the idle timeout.
    IdleTimeout,
    /// In events only: the session's server left the cluster.
    ServerLost,
}

impl From<protocol::CloseReason> for CloseReason {
    fn from(r: protocol::CloseReason) -> Self {
        use protocol::CloseReason as C;
        match r {
            C::ConnectionLost => CloseReason::ConnectionLost,
            C::ClosedByClient => CloseReason::ClosedByClient,
            C::ClosedByController => CloseReason::ClosedByController,
            C::MessageQueueLimitReached => CloseReason::MessageQueueLimitReached,
            C::AuthenticationFailed => CloseReason::AuthenticationFailed,
            C::ProtocolError => CloseReason::ProtocolError,
            C::MessageTooLarge => CloseReason::MessageTooLarge,
            C::ServerShutdown => CloseReason::ServerShutdown,
            C::IdleTimeout => CloseReason::IdleTimeout,
            C::ServerLost => CloseReason::ServerLost,
        }
    }
}

impl From<CloseReason> for protocol::CloseReason {
    fn from(r: CloseReason) -> Self {
        use protocol::CloseReason as C;
        match r {
            CloseReason::ConnectionLost => C::ConnectionLost,
            CloseReason::ClosedByClient => C::ClosedByClient,
            CloseReason::ClosedByController => C::ClosedByController,
            CloseReason::MessageQueueLimitReached => C::MessageQueueLimitReached,
            CloseReason::AuthenticationFailed => C::AuthenticationFailed,
            CloseReason::ProtocolError => C::ProtocolError,
            CloseReason::MessageTooLarge => C::MessageTooLarge,
            CloseReason::ServerShutdown => C::ServerShutdown,
            CloseReason::IdleTimeout => C::IdleTimeout,
            CloseReason::ServerLost => C::ServerLost,
        }
    }
}

/// The upper-snake text of a close reason, e.g. `CLOSED_BY_CONTROLLER`.
#[uniffi::export]
pub fn close_reason_code(reason: CloseReason) -> String {
    protocol::CloseReason::from(reason).as_str().to_owned()
}

/// The state a `state` session event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum SessionState {
    /// The session exists (snapshot) or has just opened.
    Active,
    /// The session has ended.
    Closed,
}

/// One changed property of a `properties` session event; `nil` means absent.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PropertyChange {
    /// The value before the change.
    pub old_value: Option<String>,
    /// The value after the change.
    pub new_value: Option<String>,
}

/// An event a session-event listener receives (SPEC §4.2).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SessionEvent {
    /// `active` (snapshot or opened) or `closed`.
    State {
        /// The session.
        session_id: SessionId,
        /// Its state.
        state: SessionState,
        /// For `closed`: why.
        reason: Option<CloseReason>,
        /// The requested properties: current for `active`, last for `closed`.
        properties: HashMap<String, String>,
    },
    /// Requested properties changed.
    Properties {
        /// The session.
        session_id: SessionId,
        /// Each changed key.
        changed: HashMap<String, PropertyChange>,
        /// Whether the session matches the listener's filter now.
        matches: bool,
    },
}

impl From<protocol::SessionEvent> for SessionEvent {
    fn from(e: protocol::SessionEvent) -> Self {
        match e {
            protocol::SessionEvent::State { session, state, reason, properties } => SessionEvent::State {
                session_id: session.into(),
                state: match state {
                    protocol::SessionState::Active => SessionState::Active,
                    protocol::SessionState::Closed => SessionState::Closed,
                },
                reason: reason.map(Into::into),
                properties: properties.into_iter().collect(),
            },
            protocol::SessionEvent::Properties { session, changed, matches } => SessionEvent::Properties {
                session_id: session.into(),
                changed: changed
                    .into_iter()
                    .map(|(k, (old_value, new_value))| (k, PropertyChange { old_value, new_value }))
                    .collect(),
                matches,
            },
        }
    }
}
